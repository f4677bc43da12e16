"""Run scenarios against the planner and score them.

Each run goes through the product's own surfaces: a ``ChatService`` thread opened by the
scenario's support agent (or the automation actor for a telemetry trigger), the agent's message,
the "apply" confirmation when the planner asks for it, approvals by the scenario's approvers
through ``Lifecycle.approve``, and ``ChatService.resume``. Then the device is read live and the
scenario's predicates, KPIs and forbidden outcomes are checked. Between runs the device's
simulated state is restored and anything the setup added to the store is removed, so runs are
independent; one seeded fleet serves every scenario that names it.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as time_of_day
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, delete, insert, select

from brain import knowledge
from brain.contracts import ChatEvent
from brain.service import ChatService
from core.kernel.clock import elapsed_now, moved
from core.kernel.errors import GatewardError
from core.kernel.models import TERMINAL_STATES, Actor, Device, Proposal, ProposalState
from core.services import CoreServices
from core.store import repo
from core.store.schema import (
    DeviceEventRow,
    DeviceRow,
    ProposalDeviceRow,
    SubscriberRow,
    TelemetryRow,
    WifiNeighborRow,
)
from core.users import get_actor
from core.validation import validate_changes
from evals import checks
from evals.harness import World, WorldFactory
from evals.scenario import Expect, OtherDevice, Scenario, ago_seconds
from evals.zones import zone_of

PlannerName = Literal["offline", "llm"]
HALLUCINATION_RULES = frozenset({"unknown_path", "root", "untranslatable"})
# The planner's own replies (must_not_say is checked on these, never on tool output or device strings).
REPLY_KINDS = frozenset({"answer", "question", "escalation", "outcome", "proposal", "notice"})


@dataclass
class Cleanup:
    """What a scenario's setup left to undo (see ``ScenarioRunner._setup``)."""

    rows: list[tuple[Any, int]] = field(default_factory=list)
    undo: list[Callable[[], None]] = field(default_factory=list)
    snapshots: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    scenario: str
    trial: int
    passed: bool
    expected: str
    observed: str
    classes: list[str]
    failures: list[str] = field(default_factory=list)
    proposal_ids: list[str] = field(default_factory=list)
    final_state: str | None = None
    policy_escape: bool = False
    hallucinated_paths: int = 0
    over_escalation: bool = False
    tool_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    planner_used: str = "offline"
    notices: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    turn_s: float = 0.0  # the first planner turn alone (svc.send of the first message): the agent's wait
    skipped: str | None = None
    known_issue: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ScenarioRunner:
    """Runs scenarios on worlds made by ``world_factory`` (one per fleet seed/size, cached)."""

    def __init__(self, world_factory: WorldFactory, *, planner: PlannerName = "offline",
                 service_factory: Callable[[Any], ChatService] | None = None,
                 llm_server: Any | None = None) -> None:
        self.world_factory = world_factory
        self.planner = planner
        self.service_factory = service_factory or (lambda rt: ChatService(rt, planner=planner))
        self.llm_server = llm_server
        self._worlds: dict[tuple[int, int], World] = {}
        self._services: dict[tuple[int, int], ChatService] = {}

    def close(self) -> None:
        for svc in self._services.values():
            svc.close()
        for w in self._worlds.values():
            w.close()

    def world(self, seed: int, homes: int) -> tuple[World, ChatService]:
        key = (seed, homes)
        if key not in self._worlds:
            self._worlds[key] = self.world_factory(seed, homes)
            self._services[key] = self.service_factory(self._worlds[key].runtime)
        return self._worlds[key], self._services[key]

    # ------------------------------------------------------------------ scenario plumbing
    def resolve_device(self, world: World, sc: Scenario) -> Device:
        ref = sc.device
        rt = world.runtime
        with rt.store.read() as s:
            if ref.id:
                return repo.get_device(s, ref.id)
            if ref.subscriber_label:
                sub = s.scalar(select(SubscriberRow.id).where(SubscriberRow.label == ref.subscriber_label))
                dev = s.scalar(select(DeviceRow.id).where(DeviceRow.subscriber == sub)) if sub else None
                if dev is None:
                    raise LookupError(f"{sc.id}: no device for subscriber {ref.subscriber_label!r}")
                return repo.get_device(s, dev)
            ids = world.conditions.get(str(ref.condition), [])
            devices = [d for d in repo.get_devices(s, ids).values()
                       if (ref.model is None or d.model == ref.model)
                       and (ref.root is None or str(d.root) == ref.root)
                       and (ref.protocol is None or str(d.protocol) == ref.protocol)]
        devices.sort(key=lambda d: ids.index(d.id))
        if ref.index >= len(devices):
            raise LookupError(f"{sc.id}: fleet {world.seed}/{world.homes} has only {len(devices)} device(s) with "
                              f"condition {ref.condition!r}{' and model ' + ref.model if ref.model else ''}")
        return devices[ref.index]

    def other_device(self, world: World, device: Device, ref: OtherDevice) -> Device:
        """The device a setup step's ``device`` names (a PON sibling, a building neighbour, an id or
        the n-th device with a condition); LookupError naming what is missing."""
        rt = world.runtime
        with rt.store.read() as s:
            if ref.id:
                return repo.get_device(s, ref.id)
            if ref.condition:
                ids = [i for i in world.conditions.get(ref.condition, []) if i != device.id]
            elif ref.relation == "pon_sibling":
                if not device.upstream_id:
                    raise LookupError(f"{device.id} has no upstream node, so no PON siblings")
                ids = sorted(s.scalars(select(DeviceRow.id).where(DeviceRow.upstream_id == device.upstream_id,
                                                                  DeviceRow.id != device.id,
                                                                  DeviceRow.status == "active")))
            else:
                tag = next((t for t in device.tags if str(t).startswith("building:")), None)
                if tag is None:
                    raise LookupError(f"{device.id} is not in a building (no building: tag)")
                rows = s.execute(select(DeviceRow.id, DeviceRow.tags).where(DeviceRow.id != device.id,
                                                                              DeviceRow.status == "active")).all()
                ids = sorted(i for i, tags in rows if tag in (tags or []))
            if ref.index >= len(ids):
                what = ref.condition or ref.relation
                raise LookupError(f"{device.id}: only {len(ids)} other device(s) match {what!r}; index {ref.index}")
            return repo.get_device(s, ids[ref.index])

    def _setup(self, world: World, sc: Scenario, device: Device) -> Cleanup:
        """Apply setup steps (on the scenario's device or the one ``on`` names); return what to
        undo afterwards: rows to delete, undo callables, snapshots of other devices."""
        done = Cleanup()
        try:
            self._apply_steps(world, sc, device, done)
        except BaseException:
            self._cleanup(world, done)  # a step that fails leaves nothing behind for the next scenario
            raise
        return done

    @staticmethod
    def _neighbour(world: World, dev: Device, nb: dict[str, Any], done: Cleanup) -> None:
        """An access point the device hears: in the stored topology, and in the device's own scan
        table too, so the write's live read hears what the planner's stored facts say."""
        ssid, bssid = str(nb["ssid"]), str(nb.get("bssid") or _default_bssid(nb))
        band, channel, rssi = str(nb.get("band", "5GHz")), int(nb["channel"]), float(nb.get("rssi_dbm", -60))
        with world.runtime.store.write() as s:
            rid = cast("CursorResult[Any]", s.execute(insert(WifiNeighborRow).values(
                device_id=dev.id, neighbor_device_id=None, bssid=bssid, ssid=ssid, band=band,
                channel=channel, rssi_dbm=rssi))).inserted_primary_key
            done.rows.append((WifiNeighborRow, _pk(rid)))
        scan = world.neighbour_values(dev.id, ssid, bssid, band, channel, rssi)
        if scan:
            world.set_params(dev.id, scan)

    def _apply_steps(self, world: World, sc: Scenario, device: Device, done: Cleanup) -> None:
        now = elapsed_now(world.runtime.lifecycle.clock)  # the run's time: a scenario's ``at`` moves it
        for step in sc.setup:
            dev = device if step.device is None else self.other_device(world, device, step.device)
            if dev.id != device.id and dev.id not in done.snapshots:
                done.snapshots[dev.id] = world.snapshot(dev.id)
            if step.fault:
                world.inject(dev.id, step.fault, dict(step.fault_params))
            elif step.params:
                world.set_params(dev.id, self._expand(world, dev, dict(step.params)))
            elif step.telemetry:
                self._telemetry(world, dev, step.telemetry, now, done)
            elif step.event:
                e = step.event
                ago = ago_seconds(e["ago"]) if "ago" in e else 60 * float(e.get("minutes_ago", 30))
                with world.runtime.store.write() as s:
                    rid = cast("CursorResult[Any]", s.execute(insert(DeviceEventRow).values(
                        device_id=dev.id, ts=now - timedelta(seconds=ago),
                        kind=str(e["kind"]), data=dict(e.get("data") or {})))).inserted_primary_key
                    done.rows.append((DeviceEventRow, _pk(rid)))
            elif step.neighbor:
                self._neighbour(world, dev, step.neighbor, done)
            elif step.presence:
                pr = step.presence
                done.undo.append(world.set_presence(
                    dev.id, online=pr.online, reachable=pr.online if pr.reachable is None else pr.reachable,
                    last_seen=now - timedelta(seconds=ago_seconds(pr.last_seen))))
            elif step.past_change:
                pc = step.past_change
                at = now - timedelta(seconds=ago_seconds(pc.ago))
                done.undo.append(world.add_past_change(dev.id, pc, at, self._expand(world, dev, pc.changes)))
            elif step.campaign:
                done.undo.append(world.add_campaign(dev.id, step.campaign,
                                                    self._expand(world, dev, step.campaign.changes)))
            elif step.compat:
                done.undo.append(world.set_compat(dev.id, step.compat))
            elif step.roots:
                done.undo.append(world.set_roots(dev.id, list(step.roots)))
            elif step.hosts:
                world.set_params(dev.id, world.host_values(dev.id, step.hosts, checks.read_radios(world.runtime, dev)))

    @staticmethod
    def _expand(world: World, dev: Device, values: dict[str, Any]) -> dict[str, Any]:
        """``{5GHz}``-style band placeholders in paths → this device's radio index."""
        if not any("{" in k for k in values):
            return values
        radios = checks.read_radios(world.runtime, dev)
        out = {}
        for k, v in values.items():
            path = checks.resolve(k, radios)
            if path is None:
                raise LookupError(f"{dev.id} has no radio for {k}")
            out[path] = v
        return out

    @staticmethod
    def _telemetry(world: World, dev: Device, t: dict[str, Any], now: Any, done: Cleanup) -> None:
        hours = float(t.get("hours", 24))
        start = now - timedelta(seconds=ago_seconds(t["ago"])) if "ago" in t else now
        labels = dict(t.get("labels") or {})
        if any(isinstance(v, str) and "{" in v for v in labels.values()):
            radios = checks.read_radios(world.runtime, dev)
            for k, v in list(labels.items()):
                if isinstance(v, str) and "{" in v:
                    m = re.fullmatch(r"\{(2\.4GHz|5GHz|6GHz)\}", v)
                    idx = next((r.index for r in radios if m and r.band == m.group(1)), None)
                    if idx is None:
                        raise LookupError(f"{dev.id} has no radio for label {k}={v}")
                    labels[k] = str(idx)
                    labels.setdefault("band", m.group(1) if m else None)  # as the fleet's own series are labelled
        n = max(1, int(hours * 4))
        rows = [{"device_id": dev.id, "ts": start - timedelta(minutes=15 * i), "metric": t["metric"],
                 "value": float(t["value"]), "labels": labels} for i in range(n)]
        with world.runtime.store.write() as s:
            for r in rows:
                rid = cast("CursorResult[Any]", s.execute(insert(TelemetryRow).values(**r))).inserted_primary_key
                done.rows.append((TelemetryRow, _pk(rid)))

    @staticmethod
    def _cleanup(world: World, done: Cleanup) -> None:
        for undo in reversed(done.undo):
            undo()
        for dev_id, snap in done.snapshots.items():
            world.restore(dev_id, snap)
        if not done.rows:
            return
        with world.runtime.store.write() as s:
            for table, rid in done.rows:
                s.execute(delete(table).where(table.id == rid))

    def expectation(self, world: World, sc: Scenario, device: Device) -> Expect:
        # A scenario's llm.expect describes its scripted answers: it applies to a replay only, never to a real model.
        if self.planner == "llm" and self.llm_server is not None and sc.llm is not None and sc.llm.expect is not None:
            return sc.llm.expect
        if sc.expect_if_compat:
            status, _ = knowledge.compat_status(knowledge.policy_data(world.runtime.policy), device.vendor,
                                                device.model, device.firmware, "config")
            return sc.expect_if_compat.get(status, sc.expect)
        return sc.expect

    # ------------------------------------------------------------------ one run
    def run(self, sc: Scenario, trial: int = 0) -> RunResult:
        if self.planner == "llm" and self.llm_server is not None and sc.llm is None:
            return RunResult(sc.id, trial, False, "|".join(sc.expect.outcomes), "skipped", sc.classes,
                             skipped="no llm.script for the local model endpoint", known_issue=sc.known_issue)
        world, svc = self.world(sc.fleet.seed, sc.fleet.homes)  # seeding is not part of the run's time
        device = self.resolve_device(world, sc)
        with _local_time(world.runtime, sc.at, device.region):
            return self._run(sc, trial, world, svc, device)

    def _run(self, sc: Scenario, trial: int, world: World, svc: ChatService, device: Device) -> RunResult:
        t0 = time.perf_counter()
        rt = world.runtime
        expect = self.expectation(world, sc, device)
        paths = checks.paths_of(expect.params, sc.forbid)
        snap = world.snapshot(device.id)
        try:
            added = self._setup(world, sc, device)
        except BaseException:
            world.restore(device.id, snap)
            raise
        initial = checks.view(rt, device, paths)
        if self.llm_server is not None and sc.llm is not None:
            self.llm_server.load(sc.llm.script)
        actor = get_actor(rt.store, "remediator" if sc.trigger else sc.agent)
        since = elapsed_now(rt.lifecycle.clock)
        events: list[ChatEvent] = []
        tid = ""
        error: str | None = None
        turn_s = 0.0
        try:
            tid = svc.start(device.id, actor, title=sc.title)
            text = f"[trigger:{sc.trigger}]" if sc.trigger else str(sc.message)
            t_turn = time.perf_counter()
            last = len(sc.followups)
            turns = [text, *sc.followups]
            events += list(_send(svc, tid, text, actor, sc.secret if last == 0 else None))
            turn_s = time.perf_counter() - t_turn
            events += self._drive(svc, tid, sc, actor, rt)
            for n, msg in enumerate(turns[1:], start=1):
                events += list(_send(svc, tid, msg, actor, sc.secret if n == last else None))
                events += self._drive(svc, tid, sc, actor, rt)
        except GatewardError as exc:
            error = exc.message
        proposals = self._proposals(rt, device.id, since, events)
        final = checks.view(rt, device, paths)
        result = self._score(sc, expect, trial, rt, device, events, proposals, initial, final, error)
        if tid:
            st = svc.state(tid)
            result.tool_calls = int(st.get("tool_calls", 0))
            usage = st.get("usage") or {}
            result.tokens = int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
            result.cost_usd = float(usage.get("cost_usd", 0.0))
            result.planner_used = str(st.get("planner", self.planner))
        result.notices = [e.text for e in events if e.kind == "notice"][:10]
        self._cancel_open(rt, proposals)
        self._forget(rt, proposals)
        world.restore(device.id, snap)
        self._cleanup(world, added)
        result.duration_s = round(time.perf_counter() - t0, 3)
        result.turn_s = round(turn_s, 4)
        return result

    def _drive(self, svc: ChatService, tid: str, sc: Scenario, actor: Actor, rt: CoreServices) -> list[ChatEvent]:
        """Answer the planner's pauses the way the scenario says: confirm, then approvals."""
        out: list[ChatEvent] = []
        for _ in range(4):
            aw = svc.awaiting(tid)
            if not aw:
                break
            pid = aw.get("proposal_id")
            if aw.get("kind") == "confirm":
                if not sc.confirm:
                    break
                out += list(svc.send(tid, "apply", actor))
                continue
            if not sc.approvers or not pid:
                break
            approved_any = False
            for name in sc.approvers:
                if rt.lifecycle.get(pid).state is not ProposalState.AWAITING_APPROVAL:
                    break
                try:
                    rt.lifecycle.approve(pid, get_actor(rt.store, name), comment="eval approver")
                    approved_any = True
                except GatewardError:
                    continue
            if not approved_any and rt.lifecycle.get(pid).state is ProposalState.AWAITING_APPROVAL:
                break
            out += list(svc.resume(tid))
        return out

    @staticmethod
    def _proposals(rt: CoreServices, device_id: str, since: Any, events: list[ChatEvent]) -> list[Proposal]:
        ids = list(dict.fromkeys(str(e.data["proposal_id"]) for e in events
                                 if e.kind == "proposal" and e.data.get("proposal_id")))
        out = []
        for pid in ids:
            try:
                out.append(rt.lifecycle.get(pid))
            except GatewardError:
                continue
        return out

    @staticmethod
    def _cancel_open(rt: CoreServices, proposals: list[Proposal]) -> None:
        for p in proposals:
            cur = rt.lifecycle.get(p.id)
            if cur.state not in TERMINAL_STATES:
                with contextlib.suppress(GatewardError):
                    rt.lifecycle.cancel(p.id, get_actor(rt.store, p.author), reason="evaluation cleanup")

    @staticmethod
    def _forget(rt: CoreServices, proposals: list[Proposal]) -> None:
        """Isolation: a run's proposals stay in the (throwaway) store for the report, but no longer
        appear in the device's history, so a later run on the same device does not see them as
        past fixes (the planner escalates a fix applied twice in a week)."""
        if not proposals:
            return
        with rt.store.write() as s:
            s.execute(delete(ProposalDeviceRow).where(ProposalDeviceRow.proposal_id.in_([p.id for p in proposals])))

    @staticmethod
    def _approvals(rt: CoreServices, pid: str) -> list[str]:
        """Approver roles the proposal's latest (non dry-run) policy decision asked for."""
        with rt.store.read() as s:
            rec = repo.latest_decision(s, pid)
        return [str(a.get("role")) for a in ((rec.result if rec is not None else {}) or {})
                .get("approvals_required", [])]

    # ------------------------------------------------------------------ scoring
    def _score(self, sc: Scenario, expect: Expect, trial: int, rt: CoreServices, device: Device,
               events: list[ChatEvent],
               proposals: list[Proposal], initial: checks.DeviceView, final: checks.DeviceView,
               error: str | None) -> RunResult:
        """A run against what the scenario expects: the outcome, then the proposal, the replies, the
        device's state and KPIs (when the outcome was right), what it forbids, invented paths."""
        failures: list[str] = [f"chat failed: {error}"] if error else []
        failures += [f"planner error: {e.text}" for e in events if e.kind == "error"
                     and "nothing was changed" not in e.text][:3]
        final_p, observed = _observed(rt, events, proposals)
        wanted = expect.outcomes
        outcome_ok = observed in wanted or ("no_change" in wanted and observed in ("question", "escalation", "answer"))
        if not outcome_ok:
            failures.append(f"expected {' or '.join(wanted)}, got {observed}")
        failures += self._said_and_drafted(expect, rt, device, events, final_p if observed == "change" else None,
                                           final_p, initial)
        if outcome_ok:
            failures += _device_state_failures(rt, expect, final, initial)
        forbidden, escape = _forbidden(rt, sc, final, initial, proposals, device.id)
        failures += forbidden
        hallucinated = sum(1 for p in proposals for i in validate_changes(device, p.changes)
                           if i.rule in HALLUCINATION_RULES)
        over = wanted == ["change"] and observed in ("escalation", "question", "answer")
        return RunResult(
            scenario=sc.id, trial=trial, passed=not failures, expected="|".join(wanted), observed=observed,
            classes=list(sc.classes), failures=failures, proposal_ids=[p.id for p in proposals],
            final_state=str(final_p.state) if final_p else None, policy_escape=escape,
            hallucinated_paths=hallucinated, over_escalation=over, known_issue=sc.known_issue,
        )

    def _said_and_drafted(self, expect: Expect, rt: CoreServices, device: Device, events: list[ChatEvent],
                          changed: Proposal | None, final_p: Proposal | None, initial: checks.DeviceView) -> list[str]:
        """The proposal and the campaign drafted against what was expected of them, the replies
        against the words they must and must not say, and where the change (``changed``) ended."""
        failures: list[str] = []
        if expect.proposal is not None and final_p is not None:
            failures += checks.check_proposal(expect.proposal, final_p, initial, self._approvals(rt, final_p.id),
                                              region=device.region, now=elapsed_now(rt.lifecycle.clock))
        if expect.campaign is not None:
            drafted = [e.data for e in events if e.kind in REPLY_KINDS and e.data.get("campaign_draft")]
            last = drafted[-1] if drafted else {}
            failures += checks.check_campaign(expect.campaign, last.get("campaign_draft"),
                                              (last.get("slice") or {}).get("devices"))
        replies = " ".join(e.text for e in events if e.kind in REPLY_KINDS).lower()
        failures += [f"the planner said {t!r}" for t in expect.must_not_say if t.lower() in replies]
        if changed is not None:
            # a scheduled change confirmed and approved waits for its time: "approved" is its resting state
            want = expect.final_state or ("approved" if getattr(changed, "not_before", None) else "done")
            if str(changed.state) != want:
                failures.append(f"proposal {changed.id} ended {changed.state}, expected {want}"
                                + (f" ({changed.error})" if changed.error else ""))
        failures += [f"no reply mentions {t!r}" for t in expect.text_contains if t.lower() not in replies]
        return failures

    # ------------------------------------------------------------------ many
    def run_all(self, scenarios: Iterable[Scenario], k: int = 1,
                on_result: Callable[[RunResult], None] | None = None) -> list[RunResult]:
        results = []
        for sc in scenarios:
            for trial in range(k):
                try:
                    r = self.run(sc, trial)
                except (LookupError, ValueError, GatewardError) as exc:
                    # the scenario could not be set up (a missing device, a campaign policy refused…)
                    msg = exc.message if isinstance(exc, GatewardError) else str(exc)
                    r = RunResult(sc.id, trial, False, "|".join(sc.expect.outcomes), "error", sc.classes,
                                  failures=[f"setup: {msg}"], known_issue=sc.known_issue)
                results.append(r)
                if on_result:
                    on_result(r)
        return results


def _observed(rt: CoreServices, events: list[ChatEvent], proposals: list[Proposal]) -> tuple[Proposal | None, str]:
    """The run's last proposal as it stands now, and what the planner did: a change, or its last
    question, escalation or answer ("error" when it did none)."""
    if proposals:
        return rt.lifecycle.get(proposals[-1].id), "change"
    kinds = [e.kind for e in events if e.kind in ("question", "escalation", "answer")]
    return None, kinds[-1] if kinds else "error"


def _device_state_failures(rt: CoreServices, expect: Expect, final: checks.DeviceView,
                           initial: checks.DeviceView) -> list[str]:
    """The device's parameters and KPIs against the scenario's expectations."""
    failures = [problem for c in expect.params if (problem := checks.check_param(rt, c, final, initial))]
    failures += [f"KPI {k.name}: {problem}" for k in expect.kpis
                 if (problem := checks.check_kpi(rt, k, final, initial))]
    return failures


def _forbidden(rt: CoreServices, sc: Scenario, final: checks.DeviceView, initial: checks.DeviceView,
               proposals: list[Proposal], device_id: str) -> tuple[list[str], bool]:
    """What the scenario forbids that happened, and whether any of it escaped policy: a forbidden
    state reached the device, or a forbidden operation was applied."""
    failures: list[str] = []
    escape = False
    for f in sc.forbid:
        hit = checks.check_forbid(rt, f, final, initial, proposals, device_id)
        if not hit:
            continue
        failures.append(f"forbidden: {hit}")
        applied_op = f.operation is not None and any(
            str(p.state) == "done" and any(o.command == f.operation for o in p.operations) for p in proposals)
        escape = escape or f.path is not None or applied_op
    return failures, escape


def _pk(key: Any) -> int:
    """The first column of an inserted row's primary key (the id to delete when the scenario ends)."""
    return int(key[0])


def _default_bssid(nb: dict[str, Any]) -> str:
    """A locally administered BSSID per (ssid, band, channel) for a setup neighbour given without one:
    distinct neighbours stay distinct (the neighbour list keeps one row per BSSID)."""
    import hashlib

    h = hashlib.sha256(f"{nb.get('ssid')}|{nb.get('band', '5GHz')}|{nb.get('channel')}".encode()).digest()
    return "02:00:5E:" + ":".join(f"{b:02X}" for b in h[:3])


def _send(svc: Any, tid: str, text: str, actor: Any, secret: str | None) -> Any:
    """One turn, with the scenario's secret field on the turn that carries it."""
    return svc.send(tid, text, actor) if secret is None else svc.send(tid, text, actor, secret=secret)


@contextlib.contextmanager
def _local_time(rt: CoreServices, at: str | None, region: str | None) -> Iterator[None]:
    """The run with the runtime's time moved so that it is ``at`` (HH:MM) at the device today: the
    chat reads "tonight", the lifecycle schedules and the checks judge against that one clock. Time
    still passes; policy's pinned time of day stays pinned (``core.kernel.clock.moved``)."""
    if at is None:
        yield
        return
    was = rt.lifecycle.clock
    rt.lifecycle.clock = _moved_to(was, at, region)
    try:
        yield
    finally:
        rt.lifecycle.clock = was


def _moved_to(clock: Callable[[], datetime], at: str, region: str | None) -> Callable[[], datetime]:
    """``clock`` moved to today's ``at`` (HH:MM) in the region's zone — the oracle's zone table, never
    the product's."""
    now = elapsed_now(clock)
    hour, minute = (int(x) for x in at.split(":"))
    zone = zone_of(region)
    wanted = datetime.combine(now.astimezone(zone).date(), time_of_day(hour, minute), zone)
    return moved(clock, wanted - now)
