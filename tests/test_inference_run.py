"""`inference.py run` (what `make humaneval` runs): reference server -> samples -> evaluation -> run folder.

    .venv/bin/python -m pytest -q tests/test_inference_run.py

Real child processes: the bundled reference server and the evaluator's sandboxed runs.
"""
from __future__ import annotations

import json
import time

import inference
from models import read_jsonl
from tests.servers import closed_port_url, humaneval_problems, running_server, write_problem_file

PROBLEMS = humaneval_problems(5)


def test_run_without_a_base_url_self_checks_against_the_reference_server(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    problem_file = write_problem_file(tmp_path / "problems.jsonl", PROBLEMS)
    code = inference.main(["run", "--problem-file", str(problem_file), "--runs-dir", str(tmp_path / "runs"),
                           "-n", "2", "--k", "1,2"])
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["reference_server"] is True and summary["model"] == "reference"
    assert summary["pass@1"] == 1.0 and summary["pass@2"] == 1.0
    assert "expected pass@1 = 1.000" in captured.err and "self-check" in captured.err
    run_dir = tmp_path / "runs" / summary["run_dir"].rsplit("/", 1)[-1]
    assert run_dir.name.startswith("humaneval-reference-")
    results = [row for _, row in read_jsonl(str(run_dir / "samples.jsonl_results.jsonl"))]
    assert len(results) == 10 and all(row["passed"] for row in results)
    assert json.loads((run_dir / "summary.json").read_text())["pass@1"] == 1.0


def test_run_against_a_given_server_uses_its_model(tmp_path, capsys):
    problem_file = write_problem_file(tmp_path / "problems.jsonl", PROBLEMS[:2])
    with running_server(PROBLEMS) as server:
        code = inference.main(["run", "--problem-file", str(problem_file), "--base-url", server.base_url,
                               "--runs-dir", str(tmp_path / "runs")])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["reference_server"] is False and summary["pass@1"] == 1.0


def test_run_with_nothing_answering_fails_fast_naming_the_url(tmp_path, capsys):
    problem_file = write_problem_file(tmp_path / "problems.jsonl", PROBLEMS[:1])
    url = closed_port_url()
    started = time.monotonic()
    code = inference.main(["run", "--problem-file", str(problem_file), "--base-url", url,
                           "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and time.monotonic() - started < 5
    assert len(err) == 1 and url in err[0] and "vllm serve Qwen/Qwen2.5-Coder-0.5B-Instruct" in err[0]
    assert not (tmp_path / "runs").exists()


def test_k_larger_than_n_is_refused_before_any_work(tmp_path, capsys):
    problem_file = write_problem_file(tmp_path / "problems.jsonl", PROBLEMS[:1])
    code = inference.main(["run", "--problem-file", str(problem_file), "--k", "1,10", "-n", "2",
                           "--runs-dir", str(tmp_path / "runs")])
    assert code == 2 and "raise N" in capsys.readouterr().err
