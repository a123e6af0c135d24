"""The restricted encoding that carries arguments into and return values out of the untrusted process.

Only plain Python data crosses: None, bool, int, float (inf/nan too), complex, str, bytes, list, tuple,
dict, set, frozenset, nested. Subclasses are carried as their base type (a Counter arrives as a
dict, a namedtuple as a tuple), so no method of the program's own classes ever runs on the trusted
side. Anything else cannot be encoded and counts as a wrong answer.

Wire form: JSON, where lists, ints, floats, str, bool and null are themselves and every JSON object
is a one-key tag: {"t": [...]} tuple, {"d": [[k, v], ...]} dict, {"s": [...]} set, {"f": [...]}
frozenset, {"b": "base64"} bytes, {"c": [re, im]} complex, {"r": "name"} a reference to a name in the
program's module (sent by the trusted side only, for objects that dataset setup code built there).

Example: encode((1, [2.5, "x"], {3})) -> b'{"t": [1, [2.5, "x"], {"s": [3]}]}'
"""
from __future__ import annotations

import base64
import json
import numbers
import sys

MAX_DEPTH = 200


class EncodeError(ValueError):
    """The value is not plain data (or is too deep / too large)."""


class Ref:
    """A name in the program's module, passed by reference (never by value)."""
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


def to_wire(x, depth: int = 0):
    if depth > MAX_DEPTH:
        raise EncodeError("value nested too deeply")
    if x is None or x is True or x is False:
        return x
    t = type(x)
    if isinstance(x, bool):
        return bool.__bool__(x)
    if isinstance(x, int):
        return int.__int__(x) if t is not int else x
    if isinstance(x, float):
        return float.__float__(x)
    if isinstance(x, str):
        return str.__str__(x) if t is not str else x
    if isinstance(x, Ref):
        return {"r": x.name}
    d = depth + 1
    if isinstance(x, list):
        return [to_wire(v, d) for v in list.__iter__(x)]
    if isinstance(x, tuple):
        return {"t": [to_wire(v, d) for v in tuple.__iter__(x)]}
    if isinstance(x, dict):
        return {"d": [[to_wire(k, d), to_wire(v, d)] for k, v in dict.items(x)]}
    if isinstance(x, frozenset):
        return {"f": [to_wire(v, d) for v in frozenset.__iter__(x)]}
    if isinstance(x, set):
        return {"s": [to_wire(v, d) for v in set.__iter__(x)]}
    if isinstance(x, (bytes, bytearray)):
        return {"b": base64.b64encode(bytes(x)).decode()}
    if isinstance(x, complex):
        return {"c": [complex.__complex__(x).real, complex.__complex__(x).imag]}
    # numeric scalars of other libraries (numpy.int64, numpy.bool_, Fraction...) carry as their value,
    # as `==` would treat them in the program's own process; containers of them (ndarray) do not
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real) and not isinstance(x, numbers.Rational):
        return float(x)
    if t.__module__ == "numpy" and t.__name__ == "bool_":
        return bool(x)
    raise EncodeError(f"a {t.__name__} object")


def encode(x) -> bytes:
    try:
        return json.dumps(to_wire(x), separators=(",", ":")).encode()
    except RecursionError:
        raise EncodeError("value nested too deeply") from None


_TAGS = {
    "t": tuple,
    "s": set,
    "f": frozenset,
    "b": lambda v: base64.b64decode(v, validate=True),
    "c": lambda v: complex(v[0], v[1]),
}


def _from_tag(obj: dict, resolve=None):
    if len(obj) != 1:
        raise EncodeError("malformed value")
    (tag, v), = obj.items()
    if tag == "d":
        return {k: val for k, val in v}
    if tag == "r":
        if resolve is None:
            raise EncodeError("references may only be sent to the program")
        return resolve(v)
    if tag not in _TAGS:
        raise EncodeError(f"unknown tag {tag!r}")
    return _TAGS[tag](v)


def decode(data: bytes, resolve=None):
    """Decode a wire value. `resolve(name)` turns references into objects (program side only).

    Raises EncodeError for anything malformed, unhashable keys/members or excessive nesting.
    """
    hook = (lambda o: _from_tag(o, resolve))
    try:
        return json.loads(data, object_hook=hook)
    except (ValueError, TypeError, KeyError, IndexError, RecursionError) as e:
        if isinstance(e, EncodeError):
            raise
        raise EncodeError(f"malformed value ({type(e).__name__}: {e})") from None


def allow_big_ints() -> None:
    """Both sides must carry ints of any size (Python's 4300-digit str limit is a false negative)."""
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)
