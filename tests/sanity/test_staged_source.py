"""The staged path (``core/staged/``) holds no write capability of its own and reaches into no
lifecycle internals: it is handed the engine, the gate check and the backup read."""

from __future__ import annotations

import ast

from tests.sanity.test_write_path import ROOT, parsed


def test_staged_reaches_into_no_lifecycle_internals() -> None:
    """No module of core/staged/ imports core.lifecycle or core.grants, or touches another object's
    private member (its phases call each other's public methods)."""
    files = sorted((ROOT / "core" / "staged").glob("*.py"))
    assert len(files) >= 5, files
    for path in files:
        tree = parsed(path)
        imports = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imports |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imports if m and m.startswith(("core.lifecycle", "core.grants"))}, path
        private = [f"{path.name}:{n.lineno} {ast.unparse(n)}" for n in ast.walk(tree)
                   if isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__")
                   and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))]
        assert private == [], private
