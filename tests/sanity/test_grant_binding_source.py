"""Only the composition root binds a grant verifier (``tests/unit/test_grant_binding.py`` has the
behaviour: two runtimes each accept only their own grants, an unbound adapter refuses every write)."""

from __future__ import annotations

import ast

from tests.sanity.test_write_path import ROOT, parsed


def test_only_the_composition_root_binds_a_verifier() -> None:
    """Binding is what makes an adapter accept grants: in product code only ``gateward/runtime.py``
    binds one (its lifecycle's), and ``core/routing.py`` passes it on to the adapters it builds."""
    allowed = {"gateward/runtime.py", "core/routing.py", "core/kernel/ports/executor.py"}
    offenders = []
    for d in ("core", "brain", "api", "evals", "gateward", "policies", "bench", "executors", "campaigns"):
        for path in (ROOT / d).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel in allowed or "migrations" in path.parts:
                continue
            for node in ast.walk(parsed(path)):
                if isinstance(node, ast.Attribute) and node.attr in ("bind_grant_verifier", "_grant_verifier"):
                    offenders.append(f"{rel}:{node.lineno} .{node.attr}")
    assert offenders == [], f"only the composition root binds a grant verifier: {offenders}"
