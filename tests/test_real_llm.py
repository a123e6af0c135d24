"""The whole pipeline against real models: llama.cpp's server with SmolLM2-135M and Qwen2.5-Coder-0.5B.

    make test-real    # LLM_PYTHON=.venv-llm/bin/python .venv/bin/python -m pytest -q -m real_llm -rs tests/test_real_llm.py

Opt-in (marker `real_llm`, deselected unless -m names it; see conftest.py). It needs llama-cpp-python
built in .venv-llm (`make install-llm`) and the GGUF weights (fetched once into data/models/); without
either, each test skips with a one-line reason. It asserts the pipeline's invariants, not the models'
scores: every (task_id, index) present once, the raw answer kept, extraction applied to it, verdicts
well-formed and pass@1 consistent with them. A handful of HumanEval and MBPP problems per model;
the server ignores `n`, so SmolLM2 runs n=2 to exercise the client's one-request-per-sample fallback.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import inference
from executors import PASSED, VERDICTS
from loaders import humaneval, mbpp, weights
from models import read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.real_llm

# Per model: samples per problem, temperature and prompt style; max_tokens stays small to keep it quick.
SETTINGS = {
    "smollm2-135m-instruct": {"n": 2, "temperature": 0.8, "humaneval_prompt": "humaneval"},
    "qwen2.5-coder-0.5b-instruct": {"n": 1, "temperature": 0.0, "humaneval_prompt": "qwen_instruct"},
}
PROBLEMS_PER_DATASET = 3
MAX_TOKENS = 256


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def why_no_server(llm_python: str) -> str:
    """'' if llama-cpp-python's server imports in `llm_python`, else the one-line reason."""
    if not Path(llm_python).is_file():
        return f"llama-cpp-python is not built: {llm_python} is missing (make install-llm)"
    probe = subprocess.run([llm_python, "-c", "import llama_cpp.server.app"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"llama-cpp-python's server does not import in {llm_python}: {last}"
    return ""


@pytest.fixture(scope="module", params=list(SETTINGS))
def server(request, tmp_path_factory):
    """A real llama.cpp server for one model on a free loopback port, stopped after the module."""
    model = request.param
    llm_python = os.environ.get("LLM_PYTHON") or str(ROOT / ".venv-llm" / "bin" / "python")
    reason = why_no_server(llm_python)
    if reason:
        pytest.skip(reason)
    try:
        gguf, digest, _ = weights.ensure_weights(weights.MODELS[model], ROOT / "data" / "models",
                                                 source=os.environ.get("WEIGHTS_SOURCE", "auto"))
    except (weights.WeightsError, OSError) as e:
        pytest.skip(f"no weights for {model}: {e}")
    folder = tmp_path_factory.mktemp(model)
    port = free_port()
    cmd = weights.llama_server_cmd(llm_python, gguf, model, "127.0.0.1", port,
                                   int(os.environ.get("LLM_THREADS", "2")), 4096)
    state = weights.start_server(cmd, f"http://127.0.0.1:{port}/v1", folder / "server.json",
                                 folder / "server.log", timeout=180)
    yield {"model": model, "base_url": state["base_url"], "sha256": digest, **SETTINGS[model]}
    assert weights.stop_server(folder / "server.json") == "stopped"


def humaneval_problems():
    return humaneval.load()[:PROBLEMS_PER_DATASET]


def mbpp_problems():
    source = SHARED_DATA / "mbpp.jsonl"
    if not source.is_file():
        pytest.skip(f"no local MBPP copy at {source}")
    return mbpp.load(source=str(source), data_dir=str(ROOT / "data"), offline=True)[:PROBLEMS_PER_DATASET]


def run_pipeline(server: dict, problems, dataset: str, prompt_id: str | None, run_dir: Path) -> dict:
    """`inference.py run` as a user runs it; returns the JSON summary (its last stdout line)."""
    problem_file = run_dir.parent / f"{dataset}-problems.jsonl"
    write_jsonl(str(problem_file), problems)
    cmd = [sys.executable, "inference.py", "run", "--dataset", dataset, "--problem-file", str(problem_file),
           "--base-url", server["base_url"], "--model", server["model"], "-n", str(server["n"]),
           "--temperature", str(server["temperature"]), "--seed", "7", "--max-tokens", str(MAX_TOKENS),
           "--max-concurrent", "2", "--run-dir", str(run_dir), "--k", "1"]
    cmd += ["--prompt-id", prompt_id] if prompt_id else []
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_invariants(server: dict, problems, run_dir: Path, summary: dict) -> None:
    by_id = {p.problem_id: p for p in problems}
    n = server["n"]
    samples = [row for _, row in read_jsonl(str(run_dir / "samples.jsonl"))]
    # Every sample present exactly once, although the server ignores `n`.
    assert Counter((s["task_id"], s["index"]) for s in samples) == Counter(
        (pid, i) for pid in by_id for i in range(n))
    for s in samples:
        assert s["error"] == "" and s["raw"].strip(), s
        assert s["finish_reason"] in ("stop", "length") and s["usage"]["completion_tokens"] > 0, s
        # The raw answer is kept, and the completion is exactly the extraction applied to it.
        redone = inference.to_completion(inference.extract_code(s["raw"], s.get("reasoning", "")), by_id[s["task_id"]])
        assert s["completion"] == redone
    results = [row for _, row in read_jsonl(str(run_dir / "samples.jsonl_results.jsonl"))]
    assert sorted((r["task_id"], r["index"]) for r in results) == sorted((s["task_id"], s["index"]) for s in samples)
    for r in results:
        assert r["verdict"] in VERDICTS and r["passed"] == (r["verdict"] == PASSED), r
        assert r["verdict"] != "harness_error", r
    passed = Counter(r["task_id"] for r in results if r["passed"])
    assert summary["pass@1"] == pytest.approx(sum(passed[pid] / n for pid in by_id) / len(by_id))
    assert sum(summary["evaluation"]["counts"].values()) == len(samples)
    assert summary["model"] == server["model"]


def test_humaneval_through_the_real_server_keeps_every_invariant(server, tmp_path):
    problems = humaneval_problems()
    summary = run_pipeline(server, problems, "humaneval", server["humaneval_prompt"], tmp_path / "run")
    check_invariants(server, problems, tmp_path / "run", summary)


def test_mbpp_through_the_real_server_keeps_every_invariant(server, tmp_path):
    problems = mbpp_problems()
    summary = run_pipeline(server, problems, "mbpp", None, tmp_path / "run")
    check_invariants(server, problems, tmp_path / "run", summary)


def test_a_second_run_in_the_same_folder_generates_nothing(server, tmp_path):
    """Resume against a real server: the finished samples are kept byte for byte, none is asked again."""
    problems = humaneval_problems()[:1]
    run_pipeline(server, problems, "humaneval", server["humaneval_prompt"], tmp_path / "run")
    before = (tmp_path / "run" / "samples.jsonl").read_bytes()
    summary = run_pipeline(server, problems, "humaneval", server["humaneval_prompt"], tmp_path / "run")
    assert (tmp_path / "run" / "samples.jsonl").read_bytes() == before
    assert summary["inference"]["requests"] == 0
