"""The campaigns' side of the one gate: which devices of a staged proposal may be written now.

``core.staging.StageAuthority``, implemented over the campaign tables and bound to the lifecycle by
the composition root. The lifecycle's gate asks it before every staged batch, whichever way the
batch came (a worker's job, a redelivery, a resume after a crash), so a campaign's promises hold at
the write and not only where the orchestrator keeps them:

- the campaign is **running** (not created, paused, aborting or over);
- every device is in a **ring the campaign has reached** — the control cohort sits in the last ring
  and waits for it like any device there — and in a **batch the campaign dispatched** and is running;
- a decision that demands a **rehearsal** has a clean one of this exact hash.

A staged proposal no campaign holds (a remediation group) is admitted only when its decision
demands neither rings nor a rehearsal. An edit of a campaign's proposal (``edited``) keeps the
campaign's page true to the new content, voids its rehearsal and tells the approvers.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns import obligations, rehearsal
from campaigns.schema import CampaignBatchRow, CampaignDeviceRow, CampaignRow
from campaigns.states import RUNNING
from core import audit
from core.kernel.errors import ObligationUnmet
from core.kernel.models import Proposal, utcnow
from core.staging import StageDemand


class CampaignAdmission:
    """``core.staging.StageAuthority`` over the campaign tables (reads in the gate's transaction)."""

    @staticmethod
    def _campaign(s: Session, proposal_id: str) -> CampaignRow | None:
        return s.scalar(select(CampaignRow).where(CampaignRow.proposal_id == proposal_id).limit(1))

    def governs(self, s: Session, proposal_id: str) -> bool:
        return self._campaign(s, proposal_id) is not None

    def admit(self, s: Session, p: Proposal, device_ids: Sequence[str], demand: StageDemand) -> None:
        c = self._campaign(s, p.id)
        if c is None:
            if demand.any:
                raise ObligationUnmet(f"proposal {p.id} needs {demand.words()}, which only a campaign holds; "
                                      "no campaign runs it — nothing was written")
            return
        if c.state != RUNNING:
            raise ObligationUnmet(f"campaign {c.id} is {c.state}; its devices are written only while it runs")
        wanted = list(dict.fromkeys(device_ids))
        rings = {str(dev): int(ring) for dev, ring in s.execute(
            select(CampaignDeviceRow.device_id, CampaignDeviceRow.ring).where(
                CampaignDeviceRow.campaign_id == c.id, CampaignDeviceRow.device_id.in_(wanted)))}
        outside = [d for d in wanted if d not in rings]
        if outside:
            raise ObligationUnmet(f"{outside[0]} is not in campaign {c.id}'s ring plan; nothing was written")
        ahead = sorted({rings[d] for d in wanted if rings[d] > c.ring})
        if ahead:
            raise ObligationUnmet(f"campaign {c.id} is at ring {c.ring}; devices of ring {ahead[0]} are written only "
                                  "once the rings before it pass their gate — nothing was written")
        if not self._dispatched(s, c.id, wanted):
            raise ObligationUnmet(f"these devices are not a batch campaign {c.id} dispatched; a campaign's devices "
                                  "are written only in its own batches — nothing was written")
        if demand.rehearsal or obligations.from_plan(c.plan).rehearsal is not None:
            r = rehearsal.stored(c)
            if r is None or r.get("hash") != p.hash or not r.get("clean"):
                raise ObligationUnmet(f"campaign {c.id} needs a clean rehearsal of its proposal as it is now "
                                      f"({p.hash[:12]}) before any device is written; run `gateward campaign "
                                      f"rehearse {c.id}` — nothing was written", rehearsal="missing")

    @staticmethod
    def _dispatched(s: Session, cid: str, wanted: list[str]) -> bool:
        """Some batch of the campaign, running now, holds every one of ``wanted``."""
        need = set(wanted)
        for ids in s.scalars(select(CampaignBatchRow.device_ids).where(
                CampaignBatchRow.campaign_id == cid, CampaignBatchRow.state == "running")):
            need.difference_update(ids or [])
            if not need:
                return True
        return False

    def edited(self, s: Session, p: Proposal, old_hash: str, actor: str) -> None:
        c = self._campaign(s, p.id)
        if c is None:
            return
        spec = dict(c.spec or {})
        spec["changes"] = [ch.model_dump(mode="json") for ch in p.changes]
        spec["operations"] = [o.model_dump(mode="json") for o in p.operations if o.command != "download"]
        c.spec = spec
        void = rehearsal.stored(c)
        if void is not None:
            c.plan = {**c.plan, "rehearsal": {**void, "void": f"the proposal was edited by {actor}; rehearse again"}}
        c.updated_at = utcnow()
        audit.append(s, actor=actor, action="campaign.proposal_edited", proposal_id=p.id, data={
            "campaign": c.id, "old_hash": old_hash, "new_hash": p.hash,
            "changes": spec["changes"], "rehearsal": "void" if void is not None else "none",
            "note": "approvals and the rehearsal of the earlier content are void; approvers must review the new "
                    "content, and it is still rolled out in the campaign's rings"})
