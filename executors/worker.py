"""A warm worker: the trusted side of every test, and the zygote that forks the untrusted children.

Started by executors/local.py as `python -m executors.worker UID ISOLATE` with a scrubbed
environment (so no secret is even in its memory for a child to find). It enters its namespaces
once (executors/sandbox.py), then serves jobs read from stdin (length-prefixed pickles from the
trusted parent) and writes one GradeResult per job.

For each sample it forks a fresh child, which locks itself into the sandbox and only then runs the
program. Functional tests: the child defines the program and answers calls over a pipe in the
restricted encoding (executors/protocol.py); test code and comparisons run here, never there.
stdin tests: one child per test; input goes in on a memfd, stdout comes back on a memfd, and the
comparison happens here. Expected outputs never enter a child.
"""
from __future__ import annotations

import ast
import builtins
import gc
import os
import pickle
import select
import signal
import struct
import sys
import time
import traceback

from executors import (CRASHED, HARNESS_ERROR, MEMORY_LIMIT, OUTPUT_LIMIT, PASSED, RUNTIME_ERROR,
                       SYNTAX_ERROR, TIMEOUT, WRONG_ANSWER, GradeResult, Limits, TestOutcome)
from executors import program as program_side
from executors import protocol, sandbox
from executors.compare import stdout_matches, values_equal
from executors.literals import parse_literal

# Modules programs commonly import, loaded once per worker so each forked child starts warm.
WARM_MODULES = ("bisect", "collections", "copy", "datetime", "decimal", "fractions", "functools", "hashlib",
                "heapq", "io", "itertools", "json", "math", "operator", "random", "re", "statistics", "string",
                "typing", "threading", "dataclasses", "array", "queue", "numbers", "string", "unittest")

SHOW = 300          # characters of input / expected / actual kept in a TestOutcome
TB_LINES = 6        # last traceback lines kept
_FRAME = struct.Struct("<I")


class Deadline(Exception):
    """The test's or the sample's wall-clock budget ran out."""


class ChildGone(Exception):
    """The program's process ended (or was killed) while we waited for it."""

    def __init__(self, verdict: str, message: str, traceback_text: str = ""):
        super().__init__(message)
        self.verdict, self.message, self.traceback = verdict, message, traceback_text


class CandidateRaised(Exception):
    """An exception the program raised inside a call; subclasses mirror builtin exception types so
    that test code can catch e.g. ValueError as the dataset intends."""
    remote_type = "Exception"
    remote_traceback = ""


def _short(text, n: int = SHOW) -> str:
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= n else text[:n] + f"... [{len(text) - n} more chars]"


# ---------------------------------------------------------------- framing


def write_frame(fd: int, payload: bytes) -> None:
    data = _FRAME.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int, wait) -> bytes:
    chunks, got = [], 0
    while got < n:
        wait()
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, wait=lambda: None, cap: int = 1 << 62) -> bytes:
    (n,) = _FRAME.unpack(_read_exact(fd, _FRAME.size, wait))
    if n > cap:
        raise OverflowError(n)
    return _read_exact(fd, n, wait)


# ---------------------------------------------------------------- the untrusted child
# What runs the program is executors/program.py, shared with the remote backends; here only the
# channel: requests on fd 3, messages on fd 4.


def _send(msg: dict) -> None:
    try:
        payload = protocol.encode(msg)
    except protocol.EncodeError as e:
        payload = protocol.encode({"unencodable": str(e)})
    try:
        write_frame(4, payload)
    except OSError:
        pass


def _receive(resolve):
    return protocol.decode(read_frame(3), resolve=resolve)


# ---------------------------------------------------------------- forking


class Child:
    """Handle on one forked, sandboxed program run."""

    def __init__(self, worker: "Worker", mode: str, program: str, stdin: bytes = b"", setup: str = ""):
        box, limits = worker.box, worker.limits
        self.scratch_host, scratch_in = sandbox.make_scratch(box)
        self.limits = limits
        self.out = os.memfd_create("stdout")
        self.err = os.memfd_create("stderr")
        inp = os.memfd_create("stdin")
        os.write(inp, stdin) if stdin else None
        os.lseek(inp, 0, os.SEEK_SET)
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        baseline = sandbox.baseline_address_space()
        sandbox.new_pid_namespace(box)
        gc.freeze()  # the child's collector then never walks (and copies) the worker's objects
        self.pid = os.fork()
        if self.pid == 0:
            self._become_program(box, scratch_in, mode, program, setup, [inp, self.out, self.err, req_r, resp_w],
                                 baseline)
        for fd in (inp, req_r, resp_w):
            os.close(fd)
        self.pidfd = os.pidfd_open(self.pid)
        self.status = None

    def _become_program(self, box, scratch, mode, program, setup, fds, baseline) -> None:
        try:
            high = [os.dup(fd) + 0 for fd in fds]  # move out of the way before dup2 into 0..4
            high = [_fd_above(fd, 20) for fd in high]
            for target, fd in enumerate(high):
                os.dup2(fd, target)
            sandbox.close_fds_from(5)
            lim = self.limits
            sandbox.prepare_child(box, scratch, sandbox.ChildLimits(
                memory_bytes=lim.memory_mb << 20, cpu_seconds=lim.cpu_seconds or int(lim.sample_timeout) + 2,
                file_bytes=max(lim.max_file_bytes, lim.max_output_bytes) + 1,
                processes=lim.max_processes, open_files=lim.max_open_files), baseline)
            if os.environ.get("HOME") != scratch:  # set once in the worker when the path is fixed
                os.environ.clear()
                os.environ.update(sandbox.child_env(scratch))
            signal.setitimer(signal.ITIMER_REAL, 0)
            for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
        except BaseException as e:  # noqa: BLE001 - the sandbox could not be entered: run nothing
            _send({"harness_error": f"sandbox set-up failed: {type(e).__name__}: {e}"})
            os._exit(111)
        if mode == "stdin":
            program_side.run_script(program, _send)
        program_side.serve_calls(program, setup, _receive, _send)

    # -- talking to the program

    def send(self, msg: dict) -> None:
        try:
            write_frame(self.req_w, protocol.encode(msg))
        except BrokenPipeError:
            raise self.gone()

    def receive(self, deadline: float) -> dict:
        def wait():
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline
            ready = select.select([self.resp_r], [], [], left)[0]
            if not ready:
                raise Deadline
        try:
            raw = read_frame(self.resp_r, wait, cap=self.limits.max_output_bytes)
        except EOFError:
            raise self.gone()
        except OverflowError:
            self.kill()
            raise ChildGone(OUTPUT_LIMIT, f"return value larger than {self.limits.max_output_bytes} bytes")
        try:
            return protocol.decode(raw)
        except protocol.EncodeError as e:
            return {"unencodable": str(e)}

    def wait_exit(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.pidfd], [], [], left)[0]:
            self.kill()
            raise Deadline
        self._reap()

    def _reap(self) -> int:
        if self.status is None:
            self.status = os.waitpid(self.pid, 0)[1]
        return self.status

    def kill(self) -> None:
        if self.status is None:
            for kill in (os.kill, os.killpg):
                try:
                    kill(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self._reap()

    def gone(self) -> ChildGone:
        """Why the program stopped answering: exit, signal, or a limit."""
        select.select([self.pidfd], [], [], 1.0)
        if self.status is None and not select.select([self.pidfd], [], [], 0)[0]:
            self.kill()
        status = self._reap()
        stdout_size = os.fstat(self.out).st_size
        tail = self.stderr_tail()
        if stdout_size > self.limits.max_output_bytes or self.stderr_size() > self.limits.max_output_bytes:
            return ChildGone(OUTPUT_LIMIT, f"output over {self.limits.max_output_bytes} bytes", tail)
        return ChildGone(*_exit_verdict(status, tail), tail)

    def stdout(self) -> tuple[str, int]:
        size = os.fstat(self.out).st_size
        data = os.pread(self.out, min(size, self.limits.max_output_bytes + 1), 0)
        return data.decode("utf-8", errors="replace"), size

    def stderr_size(self) -> int:
        return os.fstat(self.err).st_size

    def stderr_tail(self) -> str:
        size = os.fstat(self.err).st_size
        data = os.pread(self.err, min(size, 4096), max(0, size - 4096))
        lines = data.decode("utf-8", errors="replace").rstrip().splitlines()
        return "\n".join(lines[-TB_LINES:])

    def pending_message(self) -> dict:
        """The program's last status message, if it wrote one before exiting."""
        if not select.select([self.resp_r], [], [], 0)[0]:
            return {}
        try:
            return protocol.decode(read_frame(self.resp_r, cap=1 << 20))
        except (EOFError, OverflowError, protocol.EncodeError, struct.error):
            return {}

    def close(self) -> None:
        self.kill()
        for fd in (self.out, self.err, self.req_w, self.resp_r, self.pidfd):
            try:
                os.close(fd)
            except OSError:
                pass
        _rmtree(self.scratch_host)


def _fd_above(fd: int, low: int) -> int:
    import fcntl
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, low)
    os.close(fd)
    return new


def _rmtree(path: str) -> None:
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def _exit_verdict(status: int, stderr_tail: str) -> tuple[str, str]:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU:
            return TIMEOUT, "CPU time limit exceeded"
        if sig == signal.SIGXFSZ:
            return OUTPUT_LIMIT, "file size limit exceeded"
        if "MemoryError" in stderr_tail:
            return MEMORY_LIMIT, f"killed by {name} after MemoryError"
        return CRASHED, f"killed by signal {name}"
    code = os.WEXITSTATUS(status)
    if code == 111:
        return HARNESS_ERROR, "sandbox set-up failed"
    last_line = stderr_tail.splitlines()[-1] if stderr_tail else ""
    if "MemoryError" in last_line:
        return MEMORY_LIMIT, "MemoryError"
    return RUNTIME_ERROR, f"program exited with status {code} before answering"


def _error_verdict(info: dict) -> str:
    kind = info.get("type", "")
    if kind == "MemoryError":
        return MEMORY_LIMIT
    if kind == "OSError" and "File too large" in info.get("message", ""):
        return OUTPUT_LIMIT
    return RUNTIME_ERROR


def _tb_tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-TB_LINES:])


# ---------------------------------------------------------------- the trusted side: running tests


class Remote(protocol.Ref):
    """Stands in for a name of the program's module inside trusted test code: calling it asks the
    program; passing it as an argument passes a reference."""
    __slots__ = ("_session",)

    def __init__(self, name: str, session: "Session"):
        super().__init__(name)
        self._session = session

    def __call__(self, *args, **kwargs):
        return self._session.call(self.name, args, kwargs)


class Session:
    """One functional child serving calls for all functional tests of a sample."""

    def __init__(self, worker: "Worker", program: str, setup: str, deadline: float):
        self.child = worker.spawn_child("functional", program, setup=setup)
        self.deadline = deadline
        self.last_call: tuple = ("", (), _NOTHING)   # (name, args, result): formatted only when reported
        try:
            msg = self._receive()
        except BaseException:
            self.child.close()
            raise
        if "ready" not in msg:
            self.child.close()
            raise self._startup_failure(msg)

    def _receive(self) -> dict:
        return self.child.receive(self.deadline)

    def _startup_failure(self, msg: dict) -> ChildGone:
        if "syntax_error" in msg:
            return ChildGone(SYNTAX_ERROR, msg["syntax_error"])
        if "harness_error" in msg:
            return ChildGone(HARNESS_ERROR, msg["harness_error"])
        if "error" in msg:
            info = msg["error"]
            return ChildGone(_error_verdict(info), f"{info['type']}: {info['message']}", _tb_tail(info["traceback"]))
        return ChildGone(RUNTIME_ERROR, "program did not finish loading")

    def call(self, name: str, args: tuple, kwargs: dict):
        self.last_call = (name, args, _NOTHING)
        try:
            self.child.send({"call": name, "args": list(args), "kwargs": kwargs})
        except protocol.EncodeError as e:
            raise HarnessProblem(f"test passes a non-plain argument to {name}: {e}")
        msg = self._receive()
        if "ok" in msg:
            self.last_call = (name, args, msg["ok"])
            return msg["ok"]
        if "raise" in msg:
            raise _mirror(msg["raise"])
        if "unencodable" in msg:
            raise NotPlainData(f"{name} returned something that is not plain data ({msg['unencodable']})")
        raise ChildGone(RUNTIME_ERROR, "program answered out of protocol")

    def close(self) -> None:
        self.child.close()


_NOTHING = object()


class HarnessProblem(Exception):
    """The test itself could not be carried out (our side or the dataset's)."""


class NotPlainData(Exception):
    """The program returned something that is not plain data: a wrong answer."""


_MIRRORED: dict[str, type] = {}


def _mirror(info: dict) -> CandidateRaised:
    name = info.get("type", "Exception")
    base = getattr(builtins, name, None)
    ok = isinstance(base, type) and issubclass(base, Exception) and base is not Exception
    cls = _MIRRORED.get(name)
    if cls is None:
        bases = (CandidateRaised, base) if ok else (CandidateRaised,)
        try:
            cls = type(name, bases, {})
        except TypeError:
            cls = type(name, (CandidateRaised,), {})
        _MIRRORED[name] = cls
    e = cls(info.get("message", ""))
    e.remote_type, e.remote_traceback = name, info.get("traceback", "")
    return e


def _free_names(code: str) -> set[str]:
    tree = ast.parse(code)
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return loaded - bound - set(dir(builtins))


class Worker:
    def __init__(self, uid: int, isolate: bool):
        import importlib
        for name in WARM_MODULES:
            importlib.import_module(name)
        self.box = sandbox.setup(uid, isolate)
        if self.box.jail:
            os.environ.clear()
            os.environ.update(sandbox.child_env(sandbox.JAIL_SCRATCH))
            import tempfile
            tempfile.tempdir = None  # forget the host's /tmp, cached while the jail was built
        self.init_trusted_side()

    def init_trusted_side(self) -> None:
        """State of the trusted side only; remote backends (executors/remote.py) start here, with no sandbox."""
        self.limits = Limits()
        self._code_cache: dict = {}

    # -- a whole sample

    def run_job(self, job: dict) -> GradeResult:
        self.limits = job["limits"]
        problem, program = job["problem"], job["program"]
        start = time.monotonic()
        sample_deadline = start + self.limits.sample_timeout
        outcomes: list[TestOutcome] = []
        session = None
        try:
            for index in job["tests"]:
                test = problem.test_cases[index]
                deadline = min(sample_deadline, time.monotonic() + self._timeout(problem))
                if test.type == "stdin":
                    outcome = self._stdin_test(program, test, deadline)
                else:
                    session, outcome = self._functional_test(session, problem, program, test, deadline)
                outcome.index, outcome.group, outcome.public = index, test.group, test.public
                outcomes.append(outcome)
                if outcome.verdict != PASSED:
                    if job["stop_on_failure"] or time.monotonic() >= sample_deadline:
                        break
                    if session is not None and session.child.status is not None:
                        session.close()
                        session = None
        finally:
            if session is not None:
                session.close()
        return _summarise(problem, job["tests"], outcomes, time.monotonic() - start)

    def _timeout(self, problem) -> float:
        return float(problem.metadata.get("time_limit") or self.limits.timeout)

    # -- the seam remote backends override (executors/remote.py): where programs run, how tests are timed

    def spawn_child(self, mode: str, program: str, stdin: bytes = b"", setup: str = "") -> "Child":
        return Child(self, mode, program, stdin=stdin, setup=setup)

    def arm_deadline(self, deadline: float) -> None:
        _arm(deadline)

    def disarm_deadline(self) -> None:
        _disarm()

    # -- stdin tests: one child per test

    def _stdin_test(self, program: str, test, deadline: float) -> TestOutcome:
        child = self.spawn_child("stdin", program, stdin=test.input.encode("utf-8", errors="replace"))
        t0 = time.monotonic()
        try:
            child.wait_exit(deadline)
        except Deadline:
            child.close()
            return TestOutcome(0, TIMEOUT, _short(test.input), _short(test.output), "",
                               "time limit exceeded", duration=time.monotonic() - t0)
        try:
            return self._stdin_outcome(child, test, time.monotonic() - t0)
        finally:
            child.close()

    def _stdin_outcome(self, child: Child, test, duration: float) -> TestOutcome:
        out, size = child.stdout()
        tail = child.stderr_tail()
        msg = child.pending_message()
        shown = dict(input=_short(test.input), expected=_short(test.output), actual=_short(out),
                     duration=duration)
        if size > self.limits.max_output_bytes or child.stderr_size() > self.limits.max_output_bytes:
            return TestOutcome(0, OUTPUT_LIMIT, message=f"output over {self.limits.max_output_bytes} bytes", **shown)
        if "syntax_error" in msg:
            return TestOutcome(0, SYNTAX_ERROR, message=msg["syntax_error"], **shown)
        if "harness_error" in msg:
            return TestOutcome(0, HARNESS_ERROR, message=msg["harness_error"], **shown)
        if "error" in msg:
            info = msg["error"]
            return TestOutcome(0, _error_verdict(info), message=f"{info['type']}: {info['message']}",
                               traceback=_tb_tail(info["traceback"]), **shown)
        status = child.status
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            verdict, message = _exit_verdict(status, tail)
            if verdict == RUNTIME_ERROR:
                message = f"program exited with status {os.WEXITSTATUS(status)}"
            return TestOutcome(0, verdict, message=message, traceback=tail, **shown)
        if stdout_matches(out, test.output):
            return TestOutcome(0, PASSED, duration=duration)
        return TestOutcome(0, WRONG_ANSWER, message="wrong output", **shown)

    # -- functional tests: one child per sample, test code here

    def _functional_test(self, session, problem, program, test, deadline):
        t0 = time.monotonic()
        try:
            if session is None:
                session = Session(self, program, problem.metadata.get("setup_code") or "", deadline)
            session.deadline = deadline
            outcome = self._functional_body(session, problem, test, deadline)
        except ChildGone as e:
            if session is None:
                return None, TestOutcome(0, e.verdict, _short(test.input or test.code), _short(test.output),
                                         message=e.message, traceback=e.traceback,
                                         duration=time.monotonic() - t0)
            outcome = TestOutcome(0, e.verdict, message=e.message, traceback=e.traceback)
            self._fill_call(outcome, session, test)
        except Deadline:
            if session is not None:
                session.child.kill()
            outcome = TestOutcome(0, TIMEOUT, message="time limit exceeded")
            if session is not None:
                self._fill_call(outcome, session, test)
            else:
                outcome.input = _short(test.input or test.code)
        outcome.duration = time.monotonic() - t0
        return session, outcome

    def _fill_call(self, outcome: TestOutcome, session: Session, test) -> None:
        name, args, result = session.last_call
        call = f"{name}({', '.join(map(_short, args))})" if name else ""
        result = "" if result is _NOTHING else repr(result)
        outcome.input = outcome.input or _short(call or test.input)
        outcome.expected = outcome.expected or _short(test.output)
        outcome.actual = outcome.actual or _short(result)

    def _functional_body(self, session: Session, problem, test, deadline: float) -> TestOutcome:
        self.arm_deadline(deadline)
        try:
            if test.code:
                return self._script_test(session, problem, test)
            return self._value_test(session, problem, test)
        except CandidateRaised as e:
            return self._outcome_from(session, test, RUNTIME_ERROR, f"{e.remote_type}: {e}",
                                      _tb_tail(e.remote_traceback))
        except NotPlainData as e:
            return self._outcome_from(session, test, WRONG_ANSWER, str(e))
        except HarnessProblem as e:
            return self._outcome_from(session, test, HARNESS_ERROR, str(e))
        finally:
            self.disarm_deadline()

    def _outcome_from(self, session, test, verdict, message, tb="") -> TestOutcome:
        if verdict == RUNTIME_ERROR:
            kind, _, text = message.partition(": ")
            verdict = _error_verdict({"type": kind, "message": text})
        outcome = TestOutcome(0, verdict, message=message, traceback=tb)
        self._fill_call(outcome, session, test)
        return outcome

    def _value_test(self, session: Session, problem, test) -> TestOutcome:
        args, expected = self._cached(("literal", test.input, test.output), lambda: _parse_value_test(test))
        actual = Remote(problem.func_name, session)(*args)
        meta = problem.metadata
        if values_equal(actual, expected, meta.get("atol"), bool(meta.get("loose_sequences"))):
            return TestOutcome(0, PASSED)
        return TestOutcome(0, WRONG_ANSWER, _short(test.input), _short(test.output), _short(repr(actual)),
                           "wrong return value")

    def _script_test(self, session: Session, problem, test) -> TestOutcome:
        ns = self._test_namespace(problem, test.code, session)
        try:
            exec(self._compiled(test.code, "<test>"), ns)
        except (CandidateRaised, NotPlainData, HarnessProblem, ChildGone, Deadline):
            raise
        except AssertionError as e:
            return self._script_failure(session, test, e, "assertion failed")
        except Exception as e:  # noqa: BLE001 - the test tripped over the program's answer
            return self._script_failure(session, test, e, f"test raised {type(e).__name__}: {e}")
        return TestOutcome(0, PASSED)

    def _script_failure(self, session, test, e: BaseException, message: str) -> TestOutcome:
        line = _failing_line(e, test.code)
        if isinstance(e, AssertionError):
            message = f"assertion failed: {e or line}"
        outcome = TestOutcome(0, WRONG_ANSWER, expected=_short(line), message=_short(message))
        self._fill_call(outcome, session, test)
        return outcome

    def _test_namespace(self, problem, code: str, session: Session) -> dict:
        prelude = problem.metadata.get("test_prelude") or ""
        ns = {"__name__": "__test__"}
        if prelude:
            try:
                exec(self._compiled(prelude, "<prelude>"), ns)
            except Exception as e:  # noqa: BLE001
                raise HarnessProblem(f"dataset prelude failed: {type(e).__name__}: {e}")
        names = self._free_names(code) - set(ns)
        if problem.func_name:
            names.add(problem.func_name)
        for name in names:
            ns[name] = Remote(name, session)
        return ns

    def _free_names(self, code: str) -> set[str]:
        return set(self._cached(("names", code), lambda: _free_names(code)))

    def _compiled(self, code: str, filename: str):
        """Dataset test code is compiled once per worker, not once per sample."""
        return self._cached((filename, code), lambda: compile(code, filename, "exec"))

    def _cached(self, key, make):
        value = self._code_cache.get(key)
        if value is None:
            if len(self._code_cache) > 4096:
                self._code_cache.clear()
            value = self._code_cache[key] = make()
        return value


def _parse_value_test(test) -> tuple[list, object]:
    """(arguments, expected) of a value test; parsed once per worker (HumanEval+ has 1,000 per problem)."""
    try:
        args = parse_literal(test.input)
        expected = parse_literal(test.output)
    except ValueError as e:
        raise HarnessProblem(f"test data is not a Python literal: {e}")
    return (list(args) if isinstance(args, (list, tuple)) else [args]), expected


def _failing_line(e: BaseException, code: str) -> str:
    lineno = None
    for frame, line in traceback.walk_tb(e.__traceback__):
        if frame.f_code.co_filename == "<test>":
            lineno = line
    lines = code.splitlines()
    return lines[lineno - 1].strip() if lineno and lineno <= len(lines) else ""


def _on_alarm(signum, frame):
    raise Deadline


def _arm(deadline: float) -> None:
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 0.001))


def _disarm() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)


def _summarise(problem, indices, outcomes: list[TestOutcome], duration: float) -> GradeResult:
    failed = next((o for o in outcomes if o.verdict != PASSED), None)
    verdict = failed.verdict if failed else PASSED
    if not failed and len(outcomes) < len(indices):
        verdict = HARNESS_ERROR
    groups: dict[str, bool] = {}
    ran = {o.index: o.verdict == PASSED for o in outcomes}
    for i in indices:
        g = problem.test_cases[i].group
        if g:
            groups[g] = groups.get(g, True) and ran.get(i, False)
    kept = [o for o in outcomes if o.verdict != PASSED][:1] if len(outcomes) > 50 else outcomes
    return GradeResult(verdict=verdict, tests_total=len(indices),
                       tests_passed=sum(o.verdict == PASSED for o in outcomes),
                       outcomes=kept, groups=groups, duration=duration,
                       message=failed.message if failed else "")


# ---------------------------------------------------------------- serving the parent


def serve(uid: int, isolate: bool) -> None:
    protocol.allow_big_ints()
    inp, out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    # sys.stdin/stdout/stderr stay wrapped around fds 0-2, which each child points at its own memfds;
    # the worker itself never writes to them, so their buffers are empty when a child inherits them
    sys.stdin.reconfigure(errors="replace")
    sys.stdout.reconfigure(errors="backslashreplace")
    import models  # noqa: F401 - jobs unpickle into its classes; import before any namespace is entered
    worker = Worker(uid, isolate)
    write_frame(out, pickle.dumps({"layers": worker.box.layers, "missing": worker.box.missing,
                                   "jail": worker.box.jail}))
    problems: dict = {}   # mirrors the parent's WorkerProcess.sent: each problem crosses once
    while True:
        try:
            job = pickle.loads(read_frame(inp))
        except EOFError:
            return
        try:
            if job["problem"] is not None:
                problems[job["problem_id"]] = job["problem"]
                if len(problems) > 512:
                    problems = {job["problem_id"]: job["problem"]}
            job["problem"] = problems[job["problem_id"]]
            result = worker.run_job(job)
        except Exception as e:  # noqa: BLE001 - our bug: report it, keep serving
            result = GradeResult(HARNESS_ERROR, message=f"worker error: {type(e).__name__}: {e}")
        write_frame(out, pickle.dumps(result))


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2] == "1")
