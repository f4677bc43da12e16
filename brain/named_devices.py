"""A chat acts on its own gateway only: other device ids named in a message get an answer.

Why: "set channel 6 on 00D0F1-CGW3400-VT00000010" typed into the chat about another gateway
must not become a change to *this* gateway (the parser reads "channel 6" and would draft it
here), nor silently to the other one (its evidence, policy checks and owner's confirmation were
never gathered). The planner answers instead — the id does not exist, the device is retired
and never targeted again, or it exists and needs its own chat — and drafts nothing.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from brain.plan import Plan
from core.store.schema import DeviceRow

# OUI-ProductClass-Serial (TR-069 DeviceId), the form every registered device id takes.
DEVICE_ID = re.compile(r"(?<![\w-])([0-9A-F]{6}-[A-Za-z0-9_.]{1,64}-[A-Za-z0-9_.]{1,64})(?![\w-])")


def others(text: str, device_id: str) -> list[str]:
    """Device ids in ``text`` other than the chat's own, in order, without repeats."""
    seen: dict[str, None] = {}
    for m in DEVICE_ID.finditer(text):
        found = m.group(1).rstrip(".")
        if found.upper() != device_id.upper():
            seen.setdefault(found, None)
    return list(seen)[:5]


def answer(s: Session, text: str, device_id: str) -> Plan | None:
    """The answer when the message names other devices, or None when it does not."""
    named = others(text, device_id)
    if not named:
        return None
    parts = []
    for other in named:
        row = s.get(DeviceRow, other)
        if row is None:
            parts.append(f"{other} is not a registered device (check the id with `gateward devices`)")
        elif str(row.status) != "active":
            parts.append(f"{other} is {row.status}: it is kept with its history but never targeted again")
        else:
            parts.append(f"{other} is another gateway: open a chat about it (`gateward chat --device {other}`) so "
                         "its own evidence and policy decide")
    return Plan(outcome="answer", finding="other_device", data={"named": named}, text=(
        f"This chat is about {device_id} and acts on it only. " + "; ".join(parts) + ". Nothing was drafted or "
        "changed. To act on this gateway, ask again without the other device's id."))
