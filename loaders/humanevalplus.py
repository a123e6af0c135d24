"""HumanEval+ (evalplus v0.1.10, 164 problems, base + plus tests) -> CodeProblem JSONL.

Thin entry point over loaders/evalplus.py (which documents the format and the expected-output cache).

    python -m loaders.humanevalplus --output data/humanevalplus.jsonl
    python -m loaders.humanevalplus --mini --output data/humanevalplus_mini.jsonl
"""
from __future__ import annotations

from loaders import evalplus
from models import CodeProblem


def load(source: str | None = None, data_dir: str = "data", offline: bool = False, version: str = "",
         mini: bool = False, base_url: str = evalplus.HOST) -> list[CodeProblem]:
    return evalplus.load(source, data_dir, offline, "humaneval", version, mini, base_url)


def main(argv=None) -> int:
    return evalplus.main(argv, dataset="humaneval", doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
