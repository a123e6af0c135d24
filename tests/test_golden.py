"""The golden fixture (data/example_*.jsonl): eight answers to one problem with a known score.

Run: .venv/bin/python -m pytest -q tests/test_golden.py   (also `make check`)
"""
import json

import evaluation

EXPECTED = {
    "passes": "passed", "passes, full function": "passed", "wrong answer": "wrong_answer",
    "timeout": "timeout", "reads stdin": "runtime_error", "destructive": "wrong_answer",
    "exits early to fake a pass": "runtime_error", "always-equal object": "wrong_answer",
}


def test_golden_fixture_scores_a_quarter_with_each_verdict(tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    code = evaluation.main(["data/example_samples.jsonl", "--problem-file", "data/example_problem.jsonl",
                            "--timeout", "2", "--output", str(out)])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["pass@1"] == 0.25
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["note"]: r["verdict"] for r in rows} == EXPECTED


def test_a_checkout_under_tmp_evaluates_too(tmp_path):
    """The jail must not hide the project or its venv when they live under /tmp (CI clones may)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    repo = Path(__file__).resolve().parents[1]
    copy = tmp_path / "checkout"
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".venv*", ".git", "runs", "__pycache__", "models"))
    out = subprocess.run([sys.executable, "evaluation.py", "data/example_samples.jsonl", "--problem-file",
                          "data/example_problem.jsonl", "--timeout", "2", "--output", str(tmp_path / "r.jsonl")],
                         cwd=copy, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["pass@1"] == 0.25
