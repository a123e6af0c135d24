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

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "executors.worker", str(self.uid), "1" if self.isolate else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=worker_env(), close_fds=True)
        hello = pickle.loads(read_frame(self.proc.stdout.fileno()))
        self.layers = hello["layers"]
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
    name = "local"

    def __init__(self, limits: Limits | None = None, workers: int | None = None, isolate: bool = True):
        self.limits = limits or Limits()
        n = workers or os.cpu_count() or 1
        # a uid per sandbox, distinct between evaluators running side by side on one host
        base = 200000 + (os.getpid() % 100000) * 64
        self.workers = [WorkerProcess(base + i, isolate) for i in range(n)]

    @property
    def uids(self) -> list[int]:
        return [w.uid for w in self.workers]

    @property
    def layers(self) -> list[str]:
        w = self.workers[0]
        if w.proc is None:
            w.start()
        return list(w.layers)

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Any, GradeResult]]:
        todo: queue.Queue = queue.Queue(maxsize=2 * len(self.workers))
        done: queue.Queue = queue.Queue()
        feeder = threading.Thread(target=_feed, args=(jobs, todo, len(self.workers), done), daemon=True)
        feeder.start()
        threads = [threading.Thread(target=self._serve, args=(w, todo, done), daemon=True) for w in self.workers]
        for t in threads:
            t.start()
        finished = 0
        while finished < len(threads):
            item = done.get()
            if item is _DONE:
                finished += 1
            elif isinstance(item, _Failure):
                raise item.error
            else:
                yield item

    def _serve(self, worker: WorkerProcess, todo: queue.Queue, done: queue.Queue) -> None:
        while True:
            job = todo.get()
            if job is _DONE:
                done.put(_DONE)
                return
            done.put((job.key, worker.run(job, self.limits)))

    def close(self) -> None:
        for w in self.workers:
            w.stop()


_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def _feed(jobs: Iterable[Job], todo: queue.Queue, n_workers: int, done: queue.Queue) -> None:
    try:
        for job in jobs:
            todo.put(job)
    except BaseException as e:  # noqa: BLE001 - bad input surfaces in the consumer, with its message
        done.put(_Failure(e))
    finally:
        for _ in range(n_workers):
            todo.put(_DONE)
