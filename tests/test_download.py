"""The download cache against a real loopback HTTP server: layout, Range resume, checks, offline.

Also home of `Mirror`, the loopback server the loader tests use to serve ../shared/data in the
official hosts' URL layout.

    .venv/bin/python -m pytest -q tests/test_download.py
"""
from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from loaders.download import DownloadError, cache_path, fetch, hf_files, hf_url

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


class Mirror:
    """Serves {url path: file or bytes} on 127.0.0.1 with HTTP Range support.

    `drop_after[path] = n` cuts the first response for that path after n bytes (a dropped connection);
    `ignore_range` answers 200 with the whole body even when a Range is asked for.
    """

    def __init__(self, files: dict[str, Path | bytes]):
        self.files = dict(files)
        self.requests: list[tuple[str, str]] = []     # (path, Range header or "")
        self.drop_after: dict[str, int] = {}
        self.ignore_range = False
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                mirror._serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        rng = h.headers.get("Range", "")
        self.requests.append((path, rng))
        item = self.files.get(path)
        if item is None:
            h.send_error(404)
            return
        data = item if isinstance(item, bytes) else Path(item).read_bytes()
        start = int(rng.split("=")[1].split("-")[0]) if rng and not self.ignore_range else 0
        if start >= len(data) and start:
            h.send_response(416)
            h.send_header("Content-Range", f"bytes */{len(data)}")
            h.end_headers()
            return
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Content-Length", str(len(data) - start))
        h.end_headers()
        body = data[start:]
        cut = self.drop_after.pop(path, None)
        if cut is not None:
            h.wfile.write(body[:cut])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror():
    m = Mirror({})
    yield m
    m.close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


PAYLOAD = bytes(range(256)) * 4000          # ~1 MB, several chunks


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_lands_in_the_hosts_url_layout_and_is_fetched_once(mirror, tmp_path):
    mirror.files["/org/repo/raw/main/data.bin"] = PAYLOAD
    url = mirror.url + "/org/repo/raw/main/data.bin"
    path = fetch(url, str(tmp_path), sha256=sha(PAYLOAD))
    assert path == cache_path(url, tmp_path)
    assert path.relative_to(tmp_path).parts[:2] == ("raw", mirror.url.split("//")[1].replace(":", "_"))
    assert path.read_bytes() == PAYLOAD
    assert fetch(url, str(tmp_path)) == path
    assert len(mirror.requests) == 1


def test_a_partial_file_is_resumed_with_a_range_request(mirror, tmp_path):
    mirror.files["/f.bin"] = PAYLOAD
    url = mirror.url + "/f.bin"
    part = cache_path(url, tmp_path).with_name("f.bin.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:300_000])
    path = fetch(url, str(tmp_path), sha256=sha(PAYLOAD))
    assert mirror.requests == [("/f.bin", "bytes=300000-")]
    assert path.read_bytes() == PAYLOAD and not part.exists()


def test_a_dropped_connection_is_retried_from_where_it_stopped(mirror, tmp_path):
    mirror.files["/f.bin"] = PAYLOAD
    mirror.drop_after["/f.bin"] = 200_000
    path = fetch(mirror.url + "/f.bin", str(tmp_path), sha256=sha(PAYLOAD))
    assert path.read_bytes() == PAYLOAD
    assert len(mirror.requests) == 2
    assert mirror.requests[1][1].startswith("bytes=") and mirror.requests[1][1] != "bytes=0-"


def test_a_server_that_ignores_range_gets_the_file_rewritten_from_the_start(mirror, tmp_path):
    mirror.files["/f.bin"] = PAYLOAD
    mirror.ignore_range = True
    url = mirror.url + "/f.bin"
    part = cache_path(url, tmp_path).with_name("f.bin.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage")
    assert fetch(url, str(tmp_path), sha256=sha(PAYLOAD)).read_bytes() == PAYLOAD


def test_a_checksum_mismatch_is_an_error_and_leaves_nothing_in_the_cache(mirror, tmp_path):
    mirror.files["/f.bin"] = PAYLOAD
    url = mirror.url + "/f.bin"
    with pytest.raises(DownloadError, match="sha256"):
        fetch(url, str(tmp_path), sha256="0" * 64)
    dest = cache_path(url, tmp_path)
    assert not dest.exists() and not dest.with_name("f.bin.part").exists()


def test_offline_names_the_missing_file_and_how_to_get_it(tmp_path):
    url = "https://example.org/datasets/x/test.jsonl"
    with pytest.raises(DownloadError) as e:
        fetch(url, str(tmp_path), offline=True, how="python -m loaders.mbpp --output out.jsonl")
    msg = str(e.value)
    assert str(cache_path(url, tmp_path)) in msg and "--offline" in msg
    assert "python -m loaders.mbpp --output out.jsonl" in msg and "--source" in msg


def test_http_errors_and_missing_local_files_name_the_source(mirror, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(mirror.url + "/nothing.jsonl", str(tmp_path))
    with pytest.raises(DownloadError, match="no such file"):
        fetch(str(tmp_path / "missing.jsonl"), str(tmp_path))


def test_hf_files_lists_a_folder_and_checks_each_lfs_sha256(mirror, tmp_path):
    a, b = b"first shard", b"second shard"
    repo = "org/ds"
    mirror.files[f"/api/datasets/{repo}/tree/main/cfg"] = json.dumps([
        {"type": "file", "path": "cfg/test-00001-of-00002.parquet", "size": len(b), "lfs": {"oid": sha(b)}},
        {"type": "file", "path": "cfg/test-00000-of-00002.parquet", "size": len(a), "lfs": {"oid": sha(a)}},
        {"type": "file", "path": "cfg/train-00000-of-00001.parquet", "size": 1, "lfs": {"oid": "0" * 64}},
        {"type": "directory", "path": "cfg/sub"}]).encode()
    mirror.files[f"/datasets/{repo}/resolve/main/cfg/test-00000-of-00002.parquet"] = a
    mirror.files[f"/datasets/{repo}/resolve/main/cfg/test-00001-of-00002.parquet"] = b
    paths = hf_files(repo, "cfg", "test-", mirror.url, str(tmp_path))
    assert [p.read_bytes() for p in paths] == [a, b]
    assert hf_url(repo, "cfg/x.parquet", mirror.url) == f"{mirror.url}/datasets/{repo}/resolve/main/cfg/x.parquet"
    # offline, the cached listing and shards are enough
    assert hf_files(repo, "cfg", "test-", mirror.url, str(tmp_path), offline=True) == paths


def test_download_cli_prints_the_cached_path_as_json(mirror, tmp_path, capsys):
    from loaders.download import main
    mirror.files["/f.bin"] = PAYLOAD
    assert main([mirror.url + "/f.bin", "--data-dir", str(tmp_path), "--sha256", sha(PAYLOAD)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["bytes"] == len(PAYLOAD) and Path(out["path"]).exists()
