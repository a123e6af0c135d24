"""`inference.py preprocess deepcoder`: a loopback OpenAI-compatible server plays the LLM.

The server reads the real statements it is sent (rllm's LiveCodeBench rows) and answers with the
examples it finds there, plus one invented example, so kept/dropped counts are known exactly.

    .venv/bin/python -m pytest -q tests/test_loaders_preprocess.py
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loaders import preprocess
from models import read_problems
from test_download import SHARED

LCB = SHARED / "deepcoder" / "rllm_lcb_test_279.json"
pytestmark = pytest.mark.skipif(not LCB.exists(), reason="../shared/data is absent")


def examples_in(statement: str) -> list[dict]:
    """What a good model would extract: AtCoder 'Sample Input/Output' blocks or LeetCode 'Input:/Output:' lines."""
    found = [{"input": i.strip() + "\n", "output": o.strip() + "\n"} for i, o in re.findall(
        r"Sample Input \d+\n\n(.*?)\n\nSample Output \d+\n\n(.*?)(?:\n\n|$)", statement.replace("\r", ""), re.S)]
    for args, out in re.findall(r"Input: (.*?)\nOutput: (.*?)\n", statement):
        values = [json.loads(v) for v in re.findall(r"= (\[.*?\](?=, \w+ =|$)|[^,]+)", args)]
        found.append({"input": values, "output": json.loads(out)})
    return found


class FakeLLM:
    """POST /v1/chat/completions; `script` holds status codes / raw answers to send first."""

    def __init__(self, script=()):
        self.script = list(script)
        self.requests = 0
        llm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                llm.requests += 1
                status, content = 200, None
                if llm.script:
                    step = llm.script.pop(0)
                    status, content = (step, None) if isinstance(step, int) else (200, step)
                if content is None and status == 200:
                    statement = body["messages"][1]["content"]
                    content = "```json\n" + json.dumps({"examples": examples_in(statement) + [
                        {"input": "invented\n", "output": "example\n"}]}) + "\n```"
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def llm():
    server = FakeLLM()
    yield server
    server.close()


def run(llm, out, n=8, *extra):
    return preprocess.main(["deepcoder", "--configs", "lcbv5", "--source", str(LCB), "--num-problems", str(n),
                            "--base-url", llm.base_url, "--model", "fake", "--concurrency", "2",
                            "--output", str(out), *extra])


def test_examples_that_match_the_dataset_become_public_tests(llm, tmp_path, capsys):
    out = tmp_path / "pre.jsonl"
    assert run(llm, out) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    problems = list(read_problems(str(out)).values())
    assert len(problems) == 8 and summary["problems"] == 8
    # every problem's invented example is dropped; the statement's examples all match rllm's tests
    assert summary["dropped"] == 8 and summary["kept"] == sum(p.metadata["preprocess"]["kept"] for p in problems)
    assert summary["kept"] >= 8 and summary["with_public"] == 8
    for p in problems:
        assert sum(t.public for t in p.test_cases) == p.metadata["preprocess"]["kept"]
    functional = next(p for p in problems if p.func_name)
    assert any(t.public and t.type == "functional" for t in functional.test_cases)


def test_an_interrupted_run_resumes_without_asking_again(llm, tmp_path, capsys):
    out = tmp_path / "pre.jsonl"
    assert run(llm, out, 3) == 0
    asked = llm.requests
    assert run(llm, out, 5) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert llm.requests == asked + 2 and summary["skipped"] == 3
    assert len(read_problems(str(out))) == 5


def test_rate_limits_are_retried_and_unparseable_answers_keep_nothing(tmp_path, capsys):
    llm = FakeLLM([429, "I cannot find any examples."])
    try:
        assert run(llm, tmp_path / "pre.jsonl", 1, "--concurrency", "1") == 0
    finally:
        llm.close()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["unparsed"] == 1 and summary["kept"] == 0 and llm.requests == 2


def test_a_server_that_keeps_failing_is_a_clear_error(tmp_path, capsys):
    llm = FakeLLM([400])
    try:
        assert run(llm, tmp_path / "pre.jsonl", 1) == 1
    finally:
        llm.close()
    assert "HTTP 400" in capsys.readouterr().err


@pytest.mark.parametrize("text,expected", [
    (" 1  2\r\n3 \n\n", "1 2\n3"),
    ("a\tb", "a b"),
    ("", ""),
])
def test_whitespace_normalisation(text, expected):
    assert preprocess.norm_text(text) == expected


def test_inference_dispatches_preprocess(llm, tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    if "preprocess" not in (root / "inference.py").read_text():
        pytest.skip("inference.py has no preprocess command yet")
    out = tmp_path / "pre.jsonl"
    r = subprocess.run([sys.executable, "inference.py", "preprocess", "deepcoder", "--configs", "lcbv5",
                        "--source", str(LCB), "--num-problems", "2", "--base-url", llm.base_url,
                        "--output", str(out)], cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["problems"] == 2
