"""Recover the public tests of DeepCoder problems: an LLM lists the statement's worked examples, and
each example is kept only if it matches one of the dataset's own tests.

The DeepCoder configs merge public and private tests, so a loader cannot tell which tests the
statement shows. This asks an OpenAI-compatible server (POST {base_url}/chat/completions) for the
examples as JSON, compares each with the problem's tests (stdin: input and output equal after
normalising whitespace; functional: arguments and return value equal as values) and marks the
matching tests public. Examples that match nothing are dropped and counted. Output: CodeProblem JSONL,
appended one problem at a time, so an interrupted run resumes where it stopped.

    python inference.py preprocess deepcoder --configs lcbv5 --output data/preprocessed.jsonl
    python -m loaders.preprocess deepcoder --configs lcbv5,codeforces --base-url http://127.0.0.1:8000/v1 --model m --output out.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from tqdm import tqdm

from loaders import deepcoder
from loaders.common import parse_literal
from loaders.download import DownloadError
from models import CodeProblem, InputError, JsonlAppender, read_jsonl

SYSTEM = "You extract the worked examples from programming problem statements. Reply with JSON only."
MAX_ATTEMPTS = 5


class LLMError(RuntimeError):
    """The server failed or answered out of protocol; the message names the request."""


# ---------------------------------------------------------------- the LLM


def chat(session: requests.Session, base_url: str, model: str, messages: list[dict], api_key: str = "",
         timeout: tuple[float, float] = (10, 300)) -> str:
    """One chat completion's text. Retries connection errors, 429 and 5xx with capped backoff."""
    url = f"{base_url.rstrip('/')}/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = {"model": model, "messages": messages, "temperature": 0}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        last = attempt == MAX_ATTEMPTS
        try:
            r = session.post(url, json=body, headers=headers, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout) as e:
            if last:
                raise LLMError(f"POST {url}: {type(e).__name__} after {MAX_ATTEMPTS} attempts") from None
            time.sleep(min(0.5 * 2 ** attempt, 30))
            continue
        if r.status_code == 429 or r.status_code >= 500:
            if last:
                raise LLMError(f"POST {url}: HTTP {r.status_code} after {MAX_ATTEMPTS} attempts")
            time.sleep(min(0.5 * 2 ** attempt, 30))
            continue
        if r.status_code >= 400:
            raise LLMError(f"POST {url}: HTTP {r.status_code}: {r.text[:200]}")
        try:
            return r.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError(f"POST {url}: the answer is not a chat completion: {r.text[:200]}") from None
    raise LLMError(f"POST {url}: no answer")   # not reached: the loop returns or raises


def messages_for(problem: CodeProblem) -> list[dict]:
    """The request: the statement plus the exact test format we can check against."""
    if problem.func_name and any(t.type == "functional" for t in problem.test_cases):
        shape = (f"The solution is the function `{problem.func_name}`. Give each example's \"input\" as a JSON "
                 "list of the arguments in order and its \"output\" as the JSON return value.")
    else:
        shape = ("Give each example's \"input\" as the exact standard input text and its \"output\" as the "
                 "exact expected standard output text, both as JSON strings.")
    user = (f"Problem statement:\n\n{problem.problem}\n\nList every example the statement shows. {shape}\n"
            'Answer with one JSON object: {"examples": [{"input": ..., "output": ...}, ...]}')
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_examples(answer: str) -> list[dict] | None:
    """The examples in an answer (JSON, possibly fenced), or None when there is no such JSON."""
    m = re.search(r"\{.*\}", answer, re.S)
    if not m:
        return None
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError:
        return None
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, list):
        return None
    return [e for e in examples if isinstance(e, dict) and "input" in e and "output" in e]


# ---------------------------------------------------------------- checking examples against the data


def norm_text(text: str) -> str:
    """Whitespace-insensitive form. Example: " 1  2\\r\\n3 \\n\\n" -> "1 2\\n3" """
    return "\n".join(" ".join(line.split()) for line in str(text).strip().splitlines()).strip()


def _plain(x):
    # JSON has no tuples: compare tuples as lists.
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


def matching_test(problem: CodeProblem, example: dict) -> int | None:
    """Index of the dataset test the example reproduces exactly, or None."""
    for i, t in enumerate(problem.test_cases):
        if t.type == "stdin" and isinstance(example["input"], str) and isinstance(example["output"], str):
            if norm_text(example["input"]) == norm_text(t.input) and norm_text(example["output"]) == norm_text(t.output):
                return i
        elif t.type == "functional" and t.input and isinstance(example["input"], list):
            try:
                same = (_plain(parse_literal(t.input)) == _plain(example["input"])
                        and _plain(parse_literal(t.output)) == _plain(example["output"]))
            except ValueError:
                same = False
            if same:
                return i
    return None


def mark_public(problem: CodeProblem, examples: list[dict] | None) -> tuple[int, int]:
    """Mark the tests the examples reproduce as public; return (kept, dropped)."""
    kept = dropped = 0
    for t in problem.test_cases:
        t.public = False
    for example in examples or []:
        i = matching_test(problem, example)
        if i is None:
            dropped += 1
        else:
            problem.test_cases[i].public = True
            kept += 1
    return kept, dropped


# ---------------------------------------------------------------- the run


def preprocess_one(session, base_url, model, api_key, problem: CodeProblem) -> CodeProblem:
    answer = chat(session, base_url, model, messages_for(problem), api_key)
    examples = parse_examples(answer)
    kept, dropped = mark_public(problem, examples)
    problem.metadata["preprocess"] = {"model": model, "kept": kept, "dropped": dropped,
                                      "unparsed": examples is None}
    return problem


def _done_ids(output: str) -> set[str]:
    if not os.path.exists(output):
        return set()
    return {row.get("problem_id") for _, row in read_jsonl(output)}


def run(problems: list[CodeProblem], output: str, base_url: str, model: str, api_key: str = "",
        concurrency: int = 4) -> dict:
    """Preprocess the problems not yet in `output`, appending each as it completes."""
    done = _done_ids(output)
    todo = [p for p in problems if p.problem_id not in done]
    totals = {"problems": 0, "kept": 0, "dropped": 0, "unparsed": 0, "with_public": 0, "skipped": len(done)}
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with requests.Session() as session, JsonlAppender(output) as out, \
            ThreadPoolExecutor(max(1, concurrency)) as pool, \
            tqdm(total=len(todo), desc="preprocess", unit="problem", disable=None, file=sys.stderr) as bar:
        futures = [pool.submit(preprocess_one, session, base_url, model, api_key, p) for p in todo]
        for future in futures:
            try:
                p = future.result()
            except BaseException:
                for f in futures:      # stop at once; what was written stays, a rerun resumes
                    f.cancel()
                raise
            out.write(p)
            stats = p.metadata["preprocess"]
            totals["problems"] += 1
            totals["kept"] += stats["kept"]
            totals["dropped"] += stats["dropped"]
            totals["unparsed"] += stats["unparsed"]
            totals["with_public"] += any(t.public for t in p.test_cases)
            bar.update(1)
    return totals


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", choices=["deepcoder"])
    p.add_argument("--configs", default="lcbv5", help=f"comma list of {', '.join(deepcoder.SPLITS)}")
    p.add_argument("--split", help="train or test (default: each config's default)")
    p.add_argument("--source", help="local file or URL for the (single) config instead of the Hub")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--offline", action="store_true")
    p.add_argument("--num-problems", type=int, help="first N problems of each config")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    p.add_argument("--model", default="default")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--output", required=True)
    a = p.parse_args(argv)
    base_url = a.base_url or os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        p.error("--base-url (or OPENAI_BASE_URL) is required")
    configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    if a.source and len(configs) != 1:
        p.error("--source goes with exactly one config")
    try:
        problems = [q for c in configs for q in deepcoder.load(a.source, a.data_dir, a.offline, c, a.split,
                                                                num_problems=a.num_problems)]
        totals = run(problems, a.output, base_url, a.model, os.environ.get("OPENAI_API_KEY", ""), a.concurrency)
    except (InputError, DownloadError, LLMError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Preprocessed {totals['problems']} problems ({totals['skipped']} already done): kept "
          f"{totals['kept']} examples, dropped {totals['dropped']}; {totals['with_public']} problems have "
          f"public tests; wrote {a.output}", file=sys.stderr)
    print(json.dumps({"output": a.output, **totals}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
