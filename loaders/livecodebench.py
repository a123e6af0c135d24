"""LiveCodeBench code generation (livecodebench/code_generation_lite) -> CodeProblem JSONL.

Reads the Hub's release files test.jsonl, test2.jsonl ... test6.jsonl (release_v1 = test.jsonl,
release_vN = the first N files, release_latest = all, vN = file N only, vN_vM = files N..M),
downloaded into --data-dir, or --source (one .jsonl file or a directory holding them). Keeps
problems whose contest_date falls in [--start-date, --end-date]. Public and private tests both
become TestCases; private tests are published as base64(zlib(pickle(JSON text))) and are decoded
here without unpickling objects: only plain data may come out of the pickle (see safe_unpickle).

    python -m loaders.livecodebench --release release_v5 --start-date 2024-08-01 --output data/lcb_v5.jsonl

Paper: Jain et al. 2024, "LiveCodeBench: Holistic and Contamination Free Evaluation of LLMs for Code"
(arXiv 2403.07974).
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import pickletools
import zlib
from pathlib import Path

from loaders.common import (Row, base_parser, check_count, func_name_from_starter, json_args, json_value,
                            py_literal, read_rows, run_cli)
from loaders.download import HF, fetch, hf_url
from models import CodeProblem, InputError, TestCase

REPO = "livecodebench/code_generation_lite"
FILES = ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl", "test6.jsonl"]
ROWS = {"test.jsonl": 400, "test2.jsonl": 111, "test3.jsonl": 101, "test4.jsonl": 101, "test5.jsonl": 167,
        "test6.jsonl": 175}   # release sizes 400, 511, 612, 713, 880, 1055 (LiveCodeBench README)


def release_files(release: str) -> list[str]:
    """Files of a version tag, as code_generation_lite.py maps them. Example: "v2_v3" -> [test2, test3]."""
    if release == "release_latest":
        return list(FILES)
    if release.startswith("release_v") and release[9:].isdigit() and 1 <= int(release[9:]) <= len(FILES):
        return FILES[:int(release[9:])]
    parts = release.split("_")
    if all(p.startswith("v") and p[1:].isdigit() and 1 <= int(p[1:]) <= len(FILES) for p in parts) \
            and len(parts) in (1, 2):
        lo, hi = int(parts[0][1:]), int(parts[-1][1:])
        if lo <= hi:
            return FILES[lo - 1:hi]
    raise InputError(f"unknown LiveCodeBench release {release!r}; use release_v1..release_v{len(FILES)}, "
                     f"release_latest, vN or vN_vM")


# ---------------------------------------------------------------- private tests

# Opcodes that only build plain data (str, bytes, numbers, lists, tuples, dicts, sets) or frame them.
# Everything that looks up or calls a global (GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ,
# PERSID, EXT*) is refused before anything is unpickled.
_PLAIN_OPCODES = {
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT",
    "GET", "BINGET", "LONG_BINGET", "NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2",
    "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT", "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE",
    "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
    "BYTEARRAY8", "EMPTY_LIST", "APPEND", "APPENDS", "LIST", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2",
    "TUPLE3", "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS", "EMPTY_SET", "ADDITEMS", "FROZENSET",
}


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id")


def safe_unpickle(data: bytes):
    """pickle.loads for plain data only: any opcode that could reach code is an error."""
    try:
        for op, _arg, pos in pickletools.genops(data):
            if op.name not in _PLAIN_OPCODES:
                raise pickle.UnpicklingError(f"opcode {op.name} at byte {pos} is not plain data")
    except ValueError as e:          # genops on a truncated or corrupt stream
        raise pickle.UnpicklingError(f"corrupt pickle: {e}") from None
    return _NoGlobals(io.BytesIO(data)).load()


def decode_private(row: Row, field: str = "private_test_cases") -> list:
    """Private tests: plain JSON text, else base64 -> zlib -> pickle (of the JSON text)."""
    text = row.get(field, str, "")
    if not text.strip():
        return []
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        payload = safe_unpickle(zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True)))
    except (binascii.Error, UnicodeEncodeError, ValueError, zlib.error) as e:
        raise row.error(field, f"neither JSON nor base64/zlib data ({e})") from None
    except pickle.UnpicklingError as e:
        raise row.error(field, f"unsafe or corrupt pickle: {e}") from None
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    if not isinstance(payload, str):
        raise row.error(field, f"the pickle holds {type(payload).__name__}, expected the JSON text of the tests")
    try:
        return json.loads(payload)
    except json.JSONDecodeError as e:
        raise row.error(field, f"decoded tests are not JSON ({e.msg})") from None


# ---------------------------------------------------------------- conversion


def to_test(row: Row, field: str, item, public: bool, func_name: str) -> TestCase:
    """One LCB test {input, output, testtype}; functional inputs are one JSON value per line."""
    if not isinstance(item, dict) or not isinstance(item.get("input"), str) or not isinstance(item.get("output"), str):
        raise row.error(field, "each test must be an object with string 'input' and 'output'")
    kind = item.get("testtype")
    if kind == "stdin":
        return TestCase(type="stdin", input=item["input"], output=item["output"], public=public)
    if kind == "functional":
        if not func_name:
            raise row.error("metadata", "functional tests need metadata.func_name (or a starter_code def)")
        args = json_args(row, field, item["input"])
        return TestCase(type="functional", input=py_literal(args),
                        output=py_literal(json_value(row, field, item["output"])), public=public)
    raise row.error(field, f"unknown testtype {kind!r} (expected stdin or functional)")


def convert(row: Row) -> CodeProblem:
    meta = row.json_field("metadata", {}) or {}
    if not isinstance(meta, dict):
        raise row.error("metadata", "expected a JSON object")
    starter = row.get("starter_code", str, "")
    func_name = meta.get("func_name") or func_name_from_starter(starter)
    public = row.json_field("public_test_cases")
    if not isinstance(public, list):
        raise row.error("public_test_cases", "expected a JSON list")
    tests = [to_test(row, f"public_test_cases[{i}]", t, True, func_name) for i, t in enumerate(public)]
    tests += [to_test(row, f"private_test_cases[{i}]", t, False, func_name) for i, t in enumerate(decode_private(row))]
    metadata = {"platform": row.get("platform"), "contest_id": row.get("contest_id", str, ""),
                "contest_date": row.get("contest_date"), "difficulty": row.get("difficulty", str, ""),
                "title": row.get("question_title", str, ""), "starter_code": starter, "loose_sequences": True}
    if any(t.type == "functional" for t in tests):
        metadata["func_name"] = func_name
    return CodeProblem(problem_id=row.get("question_id"), problem=row.get("question_content"),
                       test_cases=tests, metadata=metadata)


def in_window(date: str, start: str | None, end: str | None) -> bool:
    """Inclusive window on the day. Example: in_window("2024-08-01T00:00:00", "2024-08-01", None) -> True"""
    day = date[:10]
    return (not start or day >= start) and (not end or day <= end)


# ---------------------------------------------------------------- load


def _paths(source: str | None, release: str, data_dir: str, offline: bool, base_url: str) -> list[tuple[Path, int | None]]:
    how = f"python -m loaders.livecodebench --release {release} --output FILE"
    if source and Path(source).is_dir():
        return [(fetch(str(Path(source) / name), data_dir, offline), ROWS[name]) for name in release_files(release)]
    if source:
        return [(fetch(source, data_dir, offline, how=how), None)]
    return [(fetch(hf_url(REPO, name, base_url), data_dir, offline, how=how), ROWS[name])
            for name in release_files(release)]


def load(source: str | None = None, data_dir: str = "data", offline: bool = False, release: str = "release_latest",
         start_date: str | None = None, end_date: str | None = None, base_url: str = HF) -> list[CodeProblem]:
    """LiveCodeBench problems of a release, inside the contest-date window."""
    problems = []
    for path, rows in _paths(source, release, data_dir, offline, base_url):
        converted = [convert(row) for row in read_rows(path)]
        check_count(str(path), len(converted), rows)
        problems += [p for p in converted if in_window(p.metadata["contest_date"], start_date, end_date)]
    return problems


def main(argv=None) -> int:
    p = base_parser(__doc__)
    p.add_argument("--release", default="release_latest", help="release_v1..v6, release_latest, vN, vN_vM")
    p.add_argument("--start-date", help="keep contest_date >= YYYY-MM-DD")
    p.add_argument("--end-date", help="keep contest_date <= YYYY-MM-DD")
    p.add_argument("--base-url", default=HF, help="mirror of huggingface.co (same /datasets/... paths)")
    a = p.parse_args(argv)
    return run_cli(lambda: load(a.source, a.data_dir, a.offline, a.release, a.start_date, a.end_date,
                                a.base_url), a.output)


if __name__ == "__main__":
    raise SystemExit(main())
