"""The code stays readable: no function in assistant/ or vectorstore/ longer than a screen (80 lines)."""

from __future__ import annotations

import ast

from tests.conftest import ROOT


def test_no_function_is_longer_than_80_lines() -> None:
    long = []
    for package in ("assistant", "vectorstore"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > 80:
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
