"""Inference client benchmark: is the client ever the bottleneck, and does it survive a flaky server?

    .venv/bin/python -m bench.inference                 # what `make bench-inference` (and `make bench`) runs
    .venv/bin/python -m bench.inference --requests 500 --concurrency 32 --latency 0.1

1. Throughput: N requests (default 2,000) at concurrency C (64) against the reference server in its own
   process, answering after a fixed latency (250 ms). Ideal wall time = N x latency / C; the run must
   finish within 1.2x of it. The client's CPU per request is reported (server CPU is not counted).
2. Faults: 20% of replies fail (429 with Retry-After, 500, dropped connection); every sample must end up
   in the file exactly once, with no failed samples.
Human text on stderr; one JSON object on the last line of stdout; exit code 1 if a check fails.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections import Counter

from inference import Client, GenConfig, generate, start_reference_server, stop_process
from loaders.humaneval import load as load_humaneval
from models import read_jsonl, write_jsonl

def start_server(problem_file: str, *flags: str) -> tuple[subprocess.Popen, str]:
    """The reference server in a child process, so the client's CPU is measured alone."""
    return start_reference_server(["--problem-file", problem_file, *flags])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_load(problem_file: str, problems, out: str, samples_per_problem: int, concurrency: int,
             server_flags: list[str], backoff_base: float) -> dict:
    """One generate() run against a fresh server process; adds the server's CPU seconds."""
    cpu_before = _children_cpu()
    proc, url = start_server(problem_file, *server_flags)
    try:
        client = Client([url], concurrency=concurrency, read_timeout=30, backoff_base=backoff_base, max_attempts=8)
        cfg = GenConfig(model="reference", prompt_id="humaneval", max_tokens=1024)
        summary = generate(problems, out, client, cfg, samples_per_problem, concurrency, per_request=1)
    finally:
        stop_process(proc)
    return {**summary, "server_cpu_seconds": round(_children_cpu() - cpu_before, 3)}


def throughput(workdir: str, problem_file: str, problems, a: argparse.Namespace) -> dict:
    per_problem = a.requests // len(problems)
    total = per_problem * len(problems)
    s = run_load(problem_file, problems, os.path.join(workdir, "throughput.jsonl"), per_problem, a.concurrency,
                 ["--latency", str(a.latency)], backoff_base=1.0)
    ideal = total * a.latency / a.concurrency
    return {"requests": total, "concurrency": a.concurrency, "latency": a.latency,
            "wall_seconds": s["wall_seconds"], "ideal_seconds": round(ideal, 3),
            "ratio_to_ideal": round(s["wall_seconds"] / ideal, 3),
            "client_cpu_ms_per_request": round(1000 * s["client_cpu_seconds"] / total, 3),
            "server_cpu_ms_per_request": round(1000 * s["server_cpu_seconds"] / total, 3),
            "latency_p50": s["latency_p50"], "latency_p95": s["latency_p95"],
            "ok": s["samples_failed"] == 0 and s["wall_seconds"] <= 1.2 * ideal}


def faults(workdir: str, problem_file: str, problems, a: argparse.Namespace) -> dict:
    out = os.path.join(workdir, "faults.jsonl")
    per_problem = max(1, a.fault_requests // len(problems))
    s = run_load(problem_file, problems, out, per_problem, a.concurrency,
                 ["--latency", "0.05", "--fault-rate", "0.2", "--fault-kinds", "429,500,drop",
                  "--retry-after", "0.2"], backoff_base=0.1)
    pairs = Counter((row["task_id"], row["index"]) for _, row in read_jsonl(out))
    expected = {(p.problem_id, i) for p in problems for i in range(per_problem)}
    exactly_once = set(pairs) == expected and max(pairs.values()) == 1
    return {"samples": len(expected), "requests": s["requests"], "retries": s["retries"], "failures": s["failures"],
            "failed_samples": s["samples_failed"], "exactly_once": exactly_once, "wall_seconds": s["wall_seconds"],
            "ok": exactly_once and s["samples_failed"] == 0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--latency", type=float, default=0.25)
    p.add_argument("--problems", type=int, default=100, help="HumanEval problems to spread the requests over")
    p.add_argument("--fault-requests", type=int, default=1000, help="samples in the 20%%-faults run")
    a = p.parse_args(argv)
    before = [round(x, 2) for x in os.getloadavg()]
    problems = load_humaneval()[:a.problems]
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as workdir:
        problem_file = os.path.join(workdir, "problems.jsonl")
        write_jsonl(problem_file, problems)
        print(f"Throughput: {a.requests} requests, {a.concurrency} in flight, {a.latency * 1000:.0f} ms each...",
              file=sys.stderr)
        t = throughput(workdir, problem_file, problems, a)
        print(f"  wall {t['wall_seconds']:.2f} s vs ideal {t['ideal_seconds']:.2f} s (x{t['ratio_to_ideal']:.3f}, "
              f"limit x1.2) -> {'OK' if t['ok'] else 'FAIL'}; client CPU {t['client_cpu_ms_per_request']:.2f} ms "
              f"per request (server {t['server_cpu_ms_per_request']:.2f} ms); latency p50 "
              f"{t['latency_p50']:.3f} s p95 {t['latency_p95']:.3f} s", file=sys.stderr)
        print("Faults: 20% of replies are 429 (Retry-After), 500 or a dropped connection...", file=sys.stderr)
        f = faults(workdir, problem_file, problems, a)
        print(f"  {f['samples']} samples, {f['requests']} requests, {f['retries']} retries "
              f"({', '.join(f'{k} {v}' for k, v in f['failures'].items())}); every sample exactly once: "
              f"{f['exactly_once']} -> {'OK' if f['ok'] else 'FAIL'}", file=sys.stderr)
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"Load average before/after: {before} / {load} on {os.cpu_count()} CPUs (other processes inflate the "
          "wall time; the client's CPU per request is the figure that does not depend on them)", file=sys.stderr)
    print(json.dumps({"throughput": t, "faults": f, "load_average": {"before": before, "after": load},
                      "cpus": os.cpu_count()}))
    return 0 if t["ok"] and f["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
