"""Migrations import only the store's layer: import-linter cannot see them (their module names
start with a digit), so this test reads their imports (issue 35: 0007 imported the planner)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = sorted((ROOT / "core" / "store" / "migrations").rglob("*.py"))
ABOVE_THE_STORE = ("brain", "campaigns", "api", "gateward", "evals", "bench", "testing", "executors", "policies")


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_migrations_are_found() -> None:
    assert len(MIGRATIONS) >= 25


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.name)
def test_a_migration_imports_nothing_above_the_store(path: Path) -> None:
    above = sorted(n for n in _imported(path) if n.split(".")[0] in ABOVE_THE_STORE)
    assert not above, f"{path.name} imports {above}: freeze what it needs into the migration"
