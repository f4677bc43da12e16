"""The fleet at a glance: devices online / offline by region, model and
firmware, open remediation cases by problem, active campaigns with their progress, pending
onboarding. Read-only, for every signed-in role.

Why presence is asked of the devices' executors, capped and kept a while: there is no stored
"online" flag — presence is what the ACS / USP controller / twin says now — so an overview asks at
most ``PRESENCE_LIMIT`` devices (spread evenly over the fleet by id), keeps that sample for
``GATEWARD_FLEET_PRESENCE_S`` seconds and says how many it asked and when; the counts by group are
then for that sample, and the page says so. Everything else is counted by the database
(``api.fleet_overview``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from api import fleet_overview, fleet_trends
from api.deps import ActorDep, RuntimeDep
from api.errors import errors_for
from api.fleet_overview import PRESENCE_LIMIT, Inventory, PresenceCache, PresenceSample
from core.store.schema import OnboardingRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from api.deps import AppRuntime

log = logging.getLogger("gateward.api.fleet")
router = APIRouter(prefix="/api/fleet", tags=["fleet"], responses=errors_for(401))



class GroupCount(BaseModel):
    key: str
    devices: int = Field(description="active devices in the group")
    online: int = Field(description="online and reachable, among those asked")
    unreachable: int = Field(description="online but not answering, among those asked")
    offline: int = Field(description="offline, among those asked")


class CampaignProgress(BaseModel):
    id: str
    name: str
    state: str
    ring: int
    rings: int
    devices: int
    verified: int
    failed: int
    rolled_back: int


class FleetOverview(BaseModel):
    devices: int = Field(description="active devices")
    by_status: dict[str, int] = Field(description="inventory status: active, retired, absent")
    presence_checked: int = Field(description="devices whose presence was asked (an even sample of at most "
                                              f"{PRESENCE_LIMIT})")
    presence_at: datetime | None = Field(default=None, description="when their presence was asked")
    online: int
    unreachable: int
    offline: int
    by_region: list[GroupCount]
    by_model: list[GroupCount]
    by_firmware: list[GroupCount]
    cases_by_problem: dict[str, int] = Field(description="open remediation cases per problem (applied ones are "
                                                          "waiting for their verification, not open)")
    cases_applied: int = Field(default=0, description="remediation cases applied, waiting for their verification")
    campaigns: list[CampaignProgress] = Field(description="campaigns not yet finished (the 50 newest)")
    active_campaigns: int = Field(default=0, description="every campaign not in a terminal state (denied, "
                                                         "rejected, aborted, completed and failed are not active)")
    pending_onboarding: int


def _groups(inv: Inventory, sample: PresenceSample, group: str) -> list[GroupCount]:
    seen = sample.groups.get(group, {})
    return [GroupCount(key=k, devices=n, online=seen.get(k, Counter())["online"],
                       unreachable=seen.get(k, Counter())["unreachable"], offline=seen.get(k, Counter())["offline"])
            for k, n in inv.groups[group].most_common()]


def _campaigns(s: Session) -> list[CampaignProgress]:
    """The 50 newest campaigns not finished, with their progress: two grouped counts each (its
    proposal's executions by status, its batches' failures), not a whole status read."""
    from campaigns.schema import CampaignBatchRow, CampaignRow
    from campaigns.states import TERMINAL
    from campaigns.words import effective_state
    from core.store.schema import ExecutionRow, ProposalRow

    rows = s.execute(select(CampaignRow, ProposalRow.state).join(
        ProposalRow, ProposalRow.id == CampaignRow.proposal_id, isouter=True)
        .order_by(CampaignRow.created_at.desc()).limit(50)).all()
    out = []
    for c, p_state in rows:
        state = effective_state(c.state, p_state)
        if state in TERMINAL:
            continue
        counts = {str(k): int(n) for k, n in s.execute(select(ExecutionRow.status, func.count()).where(
            ExecutionRow.proposal_id == c.proposal_id).group_by(ExecutionRow.status))}
        failed = int(s.scalar(select(func.coalesce(func.sum(CampaignBatchRow.n_failed), 0)).where(
            CampaignBatchRow.campaign_id == c.id)) or 0)
        out.append(CampaignProgress(id=c.id, name=c.name, state=state, ring=c.ring, rings=len(c.plan["sizes"]),
                                    devices=int(c.plan["total"]), verified=counts.get("verified", 0), failed=failed,
                                    rolled_back=counts.get("rolled_back", 0)))
    return out


def presence_cache(app: FastAPI) -> PresenceCache:
    """The app's presence sample, kept between requests (made on first use)."""
    cache: PresenceCache | None = getattr(app.state, "fleet_presence", None)
    if cache is None:
        cache = app.state.fleet_presence = PresenceCache()
    return cache


# How long a server's start-up waits for its first presence sample (``prime_presence``): the
# simulator's 2,000 devices take a few hundred ms at 100,000; an adapter asked one device at a time
# may take longer, and then the sample goes on in the background (the first overview waits for it).
PRIME_WAIT_S = 5.0


def prime_presence(app: FastAPI) -> threading.Thread:
    """At a server's start-up, in the background: the fleet's first presence sample
    (``PresenceCache.take_first``), then the overview's counts read once, so that the first
    overview finds the sample taken and its statements compiled; the thread doing it."""
    rt, cache = app.state.runtime, presence_cache(app)

    def start() -> None:
        cache.take_first(rt)
        try:
            _counts(rt)
        except Exception:
            log.warning("the fleet overview's counts failed at start-up", exc_info=True)

    thread = threading.Thread(target=start, name="fleet-overview-start", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class _Counts:
    inventory: Inventory
    pending: int
    active: int
    cases: dict[str, int]
    applied: int
    campaigns: list[CampaignProgress]


def _counts(rt: AppRuntime) -> _Counts:
    """What the overview counts in the database, in one read transaction."""
    with rt.store.read() as s:
        inv = fleet_overview.inventory(s)
        pending = int(s.scalar(select(func.count()).select_from(OnboardingRow).where(
            OnboardingRow.status == "pending")) or 0)
        active = fleet_trends.active_campaigns(s)
        cases, applied = fleet_trends.open_cases_by_problem(s)
        return _Counts(inv, pending, active, cases, applied, _campaigns(s))


@router.get("", response_model=FleetOverview)
def overview(request: Request, rt: RuntimeDep, _: ActorDep) -> FleetOverview:
    """Counts for the fleet view: presence by region / model / firmware, open cases by problem,
    active campaigns with progress, pending onboarding. Presence is of a sample asked at most every
    ``GATEWARD_FLEET_PRESENCE_S`` seconds (``presence_at`` says when)."""
    c = _counts(rt)
    inv = c.inventory
    sample = presence_cache(request.app).get(rt, inv.devices)
    return FleetOverview(
        devices=inv.devices, by_status=inv.by_status, presence_checked=sample.asked, presence_at=sample.at,
        online=sample.states["online"], unreachable=sample.states["unreachable"], offline=sample.states["offline"],
        by_region=_groups(inv, sample, "region"), by_model=_groups(inv, sample, "model"),
        by_firmware=_groups(inv, sample, "firmware"), cases_by_problem=c.cases, cases_applied=c.applied,
        campaigns=c.campaigns, active_campaigns=c.active, pending_onboarding=c.pending)


@router.get("/trends", responses=errors_for(422))
def trends(rt: RuntimeDep, _: ActorDep,
           hours: Annotated[int, Query(ge=1, le=24 * 90, description="the range, ending now")] = 24
           ) -> dict[str, Any]:
    """The fleet over a range, in about 48 buckets: online % (from the devices' ``wan.up``
    reports), verified changes per hour, the share of device writes that failed or rolled back,
    remediation cases opened and closed."""
    with rt.store.read() as s:
        return fleet_trends.trends(s, hours)


@router.get("/outages")
def outages(rt: RuntimeDep, _: ActorDep,
            hours: Annotated[float, Query(gt=0, le=72, description="the trouble window")] = 6) -> dict[str, Any]:
    """Upstreams (PON ports, CMTSs …) where most devices reported WAN trouble in the window, worst
    first: which one, its parent (the OLT), N of N degraded (``core.topology``'s outage rule)."""
    with rt.store.read() as s:
        return {"hours": hours, "items": fleet_trends.outages(s, hours)}


@router.get("/faults", responses=errors_for(422))
def faults(rt: RuntimeDep, _: ActorDep,
           limit: Annotated[int, Query(ge=1, le=200)] = 50,
           before: Annotated[str | None, Query(max_length=200, description="next of the page before")] = None,
           device: Annotated[str | None, Query(max_length=128)] = None) -> dict[str, Any]:
    """Device writes that did not hold (failed, verify failed, rolled back, rollback failed),
    newest first, with the proposal and the reason."""
    with rt.store.read() as s:
        return fleet_trends.faults(s, limit=limit, before=before, device_id=device)
