"""System prompts by id. Prompts are data: changing a prompt changes only this folder.

    python inference.py generate --dataset mbpp --system-prompt-id helpful_coder --prompt-id basic ...

An empty string means "send no system message" (some chat templates, e.g. Gemma's, reject one).
"""

SYSTEM_PROMPTS = {
    # No system message at all: the server's chat template applies its own default.
    "none": "",
    # A plain, neutral default: it names the role without steering the format.
    "default": "You are a helpful assistant.",
    # The seed's scraper prompt style: asks for one fenced block, which is what extraction expects.
    "helpful_coder": (
        "You are a helpful and expert Python programmer. Think about the problem, then give your "
        "final solution as one complete, self-contained Python program in a single ```python code block."
    ),
    # Qwen2.5-Coder's own HumanEval script for instruct models (issue 7 reproduces its figure).
    "qwen_instruct": "You are an intelligent programming assistant to produce Python algorithmic solutions",
    # LiveCodeBench's generic system prompt (lcb_runner/prompts/code_generation.py), for comparable figures.
    "lcb": (
        "You are an expert Python programmer. You will be given a question (problem specification) and "
        "will generate a correct Python program that matches the specification and passes all tests."
    ),
    # SWE-bench's run_api.py sends the first line of the oracle text as the system message; this is
    # that line, used when a problem has no oracle text of its own.
    "swebench": "You will be provided with a partial code base and an issue statement explaining a problem to resolve.",
}
