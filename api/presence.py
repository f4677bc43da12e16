"""One definition of "online", used by every surface of the console and the API.

Why: the device list badged a device "offline" when it had been silent for an hour, the fleet tile
counted what presence answered, and the device page said what presence answered for that device —
58 devices badged offline in the list of a demo whose tile said 11, 47 of them answering online.
A device is **online** when its protocol says so now (the executor's presence: a USP agent's
connection, a CWMP device's informs as its adapter judges them), **unreachable** when it is online
but cannot be reached (connection requests fail), **offline** otherwise, and *unknown presence is
not online*. Silence — how long since the device last said anything, as the store and the presence
answer know it — is a separate fact, said in words ("no contact for 5 h"), never "offline".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from core.kernel.models import Device

if TYPE_CHECKING:
    from api.deps import AppRuntime
    from core.kernel.ports.executor import Presence

State = Literal["online", "unreachable", "offline"]


def state_of(presence: Presence | None) -> State:
    """The one reading of a presence answer (``None``: it could not be learned)."""
    if presence is None or not presence.online:
        return "offline"
    return "online" if presence.reachable else "unreachable"


def state_of_json(presence: Mapping[str, object] | None) -> State:
    """:func:`state_of` of a presence answer already in its JSON form."""
    if not presence or not presence.get("online"):
        return "offline"
    return "online" if presence.get("reachable") else "unreachable"


def ask_many(rt: AppRuntime, devices: Sequence[Device]) -> dict[str, Presence | None]:
    """Each device's presence from its executor, every adapter asked for all of its devices at once
    (``presence_many``: the simulator reads them in one statement). A device left out or whose
    adapter failed is ``None`` (:func:`state_of`: offline)."""
    by_adapter: dict[str, list[Device]] = defaultdict(list)
    for d in devices:
        by_adapter[d.adapter].append(d)
    out: dict[str, Presence | None] = {}
    for group in by_adapter.values():
        try:
            found = rt.router.reader(group[0]).presence_many(group)
        except Exception:  # an adapter that cannot answer: its devices' presence is unknown
            found = {}
        for d in group:
            out[d.id] = found.get(d.id)
    return out


def ask_states(rt: AppRuntime, devices: Sequence[Device]) -> dict[str, State]:
    """device id → online | unreachable | offline (:func:`ask_many` read by :func:`state_of`)."""
    return {did: state_of(p) for did, p in ask_many(rt, devices).items()}


__all__ = ["State", "ask_many", "ask_states", "state_of", "state_of_json"]
