"""MBPP+ (evalplus v0.2.0, 378 problems, base + plus tests) -> CodeProblem JSONL.

Thin entry point over loaders/evalplus.py (which documents the format and the expected-output cache).

    python -m loaders.mbppplus --output data/mbppplus.jsonl
    python -m loaders.mbppplus --version v0.1.0 --output data/mbppplus_v010.jsonl
"""
from __future__ import annotations

from loaders import evalplus
from models import CodeProblem


def load(source: str | None = None, data_dir: str = "data", offline: bool = False, version: str = "",
         base_url: str = evalplus.HOST) -> list[CodeProblem]:
    return evalplus.load(source, data_dir, offline, "mbpp", version, False, base_url)


def main(argv=None) -> int:
    return evalplus.main(argv, dataset="mbpp", doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
