"""Download-once cache for dataset files: requests + tqdm, resumable, checked.

A URL is cached at `<data_dir>/raw/<host>/<url path>` (the host's own layout, so two datasets'
`test.jsonl` never collide). The file appears there only after it downloaded completely and
passed its checks (size from the server, sha256 when known); until then the bytes live in
`<file>.part` and the next attempt resumes them with an HTTP Range request. Local paths are
used as they are.

    python -m loaders.download https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests
from tqdm import tqdm

CHUNK = 1 << 16
ATTEMPTS = 3          # a dropped connection resumes from the bytes already on disk
TIMEOUT = (10, 60)    # (connect, read) seconds
HF = "https://huggingface.co"


class DownloadError(RuntimeError):
    """A file could not be fetched or failed its check; the message says what to do."""


def is_url(source: str | os.PathLike) -> bool:
    return str(source).startswith(("http://", "https://"))


def cache_path(url: str, data_dir: str | os.PathLike) -> Path:
    """Where a URL is cached. Example: https://h.co/a/b.jsonl -> data/raw/h.co/a/b.jsonl"""
    parts = urlsplit(url)
    rel = parts.path.lstrip("/") or "index"
    if ".." in Path(rel).parts:
        raise DownloadError(f"{url}: refusing a URL path with '..'")
    return Path(data_dir) / "raw" / parts.netloc.replace(":", "_") / rel


def fetch(source: str, data_dir: str = "data", offline: bool = False, sha256: str | None = None,
          how: str = "") -> Path:
    """The local path of `source`: a local file as is, a URL from the cache or downloaded into it.

    `how` finishes the offline error message, e.g. "python -m loaders.mbpp --output data/mbpp.jsonl".
    """
    if not is_url(source):
        path = Path(source)
        if not path.exists():
            raise DownloadError(f"{source}: no such file or directory")
        return path
    dest = cache_path(source, data_dir)
    if dest.exists():
        return dest
    if offline:
        hint = f"run `{how}` without --offline, or " if how else "run again without --offline, or "
        raise DownloadError(f"{dest} is missing from the cache and --offline is set; {hint}download "
                            f"{source} yourself and pass --source PATH")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with requests.Session() as session:
        _download(session, source, dest, sha256)
    return dest


def _download(session: requests.Session, url: str, dest: Path, sha256: str | None) -> None:
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _get_into(session, url, part)
            break
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
            if attempt == ATTEMPTS:
                kept = part.stat().st_size if part.exists() else 0
                raise DownloadError(f"{url}: {type(e).__name__} after {ATTEMPTS} attempts; {kept} bytes kept "
                                    f"in {part}, run again to resume") from None
            time.sleep(min(2 ** attempt, 10) / 10)
    if sha256:
        digest = sha256_file(part)
        if digest != sha256:
            part.unlink()
            raise DownloadError(f"{url}: sha256 {digest} does not match the published {sha256}; the download "
                                "was removed, run again to retry (or pass --source a copy you trust)")
    os.replace(part, dest)


def _get_into(session: requests.Session, url: str, part: Path) -> None:
    """Append the rest of `url` to `part` (Range from its size); raise if it ends short."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, stream=True, timeout=TIMEOUT, headers=headers) as r:
        if r.status_code == 416 and have:      # the .part is already whole (or stale): start over
            part.unlink()
            return _get_into(session, url, part)
        if r.status_code >= 400:
            raise DownloadError(f"{url}: HTTP {r.status_code} {r.reason}")
        if r.status_code == 206 and _range_start(r) != have:
            raise DownloadError(f"{url}: server resumed at the wrong offset ({r.headers.get('Content-Range')})")
        if r.status_code != 206:
            have = 0                            # the server ignored Range: rewrite from the start
        length = r.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as f, \
                tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5],
                     disable=None, file=sys.stderr) as bar:
            for chunk in r.iter_content(CHUNK):
                f.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        raise requests.exceptions.ChunkedEncodingError(f"{url}: got {size} of {total} bytes")


def _range_start(r: requests.Response) -> int:
    # Content-Range: bytes 100-199/200
    value = r.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return -1


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- Hugging Face datasets


def hf_url(repo: str, path: str, base_url: str = HF, revision: str = "main") -> str:
    """The resolve URL of a file in a HF dataset repo (the layout `hf_hub_download` uses)."""
    return f"{base_url.rstrip('/')}/datasets/{repo}/resolve/{revision}/{quote(path)}"


def hf_files(repo: str, folder: str, prefix: str, base_url: str = HF, data_dir: str = "data",
             offline: bool = False, how: str = "", revision: str = "main") -> list[Path]:
    """Download the files of a HF dataset folder whose names start with `prefix` (e.g. "test-").

    The folder listing comes from the Hub API (`/api/datasets/<repo>/tree/<rev>/<folder>`, cached like any
    file); each LFS entry carries the sha256 the download is checked against.
    """
    listing_url = f"{base_url.rstrip('/')}/api/datasets/{repo}/tree/{revision}/{quote(folder)}"
    listing = fetch(listing_url, data_dir, offline, how=how)
    try:
        entries = json.loads(listing.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        listing.unlink()
        raise DownloadError(f"{listing_url}: the listing is not JSON (removed from the cache)") from None
    wanted = sorted((e for e in entries if isinstance(e, dict) and e.get("type") == "file"
                     and Path(e.get("path", "")).name.startswith(prefix)), key=lambda e: e["path"])
    if not wanted:
        raise DownloadError(f"{listing_url}: no file named {prefix}* in {repo}/{folder}")
    return [fetch(hf_url(repo, e["path"], base_url, revision), data_dir, offline,
                  sha256=(e.get("lfs") or {}).get("oid"), how=how) for e in wanted]


# ---------------------------------------------------------------- CLI


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Download one URL into the dataset cache and print its path.")
    p.add_argument("url")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--sha256", help="expected sha256 of the file")
    a = p.parse_args(argv)
    try:
        path = fetch(a.url, a.data_dir, sha256=a.sha256)
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"path": str(path), "bytes": path.stat().st_size}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
