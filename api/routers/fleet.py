"""The fleet at a glance (issue 16, deliverable 4): devices online / offline by region, model and
firmware, open remediation cases by problem, active campaigns with their progress, pending
onboarding. Read-only, for every signed-in role.

Why presence is asked of the devices' executors and capped: there is no stored "online" flag —
presence is what the ACS / USP controller / twin says now — so one overview asks at most
``PRESENCE_LIMIT`` devices (spread evenly over the fleet by id) and says how many it asked; the
counts by group are then for that sample, and the page says so.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from api import fleet_trends
from api.deps import ActorDep, AppRuntime, CampaignsDep, RuntimeDep
from api.errors import errors_for
from core.store import repo
from core.store.schema import DeviceRow, OnboardingRow

if TYPE_CHECKING:
    from campaigns.service import Campaigns

router = APIRouter(prefix="/api/fleet", tags=["fleet"], responses=errors_for(401))

PRESENCE_LIMIT = 2000


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
    presence_checked: int = Field(description="devices whose presence was asked for this overview")
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


def _sample(ids: list[str], limit: int) -> list[str]:
    if len(ids) <= limit:
        return ids
    step = len(ids) / limit
    return [ids[int(i * step)] for i in range(limit)]


def _presence(rt: AppRuntime, ids: list[str]) -> dict[str, str]:
    """device id → online | unreachable | offline (an executor error counts as offline)."""
    out: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        with rt.store.read() as s:
            devices = repo.get_devices(s, ids[start:start + 500])
        for d in devices.values():
            try:
                p = rt.router.reader(d).presence(d)
                out[d.id] = "offline" if not p.online else "online" if p.reachable else "unreachable"
            except Exception:  # unknown presence is not "online"
                out[d.id] = "offline"
    return out


def _groups(rows: list[tuple[str, str, str, str]], presence: dict[str, str], idx: int) -> list[GroupCount]:
    total: Counter[str] = Counter()
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        key = row[idx]
        total[key] += 1
        if row[0] in presence:
            seen[key][presence[row[0]]] += 1
    return [GroupCount(key=k, devices=n, online=seen[k]["online"], unreachable=seen[k]["unreachable"],
                       offline=seen[k]["offline"]) for k, n in total.most_common()]


def _cases(rt: AppRuntime) -> tuple[dict[str, int], int]:
    with rt.store.read() as s:
        return fleet_trends.open_cases_by_problem(s)


def _campaigns(svc: Campaigns) -> list[CampaignProgress]:
    from campaigns.orchestrator import TERMINAL

    out = []
    for c in svc.list(limit=50):
        if c["state"] in TERMINAL:
            continue
        st = svc.status(c["id"])
        rings = st["rings_detail"]
        out.append(CampaignProgress(id=c["id"], name=c["name"], state=c["state"], ring=c["ring"], rings=c["rings"],
                                    devices=c["devices"], verified=sum(r["verified"] for r in rings),
                                    failed=sum(r["failed"] for r in rings),
                                    rolled_back=sum(r["rolled_back"] for r in rings)))
    return out


@router.get("", response_model=FleetOverview)
def overview(rt: RuntimeDep, campaigns: CampaignsDep, _: ActorDep) -> FleetOverview:
    """Counts for the fleet view: presence by region / model / firmware, open cases by problem,
    active campaigns with progress, pending onboarding."""
    with rt.store.read() as s:
        by_status = {str(k): int(n) for k, n in s.execute(
            select(DeviceRow.status, func.count()).group_by(DeviceRow.status)).all()}
        rows = [(str(r[0]), str(r[1]), str(r[2]), f"{r[2]} {r[3]}") for r in s.execute(
            select(DeviceRow.id, DeviceRow.region, DeviceRow.model, DeviceRow.firmware)
            .where(DeviceRow.status == "active").order_by(DeviceRow.id)).all()]
        pending = int(s.scalar(select(func.count()).select_from(OnboardingRow).where(
            OnboardingRow.status == "pending")) or 0)
        active = fleet_trends.active_campaigns(s)
    presence = _presence(rt, _sample([r[0] for r in rows], PRESENCE_LIMIT))
    states = Counter(presence.values())
    cases, applied = _cases(rt)
    return FleetOverview(
        devices=len(rows), by_status=by_status, presence_checked=len(presence), online=states["online"],
        unreachable=states["unreachable"], offline=states["offline"], by_region=_groups(rows, presence, 1),
        by_model=_groups(rows, presence, 2), by_firmware=_groups(rows, presence, 3), cases_by_problem=cases,
        cases_applied=applied, campaigns=_campaigns(campaigns), active_campaigns=active, pending_onboarding=pending)


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
