"""What people read about campaigns — the list, one campaign's status, a selector's live count —
on the store alone.

Why apart from ``campaigns.service``: a read needs no lifecycle, policy pack or orchestrator, and
building them was most of the 1.3–4.5 s ``gateward campaign status`` took (the other read
commands take 0.2–0.5 s). :class:`Campaigns` is a :class:`CampaignReader` too, so the API, the
console and the CLI read exactly the same dictionaries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from campaigns.schema import CampaignAnalysisRow, CampaignBatchRow, CampaignDeviceRow, CampaignRow
from campaigns.words import (  # noqa: F401  (re-exported: read from here before)
    EMERGENCY_PATH,
    _strata_totals,
    compose,
    effective_state,
    phase_text,
    summary,
    window_info,
)
from core.kernel.errors import NotFound
from core.store.schema import DeviceRow, ExecutionRow, ProposalRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from campaigns.spec import Target
    from core.store.db import Store


class CampaignReader:
    """Campaign reads over one store; ``clock`` is the time policy sees (the change windows)."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def _get(self, cid: str) -> CampaignRow:
        with self.store.read() as s:
            c = s.get(CampaignRow, cid)
        if c is None:
            raise NotFound(f"unknown campaign {cid!r}; list campaigns with `gateward campaign status`")
        return c

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.store.read() as s:
            rows = s.execute(select(CampaignRow, ProposalRow.state).join(
                ProposalRow, ProposalRow.id == CampaignRow.proposal_id, isouter=True)
                .order_by(CampaignRow.created_at.desc()).limit(limit)).all()
        return [self._summary(c, p_state) for c, p_state in rows]

    @staticmethod
    def _summary(c: CampaignRow, proposal_state: str | None = None) -> dict[str, Any]:
        return summary(c, proposal_state)

    def status(self, cid: str) -> dict[str, Any]:
        c = self._get(cid)
        with self.store.read() as s:
            p = s.get(ProposalRow, c.proposal_id)
            if p is None:
                raise NotFound(f"campaign {cid}: its proposal {c.proposal_id} is missing")
            counts = {str(st): int(n) for st, n in s.execute(select(ExecutionRow.status, func.count()).where(
                ExecutionRow.proposal_id == c.proposal_id).group_by(ExecutionRow.status)).all()}
            per_ring = s.execute(select(
                CampaignBatchRow.ring, func.count(), func.sum(CampaignBatchRow.n_failed),
            ).where(CampaignBatchRow.campaign_id == cid).group_by(CampaignBatchRow.ring)).all()
            now = ring_statuses(s, cid, c.proposal_id)
            states = dict(s.execute(select(CampaignBatchRow.state, func.count()).where(
                CampaignBatchRow.campaign_id == cid).group_by(CampaignBatchRow.state)).all())
            analyses = list(s.scalars(select(CampaignAnalysisRow).where(CampaignAnalysisRow.campaign_id == cid)
                                      .order_by(CampaignAnalysisRow.id.desc()).limit(40)))
            # The workers that carried batches out for the person (never an anonymous robot).
            workers = [{"worker": w, "batches": int(n)} for w, n in s.execute(
                select(CampaignBatchRow.worker, func.count()).where(
                    CampaignBatchRow.campaign_id == cid, CampaignBatchRow.worker.is_not(None))
                .group_by(CampaignBatchRow.worker).order_by(CampaignBatchRow.worker)).all()]
        return compose(c, p, counts, per_ring, now, states, analyses, workers, self.clock())

    def selection(self, target: Target) -> dict[str, Any]:
        """How many devices a selector matches now (the console's live count while a campaign is
        defined), whether that is the whole fleet (which ``create`` refuses without ``all_fleet``),
        and the fleet's models, firmware and regions with their counts to pick from."""
        from core.store import repo

        with self.store.read() as s:
            ids = repo.select_devices(s, target.selector())
            fleet = int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0)
            facets = {name: {str(v): int(n) for v, n in s.execute(
                select(col, func.count()).where(DeviceRow.status == repo.ACTIVE).group_by(col).order_by(col)).all()}
                for name, col in (("model", DeviceRow.model), ("firmware", DeviceRow.firmware),
                                  ("region", DeviceRow.region), ("vendor", DeviceRow.vendor))}
        return {"devices": len(ids), "fleet": fleet, "target": target.describe(),
                "whole_fleet": bool(ids) and len(ids) == fleet, "facets": facets}


def ring_statuses(s: Session, cid: str, pid: str) -> dict[int, dict[str, int]]:
    """Per ring, how many of its devices are in each execution status *now*.

    Why from the execution rows and not the batch rows: a batch row is written once, when the
    batch finishes; an abort's rollback (or a later ``gateward rollback`` of the proposal) moves
    devices from verified to rolled back without touching it, so sums over batches showed an
    aborted campaign as fully green with "rolled back 0"."""
    rows = s.execute(select(CampaignDeviceRow.ring, ExecutionRow.status, func.count()).join(
        ExecutionRow, (ExecutionRow.device_id == CampaignDeviceRow.device_id) & (ExecutionRow.proposal_id == pid))
        .where(CampaignDeviceRow.campaign_id == cid).group_by(CampaignDeviceRow.ring, ExecutionRow.status)).all()
    out: dict[int, dict[str, int]] = {}
    for ring, status, n in rows:
        out.setdefault(int(ring), {})[str(status)] = int(n)
    return out
