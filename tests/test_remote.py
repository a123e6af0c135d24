"""Remote backends over HTTP: retries, auth failures, sandbox errors, lost sessions, secrets, the CLI.

Run: .venv/bin/python -m pytest -q tests/test_remote.py
Against the loopback SandboxFusion and Together Code Interpreter servers of tests/servers_remote.py,
which run the submitted code for real. Verdict conformance itself is tests/test_conformance.py.
"""
from __future__ import annotations

import json

import pytest

import evaluation
from executors import Limits
from executors.grader import TestExecutionGrader
from executors.remote import RemoteAuthError
from models import CodeProblem, TestCase, write_jsonl
from tests.servers_remote import running_sandboxfusion, running_tci

KEY = "tk-remote-SECRET-9090"
OPENAI_KEY = "sk-remote-SECRET-3131"
LIMITS = Limits(timeout=2.0, sample_timeout=20, memory_mb=256)
ADD = CodeProblem("r/add", "add", metadata={"func_name": "add"}, test_cases=[
    TestCase("functional", code="assert add(1, 2) == 3\nassert add(-1, 1) == 0")])
ECHO_SUM = CodeProblem("r/sum", "sum", test_cases=[TestCase("stdin", input="3 4\n", output="7\n")])
GOOD = "def add(a, b):\n    return a + b"


def sandboxfusion(srv, **kw):
    return TestExecutionGrader("sandboxfusion", LIMITS, base_url=srv.base_url, backoff=0.01, **kw)


def together(srv, key=KEY, **kw):
    return TestExecutionGrader("together", LIMITS, api_key=key, base_url=srv.base_url, backoff=0.01, **kw)


def test_429_and_5xx_are_retried_until_the_request_succeeds():
    with running_sandboxfusion(faults=["503", "429", "garbage"]) as srv, sandboxfusion(srv, workers=1) as g:
        assert g.grade(ECHO_SUM, "print(sum(map(int, input().split())))").verdict == "passed"
    assert srv.requests == 4   # 503, 429, then a non-JSON reply (retried as a sample), then success


def test_a_storm_of_503s_is_a_harness_error_not_the_models_fault():
    with running_sandboxfusion(faults=["503"] * 40) as srv, sandboxfusion(srv, workers=1, max_attempts=3) as g:
        r = g.grade(ECHO_SUM, "print(7)")
    assert r.verdict == "harness_error" and "HTTP 503" in r.message
    assert srv.requests == 6   # 3 attempts, and the sample retried once


def test_sandbox_error_is_a_harness_error_after_one_retry_of_the_sample():
    with running_sandboxfusion(faults=["sandbox_error"]) as srv, sandboxfusion(srv, workers=1) as g:
        assert g.grade(ADD, GOOD).verdict == "passed"       # the retry succeeds
    with running_sandboxfusion(faults=["sandbox_error"] * 2) as srv, sandboxfusion(srv, workers=1) as g:
        r = g.grade(ECHO_SUM, "print(7)")
    assert r.verdict == "harness_error" and "SandboxError" in r.message


def test_rejected_key_stops_the_run_with_a_clear_message_and_no_key_in_it():
    with running_tci(api_key=KEY) as srv, together(srv, key="tk-WRONG-key-0000") as g:
        with pytest.raises(RemoteAuthError) as err:
            g.grade(ADD, GOOD)
    assert "HTTP 401" in str(err.value) and "tk-WRONG-key-0000" not in str(err.value)


def test_missing_key_is_refused_before_any_request():
    with pytest.raises(RemoteAuthError, match="TOGETHER_API_KEY"):
        TestExecutionGrader("together", LIMITS, api_key="")


def test_sessions_are_reused_and_an_expired_session_is_replaced():
    items = [(i, ADD, GOOD) for i in range(6)]
    with running_tci(api_key=KEY, faults=[None, None, "expire"]) as srv, together(srv, workers=2) as g:
        results = dict(g.grade_many(items))
        assert {r.verdict for r in results.values()} == {"passed"}
        assert len(srv.kernels) <= 2                                     # one session per worker
    boots = sum("_ce_src =" in code for code in srv.codes)
    assert boots <= 4 and srv.requests >= 6 * 3                         # booted once per session


def test_the_program_keeps_its_state_between_calls_in_a_together_session():
    counter = CodeProblem("r/count", "count", metadata={"func_name": "tick"}, test_cases=[
        TestCase("functional", code="assert tick() == 1\nassert tick() == 2\nassert tick() == 3")])
    program = "n = 0\ndef tick():\n    global n\n    n += 1\n    return n"
    with running_tci(api_key=KEY) as srv, together(srv, workers=1) as g:
        assert g.grade(counter, program).verdict == "passed"


@pytest.mark.parametrize("backend", ["together", "sandboxfusion"])
def test_cli_run_leaks_no_secret_to_the_sandbox_logs_or_results(tmp_path, monkeypatch, capsys, backend):
    problems = tmp_path / "problems.jsonl"
    samples = tmp_path / "samples.jsonl"
    write_jsonl(str(problems), [ADD])
    leak = "import os\ndef add(a, b):\n    return ''.join(v for k, v in os.environ.items() if 'KEY' in k) or a + b"
    write_jsonl(str(samples), [{"task_id": "r/add", "completion": GOOD}, {"task_id": "r/add", "completion": leak}])
    monkeypatch.setenv("TOGETHER_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    server = running_tci(api_key=KEY) if backend == "together" else running_sandboxfusion()
    with server as srv:
        if backend == "together":
            monkeypatch.setenv("TOGETHER_BASE_URL", srv.base_url)
            extra = []
        else:
            extra = ["--sandbox-url", srv.base_url]
        code = evaluation.main([str(samples), "--problem-file", str(problems), "--executor", backend,
                                "--timeout", "2", "--k", "1", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["counts"]["passed"] == 2          # the program saw no key, so it fell back to a + b
    results = (tmp_path / "samples.jsonl_results.jsonl").read_text()
    for text in [out, err, results, *srv.codes]:
        assert KEY not in text and OPENAI_KEY not in text
    if backend == "together":
        assert all(KEY in h for h in srv.headers_seen)   # the key went where it belongs, and only there
