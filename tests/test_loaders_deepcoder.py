"""DeepCoder loader: rllm's real JSON files (lcbv5, codeforces) and schema fixtures (primeintellect, taco).

    .venv/bin/python -m pytest -q tests/test_loaders_deepcoder.py
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from loaders import deepcoder
from models import InputError
from test_download import SHARED

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DC = SHARED / "deepcoder"
need_shared = pytest.mark.skipif(not DC.exists(), reason="../shared/data is absent")


@need_shared
@pytest.mark.parametrize("config,split,name,rows,tests", [
    ("lcbv5", "test", "rllm_lcb_test_279.json", 279, 736),
    ("lcbv5", "train", "rllm_lcb_train_580.json", 580, 1543),
    ("codeforces", "test", "rllm_codeforces_test_408.json", 408, 468),
])
def test_rllm_files_load_with_their_published_sizes(config, split, name, rows, tests):
    got = deepcoder.load(str(DC / name), config=config, split=split)
    assert len(got) == rows and sum(len(p.test_cases) for p in got) == tests
    assert got[0].problem_id == f"deepcoder/{config}/{split}/0"
    assert all(t.public == (config == "codeforces") for p in got for t in p.test_cases)


@need_shared
def test_lcbv5_functional_tests_use_the_starter_method_and_parsed_json_args():
    got = deepcoder.load(str(DC / "rllm_lcb_test_279.json"), config="lcbv5")
    stdin = sum(t.type == "stdin" for p in got for t in p.test_cases)
    functional = [p for p in got if p.test_cases[0].type == "functional"]
    assert stdin == 474 and sum(len(p.test_cases) for p in functional) == 262
    p = got[5]
    assert p.func_name == "shortestDistanceAfterQueries" and p.metadata["loose_sequences"] is True
    assert p.test_cases[0].input == "[5, [[2, 4], [0, 2], [0, 4]]]" and p.test_cases[0].output == "[3, 2, 1]"


def test_hf_rows_with_tests_as_a_json_string(tmp_path):
    row = {"problem": "Add.", "tests": json.dumps([{"input": "1\n2", "output": "3", "testtype": "functional"}]),
           "starter_code": "class Solution:\n    def add(self, a: int, b: int) -> int:\n        ",
           "metadata": {"func_name": "add"}}
    src = tmp_path / "lcbv5.jsonl"
    src.write_text(json.dumps(row) + "\n")
    (p,) = deepcoder.load(str(src), config="lcbv5")
    assert p.func_name == "add" and p.test_cases[0].input == "[1, 2]" and p.test_cases[0].output == "3"


def test_primeintellect_fixture():
    got = deepcoder.load(str(FIXTURES / "deepcoder_primeintellect.jsonl"), config="primeintellect")
    assert [t.type for t in got[0].test_cases] == ["stdin", "stdin"] and "func_name" not in got[0].metadata
    assert got[1].func_name == "majorityElement"
    assert [(t.input, t.output) for t in got[1].test_cases] == [("[[3, 2, 3]]", "3"), ("[[2, 2, 1, 1, 1, 2, 2]]", "2")]


def test_taco_fixture_unwraps_list_wrapped_returns():
    got = deepcoder.load(str(FIXTURES / "deepcoder_taco.jsonl"), config="taco")
    assert [(t.type, t.input, t.output) for t in got[0].test_cases] == [("stdin", "1 2 3\n", "6\n"),
                                                                        ("stdin", "10\n", "10\n")]
    assert got[1].func_name == "is_anagram"
    assert [(t.input, t.output) for t in got[1].test_cases][0] == ("['foefet', 'toffee']", "True")
    assert [(t.input, t.output) for t in got[2].test_cases] == [("[3]", "[1, 4, 9]"), ("[1]", "[1]")]


def test_fixture_solutions_pass_under_the_executor():
    grader_mod = pytest.importorskip("executors.grader")
    taco = deepcoder.load(str(FIXTURES / "deepcoder_taco.jsonl"), config="taco")
    prime = deepcoder.load(str(FIXTURES / "deepcoder_primeintellect.jsonl"), config="primeintellect")
    with grader_mod.TestExecutionGrader() as g:
        assert g.grade(taco[0], "print(sum(map(int, input().split())))").passed
        assert g.grade(taco[1], "def is_anagram(a, b):\n    return sorted(a.lower()) == sorted(b.lower())").passed
        assert g.grade(taco[2], "def squares(n):\n    return [i * i for i in range(1, n + 1)]").passed
        assert g.grade(prime[1], "class Solution:\n    def majorityElement(self, nums):\n"
                                 "        return max(set(nums), key=nums.count)").passed
        assert g.grade(prime[0], "print(sum(map(int, input().split())) * 2)").verdict == "wrong_answer"


def test_unknown_config_split_and_malformed_tests_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="unknown DeepCoder config 'apps'"):
        deepcoder.load("x.json", config="apps")
    with pytest.raises(InputError, match="config 'taco' has no split 'test'"):
        deepcoder.load("x.json", config="taco", split="test")
    src = tmp_path / "rows.json"
    for row, message in [({"problem": "p", "tests": "[{"}, r"row 1: field 'tests': invalid JSON string"),
                         ({"problem": "p", "tests": [{"input": "1"}]}, r"row 1: field 'tests\[0\]': expected an object"),
                         ({"tests": [{"input": "1", "output": "2"}]}, "row 1: missing field 'problem'"),
                         ({"problem": "p", "tests": [{"input": "1", "output": "2", "testtype": "x"}]},
                          r"row 1: field 'tests\[0\]': unknown testtype 'x'")]:
        src.write_text(json.dumps([row]))
        with pytest.raises(InputError, match=rf"rows\.json: {message}"):
            deepcoder.load(str(src), config="lcbv5" if "testtype" in json.dumps(row) else "codeforces")


def test_parquet_without_pyarrow_says_what_to_do(tmp_path):
    try:
        import pyarrow  # noqa: F401
        pytest.skip("pyarrow is installed")
    except ImportError:
        pass
    src = tmp_path / "test-00000-of-00001.parquet"
    src.write_bytes(b"PAR1")
    with pytest.raises(InputError, match="reading parquet needs pyarrow"):
        deepcoder.load(str(src), config="codeforces")


def test_parquet_rows_read_with_pyarrow(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    rows = [{"problem": "p", "tests": json.dumps([{"input": "1\n", "output": "1\n"}]), "starter_code": "",
             "metadata": "{}"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test-00000-of-00001.parquet")
    (p,) = deepcoder.load(str(tmp_path), config="codeforces")
    assert p.test_cases[0].input == "1\n"
