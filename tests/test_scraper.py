"""scraper.py end to end: a scripted loopback server that answers wrong first and right after feedback
(some problems never right), the real executor, real files, and a real SIGKILL of a scraper process.

    .venv/bin/python -m pytest -q tests/test_scraper.py

The server is reference_server.py in a thread (tests/servers.py): `wrong_turns=1` answers a deliberately
wrong function until the conversation holds one assistant turn, `never_right` problems are always wrong,
and a problem whose reference solution is itself wrong on a hidden test can never pass the private tests.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

import scraper
from models import CodeProblem, GenerationResult, TestCase, read_records, write_jsonl
from tests.servers import ROOT, running_server

PUBLIC_INPUT, HIDDEN_INPUT = "7001", "424242"


def add_problem(k: int, reference: str | None = None) -> CodeProblem:
    """`add_k(x) = x + k`; two public tests, one hidden test with a distinctive input."""
    name = f"add_{k}"
    tests = [TestCase("functional", input=f"[{x}]", output=str(x + k), public=public)
             for x, public in ((int(PUBLIC_INPUT) + k, True), (5, True), (int(HIDDEN_INPUT), False))]
    solution = reference or f"def {name}(x):\n    return x + {k}\n"
    return CodeProblem(problem_id=f"task/{k}", problem=f"Task number {k}: return the argument plus {k}.\n"
                       f"The function must be called {name}.", test_cases=tests, solutions=[solution],
                       metadata={"func_name": name})


def leaky_problem(k: int) -> CodeProblem:
    """Its reference passes the public tests only: the hidden input is large."""
    return add_problem(k, f"def add_{k}(x):\n    return x + {k} if x < 100000 else 0\n")


def records(path) -> dict[str, GenerationResult]:
    if not os.path.exists(path):
        return {}
    return {r.problem.problem_id: r for r in read_records(str(path), GenerationResult)}


def feedback_turns(record: GenerationResult) -> list[str]:
    return [m["content"] for m in record.full_message_history[2:] if m["role"] == "user"]


def run_scraper(tmp_path, problems, url, *flags, capsys=None) -> tuple[int, dict]:
    src = tmp_path / "problems.jsonl"
    write_jsonl(str(src), problems)
    code = scraper.main([str(src), str(tmp_path / "solved.jsonl"), "--error-log-path", str(tmp_path / "impossible.jsonl"),
                         "--base-url", url, "--model", "scripted", "--workers", "2", "--backoff-base", "0.01",
                         *flags])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1]) if capsys else {}
    return code, summary


# ---------------------------------------------------------------- the loop


def test_solved_and_impossible_problems_land_in_their_files_with_their_turn_counts(tmp_path, capsys):
    problems = [add_problem(1), add_problem(2), add_problem(3)]
    with running_server(problems, wrong_turns=1, never_right=frozenset({"task/3"})) as server:
        code, summary = run_scraper(tmp_path, problems, server.base_url, "--max-turns", "3",
                                    "--should-pass-private", capsys=capsys)
    solved, impossible = records(tmp_path / "solved.jsonl"), records(tmp_path / "impossible.jsonl")
    assert code == 0
    assert sorted(solved) == ["task/1", "task/2"] and sorted(impossible) == ["task/3"]
    for r in solved.values():
        assert (r.turns, r.verdicts) == (2, ["wrong_answer", "passed"])
        assert [m["role"] for m in r.full_message_history] == ["system", "user", "assistant", "user", "assistant"]
        assert "return x +" in r.final_code and r.usage["completion_tokens"] > 0
        assert r.generation_metadata["model"] == "scripted" and r.generation_metadata["prompt_id"] == "function"
    bad = impossible["task/3"]
    assert (bad.turns, bad.verdicts) == (3, ["wrong_answer"] * 3)
    assert len(bad.full_message_history) == 2 + 2 * 3   # ends with the feedback on the last try
    assert "deliberately wrong" in bad.final_code
    feedback = feedback_turns(bad)
    assert not feedback[0].startswith("This is the same code") and feedback[1].startswith("This is the same code")
    assert summary["solved"] == 2 and summary["impossible"] == 1 and summary["turns_solved"] == 4
    assert server.stats["completion_requests"] == 2 + 2 + 3


def test_feedback_quotes_the_failing_public_test_and_never_a_hidden_one(tmp_path):
    problems = [add_problem(4)]
    with running_server(problems, never_right=frozenset({"task/4"})) as server:
        run_scraper(tmp_path, problems, server.base_url, "--max-turns", "2", "--should-pass-private")
    [text, _] = feedback_turns(records(tmp_path / "impossible.jsonl")["task/4"])
    assert "wrong answer" in text
    assert f"add_4({int(PUBLIC_INPUT) + 4})" in text and str(int(PUBLIC_INPUT) + 8) in text   # input and expected
    assert "deliberately wrong" in text                                                # the actual output
    assert HIDDEN_INPUT not in text


@pytest.mark.parametrize("feedback_tests, quoted", [("public", False), ("all", True)])
def test_a_hidden_test_failure_is_quoted_only_with_feedback_tests_all(tmp_path, feedback_tests, quoted):
    problems = [leaky_problem(5)]
    with running_server(problems) as server:
        run_scraper(tmp_path, problems, server.base_url, "--max-turns", "2", "--should-pass-private",
                    "--feedback-tests", feedback_tests)
    record = records(tmp_path / "impossible.jsonl")["task/5"]
    assert record.verdicts == ["wrong_answer", "wrong_answer"]
    text = feedback_turns(record)[0]
    assert "passed all 2 public tests but failed a hidden test" in text
    assert (HIDDEN_INPUT in text) == quoted
    assert records(tmp_path / "solved.jsonl") == {}


def test_without_should_pass_private_the_public_tests_decide(tmp_path):
    problems = [leaky_problem(6)]
    with running_server(problems) as server:
        run_scraper(tmp_path, problems, server.base_url, "--max-turns", "2")
    record = records(tmp_path / "solved.jsonl")["task/6"]
    assert (record.turns, record.verdicts) == (1, ["passed"])


def test_api_failures_are_retried_with_backoff_and_the_problem_still_solved(tmp_path, capsys):
    problems = [add_problem(7)]
    with running_server(problems, schedule=["500", "429", "drop"], retry_after=0.05) as server:
        code, summary = run_scraper(tmp_path, problems, server.base_url, capsys=capsys)
    assert code == 0 and summary["retries"] == 3 and summary["solved"] == 1
    assert records(tmp_path / "solved.jsonl")["task/7"].turns == 1


def test_a_problem_whose_requests_keep_failing_is_written_nowhere_and_retried_on_rerun(tmp_path, capsys):
    problems = [add_problem(8)]
    with running_server(problems, schedule=["500"] * 2) as server:
        code, summary = run_scraper(tmp_path, problems, server.base_url, "--max-attempts", "2", capsys=capsys)
        assert code == 1 and summary["errors"] == 1
        assert records(tmp_path / "solved.jsonl") == {} and records(tmp_path / "impossible.jsonl") == {}
        code, summary = run_scraper(tmp_path, problems, server.base_url, capsys=capsys)
    assert code == 0 and summary["solved"] == 1


# ---------------------------------------------------------------- resuming


def test_a_rerun_skips_problems_already_in_either_file(tmp_path, capsys):
    problems = [add_problem(9), add_problem(10)]
    with running_server(problems, never_right=frozenset({"task/10"})) as server:
        run_scraper(tmp_path, problems, server.base_url, "--max-turns", "2", capsys=capsys)
        before = [(tmp_path / f).read_bytes() for f in ("solved.jsonl", "impossible.jsonl")]
        asked = server.stats["completion_requests"]
        code, summary = run_scraper(tmp_path, problems, server.base_url, "--max-turns", "2", capsys=capsys)
        assert server.stats["completion_requests"] == asked
    assert [(tmp_path / f).read_bytes() for f in ("solved.jsonl", "impossible.jsonl")] == before
    assert code == 0 and summary["skipped_already_done"] == 2 and summary["solved"] == 0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_a_scraper_stopped_midway_and_rerun_loses_and_duplicates_nothing(tmp_path, sig):
    problems = [add_problem(k) for k in range(20, 36)]
    src, out, err = tmp_path / "problems.jsonl", tmp_path / "solved.jsonl", tmp_path / "impossible.jsonl"
    write_jsonl(str(src), problems)
    never = frozenset(p.problem_id for p in problems[::4])
    with running_server(problems, wrong_turns=1, never_right=never, latency=0.1) as server:
        argv = [sys.executable, "scraper.py", str(src), str(out), "--error-log-path", str(err),
                "--base-url", server.base_url, "--max-turns", "2", "--max-concurrent", "2", "--workers", "1"]
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 3):
            time.sleep(0.02)
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == (130 if sig == signal.SIGINT else -signal.SIGKILL)
        first = out.read_bytes() + (err.read_bytes() if err.exists() else b"")
        done_first = len(records(out)) + len(records(err))
        assert 3 <= done_first < len(problems), "the kill must land midway"
        assert scraper.main([str(src), str(out), "--error-log-path", str(err), "--base-url", server.base_url,
                             "--max-turns", "2", "--max-concurrent", "4", "--workers", "2"]) == 0
    ids = Counter(json.loads(line)["problem"]["problem_id"]
                  for f in (out, err) for line in f.read_text().splitlines())
    assert ids == Counter(p.problem_id for p in problems)
    assert set(records(err)) == set(never)
    assert all(r.turns == 2 for r in records(out).values())
    assert len(out.read_bytes() + err.read_bytes()) > len(first)


def test_a_problem_without_tests_to_run_is_never_accepted(tmp_path, capsys):
    hidden_only = add_problem(14)
    for t in hidden_only.test_cases:
        t.public = False
    with running_server([hidden_only]) as server:
        code, summary = run_scraper(tmp_path, [hidden_only], server.base_url, capsys=capsys)
        assert code == 1 and summary["errors"] == 1 and server.stats["completion_requests"] == 0
        assert records(tmp_path / "solved.jsonl") == {}
        code, summary = run_scraper(tmp_path, [hidden_only], server.base_url, "--should-pass-private", capsys=capsys)
    assert code == 0 and summary["solved"] == 1


# ---------------------------------------------------------------- profile, bad input


def test_profile_output_has_per_problem_time_shares_and_a_printed_table(tmp_path, capsys):
    problems = [add_problem(11), add_problem(12)]
    profile = tmp_path / "profile.json"
    with running_server(problems, wrong_turns=1, latency=0.05) as server:
        run_scraper(tmp_path, problems, server.base_url, "--profile-output", str(profile))
    report = json.loads(profile.read_text())
    assert set(report["problems"]) == {"task/11", "task/12"}
    for row in report["problems"].values():
        assert sum(row["shares"].values()) == pytest.approx(1.0, abs=0.01)
        assert row["seconds"]["llm"] >= 0.1   # two turns of 50 ms latency
        assert row["seconds"]["execution"] > 0
    assert report["summary"]["solved"] == 2
    assert "llm" in capsys.readouterr().err


def test_bad_input_names_the_file_and_line_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "problems.jsonl"
    src.write_text(json.dumps({"problem_id": "a", "problem": "x"}) + "\n{not json\n")
    out = tmp_path / "solved.jsonl"
    with running_server([add_problem(13)]) as server:
        code = scraper.main([str(src), str(out), "--base-url", server.base_url])
    assert code == 2
    assert f"{src}:2" in capsys.readouterr().err
    assert not out.exists()
