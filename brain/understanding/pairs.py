"""What a radio request says beside the one value drafted: a value paired with each band, a second setting.

Why a step of its own, after the request is read: the request holds one action and one value, and the
readers before it find an action's value for the message as a whole. "Set 2.4 on 1 and the 5 on 44" was
drafted as channel 1 on both radios, and "the width on 5 GHz to 80 and the channel to 36" as the width
alone — nothing said of the 44 or the 36. Here each band named is read with its own value, and each conjunct
on its own: a band keeps only the value paired with it, and every other pair or setting is deferred by
name (the planner says so, ``brain.graph``) — or, when no pair is the value read, asked about. A value is
never dropped without a word and never lent to another band.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from brain.understanding.actions import parse
from brain.understanding.request import Band, Request, Unplaced
from core.kernel.models import Scalar

_I = re.IGNORECASE
_BAND = re.compile(r"(?<![\w.])(2\.4GHz|5GHz|6GHz)", _I)
# A number of the request's own: never a band's digits ("2.4GHz", "5GHz-Band").
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)?(?![\w.,]*GHz)", _I)
# The words an action's value is read after (``actions.parse`` reads a segment for it).
_KEYWORD = {"channel": "channel", "width": "channel width", "power": "transmit power"}
_CONJ = re.compile(r"(?:,|;|\b(?:and|und|et|y|plus|sowie)\b)\s*", _I)
# the labels a deferred operation is named by (``brain.understanding.clauses``' deferred notices)
LABEL = {"channel": "a channel change", "width": "a channel-width change", "power": "a transmit-power change",
         "dns": "a DNS server change", "inform_interval": "an inform-interval change"}


@dataclass(frozen=True)
class Said:
    """The request as drafted (its bands narrowed to those given its value), what is deferred, what is asked."""

    request: Request
    deferred: list[str]


def band_values(core: str, action: str) -> list[tuple[Band, Scalar]]:
    """Each band the message names with the value said beside it, in order ("2.4GHz on 1 and the 5GHz on 44":
    2.4GHz→1, 5GHz→44; "channel 6 for 2.4GHz and 149 for 5GHz" the same with the value first). A band named
    without a value of its own is left out; ``[]`` unless two or more bands are named."""
    kw = _KEYWORD.get(action)
    marks = list(_BAND.finditer(core))
    if kw is None or len(marks) < 2:
        return []
    first = _NUMBER.search(core)
    value_first = first is not None and first.start() < marks[0].start()
    out: list[tuple[Band, Scalar]] = []
    for i, m in enumerate(marks):
        if value_first:
            seg = core[marks[i - 1].end() if i else 0:m.end()]
        else:
            seg = core[m.start():marks[i + 1].start() if i + 1 < len(marks) else len(core)]
        if not _NUMBER.search(seg):
            continue
        r = parse(f"{kw} {seg}")
        if r is not None and r.action == action and r.value is not None and not isinstance(r.value, bool):
            out.append((_band(m.group(1)), r.value))
    return out


def _band(word: str) -> Band:
    return "2.4GHz" if word.lower().startswith("2.4") else "5GHz" if word.startswith("5") else "6GHz"


def settings_beside(core: str, action: str) -> list[tuple[str, Scalar, Band | None]]:
    """Other settings said in conjuncts of their own ("… and the channel to 36", "und den Kanal auf 36", "the
    channel to 44 and the width to 40 MHz" drafted as the width): each conjunct read alone, kept when it is
    another action with a value."""
    parts = _CONJ.split(core)
    out: list[tuple[str, Scalar, Band | None]] = []
    for p in parts if len(parts) > 1 else []:
        r = parse(p)
        if r is not None and r.action != action and r.action in LABEL and r.value is not None:
            out.append((r.action, r.value, r.band))
    return out


def _label(action: str, value: Scalar, band: Band | None) -> str:
    return f"{LABEL[action]} ({value}{' on ' + band if band else ''})"


def _named(deferred: list[str], value: Scalar) -> bool:
    return any(re.search(rf"\({re.escape(str(value))}\b", d) for d in deferred)


def settle(req: Request, core: str, deferred: list[str]) -> Said:
    """The request with each band given only its own value, and the parts beside it deferred or asked about."""
    if req.act != "change" or req.action not in _KEYWORD:
        return Said(req, deferred)
    value = req.values.get("value")
    out = list(deferred)
    for action, v, band in settings_beside(core, req.action):
        if not _named(out, v):
            out.append(_label(action, v, band))
    pairs = band_values(core, req.action)
    if len({str(v) for _, v in pairs}) < 2:
        return Said(req, out)
    own = [b for b, v in pairs if str(v) == str(value)]
    if not own:
        words = " and ".join(f"{v} on {b}" for b, v in pairs)
        asked = Unplaced(words=words, kind="value", why=(
            "a value for each band, and I could not tell which the request is: ask for one band's at a time"))
        return Said(req.model_copy(update={"unplaced": [*req.unplaced, asked]}), out)
    for b, v in pairs:
        if b not in own and not _named(out, v):
            out.append(_label(req.action, v, b))
    target = req.target.model_copy(update={"bands": own, "words": " ".join(own)})
    return Said(req.model_copy(update={"target": target}), out)
