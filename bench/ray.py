"""Throughput through Ray vs the plain local executor: HumanEval canonical solutions x10 (1,640 samples).

    python -m bench.ray [--repeat 10] [--cpus 2]

Starts a private local Ray instance with `--cpus` CPUs (loopback only, as executors/ray.py does),
runs the same samples through `--executor ray` (one actor + one sandbox worker per CPU) and through
the local executor with as many workers, and prints samples/s for both, the ratio, and Ray's
start-up time (paid once per run, reported separately). The last stdout line is a JSON summary.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import evaluation  # noqa: E402
from executors import Limits  # noqa: E402
from executors.grader import TestExecutionGrader  # noqa: E402
from loaders import humaneval  # noqa: E402
from models import write_jsonl  # noqa: E402


def timed_run(path: str, problems: dict, grader: TestExecutionGrader) -> tuple[float, dict]:
    """evaluation.py's own streaming loop, through a grader that is already warm."""
    out = path + f".{grader.executor.name}.jsonl"
    start = time.monotonic()
    evaluation.run_samples(path, problems, grader, out, "all", sum(1 for _ in open(path)))
    wall = time.monotonic() - start
    return wall, evaluation.summarise(out, [1], wall)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=10, help="copies of the canonical set")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance = local workers")
    ap.add_argument("--timeout", type=float, default=3.0)
    a = ap.parse_args(argv)
    if importlib.util.find_spec("ray") is None:
        print("ray is not installed: make install-ray (pip install -r requirements-ray.txt)", file=sys.stderr)
        return 2
    problems = {p.problem_id: p for p in humaneval.load()}
    samples = [{"task_id": pid, "completion": p.solutions[0]} for _ in range(a.repeat) for pid, p in problems.items()]
    limits = Limits(timeout=a.timeout)
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "samples.jsonl")
        write_jsonl(path, samples)
        with TestExecutionGrader("local", limits, workers=a.cpus) as g:
            rows["local"] = timed_run(path, problems, g)
        t0 = time.monotonic()
        with TestExecutionGrader("ray", limits, workers=a.cpus) as g:   # starts a private local instance
            startup = time.monotonic() - t0
            rows["ray"] = timed_run(path, problems, g)
    n = len(samples)
    result = {"samples": n, "cpus": a.cpus, "host_cpus": os.cpu_count(), "ray_startup_s": round(startup, 1)}
    for name, (wall, summary) in rows.items():
        result[f"{name}_s"] = round(wall, 2)
        result[f"{name}_per_s"] = round(n / wall, 1)
        result[f"{name}_pass@1"] = summary.get("pass@1")
    result["ray_vs_local"] = round(result["ray_per_s"] / result["local_per_s"], 2)
    print(f"canonical x{a.repeat}: {n} samples on {a.cpus} CPUs | local {result['local_per_s']}/s | "
          f"ray {result['ray_per_s']}/s ({result['ray_vs_local']}x local; start-up {result['ray_startup_s']} s "
          f"not included)", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
