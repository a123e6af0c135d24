"""MBPP and HumanEval loaders on the real files (../shared/data), served in the official URL layout.

    .venv/bin/python -m pytest -q tests/test_loaders_mbpp.py
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from loaders import humaneval, mbpp
from models import CodeProblem, InputError, TestCase, read_problems, write_jsonl
from test_download import SHARED, Mirror

pytestmark = pytest.mark.skipif(not (SHARED / "mbpp.jsonl").exists(), reason="../shared/data is absent")
MBPP_PATH = "/google-research/google-research/master/mbpp/mbpp.jsonl"
HE_PATH = "/openai/human-eval/raw/master/data/HumanEval.jsonl.gz"


@pytest.fixture(scope="module")
def github():
    m = Mirror({MBPP_PATH: SHARED / "mbpp.jsonl", HE_PATH: SHARED / "HumanEval.jsonl.gz"})
    yield m
    m.close()


@pytest.fixture(scope="module")
def problems():
    return mbpp.load(str(SHARED / "mbpp.jsonl"))


# ---------------------------------------------------------------- MBPP


def test_mbpp_downloads_from_the_official_layout_then_works_offline(github, tmp_path):
    got = mbpp.load(data_dir=str(tmp_path), base_url=github.url)
    assert len(got) == 974 and [p.problem_id for p in got[:2]] == ["Mbpp/1", "Mbpp/2"]
    assert (tmp_path / "raw" / github.url.split("//")[1].replace(":", "_") / MBPP_PATH.lstrip("/")).exists()
    n = len(github.requests)
    assert len(mbpp.load(data_dir=str(tmp_path), base_url=github.url, offline=True)) == 974
    assert len(github.requests) == n


def test_mbpp_offline_without_cache_says_which_file_is_missing(tmp_path):
    from loaders.download import DownloadError
    with pytest.raises(DownloadError, match=r"raw/raw\.githubusercontent\.com/.*mbpp\.jsonl.*--offline"):
        mbpp.load(data_dir=str(tmp_path), offline=True)


def test_mbpp_tests_setup_and_function_name(problems):
    by_id = {p.problem_id: p for p in problems}
    p2 = by_id["Mbpp/2"]
    assert p2.func_name == "similar_elements"
    assert [t.code for t in p2.test_cases][0] == "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)"
    assert all(t.type == "functional" and not t.input for t in p2.test_cases)
    assert "\r" not in p2.solutions[0]
    tree = by_id["Mbpp/367"]
    assert tree.metadata["setup_code"].startswith("root = Node(1)")
    assert sum(len(p.test_cases) for p in problems) == 2938     # 974 * 3 test_list + 16 challenge tests
    assert sum(t.group == "challenge" for p in problems for t in p.test_cases) == 16


def test_mbpp_statement_shows_the_public_tests_and_the_function_name():
    small = mbpp.load(str(SHARED / "mbpp.jsonl"), n_public=1, num_problems=100)
    assert len(small) == 100
    p = small[1]
    assert [t.public for t in p.test_cases] == [True, False, False]
    assert "`similar_elements`" in p.problem
    assert p.test_cases[0].code in p.problem and p.test_cases[1].code not in p.problem
    none_shown = mbpp.load(str(SHARED / "mbpp.jsonl"), n_public=0, num_problems=1)[0]
    assert "assert" not in none_shown.problem and "`min_cost`" in none_shown.problem


@pytest.mark.parametrize("split,size,first,last", [("prompt", 10, 1, 10), ("test", 500, 11, 510),
                                                   ("validation", 90, 511, 600), ("train", 374, 601, 974)])
def test_mbpp_published_split_ranges(split, size, first, last):
    got = mbpp.load(str(SHARED / "mbpp.jsonl"), split=split)
    assert len(got) == size
    assert (got[0].metadata["task_id"], got[-1].metadata["task_id"]) == (first, last)


def test_mbpp_calls_that_carry_objects_run_on_the_candidate_side(problems):
    by_id = {p.problem_id: p for p in problems}
    pair = by_id["Mbpp/601"]
    assert pair.test_cases[0].code == "assert _mbpp_test0_call0() == 3"
    assert "return max_chain_length([Pair(5, 24)" in pair.metadata["setup_code"]
    assert "Pair(5, 24)" in pair.problem          # the statement still shows the original assert
    assert by_id["Mbpp/596"].metadata["test_prelude"] == "import sys\n"
    assert "remove_datatype((4, 5, 4, 7.7, 1.2), int)" in by_id["Mbpp/533"].metadata["setup_code"]


@pytest.mark.parametrize("asserts,code,name", [
    (["assert f(1) == 2"], "def f(x): pass", "f"),
    (["assert set(similar(1)) == set((4, 5))"], "def similar(a): pass", "similar"),
    (["assert math.isclose(area(2), 4.0)"], "import math\ndef area(r): pass", "area"),
    (["assert sorted(g([3, 1])) == [1, 3]"], "", "g"),
    (["assert is_tree_balanced(root) == False"], "class Node: pass\ndef is_tree_balanced(r): pass", "is_tree_balanced"),
])
def test_mbpp_function_name_comes_from_the_asserts(asserts, code, name):
    assert mbpp.func_name(asserts, code) == name


def test_mbpp_sanitized_format(tmp_path):
    rows = [{"source_file": "x", "task_id": 11, "prompt": "Write a function to add two numbers.",
             "code": "import math\ndef add(a, b):\n    return a + b", "test_imports": ["import math"],
             "test_list": ["assert add(1, 2) == 3", "assert math.isclose(add(0.1, 0.2), 0.3)"]},
            {"source_file": "x", "task_id": 700, "prompt": "Train task.", "code": "def one():\n    return 1",
             "test_imports": [], "test_list": ["assert one() == 1"]}]
    src = tmp_path / "sanitized-mbpp.json"
    src.write_text(json.dumps(rows))
    got = mbpp.load(str(src), subset="sanitized", split="test")
    assert [p.problem_id for p in got] == ["Mbpp/11"]
    assert got[0].metadata["test_prelude"] == "import math\n" and got[0].metadata["set"] == "sanitized"


def test_mbpp_malformed_rows_name_file_line_and_field(tmp_path):
    good = json.loads((SHARED / "mbpp.jsonl").read_text().splitlines()[0])
    cases = [({**good, "test_list": "assert x"}, "field 'test_list': expected list"),
             ({k: v for k, v in good.items() if k != "code"}, "missing field 'code'"),
             ({**good, "test_list": ["assert min_cost(("]}, r"field 'test_list\[0\]': not valid Python"),
             ({**good, "task_id": "1"}, "field 'task_id': expected int")]
    for row, message in cases:
        src = tmp_path / "bad.jsonl"
        src.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
        with pytest.raises(InputError, match=rf"bad\.jsonl:2: {message}"):
            mbpp.load(str(src))
    with pytest.raises(InputError, match="unknown MBPP split"):
        mbpp.load(str(SHARED / "mbpp.jsonl"), split="dev")


def test_mbpp_seed_commands_write_their_outputs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    src = str(SHARED / "mbpp.jsonl")
    assert mbpp.main(["--source", src, "--output", "datasets/mbpp_all.jsonl"]) == 0
    assert mbpp.main(["--source", src, "--num-problems", "100", "--n-public", "1",
                      "--output", "datasets/mbpp_small.jsonl"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == {"output": "datasets/mbpp_small.jsonl", "problems": 100, "tests": 316}
    assert len(read_problems("datasets/mbpp_all.jsonl")) == 974


def test_a_failed_load_leaves_the_previous_output_untouched(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": 1}\n')
    assert mbpp.main(["--source", str(bad), "--output", str(out)]) == 1
    assert out.read_text() == "previous\n" and not list(tmp_path.glob("*.tmp"))
    assert "bad.jsonl:1: missing field" in capsys.readouterr().err


def test_problems_round_trip_through_jsonl(problems, tmp_path):
    path = tmp_path / "mbpp.jsonl"
    write_jsonl(str(path), problems)
    back = read_problems(str(path))
    assert list(back.values()) == problems


def test_mbpp_reference_solutions_pass_under_the_executor(problems):
    grader_mod = pytest.importorskip("executors.grader")
    from executors import Limits, build_program
    picked = [p for p in problems if p.metadata["task_id"] in (1, 2, 118, 367, 533, 596, 601, 927, 974)]
    with grader_mod.TestExecutionGrader(limits=Limits(timeout=20)) as g:
        results = dict(g.grade_many((p.problem_id, p, build_program(p, p.solutions[0])) for p in picked))
    assert {k: r.verdict for k, r in results.items()} == {p.problem_id: "passed" for p in picked}
    with grader_mod.TestExecutionGrader() as g:
        assert g.grade(picked[1], "def similar_elements(a, b):\n    return ()\n").verdict == "wrong_answer"


# ---------------------------------------------------------------- HumanEval


def test_humaneval_default_source_is_the_bundled_package_file():
    got = humaneval.load()
    assert len(got) == 164
    p = got[0]
    row = json.loads(gzip.open(SHARED / "HumanEval.jsonl.gz", "rt").readline())
    assert p == CodeProblem(
        problem_id="HumanEval/0", problem=row["prompt"], solutions=[row["canonical_solution"]],
        metadata={"func_name": "has_close_elements", "prompt": row["prompt"],
                  "test_prelude": row["prompt"] + row["canonical_solution"], "entry_point": "has_close_elements"},
        test_cases=[TestCase(type="functional", code=row["test"] + "\ncheck(has_close_elements)", public=True)])


def test_humaneval_from_the_upstream_url_layout(github, tmp_path):
    got = humaneval.load(github.url + HE_PATH, data_dir=str(tmp_path))
    assert len(got) == 164 and got == humaneval.load(str(SHARED / "HumanEval.jsonl.gz"))


def test_humaneval_reference_solutions_pass_under_the_executor():
    grader_mod = pytest.importorskip("executors.grader")
    from executors import build_program
    got = humaneval.load()[:12] + [p for p in humaneval.load() if p.problem_id == "HumanEval/32"]
    with grader_mod.TestExecutionGrader() as g:
        verdicts = {k: r.verdict for k, r in g.grade_many((p.problem_id, p, build_program(p, p.solutions[0]))
                                                           for p in got)}
    assert set(verdicts.values()) == {"passed"}, verdicts


def test_loader_modules_have_a_docstring_with_an_example_and_no_import_side_effects():
    import importlib
    import subprocess
    import sys
    names = ["humaneval", "mbpp", "evalplus", "humanevalplus", "mbppplus", "livecodebench", "deepcoder",
             "swebench", "preprocess", "download", "common", "evalplus_truth", "selfcheck"]
    for name in names:
        mod = importlib.import_module(f"loaders.{name}")
        assert mod.__doc__ and "python" in mod.__doc__, name
    root = Path(__file__).resolve().parents[1]
    code = "import " + ", ".join(f"loaders.{n}" for n in names)
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(root)})
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
