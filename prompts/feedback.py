"""Feedback messages for the scraper: a failed test run becomes the next user turn. Prompts are data.

    from prompts.feedback import build_feedback
    text = build_feedback(grade_result, public_total=3, show_hidden=False, limits=Limits())

The message is built from the grader's structured details (executors.GradeResult.first_failure): the
verdict in words, the failing input, the expected and the actual output (truncated), the exception and
the last lines of its traceback. Timeouts and memory errors are named as such, with the limit, because
"wrong answer" would send the model looking for a logic bug. A failing hidden (non-public) test is
quoted only when `show_hidden` (scraper.py --feedback-tests all): by default hidden tests never enter
the conversation, so a solution cannot be fitted to them.
"""
from __future__ import annotations

from executors import (CRASHED, HARNESS_ERROR, MEMORY_LIMIT, OUTPUT_LIMIT, RUNTIME_ERROR, SYNTAX_ERROR,
                       TIMEOUT, WRONG_ANSWER)

# A reply without code is not a test failure; the scraper records it under this verdict.
NO_CODE = "no_code"

FIELD_CHARS = 1000      # per quoted field: enough for a failing case, short enough not to drown the statement
TRACEBACK_LINES = 8     # the frames nearest the error are the ones that explain it

# The verdict in words. {timeout} and {memory_mb} come from the run's Limits.
HEADLINES = {
    WRONG_ANSWER: "wrong answer",
    RUNTIME_ERROR: "runtime error (the code raised an exception)",
    SYNTAX_ERROR: "syntax error (the code does not compile)",
    TIMEOUT: "time limit exceeded (more than {timeout:g} s on one test); look for a faster algorithm "
             "or an infinite loop",
    MEMORY_LIMIT: "memory limit exceeded (more than {memory_mb} MB)",
    OUTPUT_LIMIT: "output limit exceeded (the code printed far too much)",
    CRASHED: "the process crashed (killed by a signal)",
    HARNESS_ERROR: "the test harness could not run the code",
    NO_CODE: "no code found in the reply",
}

PUBLIC_FAILURE = "Your solution failed a test: {headline}.\n"
HIDDEN_FAILURE = "Your solution passed all {public_total} public tests but failed a hidden test: {headline}.\n"
HIDDEN_ONLY_FAILURE = "Your solution failed a hidden test: {headline}.\n"   # the problem has no public tests
HIDDEN_NOT_SHOWN = "Hidden tests are not shown. Check the edge cases and limits the problem statement allows.\n"
NO_CODE_MESSAGE = ("Your reply contained no Python code. Reply with the complete solution in a single "
                   "```python code block.")

# Each detail is shown only when the grader filled it in.
FIELDS = (
    ("input", "Input:"),
    ("expected", "Expected:"),
    ("actual", "Your output:"),
    ("message", "Error:"),
    ("traceback", "Traceback (last lines):"),
)

# Said when the model resends code it already tried: the verdict is the same, and it should know.
REPEATED = "This is the same code as one of your earlier attempts.\n"

CLOSING = "\nFix the code and reply with the complete corrected solution in a single ```python code block."


def truncate(text: str, limit: int = FIELD_CHARS) -> str:
    """Example: truncate("x" * 5000) -> 1000 x's + "... [4000 more chars]"."""
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


def _traceback_tail(text: str) -> str:
    lines = text.strip("\n").splitlines()
    return "\n".join(lines[-TRACEBACK_LINES:])


def as_call(text: str, func_name: str) -> str:
    """A value test's argument list shown as the call the model wrote. Example: ("[[1, 2], 3]", "f") -> "f([1, 2], 3)"."""
    if func_name and text.startswith("[") and text.endswith("]") and "more chars]" not in text:
        return f"{func_name}({text[1:-1]})"
    return text


def _details(failure, func_name: str) -> str:
    parts = []
    for name, label in FIELDS:
        value = getattr(failure, name, "") or ""
        if name == "traceback":
            value = _traceback_tail(value)
        if name == "input":
            value = as_call(value, func_name)
        if value.strip():
            parts.append(f"{label}\n```\n{truncate(value.rstrip())}\n```")
    return "\n".join(parts)


def build_feedback(result, public_total: int, show_hidden: bool, limits, func_name: str = "",
                   repeated: bool = False) -> str:
    """The user message after a failed turn (`result` is an executors.GradeResult; `func_name` turns a
    value test's argument list into a call; `repeated`: the model resent code it had already tried)."""
    if result.verdict == NO_CODE:
        return NO_CODE_MESSAGE
    return (REPEATED if repeated else "") + _failure_text(result, public_total, show_hidden, limits, func_name)


def _failure_text(result, public_total: int, show_hidden: bool, limits, func_name: str) -> str:
    headline = HEADLINES.get(result.verdict, result.verdict).format(timeout=limits.timeout,
                                                                     memory_mb=limits.memory_mb)
    failure = result.first_failure
    if failure is None or failure.public:
        head = PUBLIC_FAILURE.format(headline=headline)
        details = _details(failure, func_name) if failure is not None else truncate(result.message or "")
    else:
        head = (HIDDEN_FAILURE if public_total else HIDDEN_ONLY_FAILURE).format(public_total=public_total,
                                                                                 headline=headline)
        details = _details(failure, func_name) if show_hidden else _compile_error(failure)
        head += "" if show_hidden or details else HIDDEN_NOT_SHOWN
    return head + (f"\n{details}\n" if details else "") + CLOSING


def _compile_error(failure) -> str:
    """A syntax error is about the code, not the test data: it is shown even when the test is hidden."""
    if failure.verdict != SYNTAX_ERROR or not failure.message:
        return ""
    return f"Error:\n```\n{truncate(failure.message)}\n```"
