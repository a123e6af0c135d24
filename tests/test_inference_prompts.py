"""Golden prompts: the exact messages each dataset shape renders to (prompts/), and the id checks.

    .venv/bin/python -m pytest -q tests/test_inference_prompts.py

A change to a prompt must show up here: these strings are what the model reads.
"""
from __future__ import annotations

import pytest

import prompts
from models import CodeProblem, TestCase

HELPFUL = ("You are a helpful and expert Python programmer. Think about the problem, then give your final "
           "solution as one complete, self-contained Python program in a single ```python code block.")
LCB = ("You are an expert Python programmer. You will be given a question (problem specification) and will "
       "generate a correct Python program that matches the specification and passes all tests.")
SWE = "You will be provided with a partial code base and an issue statement explaining a problem to resolve."

HE_PROMPT = '\n\ndef add(x: int, y: int):\n    """Add two numbers x and y\n    >>> add(2, 3)\n    5\n    """\n'
HUMANEVAL = CodeProblem("HumanEval/53", HE_PROMPT, metadata={"prompt": HE_PROMPT, "func_name": "add"})
MBPP = CodeProblem(
    "Mbpp/2", "Write a function to find the similar elements from the given two tuple lists.\n"
    "Your code should define the function `similar_elements` and pass these tests:\n\n"
    "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n",
    metadata={"func_name": "similar_elements"},
    test_cases=[TestCase("functional", input="[[3, 4], [4]]", output="[4]")])
STDIN = CodeProblem("abc001_a", "Print the sum of A and B.\n\nInput\n\nA B\n",
                    test_cases=[TestCase("stdin", input="1 2\n", output="3\n")])
LEETCODE = CodeProblem("lc_1", "Given nums, return its length.",
                       metadata={"func_name": "size",
                                 "starter_code": "class Solution:\n"
                                                 "    def size(self, nums: List[int]) -> int:\n        "},
                       test_cases=[TestCase("functional", input="[[1]]", output="1")])
SWEBENCH = CodeProblem("o__r-1", "The value is wrong.", metadata={"instance_id": "o__r-1"})
SWEBENCH_ORACLE = CodeProblem("o__r-2", "The value is wrong.", metadata={
    "instance_id": "o__r-2", "text": SWE + "\n<issue>\nThe value is wrong.\n</issue>\nRespond below:"})

GOLDEN = [
    (HUMANEVAL, "humaneval", [
        {"role": "system", "content": HELPFUL},
        {"role": "user", "content":
            "Write a Python function `add(x: int, y: int)` to solve the following problem:\n"
            "Add two numbers x and y\n>>> add(2, 3)\n5\n\n"
            "Complete this code:\n```python\ndef add(x: int, y: int):\n```\n\n"
            "Reply with the complete function, including any imports it needs, in a single ```python code block."}]),
    (MBPP, "function", [
        {"role": "system", "content": HELPFUL},
        {"role": "user", "content":
            "Write a function to find the similar elements from the given two tuple lists.\n"
            "Your code should define the function `similar_elements` and pass these tests:\n\n"
            "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n\n"
            "Write a Python function named `similar_elements` that solves this task. Include any imports it "
            "needs and do not add test code. Reply with the complete solution in a single ```python code block."}]),
    (STDIN, "stdin_program", [
        {"role": "system", "content": LCB},
        {"role": "user", "content":
            "### Question:\nPrint the sum of A and B.\n\nInput\n\nA B\n\n"
            "### Format: Read the inputs from stdin solve the problem and write the answer to stdout (do not "
            "directly test on the sample inputs). Enclose your code within delimiters as follows. Ensure that "
            "when the python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT.\n"
            "```python\n# YOUR CODE HERE\n```\n\n### Answer: (use the provided format with backticks)\n\n"}]),
    (LEETCODE, "leetcode_class", [
        {"role": "system", "content": LCB},
        {"role": "user", "content":
            "### Question:\nGiven nums, return its length.\n\n"
            "### Format: You will use the following starter code to write the solution to the problem and "
            "enclose your code within delimiters.\n"
            "```python\nclass Solution:\n    def size(self, nums: List[int]) -> int:\n```\n\n"
            "### Answer: (use the provided format with backticks)\n\n"}]),
    (SWEBENCH, "swebench_patch", [
        {"role": "system", "content": SWE},
        {"role": "user", "content":
            "<issue>\nThe value is wrong.\n</issue>\n\nI need you to solve the provided issue by generating a "
            "single patch file that I can apply directly to this repository using git apply. Please respond "
            "with a single patch file in the following format.\n<patch>\n--- a/path/to/file.py\n"
            "+++ b/path/to/file.py\n@@ -1,3 +1,3 @@\n-old line\n+new line\n</patch>"}]),
    (SWEBENCH_ORACLE, "swebench_patch", [  # SWE-bench's run_api.py: first line = system, the rest = user
        {"role": "system", "content": SWE},
        {"role": "user", "content": "<issue>\nThe value is wrong.\n</issue>\nRespond below:"}]),
]


@pytest.mark.parametrize("problem,prompt_id,expected", GOLDEN, ids=[g[0].problem_id for g in GOLDEN])
def test_default_prompt_for_each_dataset_shape_renders_the_golden_messages(problem, prompt_id, expected):
    assert prompts.default_prompt_id(problem) == prompt_id
    assert prompts.build_messages(problem, prompt_id) == expected


def test_qwen_instruct_prompt_as_qwens_script_sends_it():
    messages = prompts.build_messages(HUMANEVAL, "qwen_instruct")
    assert messages == [
        {"role": "system",
         "content": "You are an intelligent programming assistant to produce Python algorithmic solutions"},
        {"role": "user", "content": "Can you complete the following Python function?\n```python\n"
                                    + HE_PROMPT.strip("\n") + "\n```"}]
    text, prefix = prompts.build_completion_prompt(HUMANEVAL, "qwen_instruct")
    # on /v1/completions: Qwen's chat template rendered client-side, the assistant turn pre-filled
    assert prefix == "```python\n"
    assert text == ("<|im_start|>system\n" + messages[0]["content"] + "<|im_end|>\n"
                    "<|im_start|>user\n" + messages[1]["content"] + "<|im_end|>\n"
                    "<|im_start|>assistant\n```python\n")


def test_base_model_prompt_is_the_code_prompt_byte_for_byte():
    assert prompts.build_completion_prompt(HUMANEVAL, "humaneval_base") == (HE_PROMPT, "")


def test_system_prompt_id_overrides_the_templates_and_none_sends_no_system_message():
    system = prompts.build_messages(MBPP, "basic", "default")[0]
    assert system == {"role": "system", "content": "You are a helpful assistant."}
    assert [m["role"] for m in prompts.build_messages(MBPP, "basic", "none")] == ["user"]


def test_basic_prompt_shows_starter_code_when_there_is_some():
    user = prompts.build_messages(LEETCODE, "basic")[-1]["content"]
    assert user == ("Given nums, return its length.\n\nUse this starter code:\n```python\nclass Solution:\n"
                    "    def size(self, nums: List[int]) -> int:\n```\n\n"
                    "Reply with the complete solution in a single ```python code block.")


def test_a_humaneval_prompt_whose_docstring_is_not_first_keeps_it_in_the_snippet():
    prompt = 'def max_fill(grid, capacity):\n    import math\n    """Count the buckets."""\n'
    problem = CodeProblem("HumanEval/115", prompt, metadata={"prompt": prompt, "func_name": "max_fill"})
    user = prompts.build_messages(problem, "humaneval")[-1]["content"]
    assert "`max_fill(grid, capacity)`" in user and f"```python\n{prompt.strip()}\n```" in user


@pytest.mark.parametrize("call,message", [
    (lambda: prompts.build_messages(MBPP, "no_such_prompt"), "unknown prompt id 'no_such_prompt'; choose one of"),
    (lambda: prompts.build_messages(MBPP, "basic", "no_such_system"), "unknown system prompt id 'no_such_system'"),
])
def test_unknown_ids_are_refused_with_the_choices(call, message):
    with pytest.raises(ValueError, match=message):
        call()
