"""LiveCodeBench loader: release files, date window, private-test decoding without unpickling objects.

Fixture: tests/fixtures/lcb_code_generation_lite.jsonl (published schema; see make_fixtures.py).

    .venv/bin/python -m pytest -q tests/test_loaders_lcb.py
"""
from __future__ import annotations

import base64
import json
import os
import pickle
import zlib
from pathlib import Path

import pytest

from loaders import livecodebench as lcb
from loaders.common import Row
from models import InputError
from test_download import Mirror

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "lcb_code_generation_lite.jsonl"


@pytest.mark.parametrize("tag,files", [
    ("release_v1", ["test.jsonl"]),
    ("release_v3", ["test.jsonl", "test2.jsonl", "test3.jsonl"]),
    ("release_latest", lcb.FILES),
    ("v1", ["test.jsonl"]),
    ("v4", ["test4.jsonl"]),
    ("v2_v3", ["test2.jsonl", "test3.jsonl"]),
    ("v1_v6", lcb.FILES),
])
def test_release_tags_map_to_the_hub_files(tag, files):
    assert lcb.release_files(tag) == files


@pytest.mark.parametrize("tag", ["release_v7", "v0", "v3_v2", "latest", "v1_v2_v3"])
def test_unknown_release_tags_are_errors(tag):
    with pytest.raises(InputError, match="unknown LiveCodeBench release"):
        lcb.release_files(tag)


def test_fixture_converts_public_and_private_tests():
    problems = {p.problem_id: p for p in lcb.load(str(FIXTURE))}
    atcoder, leetcode = problems["abc365_b"], problems["3517"]
    assert [(t.type, t.public) for t in atcoder.test_cases] == [("stdin", True), ("stdin", False)]
    assert atcoder.test_cases[1].input == "8\n1 2 3 4 5 10 9 11\n" and "func_name" not in atcoder.metadata
    assert leetcode.func_name == "shortestDistanceAfterQueries"
    assert leetcode.test_cases[0].input == "[5, [[2, 4], [0, 2], [0, 4]]]"
    assert leetcode.test_cases[0].output == "[3, 2, 1]" and not leetcode.test_cases[1].public
    assert leetcode.metadata["loose_sequences"] is True and "class Solution" in leetcode.metadata["starter_code"]


def test_contest_date_window_is_inclusive():
    ids = lambda **kw: [p.problem_id for p in lcb.load(str(FIXTURE), **kw)]   # noqa: E731
    assert ids() == ["abc365_b", "3517", "abc000_a"]
    assert ids(start_date="2024-08-03") == ["abc365_b", "3517"]
    assert ids(end_date="2024-08-02") == ["abc000_a"]
    assert ids(start_date="2024-08-04") == []


def _row(text):
    return Row("f.jsonl", 7, {"private_test_cases": text})


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_private_tests_decode_from_every_pickle_protocol(protocol):
    tests = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    blob = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests), protocol=protocol))).decode()
    assert lcb.decode_private(_row(blob)) == tests


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/lcb_pwned",))


@pytest.mark.parametrize("payload", [Evil(), [Evil()], {"x": Evil()}, Row])
def test_a_pickle_that_would_run_code_is_refused_before_loading(payload, tmp_path):
    blob = base64.b64encode(zlib.compress(pickle.dumps(payload))).decode()
    with pytest.raises(InputError, match=r"f\.jsonl:7: field 'private_test_cases': unsafe or corrupt pickle"):
        lcb.decode_private(_row(blob))
    assert not os.path.exists("/tmp/lcb_pwned")


def test_the_restricted_unpickler_refuses_globals_even_without_the_opcode_scan():
    import io
    with pytest.raises(pickle.UnpicklingError, match="refusing to load posix.system|refusing to load os.system"):
        lcb._NoGlobals(io.BytesIO(pickle.dumps(Evil()))).load()


@pytest.mark.parametrize("text,message", [
    ("not base64 at all!", "neither JSON nor base64"),
    (base64.b64encode(b"not zlib").decode(), "neither JSON nor base64"),
    (base64.b64encode(zlib.compress(pickle.dumps(12))).decode(), "holds int"),
    (base64.b64encode(zlib.compress(pickle.dumps("not json"))).decode(), "decoded tests are not JSON"),
    (base64.b64encode(zlib.compress(pickle.dumps("x")[:-3])).decode(), "corrupt"),
])
def test_undecodable_private_tests_name_the_field(text, message):
    with pytest.raises(InputError, match=message):
        lcb.decode_private(_row(text))


def test_malformed_rows_name_file_line_and_field(tmp_path):
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    src = tmp_path / "test.jsonl"
    for bad, message in [({**rows[0], "public_test_cases": "[{"}, "field 'public_test_cases': invalid JSON"),
                         ({**rows[0], "public_test_cases": json.dumps([{"input": "1", "output": "2",
                                                                        "testtype": "interactive"}])},
                          r"field 'public_test_cases\[0\]': unknown testtype 'interactive'"),
                         ({**rows[1], "metadata": "{}", "starter_code": ""}, "field 'metadata': functional tests need"),
                         ({k: v for k, v in rows[0].items() if k != "question_id"}, "missing field 'question_id'")]:
        src.write_text(json.dumps(rows[2]) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(InputError, match=rf"test\.jsonl:2: {message}"):
            lcb.load(str(src))


def test_hub_layout_download_checks_the_published_row_count(tmp_path):
    m = Mirror({f"/datasets/{lcb.REPO}/resolve/main/test.jsonl": FIXTURE})
    try:
        with pytest.raises(InputError, match="expected 400 rows, found 3"):
            lcb.load(data_dir=str(tmp_path), release="release_v1", base_url=m.url)
        assert m.requests == [(f"/datasets/{lcb.REPO}/resolve/main/test.jsonl", "")]
    finally:
        m.close()


def test_hand_written_solutions_pass_the_fixture_under_the_executor():
    grader_mod = pytest.importorskip("executors.grader")
    problems = {p.problem_id: p for p in lcb.load(str(FIXTURE))}
    second = "n = int(input())\na = list(map(int, input().split()))\nprint(a.index(sorted(a)[-2]) + 1)\n"
    roads = ("from typing import List\nclass Solution:\n"
             "    def shortestDistanceAfterQueries(self, n: int, queries: List[List[int]]) -> List[int]:\n"
             "        adj = [[i + 1] for i in range(n)]\n        out = []\n"
             "        for u, v in queries:\n            adj[u].append(v)\n"
             "            dist = [0] + [n] * (n - 1)\n"
             "            for i in range(n - 1):\n                for j in adj[i]:\n"
             "                    dist[j] = min(dist[j], dist[i] + 1)\n            out.append(dist[-1])\n"
             "        return out\n")
    with grader_mod.TestExecutionGrader() as g:
        assert g.grade(problems["abc365_b"], second).passed
        assert g.grade(problems["3517"], roads).passed
        assert g.grade(problems["abc000_a"], "print(sum(map(int, input().split())) + 1)").verdict == "wrong_answer"
