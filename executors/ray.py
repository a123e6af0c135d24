"""RayExecutor: fan samples out over a Ray cluster; every node runs the local sandbox.

    pip install -r requirements-ray.txt
    python evaluation.py samples.jsonl --executor ray --ray-address auto     # an existing cluster
    python evaluation.py samples.jsonl --executor ray                        # a local Ray instance

Each Ray actor (one CPU) owns one warm sandbox worker process (executors.local.WorkerProcess), so
the namespaces, rlimits and the trusted-side oracle are exactly the local executor's; the actor
process itself only relays jobs (it never enters a sandbox: that would unshare Ray's own network
namespace). At most one job per actor is in flight, so memory stays flat however many samples
stream through; results come back in completion order. An actor lost mid-run (node gone, process
killed) is replaced and its sample is retried on another actor, up to `max_attempts` times.
The repository is shipped to the workers as the job's working_dir, so nodes need only Python + Ray.
Ray is imported only when this backend is chosen.
"""
from __future__ import annotations

import collections
import logging
import os
import shutil
import tempfile
from typing import Any, Iterable, Iterator

from executors import HARNESS_ERROR, GradeResult, Limits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Shipped to the cluster as the working_dir: the code, not the venv, data or results.
EXCLUDES = [".venv", ".git", "data", "runs", "**/__pycache__", "*.jsonl", "*.jsonl.gz", "bench"]


def start_local_ray(num_cpus: int) -> str:
    """Start a private Ray instance on this machine that contacts no other host; returns its HOME.

    Ray's API server probes cloud metadata endpoints (169.254.169.254, metadata.google.internal) at
    start unless ~/ray_bootstrap_config.yaml names the provider, and reports usage unless told not
    to; its processes inherit the environment set here, only for the duration of ray.init().
    Workers import this checkout in place (nothing to upload).
    """
    import ray
    home = tempfile.mkdtemp(prefix="ray-home-")
    with open(os.path.join(home, "ray_bootstrap_config.yaml"), "w") as f:
        f.write("provider:\n  type: local\n")
    saved = {k: os.environ.get(k) for k in ("HOME", "RAY_USAGE_STATS_ENABLED")}
    os.environ.update(HOME=home, RAY_USAGE_STATS_ENABLED="0")
    try:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 runtime_env={"env_vars": {"PYTHONPATH": ROOT}})
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return home


class SandboxActor:
    """Runs in a Ray worker process: a relay to one sandbox worker process on that node."""

    def __init__(self, isolate: bool):
        from executors.local import WorkerProcess
        uid = 200000 + (os.getpid() % 100000) * 64   # distinct from other evaluators' sandboxes
        self.worker = WorkerProcess(uid, isolate)
        self.worker.start()

    def info(self) -> dict:
        return {"pid": os.getpid(), "layers": list(self.worker.layers)}

    def run(self, job, limits: Limits) -> GradeResult:
        return self.worker.run(job, limits)

    def stop(self) -> None:
        self.worker.stop()


class RayExecutor:
    name = "ray"

    def __init__(self, limits: Limits | None = None, address: str | None = None, workers: int | None = None,
                 isolate: bool = True, max_attempts: int = 3, ship_code: bool = True):
        import ray
        self.ray = ray
        self.limits = limits or Limits()
        self.max_attempts = max_attempts
        self.owns_ray = not ray.is_initialized()
        self._home = None
        if self.owns_ray:
            if address:   # other nodes get this checkout's code shipped with the job
                runtime_env = {"working_dir": ROOT, "excludes": EXCLUDES} if ship_code else None
                ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
            else:
                self._home = start_local_ray(workers or os.cpu_count() or 1)
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._actor_cls = ray.remote(num_cpus=1, max_restarts=0)(SandboxActor)
        self.isolate = isolate
        self.replaced = 0   # actors lost and replaced so far
        self.actors = [self._new_actor() for _ in range(n)]
        self.infos = ray.get([a.info.remote() for a in self.actors])   # wait until all are warm

    def _new_actor(self):
        return self._actor_cls.remote(self.isolate)

    def actor_pids(self) -> list[int]:
        return [i["pid"] for i in self.infos]

    @property
    def layers(self) -> list[str]:
        return self.infos[0]["layers"] if self.infos else []

    def run(self, jobs: Iterable) -> Iterator[tuple[Any, GradeResult]]:
        ray = self.ray
        todo = iter(jobs)
        retry: collections.deque = collections.deque()   # (job, attempts so far)
        idle = list(self.actors)
        pending: dict = {}                                # ObjectRef -> (actor, job, attempts)
        exhausted = False
        while True:
            while idle and (retry or not exhausted):
                if retry:
                    job, attempts = retry.popleft()
                else:
                    job = next(todo, None)
                    if job is None:
                        exhausted = True
                        break
                    attempts = 0
                actor = idle.pop()
                pending[actor.run.remote(job, self.limits)] = (actor, job, attempts)
            if not pending:
                return
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            actor, job, attempts = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError:
                idle.append(self._replace(actor))
                if attempts + 1 < self.max_attempts:
                    retry.append((job, attempts + 1))
                    continue
                result = GradeResult(HARNESS_ERROR, message=f"lost {self.max_attempts} Ray workers on this sample")
            except ray.exceptions.RayError as e:
                idle.append(actor)
                result = GradeResult(HARNESS_ERROR, message=f"Ray error: {type(e).__name__}: {str(e)[:300]}")
            else:
                idle.append(actor)
            yield job.key, result

    def _replace(self, dead):
        """A fresh actor where the cluster has room; the dead one's sample goes to whichever is idle."""
        self.actors.remove(dead)
        self.replaced += 1
        actor = self._new_actor()
        self.actors.append(actor)
        return actor

    def close(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            return
        try:
            ray.get([a.stop.remote() for a in self.actors], timeout=30)
        except ray.exceptions.RayError:
            pass
        for a in self.actors:
            ray.kill(a)
        self.actors.clear()
        if self.owns_ray:
            ray.shutdown()
            if self._home:
                shutil.rmtree(self._home, ignore_errors=True)
