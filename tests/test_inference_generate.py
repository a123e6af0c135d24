"""inference.generate and the `generate` command: every (task_id, index) exactly once, through faults,
servers that ignore `n`, failed samples, a run killed with SIGKILL and restarted.

    .venv/bin/python -m pytest -q tests/test_inference_generate.py

Real loopback servers (tests/servers.py), real files, a real child process for the kill test.
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

import inference
from inference import Client, GenConfig, ServerUnusable, extract_code, generate, to_completion
from models import read_jsonl
from tests.servers import ROOT, closed_port_url, humaneval_problems, running_server, write_problem_file

PROBLEMS = humaneval_problems(6)
BY_ID = {p.problem_id: p for p in PROBLEMS}


def pairs(path) -> Counter:
    return Counter((row["task_id"], row["index"]) for _, row in read_jsonl(str(path)))


def expected_pairs(problems, n) -> Counter:
    return Counter((p.problem_id, i) for p in problems for i in range(n))


def run_generate(url, out, n=1, problems=PROBLEMS, concurrency=4, **cfg):
    client = Client([url], concurrency=concurrency, backoff_base=0.01, max_attempts=cfg.pop("max_attempts", 6),
                    read_timeout=cfg.pop("read_timeout", 30))
    cfg.setdefault("prompt_id", "humaneval")
    return generate(problems, str(out), client, GenConfig(model="reference", **cfg), n, concurrency)


def test_every_sample_once_through_every_kind_of_fault(tmp_path):
    out = tmp_path / "samples.jsonl"
    faults = ["429", "500", "drop", "malformed", "slow", "429", "drop", "500"]
    with running_server(PROBLEMS, schedule=faults, retry_after=0.05, slow_seconds=1.0) as server:
        summary = run_generate(server.base_url, out, n=2, read_timeout=0.4)
    assert pairs(out) == expected_pairs(PROBLEMS, 2)
    assert summary["samples_failed"] == 0 and summary["retries"] == len(faults)
    assert set(summary["failures"]) == {"http_429", "http_500", "connection", "malformed_json", "read_timeout"}
    for _, row in read_jsonl(str(out)):
        assert row["error"] == "" and row["finish_reason"] == "stop"
        # the raw answer is kept; re-extracting it gives the completion back
        assert row["completion"] == to_completion(extract_code(row["raw"]), BY_ID[row["task_id"]])
        assert row["generation_metadata"]["prompt_id"] == "humaneval"


def test_n_is_sent_as_the_n_parameter(tmp_path):
    out = tmp_path / "samples.jsonl"
    with running_server(PROBLEMS) as server:
        run_generate(server.base_url, out, n=3)
    assert pairs(out) == expected_pairs(PROBLEMS, 3)
    assert server.stats["completion_requests"] == len(PROBLEMS)  # one request per problem
    rows = [row for _, row in read_jsonl(str(out))]
    # usage is the request's, reported on its first sample only, so the file's sum is right
    assert sum(bool(r["usage"]) for r in rows) == len(PROBLEMS)


def test_server_ignoring_n_gets_separate_requests_with_distinct_seeds(tmp_path):
    out = tmp_path / "samples.jsonl"
    with running_server(PROBLEMS, ignore_n=True) as server:
        summary = run_generate(server.base_url, out, n=4, seed=100)
    assert pairs(out) == expected_pairs(PROBLEMS, 4)
    assert server.stats["completion_requests"] == 4 * len(PROBLEMS)
    seeds = {(r["task_id"], r["index"]): r["generation_metadata"]["seed"] for _, r in read_jsonl(str(out))}
    for p in PROBLEMS:
        assert [seeds[(p.problem_id, i)] for i in range(4)] == [100, 101, 102, 103]
    assert summary["samples_failed"] == 0


def test_resume_appends_only_the_missing_pairs_and_cuts_a_torn_line(tmp_path):
    out = tmp_path / "samples.jsonl"
    with running_server(PROBLEMS) as server:
        run_generate(server.base_url, out, n=2, problems=PROBLEMS[:3])
        with open(out, "a") as f:
            f.write('{"task_id": "HumanEval/4", "completion": "tor')  # a killed run's half line
        before = server.stats["completion_requests"]
        summary = run_generate(server.base_url, out, n=2)
        assert server.stats["completion_requests"] - before == 3  # only problems 3..5
    assert pairs(out) == expected_pairs(PROBLEMS, 2)
    assert summary["samples_written"] == 6 and summary["samples_in_file"] == 12


def test_failed_samples_are_recorded_then_retried_by_the_next_run(tmp_path):
    out = tmp_path / "samples.jsonl"
    with running_server(PROBLEMS, schedule=["500"] * 4) as server:
        summary = run_generate(server.base_url, out, concurrency=1, max_attempts=2)
    assert summary["samples_failed"] == 2
    failed = [row for _, row in read_jsonl(str(out)) if row["error"]]
    assert len(failed) == 2 and all("http_500" in r["error"] and r["completion"] == "" for r in failed)
    with running_server(PROBLEMS) as server:
        summary = run_generate(server.base_url, out)
        assert server.stats["completion_requests"] == 2
    assert pairs(out) == expected_pairs(PROBLEMS, 1)
    assert all(not row["error"] for _, row in read_jsonl(str(out)))


def test_truncated_answers_are_counted(tmp_path):
    out = tmp_path / "samples.jsonl"
    with running_server(PROBLEMS) as server:
        summary = run_generate(server.base_url, out, max_tokens=5)
    assert summary["truncated"] == len(PROBLEMS)
    assert {row["finish_reason"] for _, row in read_jsonl(str(out))} == {"length"}


def test_completions_endpoint_with_a_base_model_prompt(tmp_path):
    out = tmp_path / "samples.jsonl"
    with running_server(PROBLEMS) as server:
        run_generate(server.base_url, out, endpoint="completions", prompt_id="humaneval_base")
    for _, row in read_jsonl(str(out)):
        assert row["completion"] == BY_ID[row["task_id"]].solutions[0]  # the body continues the prompt


def test_completions_endpoint_with_an_assistant_prefill(tmp_path):
    out = tmp_path / "samples.jsonl"
    with running_server(PROBLEMS) as server:
        run_generate(server.base_url, out, endpoint="completions", prompt_id="qwen_instruct")
    for _, row in read_jsonl(str(out)):
        assert row["raw"].startswith("```python\n")  # the prefix is put back in front of the reply
        assert "def " + BY_ID[row["task_id"]].metadata["func_name"] in row["completion"]


def test_an_unusable_server_stops_the_run_and_keeps_what_was_written(tmp_path):
    out = tmp_path / "samples.jsonl"
    with running_server(PROBLEMS) as server:
        run_generate(server.base_url, out, problems=PROBLEMS[:2])
        with pytest.raises(ServerUnusable):
            run_generate(server.base_url.replace("/v1", "/v2"), out)
    assert pairs(out) == expected_pairs(PROBLEMS[:2], 1)


# ---------------------------------------------------------------- the command line


def test_generate_command_prints_the_summary_as_the_last_stdout_line(tmp_path, capsys):
    problem_file = write_problem_file(tmp_path / "problems.jsonl", PROBLEMS[:3])
    out, profile = tmp_path / "samples.jsonl", tmp_path / "profile.json"
    with running_server(PROBLEMS) as server:
        code = inference.main(["generate", "--problem-file", str(problem_file), "--base-url", server.base_url,
                               "-n", "2", "--max-concurrent", "3", "--output", str(out),
                               "--profile-output", str(profile), "--extra-body", '{"top_k": 20}'])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["samples_in_file"] == 6 and summary["requests"] == 3
    assert {"tokens_per_second", "latency_p50", "latency_p95", "failures", "prompt_tokens"} <= summary.keys()
    report = json.loads(profile.read_text())
    assert set(report["problems"]) == {p.problem_id for p in PROBLEMS[:3]}
    assert set(report["shares"]) == {"llm", "extract", "io"} and report["shares"]["llm"] > 0
    row = next(read_jsonl(str(out)))[1]
    assert row["generation_metadata"]["model"] == "reference"  # the server's first listed model


def test_generate_without_a_base_url_uses_the_reference_server(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    problem_file = write_problem_file(tmp_path / "problems.jsonl", PROBLEMS[:2])
    out = tmp_path / "samples.jsonl"
    assert inference.main(["generate", "--problem-file", str(problem_file), "--output", str(out)]) == 0
    assert "bundled reference server" in capsys.readouterr().err
    assert pairs(out) == expected_pairs(PROBLEMS[:2], 1)


def test_generate_without_a_reachable_server_fails_in_one_line(tmp_path):
    problem_file = write_problem_file(tmp_path / "problems.jsonl", PROBLEMS[:1])
    url = closed_port_url()
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "inference.py", "generate", "--problem-file", str(problem_file),
                           "--base-url", url, "--output", str(tmp_path / "s.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 10
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and url in lines[0] and "vllm serve" in lines[0]


def test_killed_run_restarted_completes_with_no_duplicates(tmp_path):
    problems = humaneval_problems(20)
    problem_file = write_problem_file(tmp_path / "problems.jsonl", problems)
    out = tmp_path / "samples.jsonl"
    cmd = [sys.executable, "inference.py", "generate", "--problem-file", str(problem_file), "-n", "2",
           "--per-request", "1", "--max-concurrent", "2", "--read-timeout", "20", "--output", str(out)]
    with running_server(problems, latency=0.05) as server:
        proc = subprocess.Popen(cmd + ["--base-url", server.base_url], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 8):
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        written = out.read_text().count("\n")
        assert 8 <= written < 40, "the kill must land mid-run"
        subprocess.run(cmd + ["--base-url", server.base_url], cwd=ROOT, check=True, capture_output=True, timeout=120)
    assert pairs(out) == expected_pairs(problems, 2)


def test_swebench_records_are_predictions(tmp_path):
    swebench = pytest.importorskip("loaders.swebench")
    from models import CodeProblem
    patch = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n"
    problem = CodeProblem(problem_id="astropy__astropy-12907", problem="Fix the value of a in x.py please.",
                          solutions=[patch], metadata={"instance_id": "astropy__astropy-12907"})
    out = tmp_path / "preds.jsonl"
    with running_server([problem]) as server:
        run_generate(server.base_url, out, problems=[problem], prompt_id="swebench_patch", dataset="swebench")
    row = next(read_jsonl(str(out)))[1]
    assert row["instance_id"] == "astropy__astropy-12907" and row["model_name_or_path"] == "reference"
    assert row["model_patch"] == swebench.normalize_patch(patch) and row["raw"]


def test_configs_map_to_each_loaders_keyword(tmp_path):
    with pytest.raises(ValueError, match="dataset humaneval has no configs"):
        inference.load_problems("humaneval", configs=["plus"])
    mbpp = ROOT.parent / "shared" / "data" / "mbpp.jsonl"
    if not mbpp.exists():
        pytest.skip("../shared/data/mbpp.jsonl is not here")
    head = tmp_path / "mbpp_head.jsonl"
    head.write_text("".join(mbpp.read_text().splitlines(keepends=True)[:3]))
    # MBPP's keyword is `subset`; each config is loaded in turn and a repeated problem kept once
    problems = inference.load_problems("mbpp", source=str(head), configs=["full", "full"])
    assert [p.problem_id for p in problems] == ["Mbpp/1", "Mbpp/2", "Mbpp/3"]


def test_swebench_lite_gold_patches_come_back_byte_for_byte(tmp_path):
    swebench = pytest.importorskip("loaders.swebench")
    lite = ROOT.parent / "shared" / "data" / "swebench" / "swe-bench-lite.json"
    if not lite.exists():
        pytest.skip("../shared/data/swebench/swe-bench-lite.json is not here")
    problems = swebench.load(source=str(lite), dataset="lite")
    out = tmp_path / "preds.jsonl"
    with running_server(problems) as server:
        run_generate(server.base_url, out, problems=problems, concurrency=8, prompt_id="swebench_patch",
                     dataset="swebench")
    gold = {p.problem_id: p.solutions[0] for p in problems}
    rows = [row for _, row in read_jsonl(str(out))]
    assert len(rows) == 300 and all(row["model_patch"] == gold[row["instance_id"]] for row in rows)


def test_without_a_prompt_id_each_problem_gets_the_template_for_its_shape(tmp_path):
    from models import CodeProblem, TestCase
    stdin = CodeProblem("abc001_a", "Print the sum of A and B.\n\nInput\n\nA B\n",
                        solutions=["print(sum(map(int, input().split())))\n"],
                        test_cases=[TestCase("stdin", input="1 2\n", output="3\n")])
    out = tmp_path / "samples.jsonl"
    with running_server([PROBLEMS[0], stdin]) as server:
        run_generate(server.base_url, out, problems=[PROBLEMS[0], stdin], prompt_id="")
    used = {row["task_id"]: row["generation_metadata"]["prompt_id"] for _, row in read_jsonl(str(out))}
    assert used == {PROBLEMS[0].problem_id: "humaneval", "abc001_a": "stdin_program"}
