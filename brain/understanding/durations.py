"""A length of time said as a setting's value: the inform interval, the DHCP lease ("Meldeintervall von 24h auf 12
Stunden", "die Lease von 48h auf 6 Stunden kürzen", "passe la durée du bail à 6h").

Why a module of its own: "24h" and "6h" are also clock times ("um 6h", "à 6h"), and the time reader took them for
one — "Meldeintervall von 24h auf 12 Stunden" drafted the 12-hour interval scheduled for midnight, a time nobody
asked for, and "set the inform interval to 6h" lost its value to a 6 am schedule. An amount said right after the
setting's own noun (or after another such amount: "from 24h to 12 hours") is the setting's, never a time; the time
reader leaves these spans alone (``when.find``) and the setting takes the amount it is set *to* (:func:`seconds`).
"""

from __future__ import annotations

import re

_I = re.IGNORECASE

# the settings whose value is a length of time — their nouns, never the verb "inform" ("inform her that we reboot
# at 23h" is a time, and no interval of 23 hours)
SETTING = re.compile(r"\b(inform[- ]?interval\w*|periodic inform\w*|inform\w* p[ée]riodique|inform\w* peri[oó]dic\w*|"
                     r"periodisch\w* inform\w*|\w*intervall\w*|interval\w*|intervalo|"
                     r"(dhcp[- ]?)?lease\w*|bail|concesi[oó]n|arrendamiento)\b", _I)
LEASE = re.compile(r"\b((dhcp[- ]?)?lease\w*|bail( dhcp)?|dur[ée]e du bail|tiempo de (concesi[oó]n|arrendamiento)|"
                   r"concesi[oó]n( (del )?dhcp)?)\b", _I)
AMOUNT = re.compile(r"(?<![\d.:,])(\d{1,6})\s*(h|hrs?|hours?|stunden?|std|heures?|horas?|min|mins|minutes?|minuten|"
                    r"minutos?|s|secs?|seconds?|sekunden|secondes?|segundos?|d|days?|tage?n?|jours?|d[ií]as?)(?!\w)",
                    _I)
_GAP = 30  # characters between the setting's noun (or the amount before) and the amount
_BREAK = re.compile(r"[.;!?]|\b(and|und|et|y|then|dann|puis|luego)\b", _I)
_TO = re.compile(r"\b(to|auf|à|a|en|on|sur|zu)\s*$", _I)
_UNIT_S = (("h", 3600), ("stund", 3600), ("std", 3600), ("heure", 3600), ("hora", 3600), ("hr", 3600),
           ("min", 60), ("d", 86400), ("tag", 86400), ("jour", 86400), ("día", 86400), ("dia", 86400))


def spans(text: str) -> list[tuple[int, int]]:
    """The amounts ``text`` gives a time-valued setting: each said within a few words after the setting's noun or
    after the amount before it, in the same clause."""
    out: list[tuple[int, int]] = []
    for noun in SETTING.finditer(text):
        end = noun.end()
        for m in AMOUNT.finditer(text, end):
            gap = text[end:m.start()]
            if len(gap) > _GAP or _BREAK.search(gap):
                break
            out.append(m.span())
            end = m.end()
    return sorted(set(out))


_CLOCK_BEFORE = re.compile(r"\b(at|um|à|a las?|vers|gegen|around|by|bis|avant|before|after|nach|après|después de)\s*$",
                           _I)


def bare_amounts(text: str) -> list[tuple[int, int]]:
    """Every amount in ``text`` not said as a clock time ("mejor 4 horas", never "a las 4"): the value of a
    correction after a draft that sets a length of time."""
    return [m.span() for m in AMOUNT.finditer(text) if not _CLOCK_BEFORE.search(text[max(0, m.start() - 12):m.start()])]


def seconds(text: str, after: re.Pattern[str] = SETTING) -> int | None:
    """The length of time the setting ``after`` names is set to: the amount after "to" ("von 24h auf 12 Stunden"),
    else the last one said; None when it is given none."""
    noun = after.search(text)
    if noun is None:
        return None
    inside = set(spans(text))
    said = [m for m in AMOUNT.finditer(text) if m.span() in inside and m.start() >= noun.start()]
    if not said:
        return None
    to = [m for m in said if _TO.search(text[max(0, m.start() - 6):m.start()])]
    m = (to or said)[-1]
    return int(m.group(1)) * unit_seconds(m.group(2))


def unit_seconds(unit: str) -> int:
    """Seconds in one ``unit`` as said ("h", "Stunden", "min", "jours", …); a unit it does not know is seconds."""
    u = unit.lower()
    return next((s for prefix, s in _UNIT_S if u.startswith(prefix)), 1)
