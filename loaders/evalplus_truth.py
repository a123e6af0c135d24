"""Expected outputs for HumanEval+ / MBPP+: run each task's canonical solution on its inputs.

Trusted dataset code, run once in this separate process (loaders/evalplus.py starts it with a
timeout and caches the answers by the dataset file's sha256, as evalplus caches its ground truth).
Reads tasks as JSON lines on stdin, writes one JSON line per task on stdout:

    {"task_id", "code", "entry_point", "inputs": [<Python literal arg list>, ...], "not_none": bool}
 -> {"task_id", "outputs": [<repr of the return value> | null when it raised, timed out or has no literal],
     "seconds": <the slowest input's run time>}

    python -m loaders.evalplus_truth < tasks.jsonl > truth.jsonl
"""
from __future__ import annotations

import copy
import json
import resource
import signal
import sys
import time

from loaders.common import parse_literal, py_literal

PER_INPUT_SECONDS = 20
MEMORY_BYTES = 4 << 30          # evalplus's own limit; an input that needs more is dropped
MAX_CHARS = 1_000_000           # larger expected values (Mbpp/255's 1.6M combinations) exceed what the
                                # executor carries back from a candidate (Limits.max_output_bytes): dropped


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def run_task(task: dict) -> dict:
    """repr of the canonical solution's return value for each input (None when unusable), and the
    slowest input's seconds (evalplus derives its time limits from it)."""
    namespace: dict = {"__name__": "__truth__"}
    exec(compile(task["code"], task["task_id"], "exec"), namespace)
    fn = namespace[task["entry_point"]]
    outputs, slowest = [], 0.0
    for text in task["inputs"]:
        output, seconds = _one(fn, parse_literal(text), task["not_none"])
        outputs.append(output)
        if output is not None:          # a dropped input sets no time limit
            slowest = max(slowest, seconds)
    return {"task_id": task["task_id"], "outputs": outputs, "seconds": round(slowest, 3)}


def _one(fn, args, not_none: bool) -> tuple[str | dict | None, float]:
    """(the expected value's literal, or None when unusable; seconds the call took)."""
    args = copy.deepcopy(args)
    t0 = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, PER_INPUT_SECONDS)
    try:
        out = fn(*args)
    except _Timeout:
        return None, 0.0
    except (Exception, MemoryError, RecursionError):  # noqa: BLE001 - unusable input, not fatal
        return None, 0.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    seconds = time.perf_counter() - t0
    return _literal(out, not_none), seconds


def _literal(out, not_none: bool) -> str | dict | None:
    if not_none and not isinstance(out, bool):
        out = out is not None       # evalplus stores only "was there a match" for these tasks
    out = plain(out)
    if _too_big(out, [MAX_CHARS]):
        return None
    if is_literal(out):
        return py_literal(out)
    text = repr(out)
    try:                            # e.g. set(): not a literal, but fine in trusted test code
        eval(compile(text, "<repr>", "eval"), {})
        return {"code": text}
    except Exception:  # noqa: BLE001
        return None


def _too_big(x, budget: list) -> bool:
    """Rough repr size over budget? Stops walking as soon as it is."""
    if isinstance(x, (str, bytes)):
        budget[0] -= len(x) + 2
    elif isinstance(x, int):
        budget[0] -= x.bit_length() // 3 + 1      # decimal digits; a million-digit int is a megabyte
    else:
        budget[0] -= 8
    if budget[0] < 0:
        return True
    if isinstance(x, dict):
        return any(_too_big(k, budget) or _too_big(v, budget) for k, v in x.items())
    if isinstance(x, (list, tuple, set, frozenset)):
        return any(_too_big(v, budget) for v in x)
    return False


def plain(x):
    """Subclasses as their base type (Counter -> dict, namedtuple -> tuple), as the executor carries them."""
    for base in (bool, int, float, complex, str, bytes):
        if isinstance(x, base):
            return x if type(x) is base else base(x)
    if isinstance(x, dict):
        return {plain(k): plain(v) for k, v in x.items()}
    for base in (list, tuple, set, frozenset):
        if isinstance(x, base):
            return base(plain(v) for v in x)
    return x


def is_literal(x) -> bool:
    """True if py_literal(x) parses back (checked by type: parsing megabyte reprs is slow)."""
    if x is None or type(x) in (bool, int, float, complex, str, bytes):
        return True
    if type(x) in (list, tuple):
        return all(is_literal(v) for v in x)
    if type(x) is set:
        return bool(x) and all(is_literal(v) for v in x)
    if type(x) is dict:
        return all(is_literal(k) and is_literal(v) for k, v in x.items())
    return False


def main(argv=None) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    sys.set_int_max_str_digits(0)
    sys.setrecursionlimit(10000)
    signal.signal(signal.SIGALRM, _alarm)
    results, sys.stdout = sys.stdout, sys.stderr     # a solution's own prints must not corrupt the answers
    for line in sys.stdin:
        if line.strip():
            task = json.loads(line)
            results.write(json.dumps(run_task(task)) + "\n")
            results.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
