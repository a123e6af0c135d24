"""Prompts by id: a problem plus a template id and a system-prompt id become chat messages.

    from prompts import build_messages, default_prompt_id
    messages = build_messages(problem, prompt_id="humaneval", system_prompt_id="helpful_coder")

The texts live in prompts/system.py (SYSTEM_PROMPTS) and prompts/templates.py (TEMPLATES); this
module only computes the fields a template may use. `python inference.py generate --help` lists the ids.
"""
from __future__ import annotations

import ast

from prompts.system import SYSTEM_PROMPTS
from prompts.templates import TEMPLATES, Template

__all__ = ["SYSTEM_PROMPTS", "TEMPLATES", "Template", "build_messages", "build_completion_prompt",
           "default_prompt_id", "prompt_fields", "template"]

# SWE-bench's patch instruction, used when a problem carries no oracle text of its own
# (wording from SWE-bench's create_instance.py style-3 prompt, shortened).
_SWEBENCH_USER = (
    "<issue>\n{statement}\n</issue>\n\n"
    "I need you to solve the provided issue by generating a single patch file that I can apply directly "
    "to this repository using git apply. Please respond with a single patch file in the following format.\n"
    "<patch>\n--- a/path/to/file.py\n+++ b/path/to/file.py\n@@ -1,3 +1,3 @@\n-old line\n+new line\n</patch>")


def template(prompt_id: str) -> Template:
    if prompt_id not in TEMPLATES:
        raise ValueError(f"unknown prompt id {prompt_id!r}; choose one of {', '.join(sorted(TEMPLATES))}")
    return TEMPLATES[prompt_id]


def system_text(system_prompt_id: str) -> str:
    if system_prompt_id not in SYSTEM_PROMPTS:
        raise ValueError(f"unknown system prompt id {system_prompt_id!r}; "
                         f"choose one of {', '.join(sorted(SYSTEM_PROMPTS))}")
    return SYSTEM_PROMPTS[system_prompt_id]


def default_prompt_id(problem, dataset: str = "") -> str:
    """The template that fits the problem's shape: patch, function completion, stdin, class, function."""
    meta = problem.metadata
    if dataset == "swebench" or "instance_id" in meta or "base_commit" in meta:
        return "swebench_patch"
    if meta.get("prompt"):
        return "humaneval"
    if any(t.type == "stdin" for t in problem.test_cases):
        return "stdin_program"
    if "class Solution" in (meta.get("starter_code") or ""):
        return "leetcode_class"
    if meta.get("func_name"):
        return "function"
    return "basic"


def split_function_prompt(prompt: str, func_name: str) -> tuple[str, str, str] | None:
    """HumanEval prompt -> (signature, docstring, snippet without the docstring); None without that `def`.

    Example: `def add(x, y):` with docstring 'Add.' -> ('add(x, y)', 'Add.', 'def add(x, y):')
    A docstring that is not the function's first statement (HumanEval/115 imports first) stays in
    the snippet and the returned docstring is "".
    """
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func_name]
    if not defs or not defs[-1].body:
        return None
    node, lines = defs[-1], prompt.splitlines()
    first = node.body[0]
    header = "\n".join(lines[node.lineno - 1:first.lineno - 1]).strip()
    signature = " ".join(header.removeprefix("def ").removesuffix(":").split())
    docstring = ast.get_docstring(node, clean=True)
    if docstring is None or not isinstance(first, ast.Expr):
        return signature, "", prompt.strip("\n")
    return signature, docstring, "\n".join(lines[:first.lineno - 1]).strip("\n")


def prompt_fields(problem) -> dict[str, str]:
    """Every field a template may use (see prompts/templates.py)."""
    meta = problem.metadata
    func_name = meta.get("func_name") or meta.get("entry_point") or ""
    starter = meta.get("starter_code") or ""
    code_prompt = meta.get("prompt") or starter
    split = split_function_prompt(code_prompt, func_name) if code_prompt and func_name else None
    # Without a docstring to split out, the whole prompt is the snippet and the statement the description.
    signature, docstring, snippet = split or (func_name, "", code_prompt.strip("\n"))
    return {
        "statement": problem.problem.strip(),
        "prompt": code_prompt.strip("\n") or problem.problem.strip(),
        "code_prompt": code_prompt or problem.problem,
        "signature": signature,
        "docstring": docstring or "(described in the code below)",
        "snippet": snippet,
        "starter_code": starter.strip("\n").rstrip(),
        "starter_section": f"\n\nUse this starter code:\n```python\n{starter.strip()}\n```" if starter.strip() else "",
        "func_name": func_name,
        "issue_text": _swebench_user(problem),
    }


def _oracle_text(problem) -> str:
    meta = problem.metadata
    return meta.get("text") or meta.get("oracle_text") or ""


def _swebench_user(problem) -> str:
    text = _oracle_text(problem)
    if text and "\n" in text:
        return text.split("\n", 1)[1]  # SWE-bench run_api.py: the first line is the system message
    return _SWEBENCH_USER.format(statement=problem.problem.strip())


def _render(problem, prompt_id: str, system_prompt_id: str | None) -> tuple[str, str, Template]:
    tpl = template(prompt_id)
    system_id = system_prompt_id or tpl.system
    system = system_text(system_id)
    if system_id == "swebench" and "\n" in _oracle_text(problem):
        system = _oracle_text(problem).split("\n", 1)[0]
    try:
        user = tpl.user.format_map(prompt_fields(problem))
    except KeyError as e:
        raise ValueError(f"prompt {prompt_id!r} uses an unknown field {e}") from None
    return system, user, tpl


def build_messages(problem, prompt_id: str, system_prompt_id: str | None = None) -> list[dict[str, str]]:
    """Chat messages for one problem. Example: [{"role": "system", ...}, {"role": "user", ...}]"""
    system, user, _ = _render(problem, prompt_id, system_prompt_id)
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": user}]


def build_completion_prompt(problem, prompt_id: str, system_prompt_id: str | None = None) -> tuple[str, str]:
    """(text for /v1/completions, assistant prefix to put back in front of the reply).

    Templates with a `completion` form send it as is (a base model continues HumanEval's prompt);
    the others are flattened to plain text, since a generic client cannot know the model's chat
    template (render it server-side through /v1/chat/completions when you can).
    """
    system, user, tpl = _render(problem, prompt_id, system_prompt_id)
    if tpl.completion:
        return tpl.completion.format_map(prompt_fields(problem)), ""
    if tpl.chat_format == "chatml":
        # Qwen2.5's own chat template, rendered as Qwen's evaluation script does, with the assistant
        # turn already opened by the prefix: the model continues inside the code fence.
        turns = ([("system", system)] if system else []) + [("user", user)]
        text = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns)
        return text + f"<|im_start|>assistant\n{tpl.assistant_prefix}", tpl.assistant_prefix
    text = (f"{system}\n\n" if system else "") + f"{user}\n\n{tpl.assistant_prefix}"
    return text, tpl.assistant_prefix
