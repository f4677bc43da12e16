"""The write path can only be reached through core.lifecycle (``docs/safety.md``, invariant 1).

Static checks over the source: only ``core/lifecycle/device_io.py`` — the lifecycle's device-I/O
module — imports ``core.grants`` or asks the router for a writer (no other module of ``core``, the
lifecycle's other phases included); nothing in ``brain/``, ``api/``, ``evals/`` or ``gateward/`` calls
an executor's write methods; and the planner-facing reader has no write attribute (tested in the
lifecycle suite).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ["core", "brain", "api", "evals", "gateward", "policies", "bench"]
NO_WRITE = ["brain", "api", "evals", "gateward", "policies"]
WRITE_CALLS = {"apply", "operate", "_apply", "_operate", "writer"}
GRANT_ISSUER = "core/lifecycle/device_io.py"  # the one module that issues write grants


def _py_files(*dirs: str) -> list[Path]:
    out: list[Path] = []
    for d in dirs:
        out += [p for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts]
    return out


@functools.cache
def parsed(path: Path) -> ast.Module:
    """``path``'s syntax tree, parsed once per test process: these checks (and
    ``test_grant_binding_source.py``'s) walk the same ~600 files, and parsing them again for each
    check was most of their time (4-5 s a check on 2 cores)."""
    return ast.parse(path.read_text())


def _imports(tree: ast.AST) -> set[str]:
    mods: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module)
            mods |= {f"{node.module}.{a.name}" for a in node.names}
    return mods


def test_only_the_lifecycle_imports_grants() -> None:
    offenders = []
    for path in _py_files(*PRODUCT, "executors"):
        rel = path.relative_to(ROOT).as_posix()
        if rel in (GRANT_ISSUER, "core/grants.py"):
            continue
        if any(m == "core.grants" or m.startswith("core.grants.") for m in _imports(parsed(path))):
            offenders.append(rel)
    assert offenders == [], f"only {GRANT_ISSUER} may import core.grants: {offenders}"


def test_only_the_device_io_module_asks_for_a_writer() -> None:
    """The router hands out writers to anyone who asks; inside ``core`` only the grant issuer may ask
    (the lifecycle's phases go through it), and it is the one module that names ``GrantAuthority``."""
    offenders = []
    for path in _py_files("core", "campaigns"):
        rel = path.relative_to(ROOT).as_posix()
        if rel in (GRANT_ISSUER, "core/grants.py"):
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "writer":
                offenders.append(f"{rel}:{node.lineno} .writer()")
            if isinstance(node, ast.Name) and node.id == "GrantAuthority":
                offenders.append(f"{rel}:{node.lineno} GrantAuthority")
    assert offenders == [], f"only {GRANT_ISSUER} may obtain a writer or a grant: {offenders}"


def _modules_named(tree: ast.AST) -> set[str]:
    """Names a file binds to a module other than an executor's (``import csv``, ``from brain.x
    import qualify`` where ``brain/x/qualify.py`` exists): ``csv.writer()`` or ``qualify.apply()``
    calls a module's function, not an executor's write method."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names if not a.name.startswith("executors")}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith("executors"):
            folder = ROOT.joinpath(*node.module.split("."))
            names |= {a.asname or a.name for a in node.names
                      if (folder / f"{a.name}.py").exists() or (folder / a.name / "__init__.py").exists()}
    return names


def test_no_surface_calls_executor_write_methods() -> None:
    offenders = []
    for path in _py_files(*NO_WRITE):
        tree = parsed(path)
        modules = _modules_named(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITE_CALLS:
                # lifecycle.apply(...) is the gate itself and is the one allowed 'apply'
                target = node.func.value
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if node.func.attr in ("apply", "rollback") and name in ("lifecycle", "lc"):
                    continue
                if isinstance(target, ast.Name) and target.id in modules:
                    continue
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.func.attr}()")
    assert offenders == [], f"write calls outside core.lifecycle: {offenders}"


def test_brain_does_not_import_executor_adapters_or_the_lifecycle_writer() -> None:
    offenders = []
    for path in _py_files("brain", "evals"):
        mods = _imports(parsed(path))
        bad = [m for m in mods if m.startswith("executors.") and m not in ("executors.base",
                                                                         "executors.base.ReadOnlyExecutor",
                                                                         "executors.base.ExecutorError",
                                                                         "executors.base.ParamValue",
                                                                         "executors.base.DeviceReader")]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {bad}")
    assert offenders == [], offenders


def test_nothing_imports_api() -> None:
    offenders = []
    for path in _py_files("core", "brain", "policies", "executors", "evals"):
        if any(m == "api" or m.startswith("api.") for m in _imports(parsed(path))):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], offenders
