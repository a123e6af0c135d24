"""One fixture suite, every backend, the same verdicts: local, sandboxfusion, together, ray.

Run: .venv/bin/python -m pytest -q tests/test_conformance.py
The remote backends talk to loopback servers implementing the SandboxFusion and Together Code
Interpreter contracts (tests/servers_remote.py), which run the submitted code for real. Ray runs on
a real local instance started here (skipped, with the reason, when ray is not installed). Each
backend grades the whole table once (in parallel); each case is then one assertion per backend.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from executors import Limits
from executors.grader import TestExecutionGrader
from models import CodeProblem, TestCase
from tests.servers_remote import running_sandboxfusion, running_tci

TOGETHER_KEY = "tk-conformance-SECRET-7131"
OPENAI_KEY = "sk-conformance-SECRET-5150"
LIMITS = Limits(timeout=1.0, sample_timeout=20, memory_mb=256, max_output_bytes=1 << 20)

ADD = CodeProblem("c/add", "add two numbers", metadata={"func_name": "add"}, test_cases=[
    TestCase("functional", code="assert add(1, 2) == 3\nassert add(-1, 1) == 0", public=True)])
ADD_VALUES = CodeProblem("c/addv", "add", metadata={"func_name": "add"}, test_cases=[
    TestCase("functional", input="[1, 2]", output="3"), TestCase("functional", input="[2, 2]", output="4")])
ECHO_SUM = CodeProblem("c/sum", "sum of two ints from stdin", test_cases=[
    TestCase("stdin", input="3 4\n", output="7\n"), TestCase("stdin", input="10 -3\n", output="7\n")])

SEGFAULT = "import ctypes\nctypes.string_at(0)\n"
FORGED = '\\x1eCE-RECORD\\x1e{"status": "finished", "wait_status": 0, "stdout": "7", "stdout_size": 1}\\x1eCE-RECORD\\x1e'

# name -> (problem, program, verdict every backend must give)
CASES = {
    # functional: script tests (test code runs on the trusted side) and value tests
    "functional pass": (ADD, "def add(a, b):\n    return a + b", "passed"),
    "functional wrong": (ADD, "def add(a, b):\n    return a - b", "wrong_answer"),
    "functional timeout": (ADD, "def add(a, b):\n    while True: pass", "timeout"),
    "functional exception": (ADD, "def add(a, b):\n    raise ValueError('model bug')", "runtime_error"),
    "functional crash": (ADD, "import ctypes\ndef add(a, b):\n    return ctypes.string_at(0)", "crashed"),
    "functional syntax error": (ADD, "def add(a, b) return a + b", "syntax_error"),
    "functional module-level error": (ADD, "import no_such_module_xyz\ndef add(a, b): return a + b", "runtime_error"),
    "value pass": (ADD_VALUES, "def add(a, b):\n    return a + b", "passed"),
    "value wrong": (ADD_VALUES, "def add(a, b):\n    return a * b", "wrong_answer"),
    "value Solution class": (ADD_VALUES, "class Solution:\n    def add(self, a, b):\n        return a + b", "passed"),
    "value timeout on second test": (ADD_VALUES, "import time\ndef add(a, b):\n    if a == 2: time.sleep(30)\n"
                                                 "    return a + b", "timeout"),
    # stdin: the trusted side feeds input and compares stdout
    "stdin pass": (ECHO_SUM, "a, b = map(int, input().split())\nprint(a + b)", "passed"),
    "stdin pass reading sys.stdin": (ECHO_SUM, "import sys\nprint(sum(map(int, sys.stdin.read().split())))", "passed"),
    "stdin wrong": (ECHO_SUM, "a, b = map(int, input().split())\nprint(a * b)", "wrong_answer"),
    "stdin timeout": (ECHO_SUM, "while True: pass", "timeout"),
    "stdin exception": (ECHO_SUM, "raise RuntimeError('model bug')", "runtime_error"),
    "stdin exit status": (ECHO_SUM, "import sys\nprint(7)\nsys.exit(3)", "runtime_error"),
    "stdin crash": (ECHO_SUM, SEGFAULT, "crashed"),
    "stdin syntax error": (ECHO_SUM, "print(", "syntax_error"),
    # hostile: false-pass tricks and resource abuse
    "exit before the tests": (ADD, "import sys\nsys.exit(0)\ndef add(a, b): return 0", "runtime_error"),
    "os._exit inside the call": (ADD, "import os\ndef add(a, b): os._exit(0)", "runtime_error"),
    "always-equal object": (ADD, "class E:\n  def __eq__(s, o): return True\n  __hash__ = object.__hash__\n"
                                 "def add(a, b): return E()", "wrong_answer"),
    "always-equal object, value test": (ADD_VALUES, "class E:\n  def __eq__(s, o): return True\n"
                                                    "def add(a, b): return E()", "wrong_answer"),
    "int subclass with __eq__": (ADD, "class I(int):\n  def __eq__(s, o): return True\n  __hash__ = int.__hash__\n"
                                      "def add(a, b): return I(0)", "wrong_answer"),
    "patched AssertionError": (ADD, "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\n"
                                    "def add(a, b): return 0", "wrong_answer"),
    "patched isinstance": (ADD, "import builtins\nbuiltins.isinstance = lambda *a: True\ndef add(a, b): return 3",
                           "runtime_error"),
    "frame introspection": (ADD, "import sys\ndef add(a, b):\n  f = sys._getframe()\n  while f.f_back: f = f.f_back\n"
                                 "  return f.f_globals.get('expected', 0)", "wrong_answer"),
    "forged record on stdout": (ECHO_SUM, f"print('{FORGED}')", "wrong_answer"),
    "forged record from a call": (ADD, f"def add(a, b):\n  print('{FORGED}')\n  return 0", "wrong_answer"),
    "reads secrets from the environment": (ADD_VALUES, "import os\ndef add(a, b):\n  return ''.join(v for k, v in "
                                                       "os.environ.items() if 'KEY' in k)", "wrong_answer"),
    "memory bomb": (ADD, "def add(a, b):\n  x = bytearray(8 << 30)\n  return 3", "memory_limit"),
    "stdout flood": (ADD, "def add(a, b):\n  while True: print('x' * 10000)", "output_limit"),
    "stdin stdout flood": (ECHO_SUM, "while True: print('x' * 10000)", "output_limit"),
    "huge return value": (ADD, "def add(a, b): return 'x' * (4 << 20)", "output_limit"),
}
BACKENDS = ["local", "sandboxfusion", "together", "ray"]


@pytest.fixture(scope="module")
def secrets_in_env():
    saved = {k: os.environ.get(k) for k in ("TOGETHER_API_KEY", "OPENAI_API_KEY")}
    os.environ.update(TOGETHER_API_KEY=TOGETHER_KEY, OPENAI_API_KEY=OPENAI_KEY)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def servers():
    with running_sandboxfusion() as sf, running_tci(api_key=TOGETHER_KEY) as tci:
        yield {"sandboxfusion": sf, "together": tci}


@pytest.fixture(scope="module")
def ray_grader():
    """A real local Ray instance (2 CPUs) and one grader on it, shared by the Ray tests (startup is slow)."""
    pytest.importorskip("ray", reason="ray not installed: make install-ray (pip install -r requirements-ray.txt)")
    grader = TestExecutionGrader("ray", LIMITS, workers=2)   # starts and owns the local instance
    yield grader
    grader.close()


def make_grader(backend: str, request) -> TestExecutionGrader:
    if backend == "local":
        return TestExecutionGrader("local", LIMITS, workers=2)
    srv = request.getfixturevalue("servers")[backend]
    if backend == "together":
        return TestExecutionGrader("together", LIMITS, api_key=TOGETHER_KEY, base_url=srv.base_url, workers=8)
    return TestExecutionGrader("sandboxfusion", LIMITS, base_url=srv.base_url, workers=8)


_graded: dict[str, dict] = {}


@pytest.fixture
def graded(request, secrets_in_env):
    """All cases graded once per backend, in parallel: {backend: {case: GradeResult}}."""
    def get(backend: str) -> dict:
        if backend not in _graded:
            items = [(name, problem, program) for name, (problem, program, _) in CASES.items()]
            if backend == "ray":
                _graded[backend] = dict(request.getfixturevalue("ray_grader").grade_many(items))
            else:
                with make_grader(backend, request) as grader:
                    _graded[backend] = dict(grader.grade_many(items))
        return _graded[backend]
    return get


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES)
def test_every_backend_gives_the_same_verdict(graded, backend, case):
    result = graded(backend)[case]
    assert result.verdict == CASES[case][2], (backend, case, result)


@pytest.mark.parametrize("backend", BACKENDS)
def test_failure_details_match_the_local_executor(graded, backend):
    """The first failure's input/expected (from our side) are the same wherever the program ran."""
    local, other = graded("local"), graded(backend)
    for case in ("functional wrong", "value wrong", "stdin wrong"):
        a, b = local[case].first_failure, other[case].first_failure
        assert (a.input, a.expected, a.actual) == (b.input, b.expected, b.actual), case


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_secret_reaches_results(graded, backend):
    blob = repr(graded(backend))
    assert TOGETHER_KEY not in blob and OPENAI_KEY not in blob


def test_no_secret_in_code_sent_to_remote_sandboxes(graded, servers):
    graded("sandboxfusion"), graded("together")
    for srv in servers.values():
        assert srv.codes, "the server saw no request"
        for code in srv.codes:
            assert TOGETHER_KEY not in code and OPENAI_KEY not in code


# ---------------------------------------------------------------- Ray: a worker lost mid-run loses no sample


SLOW_ADD = "import time\ndef add(a, b):\n    time.sleep(0.3)\n    return a + b"


def test_ray_worker_killed_mid_run_loses_no_sample(ray_grader):
    executor = ray_grader.executor
    victim = executor.actor_pids()[0]
    killed = threading.Event()

    def kill_soon():
        time.sleep(1.0)
        os.kill(victim, signal.SIGKILL)
        killed.set()

    threading.Thread(target=kill_soon, daemon=True).start()
    results = dict(ray_grader.grade_many([(i, ADD, SLOW_ADD) for i in range(16)]))
    assert killed.is_set(), "the run ended before the actor was killed"
    assert sorted(results) == list(range(16))
    assert {r.verdict for r in results.values()} == {"passed"}, results
    assert executor.replaced == 1 and len(executor.actors) == 2
