"""HumanEval+ / MBPP+ loaders on subsets of the real release files (inputs trimmed to keep it fast).

    .venv/bin/python -m pytest -q tests/test_loaders_evalplus.py
"""
from __future__ import annotations

import gzip
import json
import os

import pytest

from loaders import evalplus, humanevalplus, mbppplus
from models import InputError
from test_download import SHARED, Mirror

HE = SHARED / "HumanEvalPlus-v0.1.10.jsonl.gz"
MB2, MB1 = SHARED / "MbppPlus-v0.2.0.jsonl.gz", SHARED / "MbppPlus-v0.1.0.jsonl.gz"
pytestmark = pytest.mark.skipif(not HE.exists(), reason="../shared/data is absent")
PLUS = 12       # plus inputs kept per task


def subset(src, ids, path, keep=PLUS):
    """A release file holding only `ids`, each with its first `keep` plus inputs."""
    rows = [json.loads(line) for line in gzip.open(src, "rt")]
    picked = [dict(r, plus_input=r["plus_input"][:keep] if isinstance(r["plus_input"], list) else r["plus_input"])
              for r in rows if r["task_id"] in ids]
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in picked)
    return str(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("evalplus")
    he = subset(HE, {"HumanEval/0", "HumanEval/2", "HumanEval/32", "HumanEval/63"}, d / "he.jsonl.gz")
    mb = subset(MB2, {"Mbpp/2", "Mbpp/88", "Mbpp/124", "Mbpp/558", "Mbpp/581", "Mbpp/737", "Mbpp/793"},
                d / "mb.jsonl.gz")
    mb1 = subset(MB1, {"Mbpp/115", "Mbpp/164", "Mbpp/295"}, d / "mb1.jsonl.gz")
    return {"dir": d, "he": humanevalplus.load(he, str(d)), "mb": mbppplus.load(mb, str(d)),
            "mb1": mbppplus.load(mb1, str(d)), "he_src": he}


def by_id(problems):
    return {p.problem_id: p for p in problems}


def test_humanevalplus_has_base_and_plus_groups_with_canonical_outputs(data):
    p = by_id(data["he"])["HumanEval/0"]
    base = [t for t in p.test_cases if t.group == "base"]
    plus = [t for t in p.test_cases if t.group == "plus"]
    assert len(base) == 7 and len(plus) == PLUS
    assert base[0].input == "[[1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3]" and base[0].output == "True"
    assert all(t.public for t in base) and not any(t.public for t in plus)
    assert p.metadata["prompt"] == p.problem and p.metadata["func_name"] == "has_close_elements"
    assert by_id(data["he"])["HumanEval/2"].metadata["atol"] == 1e-06


def test_find_zero_is_checked_by_an_oracle_not_by_equality(data):
    p = by_id(data["he"])["HumanEval/32"]
    assert all(t.code.startswith("_args = ") and "abs(poly(*_args, find_zero(*_args))) <= 0.0001" in t.code
               and not t.output for t in p.test_cases)


def test_mbppplus_special_oracles_are_data(data):
    mb, mb1 = by_id(data["mb"]), by_id(data["mb1"])
    assert mb["Mbpp/2"].test_cases[0].code == "assert set(similar_elements(*[(3, 4, 5, 6), (5, 7, 4, 10)])) == set((4, 5))"
    assert mb["Mbpp/88"].test_cases[0].output.startswith("{")            # a Counter becomes a plain dict
    assert mb["Mbpp/124"].test_cases[0].input == "[0.0, 1j]"                 # float, complex restored
    assert "or _out == " in mb["Mbpp/558"].test_cases[0].code
    assert "abs(_out - " in mb["Mbpp/581"].test_cases[0].code
    assert "out is not None" in mb["Mbpp/737"].metadata["setup_code"]
    assert mb["Mbpp/737"].test_cases[0].output in ("True", "False")
    assert [t.group for t in mb["Mbpp/793"].test_cases] == ["base"] * 3        # plus_input {} = none
    assert mb1["Mbpp/164"].test_cases[0].code.startswith("are_equivalent(*")
    assert "or _out == 0" in mb1["Mbpp/295"].test_cases[0].code
    assert "{" in mb1["Mbpp/115"].test_cases[0].input                           # sets restored
    assert "assert" not in mb["Mbpp/2"].solutions[0].split('"""')[2]           # whole solution


@pytest.mark.parametrize("number,args,typed", [
    (2, [[3, 4], [5]], [(3, 4), (5,)]),
    (63, [[[1, 2], [3, 4]]], [[(1, 2), (3, 4)]]),
    (75, [[[1, 2]], 6], [[(1, 2)], 6]),
    (106, [[1], [2, 3]], [[1], (2, 3)]),
    (115, [[[1, 2], [], [3]]], [[{1, 2}, {}, {3}]]),
    (124, [1, "1+2j"], [1.0, 1 + 2j]),
    (252, ["3+4j"], [3 + 4j]),
    (722, [{"a": [1, 2]}, 5], [{"a": (1, 2)}, 5]),
    (580, [[1, [2, 3]]], [(1, (2, 3))]),
    (999, [[1, 2]], [[1, 2]]),
])
def test_mbppplus_inputs_get_their_python_types_back(number, args, typed):
    assert evalplus.mbpp_typed(number, args) == typed


def test_expected_outputs_are_cached_by_file_checksum(data):
    cache = evalplus.truth_cache(evalplus.Path(data["he_src"]), str(data["dir"]))
    assert cache.exists()
    rows = [json.loads(line) for line in cache.read_text().splitlines()]
    rows[0]["outputs"][0] = "'from the cache'"
    cache.write_text("".join(json.dumps(r) + "\n" for r in rows))
    again = humanevalplus.load(data["he_src"], str(data["dir"]))
    assert again[0].test_cases[0].output == "'from the cache'"


def test_reference_solutions_pass_base_and_plus_under_the_executor(data):
    grader_mod = pytest.importorskip("executors.grader")
    from executors import build_program
    problems = data["he"] + data["mb"] + data["mb1"]
    with grader_mod.TestExecutionGrader() as g:
        results = dict(g.grade_many((p.problem_id, p, build_program(p, p.solutions[0])) for p in problems))
    assert {k: r.verdict for k, r in results.items()} == {p.problem_id: "passed" for p in problems}
    assert results["HumanEval/0"].groups == {"base": True, "plus": True}
    zero = by_id(data["he"])["HumanEval/32"]
    with grader_mod.TestExecutionGrader() as g:
        assert g.grade(zero, build_program(zero, "    return 0.5\n")).verdict == "wrong_answer"
        assert g.grade(zero, build_program(zero, "    return 1e9\n")).verdict == "wrong_answer"


def test_official_release_url_layout_and_version_flag(tmp_path):
    assert evalplus.release_url("mbpp", "v0.1.0") == \
        "https://github.com/evalplus/mbppplus_release/releases/download/v0.1.0/MbppPlus.jsonl.gz"
    assert evalplus.release_url("humaneval", mini=True).endswith("/v0.1.10/HumanEvalPlus-Mini.jsonl.gz")
    path = "/evalplus/mbppplus_release/releases/download/v0.2.0/MbppPlus.jsonl.gz"
    m = Mirror({path: b"not the release\n"})
    try:
        with pytest.raises(Exception, match="sha256"):
            mbppplus.load(data_dir=str(tmp_path), base_url=m.url)
    finally:
        m.close()
    with pytest.raises(InputError, match="unknown evalplus dataset"):
        evalplus.load(dataset="apps")
    with pytest.raises(InputError, match="--mini exists for HumanEval"):
        evalplus.load(dataset="mbpp", mini=True)


def test_malformed_inputs_name_file_row_and_field(tmp_path):
    row = json.loads(gzip.open(MB2, "rt").readline())
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps({**row, "base_input": [1, 2]}) + "\n")
    with pytest.raises(InputError, match=r"bad\.jsonl:1: field 'base_input\[0\]': expected a list of arguments"):
        mbppplus.load(str(src), str(tmp_path))
    src.write_text(json.dumps({k: v for k, v in row.items() if k != "entry_point"}) + "\n")
    with pytest.raises(InputError, match=r"bad\.jsonl:1: missing field 'entry_point'"):
        mbppplus.load(str(src), str(tmp_path))
    assert not os.listdir(tmp_path / "cache") if (tmp_path / "cache").exists() else True


@pytest.mark.parametrize("seconds,limit", [(0.0, None), (1.0, None), (1.6, 6.4), (30.0, 120.0)])
def test_slow_canonical_solutions_get_evalplus_time_limits(seconds, limit):
    assert evalplus.time_limit(seconds) == limit
