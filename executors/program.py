"""The program's side: run the untrusted program in this process, and answer calls to it.

One copy of this logic serves every backend. The local sandbox's forked child imports it
(executors/worker.py); remote backends ship this file as source to the remote sandbox
(executors/remote_driver.py). It uses the standard library only, and receives the wire codec and
the message channel as arguments, so it runs the same wherever it is exec'd.

Messages sent (plain dicts, encoded by the caller's `send`):
  {"syntax_error": "..."}                           the program does not compile
  {"error": {type, message, traceback}}             it raised while loading (or, as a script, at all)
  {"ready": 1}                                      loaded; calls may follow
  {"ok": value} | {"raise": {...}}                  one answer per call request {call, args, kwargs}
"""
import builtins
import os
import sys
import threading
import traceback


def exc_info(e):
    """Type, message and traceback of an exception raised by the program, from its own frames on."""
    frames = e.__traceback__
    while frames is not None and frames.tb_next is not None and frames.tb_frame.f_globals is globals():
        frames = frames.tb_next
    text = "".join(traceback.format_exception(type(e), e, frames))
    return {"type": type(e).__name__, "message": str(e)[:1000], "traceback": text[-3000:]}


def finish(status):
    """Exit now, after flushing what the program printed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a broken stream must not keep us alive
            pass
    os._exit(status)


def exit_status(e):
    """The status `python solution.py` would exit with after this SystemExit."""
    if e.code is None or e.code == 0:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF or 1
    print(e.code, file=sys.stderr)
    return 1


def join_threads():
    """Like interpreter shutdown: wait for the program's non-daemon threads."""
    for t in threading.enumerate():
        if t is not threading.current_thread() and not t.daemon:
            try:
                t.join()
            except BaseException:  # noqa: BLE001
                pass


def compile_program(program, send):
    try:
        return compile(program, "solution.py", "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        send({"syntax_error": f"{type(e).__name__}: {e}"})
        finish(1)


def run_script(program, send):
    """Run the program as `python solution.py` would, on this process's stdin/stdout; never returns."""
    code = compile_program(program, send)
    ns = {"__name__": "__main__", "__builtins__": builtins, "__file__": "solution.py"}
    status = 0
    try:
        exec(code, ns)
    except SystemExit as e:
        status = exit_status(e)
    except BaseException as e:  # noqa: BLE001 - anything the program raises is its verdict
        traceback.print_exc()
        send({"error": exc_info(e)})
        status = 1
    join_threads()
    finish(status)


def serve_calls(program, setup, receive, send):
    """Define the program (then run the dataset's setup code in its module), then answer call
    requests until `receive` raises EOFError; never returns."""
    code = compile_program(program, send)
    ns = {"__name__": "solution", "__builtins__": builtins, "__file__": "solution.py"}
    try:
        exec(code, ns)
        if setup:
            exec(compile(setup, "setup.py", "exec"), ns)
    except BaseException as e:  # noqa: BLE001
        send({"error": exc_info(e)})
        finish(1)
    send({"ready": 1})
    instance = []
    while True:
        try:
            request = receive(lambda name: ns[name])
        except EOFError:
            finish(0)
        send(answer(ns, instance, request))


def answer(ns, instance, request):
    try:
        fn = target(ns, instance, request["call"])
        value = fn(*request["args"], **request["kwargs"])
    except BaseException as e:  # noqa: BLE001
        return {"raise": exc_info(e)}
    return {"ok": value}


def target(ns, instance, name):
    """A module-level function, else a method of LeetCode's `class Solution` (one instance)."""
    fn = ns.get(name)
    if callable(fn):
        return fn
    cls = ns.get("Solution")
    if isinstance(cls, type) and hasattr(cls, name):
        if not instance:
            instance.append(cls())
        return getattr(instance[0], name)
    raise NameError(f"name {name!r} is not defined")
