"""SandboxFusionExecutor: programs run on a self-hosted SandboxFusion service (`POST /run_code`).

    python evaluation.py samples.jsonl --executor sandboxfusion --sandbox-url http://127.0.0.1:8080

The service is stateless: each request is one `python` run. A stdin test is one request (the test
input goes in the request's `stdin` field); a functional sample costs one request to load the
program, then one per call (the program is loaded again for each call, so module-level state does
not carry from one call to the next as it does locally; load time is not charged to the call).
Test code and comparisons stay on our side (executors/remote.py). Statuses map onto our verdicts
through the supervisor's record (executors/remote_driver.py): the program's own exit, signal,
timeout and output size decide the verdict; `SandboxError`, HTTP failures, or a reply without our
record are `harness_error` (after one retry of the sample), never the model's fault.
"""
from __future__ import annotations

from executors import Limits
from executors.remote import SLACK, HttpClient, RemoteExecutor, ServiceError, driver_code, parse_record

DEFAULT_URL = "http://127.0.0.1:8080"
INTERPRETERS_MB = 512   # the supervisor's and the program's interpreters, on top of the program's own limit


class SandboxFusionBackend:
    def __init__(self, client: HttpClient, limits: Limits):
        self.client, self.limits = client, limits
        self.cfg: dict | None = None

    def _run(self, op: str, args: tuple, timeout: float, stdin: str = "") -> dict:
        payload = {"code": driver_code(op, args), "language": "python", "stdin": stdin,
                   "compile_timeout": SLACK, "run_timeout": timeout + SLACK,
                   "memory_limit_MB": self.limits.memory_mb + INTERPRETERS_MB}
        reply = self.client.post("/run_code", payload, timeout + 2 * SLACK)
        run = reply.get("run_result") or {}
        if reply.get("status") == "SandboxError":
            raise ServiceError(f"SandboxFusion SandboxError: {str(reply.get('message'))[:300]}")
        record = parse_record(str(run.get("stdout") or ""))
        if record is None:
            raise ServiceError(f"SandboxFusion run gave no record (status {reply.get('status')}, run "
                               f"{run.get('status')}, return code {run.get('return_code')}): "
                               f"{str(run.get('stderr') or '')[-300:]}")
        return record

    def run_stdin(self, cfg: dict, stdin: str, timeout: float) -> dict:
        return self._run("op_stdin", (cfg, timeout), timeout, stdin)

    def open(self, cfg: dict, timeout: float) -> dict:
        self.cfg = cfg
        return self._run("op_load", (cfg, timeout), timeout)

    def call(self, request: str, timeout: float) -> dict:
        load = self.limits.timeout
        return self._run("op_call_once", (self.cfg, request, load, timeout), load + timeout)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class SandboxFusionExecutor(RemoteExecutor):
    name = "sandboxfusion"

    def __init__(self, limits: Limits | None = None, base_url: str = DEFAULT_URL, workers: int | None = None,
                 max_attempts: int = 5, backoff: float = 0.5):
        super().__init__(limits, workers)
        self.client = HttpClient(base_url, concurrency=self.n_workers, max_attempts=max_attempts, backoff=backoff)

    def make_backend(self) -> SandboxFusionBackend:
        return SandboxFusionBackend(self.client, self.limits)
