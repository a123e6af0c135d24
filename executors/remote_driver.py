"""The half of a remote backend that runs inside the remote sandbox; stdlib only, shipped as source.

executors/remote.py sends this file's text (with executors/protocol.py) to a Together Code
Interpreter session or a SandboxFusion run, then calls one operation; it prints one record between
markers on stdout, which the trusted side parses:

    op_stdin(cfg, timeout)         run the program as a script on this process's stdin
    op_open(cfg, timeout)          start the program serving calls; report whether it loaded
    op_call(request, timeout)      one call to the program started by op_open (a stateful session)
    op_load(cfg, timeout)          op_open + op_close (stateless services: does it load?)
    op_call_once(cfg, request, load_timeout, timeout)   op_open + op_call + op_close (stateless services)

The supervisor (this code) never runs the program itself: it starts it in a child process of its own
("the host", `host_main`) with rlimits, a scrubbed environment, its own session and a scratch
directory, feeds it over pipes, enforces the time limit by killing the whole process group, and
reports exit status, output sizes and the program's own status messages (the same messages as the
local sandbox's child, executors/worker.py). Expected outputs never come here: comparison happens on
the trusted side.

Run locally for a try: python -c "exec(open('executors/remote_driver.py').read()); ..." (see tests).
"""
import json
import os
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

MARK = "\x1eCE-RECORD\x1e"
FRAME = struct.Struct("<I")
HOST_STUB = ("import sys, json\ncfg = json.load(open(sys.argv[1]))\nns = {'__name__': 'ce_host'}\n"
             "exec(compile(cfg['driver_src'], 'ce_driver.py', 'exec'), ns)\nns['host_main'](cfg, sys.argv[1])\n")
NOBODY = 65534
SOURCES = {}        # driver_src, protocol_src, program_src: set by init()
STATE = {}          # the program process serving calls between requests (stateful sessions)


def init(driver_src, protocol_src, program_src):
    SOURCES.update(driver_src=driver_src, protocol_src=protocol_src, program_src=program_src)


def emit(record):
    sys.stdout.write(MARK + json.dumps(record) + MARK + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- supervisor: framing


def write_frame(fd, payload):
    view = memoryview(FRAME.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd, n, deadline):
    chunks, got = [], 0
    while got < n:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and not select.select([fd], [], [], max(left, 0))[0]:
            raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd, deadline, cap):
    (n,) = FRAME.unpack(read_exact(fd, FRAME.size, deadline))
    if n > cap:
        raise OverflowError(n)
    return read_exact(fd, n, deadline)


# ---------------------------------------------------------------- supervisor: the program process


def clean_env(scratch):
    """The program sees none of this sandbox's variables (a hosted kernel may hold tokens)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch,
            "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def spawn(cfg, mode, stdin_bytes=b""):
    work = tempfile.mkdtemp(prefix="ce-")
    scratch = os.path.join(work, "scratch")
    os.mkdir(scratch)
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    host_cfg = dict(cfg, mode=mode, req_fd=req_r, resp_fd=resp_w, **SOURCES)
    cfg_path = os.path.join(work, "cfg.json")
    with open(cfg_path, "w") as f:
        json.dump(host_cfg, f)
    with open(os.path.join(work, "stdin"), "wb") as f:
        f.write(stdin_bytes)
    files = [open(os.path.join(work, name), mode_) for name, mode_ in
             (("stdin", "rb"), ("stdout", "wb"), ("stderr", "wb"))]
    try:
        proc = None
        if os.geteuid() == 0:   # as root here: the program runs as nobody, so it cannot signal us or others
            for path in (work, scratch, cfg_path):
                os.chown(path, NOBODY, NOBODY)
            proc = popen_host(cfg_path, files, (req_r, resp_w), scratch,
                              {"user": NOBODY, "group": NOBODY, "extra_groups": []})
        if proc is None:        # not root, or nobody may not run this Python: the sandbox's own user
            proc = popen_host(cfg_path, files, (req_r, resp_w), scratch, {})
    except BaseException:
        os.close(req_w)
        os.close(resp_r)
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        for f in files:
            f.close()
        os.close(req_r)
        os.close(resp_w)
    return {"proc": proc, "work": work, "req": req_w, "resp": resp_r, "cap": cfg["limits"]["max_output_bytes"]}


def popen_host(cfg_path, files, fds, scratch, user):
    try:
        return subprocess.Popen([sys.executable, "-I", "-c", HOST_STUB, cfg_path], stdin=files[0],
                                stdout=files[1], stderr=files[2], pass_fds=fds, cwd=scratch,
                                env=clean_env(scratch), start_new_session=True, **user)
    except PermissionError:
        if not user:
            raise
        return None


def kill(h):
    proc = h["proc"]
    if proc.poll() is None:
        for fn in (os.killpg, os.kill):
            try:
                fn(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    proc.wait()


def cleanup(h):
    kill(h)
    for fd in (h["req"], h["resp"]):
        try:
            os.close(fd)
        except OSError:
            pass
    shutil.rmtree(h["work"], ignore_errors=True)


def wait_status(proc):
    """The host's exit as a waitpid status, so the trusted side maps it like a local child."""
    rc = proc.returncode
    return -rc if rc < 0 else (rc & 0xFF) << 8


def outputs(h, with_stdout):
    sizes = {n: os.path.getsize(os.path.join(h["work"], n)) for n in ("stdout", "stderr")}
    with open(os.path.join(h["work"], "stderr"), "rb") as f:
        f.seek(max(0, sizes["stderr"] - 4096))
        tail = f.read().decode("utf-8", "replace")
    rec = {"stdout_size": sizes["stdout"], "stderr_size": sizes["stderr"], "stderr_tail": tail}
    if with_stdout:
        with open(os.path.join(h["work"], "stdout"), "rb") as f:
            rec["stdout"] = f.read(h["cap"] + 1).decode("utf-8", "replace")
    return rec


def pending_message(h):
    """The host's last status message, written before it exited (syntax / exception)."""
    try:
        return read_frame(h["resp"], time.monotonic(), 1 << 20).decode()
    except (TimeoutError, EOFError, OverflowError, struct.error):
        return ""


def gone(h):
    try:
        h["proc"].wait(1.0)
    except subprocess.TimeoutExpired:
        pass
    kill(h)
    return dict(outputs(h, False), wait_status=wait_status(h["proc"]))


# ---------------------------------------------------------------- supervisor: operations


def op_stdin(cfg, timeout):
    t0 = time.monotonic()
    h = spawn(cfg, "stdin", sys.stdin.buffer.read() if cfg.get("stdin") is None else cfg["stdin"].encode())
    try:
        try:
            h["proc"].wait(timeout)
            status = "finished"
        except subprocess.TimeoutExpired:
            status = "timeout"
        kill(h)
        rec = dict(outputs(h, True), status=status, wait_status=wait_status(h["proc"]),
                   message=pending_message(h), elapsed=time.monotonic() - t0)
    finally:
        cleanup(h)
    return rec


def exchange(h, request, timeout):
    """Send one request (or none, at start-up) and read one answer within `timeout` seconds."""
    t0 = time.monotonic()
    try:
        if request is not None:
            write_frame(h["req"], request.encode())
        raw = read_frame(h["resp"], t0 + timeout, h["cap"])
    except TimeoutError:
        kill(h)
        return {"timeout": True, "elapsed": time.monotonic() - t0}
    except OverflowError as e:
        kill(h)
        return {"too_big": e.args[0], "elapsed": time.monotonic() - t0}
    except (EOFError, BrokenPipeError):
        return {"gone": gone(h), "elapsed": time.monotonic() - t0}
    return {"message": raw.decode(), "elapsed": time.monotonic() - t0}


def op_open(cfg, timeout):
    op_close()
    h = STATE["host"] = spawn(cfg, "functional")
    rec = exchange(h, None, timeout)
    if "message" not in rec:
        op_close()
    return rec


def op_call(request, timeout):
    h = STATE.get("host")
    if h is None:
        return {"lost": "no program is running in this session"}
    rec = exchange(h, request, timeout)
    if "message" not in rec:
        op_close()
    return rec


def op_close():
    h = STATE.pop("host", None)
    if h is not None:
        cleanup(h)
    return {}


def op_load(cfg, timeout):
    """A stateless service: does the program load? (syntax, module-level errors, setup code)"""
    try:
        return op_open(cfg, timeout)
    finally:
        op_close()


def op_call_once(cfg, request, load_timeout, timeout):
    """A stateless service: load the program, make one call, tear down. Only the call is timed."""
    rec = op_open(cfg, load_timeout)
    if "message" not in rec:
        return rec
    if '"ready"' not in rec["message"]:
        op_close()
        return dict(rec, startup=True)
    try:
        return op_call(request, timeout)
    finally:
        op_close()


# ---------------------------------------------------------------- host: the program's process


def host_main(cfg, cfg_path):
    """The program's process: executors/program.py (shipped as source) runs the program here."""
    os.unlink(cfg_path)  # nothing of the harness is left for the program to read
    proto = {"__name__": "ce_protocol"}
    exec(compile(cfg["protocol_src"], "protocol.py", "exec"), proto)
    proto["allow_big_ints"]()
    runner = {"__name__": "ce_program"}
    exec(compile(cfg["program_src"], "program.py", "exec"), runner)
    resp = cfg["resp_fd"]

    def send(msg):
        try:
            payload = proto["encode"](msg)
        except proto["EncodeError"] as e:
            payload = proto["encode"]({"unencodable": str(e)})
        try:
            write_frame(resp, payload)
        except OSError:
            pass

    def receive(resolve):
        return proto["decode"](read_frame(cfg["req_fd"], None, 1 << 62), resolve=resolve)

    limit_self(cfg["limits"])
    fresh_stdio()
    if cfg["mode"] == "stdin":
        runner["run_script"](cfg["program"], send)
    runner["serve_calls"](cfg["program"], cfg.get("setup") or "", receive, send)


def limit_self(lim):
    with open("/proc/self/statm") as f:
        baseline = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    for which, value in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_CPU, int(lim["sample_timeout"]) + 2),
                         (resource.RLIMIT_FSIZE, max(lim["max_file_bytes"], lim["max_output_bytes"]) + 1),
                         (resource.RLIMIT_NOFILE, lim["max_open_files"]),
                         (resource.RLIMIT_AS, baseline + (lim["memory_mb"] << 20))):
        hard = resource.getrlimit(which)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            resource.setrlimit(which, (value, hard))


def fresh_stdio():
    sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", errors="replace", closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
