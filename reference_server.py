"""Reference server: an OpenAI-compatible endpoint that answers each known problem with its reference solution.

    python reference_server.py --dataset humaneval            # prints its base URL, e.g. http://127.0.0.1:41234/v1
    python reference_server.py --problem-file data/mbpp.jsonl --port 8000 --latency 0.25 --fault-rate 0.2

Speaks /v1/models, /v1/chat/completions and /v1/completions (`n`, `max_tokens` -> finish_reason "length",
`usage`, `stream`, JSON errors) on a stdlib ThreadingHTTPServer. A request is matched to a problem by the
problem's text inside the messages (line by line, whitespace-insensitive, so any template that quotes the
statement or the prompt works); unknown prompts get an answer without code. With no BASE_URL,
`make humaneval` runs against it: pass@1 must be 1.000, a self-check of the whole pipeline.

Fault injection for tests and `make bench`: a fixed latency, a schedule of faults for the first requests
(`429` with Retry-After, `500`, `drop` = connection closed without a reply, `malformed` = truncated JSON,
`slow` = a reply slower than the client's read timeout), a random fault rate, a server that ignores `n`
(llama.cpp does), and a scripted mode that answers wrong until the conversation has had feedback.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import signal
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULT_KINDS = ("429", "500", "drop", "malformed", "slow")

# ---------------------------------------------------------------- matching requests to problems


def _norm(line: str) -> str:
    """Whitespace collapsed and docstring quotes trimmed: templates re-indent and unquote docstrings."""
    return " ".join(line.split()).strip("\"' ")


def _lines(text: str) -> set[str]:
    """Normalised lines long enough to identify a problem."""
    return {n for n in (_norm(ln) for ln in text.replace("\r", "\n").split("\n")) if len(n) >= 8}


class ProblemIndex:
    """Finds the problem whose statement (or code prompt) a request quotes.

    Each distinctive line (in at most 2 problems) votes with its length; the problem with the highest
    share of its own text present wins, if that share is at least half. Short statements with no
    distinctive line fall back to whole-text containment."""

    def __init__(self, problems):
        self.problems = list(problems)
        owners: dict[str, set[int]] = {}
        for i, p in enumerate(self.problems):
            for line in _lines(p.problem) | _lines(p.metadata.get("prompt") or ""):
                owners.setdefault(line, set()).add(i)
        self.owners = {line: ids for line, ids in owners.items() if len(ids) <= 2}
        self.totals = Counter()
        for line, ids in self.owners.items():
            for i in ids:
                self.totals[i] += len(line)
        self.whole = sorted(((_norm(p.problem), i) for i, p in enumerate(self.problems) if _norm(p.problem)),
                            key=lambda x: -len(x[0]))

    def match(self, text: str):
        scores = Counter()
        for line in _lines(text):
            for i in self.owners.get(line, ()):
                scores[i] += len(line)
        if scores:
            best = max(scores, key=lambda i: (scores[i] / self.totals[i], scores[i]))
            if scores[best] / self.totals[best] >= 0.5:
                return self.problems[best]
        flat = _norm(text)
        return next((self.problems[i] for needle, i in self.whole if needle in flat), None)


# ---------------------------------------------------------------- answers


def reference_code(problem) -> str:
    """The reference solution as a whole program: HumanEval's prompt + canonical body is a full function."""
    if not problem.solutions:
        return ""
    prompt = problem.metadata.get("prompt") or ""
    return (prompt + problem.solutions[0]) if prompt else problem.solutions[0]


def _is_patch(code: str) -> bool:
    return code.startswith(("diff --git", "--- ", "Index: "))


def reference_answer(problem) -> str:
    """A markdown answer, as a chat model would write it."""
    code = reference_code(problem)
    if not code:
        return "The reference server has no reference solution for this problem."
    lang = "diff" if _is_patch(code) else "python"
    body = code.rstrip("\n")  # not rstrip(): a diff's last context lines may be a lone space (a blank line)
    return f"Here is a solution:\n\n```{lang}\n{body}\n```\n"


def wrong_answer(problem) -> str:
    """A deliberately wrong answer (scripted mode): valid Python that fails every test."""
    name = problem.metadata.get("func_name") or problem.metadata.get("entry_point")
    if any(t.type == "stdin" for t in problem.test_cases) or not name:
        code = 'print("reference server: deliberately wrong")'
    else:
        code = f'def {name}(*args, **kwargs):\n    return "reference server: deliberately wrong"'
    return f"First attempt:\n\n```python\n{code}\n```\n"


def continuation(problem, prompt_text: str) -> str | None:
    """/v1/completions: a prompt ending in the problem's own code prompt continues with the body only;
    a prompt pre-filled with an opening fence continues inside the fence."""
    code_prompt = problem.metadata.get("prompt") or ""
    if code_prompt.strip() and prompt_text.strip().endswith(code_prompt.strip()) and problem.solutions:
        return problem.solutions[0]
    if prompt_text.endswith("```python\n") and problem.solutions:
        return reference_code(problem).rstrip() + "\n```\n"
    return None


_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """A rough, deterministic token count (words and punctuation) for `usage`."""
    return len(_TOKEN.findall(text))


def truncate(text: str, max_tokens: int | None) -> tuple[str, str]:
    """(text, finish_reason): cut after `max_tokens` tokens like a real server, "length" when cut."""
    if not max_tokens:
        return text, "stop"
    for k, m in enumerate(_TOKEN.finditer(text), 1):
        if k == max_tokens and m.end() < len(text.rstrip()):
            return text[:m.end()], "length"
    return text, "stop"


# ---------------------------------------------------------------- faults


@dataclass
class Faults:
    """What the server does wrong, for tests and benchmarks (all off by default)."""
    latency: float = 0.0                 # seconds before every completion reply
    schedule: list[str] = field(default_factory=list)   # fault kinds for the first requests, in order
    rate: float = 0.0                    # then: this share of requests fails at random...
    kinds: tuple[str, ...] = ("429", "500", "drop")      # ...with one of these
    retry_after: float = 1.0             # the Retry-After header of a 429 (seconds)
    slow_seconds: float = 5.0            # delay of a `slow` reply
    seed: int = 0
    ignore_n: bool = False               # one choice whatever `n` asks (llama.cpp)
    wrong_turns: int = 0                 # scripted: wrong until the conversation has this many assistant turns
    never_right: frozenset[str] = frozenset()   # scripted: problem ids always answered wrong

    def __post_init__(self):
        for kind in list(self.schedule) + list(self.kinds):
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(FAULT_KINDS)}")


# ---------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive: a pooled client reuses its connections
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed
    # ACK (~40 ms on Linux) on every reply of a keep-alive connection.
    disable_nagle_algorithm = True
    server_version = "reference-server/1"

    def log_message(self, fmt, *args):  # one line per request would drown the progress bar
        pass

    def do_GET(self):
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            data = [{"id": self.server.app.model, "object": "model", "owned_by": "reference-server"}]
            return self.json_reply(200, {"object": "list", "data": data})
        if self.path.rstrip("/") in ("", "/health"):
            return self.json_reply(200, {"status": "ok"})
        self.error_reply(404, f"no route GET {self.path}")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = self.path.rstrip("/").removeprefix("/v1")
        if route not in ("/chat/completions", "/completions"):
            return self.error_reply(404, f"no route POST {self.path}")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return self.error_reply(400, "request body is not valid JSON")
        if not isinstance(body, dict):
            return self.error_reply(400, "request body must be a JSON object")
        self.server.app.handle(self, route, body)

    def json_reply(self, status: int, obj, headers: dict | None = None) -> None:
        self.send_bytes(status, json.dumps(obj).encode(), headers)

    def send_bytes(self, status: int, payload: bytes, headers: dict | None = None,
                   content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (read timeout); nothing to do

    def error_reply(self, status: int, message: str, headers: dict | None = None) -> None:
        kinds = {400: "invalid_request_error", 404: "not_found_error", 429: "rate_limit_error"}
        kind = kinds.get(status, "server_error")
        self.json_reply(status, {"error": {"message": message, "type": kind, "code": status}}, headers)

    def drop(self) -> None:
        """Close the connection without a reply (the client sees RemoteDisconnected)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 1024   # a burst of 64+ connects must not overflow the listen backlog (SYN retries)
    daemon_threads = True


class ReferenceServer:
    """The server object; `start()` serves in a background thread (tests), `serve_forever()` in front."""

    def __init__(self, problems, faults: Faults | None = None, host: str = "127.0.0.1", port: int = 0,
                 model: str = "reference"):
        self.index = ProblemIndex(problems)
        self.faults = faults or Faults()
        self.model = model
        self.stats: Counter = Counter()
        self._lock = threading.Lock()
        self._random = random.Random(self.faults.seed)
        self.httpd = _HTTPServer((host, port), _Handler)
        self.httpd.app = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "ReferenceServer":
        # A short poll interval: close() (shutdown) waits up to one interval.
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        if self._thread:
            self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ---- one completion request

    def _next_fault(self) -> str:
        with self._lock:
            i = self.stats["completion_requests"]
            self.stats["completion_requests"] += 1
            if i < len(self.faults.schedule):
                return self.faults.schedule[i]
            if self.faults.rate and self._random.random() < self.faults.rate:
                return self._random.choice(self.faults.kinds)
            return ""

    def handle(self, h: _Handler, route: str, body: dict) -> None:
        fault = self._next_fault()
        if fault:
            with self._lock:
                self.stats[f"fault_{fault}"] += 1
        if self.faults.latency:
            time.sleep(self.faults.latency)
        if fault == "429":
            return h.error_reply(429, "rate limited (injected)", {"Retry-After": f"{self.faults.retry_after:g}"})
        if fault == "500":
            return h.error_reply(500, "internal error (injected)")
        if fault == "drop":
            return h.drop()
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
        try:
            reply = self.reply(route, body)
        except ValueError as e:
            return h.error_reply(400, str(e))
        if fault == "malformed":
            return h.send_bytes(200, json.dumps(reply).encode()[:40])
        if body.get("stream"):
            return self._stream(h, reply)
        with self._lock:
            self.stats["answered"] += 1
        h.json_reply(200, reply)

    def reply(self, route: str, body: dict) -> dict:
        """The JSON reply to a valid completion request (no faults)."""
        chat = route == "/chat/completions"
        text = _chat_text(body) if chat else _prompt_text(body)
        problem = self.index.match(text)
        if problem is None:
            with self._lock:
                self.stats["unknown_prompt"] += 1
            answer = "The reference server does not know this problem."
        elif self._scripted_wrong(problem, body if chat else {}):
            answer = wrong_answer(problem)
        else:
            answer = (None if chat else continuation(problem, text)) or reference_answer(problem)
        n = max(1, int(body.get("n") or 1))
        n = 1 if self.faults.ignore_n else n
        answer, finish = truncate(answer, body.get("max_tokens") or body.get("max_completion_tokens"))
        choices = [({"index": i, "message": {"role": "assistant", "content": answer}} if chat
                    else {"index": i, "text": answer, "logprobs": None}) | {"finish_reason": finish}
                   for i in range(n)]
        prompt_tokens, completion_tokens = count_tokens(text), n * count_tokens(answer)
        return {"id": f"ref-{time.monotonic_ns()}", "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()), "model": body.get("model") or self.model, "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    def _scripted_wrong(self, problem, body: dict) -> bool:
        if problem.problem_id in self.faults.never_right:
            return True
        turns = sum(1 for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "assistant")
        return turns < self.faults.wrong_turns

    def _stream(self, h: _Handler, reply: dict) -> None:
        """Server-sent events: one content chunk per choice, a finish chunk, then [DONE]."""
        chunks = []
        for c in reply["choices"]:
            delta = {"role": "assistant", "content": c["message"]["content"]} if "message" in c else None
            part = {"index": c["index"], "finish_reason": c["finish_reason"]}
            part |= {"delta": delta} if delta else {"text": c["text"]}
            chunks.append({"id": reply["id"], "object": reply["object"] + ".chunk", "model": reply["model"],
                           "choices": [part]})
        payload = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        h.send_bytes(200, payload.encode(), content_type="text/event-stream")


def _content(value) -> str:
    """Message content: a string, or OpenAI's list of parts."""
    if isinstance(value, list):
        return "\n".join(p.get("text", "") for p in value if isinstance(p, dict))
    return value if isinstance(value, str) else ""


def _chat_text(body: dict) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    return "\n".join(_content(m.get("content")) for m in messages if isinstance(m, dict))


def _prompt_text(body: dict) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = "\n".join(p for p in prompt if isinstance(p, str))
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("'prompt' must be a non-empty string")
    return prompt


# ---------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problem-file", help="CodeProblem JSONL (any loader's output)")
    p.add_argument("--dataset", default="humaneval", help="else loaders.<dataset>.load()")
    p.add_argument("--source", help="passed to the loader")
    p.add_argument("--configs", nargs="+")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = a free port")
    p.add_argument("--model", default="reference", help="the model id /v1/models lists")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that fail at random")
    p.add_argument("--fault-kinds", default="429,500,drop", help=f"comma list from {','.join(FAULT_KINDS)}")
    p.add_argument("--retry-after", type=float, default=1.0)
    p.add_argument("--ignore-n", action="store_true", help="one choice per request, like llama.cpp")
    p.add_argument("--wrong-turns", type=int, default=0, help="scripted: wrong until this many assistant turns")
    p.add_argument("--seed", type=int, default=0)
    return p


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from inference import load_problems  # the one place that knows how to load problems
    problems = load_problems(args.dataset, args.problem_file, args.configs, args.source)
    faults = Faults(latency=args.latency, rate=args.fault_rate, kinds=tuple(args.fault_kinds.split(",")),
                    retry_after=args.retry_after, ignore_n=args.ignore_n, wrong_turns=args.wrong_turns,
                    seed=args.seed)
    server = ReferenceServer(problems, faults, args.host, args.port, args.model)
    # SIGTERM (how `inference.py run` stops it) ends serve_forever like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    print(server.base_url, flush=True)
    print(f"reference server: {len(problems)} problems at {server.base_url}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
