"""Hand-written pieces the generated read models refer to: values *inside* a column, which the
schema does not describe (a proposal's ``changes`` is one JSON column of these)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ChangeView:
    """``core.kernel.models.Change`` as ``Change(**stored)`` reads it (the path stripped)."""

    path: str
    value: Any
    type: str | None = None
    target: str | None = None


class ProposalViewMethods:
    """What :class:`core.readmodels.proposal.ProposalView` answers as ``core.kernel.models.Proposal`` does
    (its fields are generated; these are not fields)."""

    __slots__ = ()
    targets: list[str]
    changes: list[ChangeView]

    @property
    def per_target(self) -> bool:
        """As ``Proposal.per_target``: some change carries its own target."""
        return any(c.target is not None for c in self.changes)

    def changes_for(self, device_id: str) -> list[ChangeView]:
        """As ``Proposal.changes_for``: every untargeted change and the device's own, in order."""
        return [c for c in self.changes if c.target is None or c.target == device_id]

    def values_by_device(self) -> dict[str, list[ChangeView]]:
        return {t: self.changes_for(t) for t in self.targets}
