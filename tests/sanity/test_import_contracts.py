"""The import contracts catch what they are for: a layer importing a module no rule allows it
(here an adapter reading a core read model, which every denylist of the old contracts let through),
and a cycle between two modules that a lazy import inside a function hid."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import grimp

from tests.sanity.import_allowlist import AllowlistContract

ROOT = Path(__file__).resolve().parents[2]


def _contract(name_starts: str) -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return next(c for c in config["contracts"] if c["name"].startswith(name_starts))


def _check(options: dict[str, Any], graph: grimp.ImportGraph) -> Any:
    contract = AllowlistContract(name=options["name"], session_options={}, contract_options=options)
    return contract.check(graph, verbose=False)


def _graph(options: dict[str, Any], *imports: tuple[str, str]) -> grimp.ImportGraph:
    """A graph of ``imports`` that also holds every module the contract names."""
    graph = grimp.ImportGraph()
    for name in [*options["source_modules"], *options["allowed_modules"]]:
        graph.add_module(name)
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}")
    return graph


def test_an_adapter_importing_a_read_model_breaks_the_adapters_allowlist() -> None:
    adapters = _contract("Executors")
    today = [("executors.sim.executor", "core.kernel.models"), ("executors.sim.executor", "core.kernel.ports.executor"),
             ("executors.sim.lite", "core.store.dburl"), ("executors.sim.twin", "core.store.fastsql"),
             ("core.readmodels.proposal", "core.kernel.models")]
    assert _check(adapters, _graph(adapters, *today)).kept
    broken = _check(adapters, _graph(adapters, *today, ("executors.sim.executor", "core.readmodels.proposal")))
    assert not broken.kept
    assert broken.metadata["refused"] == [{"importer": "executors.sim.executor",
                                           "imported": "core.readmodels.proposal", "line_numbers": [1]}]


def test_a_module_no_rule_names_is_refused_to_the_kernel() -> None:
    kernel = _contract("The domain kernel")
    graph = _graph(kernel, ("core.kernel.models", "core.kernel.errors"),
                   ("core.kernel.models", "core.brand_new_service"))
    check = _check(kernel, graph)
    assert not check.kept and [r["imported"] for r in check.metadata["refused"]] == ["core.brand_new_service"]


def test_understanding_importing_a_planner_module_breaks_its_allowlist() -> None:
    """brain.understanding reads text: the plan's vocabulary is allowed, the planner that uses it is not."""
    reading = _contract("Understanding")
    today = [("brain.understanding.intent", "brain.plan"), ("brain.understanding.offline", "core.kernel.models")]
    assert _check(reading, _graph(reading, *today)).kept
    broken = _check(reading, _graph(reading, *today, ("brain.understanding.checker", "brain.answers")))
    assert not broken.kept and [r["imported"] for r in broken.metadata["refused"]] == ["brain.answers"]


def test_lint_imports_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    pkg = tmp_path / "cyc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyc import b\n\nVALUE = 1\n")
    (pkg / "b.py").write_text("def later() -> int:\n    from cyc.a import VALUE\n\n    return VALUE\n")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_packages =\n    cyc\n\n[importlinter:contract:cycles]\nname = no cycles\n"
        "type = acyclic_siblings\nancestors =\n    cyc\n")
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "No cycles are allowed in cyc" in run.stdout, run.stdout
    (pkg / "b.py").write_text("def later() -> int:\n    return 1\n")
    again = subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr


def _top_level_packages() -> set[str]:
    """Every top-level package of the repository (a folder with ``__init__.py``), tests aside."""
    return {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in ("tests",)}


def test_no_top_level_package_escapes_the_contracts() -> None:
    """A new top-level package was outside every rule: not a root of the import graph, so nothing it
    imported — nor anything importing it — was checked. Each is a root and the source of an allowlist;
    the setuptools list ships exactly these."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lint = config["tool"]["importlinter"]
    packages = _top_level_packages()
    roots = set(lint["root_packages"])
    assert packages <= roots, f"not a root of [tool.importlinter]: {sorted(packages - roots)}"
    sources = {m.split(".")[0] for c in lint["contracts"] if c["type"] == "allowlist" for m in c["source_modules"]}
    assert roots <= sources, f"no allowlist contract says what these may import: {sorted(roots - sources)}"
    shipped = {p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages == shipped, (sorted(packages), sorted(shipped))


def test_a_leaf_of_core_importing_the_store_breaks_its_allowlist() -> None:
    """``core.redact`` (migration 0007 imports it) and ``core.localtime`` may import the kernel only,
    though the rest of core may import the store and the lifecycle."""
    leaves = _contract("Leaves of core")
    assert _check(leaves, _graph(leaves, ("core.redact", "core.kernel.jsontypes"))).kept
    graph = _graph(leaves, ("core.redact", "core.kernel.jsontypes"), ("core.localtime", "core.lifecycle"))
    broken = _check(leaves, graph)
    assert not broken.kept and [r["imported"] for r in broken.metadata["refused"]] == ["core.lifecycle"]
