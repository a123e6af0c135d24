"""SubprocessExecutor: the default backend, a pool of warm sandbox workers on this machine.

Each worker (executors/worker.py) is a fresh interpreter started with a scrubbed environment; it
forks one sandboxed child per sample (per test for stdin tests). Jobs stream through a bounded
queue, so 100k samples need no more memory than 1k; results come back in completion order.

    ex = SubprocessExecutor(limits=Limits(timeout=3), workers=2)
    for key, result in ex.run(jobs): ...          # jobs: iterable of Job
"""
from __future__ import annotations

import os
import pickle
import queue
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from executors import HARNESS_ERROR, TIMEOUT, GradeResult, Limits
from executors.worker import read_frame, write_frame

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WATCHDOG_GRACE = 15.0     # seconds past the sample budget before a silent worker is replaced
_warned = threading.Event()


@dataclass
class Job:
    key: Any
    problem: Any            # models.CodeProblem
    program: str
    tests: list[int]
    stop_on_failure: bool = True


def worker_env() -> dict[str, str]:
    """Workers see none of the host's variables: no key can leak into a sandbox's memory."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


class WorkerProcess:
    """The parent's handle on one warm worker; restarts it when it dies."""

    def __init__(self, uid: int, isolate: bool):
        self.uid, self.isolate = uid, isolate
        self.proc = None
        self.sent: dict[str, Any] = {}   # problem_id -> problem object the worker already holds
        self.layers: list[str] = []
        self.jail = ""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "executors.worker", str(self.uid), "1" if self.isolate else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=worker_env(), close_fds=True)
        hello = pickle.loads(read_frame(self.proc.stdout.fileno()))
        self.layers = hello["layers"]
        self.jail = hello.get("jail") or ""
        self.sent.clear()
        if hello["missing"] and not _warned.is_set():
            _warned.set()
            print(f"warning: sandbox layers unavailable on this host: {', '.join(hello['missing'])}; "
                  f"running with: {', '.join(hello['layers'])} (see README, Safety model)", file=sys.stderr)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                f.close()
            self.proc = None
        if self.jail:
            try:
                os.rmdir(self.jail)  # the worker's mount namespace is gone: an empty directory is left
            except OSError:
                pass
            self.jail = ""

    def run(self, job: Job, limits: Limits) -> GradeResult:
        """One job; a crashed worker is restarted and the job retried once."""
        for attempt in (1, 2):
            if self.proc is None:
                self.start()
            try:
                return self._exchange(job, limits)
            except _WorkerStuck:
                self.stop()
                return GradeResult(TIMEOUT, message="sample exceeded its time budget (worker replaced)")
            except (EOFError, OSError, pickle.UnpicklingError):
                self.stop()
        return GradeResult(HARNESS_ERROR, message="evaluation worker died twice on this sample")

    def _exchange(self, job: Job, limits: Limits) -> GradeResult:
        pid = job.problem.problem_id
        held = self.sent.get(pid) is job.problem
        msg = {"problem": None if held else job.problem, "problem_id": pid, "program": job.program,
               "tests": job.tests, "limits": limits, "stop_on_failure": job.stop_on_failure}
        write_frame(self.proc.stdin.fileno(), pickle.dumps(msg))
        self.sent[pid] = job.problem
        if len(self.sent) > 512:
            self.sent.clear()
            self.sent[pid] = job.problem
        fd = self.proc.stdout.fileno()
        budget = limits.sample_timeout + WATCHDOG_GRACE
        if not select.select([fd], [], [], budget)[0]:
            raise _WorkerStuck
        return pickle.loads(read_frame(fd))


class _WorkerStuck(Exception):
    pass


class SubprocessExecutor:
    """A fixed pool of warm workers fed from one queue; `run` may be called from many threads at once
    (the scraper does), and every call streams through the same pool."""
    name = "local"

    def __init__(self, limits: Limits | None = None, workers: int | None = None, isolate: bool = True):
        self.limits = limits or Limits()
        n = workers or os.cpu_count() or 1
        # a uid per sandbox, distinct between evaluators running side by side on one host
        base = 200000 + (os.getpid() % 100000) * 64
        self.workers = [WorkerProcess(base + i, isolate) for i in range(n)]
        self._todo: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def uids(self) -> list[int]:
        return [w.uid for w in self.workers]

    @property
    def layers(self) -> list[str]:
        w = self.workers[0]
        with self._lock:
            if w.proc is None and not self._threads:
                w.start()
        return list(w.layers)

    def _start(self) -> None:
        with self._lock:
            if not self._threads:
                self._threads = [threading.Thread(target=self._serve, args=(w,), daemon=True) for w in self.workers]
                for t in self._threads:
                    t.start()

    def _serve(self, worker: WorkerProcess) -> None:
        while True:
            item = self._todo.get()
            if item is None:
                return
            job, out = item
            try:
                result = worker.run(job, self.limits)
            except Exception as e:  # noqa: BLE001 - never lose a sample to our own bug
                result = GradeResult(HARNESS_ERROR, message=f"executor error: {type(e).__name__}: {e}")
            out.put((job.key, result))

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Any, GradeResult]]:
        """Results in completion order; at most 2 x workers jobs of this call are in flight."""
        self._start()
        out: queue.Queue = queue.Queue()
        slots = threading.Semaphore(2 * len(self.workers))
        fed: list[int] = []

        def feed():
            count = 0
            try:
                for job in jobs:
                    slots.acquire()
                    self._todo.put((job, out))
                    count += 1
            except BaseException as e:  # noqa: BLE001 - bad input surfaces in the consumer, with its message
                out.put(_Failure(e))
            finally:
                fed.append(count)
                out.put(_FED)

        threading.Thread(target=feed, daemon=True).start()
        received = 0
        while not fed or received < fed[0]:
            item = out.get()
            if item is _FED:
                continue
            if isinstance(item, _Failure):
                raise item.error
            received += 1
            slots.release()
            yield item

    def close(self) -> None:
        with self._lock:
            for _ in self._threads:
                self._todo.put(None)
            for t in self._threads:
                t.join(timeout=60)
            self._threads = []
        for w in self.workers:
            w.stop()


_FED = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error
