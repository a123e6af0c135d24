"""TestExecutionGrader: a problem's tests, run by an executor backend, as one verdict with details.

    grader = TestExecutionGrader(limits=Limits(timeout=3))
    r = grader.grade(problem, build_program(problem, completion))          # GradeResult
    r.verdict, r.first_failure.input, r.first_failure.expected, r.first_failure.actual
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from executors import HARNESS_ERROR, GradeResult, Limits, make_executor
from executors.local import Job


def select_tests(problem, tests: str = "all") -> list[int]:
    """Indices of the tests to run: "all", or "public" (the ones the model may see)."""
    if tests not in ("all", "public"):
        raise ValueError(f"tests must be 'all' or 'public', got {tests!r}")
    return [i for i, t in enumerate(problem.test_cases) if tests == "all" or t.public]


class TestExecutionGrader:
    __test__ = False

    def __init__(self, executor_name: str = "local", limits: Limits | None = None,
                 stop_on_failure: bool = True, **options: Any):
        self.limits = limits or Limits()
        self.stop_on_failure = stop_on_failure
        self.executor = make_executor(executor_name, self.limits, **options)

    def grade(self, problem, program: str, tests: str = "all") -> GradeResult:
        return next(iter(self.grade_many([(None, problem, program)], tests)))[1]

    def grade_many(self, items: Iterable[tuple[Any, Any, str]], tests: str = "all"
                   ) -> Iterator[tuple[Any, GradeResult]]:
        """(key, problem, program) in; (key, GradeResult) out, in completion order."""
        empty: list = []

        def jobs():
            for key, problem, program in items:
                indices = select_tests(problem, tests)
                if not indices:
                    empty.append(key)
                    continue
                yield Job(key, problem, program, indices, self.stop_on_failure)

        for item in self.executor.run(jobs()):
            yield item
        for key in empty:
            yield key, GradeResult(HARNESS_ERROR, message="problem has no tests to run")

    def close(self) -> None:
        self.executor.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
