"""Scraper throughput: do API waits and test runs overlap well enough that the server is never left idle?

    .venv/bin/python -m bench.scraper                    # what `make bench-scraper` (and `make bench`) runs
    .venv/bin/python -m bench.scraper --problems 100 --concurrency 30 --latency 0.1

N problems (default 200) of the form `add_k(x) = x + k` (two public tests, one hidden), scraped with
--max-concurrent C (60) and --should-pass-private against the reference server in its own process,
answering after a fixed latency (200 ms) and deliberately wrong until the conversation has had one
feedback turn; every 10th problem's reference is wrong, so it exhausts --max-turns (4). Every turn
therefore pays one LLM latency plus one real test run in the shared executor pool.

Ideal wall time for the turns taken: problems are taken in input order by C slots and a problem's turns
run back to back, each costing exactly the latency (no execution, no overhead) - a list schedule over the
actual turn counts. The run must finish within 1.3x of it. Human text on stderr; one JSON object on the
last line of stdout; exit code 1 if the check fails.
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
import tempfile
import time

import scraper
from inference import start_reference_server, stop_process
from models import CodeProblem, GenerationResult, TestCase, read_records, write_jsonl

TARGET = 1.3


def make_problems(n: int, wrong_every: int) -> list[CodeProblem]:
    """`add_k`; the reference of every `wrong_every`-th problem subtracts instead, so it is never solved."""
    problems = []
    for k in range(n):
        name, op = f"add_{k}", "-" if wrong_every and k % wrong_every == wrong_every - 1 else "+"
        tests = [TestCase("functional", input=f"[{x}]", output=str(x + k), public=x < 1000) for x in (3, 50, 12345)]
        problems.append(CodeProblem(
            problem_id=f"bench/{k}", problem=f"Benchmark task {k}: return the argument plus {k}.\n"
            f"The function must be called {name}.", test_cases=tests,
            solutions=[f"def {name}(x):\n    return x {op} {k}\n"], metadata={"func_name": name}))
    return problems


def ideal_seconds(turns: list[int], slots: int, latency: float) -> float:
    """Makespan of problems (chains of `turns` x latency) taken in order by `slots` parallel slots.
    Example: turns [2, 2, 2], 2 slots, 1 s -> 4 s."""
    free = [0.0] * slots
    for t in turns:
        heapq.heappush(free, heapq.heappop(free) + t * latency)
    return max(free)


def run(a: argparse.Namespace, workdir: str) -> dict:
    problems = make_problems(a.problems, a.wrong_every)
    src = os.path.join(workdir, "problems.jsonl")
    out, err = os.path.join(workdir, "solved.jsonl"), os.path.join(workdir, "impossible.jsonl")
    write_jsonl(src, problems)
    proc, url = start_reference_server(["--problem-file", src, "--latency", str(a.latency), "--wrong-turns", "1"])
    try:
        args = scraper.build_parser().parse_args([
            src, out, "--error-log-path", err, "--base-url", url, "--model", "reference",
            "--max-turns", str(a.max_turns), "--max-concurrent", str(a.concurrency), "--should-pass-private",
            "--profile-output", os.path.join(workdir, "profile.json")]
            + (["--workers", str(a.workers)] if a.workers else []))
        args.api_key = ""
        started = time.monotonic()
        summary = scraper.run(args)
        wall = time.monotonic() - started
    finally:
        stop_process(proc)
    with open(os.path.join(workdir, "profile.json"), encoding="utf-8") as f:
        executed = json.load(f)["totals_seconds"]["execution"]
    done = {r.problem.problem_id: r.turns for path in (out, err) for r in read_records(path, GenerationResult)}
    turns = [done[p.problem_id] for p in problems]
    ideal = ideal_seconds(turns, a.concurrency, a.latency)
    return {"problems": len(problems), "solved": summary["solved"], "impossible": summary["impossible"],
            "turns": sum(turns), "concurrency": a.concurrency, "latency": a.latency,
            "wall_seconds": round(wall, 3), "ideal_seconds": round(ideal, 3), "ratio_to_ideal": round(wall / ideal, 3),
            "perfect_split_seconds": round(sum(turns) * a.latency / a.concurrency, 3),
            # the CPU side: test-run seconds spread over the sandboxes; when it nears the ideal, the
            # machine's cores, not the scraper's overlap, set the pace
            "execution_bound_seconds": round(executed / (a.workers or os.cpu_count() or 1), 3),
            "llm_time_share": summary["llm_time_share"], "client_cpu_seconds": summary["client_cpu_seconds"],
            "load_average": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
            "target": TARGET, "ok": wall <= TARGET * ideal and len(done) == len(problems)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problems", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=60)
    p.add_argument("--latency", type=float, default=0.2, help="server seconds per reply")
    p.add_argument("--max-turns", type=int, default=4)
    p.add_argument("--workers", type=int, help="test sandboxes (default: the scraper's default)")
    p.add_argument("--wrong-every", type=int, default=10, help="every Nth problem is never solved (0: none)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-scraper-") as workdir:
        r = run(a, workdir)
    print(f"scraper: {r['problems']} problems ({r['solved']} solved, {r['impossible']} impossible), {r['turns']} "
          f"turns, {r['concurrency']} in flight, {r['latency'] * 1000:.0f} ms latency: wall {r['wall_seconds']:.2f} s "
          f"vs ideal {r['ideal_seconds']:.2f} s = {r['ratio_to_ideal']:.2f}x (target <= {TARGET}x; "
          f"perfectly split turns would take {r['perfect_split_seconds']:.2f} s; the test runs alone keep the "
          f"sandboxes busy for {r['execution_bound_seconds']:.2f} s); LLM share of problem time "
          f"{r['llm_time_share']:.0%}, scraper CPU {r['client_cpu_seconds']:.1f} s; load average "
          f"{r['load_average']} on {r['cpus']} CPUs  "
          f"{'OK' if r['ok'] else 'FAILED'}", file=sys.stderr)
    print(json.dumps(r))
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
