"""Several controller processes on one broker: shared subscriptions, per-process replies, relays.

Why: with plain subscriptions every ``gateward run`` replica and every worker
received every agent's notification and answered it — N processes, N NotifyResps, N copies of
each event. With MQTT 5 the processes of one controller endpoint instead join one *shared
subscription* (``$share/<group>/usp/controller/<ep>/#``): the broker hands each agent → controller
publish to one member. A response must still reach the process that asked, so each process also
subscribes to its own reply topic (:func:`reply_topic`) and names it as the request's MQTT 5
Response Topic (or ``/reply-to=`` for MQTT 3.1.1 agents); agents answer there (TR-369 R-MQTT.23).

Two things are then known to one member only, and are relayed on a small cluster topic
(:func:`cluster_topic`, a plain subscription of every member, JSON :class:`ClusterNote`):

* **presence** — an agent's ``mqtt_connect`` / ``disconnect`` Record (or its will) arrives at one
  member; the others learn its topic and that it is gone, so they answer "offline" at once;
* **interest** — a process that waits for a notification (the Boot! after a reboot, the
  OperationComplete of a command it started) announces it, and withdraws it when the wait ends
  (``until`` 0); the member that receives such a notification forwards the raw Record to the
  waiting process's ``<reply topic>/fwd``. Forwarded
  notifications wake waiters only: they are not answered and not delivered to listeners again,
  so a notification is handled exactly once cluster-wide.

**The group's session**. Members' connections start clean, so what agents publish while
every member is down (a connect Record, a Boot!) had no subscriber and was lost — an agent that
connected before the controller started never became pending. One member at a time therefore also
holds the group's *persistent* session (:func:`inbox_client_id`: a fixed client id per group and
endpoint, Clean Start 0, a Session Expiry Interval, a QoS 1 member of the shared subscription).
While no member is connected, that session is the only member left, so the broker queues what
arrives for it; the next member to take the session gets the queue, once. Who holds it is a
retained note on :func:`inbox_topic`, cleared by the holder's will (or by the holder itself when it
stops): the others take the session over when it is cleared, and a holder whose session is taken
over gives way (``MqttLink.yield_on_takeover``). Processes outside the group read the same note to
know a member answers notifications (so they do not answer them too).

MQTT 3.1.1 controllers (``GATEWARD_USP_MQTT_VERSION=3``) keep the plain subscription: every
process receives everything, as before (3.1.1 has no shared subscriptions; the stores' unique
event keys keep the stored events single).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Literal

import orjson

from executors.usp.topics import topic_level

SHARE_ENV = "GATEWARD_USP_SHARE_GROUP"
DEFAULT_GROUP = "gateward"
REPLY_PREFIX = "usp/controller-reply/"
CLUSTER_PREFIX = "usp/controller-cluster/"
FORWARD_SUFFIX = "/fwd"
CLUSTER_CONTENT_TYPE = "application/json"
_OFF = frozenset({"off", "0", "none", "no", "false"})


def share_group_from_env(env: dict[str, str] | None = None) -> str | None:
    """``GATEWARD_USP_SHARE_GROUP``: the shared-subscription group (default ``gateward``);
    ``off`` turns shared subscriptions off (every process then receives every publish)."""
    raw = ((os.environ if env is None else env).get(SHARE_ENV) or "").strip()
    if not raw:
        return DEFAULT_GROUP
    if raw.lower() in _OFF:
        return None
    problem = group_problem(raw)
    if problem:
        raise ValueError(f"{SHARE_ENV}={raw!r}: {problem}")
    return raw


def group_problem(group: str) -> str:
    """Why ``group`` cannot name a shared subscription (empty when it can)."""
    if not group or len(group) > 64:
        return "a share group name is 1 to 64 characters"
    if any(c in group for c in "/+#\x00"):
        return "a share group name may not hold '/', '+', '#' or NUL"
    return ""


def new_process_id() -> str:
    """Unique per process and per controller: host, pid and a random tail (one topic level)."""
    host = socket.gethostname().split(".")[0][:24] or "host"
    return topic_level(f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}")


def shared_filter(group: str, topic: str) -> str:
    """The shared subscription for ``topic`` and everything below it (``/reply-to=`` included)."""
    return f"$share/{group}/{topic}/#"


def reply_topic(endpoint_id: str, process_id: str) -> str:
    """This process's own reply topic. Not below ``usp/controller/<ep>``, so the shared
    subscription never also hands a response to a random member."""
    return f"{REPLY_PREFIX}{topic_level(endpoint_id)}/{topic_level(process_id)}"


def cluster_topic(endpoint_id: str) -> str:
    return CLUSTER_PREFIX + topic_level(endpoint_id)


def inbox_topic(endpoint_id: str) -> str:
    """The retained note naming the process that holds the group's session (empty: nobody)."""
    return cluster_topic(endpoint_id) + "/inbox"


def inbox_client_id(group: str, endpoint_id: str) -> str:
    """The group's persistent session: one client id per share group and controller endpoint, the
    same in every process and across restarts (23 characters at most, as MQTT 3.1.1 servers need)."""
    return "gwi-" + hashlib.sha256(f"{group}\x00{endpoint_id}".encode()).hexdigest()[:19]


@dataclass(frozen=True)
class ClusterNote:
    """One relay between the processes of a controller endpoint (see the module docstring)."""

    kind: Literal["interest", "presence", "inbox", "hello"]
    sender: str
    endpoint_id: str
    reply: str = ""  # interest: where to forward
    until: float = 0.0  # interest: wall-clock expiry
    connected: bool = False  # presence
    topic: str = ""  # presence: where the agent listens
    mqtt_version: int = 5
    reason: str = ""
    at: float = 0.0  # presence: when the sender heard it (wall clock)
    #: hello: the installation the sender belongs to (:func:`installation_id`): one endpoint ID, two
    #: installations on one broker split the agents' Records between them
    installation: str = ""

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, payload: bytes) -> ClusterNote:
        """Raises ValueError on anything that is not a note (never trusted blindly: the topic is
        writable by any client of the broker)."""
        try:
            raw = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(raw, dict) or raw.get("kind") not in ("interest", "presence", "inbox", "hello"):
            raise ValueError("not a cluster note")
        try:
            note = cls(kind=raw["kind"], sender=str(raw["sender"]), endpoint_id=str(raw["endpoint_id"]),
                       reply=str(raw.get("reply", "")), until=float(raw.get("until", 0.0)),
                       connected=bool(raw.get("connected", False)), topic=str(raw.get("topic", "")),
                       mqtt_version=int(raw.get("mqtt_version", 5)), reason=str(raw.get("reason", ""))[:200],
                       at=float(raw.get("at", 0.0)), installation=str(raw.get("installation", ""))[:64])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad cluster note: {exc}") from None
        if note.kind == "interest" and not note.reply.startswith(REPLY_PREFIX):
            raise ValueError("an interest must name a reply topic")
        return note


def installation_id(database_url: str) -> str:
    """Which installation a controller process belongs to: its processes share one database, so a
    hash of where that is (backend, host, port, database name — never the user or password). Two
    installations on one broker with one controller endpoint ID have different ones."""
    from urllib.parse import urlsplit

    parts = urlsplit(database_url)
    where = f"{parts.scheme}\x00{(parts.hostname or '').lower()}\x00{parts.port or ''}\x00{parts.path}"
    return hashlib.sha256(where.encode()).hexdigest()[:16]


def rival_words(endpoint_id: str, note: ClusterNote, url: str) -> str:
    """What a controller says when another installation's process answers to its endpoint ID."""
    return (f"another Gateward installation uses this controller's endpoint ID {endpoint_id!r} on the broker "
            f"{url} (its process {note.sender}, installation {note.installation}): the broker splits the "
            "agents' Records between the two (one shared subscription), so each sees some answers and "
            "events and loses the rest — give each installation its own GATEWARD_USP_ENDPOINT_ID")


class Interests:
    """Which other processes wait for notifications of which agents (bounded, expiring)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._by_ep: dict[str, dict[str, tuple[str, float]]] = {}
        self._limit = limit

    def note(self, note: ClusterNote) -> None:
        """Remember (or, for a withdrawal — ``until`` 0: the wait ended — forget) where
        ``note.sender`` wants ``note.endpoint_id``'s notifications. A withdrawal is ``until <= 0``,
        not "already expired", so the processes' clocks need not agree."""
        if note.until <= 0:
            waiting = self._by_ep.get(note.endpoint_id)
            if waiting is not None:
                waiting.pop(note.sender, None)
                if not waiting:
                    del self._by_ep[note.endpoint_id]
            return
        if len(self._by_ep) >= self._limit:
            self.prune()
            if len(self._by_ep) >= self._limit:
                return
        self._by_ep.setdefault(note.endpoint_id, {})[note.sender] = (note.reply, note.until)

    def targets(self, endpoint_id: str, now: float | None = None) -> list[str]:
        """The reply topics of the processes still waiting on ``endpoint_id``."""
        waiting = self._by_ep.get(endpoint_id)
        if not waiting:
            return []
        now = time.time() if now is None else now
        live = {pid: v for pid, v in waiting.items() if v[1] > now}
        if live:
            self._by_ep[endpoint_id] = live
        else:
            del self._by_ep[endpoint_id]
        return [reply for reply, _ in live.values()]

    def prune(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for ep in list(self._by_ep):
            self.targets(ep, now)
