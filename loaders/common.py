"""Helpers shared by the loaders: row access with file/row/field errors, Python literals, the CLI.

Not run directly; every loader's `main()` uses `base_parser()` and `run_cli()`:

    python -m loaders.mbpp --source ../shared/data/mbpp.jsonl --output data/mbpp.jsonl
"""
from __future__ import annotations

import argparse
import ast
import gzip
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from models import CodeProblem, InputError, write_jsonl

_MISSING = object()

# ---------------------------------------------------------------- rows


class Row:
    """One source row; every accessor error names the file, the row and the field."""

    def __init__(self, path: str, index: int, data: dict, unit: str = "line"):
        self.path, self.index, self.data, self.unit = str(path), index, data, unit

    @property
    def where(self) -> str:
        return f"{self.path}:{self.index}" if self.unit == "line" else f"{self.path}: row {self.index}"

    def error(self, field: str, message: str) -> InputError:
        return InputError(f"{self.where}: field {field!r}: {message}")

    def get(self, field: str, kind=str, default=_MISSING) -> Any:
        """The field's value, checked against `kind` (a type or tuple of types)."""
        if field not in self.data or self.data[field] is None:
            if default is _MISSING:
                raise InputError(f"{self.where}: missing field {field!r}")
            return default
        value = self.data[field]
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(field, f"expected {names}, got {type(value).__name__}")
        return value

    def json_field(self, field: str, default=_MISSING) -> Any:
        """A field that HF stores as a JSON string but other exports keep as an object."""
        value = self.get(field, (str, list, dict), default)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise self.error(field, f"invalid JSON string ({e.msg} at char {e.pos})") from None


def read_rows(path: str | Path) -> Iterator[Row]:
    """Rows of a .jsonl(.gz), .json (a list of objects) or .parquet file."""
    path = str(path)
    if path.endswith(".parquet"):
        yield from _parquet_rows(path)
    elif path.endswith((".jsonl", ".jsonl.gz")):
        yield from _jsonl_rows(path)
    elif path.endswith((".json", ".json.gz")):
        yield from _json_rows(path)
    else:
        raise InputError(f"{path}: unknown file type (expected .jsonl, .jsonl.gz, .json or .parquet)")


def _jsonl_rows(path: str) -> Iterator[Row]:
    # models.read_jsonl is the project's one JSONL reader (it names path:line on bad JSON).
    from models import read_jsonl
    for lineno, data in read_jsonl(path):
        yield Row(path, lineno, data)


def _json_rows(path: str) -> Iterator[Row]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of rows, got {type(data).__name__}")
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise InputError(f"{path}: row {i}: expected a JSON object, got {type(item).__name__}")
        yield Row(path, i, item, unit="row")


def _parquet_rows(path: str) -> Iterator[Row]:
    # Hugging Face publishes parquet; pyarrow is optional so the base install stays small.
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: reading parquet needs pyarrow (pip install pyarrow), "
                         "or pass --source a JSON/JSONL export of the same rows") from None
    table = pq.read_table(path)
    index = 0
    for batch in table.to_batches(max_chunksize=256):
        for data in batch.to_pylist():
            index += 1
            yield Row(path, index, data, unit="row")


def check_count(path: str, found: int, expected: int | None) -> None:
    """A published file must have its published number of rows."""
    if expected is not None and found != expected:
        raise InputError(f"{path}: expected {expected} rows, found {found}; the file is incomplete or another "
                         "version (delete it from the cache to download it again)")


# ---------------------------------------------------------------- Python literals


def py_literal(value: Any) -> str:
    """A Python literal for a value; non-finite floats become float('inf') / float('nan') calls.

    Example: [1, (2.5, 'a'), {3}] -> "[1, (2.5, 'a'), {3}]"; float('inf') -> "float('inf')"
    """
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({repr(value)!r})"
    if isinstance(value, (list, tuple, set, frozenset, dict)) and _has_nonfinite(value):
        return _literal_with_calls(value)
    return repr(value)


def _has_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nonfinite(k) or _has_nonfinite(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_has_nonfinite(v) for v in value)
    return False


def _literal_with_calls(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_literal_with_calls(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_literal_with_calls(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(_literal_with_calls(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal_with_calls(k)}: {_literal_with_calls(v)}" for k, v in value.items()) + "}"
    return py_literal(value)


class _FloatCalls(ast.NodeTransformer):
    """Turns float('inf') / float('nan') / float('-inf') calls into constants for literal_eval."""

    def visit_Call(self, node):
        if (isinstance(node.func, ast.Name) and node.func.id == "float" and len(node.args) == 1
                and not node.keywords and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value.strip().lower() in ("inf", "-inf", "+inf", "nan", "infinity", "-infinity")):
            return ast.copy_location(ast.Constant(float(node.args[0].value)), node)
        return self.generic_visit(node)


def parse_literal(text: str) -> Any:
    """Inverse of py_literal: ast.literal_eval plus float('inf')-style calls. Raises ValueError."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"not a Python literal: {e.msg}") from None
    return ast.literal_eval(_FloatCalls().visit(tree))


def round_trips(text: str) -> bool:
    """True if `text` parses back with parse_literal (the executor's parser accepts the same)."""
    try:
        parse_literal(text)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


# ---------------------------------------------------------------- shared conversions

_DEF_RE = re.compile(r"^\s*def\s+([A-Za-z_]\w*)\s*\(", re.M)


def func_name_from_starter(starter_code: str) -> str:
    """The method a LeetCode starter asks for. Example: "class Solution:\\n    def twoSum(self, ..." -> "twoSum"."""
    m = _DEF_RE.search(starter_code or "")
    return m.group(1) if m else ""


def json_args(row: Row, field: str, text: str) -> list:
    """LiveCodeBench functional input: one JSON value per line -> the argument list."""
    try:
        return [json.loads(line) for line in text.split("\n") if line.strip()]
    except json.JSONDecodeError as e:
        raise row.error(field, f"functional input is not one JSON value per line ({e.msg})") from None


def json_value(row: Row, field: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise row.error(field, f"functional output is not JSON ({e.msg})") from None


# ---------------------------------------------------------------- CLI


def base_parser(doc: str) -> argparse.ArgumentParser:
    """The flags every loader has; the loader adds its own."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", help="local file/directory or URL to read instead of the official location")
    p.add_argument("--data-dir", default="data", help="download cache root (files go to DATA_DIR/raw/...)")
    p.add_argument("--offline", action="store_true", help="read the cache only; never download")
    p.add_argument("--output", required=True, help="CodeProblem JSONL to write (parent dirs are created)")
    return p


def run_cli(load: Callable[[], list[CodeProblem]], output: str, extra: dict | None = None) -> int:
    """Load, write atomically, print the human summary on stderr and one JSON line on stdout."""
    from loaders.download import DownloadError
    try:
        problems = load()
    except (InputError, DownloadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    write_problems(output, problems)
    tests = sum(len(p.test_cases) for p in problems)
    print(f"Wrote {len(problems)} problems ({tests} tests) to {output}", file=sys.stderr)
    print(json.dumps({"output": output, "problems": len(problems), "tests": tests, **(extra or {})}))
    return 0


def write_problems(output: str, problems: list[CodeProblem]) -> int:
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    return write_jsonl(output, problems)
