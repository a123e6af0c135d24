"""How outputs are compared, on the trusted side only. Both policies are pure functions.

stdout (stdin tests), LiveCodeBench's normalisation plus a float tolerance:
  strip the whole output, split into lines, strip each line; the line counts must match; a line
  matches when the text is equal, or when it has the same number of whitespace-separated tokens
  and each pair is equal text, equal integers (exact, any size), or numbers within
  abs-or-rel 1e-6 when either side is written as a float. "YES" never matches "NO" (rllm's TACO
  comparator said it did), and "0.5" matches "0.50" and "0.4999999" (LCB's exact Decimal said no).

return values (functional value tests), evalplus's policy:
  plain-data equality; floats within `atol` (default 1e-6 when the expected value holds floats)
  plus relative 1e-7; nan equals nan; with `loose_sequences` a tuple matches an expected list
  (JSON-sourced datasets cannot express tuples).
"""
from __future__ import annotations

import math
import re

FLOAT_TOL = 1e-6
_INT = re.compile(r"[+-]?\d+\Z")


def stdout_matches(actual: str, expected: str, tol: float = FLOAT_TOL) -> bool:
    a_lines = [line.strip() for line in actual.strip().split("\n")]
    e_lines = [line.strip() for line in expected.strip().split("\n")]
    if len(a_lines) != len(e_lines):
        return False
    return all(a == e or _line_matches(a, e, tol) for a, e in zip(a_lines, e_lines))


def _line_matches(a: str, e: str, tol: float) -> bool:
    a_tok, e_tok = a.split(), e.split()
    if len(a_tok) != len(e_tok):
        return False
    return all(x == y or _numbers_match(x, y, tol) for x, y in zip(a_tok, e_tok))


def _numbers_match(x: str, y: str, tol: float) -> bool:
    if _INT.match(x) and _INT.match(y):
        return int(x) == int(y)
    try:
        fx, fy = float(x), float(y)
    except ValueError:
        return False
    if math.isnan(fx) or math.isnan(fy):
        return math.isnan(fx) and math.isnan(fy)
    return abs(fx - fy) <= tol * max(1.0, abs(fy))


def values_equal(actual, expected, atol: float | None = None, loose_sequences: bool = False) -> bool:
    """Is the decoded return value right? Both sides are plain data (see executors.protocol)."""
    if atol is None or atol == 0:
        atol = FLOAT_TOL if _has_float(expected) else 0.0
    return _equal(actual, expected, atol, loose_sequences)


def _equal(a, e, atol: float, loose: bool) -> bool:
    if isinstance(e, float) or (isinstance(a, float) and isinstance(e, int) and not isinstance(e, bool)):
        if not isinstance(a, (int, float)) or isinstance(a, bool):
            return False
        if math.isnan(e) or math.isnan(a):
            return math.isnan(e) and math.isnan(a)
        if math.isinf(e) or math.isinf(a):
            return a == e
        return abs(a - e) <= atol + 1e-7 * abs(e)
    if isinstance(e, (list, tuple)):
        same_kind = type(a) is type(e) or (loose and isinstance(a, (list, tuple)))
        return same_kind and len(a) == len(e) and all(_equal(x, y, atol, loose) for x, y in zip(a, e))
    if isinstance(e, dict):
        return (isinstance(a, dict) and a.keys() == e.keys()
                and all(_equal(a[k], e[k], atol, loose) for k in e))
    if isinstance(e, complex) and isinstance(a, complex) and atol:
        return abs(a - e) <= atol + 1e-7 * abs(e)
    return type(a) is not float and a == e


def _has_float(x) -> bool:
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple, set, frozenset)):
        return any(_has_float(v) for v in x)
    if isinstance(x, dict):
        return any(_has_float(v) for v in x.values())
    return False
