"""Setting up a registered USP agent: reach it, discover it, create the subscriptions the controller
relies on, and keep the stored model in step — one procedure for every way in.

Why one procedure: ``gateward devices add``, ``gateward usp discover`` on a registered
device and ``gateward run`` each had their own idea of first contact, and an agent on OB-USP-Agent's
shipped defaults (topic ``/usp/agent``, connected before the controller) was reached by none of them:
``devices add`` said "at its next contact" and exited 0, but a connected agent sends nothing until it
reconnects. Now the probe tries every conventional topic (``executors.usp.controller``), the CLI
exits non-zero with the next step when the agent does not answer, and the long-running controller
retries registered agents that were never reached (:class:`NeverReached`) with back-off until one
answers, then sets it up here. The subscription instances made are added to the device's stored
instances at once (``core.capabilities.note_instances``), so a change to ``Subscription.1`` is not
refused as missing while ``usp subscriptions`` lists it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.kernel.jsontypes import JsonObject
from core.kernel.models import Device

if TYPE_CHECKING:
    from core.store import Store
    from gateward.runtime import Runtime

log = logging.getLogger("gateward.usp.setup")


@dataclass
class Setup:
    """What setting one agent up did; ``reached`` False: it did not answer (``detail`` says why)."""

    device_id: str
    endpoint_id: str
    reached: bool
    detail: str = ""
    topic: str = ""
    discovered: JsonObject | None = None
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)
    error: str = ""  # reached, but discovery or the subscriptions failed

    def next_step(self) -> str:
        """What a person does next when the agent was not reached."""
        if "over WebSocket" in self.detail:  # the store says where it is: the serving process has it
            return ("nothing here: the gateward run process it is connected to over WebSocket discovers it and "
                    "creates its subscriptions; act on it through the API or console")
        return ("check that the agent is connected to the same broker and configured for this controller "
                "(its Device.LocalAgent.Controller.{i}.EndpointID), then run `gateward usp discover --endpoint-id "
                f"{self.endpoint_id}` (add --agent-topic if it listens on a topic of its own); `gateward run` "
                "keeps retrying it meanwhile")


def set_up(rt: Runtime, device: Device, timeout: float) -> Setup:
    """Reach ``device``'s agent (every conventional topic when none was learnt), discover it, ensure
    its subscriptions and store the instances made. Never raises for the agent's sake: the result
    says what happened."""
    from core import capabilities
    from core.kernel.ports.topics import endpoint_for
    from executors.usp import subscriptions as subs
    from executors.usp.executor import UspExecutor

    assert rt.usp is not None
    ex = rt.usp.get()
    assert isinstance(ex, UspExecutor)
    ep = endpoint_for(device)
    here = ex.with_timeout(timeout, probe_timeout_s=timeout).presence(device)  # the caller's wait, whole
    st = ex.controller.agent(ep)
    topic = ("" if st is None else f"WebSocket from {st.mtp.peer}" if st.mtp is not None
             else f"{st.topic} ({st.topic_source})")
    if not here.reachable:
        from core.usp_topics import device_hints

        why = "; ".join([here.detail or "no answer", *device_hints(rt.store, device)])
        return Setup(device.id, ep, False, why, topic)
    out = Setup(device.id, ep, True, here.detail or "", topic)
    flush = getattr(ex.controller.topics, "flush", None)
    if callable(flush):  # the topic it answered on, stored now: a short-lived command exits next
        flush()
    (found,) = capabilities.discover(rt.store, rt.router, [device])
    out.discovered = found
    if not found.get("stored"):
        out.error = str(found.get("error") or "the agent reported no data model")
    if ex.auto_subscribe:  # the long-running controller: its keeper ensures them (one writer per agent)
        kept = _keeper_report(ex, ep, timeout * 8)
        if kept is None:
            out.error = (out.error + "; " if out.error else "") + "subscriptions not confirmed yet (the keeper retries)"
        else:
            out.created, out.kept = list(kept.created), list(kept.existing)
        return out
    try:
        report = ex.runner.run(subs.ensure(ex.controller, ep, watch=ex.watch, timeout=timeout), timeout=timeout * 8)
    except Exception as exc:  # reached: say why; `gateward run` ensures them at its next contact
        out.error = (out.error + "; " if out.error else "") + f"subscriptions not created: {exc}"
        return out
    out.created, out.kept = list(report.created), list(report.existing)
    out.instances = store_created(rt.store, _fresh(rt.store, device), report.instances)
    return out


def _fresh(store: Store, device: Device) -> Device:
    """The device as stored now: discovery may have learnt its identity (and so its firmware)."""
    from core.store import repo

    with store.read() as s:
        return repo.get_device(s, device.id)


def _keeper_report(ex: Any, ep: str, wait_s: float) -> Any:
    """The keeper's check of ``ep`` (started by the probe's answer, ``SubscriptionKeeper.on_exchange``),
    once it has run; None when it has not within ``wait_s`` (it stores what it makes itself)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        report = ex.subscribed.get(ep)
        if report is not None and not ex.keeper.running(ep):
            return report
        time.sleep(0.1)
    return None


def store_created(store: Store, device: Device, paths: Sequence[str]) -> list[str]:
    """Add instances the controller made on ``device`` to its stored model (nothing when none)."""
    from core.capabilities import note_instances

    if not paths:
        return []
    with store.write() as s:
        return note_instances(s, device, paths)


def store_deleted(store: Store, device: Device, paths: Sequence[str]) -> list[str]:
    """Remove instances the controller deleted on ``device`` from its stored model (nothing when none)."""
    from core.capabilities import forget_instances

    if not paths:
        return []
    with store.write() as s:
        return forget_instances(s, device, paths)


def device_for_endpoint(store: Store, endpoint_id: str) -> Device | None:
    """The active USP device an ``os::OUI-Serial`` endpoint ID names, if registered."""
    from sqlalchemy import func, select

    from core.inventory import ENDPOINT_ID_RE
    from core.store import repo
    from core.store.schema import DeviceRow

    m = ENDPOINT_ID_RE.match(endpoint_id)
    if m is None:
        return None
    with store.read() as s:
        did = s.scalar(select(DeviceRow.id).where(
            func.upper(DeviceRow.oui) == m.group(1).upper(), DeviceRow.serial == m.group(2),
            DeviceRow.protocol == "usp", DeviceRow.status == "active").limit(1))
        return None if did is None else repo.get_device(s, did)


def created_hook(store: Store) -> Any:
    """The keeper's ``on_created``: instances it made on an agent, stored for its device."""
    def on_created(endpoint_id: str, paths: Sequence[str]) -> None:
        device = device_for_endpoint(store, endpoint_id)
        if device is not None:
            store_created(store, device, paths)
    return on_created


def deleted_hook(store: Store) -> Any:
    """The keeper's ``on_deleted``: instances the controller deleted on an agent, removed from its
    device's stored model (:func:`created_hook`'s counterpart)."""
    def on_deleted(endpoint_id: str, paths: Sequence[str]) -> None:
        device = device_for_endpoint(store, endpoint_id)
        if device is not None:
            store_deleted(store, device, paths)
    return on_deleted


def never_reached(store: Store, limit: int, *, after: str = "") -> list[Device]:
    """Active USP devices with no stored discovery: registered, never reached (or never answered);
    the first ``limit`` by ID, of those whose ID sorts after ``after``."""
    from sqlalchemy import select

    from core.store import repo
    from core.store.schema import DeviceInstancesRow, DeviceRow

    with store.read() as s:
        ids = list(s.scalars(select(DeviceRow.id).where(
            DeviceRow.adapter == "usp", DeviceRow.status == "active", DeviceRow.id > after,
            DeviceRow.id.not_in(select(DeviceInstancesRow.device_id))).order_by(DeviceRow.id).limit(limit)))
        found = repo.get_devices(s, ids)
        return [found[i] for i in ids if i in found]


class NeverReached:
    """``gateward run``'s retry of registered agents that were never reached: each is probed (every
    conventional topic), first at once and then after 2 s, doubling to ``max_s``, until it answers
    and is set up (:func:`set_up`; its discovery stored). At most ``per_round`` devices are asked a
    round, so a fleet registered ahead of its agents does not flood the broker.

    A round looks at a window of ``10 * per_round`` never-reached devices that moves on through the
    list by ID and wraps round. Why: it always looked at the first window, so in a fleet with more
    never-reached devices than that the rest were never tried at all. An agent that answers but
    whose discovery fails stays on its back-off (it was tried again at every tick)."""

    def __init__(self, rt: Runtime, *, timeout_s: float = 3.0, first_s: float = 2.0, max_s: float = 300.0,
                 tick_s: float = 1.0, per_round: int = 20, clock: Callable[[], float] = time.monotonic) -> None:
        self.rt, self.timeout_s, self.first_s, self.max_s = rt, timeout_s, first_s, max_s
        self.tick_s, self.per_round = tick_s, per_round
        self.clock = clock  # when tries are due (monotonic seconds); a test drives the schedule with its own
        self._due: dict[str, tuple[float, float]] = {}  # device -> (next try, back-off), monotonic
        self._after = ""  # the window's place in the list of never-reached devices (an ID; "": its start)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.set_up_ok: list[str] = []

    def start(self) -> NeverReached:
        self._thread = threading.Thread(target=self._run, name="usp-never-reached", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.round()
            except Exception as exc:  # the store or broker is away: try again next tick
                log.warning("retrying never-reached USP agents failed this round: %s", exc)
            self._stop.wait(self.tick_s)

    def round(self) -> list[Setup]:
        """One pass over the window: its devices that are due, up to ``per_round``."""
        now = self.clock()
        candidates = self._window()
        due = [d for d in candidates if self._due.get(d.id, (0.0, 0.0))[0] <= now][: self.per_round]
        if candidates:  # on from the last one asked when the round is full, else past the whole window
            self._after = (due[-1] if len(due) == self.per_round else candidates[-1]).id
        done: list[Setup] = []
        for d in due:
            if self._stop.is_set():
                break
            res = set_up(self.rt, d, self.timeout_s)
            done.append(res)
            if res.reached and (res.discovered or {}).get("stored"):
                self._due.pop(d.id, None)
                self.set_up_ok.append(d.id)
                log.info("USP agent of %s reached on %s and set up: subscriptions created %s%s", d.id, res.topic,
                         ", ".join(res.created) or "none needed", f" ({res.error})" if res.error else "")
                continue
            backoff = min(self._due.get(d.id, (0.0, self.first_s / 2))[1] * 2, self.max_s)
            self._due[d.id] = (self.clock() + backoff, backoff)
            if res.reached:  # it answers: the store still counts it never reached, so it is asked again
                log.info("USP agent of %s answered on %s but was not discovered (%s); asked again in %g s",
                         d.id, res.topic, res.error or "nothing stored", backoff)
        return done

    def _window(self) -> list[Device]:
        """The next ``10 * per_round`` never-reached devices after the last round's place, going
        round to the start of the list when they run out."""
        size = 10 * self.per_round
        got = never_reached(self.rt.store, size, after=self._after)
        if len(got) < size and self._after:
            seen = {d.id for d in got}
            got += [d for d in never_reached(self.rt.store, size - len(got)) if d.id not in seen]
        return got
