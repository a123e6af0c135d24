"""DeepCoder-Preview-Dataset (agentica-org) -> CodeProblem JSONL, one config and split at a time.

Configs and their test shapes (HF stores `tests` as a JSON string; rllm's JSON files keep lists):
    lcbv5           [{input, output, testtype: stdin|functional}], functional args one JSON value per line,
                    func_name in metadata (or the `class Solution` starter's method)      train, test
    primeintellect  [{type: stdin_stdout|function_call, input, output, fn_name?}]           train
    taco            {inputs, outputs, fn_name?}; call-based returns are wrapped in a 1-element list  train
    codeforces      [{input, output}] stdin only (CodeElo's sample tests)                    test
Default source: the Hub's parquet shards <config>/<split>-*.parquet (reading parquet needs pyarrow),
cached under --data-dir. --source takes a .parquet, a .jsonl (HF JSON export), a .json list (rllm's
rllm/data/{train,test}/code/*.json) or a directory of those.

    python -m loaders.deepcoder --config lcbv5 --split test --output data/deepcoder_lcbv5_test.jsonl
    python -m loaders.deepcoder --config codeforces --source ../shared/data/deepcoder/rllm_codeforces_test_408.json --output data/cf.jsonl

DeepCoder: Luo et al. 2025, "DeepCoder: A Fully Open-Source 14B Coder at O3-mini Level" (Agentica blog).
"""
from __future__ import annotations

from pathlib import Path

from loaders.common import (Row, base_parser, func_name_from_starter, json_args, json_value, py_literal,
                            read_rows, run_cli)
from loaders.download import HF, fetch, hf_files
from models import CodeProblem, InputError, TestCase

REPO = "agentica-org/DeepCoder-Preview-Dataset"
SPLITS = {"lcbv5": ("train", "test"), "primeintellect": ("train",), "taco": ("train",), "codeforces": ("test",)}
SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json")


# ---------------------------------------------------------------- one converter per config


def _text(row: Row, field: str, value) -> str:
    # APPS/TACO stdin data is sometimes a list of lines.
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value) + ("\n" if value and not value[-1].endswith("\n") else "")
    if not isinstance(value, str):
        raise row.error(field, f"expected stdin text, got {type(value).__name__}")
    return value


def _tests_list(row: Row) -> list:
    tests = row.json_field("tests")
    if not isinstance(tests, list):
        raise row.error("tests", f"expected a list of tests, got {type(tests).__name__}")
    for i, t in enumerate(tests):
        if not isinstance(t, dict) or "input" not in t or "output" not in t:
            raise row.error(f"tests[{i}]", "expected an object with 'input' and 'output'")
    return tests


def lcbv5_tests(row: Row, func_name: str) -> list[TestCase]:
    out = []
    for i, t in enumerate(_tests_list(row)):
        kind, field = t.get("testtype"), f"tests[{i}]"
        if kind == "stdin":
            out.append(TestCase(type="stdin", input=_text(row, field, t["input"]), output=_text(row, field, t["output"])))
        elif kind == "functional":
            if not func_name:
                raise row.error("metadata", "functional tests need metadata.func_name or a starter_code def")
            args = json_args(row, field, _text(row, field, t["input"]))
            out.append(TestCase(type="functional", input=py_literal(args),
                                output=py_literal(json_value(row, field, _text(row, field, t["output"])))))
        else:
            raise row.error(field, f"unknown testtype {kind!r} (expected stdin or functional)")
    return out


def primeintellect_tests(row: Row, func_name: str) -> list[TestCase]:
    # PrimeIntellect's own verifier compares a function_call's result with `output` directly: not wrapped.
    out = []
    for i, t in enumerate(_tests_list(row)):
        kind, field = t.get("type"), f"tests[{i}]"
        if kind == "stdin_stdout":
            out.append(TestCase(type="stdin", input=_text(row, field, t["input"]), output=_text(row, field, t["output"])))
        elif kind == "function_call":
            args = t["input"] if isinstance(t["input"], list) else [t["input"]]
            out.append(TestCase(type="functional", input=py_literal(args), output=py_literal(t["output"])))
        else:
            raise row.error(field, f"unknown type {kind!r} (expected stdin_stdout or function_call)")
    return out


def taco_tests(row: Row, func_name: str) -> list[TestCase]:
    io = row.json_field("tests")
    if not isinstance(io, dict) or not isinstance(io.get("inputs"), list) or not isinstance(io.get("outputs"), list):
        raise row.error("tests", "expected {inputs: [...], outputs: [...]}")
    if len(io["inputs"]) != len(io["outputs"]):
        raise row.error("tests", f"{len(io['inputs'])} inputs but {len(io['outputs'])} outputs")
    out = []
    for i, (inp, exp) in enumerate(zip(io["inputs"], io["outputs"])):
        field = f"tests.inputs[{i}]"
        if io.get("fn_name"):
            args = inp if isinstance(inp, list) else [inp]
            # APPS/TACO wrap each call-based return value in a 1-element list.
            value = exp[0] if isinstance(exp, list) and len(exp) == 1 else exp
            out.append(TestCase(type="functional", input=py_literal(args), output=py_literal(value)))
        else:
            out.append(TestCase(type="stdin", input=_text(row, field, inp), output=_text(row, f"tests.outputs[{i}]", exp)))
    return out


def codeforces_tests(row: Row, func_name: str) -> list[TestCase]:
    return [TestCase(type="stdin", input=_text(row, f"tests[{i}]", t["input"]), output=_text(row, f"tests[{i}]", t["output"]))
            for i, t in enumerate(_tests_list(row))]


CONVERTERS = {"lcbv5": lcbv5_tests, "primeintellect": primeintellect_tests, "taco": taco_tests,
              "codeforces": codeforces_tests}


def _func_name(row: Row, config: str, starter: str, meta: dict) -> str:
    name = meta.get("func_name") or ""
    if not name and config in ("primeintellect", "taco"):
        tests = row.json_field("tests")
        if isinstance(tests, dict):
            name = tests.get("fn_name") or ""
        elif isinstance(tests, list):
            name = next((t.get("fn_name") for t in tests if isinstance(t, dict) and t.get("fn_name")), "")
    return name or func_name_from_starter(starter)


def convert(row: Row, config: str, split: str, index: int) -> CodeProblem:
    meta = row.json_field("metadata", {}) or {}
    if not isinstance(meta, dict):
        raise row.error("metadata", "expected an object")
    starter = row.get("starter_code", str, "")
    func_name = _func_name(row, config, starter, meta)
    tests = CONVERTERS[config](row, func_name)
    if not tests:
        raise row.error("tests", "no tests")
    # lcbv5/primeintellect/taco merge public and private tests, so none is public until
    # `inference.py preprocess` finds the statement's examples; codeforces has the examples only.
    for t in tests:
        t.public = config == "codeforces"
    metadata = {"config": config, "split": split, "index": index, "starter_code": starter,
                "loose_sequences": True}        # JSON-sourced: a tuple answer matches an expected list
    if any(t.type == "functional" for t in tests):
        metadata["func_name"] = func_name
    solutions = row.get("solutions", list, [])
    return CodeProblem(problem_id=f"deepcoder/{config}/{split}/{index}", problem=row.get("problem"),
                       test_cases=tests, solutions=[s for s in solutions if isinstance(s, str)], metadata=metadata)


# ---------------------------------------------------------------- load


def _local_files(source: Path) -> list[Path]:
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.name.endswith(SUFFIXES))
        if not files:
            raise InputError(f"{source}: no {', '.join(SUFFIXES)} files in this directory")
        return files
    return [source]


def load(source: str | None = None, data_dir: str = "data", offline: bool = False, config: str = "lcbv5",
         split: str | None = None, base_url: str = HF, num_problems: int | None = None) -> list[CodeProblem]:
    """Problems of one config and split (default: the config's first split)."""
    if config not in SPLITS:
        raise InputError(f"unknown DeepCoder config {config!r}; choose one of {sorted(SPLITS)}")
    split = split or SPLITS[config][-1]
    if split not in SPLITS[config]:
        raise InputError(f"config {config!r} has no split {split!r}; it has {list(SPLITS[config])}")
    how = f"python -m loaders.deepcoder --config {config} --split {split} --output FILE"
    if source:
        files = _local_files(fetch(source, data_dir, offline, how=how))
    else:
        files = hf_files(REPO, config, f"{split}-", base_url, data_dir, offline, how=how)
    problems = []
    for path in files:
        for row in read_rows(path):
            problems.append(convert(row, config, split, len(problems)))
            if num_problems is not None and len(problems) >= num_problems:
                return problems
    return problems


def main(argv=None) -> int:
    p = base_parser(__doc__)
    p.add_argument("--config", default="lcbv5", help=f"one of {', '.join(SPLITS)}")
    p.add_argument("--split", help="train or test (default: test for lcbv5 and codeforces, train otherwise)")
    p.add_argument("--num-problems", type=int, help="keep only the first N problems")
    p.add_argument("--base-url", default=HF, help="mirror of huggingface.co (same /api and /datasets paths)")
    a = p.parse_args(argv)
    return run_cli(lambda: load(a.source, a.data_dir, a.offline, a.config, a.split, a.base_url, a.num_problems),
                   a.output)


if __name__ == "__main__":
    raise SystemExit(main())
