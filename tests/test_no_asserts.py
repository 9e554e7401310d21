"""Invariants in the code that serves requests are explicit errors: `python -O` strips
assert statements, and with them the check (issue 25)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "adledger"


def test_services_resolvers_and_store_hold_no_assert_statement() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for layer in ("services", "resolvers", "store")
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert found == []
