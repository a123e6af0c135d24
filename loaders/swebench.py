"""SWE-bench (oracle, Lite, Verified) -> CodeProblem JSONL, plus the patch helpers predictions need.

Datasets by name: oracle = princeton-nlp/SWE-bench_oracle (default; rows carry the prompt `text`
built from the issue and the files the gold patch touches), lite = princeton-nlp/SWE-bench_Lite,
verified = princeton-nlp/SWE-bench_Verified; the Hub's parquet shards (pyarrow needed) or
--source (a .json list, .jsonl or .parquet). No tests are executed here: SWE-bench's own Docker
harness grades predictions. `extract_diff` and `normalize_patch` turn a model's answer into a
`model_patch` that `git apply` accepts.

    python -m loaders.swebench --dataset lite --source ../shared/data/swebench/swe-bench-lite.json --output data/swebench_lite.jsonl

Paper: Jimenez et al. 2024, "SWE-bench: Can Language Models Resolve Real-World GitHub Issues?" (arXiv 2310.06770).
"""
from __future__ import annotations

import re

from loaders.common import Row, base_parser, check_count, read_rows, run_cli
from loaders.download import HF, fetch, hf_files
from models import CodeProblem, InputError

DATASETS = {"oracle": "princeton-nlp/SWE-bench_oracle", "lite": "princeton-nlp/SWE-bench_Lite",
            "verified": "princeton-nlp/SWE-bench_Verified"}
ROWS = {("oracle", "test"): 2294, ("lite", "test"): 300, ("lite", "dev"): 23, ("verified", "test"): 500}
FIELDS = ("repo", "base_commit", "patch", "test_patch", "hints_text", "created_at", "version",
          "environment_setup_commit")


# ---------------------------------------------------------------- rows


def _tests(row: Row, field: str) -> list[str]:
    value = row.json_field(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise row.error(field, "expected a list of test names")
    return value


def convert(row: Row, dataset: str) -> CodeProblem:
    text = row.get("text") if dataset == "oracle" else ""
    metadata = {k: row.get(k, str, "") for k in FIELDS}
    metadata.update(dataset=dataset, problem_statement=row.get("problem_statement"),
                    FAIL_TO_PASS=_tests(row, "FAIL_TO_PASS"), PASS_TO_PASS=_tests(row, "PASS_TO_PASS"))
    if text:
        metadata["text"] = text    # SWE-bench's run_api.py: first line = system message, the rest = user
    return CodeProblem(problem_id=row.get("instance_id"), problem=text or metadata["problem_statement"],
                       test_cases=[], solutions=[metadata["patch"]] if metadata["patch"] else [], metadata=metadata)


def load(source: str | None = None, data_dir: str = "data", offline: bool = False, dataset: str = "oracle",
         split: str = "test", base_url: str = HF) -> list[CodeProblem]:
    """SWE-bench instances by dataset name; no tests (the SWE-bench harness grades patches)."""
    if dataset not in DATASETS:
        raise InputError(f"unknown SWE-bench dataset {dataset!r}; choose one of {sorted(DATASETS)}")
    how = f"python -m loaders.swebench --dataset {dataset} --split {split} --output FILE"
    files = [fetch(source, data_dir, offline, how=how)] if source else \
        hf_files(DATASETS[dataset], "data", f"{split}-", base_url, data_dir, offline, how=how)
    problems = [convert(row, dataset) for path in files for row in read_rows(path)]
    if not source:
        check_count(str(files[0].parent), len(problems), ROWS.get((dataset, split)))
    seen = set()
    for p in problems:
        if p.problem_id in seen:
            raise InputError(f"{source or files[0]}: duplicate instance_id {p.problem_id!r}")
        seen.add(p.problem_id)
    return problems


# ---------------------------------------------------------------- answers -> patches

_TAG = re.compile(r"<(diff|patch)>\n?(.*?)</\1>", re.S)
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
_DIFF_START = re.compile(r"^(diff --git |--- )", re.M)


def extract_diff(text: str) -> str:
    """The patch in a model's answer, by SWE-bench's preference: a <patch>/<diff> tag, then a ```diff
    (or ```patch) fence, then any fence holding a diff, then the raw text from its first diff line.
    Returns "" when the answer has no diff.

    Example: "Fix:\\n```diff\\n--- a/x\\n+++ b/x\\n...```" -> "--- a/x\\n+++ b/x\\n..."
    """
    text = text.replace("\r\n", "\n")
    m = _TAG.search(text)
    if m:
        return m.group(2)
    fences = _FENCE.findall(text)
    for lang, body in fences:
        if lang.lower() in ("diff", "patch"):
            return body
    for _lang, body in fences:
        if _DIFF_START.search(body):
            return body[_DIFF_START.search(body).start():]
    m = _DIFF_START.search(text)
    return text[m.start():].split("</s>")[0] if m else ""


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$")


def normalize_patch(diff: str) -> str:
    """Make a model's diff acceptable to `git apply`: hunk headers recounted from the hunk bodies,
    blank context lines given their leading space, trailing blank lines dropped, final newline added.

    Example: "--- a/f\\n+++ b/f\\n@@ -1,9 +1,9 @@\\n-a\\n+b" -> "--- a/f\\n+++ b/f\\n@@ -1 +1 @@\\n-a\\n+b\\n"
    """
    lines = diff.replace("\r\n", "\n").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _HUNK.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        body, i = _hunk_body(lines, i + 1)
        old = sum(1 for line in body if line[:1] in (" ", "-"))
        new = sum(1 for line in body if line[:1] in (" ", "+"))
        out.append(f"@@ -{_range(m.group(1), old)} +{_range(m.group(2), new)} @@{m.group(3)}")
        out.extend(body)
    return "\n".join(out) + "\n" if out else ""


def _range(start: str, count: int) -> str:
    # git's own spelling: a count of 1 is left out ("@@ -0,0 +1 @@").
    return start if count == 1 else f"{start},{count}"


def _hunk_body(lines: list[str], i: int) -> tuple[list[str], int]:
    """The lines of one hunk starting at i, and the index after it."""
    body = []
    while i < len(lines):
        line = lines[i]
        if _HUNK.match(line) or line.startswith("diff --git ") or \
                (line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")):
            break
        if line == "":
            line = " "          # models drop the space of an empty context line
        elif line[0] not in " +-\\":
            break               # prose after the diff, or an `index`/mode line of the next file
        body.append(line)
        i += 1
    return body, i


# ---------------------------------------------------------------- CLI


def main(argv=None) -> int:
    p = base_parser(__doc__)
    p.add_argument("--dataset", default="oracle", help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--split", default="test", help="test (all three) or dev (lite)")
    p.add_argument("--base-url", default=HF, help="mirror of huggingface.co (same /api and /datasets paths)")
    a = p.parse_args(argv)
    return run_cli(lambda: load(a.source, a.data_dir, a.offline, a.dataset, a.split, a.base_url), a.output)


if __name__ == "__main__":
    raise SystemExit(main())
