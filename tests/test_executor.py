"""The sandbox against hostile programs: every trick fails with the right verdict and the host stays clean.

Run: .venv/bin/python -m pytest -q tests/test_executor.py
Each program runs in the real executor (forked children in namespaces, rlimits) — nothing is mocked.
"""
from __future__ import annotations

import os
import socket
import subprocess
import threading

import pytest

from executors import Limits
from executors.grader import TestExecutionGrader
from models import CodeProblem, TestCase

SECRET = "sk-test-SECRET-4242"

ADD = CodeProblem("t/add", "add two numbers", metadata={"func_name": "add"}, test_cases=[
    TestCase("functional", code="assert add(1, 2) == 3\nassert add(-1, 1) == 0", public=True)])
ADD_VALUES = CodeProblem("t/addv", "add", metadata={"func_name": "add"}, test_cases=[
    TestCase("functional", input="[1, 2]", output="3"), TestCase("functional", input="[2, 2]", output="4")])
ECHO_SUM = CodeProblem("t/sum", "sum of two ints from stdin", test_cases=[
    TestCase("stdin", input="3 4\n", output="7\n"), TestCase("stdin", input="10 -3\n", output="7\n")])


@pytest.fixture(scope="module")
def grader():
    os.environ["OPENAI_API_KEY"] = SECRET  # the evaluator's own environment holds a secret
    g = TestExecutionGrader(limits=Limits(timeout=3, sample_timeout=8, memory_mb=256), workers=2)
    yield g
    g.close()
    os.environ.pop("OPENAI_API_KEY", None)


def sandbox_processes(grader) -> list[str]:
    uids = {str(u) for u in grader.executor.uids}
    out = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[0] in uids]


def grade(grader, problem, program):
    result = grader.grade(problem, program)
    assert sandbox_processes(grader) == [], "a sandboxed process outlived its sample"
    blob = repr(result)
    assert SECRET not in blob
    return result


# ---------------------------------------------------------------- false-pass tricks

FAKE_PASSES = {
    "exit before the tests": "import sys\nsys.exit(0)\ndef add(a, b): return 0",
    "os._exit inside the call": "import os\ndef add(a, b): os._exit(0)",
    "always-equal object": "class E:\n  def __eq__(s, o): return True\n  __hash__ = object.__hash__\n"
                           "def add(a, b): return E()",
    "int subclass with __eq__": "class I(int):\n  def __eq__(s, o): return True\n  __hash__ = int.__hash__\n"
                                "def add(a, b): return I(0)",
    "patched builtins": "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\n"
                        "builtins.isinstance = lambda *a: True\ndef add(a, b): return 0",
    "frame introspection": "import sys\ndef add(a, b):\n  f = sys._getframe()\n  while f.f_back: f = f.f_back\n"
                           "  return f.f_globals.get('expected', 0)",
    "forged protocol frame": "import os, struct\ndef add(a, b):\n  os.write(4, struct.pack('<I', 9) + b'{\"ok\":3}')"
                             "\n  return 0",
    "raise AssertionError-proof SystemExit": "def add(a, b): raise SystemExit(0)",
    "reads the test data": "def add(a, b):\n  import glob\n  for p in glob.glob('/work/**/*.jsonl*', recursive=True):"
                           "\n    return open(p).read()\n  return 0",
}


@pytest.mark.parametrize("name", FAKE_PASSES)
def test_fake_pass_tricks_never_pass(grader, name):
    r = grade(grader, ADD, FAKE_PASSES[name])
    assert not r.passed, r
    assert r.verdict in ("wrong_answer", "runtime_error"), r


def test_always_equal_object_fails_value_tests_too(grader):
    r = grade(grader, ADD_VALUES, FAKE_PASSES["always-equal object"])
    assert r.verdict == "wrong_answer" and "not plain data" in r.message


def test_stdin_program_that_prints_nothing_and_exits_zero_is_wrong(grader):
    r = grade(grader, ECHO_SUM, "import os\nos._exit(0)")
    assert r.verdict == "wrong_answer"


# ---------------------------------------------------------------- resource abuse

ABUSE = {
    "infinite loop": ("def add(a, b):\n  while True: pass", "timeout"),
    "sleep": ("import time\ndef add(a, b): time.sleep(60)", "timeout"),
    "memory bomb": ("def add(a, b):\n  x = bytearray(8 << 30)\n  return 3", "memory_limit"),
    "growing list": ("def add(a, b):\n  x = []\n  while True: x.append(' ' * 10**6)", "memory_limit"),
    "stdout flood": ("def add(a, b):\n  while True: print('x' * 10000)", "output_limit"),
    "huge return value": ("def add(a, b): return 'x' * (64 << 20)", "output_limit"),
    "file bomb": ("def add(a, b):\n  with open('big', 'wb') as f:\n    while True: f.write(b'x' * 10**6)",
                  "output_limit"),
    "segfault": ("import ctypes\ndef add(a, b): return ctypes.string_at(0)", "crashed"),
    # PID 1 of its namespace: the kernel ignores its own SIGKILL, so the call just returns None
    "kill own group": ("import os, signal\ndef add(a, b): os.kill(0, signal.SIGKILL)", "wrong_answer"),
    "kill everything": ("import os, signal\ndef add(a, b): os.kill(-1, signal.SIGKILL); return 3", "runtime_error"),
    "kill the parent": ("import os, signal\ndef add(a, b):\n  os.kill(os.getppid() or 1, signal.SIGKILL)\n  return 0",
                        "wrong_answer"),
    "recursion": ("def add(a, b): return add(a, b)", "runtime_error"),
    "syntax": ("def add(a, b) return a + b", "syntax_error"),
}


@pytest.mark.parametrize("name", ABUSE)
def test_resource_abuse_gets_its_verdict(grader, name):
    program, verdict = ABUSE[name]
    r = grade(grader, ADD, program)
    assert r.verdict == verdict, r


def test_fork_bomb_is_contained(grader):
    r = grade(grader, ADD, "import os\ndef add(a, b):\n  while True:\n    try: os.fork()\n    except OSError: pass")
    assert r.verdict in ("timeout", "runtime_error", "crashed")


def test_double_forked_daemon_dies_with_the_sample(grader, tmp_path):
    program = ("import os, time\ndef add(a, b):\n  if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
               "      time.sleep(30)\n    os._exit(0)\n  time.sleep(0.2)\n  return a + b")
    r = grade(grader, ADD, program)  # grade() asserts no sandbox process is left
    assert r.passed


def test_stdin_tests_time_out_and_crash_per_test(grader):
    assert grade(grader, ECHO_SUM, "while True: pass").verdict == "timeout"
    assert grade(grader, ECHO_SUM, "import ctypes\nctypes.string_at(0)").verdict == "crashed"
    assert grade(grader, ECHO_SUM, "print('y' * (20 << 20))").verdict == "output_limit"


# ---------------------------------------------------------------- host probes


def test_writes_outside_scratch_do_not_reach_the_host(grader, tmp_path):
    targets = [str(tmp_path / "pwned"), "/tmp/pwned-by-sandbox", os.path.abspath("pwned")]
    program = ("def add(a, b):\n  for p in %r:\n    try: open(p, 'w').write('x')\n    except OSError: pass\n"
               "  return a + b" % (targets,))
    assert grade(grader, ADD, program).passed
    assert not any(os.path.exists(p) for p in targets)


def test_host_files_are_not_readable(grader):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    probe = ("def add(a, b):\n  import os\n  seen = [p for p in (%r, %r, '/root/.ssh', '/proc/1/environ', '/etc/shadow', "
             "'/home', '/etc/passwd') if os.path.exists(p)]\n  return a + b if not seen else str(seen)"
             % (os.path.join(repo, "models.py"), os.path.join(os.path.dirname(repo), "shared")))
    r = grade(grader, ADD, probe)
    assert r.passed, r.first_failure


@pytest.mark.parametrize("how", ["os.environ", "/proc/self/environ", "memory scan"])
def test_secrets_do_not_reach_the_program(grader, how):
    reads = {
        "os.environ": "str(dict(__import__('os').environ))",
        "/proc/self/environ": "open('/proc/self/environ').read()",
        "memory scan": "__import__('gc').get_objects().__repr__()",
    }
    # the secret is spelled as character codes so the program text itself does not contain it
    program = f"def add(a, b):\n  try:\n    s = {reads[how]}\n  except Exception as e:\n    s = repr(e)\n" \
              f"  return a + b if bytes({list(SECRET.encode())}).decode() not in s else 'leaked'"
    r = grade(grader, ADD, program)
    assert r.passed, r.first_failure


def test_no_network_connection_reaches_a_loopback_listener(grader):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        try:
            accepted.append(server.accept())
        except OSError:
            pass
    t = threading.Thread(target=accept)
    t.start()
    program = ("import socket\ndef add(a, b):\n  try:\n    socket.create_connection(('127.0.0.1', %d), timeout=1)\n"
               "  except OSError:\n    return a + b\n  return 'connected'" % port)
    r = grade(grader, ADD, program)
    t.join()
    server.close()
    assert r.passed and accepted == []


# ---------------------------------------------------------------- unusual but correct programs

CONTROLS = {
    "prints": "def add(a, b):\n  print('debug', a, b)\n  return a + b",
    "deep recursion": "import sys\nsys.setrecursionlimit(100000)\ndef depth(n): return 0 if n == 0 else 1 + depth(n - 1)\n"
                      "def add(a, b): return a + b + depth(20000) - 20000",
    "threads": "from concurrent.futures import ThreadPoolExecutor\ndef add(a, b):\n"
               "  with ThreadPoolExecutor(4) as ex: return sum(ex.map(lambda x: x, [a, b]))",
    "temp files": "import tempfile, os\ndef add(a, b):\n  with tempfile.NamedTemporaryFile('w+') as f:\n"
                  "    f.write(str(a + b)); f.flush(); f.seek(0); r = int(f.read())\n"
                  "  open('here.txt', 'w').write('ok')\n  return r",
    "reads empty stdin": "import sys\ndata = sys.stdin.read()\ndef add(a, b): return a + b + len(data)",
    "numpy scalar": "import numpy as np\ndef add(a, b): return np.int64(a) + np.int64(b)",
    "huge int": "def add(a, b): return a + b + 10**5000 - 10**5000",
    "main guard": "def add(a, b): return a + b\nif __name__ == '__main__':\n  print(add(input(), 1))",
}


@pytest.mark.parametrize("name", CONTROLS)
def test_unusual_correct_programs_pass(grader, name):
    r = grade(grader, ADD, CONTROLS[name])
    assert r.passed, r


def test_stdin_controls_pass(grader):
    for program in ["a, b = map(int, input().split())\nprint(a + b)",
                    "import sys\na, b = map(int, sys.stdin.buffer.read().split())\nsys.stdout.buffer.write(b'%d\\n' % (a + b))",
                    "import sys\na, b = map(int, sys.stdin.readline().split())\nprint(a + b)\nsys.exit(0)",
                    "def main():\n  a, b = map(int, input().split())\n  print(a + b)\nif __name__ == '__main__':\n  main()"]:
        r = grade(grader, ECHO_SUM, program)
        assert r.passed, (program, r)


def test_evaluator_survives_and_grades_everything_after_abuse(grader):
    items = [(i, ADD, prog) for i, (prog, _) in enumerate(ABUSE.values())]
    items += [(100, ADD, "def add(a, b): return a + b")]
    results = dict(grader.grade_many(items))
    assert len(results) == len(items) and results[100].passed
    assert sandbox_processes(grader) == []


def test_failure_details_name_the_input_expected_and_actual(grader):
    r = grade(grader, ADD_VALUES, "def add(a, b): return a * b")
    f = r.first_failure
    assert (r.verdict, f.input, f.expected, f.actual) == ("wrong_answer", "[1, 2]", "3", "2")
    r = grade(grader, ECHO_SUM, "print(int(input().split()[0]) * 2)")
    f = r.first_failure
    assert (f.input, f.expected.strip(), f.actual.strip()) == ("3 4\n", "7", "6")
    r = grade(grader, ADD, "def add(a, b): raise ValueError('nope')")
    assert r.verdict == "runtime_error" and r.first_failure.message == "ValueError: nope"
    assert "ValueError" in r.first_failure.traceback
