"""Reading test data written as Python literals (trusted side only).

`ast.literal_eval` plus the spellings datasets use for non-finite floats:
inf, nan, float('inf'), float("-inf"), math.inf.
Example: parse_literal("[[1, 2], float('inf')]") -> [[1, 2], inf]
"""
from __future__ import annotations

import ast
import math

_NAMES = {"inf": math.inf, "nan": math.nan, "Infinity": math.inf, "NaN": math.nan}


def parse_literal(text: str):
    """Raise ValueError when `text` is not a plain-data literal."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"not a literal: {e.msg}") from None
    return ast.literal_eval(_NonFinite().visit(tree))


class _NonFinite(ast.NodeTransformer):
    def visit_Name(self, node):
        if node.id in _NAMES:
            return ast.copy_location(ast.Constant(_NAMES[node.id]), node)
        return node

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id == "math" and node.attr in ("inf", "nan"):
            return ast.copy_location(ast.Constant(getattr(math, node.attr)), node)
        return node

    def visit_Call(self, node):
        if (isinstance(node.func, ast.Name) and node.func.id == "float" and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            try:
                return ast.copy_location(ast.Constant(float(node.args[0].value)), node)
            except ValueError:
                pass
        return self.generic_visit(node)
