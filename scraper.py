"""Scraper: mine verified solutions by multi-turn generation with test feedback.

For each problem: ask the model, extract the code, run the public tests (and, with --should-pass-private,
the hidden ones too); on failure, send a feedback message built from the failing test and retry, until the
solution passes or --max-turns runs out. Many problems are in flight at once (--max-concurrent threads);
their test runs all go through ONE shared executor pool, so API waits and test runs overlap.

    python scraper.py datasets/deepcoder_preprocessed.jsonl datasets/deepcoder_solutions.jsonl \\
        --model o4-mini --base-url URL --should-pass-private \\
        --error-log-path datasets/deepcoder_impossible.jsonl --max-turns 10 --max-concurrent 60 \\
        --profile-output profile.json
    python scraper.py data/mbpp.jsonl runs/scrape-mbpp/solutions.jsonl --reference-server   # offline self-check

Reads CodeProblem JSONL (models.read_problems). Writes one models.GenerationResult line per solved problem
to OUTPUT (problem, final_code = the program that passed, full_message_history, generation_metadata, turns,
per-turn verdicts, token usage), appended as each problem finishes; problems that exhaust their turns go
to --error-log-path in the same shape (the history ends with the feedback on the last try). A rerun skips
problems already in either file; Ctrl-C or a kill loses nothing that was written. Problems whose API
calls kept failing are written nowhere, so a rerun retries them. Progress on stderr; the summary as one
JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from tqdm import tqdm

import prompts
from executors import HARNESS_ERROR, GradeResult, Limits, build_program
from executors.grader import TestExecutionGrader
from executors.local import Job
from inference import (Client, GenConfig, RequestFailed, ServerUnusable, extract_code, json_object,
                       sampling_body, start_reference_server, stop_process, to_completion)
from models import (CodeProblem, GenerationResult, InputError, JsonlAppender, read_problems, read_records,
                    write_json)
from prompts.feedback import NO_CODE, build_feedback

# llm: waiting for the server (retries included); execution: tests running; exec_queue: waiting for a
# free sandbox; extract: prompts + code extraction; io: writing records.
PHASES = ("llm", "execution", "exec_queue", "extract", "io")


# ---------------------------------------------------------------- one grader for all threads


class SharedGrader:
    """Runs explicit test lists (public first) on the one grader's executor. The executor's worker pool
    is shared, and its `run` may be called from many threads at once (executors/local.py), so each
    problem thread simply submits its own job."""

    def __init__(self, grader: TestExecutionGrader):
        self.grader = grader

    def grade(self, problem: CodeProblem, program: str, tests: list[int]) -> GradeResult:
        """Run `tests` (indices into problem.test_cases, in this order) on `program`; blocks until done."""
        job = Job(None, problem, program, tests, stop_on_failure=True)
        return next(iter(self.grader.executor.run([job])))[1]

    def close(self, wait: bool = True) -> None:
        """Stop the workers (`wait` is kept for callers; queued jobs die with the pool on Ctrl-C)."""
        self.grader.close()


# ---------------------------------------------------------------- settings, profile


@dataclass
class ScrapeConfig:
    gen: GenConfig                      # model, sampling, prompt ids ("" = per problem shape)
    max_turns: int = 10
    should_pass_private: bool = False
    feedback_tests: str = "public"      # which failing tests feedback may quote: public | all
    limits: Limits = field(default_factory=Limits)


class Profile:
    """Seconds per problem in each of PHASES; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.problems: dict[str, dict[str, float]] = {}
        self.started = time.monotonic()

    def spend(self, problem_id: str, phase: str, seconds: float) -> None:
        with self._lock:
            row = self.problems.setdefault(problem_id, dict.fromkeys(PHASES, 0.0))
            row[phase] += seconds

    def report(self) -> dict:
        totals = {p: sum(row[p] for row in self.problems.values()) for p in PHASES}
        grand = sum(totals.values()) or 1.0
        per_problem = {}
        for pid, row in self.problems.items():
            total = sum(row.values()) or 1.0
            per_problem[pid] = {"seconds": {p: round(row[p], 4) for p in PHASES},
                                "shares": {p: round(row[p] / total, 4) for p in PHASES}}
        return {"wall_seconds": round(time.monotonic() - self.started, 3), "problems_profiled": len(per_problem),
                "totals_seconds": {p: round(v, 3) for p, v in totals.items()},
                "shares": {p: round(v / grand, 4) for p, v in totals.items()}, "problems": per_problem}


def profile_table(report: dict) -> str:
    """The run summary of a profile as a small text table (stderr)."""
    lines = [f"{'phase':<10} {'seconds':>10} {'share':>7}"]
    for p in PHASES:
        lines.append(f"{p:<10} {report['totals_seconds'][p]:>10.2f} {report['shares'][p]:>7.1%}")
    lines.append(f"({report['problems_profiled']} problems; time summed over problems, "
                 f"wall {report['wall_seconds']:.1f} s)")
    return "\n".join(lines)


# ---------------------------------------------------------------- one problem, turn by turn


def order_tests(problem: CodeProblem, should_pass_private: bool) -> list[int]:
    """Public tests first, then (if asked) the hidden ones: the first failure is a public one when any is.
    Example: tests [hidden, public, hidden] -> [1] or [1, 0, 2]."""
    public = [i for i, t in enumerate(problem.test_cases) if t.public]
    hidden = [i for i, t in enumerate(problem.test_cases) if not t.public]
    return public + hidden if should_pass_private else public


def answer_text(data: dict) -> tuple[str, str]:
    """(content, reasoning) of the first choice of a chat reply (vLLM/DeepSeek put reasoning apart)."""
    msg = data["choices"][0].get("message") or {}
    return msg.get("content") or "", msg.get("reasoning_content") or msg.get("reasoning") or ""


def add_usage(total: dict, usage: dict) -> None:
    for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
        total[k] = total.get(k, 0) + int(usage.get(k) or 0)


class HarnessFailed(Exception):
    """The executor, not the model, failed on this problem: it is written nowhere and retried on rerun."""


class Scraper:
    """Runs problems through generate -> extract -> test -> feedback; thread-safe, one instance per run."""

    def __init__(self, client: Client, grader: SharedGrader, cfg: ScrapeConfig, profile: Profile):
        self.client, self.grader, self.cfg, self.profile = client, grader, cfg, profile
        # prompts and extraction use `ast`, which CPython 3.11 does not make thread-safe (see inference.py)
        self._ast_lock = threading.Lock()

    def _timed(self, pid: str, phase: str, fn, *args):
        started = time.monotonic()
        try:
            return fn(*args)
        finally:
            self.profile.spend(pid, phase, time.monotonic() - started)

    def _messages(self, problem: CodeProblem) -> tuple[list[dict], str]:
        prompt_id = self.cfg.gen.prompt_id or prompts.default_prompt_id(problem, self.cfg.gen.dataset)
        with self._ast_lock:
            return prompts.build_messages(problem, prompt_id, self.cfg.gen.system_prompt_id), prompt_id

    def _program(self, problem: CodeProblem, raw: str, reasoning: str) -> str:
        with self._ast_lock:
            code = extract_code(raw, reasoning)
            return build_program(problem, to_completion(code, problem)) if code.strip() else ""

    def _ask(self, messages: list[dict]) -> dict:
        data, seconds = self.client.chat(self.cfg.gen.model, messages,
                                         **sampling_body(self.cfg.gen, 1, self.cfg.gen.seed))
        self.client.stats.success(seconds, data.get("usage") or {}, [data["choices"][0].get("finish_reason") or ""])
        return data

    def _run_tests(self, pid: str, problem: CodeProblem, program: str, tests: list[int]) -> GradeResult:
        """Execution time is split: running the tests vs waiting for a free sandbox (CPU saturated)."""
        started = time.monotonic()
        result = self.grader.grade(problem, program, tests)
        waited = time.monotonic() - started
        ran = min(result.duration, waited)
        self.profile.spend(pid, "execution", ran)
        self.profile.spend(pid, "exec_queue", waited - ran)
        return result

    def solve(self, problem: CodeProblem) -> tuple[bool, GenerationResult]:
        """(accepted, record). RequestFailed (API) or HarnessFailed (executor): written nowhere, retried on rerun."""
        pid, cfg = problem.problem_id, self.cfg
        tests = order_tests(problem, cfg.should_pass_private)
        if not tests:  # an empty run would "pass": never accept untested code
            raise HarnessFailed(f"{pid}: no tests to run" + ("" if cfg.should_pass_private else
                                " (no public tests; --should-pass-private runs the hidden ones)"))
        public_total = sum(1 for t in problem.test_cases if t.public)
        messages, prompt_id = self._timed(pid, "extract", self._messages, problem)
        record = GenerationResult(problem, "", messages, self._metadata(prompt_id))
        tried: dict[str, GradeResult] = {}
        for _ in range(cfg.max_turns):
            data = self._timed(pid, "llm", self._ask, messages)
            add_usage(record.usage, data.get("usage") or {})
            raw, reasoning = answer_text(data)
            messages.append({"role": "assistant", "content": raw})
            record.turns += 1
            program = self._timed(pid, "extract", self._program, problem, raw, reasoning)
            repeated = program in tried
            if not program:
                result = GradeResult(NO_CODE, message="no code in the reply")
            else:
                # the same program on the same tests gets the same verdict: models do resend code unchanged
                result = tried[program] if repeated else self._run_tests(pid, problem, program, tests)
                tried[program] = result
            if result.verdict == HARNESS_ERROR:
                raise HarnessFailed(f"{pid}: the test harness failed ({result.message}); not the model's fault")
            record.verdicts.append(result.verdict)
            record.final_code = program
            if result.passed:
                return True, record
            feedback = build_feedback(result, public_total, cfg.feedback_tests == "all", cfg.limits,
                                      problem.func_name, repeated)
            messages.append({"role": "user", "content": feedback})
        return False, record

    def _metadata(self, prompt_id: str) -> dict:
        g, c = self.cfg.gen, self.cfg
        return {"model": g.model, "temperature": g.temperature, "prompt_id": prompt_id,
                "system_prompt_id": g.system_prompt_id or prompts.template(prompt_id).system,
                "top_p": g.top_p, "max_tokens": g.max_tokens, "seed": g.seed, "max_turns": c.max_turns,
                "should_pass_private": c.should_pass_private, "feedback_tests": c.feedback_tests}


# ---------------------------------------------------------------- the run


def finished_ids(path: str | None) -> set[str]:
    """Problem ids already recorded in `path` (a torn last line from a kill is cut off first)."""
    if not path or not os.path.exists(path):
        return set()
    JsonlAppender(path).close()
    return {r.problem.problem_id for r in read_records(path, GenerationResult)}


def _worker(scraper: Scraper, todo: queue.Queue, done: queue.Queue) -> None:
    """Takes problems until none are left; reports (kind, problem, payload) for each."""
    while True:
        try:
            problem = todo.get_nowait()
        except queue.Empty:
            return
        done.put(("started", problem, None))
        try:
            accepted, record = scraper.solve(problem)
            done.put(("solved" if accepted else "impossible", problem, record))
        except ServerUnusable as e:
            done.put(("fatal", problem, e))
            return
        except (RequestFailed, HarnessFailed) as e:
            done.put(("error", problem, str(e)))
        except Exception as e:  # a bug: the main thread stops the run with it
            done.put(("fatal", problem, e))
            return


class _Outputs:
    """The two append-only files and the counters behind the progress bar."""

    def __init__(self, output: str, error_log: str | None, profile: Profile, bar: tqdm):
        self.solved_file = JsonlAppender(output)
        self.error_file = JsonlAppender(error_log) if error_log else None
        self.profile, self.bar = profile, bar
        self.counts = {"solved": 0, "impossible": 0, "errors": 0, "in_flight": 0}
        self.turns = {"solved": 0, "impossible": 0}
        self.errors: list[str] = []

    def take(self, kind: str, problem: CodeProblem, payload) -> None:
        if kind == "started":
            self.counts["in_flight"] += 1
        elif kind == "fatal":
            raise payload
        else:
            self.counts["in_flight"] -= 1
            self.counts[kind if kind != "error" else "errors"] += 1
            if kind == "error":
                self.errors.append(payload)
                tqdm.write(f"error: {payload}", file=sys.stderr)
            else:
                self._write(kind, problem.problem_id, payload)
            self.bar.update(1)
        self.bar.set_postfix(self.counts, refresh=False)

    def _write(self, kind: str, pid: str, record: GenerationResult) -> None:
        started = time.monotonic()
        target = self.solved_file if kind == "solved" else self.error_file
        if target is not None:
            target.write(record)
        self.turns[kind] += record.turns
        self.profile.spend(pid, "io", time.monotonic() - started)

    def close(self) -> None:
        self.solved_file.close()
        if self.error_file:
            self.error_file.close()


def scrape(problems: list[CodeProblem], output: str, error_log: str | None, client: Client,
           grader: SharedGrader, cfg: ScrapeConfig, max_concurrent: int = 8,
           profile: Profile | None = None) -> dict:
    """Scrape the problems not yet in `output` or `error_log`; returns the run summary."""
    profile = profile or Profile()
    for path in filter(None, (output, error_log)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    skip = finished_ids(output) | finished_ids(error_log)
    todo: queue.Queue = queue.Queue()
    pending = [p for p in problems if p.problem_id not in skip]
    for p in pending:
        todo.put(p)
    done: queue.Queue = queue.Queue()
    scraper = Scraper(client, grader, cfg, profile)
    # Daemon threads: Ctrl-C must not wait for answers in flight (those problems are simply redone).
    for _ in range(min(max_concurrent, len(pending))):
        threading.Thread(target=_worker, args=(scraper, todo, done), daemon=True).start()
    with tqdm(total=len(pending), desc="scraping", unit="problem", disable=None, file=sys.stderr) as bar:
        out = _Outputs(output, error_log, profile, bar)
        finished = 0
        try:
            while finished < len(pending):
                kind, problem, payload = done.get()
                out.take(kind, problem, payload)
                finished += kind != "started"
        except KeyboardInterrupt:
            _drain(done, out)   # problems that finished while we were interrupted are written too
            raise
        finally:
            out.close()
    return _summary(len(problems), len(skip & {p.problem_id for p in problems}), out, client, profile)


def _drain(done: queue.Queue, out: _Outputs) -> None:
    while True:
        try:
            kind, problem, payload = done.get_nowait()
        except queue.Empty:
            return
        if kind in ("solved", "impossible"):
            out.take(kind, problem, payload)


def _summary(total: int, skipped: int, out: _Outputs, client: Client, profile: Profile) -> dict:
    c, t = out.counts, out.turns
    return {"problems": total, "skipped_already_done": skipped, "solved": c["solved"],
            "impossible": c["impossible"], "errors": c["errors"], "turns_solved": t["solved"],
            "turns_impossible": t["impossible"],
            "mean_turns_solved": round(t["solved"] / c["solved"], 3) if c["solved"] else 0.0,
            "llm_time_share": profile.report()["shares"]["llm"], **client.stats.summary()}


def describe(s: dict) -> str:
    """The human summary (stderr)."""
    failures = ", ".join(f"{k} {v}" for k, v in s["failures"].items()) or "none"
    return (f"{s['solved']} solved (mean {s['mean_turns_solved']:.2f} turns), {s['impossible']} impossible, "
            f"{s['errors']} errors (retried on rerun); {s['skipped_already_done']} of {s['problems']} problems "
            f"were already done\nrequests {s['requests']}, retries {s['retries']}, failures: {failures}; "
            f"tokens {s['prompt_tokens']:,} prompt + {s['completion_tokens']:,} completion; "
            f"wall {s['wall_seconds']:.1f} s")


# ---------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    from evaluation import add_limit_args  # the one definition of the sandbox limit flags
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("input", help="CodeProblem JSONL (any loader's output)")
    p.add_argument("output", help="solved problems, appended (GenerationResult JSONL)")
    p.add_argument("--error-log-path", help="problems that exhausted their turns (same shape)")
    p.add_argument("--model", default="", help="default: the first model the server lists")
    p.add_argument("--base-url", action="append", default=[], help="repeat to load-balance; default $OPENAI_BASE_URL")
    p.add_argument("--api-key", default="", help="default $OPENAI_API_KEY (prefer the variable: argv is visible)")
    p.add_argument("--reference-server", action="store_true",
                   help="no server of your own: start reference_server.py on the input's problems (self-check)")
    p.add_argument("--max-turns", type=int, default=10, help="model answers per problem")
    p.add_argument("--max-concurrent", type=int, default=8, help="problems in flight")
    p.add_argument("--should-pass-private", action="store_true", help="accept only if the hidden tests pass too")
    p.add_argument("--feedback-tests", choices=("public", "all"), default="public",
                   help="which failing tests feedback may quote (all: hidden ones too)")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-p", type=float)
    p.add_argument("--max-tokens", type=int, default=4096)
    p.add_argument("--seed", type=int)
    p.add_argument("--prompt-id", choices=sorted(prompts.TEMPLATES), help="default: per problem shape")
    p.add_argument("--system-prompt-id", choices=sorted(prompts.SYSTEM_PROMPTS), help="default: the template's")
    p.add_argument("--extra-body", type=json_object, help="JSON object merged into every request body")
    p.add_argument("--workers", type=int, help="test sandboxes running at once (default: CPU count)")
    p.add_argument("--connect-timeout", type=float, default=5.0)
    p.add_argument("--read-timeout", type=float, default=600.0)
    p.add_argument("--max-attempts", type=int, default=6, help="per request; then the problem is retried on rerun")
    p.add_argument("--backoff-base", type=float, default=1.0, help="first retry waits about this many seconds")
    p.add_argument("--profile-output", help="JSON: per problem time shares (LLM, execution, extract, I/O)")
    add_limit_args(p)
    return p


def _config(args: argparse.Namespace, model: str) -> ScrapeConfig:
    from evaluation import limits_from_args
    gen = GenConfig(model=model, temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                    seed=args.seed, prompt_id=args.prompt_id or "", system_prompt_id=args.system_prompt_id,
                    extra_body=args.extra_body or {})
    return ScrapeConfig(gen, args.max_turns, args.should_pass_private, args.feedback_tests, limits_from_args(args))


def run(args: argparse.Namespace) -> dict:
    problems = list(read_problems(args.input).values())
    if args.max_turns < 1:
        raise ValueError("--max-turns must be at least 1")
    client = Client(args.base_url, api_key=args.api_key, concurrency=args.max_concurrent,
                    connect_timeout=args.connect_timeout, read_timeout=args.read_timeout,
                    max_attempts=args.max_attempts, backoff_base=args.backoff_base)
    served = client.check()
    cfg = _config(args, args.model or (served[0] if served else ""))
    if not cfg.gen.model:
        raise ServerUnusable(f"{client.base_urls[0]} lists no model; pass --model")
    profile = Profile()
    grader = SharedGrader(TestExecutionGrader("local", cfg.limits, workers=args.workers))
    print(f"Scraping {len(problems)} problems with {cfg.gen.model} (max {cfg.max_turns} turns, "
          f"{args.max_concurrent} in flight)...", file=sys.stderr)
    try:
        summary = scrape(problems, args.output, args.error_log_path, client, grader, cfg,
                         args.max_concurrent, profile)
    except BaseException:
        grader.close(wait=False)
        raise
    grader.close()
    if args.profile_output:
        report = profile.report()
        write_json(args.profile_output, {"summary": summary, **report})
        print(profile_table(report), file=sys.stderr)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.base_url = args.base_url or [u for u in [os.environ.get("OPENAI_BASE_URL", "")] if u]
    args.api_key = args.api_key or os.environ.get("OPENAI_API_KEY", "")
    # Ctrl-C must stop a run cleanly even when a script started us with SIGINT ignored
    # (background jobs of non-interactive shells inherit SIG_IGN, and Python then never raises it)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = None
    try:
        if args.reference_server and not args.base_url:
            print("Starting the bundled reference server...", file=sys.stderr)
            server, url = start_reference_server(["--problem-file", args.input])
            args.base_url, args.model = [url], args.model or "reference"
        if not args.base_url:
            raise ServerUnusable("no server given: pass --base-url, set OPENAI_BASE_URL, or pass "
                                 "--reference-server for the offline self-check")
        summary = run(args)
    except (InputError, RequestFailed, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished problems are saved; rerun the same command to continue", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            stop_process(server)
    print(describe(summary), file=sys.stderr)
    print(json.dumps(summary))
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
