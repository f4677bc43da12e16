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

from brain.understanding import targets
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
    without a value of its own is left out; ``[]`` unless two or more bands are named. Only numbers of the
    action's kind count (a share for the power, MHz for the width, neither for a channel), and a band's words end
    at the conjunct after its value ("… the 5GHz on 36 and the transmit power to 75%")."""
    kw = _KEYWORD.get(action)
    marks = list(_BAND.finditer(core))
    if kw is None or len(marks) < 2:
        return []
    numbers = _numbers(core, action)
    value_first = bool(numbers) and numbers[0].start() < marks[0].start()
    out: list[tuple[Band, Scalar]] = []
    for i, m in enumerate(marks):
        if value_first:
            start, end = marks[i - 1].end() if i else 0, m.end()
        else:
            start, end = m.start(), marks[i + 1].start() if i + 1 < len(marks) else len(core)
        own = [n for n in numbers if start <= n.start() < end]
        if not own:
            continue
        if value_first:  # from the conjunct the value opens: "…, 36%, the 2.4GHz" is not the band's
            start = max([c.end() for c in _CONJ.finditer(core, start, own[-1].start())], default=start)
        else:  # to the conjunct after the value
            end = next((c.start() for c in _CONJ.finditer(core, own[0].end(), end)), end)
        r = parse(f"{kw} {core[start:end]}")
        if r is not None and r.action == action and r.value is not None and not isinstance(r.value, bool):
            out.append((_band(m.group(1)), r.value))
    return out


# The unit a value of each kind is said with: a channel is a bare number, never a share or a width.
_UNIT = re.compile(r"\s*(%|percent|prozent|pour ?cent|por ?ciento|mhz)", _I)


def _numbers(core: str, action: str) -> list[re.Match[str]]:
    """The numbers of ``core`` that can be ``action``'s value."""
    want = _KIND[action]
    return [n for n in _NUMBER.finditer(core) if _kind(_UNIT.match(core, n.end())) == want]


_KIND = {"channel": "bare", "power": "share", "width": "mhz"}


def _kind(unit: re.Match[str] | None) -> str:
    if unit is None:
        return "bare"
    return "mhz" if unit.group(1).lower() == "mhz" else "share"


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


def _named(deferred: list[str], action: str, value: Scalar, band: Band | None) -> bool:
    """``action``'s ``value`` (on ``band``) is already deferred by name — the same setting and value, on that band
    or on none named ("a channel change (44)" is the 44 said for the 5GHz; "(44 on 6GHz)" is not)."""
    said = rf"\({re.escape(str(value))}" + (rf"(?: on {re.escape(band)})?\)" if band else r"[ )]")
    return any(d.startswith(LABEL[action]) and re.search(said, d) for d in deferred)


def settle(req: Request, core: str, deferred: list[str]) -> Said:
    """The request with each band given only its own value, and the parts beside it deferred or asked about."""
    if req.act != "change" or req.action not in _KEYWORD:
        return Said(req, deferred)
    value = req.values.get("value")
    out, elsewhere = _other_settings(req, core, deferred)
    pairs = band_values(core, req.action)
    if len({str(v) for _, v in pairs}) < 2:
        return Said(_narrowed(req, core, elsewhere), out)
    own = [b for b, v in pairs if str(v) == str(value)]
    if not own:
        words = " and ".join(f"{v} on {b}" for b, v in pairs)
        asked = Unplaced(words=words, kind="value", why=(
            "a value for each band, and I could not tell which the request is: ask for one band's at a time"))
        return Said(req.model_copy(update={"unplaced": [*req.unplaced, asked]}), out)
    for b, v in pairs:
        if b not in own and not _named(out, req.action, v, b):
            out.append(_label(req.action, v, b))
    target = req.target.model_copy(update={"bands": own, "words": " ".join(own)})
    return Said(req.model_copy(update={"target": target}), out)


def _other_settings(req: Request, core: str, deferred: list[str]) -> tuple[list[str], set[Band]]:
    """The deferrals with every other setting said beside the request added by name, and the bands those were
    said for ("… und beim 5GHz die Breite auf 40": the 5 GHz)."""
    out = list(deferred)
    elsewhere: set[Band] = set()
    for action, v, band in settings_beside(core, str(req.action)):
        if band is not None:
            elsewhere.add(band)
        if not _named(out, action, v, band):
            out.append(_label(action, v, band))
    for other in _KEYWORD:  # another setting said band by band ("… 2.4GHz on 1 and 5GHz on 44 and the width …")
        said = band_values(core, other) if other != req.action else []
        for b, v in said if len(said) > 1 else []:  # band by band: one pair alone may be another setting's words
            elsewhere.add(b)
            if not _named(out, other, v, b):
                out.append(_label(other, v, b))
    return out, elsewhere


def _narrowed(req: Request, core: str, elsewhere: set[Band]) -> Request:
    """The request without the bands only another setting's value was said for — or, when the conjunct of its own
    value names bands, those alone ("2,4er, 5er und 6er auf Kanal 6 und beim 6er die Leistung auf 50" is the 6 GHz
    radio's power)."""
    beside = _named_beside_value(core, req)
    if elsewhere and beside and beside < set(req.target.bands):
        return _without(req, set(req.target.bands) - beside)
    return _without(req, elsewhere - beside)


def _named_beside_value(core: str, req: Request) -> set[Band]:
    """The bands named in the conjunct that says the request's own value ("channel 6 on both bands and …": both)."""
    out: set[Band] = set()
    for part in _CONJ.split(core):
        r = parse(part)
        if r is not None and r.action == req.action and str(r.value) == str(req.values.get("value")):
            out.update(targets.bands_in(targets.normalise_bands(part)))
            if targets.all_bands(part):
                out.update(req.target.bands)
    return out


def _without(req: Request, bands: set[Band]) -> Request:
    """The request without the bands another setting's value was said for — "2.4GHz auf Kanal 1 und beim 5GHz die
    Breite auf 40 MHz" drafted channel 1 on 2.4 GHz alone, but read back "on 2.4GHz and 5GHz" — unless no band is
    left."""
    kept = [b for b in req.target.bands if b not in bands]
    if not bands or not kept or len(kept) == len(req.target.bands):
        return req
    return req.model_copy(update={"target": req.target.model_copy(update={"bands": kept, "words": " ".join(kept)})})


_DEFERRED = re.compile(r"\((?P<value>[^ ()]+) on (?P<band>2\.4GHz|5GHz|6GHz)\)")


def deferred_value(req: Request, deferred: tuple[str, ...]) -> Request:
    """``req`` — the last request moved to another band ("now the 5 GHz one") — with the value deferred for that
    band by name, not the value said for the band before: "(40MHz on 5GHz)" deferred, "now the 5 GHz one" is 40 MHz.
    Unchanged when nothing of that setting was deferred for that band."""
    if len(req.target.bands) != 1:
        return req
    found = [(action, m.group("value")) for label in deferred for action, named in LABEL.items()
             if label.startswith(named) and (m := _DEFERRED.search(label)) is not None
             and m.group("band") == req.target.bands[0]]
    # that setting's first; else the one change deferred for the band, whatever the last request's setting was
    # ("switch off the 2.4 GHz, and the 5 GHz on channel 44" then "now the 5 GHz one": channel 44, not a switch-off)
    same = [v for action, v in found if action == req.action]
    if same or len(found) == 1:
        action, said = (req.action, same[0]) if same else found[0]
        value: Scalar = int(said) if said.isdigit() else said
        return req.model_copy(update={"action": action, "values": {"value": value}, "intent": "explicit_request"})
    return req

