"""reference_server.py: the OpenAI protocol it speaks, how it matches prompts, and its injected faults.

    .venv/bin/python -m pytest -q tests/test_reference_server.py

Plain `requests` calls against the real server on 127.0.0.1 (no client code of ours in between).
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import requests

import prompts
from reference_server import ProblemIndex, reference_code, truncate
from tests.servers import ROOT, humaneval_problems, running_server, write_problem_file

PROBLEMS = humaneval_problems()
FIRST = PROBLEMS[0]


def chat(url, content, **extra):
    return requests.post(url + "/chat/completions", timeout=10,
                         json={"model": "reference", "messages": [{"role": "user", "content": content}], **extra})


def test_models_lists_the_reference_model():
    with running_server(PROBLEMS[:2]) as server:
        r = requests.get(server.base_url + "/models", timeout=10)
    assert r.status_code == 200 and [m["id"] for m in r.json()["data"]] == ["reference"]


def test_chat_answers_with_the_reference_solution_in_markdown():
    with running_server(PROBLEMS[:5]) as server:
        r = chat(server.base_url, FIRST.problem, n=3)
    body = r.json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    content = body["choices"][0]["message"]["content"]
    assert f"```python\n{reference_code(FIRST).rstrip()}\n```" in content
    usage = body["usage"]
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_completions_continue_a_code_prompt_with_the_body():
    with running_server(PROBLEMS[:5]) as server:
        r = requests.post(server.base_url + "/completions", json={"model": "m", "prompt": FIRST.problem}, timeout=10)
    assert r.json()["choices"][0]["text"] == FIRST.solutions[0]


def test_every_template_renders_to_a_prompt_the_server_matches_for_all_of_humaneval():
    index = ProblemIndex(PROBLEMS)
    for prompt_id in ("basic", "humaneval", "humaneval_base", "qwen_instruct", "function"):
        for p in PROBLEMS:
            text = "\n".join(m["content"] for m in prompts.build_messages(p, prompt_id))
            assert index.match(text) is p, (prompt_id, p.problem_id)


def test_a_conversation_with_feedback_still_matches_its_problem():
    index = ProblemIndex(PROBLEMS)
    messages = prompts.build_messages(PROBLEMS[7], "humaneval")
    text = "\n".join(m["content"] for m in messages) + "\nYour code failed: AssertionError on input [1, 2]"
    assert index.match(text) is PROBLEMS[7]


def test_unknown_prompt_gets_an_answer_without_code():
    with running_server(PROBLEMS[:3]) as server:
        r = chat(server.base_url, "Write a poem about the sea.")
        assert server.stats["unknown_prompt"] == 1
    assert "```" not in r.json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize("path,payload,status,message", [
    ("/chat/completions", b"{not json", 400, "not valid JSON"),
    ("/chat/completions", b'{"model": "m", "messages": []}', 400, "'messages' must be a non-empty list"),
    ("/completions", b'{"model": "m"}', 400, "'prompt' must be a non-empty string"),
    ("/embeddings", b"{}", 404, "no route"),
])
def test_errors_are_openai_shaped_json(path, payload, status, message):
    with running_server(PROBLEMS[:1]) as server:
        r = requests.post(server.base_url + path, data=payload, timeout=10,
                          headers={"Content-Type": "application/json"})
    assert r.status_code == status and message in r.json()["error"]["message"]


def test_max_tokens_cuts_the_answer_with_finish_reason_length():
    with running_server(PROBLEMS[:1]) as server:
        choice = chat(server.base_url, FIRST.problem, max_tokens=4).json()["choices"][0]
    assert choice["finish_reason"] == "length" and choice["message"]["content"] == "Here is a solution"
    assert truncate("a b", 5) == ("a b", "stop")


def test_stream_sends_server_sent_events_ending_in_done():
    with running_server(PROBLEMS[:1]) as server:
        r = chat(server.base_url, FIRST.problem, stream=True)
    assert r.headers["Content-Type"] == "text/event-stream"
    events = [line[len("data: "):] for line in r.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert "def has_close_elements" in json.loads(events[0])["choices"][0]["delta"]["content"]


def test_injected_429_carries_retry_after():
    with running_server(PROBLEMS[:1], schedule=["429"], retry_after=7) as server:
        r = chat(server.base_url, FIRST.problem)
        assert r.status_code == 429 and r.headers["Retry-After"] == "7"
        assert chat(server.base_url, FIRST.problem).status_code == 200  # the schedule is used up


def test_injected_drop_and_malformed_reply():
    with running_server(PROBLEMS[:1], schedule=["drop", "malformed"]) as server:
        with pytest.raises(requests.ConnectionError):
            chat(server.base_url, FIRST.problem)
        r = chat(server.base_url, FIRST.problem)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_ignore_n_returns_one_choice():
    with running_server(PROBLEMS[:1], ignore_n=True) as server:
        assert len(chat(server.base_url, FIRST.problem, n=4).json()["choices"]) == 1


def test_scripted_mode_is_wrong_until_feedback():
    with running_server(PROBLEMS[:2], wrong_turns=1, never_right=frozenset({PROBLEMS[1].problem_id})) as server:
        first = chat(server.base_url, FIRST.problem).json()["choices"][0]["message"]["content"]
        messages = [{"role": "user", "content": FIRST.problem}, {"role": "assistant", "content": first},
                    {"role": "user", "content": "It failed. Try again."}]
        r = requests.post(server.base_url + "/chat/completions", json={"model": "m", "messages": messages}, timeout=10)
        second = r.json()["choices"][0]["message"]["content"]
        messages[0]["content"] = PROBLEMS[1].problem
        r = requests.post(server.base_url + "/chat/completions", json={"model": "m", "messages": messages}, timeout=10)
        never = r.json()["choices"][0]["message"]["content"]
    assert "deliberately wrong" in first and reference_code(FIRST).rstrip() in second
    assert "deliberately wrong" in never


def test_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        with running_server(PROBLEMS[:1], schedule=["teapot"]):
            pass


def test_command_line_server_prints_its_url_and_stops_on_sigterm(tmp_path):
    problem_file = write_problem_file(tmp_path / "problems.jsonl", PROBLEMS[:2])
    proc = subprocess.Popen([sys.executable, "reference_server.py", "--problem-file", str(problem_file)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert chat(url, PROBLEMS[1].problem).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
