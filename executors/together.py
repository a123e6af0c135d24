"""TogetherExecutor: programs run in Together's Code Interpreter (TCI, `POST /tci/execute`).

    TOGETHER_API_KEY=... python evaluation.py samples.jsonl --executor together
    (TOGETHER_BASE_URL overrides https://api.together.ai/v1, e.g. for a loopback test server)

TCI runs Python cells in a stateful session (a kernel); it has no stdin, timeout or memory fields.
So each worker thread keeps one session for the whole run and boots our supervisor in it once
(executors/remote_driver.py); the supervisor starts every program in a child process of the kernel,
feeds stdin from the cell's text, enforces the per-test time limit by killing it, and sets rlimits.
A functional sample is one request to start the program and one per call; the program stays alive
in the session between calls, as locally. Test code and comparisons stay on our side
(executors/remote.py): only the program, call arguments and stdin inputs are sent.

The key goes only into the Authorization header: never into code sent to the sandbox (programs run
with a scrubbed environment there too), logs or results; error texts are redacted. 401/403 stop the
run with a clear message; 429 and 5xx are retried with capped backoff.
"""
from __future__ import annotations

from executors import Limits
from executors.remote import (SLACK, HttpClient, RemoteAuthError, RemoteExecutor, ServiceError, driver_code,
                              parse_record)

DEFAULT_URL = "https://api.together.ai/v1"


class TogetherBackend:
    """One TCI session; the driver is booted on its first request and reused after that."""

    def __init__(self, client: HttpClient):
        self.client = client
        self.session_id: str | None = None

    def _execute(self, op: str, args: tuple, timeout: float) -> dict:
        payload = {"code": driver_code(op, args, boot=self.session_id is None), "language": "python"}
        if self.session_id:
            payload["session_id"] = self.session_id
        reply = self.client.post("/tci/execute", payload, timeout + SLACK)
        data = reply.get("data") if isinstance(reply, dict) else None
        if reply.get("errors") or not isinstance(data, dict):
            raise ServiceError(f"Together Code Interpreter error: {str(reply.get('errors'))[:300]}")
        self.session_id = data.get("session_id") or self.session_id
        outputs = [o for o in data.get("outputs") or [] if isinstance(o, dict)]
        stdout = "".join(o["data"] for o in outputs if o.get("type") == "stdout" and isinstance(o.get("data"), str))
        record = parse_record(stdout)
        if record is None:
            errors = " | ".join(str(o.get("data"))[-300:] for o in outputs if o.get("type") == "error")
            raise ServiceError(f"Together Code Interpreter gave no record (status {data.get('status')}): {errors}")
        return record

    def _fresh(self, op: str, args: tuple, timeout: float) -> dict:
        """A stateless operation: if the session has expired, start a new one and try again."""
        try:
            return self._execute(op, args, timeout)
        except ServiceError:
            if self.session_id is None:
                raise
            self.session_id = None
            return self._execute(op, args, timeout)

    def run_stdin(self, cfg: dict, stdin: str, timeout: float) -> dict:
        return self._fresh("op_stdin", (dict(cfg, stdin=stdin), timeout), timeout)

    def open(self, cfg: dict, timeout: float) -> dict:
        return self._fresh("op_open", (cfg, timeout), timeout)

    def call(self, request: str, timeout: float) -> dict:
        return self._execute("op_call", (request, timeout), timeout)

    def reset(self) -> None:
        self.session_id = None

    def close(self) -> None:
        """Stop the last program left serving calls in the session (the session itself expires)."""
        if self.session_id is not None:
            try:
                self._execute("op_close", (), SLACK)
            except (ServiceError, RemoteAuthError):
                pass   # an expired session took its programs with it
            self.session_id = None


class TogetherExecutor(RemoteExecutor):
    name = "together"

    def __init__(self, limits: Limits | None = None, api_key: str = "", base_url: str = DEFAULT_URL,
                 workers: int | None = None, max_attempts: int = 5, backoff: float = 0.5):
        if not api_key:
            raise RemoteAuthError("--executor together needs an API key: set TOGETHER_API_KEY")
        super().__init__(limits, workers)
        self._api_key = api_key
        self.client = HttpClient(base_url, headers={"Authorization": f"Bearer {api_key}"},
                                 concurrency=self.n_workers, max_attempts=max_attempts, backoff=backoff,
                                 secrets=(api_key,))

    def make_backend(self) -> TogetherBackend:
        return TogetherBackend(self.client)

    def redact(self, text: str) -> str:
        return self.client.redact(text)

    def __repr__(self) -> str:
        return f"TogetherExecutor(base_url={self.client.base_url!r}, workers={self.n_workers})"
