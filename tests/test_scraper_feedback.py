"""Feedback messages (prompts/feedback.py) from real executor results, and the scraper's shared grader
under many threads at once.

    .venv/bin/python -m pytest -q tests/test_scraper_feedback.py
"""
from __future__ import annotations

import threading

import pytest

from executors import GradeResult, Limits
from executors.grader import TestExecutionGrader
from models import CodeProblem, TestCase
from prompts.feedback import FIELD_CHARS, NO_CODE, build_feedback
from scraper import SharedGrader, order_tests

LIMITS = Limits(timeout=0.5, sample_timeout=5, memory_mb=64)
PROBLEM = CodeProblem(
    problem_id="fb/1", problem="square a number", metadata={"func_name": "square"},
    test_cases=[TestCase("functional", input="[3]", output="9", public=True),
                TestCase("functional", input="[99991]", output="9998200081", public=False)])


@pytest.fixture(scope="module")
def grader():
    shared = SharedGrader(TestExecutionGrader("local", LIMITS, workers=2))
    yield shared
    shared.close()


def feedback_for(grader, program: str, show_hidden: bool = False) -> str:
    result = grader.grade(PROBLEM, program, order_tests(PROBLEM, True))
    return build_feedback(result, public_total=1, show_hidden=show_hidden, limits=LIMITS, func_name="square")


@pytest.mark.parametrize("program, words", [
    ("def square(x):\n    return x + x\n", ["wrong answer", "square(3)", "9", "6"]),
    ("def square(x):\n    return helper(x)\n\ndef helper(x):\n    return x / 0\n",
     ["runtime error", "ZeroDivisionError", "division by zero", "Traceback", "helper"]),
    ("def square(x):\n    while True:\n        pass\n", ["time limit exceeded", "0.5 s", "square(3)"]),
    ("def square(x):\n    return len(bytearray(1 << 30))\n", ["memory limit exceeded", "64 MB"]),
    ("def square(x)\n    return x * x\n", ["syntax error"]),
])
def test_feedback_names_the_verdict_and_quotes_the_failing_public_test(grader, program, words):
    text = feedback_for(grader, program)
    for word in words:
        assert word in text, f"{word!r} missing from:\n{text}"
    assert "99991" not in text


def test_a_hidden_failure_is_named_but_not_quoted_by_default(grader):
    program = "def square(x):\n    return x * x if x < 100 else 0\n"
    hidden = feedback_for(grader, program)
    assert "passed all 1 public tests but failed a hidden test: wrong answer" in hidden
    assert "99991" not in hidden and "9998200081" not in hidden
    assert "99991" in feedback_for(grader, program, show_hidden=True)


def test_a_hidden_syntax_error_shows_the_compiler_message_and_no_test_data(grader):
    problem = CodeProblem("fb/2", "square", metadata={"func_name": "square"},
                          test_cases=[TestCase("functional", input="[99991]", output="9998200081")])
    result = grader.grade(problem, "def square(x)\n    return x * x\n", [0])
    text = build_feedback(result, public_total=0, show_hidden=False, limits=LIMITS, func_name="square")
    assert text.startswith("Your solution failed a hidden test: syntax error")
    assert "SyntaxError" in text and "99991" not in text and "9998200081" not in text


def test_long_fields_are_truncated():
    from executors import TestOutcome
    result = GradeResult("wrong_answer", outcomes=[TestOutcome(0, "wrong_answer", input="x" * 5000, public=True)])
    text = build_feedback(result, 1, False, LIMITS)
    assert "x" * FIELD_CHARS in text and "x" * (FIELD_CHARS + 1) not in text and "[4000 more chars]" in text


def test_a_reply_without_code_asks_for_a_code_block():
    text = build_feedback(GradeResult(NO_CODE), 1, False, LIMITS)
    assert "no Python code" in text and "```python" in text


def test_public_tests_run_first_and_hidden_ones_only_when_asked():
    problem = CodeProblem("o/1", "p", test_cases=[TestCase("stdin", public=False), TestCase("stdin", public=True),
                                                   TestCase("stdin", public=False)])
    assert order_tests(problem, False) == [1]
    assert order_tests(problem, True) == [1, 0, 2]


def test_the_shared_grader_serves_many_threads_at_once(grader):
    """40 threads grade at the same time through one pool; each gets its own program's verdict."""
    verdicts: dict[int, str] = {}

    def work(k: int) -> None:
        program = f"def square(x):\n    return x * x + {k % 2}\n"
        verdicts[k] = grader.grade(PROBLEM, program, [0, 1]).verdict

    threads = [threading.Thread(target=work, args=(k,)) for k in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert verdicts == {k: "wrong_answer" if k % 2 else "passed" for k in range(40)}
