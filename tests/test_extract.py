"""Code extraction policy (inference.extract_code) and answer -> completion (inference.to_completion).

    .venv/bin/python -m pytest -q tests/test_extract.py

One table of realistic answer shapes per function; the policy itself is written in inference.py.
"""
from __future__ import annotations

import pytest

from inference import drop_test_scaffolding, extract_code, to_completion
from models import CodeProblem, TestCase

F = "def f(x):\n    return x + 1\n"

EXTRACT_CASES = [
    ("python_fence", "```python\ndef f(x):\n    return x + 1\n```", F),
    ("py_fence", "```py\ndef f(x):\n    return x + 1\n```", F),
    ("python3_fence", "```python3\ndef f(x):\n    return x + 1\n```", F),
    ("capitalised_info", "```Python\ndef f(x):\n    return x + 1\n```", F),
    ("info_with_attributes", '```python title="solution.py"\ndef f(x):\n    return x + 1\n```', F),
    ("untagged_fence", "```\ndef f(x):\n    return x + 1\n```", F),
    ("tilde_fence", "~~~python\ndef f(x):\n    return x + 1\n~~~", F),
    ("prose_around", "Sure! Here is the function:\n\n```python\ndef f(x):\n    return x + 1\n```\n\n"
                     "It adds one to `x`.", F),
    ("first_of_two_blocks", "```python\ndef f(x):\n    return x + 1\n```\nExample:\n```python\nprint(f(1))\n```", F),
    ("skips_bash_block", "Install nothing:\n```bash\npip install numpy\n```\n```python\ndef f(x):\n"
                         "    return x + 1\n```", F),
    ("skips_output_block", "```output\n2\n```\n```python\ndef f(x):\n    return x + 1\n```", F),
    ("unclosed_fence_truncated", "```python\ndef f(x):\n    return x + 1\n", F),
    ("crlf_line_endings", "Here:\r\n```python\r\ndef f(x):\r\n    return x + 1\r\n```\r\n", F),
    ("indented_fence_in_list", "1. The code:\n   ```python\n   def f(x):\n       return x + 1\n   ```\n", F),
    ("closing_fence_glued", "```python\ndef f(x):\n    return x + 1```", F),
    ("four_backtick_fence", '````python\ns = "```"\n````', 's = "```"\n'),
    ("blank_lines_inside", "```python\n\n\ndef f(x):\n    return x + 1\n\n\n```", F),
    ("think_block_with_draft", "<think>\nMaybe:\n```python\ndef f(x):\n    return x\n```\nNo, add one.\n</think>\n"
                               "```python\ndef f(x):\n    return x + 1\n```", F),
    ("thinking_tag_variant", "<thinking>draft</thinking>\n```python\ndef f(x):\n    return x + 1\n```", F),
    ("only_closing_think", "draft: def f(x): return x\n</think>\n\n```python\ndef f(x):\n    return x + 1\n```", F),
    ("unclosed_think_truncated", "<think>\nLet me think about ```python\ndef f(x):", ""),
    ("no_fence_plain_code", "def f(x):\n    return x + 1\n", F),
    ("no_fence_prose_first", "Here is my solution:\ndef f(x):\n    return x + 1\n", F),
    ("no_fence_prose_both_sides", "Solution below.\nimport math\ndef f(x):\n    return x + 1\nThis works.",
     "import math\ndef f(x):\n    return x + 1\n"),
    ("bare_body_in_fence", "```python\n    return x + 1\n```", "    return x + 1\n"),
    ("bare_body_unfenced", "    return x + 1\n", "    return x + 1\n"),
    ("tabs_kept", "```python\ndef f(x):\n\treturn x + 1\n```", "def f(x):\n\treturn x + 1\n"),
    ("no_code_at_all", "I cannot solve this.", "I cannot solve this.\n"),
    ("empty_answer", "", ""),
    ("none_answer", None, ""),
]


@pytest.mark.parametrize("raw,expected", [c[1:] for c in EXTRACT_CASES], ids=[c[0] for c in EXTRACT_CASES])
def test_extract_code_table(raw, expected):
    assert extract_code(raw) == expected


def test_extract_code_table_has_at_least_25_shapes():
    assert len(EXTRACT_CASES) >= 25


def test_reasoning_content_used_only_when_the_answer_is_empty():
    reasoning = "```python\ndef f(x):\n    return x\n```\nbetter:\n```python\ndef f(x):\n    return x + 1\n```"
    assert extract_code("", reasoning=reasoning) == F  # the last draft in the reasoning
    assert extract_code("```python\nprint(1)\n```", reasoning=reasoning) == "print(1)\n"


# ---------------------------------------------------------------- completions for HumanEval-style prompts

PROMPT = ('from typing import List\n\n\ndef add(xs: List[int]) -> int:\n'
          '    """Sum of xs.\n    >>> add([1, 2])\n    3\n    """\n')
HE = CodeProblem(problem_id="t/0", problem=PROMPT, metadata={"prompt": PROMPT, "func_name": "add"})
FULL = "def add(xs: List[int]) -> int:\n    return sum(xs)\n"

COMPLETION_CASES = [
    ("full_function", FULL, "\n" + FULL),
    ("full_function_with_imports", "from typing import List\n\n" + FULL, "\nfrom typing import List\n\n" + FULL),
    ("indented_body", "    return sum(xs)\n", "    return sum(xs)\n"),
    ("flush_left_body", "return sum(xs)\n", "    return sum(xs)\n"),
    ("flush_left_multiline_body", "total = 0\nfor x in xs:\n    total += x\nreturn total\n",
     "    total = 0\n    for x in xs:\n        total += x\n    return total\n"),
    ("trailing_asserts_dropped", FULL + "\n\nassert add([1, 2]) == 3\nassert add([]) == 0\n", "\n" + FULL),
    ("main_guard_dropped", FULL + '\n\nif __name__ == "__main__":\n    print(add([1, 2]))\n', "\n" + FULL),
    ("example_usage_dropped", FULL + "\n# Example usage:\nnumbers = [1, 2, 3]\nresult = add(numbers)\nprint(result)\n",
     "\n" + FULL),
    ("doctest_run_dropped", FULL + "\nimport doctest\ndoctest.testmod()\n", "\n" + FULL + "\nimport doctest\n"),
    ("helper_after_function_kept", FULL + "\n\ndef helper():\n    return 0\n",
     "\n" + FULL + "\n\ndef helper():\n    return 0\n"),
    ("constant_read_by_function_kept", "def add(xs):\n    return sum(xs) + ZERO\n\nZERO = 0\nprint(add([1]))\n",
     "\ndef add(xs):\n    return sum(xs) + ZERO\n\nZERO = 0\n"),
    ("body_then_column0_print", "    return sum(xs)\n\nprint(add([1, 2]))\n", "    return sum(xs)\n"),
    ("empty", "", ""),
]


@pytest.mark.parametrize("code,expected", [c[1:] for c in COMPLETION_CASES], ids=[c[0] for c in COMPLETION_CASES])
def test_function_prompt_completion_table(code, expected):
    completion = to_completion(code, HE)
    assert completion == expected
    compile(PROMPT + completion, "program", "exec")  # program = prompt + completion is valid Python


def test_unparseable_answer_is_kept_for_the_evaluator_to_report():
    broken = "def add(xs):\n    return sum(xs\n"
    assert to_completion(broken, HE) == "\n" + broken


def test_functional_answer_loses_trailing_tests_but_not_imports():
    problem = CodeProblem(problem_id="m/1", problem="p", metadata={"func_name": "f"})
    code = "import math\n\ndef f(x):\n    return math.floor(x)\n\nassert f(1.5) == 1\nprint(f(2.5))\n"
    assert to_completion(code, problem) == "import math\n\ndef f(x):\n    return math.floor(x)\n"


def test_leetcode_class_answer_loses_example_calls():
    problem = CodeProblem(problem_id="lc/1", problem="p", metadata={"func_name": "twoSum",
                                                                   "starter_code": "class Solution:\n"})
    code = "class Solution:\n    def twoSum(self, a):\n        return a\n\nprint(Solution().twoSum([1]))\n"
    assert to_completion(code, problem) == "class Solution:\n    def twoSum(self, a):\n        return a\n"


def test_stdin_program_keeps_its_main_guard():
    problem = CodeProblem(problem_id="s/1", problem="p", test_cases=[TestCase(type="stdin", input="1\n", output="1\n")])
    code = 'def main():\n    print(input())\n\nif __name__ == "__main__":\n    main()\n'
    assert to_completion(code, problem) == code


def test_answer_without_test_markers_is_untouched():
    code = "def f(x):\n    return x\n\nCACHE = {}\n"
    assert drop_test_scaffolding(code) == code


def test_syntax_error_answer_is_cut_at_its_main_guard():
    code = 'def f(x):\n    return (x\n\nif __name__ == "__main__":\n    f(1)\n'
    assert drop_test_scaffolding(code) == "def f(x):\n    return (x\n"
