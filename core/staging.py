"""Who may say which devices of a staged proposal may be written now: the stage authority port.

Why a port: the one gate (:class:`core.lifecycle.gates.Gates`) must hold a campaign's obligations —
its rings, its control cohort, its rehearsal — on every write, but the ring plan lives with the
campaigns, a layer above core. So core states what it needs here and the composition root binds the
campaigns' implementation (``campaigns.admission.CampaignAdmission``) to the lifecycle, as it binds the
grant verifier to the adapters. A lifecycle with none bound refuses every batch of a proposal whose
decision demands stages or a rehearsal (fail closed); a staged proposal with no such obligation and
no campaign (a remediation group) runs as one batch.

The demands come from policy's coded obligations only (``obligation.stage``, ``obligation.rehearsal``),
never from its messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from core.kernel.models import PolicyItem, Proposal


class Way(StrEnum):
    """How a write reaches its devices — what the one gate holds the decision's obligations against."""

    APPLY = "apply"  #: every target at once: a person's or a job's apply, the scheduler's start
    BATCH = "batch"  #: some targets of a staged proposal: a campaign's ring batch, a remediation group


STAGE = "obligation.stage"
REHEARSAL = "obligation.rehearsal"


@dataclass(frozen=True)
class StageDemand:
    """What the decision that approved a hash demands of how it is written."""

    stages: bool = False  #: rings (``obligation.stage``): never written all at once
    rehearsal: bool = False  #: a clean rehearsal of this exact hash first (``obligation.rehearsal``)

    @classmethod
    def of(cls, items: Iterable[PolicyItem]) -> StageDemand:
        codes = {i.code for i in items}
        return cls(stages=STAGE in codes, rehearsal=REHEARSAL in codes)

    @property
    def any(self) -> bool:
        return self.stages or self.rehearsal

    def words(self) -> str:
        parts = (["a staged rollout in rings"] if self.stages else []) + (
            ["a clean rehearsal of this exact content"] if self.rehearsal else [])
        return " and ".join(parts)


class StageAuthority(Protocol):
    """The campaigns' answer to "may these devices of this staged proposal be written now?"."""

    def governs(self, s: Session, proposal_id: str) -> bool:
        """A campaign holds this proposal (its targets are that campaign's ring plan)."""
        ...

    def admit(self, s: Session, p: Proposal, device_ids: Sequence[str], demand: StageDemand) -> None:
        """Raise :class:`core.kernel.errors.ObligationUnmet` unless every one of ``device_ids`` may be
        written now under ``p``'s campaign: running, in a ring it has reached, in a batch it
        dispatched, rehearsed clean for ``p.hash`` when ``demand.rehearsal``. With no campaign for
        ``p``: refused when ``demand.any``, else admitted."""
        ...

    def edited(self, s: Session, p: Proposal, old_hash: str, actor: str) -> None:
        """``p`` (governed) was edited to new content: the campaign shows it, its rehearsal is void
        and the approvers are told (audited, in the caller's transaction)."""
        ...
