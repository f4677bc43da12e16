"""The USP controller among other processes, and where agents listen: relays on the cluster topic,
interests, another installation's hello, topics learnt and suspected endpoint-ID mismatches.

Phase functions of :class:`executors.usp.controller.UspController` (its façade binds each as a method;
the state they read and write is the controller's own).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from executors.usp import cluster
from executors.usp.controller_types import (
    _LEARNT,
    _OPERATE,
    _READS,
    GONE_GRACE_S,
    AgentOffline,
    AgentState,
    UspEvent,
    _Pending,
    log,
)
from executors.usp.mqtt import Inbound

if TYPE_CHECKING:
    from executors.usp.controller import UspController


def publish_note(self: UspController, note: cluster.ClusterNote) -> None:
    self.link.publish(self.cluster_topic, note.encode(), qos=1, content_type=cluster.CLUSTER_CONTENT_TYPE)


def relay_presence(self: UspController, st: AgentState) -> None:
    """Tell the other processes what only this one heard: the agent came or went."""
    st.presence_at = time.time()
    if self.member:
        self._publish_note(cluster.ClusterNote("presence", self.process_id, st.endpoint_id,
                                               connected=bool(st.connected), topic=st.topic,
                                               mqtt_version=st.mqtt_version, reason=st.disconnect_reason,
                                               at=st.presence_at))


def announce_interest(self: UspController, endpoint_id: str) -> None:
    """Ask the other processes to forward this agent's notifications here for a while
    (re-announced only when half the time has passed). A process outside the group hears
    every notification itself and announces nothing."""
    if not self.member:
        return
    now = time.time()
    if self._announced.get(endpoint_id, 0.0) - now > self.interest_ttl_s / 2:
        return
    until = now + self.interest_ttl_s
    self._announced[endpoint_id] = until
    if len(self._announced) > 100_000:
        self._announced = {k: v for k, v in self._announced.items() if v > now}
    self._publish_note(cluster.ClusterNote("interest", self.process_id, endpoint_id,
                                           reply=self.reply_topic, until=until))


def withdraw_interest(self: UspController, endpoint_id: str) -> None:
    """Tell the other processes to stop forwarding this agent's notifications here (an interest
    with ``until`` 0). Why: an announced interest otherwise lives ``interest_ttl_s`` (15 min), and
    every notification of the agent meanwhile costs a forward nobody waits for."""
    if not self.member or self._announced.pop(endpoint_id, None) is None:
        return
    self._publish_note(cluster.ClusterNote("interest", self.process_id, endpoint_id,
                                           reply=self.reply_topic, until=0.0))


def say_hello(self: UspController, reason: str = "") -> None:
    """Tell every process on this endpoint's cluster topic which installation this one is, so two
    installations with one endpoint ID on one broker find each other (:meth:`_on_hello`).
    ``reason`` "answer": the reply to another's hello (never answered again)."""
    if self.installation:
        self._publish_note(cluster.ClusterNote("hello", self.process_id, self.endpoint_id, reason=reason,
                                               at=time.time(), installation=self.installation))


def on_hello(self: UspController, note: cluster.ClusterNote) -> None:
    """Another process said hello: of this installation, nothing to do; of another, the agents'
    Records are split between the two — said at once (an error in the log, :attr:`rival`), and
    answered, so a controller that starts beside a running one hears of it at its start too."""
    if not self.installation or not note.installation or note.installation == self.installation:
        return
    if not self.rival:
        self.rival = cluster.rival_words(self.endpoint_id, note, self.link.url)
        log.error("%s", self.rival)
    if note.reason != "answer":
        self._say_hello("answer")


def on_cluster(self: UspController, inbound: Inbound) -> None:
    try:
        note = cluster.ClusterNote.decode(inbound.payload)
    except ValueError as exc:
        self.stats.cluster_bad += 1
        log.debug("ignoring a bad note on %s: %s", inbound.topic, exc)
        return
    if note.sender == self.process_id:
        return
    self.stats.cluster_in += 1
    if note.kind == "interest":
        self._interests.note(note)
        return
    if note.kind == "inbox":  # said on the inbox topic only
        return
    if note.kind == "hello":
        self._on_hello(note)
        return
    st = self._state(note.endpoint_id)
    now = time.time()
    if note.at < st.presence_at:  # relays of one agent can overtake each other: the newest wins
        return
    st.presence_at = note.at
    if note.topic and st.topic_source in ("convention", "stored"):
        st.topic, st.mqtt_version, st.topic_source = note.topic, note.mqtt_version, "relayed"
    if note.connected:
        if not st.connected:
            self._connected_n += 1
            st.connected, st.connected_since, st.disconnect_reason = True, now, ""
        if self._pending:  # another process heard its connect Record: the same as hearing it here
            self._note_reconnect(st.endpoint_id)
        self._emit(UspEvent("connect", st.endpoint_id, now, {"topic": st.topic, "relayed": True}),
                   waiters_only=True)
    elif st.connected is not False:
        self._agent_gone(st, note.reason or "disconnected (heard by another process)", now, relayed=True)


def learn_topic(self: UspController, st: AgentState, topic: str, version: int, source: str) -> None:
    """The agent said where it listens: use it from now on, and store it for other processes."""
    if st.topic == topic and st.mqtt_version == version:
        if st.topic_source == source:
            return  # every response says it again: nothing new to store
        if st.topic_source in _LEARNT:  # said again another way (connect Record, then a PUBLISH):
            st.topic_source = source    # noted when first learnt — the book keeps topic and version only
            return
    st.topic, st.mqtt_version, st.topic_source = topic, version, source
    if self.topics is not None:
        self.topics.note(st.endpoint_id, topic, version, source)


def address_at(self: UspController, endpoint_id: str, topic: str) -> str:
    """Address ``endpoint_id`` at ``topic`` from now on (an agent this controller moved to its own
    topic, :mod:`executors.usp.own_topic`; stored for every process, source ``manual``); the
    topic it had, to go back to if the agent is not heard there."""
    st = self._state(endpoint_id)
    before = st.topic
    self._learn_topic(st, topic, st.mqtt_version, "manual")
    return before


def note_foreign(self: UspController, from_id: str, to_id: str) -> None:
    """An agent addressed a Record to another controller: remember whom, to explain its silence."""
    if self._foreign.get(from_id) != to_id:
        log.warning("USP agent %s addresses its records to controller %r, but this controller is %r: they are "
                    "dropped (set GATEWARD_USP_ENDPOINT_ID, or the agent's Device.LocalAgent.Controller.{i}."
                    "EndpointID)", from_id, to_id, self.endpoint_id)
    self._foreign[from_id] = to_id
    self._foreign.move_to_end(from_id)
    if self.topics is not None:  # every process can then name both endpoint IDs
        self.topics.note_mismatch(from_id, to_id, self.endpoint_id, "its records name the other controller")
    if len(self._foreign) > 10000:
        self._foreign.popitem(last=False)


def foreign_controller(self: UspController, endpoint_id: str) -> str | None:
    """The other controller an agent addresses its records to, if it was heard doing so."""
    return self._foreign.get(endpoint_id)


def mismatch(self: UspController, endpoint_id: str) -> str:
    """Why a connected agent may not answer: the endpoint IDs, both named (empty if unknown)."""
    foreign = self._foreign.get(endpoint_id)
    if foreign is not None:
        return (f"the controller endpoint IDs do not match: agent {endpoint_id} is configured for controller "
                f"{foreign!r} (its records name it), this controller is {self.endpoint_id!r} — set "
                "GATEWARD_USP_ENDPOINT_ID or the agent's Device.LocalAgent.Controller.{i}.EndpointID")
    st = self._agents.get(endpoint_id)
    if st is not None and st.connected and st.addressed_to == self.endpoint_id:
        # Its records name this controller, so the IDs match: saying they "probably do not" (and
        # naming the same ID twice) sent operators hunting a misconfiguration that is not there.
        return (f"agent {endpoint_id} is connected and its records address this controller "
                f"({self.endpoint_id!r}), so the endpoint IDs match: it is busy or restarting (e.g. after "
                "Reboot() or FactoryReset(), a real agent answers nothing until it is back) — retry after "
                "its next contact")
    if st is not None and st.connected:
        return (f"agent {endpoint_id} is connected but silent: the controller endpoint IDs probably do not "
                f"match — the agent's configured controller is {st.addressed_to or 'unknown'!r}, this "
                f"controller is {self.endpoint_id!r}; a real agent silently drops records with a wrong endpoint "
                "ID, from a controller it does not know (Device.LocalAgent.Controller.{i}.EndpointID) or "
                "does not trust — or it is busy")
    return ""


async def recall_topic(self: UspController, st: AgentState) -> None:
    """For an agent not heard from since this process started: the topic another process stored."""
    if self.topics is None or st.topic_source != "convention" or st.topic_looked_up:
        return
    st.topic_looked_up = True
    self.stats.topic_lookups += 1
    try:
        known = await asyncio.to_thread(self.topics.lookup, st.endpoint_id)
    except Exception as exc:  # the database is away: the convention is all we have
        log.warning("could not look up the stored topic of USP agent %s (%s); using %s", st.endpoint_id, exc,
                    st.topic)
        return
    if known is not None and st.topic_source == "convention":  # a Record may have come meanwhile
        st.topic, st.mqtt_version, st.topic_source = known.topic, known.mqtt_version, "stored"


def note_reconnect(self: UspController, endpoint_id: str) -> None:
    """The agent sent a connect Record while requests were pending: those it was sent before now
    may be lost. Why: the OB-USP-Agent restarts its MQTT connection when an MTP or MQTT client
    parameter is Set (a clean DISCONNECT, no will, no ``disconnect`` Record) and subscribes again
    a second later with a clean session, so what was published to it meanwhile reached no one —
    a lifecycle's verify read right after such a Set went unanswered until its timeout, and the
    change that had been made was rolled back. The scan is one per loop turn, not per Record."""
    if endpoint_id in self._reconnected or self._loop is None:
        return
    if not self._reconnected:
        self._loop.call_soon(self._resend_reads)
    self._reconnected[endpoint_id] = time.monotonic()


def resend_reads(self: UspController) -> None:
    """Send again the reads still waiting for an answer from an agent that (re)connected after
    they were sent (same msg_id: if the first copy was answered after all, the second answer
    is a duplicate and ignored). Anything else — Set, Add, Delete, Operate — may have been
    carried out before the connection went, so it is never repeated: it times out as before."""
    reconnected, self._reconnected = self._reconnected, {}
    again: list[tuple[str, _Pending]] = []
    for msg_id, p in list(self._pending.items()):
        at = reconnected.get(p.endpoint_id)
        if at is not None and p.msg_type in _READS and p.payload and p.sent_at < at and not p.future.done():
            again.append((msg_id, p))
    for msg_id, p in again:
        st = self._agents.get(p.endpoint_id)
        if st is None or st.connected is not True:
            continue
        if self._publish_request(st, p.payload):
            self.stats.resent_reads += 1
            # "connected", not "reconnected": a first contact resends too (a probe sent on every
            # conventional topic before the agent was up; the copy answered second is ignored)
            log.info("USP agent %s connected after %s msg_id %s was sent and before it was answered: "
                     "sent again", p.endpoint_id, p.what, msg_id)


def agent_gone(self: UspController, st: AgentState, reason: str, now: float, *, relayed: bool = False) -> None:
    if st.connected:
        self._connected_n -= 1
    st.connected = False
    st.disconnect_reason = reason
    self.stats.disconnects += 1
    for msg_id, p in list(self._pending.items()):
        if p.endpoint_id != st.endpoint_id or p.future.done() or p.gone:
            continue
        if p.msg_type in _READS:  # nothing changed: it is simply not there to ask
            p.future.set_exception(AgentOffline(st.endpoint_id, f"it disconnected ({reason}) before answering"))
            self._pending.pop(msg_id, None)
        elif p.msg_type == _OPERATE:  # a Reboot()'s goodbye is the expected one: its Boot! tells
            p.future.set_exception(self._gone_error(p, msg_id, reason))
            self._pending.pop(msg_id, None)
        else:  # a Set, Add or Delete: its answer may follow the goodbye
            p.gone = reason
            if self._deadlines is not None:
                self._deadlines.add(msg_id, GONE_GRACE_S)
    self._emit(UspEvent("disconnect", st.endpoint_id, now, {"reason": reason}), waiters_only=relayed)
