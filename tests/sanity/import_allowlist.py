"""An import-linter contract type that says what a layer MAY import (``type = "allowlist"``).

Why: import-linter's own contracts are denylists (``forbidden``) or orderings (``layers``); a
module a forbidden list does not name passes — an adapter could import ``core.readmodels.proposal``
and keep every contract, because no list had thought of it. Here the contract names what is allowed
and everything else in the project is refused, so a new module is forbidden until a rule lets it in.

Options (``[[tool.importlinter.contracts]]`` in ``pyproject.toml``):

- ``source_modules``: the layer (packages and modules; their descendants too);
- ``allowed_modules``: what the layer may import besides itself (descendants too);
- ``ignore_imports``: single imports let through, each with its reason beside it in the file.

Only direct imports are checked — every layer has its own allowlist, so an indirect path is made of
direct imports each checked where it starts — and every import counts, including those inside
functions (grimp reads them all). Registered in ``[tool.importlinter]`` as ``contract_types``.
"""

from __future__ import annotations

from typing import Any

from grimp import ImportGraph
from importlinter.application import contract_utils, output
from importlinter.application.contract_utils import AlertLevel
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck
from importlinter.domain.helpers import module_expressions_to_modules


def _within(module: str, packages: set[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


class AllowlistContract(Contract):
    type_name = "allowlist"

    source_modules = fields.SetField(subfield=fields.ModuleExpressionField())
    allowed_modules = fields.SetField(subfield=fields.ModuleExpressionField())
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(AlertLevel, default=AlertLevel.ERROR)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph, ignore_imports=self.ignore_imports,  # type: ignore[arg-type]
            unmatched_alerting=self.unmatched_ignore_imports_alerting)  # type: ignore[arg-type]
        sources = {m.name for m in module_expressions_to_modules(graph, self.source_modules)}  # type: ignore[arg-type]
        allowed = {m.name for m in module_expressions_to_modules(graph, self.allowed_modules)}  # type: ignore[arg-type]
        layer = {m for s in sources for m in {s, *graph.find_descendants(s)}}
        refused: list[dict[str, Any]] = []
        for importer in sorted(layer):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if _within(imported, sources) or _within(imported, allowed):
                    continue
                details = graph.get_import_details(importer=importer, imported=imported)
                refused.append({"importer": importer, "imported": imported,
                                "line_numbers": sorted(d["line_number"] for d in details)})
        return ContractCheck(kept=not refused, warnings=list(removal.warnings),
                             ignored_import_count=removal.ignored_import_count,
                             metadata={"refused": refused, "allowed": sorted(allowed)})

    def render_broken_contract(self, check: ContractCheck) -> None:
        output.print_error(f"may import only itself and: {', '.join(check.metadata['allowed'])}")
        output.new_line()
        for r in check.metadata["refused"]:
            lines = ", ".join(f"l.{n}" for n in r["line_numbers"])
            output.print_error(f"-   {r['importer']} -> {r['imported']} ({lines})", bold=False)
        output.new_line()
