"""SWE-bench loader and the answer -> patch helpers, checked with real `git apply` on a temp repo.

    .venv/bin/python -m pytest -q tests/test_loaders_swebench.py
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from loaders import swebench
from loaders.swebench import extract_diff, normalize_patch
from models import InputError
from test_download import SHARED

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LITE = SHARED / "swebench" / "swe-bench-lite.json"

DIFF = "--- a/f.py\n+++ b/f.py\n@@ -1,3 +1,3 @@\n a = 1\n-b = 2\n+b = 3\n c = 4\n"


@pytest.mark.skipif(not LITE.exists(), reason="../shared/data is absent")
def test_lite_loads_300_instances_without_tests():
    got = swebench.load(str(LITE), dataset="lite")
    assert len(got) == 300 and len({p.problem_id for p in got}) == 300
    p = got[0]
    assert p.problem_id == "django__django-15202" and p.test_cases == []
    assert p.metadata["FAIL_TO_PASS"][0].startswith("test_urlfield_clean_invalid")
    assert p.problem == p.metadata["problem_statement"] and p.solutions == [p.metadata["patch"]]


@pytest.mark.skipif(not LITE.exists(), reason="../shared/data is absent")
def test_gold_patches_are_left_exactly_as_they_are():
    rows = json.loads(LITE.read_text())
    assert all(normalize_patch(r["patch"]) == r["patch"] for r in rows)
    assert all(normalize_patch(r["test_patch"]) == r["test_patch"] for r in rows)
    assert all(extract_diff(r["patch"]) == r["patch"] for r in rows)


def test_oracle_fixture_keeps_the_prompt_text():
    got = swebench.load(str(FIXTURES / "swebench_oracle.jsonl"))
    assert len(got) == 2
    p = got[0]
    assert p.problem == p.metadata["text"] and p.problem.startswith("You will be provided with a partial code base")
    assert p.metadata["dataset"] == "oracle" and isinstance(p.metadata["PASS_TO_PASS"], list)


def test_unknown_dataset_and_missing_fields_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="unknown SWE-bench dataset 'full'"):
        swebench.load("x.json", dataset="full")
    row = json.loads((FIXTURES / "swebench_oracle.jsonl").read_text().splitlines()[0])
    src = tmp_path / "o.jsonl"
    src.write_text(json.dumps({k: v for k, v in row.items() if k != "text"}) + "\n")
    with pytest.raises(InputError, match=r"o\.jsonl:1: missing field 'text'"):
        swebench.load(str(src))
    src.write_text(json.dumps({**row, "FAIL_TO_PASS": "[1, 2]"}) + "\n")
    with pytest.raises(InputError, match=r"o\.jsonl:1: field 'FAIL_TO_PASS': expected a list of test names"):
        swebench.load(str(src))


@pytest.mark.parametrize("answer,expected", [
    (DIFF, DIFF),
    (f"<patch>\n{DIFF}</patch>", DIFF),
    (f"Here:\n<diff>{DIFF}</diff>\nbye", DIFF),
    (f"```diff\n{DIFF}```\n", DIFF),
    (f"Some prose.\n```patch\n{DIFF}```", DIFF),
    (f"```python\nprint(1)\n```\n```diff\n{DIFF}```", DIFF),
    (f"```\n{DIFF}```", DIFF),
    (f"Explanation first.\n\n{DIFF}", DIFF),
    (f"<patch>\n{DIFF}</patch>\n```diff\n--- a/other\n+++ b/other\n```", DIFF),
    (f"```diff\r\n{DIFF.replace(chr(10), chr(13) + chr(10))}```", DIFF),
    ("diff --git a/f.py b/f.py\n" + DIFF + "</s>junk", "diff --git a/f.py b/f.py\n" + DIFF),
    ("I could not find the bug.", ""),
    ("```python\nprint(1)\n```", ""),
])
def test_extract_diff_follows_swebench_preference_order(answer, expected):
    assert extract_diff(answer) == expected


@pytest.mark.parametrize("broken,fixed", [
    ("--- a/f\n+++ b/f\n@@ -1,9 +1,9 @@\n-a\n+b", "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"),
    ("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@ def g():\n x\n-a\n+b\n\n\n", "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@ def g():\n x\n-a\n+b\n"),
    ("--- a/f\n+++ b/f\n@@ -1 +1 @@\n x\n\n-a\n+b\n", "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n x\n \n-a\n+b\n"),
    ("", ""),
])
def test_normalize_patch_recounts_hunks_and_ends_with_a_newline(broken, fixed):
    assert normalize_patch(broken) == fixed
    assert normalize_patch(fixed) == fixed


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_apply_accepts_normalized_model_patches(tmp_path):
    def git(*args, check=True):
        return subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, text=True, check=check)
    git("init", "-q")
    src = "".join(f"line {i}\n" for i in range(1, 21)) + "\n" + "".join(f"tail {i}\n" for i in range(1, 6))
    (tmp_path / "f.py").write_text(src)
    git("add", "f.py")      # staged, not committed: `git diff` compares the work tree with it
    (tmp_path / "f.py").write_text(src.replace("line 3\n", "line three\n").replace("tail 2\n", "tail two\nnew\n"))
    real = git("diff", "--no-color").stdout
    assert real.count("@@ -") == 2
    (tmp_path / "f.py").write_text(src)
    # what models do: wrong counts, no trailing newline, blank context lines without their space
    model = "\n".join(_break_counts(line) for line in real.rstrip("\n").split("\n")).replace("\n \n", "\n\n")
    (tmp_path / "model.diff").write_text(model)
    assert git("apply", "--check", "model.diff", check=False).returncode != 0
    (tmp_path / "fixed.diff").write_text(normalize_patch(extract_diff(f"Sure!\n```diff\n{model}\n```")))
    assert git("apply", "--check", "fixed.diff", check=False).returncode == 0, git("apply", "--check", "fixed.diff",
                                                                                  check=False).stderr
    git("apply", "fixed.diff")
    assert "line three\n" in (tmp_path / "f.py").read_text() and "tail two\nnew\n" in (tmp_path / "f.py").read_text()


def _break_counts(line: str) -> str:
    if line.startswith("@@"):
        head, rest = line.split(" @@", 1)
        return "@@ -" + head.split("-")[1].split(",")[0] + ",99 +1,77 @@" + rest
    return line
