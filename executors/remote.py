"""What the remote backends share: the trusted side stays here, only the program runs remotely.

A remote backend (executors/together.py, executors/sandboxfusion.py) is the local executor's
trusted side (executors/worker.Worker: test code, value and stdout comparison, verdict mapping)
with one thing swapped: `RemoteChild` stands in for the forked sandbox child and forwards its few
operations (start the program, one call, one stdin run) as HTTP requests to a sandbox service. What
runs there is executors/remote_driver.py, a supervisor that starts the program in a child process
with limits and reports what happened. Only the program, the call arguments and stdin inputs are
sent; expected outputs never leave this process, and neither does anything of our environment.

    ex = SandboxFusionExecutor(limits, base_url="http://127.0.0.1:8080")   # or TogetherExecutor
    for key, result in ex.run(jobs): ...       # jobs: executors.local.Job; completion order

Timing: each request carries the test's remaining budget; the supervisor enforces it on the program
itself, and network time is not charged to the program (a call's budget is extended by the time the
request spent outside the sandbox). A sample whose requests failed (HTTP errors after retries,
SandboxError, a lost session) is retried once from scratch, then reported as `harness_error`.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import queue
import random
import signal
import threading
import time
from typing import Any, Iterable, Iterator

import requests

from executors import HARNESS_ERROR, OUTPUT_LIMIT, GradeResult, Limits, protocol
from executors.worker import TB_LINES, ChildGone, Deadline, Worker, _exit_verdict

MARK = "\x1eCE-RECORD\x1e"     # must equal remote_driver.MARK
SLACK = 10.0                    # seconds a request may take beyond the program's own budget
DEFAULT_WORKERS = 8             # requests in flight; remote sandboxes are not bound by our CPUs


class ServiceError(Exception):
    """The sandbox service failed (HTTP error after retries, SandboxError, malformed reply):
    infrastructure, never the model's fault."""


class RemoteAuthError(PermissionError):
    """The service rejected our credentials: every request would fail, so the run stops."""


# ---------------------------------------------------------------- code sent to the sandbox


@functools.lru_cache(maxsize=1)
def _sources() -> tuple[str, str, str]:
    """The driver, the wire codec and the program runner (the same executors/program.py as local)."""
    here = os.path.dirname(os.path.abspath(__file__))
    texts = []
    for name in ("remote_driver.py", "protocol.py", "program.py"):
        with open(os.path.join(here, name)) as f:
            texts.append(f.read())
    return tuple(texts)


def driver_code(op: str, args: tuple, boot: bool = True) -> str:
    """Python source for one request: (boot the driver, then) run `op(*args)` and print its record.
    `args` are plain literals (program text, limits, request text), written with repr().

    Example: driver_code("op_call", ('{"call": "add", ...}', 6.0), boot=False)
             -> "_ce['emit'](_ce['op_call'](*('{\"call\": \"add\", ...}', 6.0)))\n"
    """
    lines = []
    if boot:
        driver, proto, program = _sources()
        lines += ["_ce = {'__name__': 'ce_driver'}", f"_ce_src = {driver!r}",
                  "exec(compile(_ce_src, 'ce_driver.py', 'exec'), _ce)",
                  f"_ce['init'](_ce_src, {proto!r}, {program!r})"]
    lines.append(f"_ce['emit'](_ce[{op!r}](*{args!r}))")
    return "\n".join(lines) + "\n"


def parse_record(stdout: str) -> dict | None:
    """The supervisor's record: the last marked JSON object on its stdout."""
    end = stdout.rfind(MARK)
    start = stdout.rfind(MARK, 0, end) if end > 0 else -1
    if start < 0:
        return None
    try:
        record = json.loads(stdout[start + len(MARK):end])
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def program_config(program: str, setup: str, limits: Limits, stdin: str | None = None) -> dict:
    cfg = {"program": program, "setup": setup, "limits": dataclasses.asdict(limits)}
    if stdin is not None:
        cfg["stdin"] = stdin
    return cfg


# ---------------------------------------------------------------- HTTP


class HttpClient:
    """JSON POSTs with bounded retries (429, 5xx, connection errors; capped exponential backoff
    with jitter, Retry-After honoured) and at most `concurrency` requests in flight."""

    def __init__(self, base_url: str, headers: dict | None = None, concurrency: int = DEFAULT_WORKERS,
                 max_attempts: int = 5, backoff: float = 0.5, secrets: tuple[str, ...] = ()):
        self.base_url = base_url.rstrip("/")
        self.headers = headers or {}
        self.max_attempts, self.backoff = max_attempts, backoff
        self.secrets = tuple(s for s in secrets if s)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._local = threading.local()

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
            s.trust_env = False  # no proxy or .netrc of the host gets between us and the sandbox
        return s

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def post(self, path: str, payload: dict, timeout: float) -> dict:
        url, last = self.base_url + path, ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self._slots:
                    r = self._session().post(url, json=payload, headers=self.headers, timeout=(10, timeout))
            except requests.RequestException as e:
                last = f"{type(e).__name__}"
                self._sleep(attempt, None)
                continue
            if r.status_code in (401, 403):
                raise RemoteAuthError(f"{url} rejected the credentials (HTTP {r.status_code}): "
                                      f"{self.redact(r.text[:200])}")
            if r.status_code == 429 or r.status_code >= 500:
                last = f"HTTP {r.status_code}"
                self._sleep(attempt, r.headers.get("Retry-After"))
                continue
            if r.status_code >= 400:
                raise ServiceError(f"{url}: HTTP {r.status_code}: {self.redact(r.text[:300])}")
            try:
                return r.json()
            except ValueError:
                raise ServiceError(f"{url}: reply is not JSON: {self.redact(r.text[:200])!r}") from None
        raise ServiceError(f"{url}: gave up after {self.max_attempts} attempts (last: {last})")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        if attempt >= self.max_attempts:
            return
        delay = min(self.backoff * 2 ** (attempt - 1), 30.0) * (0.5 + random.random())
        try:
            delay = min(max(delay, float(retry_after)), 60.0) if retry_after else delay
        except ValueError:
            pass
        time.sleep(delay)


# ---------------------------------------------------------------- the remote child


class RemoteChild:
    """Stands in for executors.worker.Child: the same operations, carried out by a remote backend.

    functional mode: `receive` first starts the program (backend.open), later ones make the call
    queued by `send` (backend.call). stdin mode: `wait_exit` runs the whole program (backend.run_stdin).
    """

    def __init__(self, worker: "RemoteWorker", mode: str, program: str, stdin: bytes = b"", setup: str = ""):
        self.worker, self.backend, self.limits = worker, worker.backend, worker.limits
        self.mode, self.program, self.setup = mode, program, setup
        self.stdin_text = stdin.decode("utf-8", errors="replace")
        self.status = None          # a waitpid-style status once the program is known to be gone
        self.started = False
        self.request: str | None = None
        self.run: dict = {}         # the last record: output sizes, stderr tail, stdin-run output
        self._deadline, self._overhead = None, 0.0

    def config(self, stdin: str | None = None) -> dict:
        return program_config(self.program, self.setup, self.limits, stdin)

    # -- functional

    def send(self, msg: dict) -> None:
        if self.status is not None:
            raise self.gone()
        self.request = protocol.encode(msg).decode()

    def receive(self, deadline: float) -> dict:
        budget = self._budget(deadline)
        if budget <= 0:
            raise Deadline
        t0 = time.monotonic()
        if not self.started:
            self.started = True
            rec = self._guard(self.backend.open, self.config(), budget)
        else:
            request, self.request = self.request, None
            rec = self._guard(self.backend.call, request, budget)
        self._overhead += max(0.0, time.monotonic() - t0 - float(rec.get("elapsed", 0.0)))
        return self._message(rec)

    def _budget(self, deadline: float) -> float:
        if deadline != self._deadline:
            self._deadline, self._overhead = deadline, 0.0
        return deadline + self._overhead - time.monotonic()

    def _message(self, rec: dict) -> dict:
        if "message" in rec:
            try:
                return protocol.decode(rec["message"].encode())
            except protocol.EncodeError as e:
                return {"unencodable": str(e)}
        self.status = rec.get("gone", {}).get("wait_status", signal.SIGKILL)
        self.run = rec.get("gone", {})
        if rec.get("timeout"):
            raise Deadline
        if "too_big" in rec:
            raise ChildGone(OUTPUT_LIMIT, f"return value larger than {self.limits.max_output_bytes} bytes")
        if "gone" in rec:
            raise self.gone()
        raise self._failed(ServiceError(f"sandbox record without an answer: {str(rec)[:200]}"))

    def gone(self) -> ChildGone:
        """Why the program stopped answering, mapped exactly as for a local child."""
        tail = self.stderr_tail()
        cap = self.limits.max_output_bytes
        if self.run.get("stdout_size", 0) > cap or self.stderr_size() > cap:
            return ChildGone(OUTPUT_LIMIT, f"output over {cap} bytes", tail)
        return ChildGone(*_exit_verdict(self.status, tail), tail)

    # -- stdin

    def wait_exit(self, deadline: float) -> None:
        budget = deadline - time.monotonic()
        if budget <= 0:
            raise Deadline
        try:
            self.run = self._guard(self.backend.run_stdin, self.config(), self.stdin_text, budget)
        except ChildGone as e:   # a service failure: reported the way a local sandbox set-up failure is
            self.run = {"wait_status": 0, "message": protocol.encode({"harness_error": e.message}).decode()}
        if self.run.get("status") == "timeout":
            self.status = signal.SIGKILL
            raise Deadline
        if "wait_status" not in self.run:
            raise self._failed(ServiceError(f"malformed sandbox record: {str(self.run)[:200]}"))
        self.status = self.run["wait_status"]

    def stdout(self) -> tuple[str, int]:
        return self.run.get("stdout", ""), int(self.run.get("stdout_size", 0))

    def stderr_size(self) -> int:
        return int(self.run.get("stderr_size", 0))

    def stderr_tail(self) -> str:
        lines = str(self.run.get("stderr_tail", "")).rstrip().splitlines()
        return "\n".join(lines[-TB_LINES:])

    def pending_message(self) -> dict:
        text = self.run.get("message") or ""
        try:
            msg = protocol.decode(text.encode()) if text else {}
        except protocol.EncodeError:
            return {}
        return msg if isinstance(msg, dict) else {}

    # -- both

    def _guard(self, fn, *args):
        """Service failures become harness errors of this sample (and a retry of it), never verdicts."""
        try:
            return fn(*args)
        except RemoteAuthError as e:
            self.worker.fatal = e
            raise ChildGone(HARNESS_ERROR, str(e)) from None
        except (ServiceError, requests.RequestException) as e:
            raise self._failed(e) from None

    def _failed(self, e: Exception) -> ChildGone:
        self.worker.failure = e
        self.status = signal.SIGKILL
        return ChildGone(HARNESS_ERROR, f"remote sandbox failed: {self.worker.redact(str(e))}")

    def kill(self) -> None:
        if self.status is None:
            self.status = signal.SIGKILL

    def close(self) -> None:
        self.kill()


class RemoteWorker(Worker):
    """executors.worker.Worker with programs run by a backend; runs in one thread of the evaluator
    (no sandbox here: nothing untrusted runs in this process)."""

    def __init__(self, backend, redact=lambda text: text):
        self.backend, self.redact = backend, redact
        self.init_trusted_side()
        self.failure: Exception | None = None
        self.fatal: Exception | None = None

    def spawn_child(self, mode: str, program: str, stdin: bytes = b"", setup: str = "") -> RemoteChild:
        return RemoteChild(self, mode, program, stdin, setup)

    # Signals are main-thread only, and time outside the sandbox is not the program's: the budget is
    # enforced per request by the remote supervisor instead.
    def arm_deadline(self, deadline: float) -> None:
        pass

    def disarm_deadline(self) -> None:
        pass

    def run_job(self, job: dict) -> GradeResult:
        for _ in (1, 2):
            self.failure = None
            result = super().run_job(job)
            if self.fatal is not None:
                raise self.fatal
            if self.failure is None:
                return result
            self.backend.reset()
        return GradeResult(HARNESS_ERROR, message=f"remote sandbox failed twice: {self.redact(str(self.failure))}")


# ---------------------------------------------------------------- the executor


class RemoteExecutor:
    """A pool of threads, each a RemoteWorker with its own backend (connection, session)."""
    name = "remote"

    def __init__(self, limits: Limits | None = None, workers: int | None = None):
        protocol.allow_big_ints()  # return values of any size decode here, as in a local worker
        self.limits = limits or Limits()
        self.n_workers = workers or DEFAULT_WORKERS
        self.backends: list = []

    def make_backend(self):
        raise NotImplementedError

    def redact(self, text: str) -> str:
        return text

    def run(self, jobs: Iterable) -> Iterator[tuple[Any, GradeResult]]:
        todo: queue.Queue = queue.Queue(maxsize=2 * self.n_workers)
        done: queue.Queue = queue.Queue()
        threading.Thread(target=_feed, args=(jobs, todo, self.n_workers, done), daemon=True).start()
        for _ in range(self.n_workers):
            backend = self.make_backend()
            self.backends.append(backend)
            worker = RemoteWorker(backend, self.redact)
            threading.Thread(target=self._serve, args=(worker, todo, done), daemon=True).start()
        finished = 0
        while finished < self.n_workers:
            item = done.get()
            if item is _DONE:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item

    def _serve(self, worker: RemoteWorker, todo: queue.Queue, done: queue.Queue) -> None:
        while True:
            job = todo.get()
            if job is _DONE:
                done.put(_DONE)
                return
            msg = {"problem": job.problem, "program": job.program, "tests": job.tests,
                   "limits": self.limits, "stop_on_failure": job.stop_on_failure}
            try:
                result = worker.run_job(msg)
            except RemoteAuthError as e:
                done.put(e)
                done.put(_DONE)
                return
            except Exception as e:  # noqa: BLE001 - our bug: report it on this sample, keep serving
                result = GradeResult(HARNESS_ERROR, message=f"worker error: {type(e).__name__}: {e}")
            done.put((job.key, result))

    def close(self) -> None:
        for backend in self.backends:
            backend.close()
        self.backends.clear()


_DONE = object()


def _feed(jobs: Iterable, todo: queue.Queue, n_workers: int, done: queue.Queue) -> None:
    try:
        for job in jobs:
            todo.put(job)
    except BaseException as e:  # noqa: BLE001 - bad input surfaces in the consumer, with its message
        done.put(e)
    finally:
        for _ in range(n_workers):
            todo.put(_DONE)
