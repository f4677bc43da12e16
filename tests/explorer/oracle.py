"""What the explorer holds every write against: the invariants of docs/safety.md §8, checked from the
devices' own record of what reached them (the simulator twin's ``set`` events) and the audit trail —
not from what the lifecycle says it did.

Why written apart from the product: an oracle that asked ``core.lifecycle.gates`` whether a write was
allowed would share its bugs. Every rule here is re-derived from stored rows with code of its own
(the window arithmetic, the approval count, the ring plan), so a gate that forgot a rule on one way
in shows up as a violation named by its kind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select

from campaigns.schema import CampaignDeviceRow, CampaignRow
from core import rbac
from core.kernel.errors import NotFound
from core.kernel.models import Actor, ActorKind, Proposal
from core.store import repo
from core.store.schema import AuditEventRow, DeviceLockRow, ExecutionRow, ProposalRow

FINISHED = frozenset({"done", "rolled_back", "failed", "cancelled", "rejected", "denied", "invalid"})


@dataclass(frozen=True)
class Violation:
    """One broken invariant: ``kind`` names the class (what the closing note counts), ``detail`` the case."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


@dataclass(frozen=True)
class Write:
    """One Set a device took, as the device recorded it."""

    event_id: int
    device: str
    key: str
    paths: tuple[str, ...]

    @property
    def rollback(self) -> bool:
        return self.key.endswith("-rb")

    @property
    def proposal_id(self) -> str:
        return self.key.removesuffix("-rb")


@dataclass
class CampaignSeen:
    """A campaign as it stood right before a step's writes."""

    state: str
    ring: int
    rings: dict[str, int]


@dataclass
class Oracle:
    """Follows the device's record step by step. ``clock``: the time the explorer says it is."""

    rt: Any
    last_event: int = 0
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.last_event = max((w.event_id for w in self._writes_since(0)), default=0)

    # ------------------------------------------------------------------ reading the truth
    def _writes_since(self, after: int) -> list[Write]:
        from executors.sim.twin import sim_events
        from gateward.seed import twin_for

        twin = twin_for(self.rt)
        out: list[Write] = []
        with twin.engine.connect() as conn:
            for eid, dev, data in conn.execute(select(sim_events.c.id, sim_events.c.device_id, sim_events.c.data)
                                               .where(sim_events.c.kind == "set", sim_events.c.id > after)
                                               .order_by(sim_events.c.id)):
                body = orjson.loads(data)
                out.append(Write(int(eid), str(dev), str(body.get("key") or ""), tuple(body.get("paths") or ())))
        return out

    def campaigns(self) -> dict[str, CampaignSeen]:
        """Every campaign's state, ring and ring plan, by its proposal."""
        with self.rt.store.read() as s:
            out: dict[str, CampaignSeen] = {}
            for c in s.scalars(select(CampaignRow)):
                plan = select(CampaignDeviceRow.device_id, CampaignDeviceRow.ring).where(
                    CampaignDeviceRow.campaign_id == c.id)
                rings = {str(d): int(r) for d, r in s.execute(plan)}
                out[c.proposal_id] = CampaignSeen(c.state, int(c.ring), rings)
            return out

    # ------------------------------------------------------------------ the invariants
    def check_step(self, at: datetime, before: Mapping[str, CampaignSeen]) -> list[Violation]:
        """Every write since the last step against every invariant; ``at`` the step's time, ``before``
        the campaigns as they stood when it began."""
        new = self._writes_since(self.last_event)
        if new:
            self.last_event = new[-1].event_id
        found: list[Violation] = []
        for w in new:
            if w.rollback:
                found += self._restore(w)
                continue
            self.counts[(w.proposal_id, w.device)] += 1
            found += self._write(w, at, before)
        return found

    def _restore(self, w: Write) -> list[Violation]:
        if self.counts[(w.proposal_id, w.device)] == 0:
            return [Violation("restore_without_write", f"{w.device} restored for {w.proposal_id}, never written by it")]
        return []

    def _write(self, w: Write, at: datetime, before: Mapping[str, CampaignSeen]) -> list[Violation]:
        found: list[Violation] = []
        with self.rt.store.read() as s:
            try:
                p = repo.proposal_from_row(repo.get_proposal_row(s, w.proposal_id))
            except NotFound:
                return [Violation("write_without_proposal", f"{w.device} written under key {w.key!r}")]
            if self.counts[(w.proposal_id, w.device)] > 1:
                found.append(Violation("written_twice", f"{w.device} written {self.counts[(w.proposal_id, w.device)]} "
                                                        f"times by {p.id}"))
            if w.device not in p.targets:
                found.append(Violation("not_a_target", f"{w.device} is not a target of {p.id}"))
            rec = repo.latest_decision(s, p.id)
            if rec is None or rec.proposal_hash != p.hash or not rec.allow:
                found.append(Violation("unapproved_hash",
                                       f"{p.id} written with no allowing decision for {p.hash[:12]}"))
                return found
            result = dict(rec.result or {})
            found += self._approvals(s, p, rec.id, result)
            found += self._schedule(p, at)
            found += self._window(p, result, at)
            found += self._staging(s, p, w, result, before)
        return found

    @staticmethod
    def _approvals(s: Any, p: Proposal, decision_id: str, result: Mapping[str, Any]) -> list[Violation]:
        """Every role the decision asked for, given for this hash and decision — each approval answers the
        role it was given for — by a distinct active person holding it, never the author."""
        needed = [str(a.get("role")) for a in result.get("approvals_required") or []]
        given = [a for a in repo.approvals_for(s, p.id) if a.verdict == "approve" and a.proposal_hash == p.hash
                 and a.decision_id == decision_id and a.actor != p.author]
        used: set[str] = set()
        for role in needed:
            ok = None
            for a in given:
                if a.actor in used or a.role != role:
                    continue
                u = repo.user_roles(s, a.actor)
                if u is not None and u[2] and rbac.can_satisfy(Actor(id=a.actor, roles=tuple(u[0]),
                                                                     kind=ActorKind(u[1])), role):
                    ok = a.actor
                    break
            if ok is None:
                return [Violation("unapproved_hash", f"{p.id} written without the {role} approval for {p.hash[:12]}")]
            used.add(ok)
        return []

    @staticmethod
    def _schedule(p: Proposal, at: datetime) -> list[Violation]:
        if p.not_before is not None and at < p.not_before:
            return [Violation("before_its_time", f"{p.id} written at {at:%H:%M} before {p.not_before:%H:%M}")]
        latest = getattr(p, "not_after", None)  # (read so, the explorer also runs on code before latest starts)
        if latest is not None and at > latest:
            return [Violation("after_its_latest_start", f"{p.id} written at {at:%H:%M} after {latest:%H:%M}")]
        return []

    @staticmethod
    def _window(p: Proposal, result: Mapping[str, Any], at: datetime) -> list[Violation]:
        for item in result.get("obligation_items") or []:
            if item.get("code") != "obligation.window":
                continue
            prm = item.get("params") or {}
            local = at + timedelta(hours=float(prm["utc_offset_hours"]))
            start, end = int(prm["start_hour"]), int(prm["end_hour"])
            if not (local.hour - start) % 24 < (end - start) % 24:
                return [Violation("outside_its_window", f"{p.id} written at {local:%H:%M} local, outside "
                                                        f"{start:02d}:00-{end:02d}:00 ({prm.get('region')})")]
        return []

    def _staging(self, s: Any, p: Proposal, w: Write, result: Mapping[str, Any],
                 before: Mapping[str, CampaignSeen]) -> list[Violation]:
        codes = {str(i.get("code")) for i in result.get("obligation_items") or []}
        demanded = bool(codes & {"obligation.stage", "obligation.rehearsal"})
        if not (p.staged or demanded):
            return []
        data = s.scalar(select(AuditEventRow.data).where(
            AuditEventRow.proposal_id == p.id, AuditEventRow.device_id == w.device,
            AuditEventRow.action == "device.applying").order_by(AuditEventRow.seq.desc()).limit(1))
        if not (data or {}).get("staged"):
            return [Violation("staged_written_whole", f"{p.id} (staged={p.staged}, rings demanded={demanded}) written "
                                                      f"on {w.device} outside a batch")]
        seen = before.get(p.id)
        if seen is None:
            return [Violation("staged_without_campaign", f"{p.id} written on {w.device} with no campaign")] \
                if demanded else []
        if seen.state != "running":
            return [Violation("campaign_not_running", f"{p.id} written on {w.device} while its campaign was "
                                                       f"{seen.state}")]
        ring = seen.rings.get(w.device)
        if ring is None or ring > seen.ring:
            return [Violation("outside_its_ring", f"{p.id} wrote {w.device} of ring {ring} while the campaign was at "
                                                  f"ring {seen.ring}")]
        return []

    # ------------------------------------------------------------------ after every step
    def holds(self, at: datetime) -> list[Violation]:
        """What must be true whatever just ran: a done proposal's values on its devices (unless a
        later proposal wrote them), no lock of a finished proposal, an intact audit chain."""
        found: list[Violation] = []
        with self.rt.store.read() as s:
            held = list(s.execute(select(DeviceLockRow.device_id, ProposalRow.id, ProposalRow.state)
                                  .join(ProposalRow, ProposalRow.id == DeviceLockRow.proposal_id)))
            verified = [(str(a), str(b)) for a, b in s.execute(
                select(ExecutionRow.proposal_id, ExecutionRow.device_id).where(ExecutionRow.status == "verified"))]
        found += [Violation("lock_left", f"{dev} still locked by {pid}, which is {state}")
                  for dev, pid, state in held if state in FINISHED]
        found += self._done_values(verified)
        return found

    def _done_values(self, verified: Iterable[tuple[str, str]]) -> list[Violation]:
        from gateward.seed import twin_for

        twin = twin_for(self.rt)
        found: list[Violation] = []
        last_writer: dict[tuple[str, str], str] = {}
        for w in self._writes_since(0):
            for path in w.paths:
                last_writer[(w.device, path)] = w.key
        for pid, dev in verified:
            p = self.rt.lifecycle.get(pid)
            if p.state.value not in ("done", "applying"):
                continue
            native = twin.params(dev)
            for c in p.changes_for(dev):
                if last_writer.get((dev, c.path)) not in (None, pid) or not c.path.startswith("Device."):
                    continue
                got = native.get(c.path)
                if got is not None and str(got).lower() != str(c.value).lower():
                    found.append(Violation("not_as_approved", f"{dev} holds {c.path}={got!r}, {pid} approved "
                                                              f"{c.value!r}"))
        return found
