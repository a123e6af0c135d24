"""Check every loader on real dataset files: counts, JSONL round trip, reference solutions pass.

For each file it finds in --shared (a folder laid out like ../shared/data) and each schema fixture in
tests/fixtures: load it, compare the count with the published size, write the problems, read them
back and compare, then (where the dataset has reference solutions) score them with
`python evaluation.py` and list the ones that fail. `make check-datasets` runs this.

    python -m loaders.selfcheck --shared ../shared/data --work runs/selfcheck
    python -m loaders.selfcheck --shared ../shared/data --only mbpp,humaneval
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from loaders import deepcoder, evalplus, humaneval, livecodebench, mbpp, swebench
from loaders.common import write_problems
from models import InputError, read_jsonl, read_problems, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"

# name -> (loader call on the shared folder, published size, run the reference solutions?)
CHECKS = {
    "mbpp": (lambda s, d: mbpp.load(str(s / "mbpp.jsonl"), d), 974, True),
    "humaneval": (lambda s, d: humaneval.load(str(s / "HumanEval.jsonl.gz"), d), 164, True),
    "humanevalplus": (lambda s, d: evalplus.load(str(s / "HumanEvalPlus-v0.1.10.jsonl.gz"), d, dataset="humaneval"),
                      164, True),
    "humanevalplus-mini": (lambda s, d: evalplus.load(str(s / "HumanEvalPlus-Mini-v0.1.10.jsonl.gz"), d,
                                                      dataset="humaneval"), 164, True),
    "mbppplus": (lambda s, d: evalplus.load(str(s / "MbppPlus-v0.2.0.jsonl.gz"), d, dataset="mbpp"), 378, True),
    "mbppplus-v0.1.0": (lambda s, d: evalplus.load(str(s / "MbppPlus-v0.1.0.jsonl.gz"), d, dataset="mbpp"), 399, True),
    "deepcoder-lcbv5-test": (lambda s, d: deepcoder.load(str(s / "deepcoder" / "rllm_lcb_test_279.json"), d,
                                                         config="lcbv5", split="test"), 279, False),
    "deepcoder-lcbv5-train": (lambda s, d: deepcoder.load(str(s / "deepcoder" / "rllm_lcb_train_580.json"), d,
                                                          config="lcbv5", split="train"), 580, False),
    "deepcoder-codeforces": (lambda s, d: deepcoder.load(str(s / "deepcoder" / "rllm_codeforces_test_408.json"), d,
                                                         config="codeforces"), 408, False),
    "swebench-lite": (lambda s, d: swebench.load(str(s / "swebench" / "swe-bench-lite.json"), d, dataset="lite"),
                      300, False),
    "fixture-livecodebench": (lambda s, d: livecodebench.load(str(FIXTURES / "lcb_code_generation_lite.jsonl"), d),
                              3, False),
    "fixture-primeintellect": (lambda s, d: deepcoder.load(str(FIXTURES / "deepcoder_primeintellect.jsonl"), d,
                                                           config="primeintellect"), 2, False),
    "fixture-taco": (lambda s, d: deepcoder.load(str(FIXTURES / "deepcoder_taco.jsonl"), d, config="taco"), 3, False),
    "fixture-swebench-oracle": (lambda s, d: swebench.load(str(FIXTURES / "swebench_oracle.jsonl"), d), 2, False),
}

# Reference solutions that fail here for a documented reason (README "Datasets", Exceptions).
KNOWN_FAILURES = {"Mbpp/599": "canonical sum_average loops to 10^8: over the executor's per-sample budget"}


def check_one(name: str, shared: Path, work: Path, data_dir: str, timeout: float) -> dict:
    load, size, run_solutions = CHECKS[name]
    t0 = time.time()
    problems = load(shared, data_dir)
    out = work / f"{name}.jsonl"
    write_problems(str(out), problems)
    round_trip = list(read_problems(str(out)).values()) == problems
    report = {"name": name, "problems": len(problems), "expected": size, "count_ok": len(problems) == size,
              "round_trip": round_trip, "tests": sum(len(p.test_cases) for p in problems)}
    if run_solutions:
        report.update(score_solutions(problems, out, work / f"{name}.samples.jsonl", timeout))
    report["seconds"] = round(time.time() - t0, 1)
    return report


def score_solutions(problems, problem_file: Path, samples: Path, timeout: float) -> dict:
    """Reference solutions as samples, scored by evaluation.py (the product's own command)."""
    write_jsonl(str(samples), [{"task_id": p.problem_id, "completion": p.solutions[0]} for p in problems if p.solutions])
    cmd = [sys.executable, "evaluation.py", str(samples), "--problem-file", str(problem_file),
           "--timeout", str(timeout), "--allow-partial"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        raise InputError(f"evaluation.py failed on {samples}: {r.stderr.strip()[-500:]}")
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    failed = [f"{row['task_id']}: {row.get('result', '')[:120]}"
              for _, row in read_jsonl(summary["results_file"]) if not row.get("passed")]
    return {"solutions": summary.get("n_samples"), "solutions_passed": summary.get("counts", {}).get("passed", 0),
            "failed": failed, "pass@1": summary.get("pass@1")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"), help="folder of real dataset files")
    p.add_argument("--work", default="runs/selfcheck", help="where problem and result files go")
    p.add_argument("--data-dir", default="data", help="cache root (evalplus expected outputs)")
    p.add_argument("--only", help=f"comma list of checks ({', '.join(CHECKS)})")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per test for reference solutions")
    a = p.parse_args(argv)
    shared, work = Path(a.shared), Path(a.work)
    if not shared.is_dir():
        print(f"error: {shared} is not a folder of dataset files", file=sys.stderr)
        return 1
    names = [n.strip() for n in a.only.split(",")] if a.only else list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        print(f"error: unknown check {unknown[0]!r}; choose from {', '.join(CHECKS)}", file=sys.stderr)
        return 1
    work.mkdir(parents=True, exist_ok=True)
    reports, ok = [], True
    for name in names:
        r = check_one(name, shared, work, a.data_dir, a.timeout)
        reports.append(r)
        unexpected = [f for f in r.get("failed", []) if f.split(":")[0] not in KNOWN_FAILURES]
        good = r["count_ok"] and r["round_trip"] and not unexpected
        ok &= good
        solved = f", solutions {r['solutions_passed']}/{r['solutions']}" if "solutions" in r else ""
        print(f"{'ok  ' if good else 'FAIL'} {name}: {r['problems']}/{r['expected']} problems, {r['tests']} tests, "
              f"round trip {'ok' if r['round_trip'] else 'BROKEN'}{solved} ({r['seconds']} s)", file=sys.stderr)
        for line in r.get("failed", []):
            known = KNOWN_FAILURES.get(line.split(":")[0])
            print(f"       {line}" + (f"  (known: {known})" if known else ""), file=sys.stderr)
    print(json.dumps({"ok": ok, "checks": reports}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
