"""Loopback sandbox services for tests: SandboxFusion's `POST /run_code` and Together's `POST /tci/execute`,
implementing the documented request/response contracts (see shared/docs/anchors.md section 7) and
executing the submitted code for real, in local subprocesses with a timeout and a scrubbed environment.

    with running_sandboxfusion(faults=["503"]) as srv:      # srv.base_url, srv.requests, srv.codes
        SandboxFusionExecutor(limits, base_url=srv.base_url)
    with running_tci(api_key="k") as srv:                    # sessions are persistent Python kernels
        TogetherExecutor(limits, api_key="k", base_url=srv.base_url)

Faults (consumed one per request, in order): "429", "503", "sandbox_error" (SandboxFusion),
"expire" (TCI: forget every session first), "garbage" (a reply that is not JSON).
Not a test module itself; used by tests/test_conformance.py and tests/test_remote.py.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# What a fresh sandbox machine has: none of the test process's variables (its keys in particular).
SANDBOX_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}

# A minimal Jupyter-like kernel: executes cells in one persistent namespace, captures stdout/stderr,
# reports an exception as an "error" output. Cells arrive and results leave as length-prefixed frames.
KERNEL = r'''
import contextlib, io, json, struct, sys, traceback
inp, out = sys.stdin.buffer, sys.stdout.buffer
ns = {"__name__": "__main__"}
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    code = inp.read(struct.unpack("<I", head)[0]).decode()
    o, e = io.StringIO(), io.StringIO()
    error = None
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        try:
            exec(compile(code, "<cell>", "exec"), ns)
        except BaseException:
            error = traceback.format_exc()
    outputs = [{"type": "stdout", "data": o.getvalue()}] if o.getvalue() else []
    outputs += [{"type": "stderr", "data": e.getvalue()}] if e.getvalue() else []
    outputs += [{"type": "error", "data": error}] if error else []
    reply = json.dumps(outputs).encode()
    out.write(struct.pack("<I", len(reply)) + reply)
    out.flush()
'''


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, faults, api_key=None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.faults = list(faults or [])
        self.api_key = api_key
        self.lock = threading.Lock()
        self.requests = 0           # every POST, faults included
        self.codes: list[str] = []  # every code payload received
        self.headers_seen: list[str] = []
        self.kernels: dict[str, "Kernel"] = {}
        self.routes = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_fault(self) -> str | None:
        with self.lock:
            self.requests += 1
            return self.faults.pop(0) if self.faults else None


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status: int, body, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/ping":
            return self.reply(200, None, b'"pong"')
        self.reply(404, {"errors": ["not found"]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        handler = self.server.routes.get(self.path)
        if handler is None:
            return self.reply(404, {"errors": [f"no route {self.path}"]})
        self.server.codes.append(body.get("code", ""))
        self.server.headers_seen.append(str(dict(self.headers)))
        fault = self.server.next_fault()
        if fault in ("429", "503"):
            return self.reply(int(fault), {"errors": [f"injected {fault}"]})
        if fault == "garbage":
            return self.reply(200, None, b"<html>bad gateway</html>")
        handler(self, body, fault)


# ---------------------------------------------------------------- SandboxFusion


def run_code(handler: _Handler, body: dict, fault: str | None) -> None:
    if fault == "sandbox_error":
        return handler.reply(200, {"status": "SandboxError", "message": "injected: runner pod evicted",
                                   "compile_result": None, "run_result": None, "executor_pod_name": None,
                                   "files": {}})
    if body.get("language") != "python" or not isinstance(body.get("code"), str):
        return handler.reply(422, {"detail": "language must be python and code a string"})
    work = tempfile.mkdtemp(prefix="sf-")
    path = os.path.join(work, "main.py")
    with open(path, "w") as f:
        f.write(body["code"])
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, path], input=(body.get("stdin") or "").encode(), capture_output=True,
                              timeout=float(body.get("run_timeout", 10)), cwd=work, env=SANDBOX_ENV)
        run = {"status": "Finished", "return_code": proc.returncode,
               "stdout": proc.stdout.decode("utf-8", "replace"), "stderr": proc.stderr.decode("utf-8", "replace")}
    except subprocess.TimeoutExpired as e:
        run = {"status": "TimeLimitExceeded", "return_code": None,
               "stdout": (e.stdout or b"").decode("utf-8", "replace"),
               "stderr": (e.stderr or b"").decode("utf-8", "replace")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    run["execution_time"] = time.monotonic() - t0
    ok = run["status"] == "Finished" and run["return_code"] == 0
    handler.reply(200, {"status": "Success" if ok else "Failed", "message": "", "compile_result": None,
                        "run_result": run, "executor_pod_name": None, "files": {}})


@contextlib.contextmanager
def running_sandboxfusion(faults=None):
    server = _Server(faults)
    server.routes["/run_code"] = run_code
    yield from _serve(server)


# ---------------------------------------------------------------- Together Code Interpreter


class Kernel:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", KERNEL], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=SANDBOX_ENV, cwd=tempfile.gettempdir())
        self.lock = threading.Lock()

    def execute(self, code: str, timeout: float = 120.0) -> list:
        data = code.encode()
        with self.lock:
            self.proc.stdin.write(struct.pack("<I", len(data)) + data)
            self.proc.stdin.flush()
            timer = threading.Timer(timeout, self.proc.kill)
            timer.start()
            try:
                head = self.proc.stdout.read(4)
                if len(head) < 4:
                    return [{"type": "error", "data": "kernel died"}]
                return json.loads(self.proc.stdout.read(struct.unpack("<I", head)[0]))
            finally:
                timer.cancel()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


def tci_execute(handler: _Handler, body: dict, fault: str | None) -> None:
    server = handler.server
    if handler.headers.get("Authorization") != f"Bearer {server.api_key}":
        # echo what was sent, as careless services do: the client must not let it reach logs or results
        return handler.reply(401, {"data": None, "errors": [f"invalid credentials: {handler.headers.get('Authorization')}"]})
    if body.get("language") != "python" or not isinstance(body.get("code"), str):
        return handler.reply(400, {"data": None, "errors": ["code and language=python are required"]})
    with server.lock:
        if fault == "expire":
            for k in server.kernels.values():
                k.stop()
            server.kernels.clear()
        sid = body.get("session_id")
        if sid is not None and sid not in server.kernels:
            return handler.reply(400, {"data": None, "errors": [f"session {sid} not found or expired"]})
        if sid is None:
            sid = "ses_" + secrets.token_hex(8)
            server.kernels[sid] = Kernel()
        kernel = server.kernels[sid]
    outputs = kernel.execute(body["code"])
    handler.reply(200, {"errors": None, "data": {"session_id": sid, "status": "success", "outputs": outputs}})


@contextlib.contextmanager
def running_tci(api_key: str, faults=None):
    server = _Server(faults, api_key=api_key)
    server.routes["/tci/execute"] = tci_execute
    try:
        yield from _serve(server)
    finally:
        for k in server.kernels.values():
            k.stop()


def _serve(server: _Server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
