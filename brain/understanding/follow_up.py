"""A value said right after a question about one radio setting is that setting's, on the band asked about.

Why: "which channel is the 2.4 on?" answered, the agent's next words are "ok, move it to 6", "vale, ponlo en
el 11", "dann stell es auf 11", "baisse-la à 25 alors" — a pronoun and a number, nothing that names the
setting or the band. Read alone they name no operation ("not something I can do on the gateway") and the
agent was asked to say again what the thread had just said. Here such a message is read with the asked
setting and band put before it ("2.4GHz channel: ok, move it to 6") — and only then: the question must have
named exactly one setting and at most one band, and the message one number, a verb or a pronoun that moves
something, and no setting or band of its own. Everything else the message says (a time, a condition) is read
as it stands.
"""

from __future__ import annotations

import re

from brain.understanding.request import Request

_I = re.IGNORECASE
# the setting a question asked about — width before channel ("channel width" holds "channel")
_SETTINGS = (
    ("channel width", re.compile(r"\b(width|bandwidth|breite|bandbreite|kanalbreite|largeur|ancho|anchura)\b", _I)),
    ("transmit power", re.compile(r"\b(power|sendeleistung|leistung|puissance|potencia)\b", _I)),
    ("channel", re.compile(r"\b(channel|kanal|canal)\b", _I)),
)
_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?!\d|[.,]\d)")  # not a part of "2.4" or "7,5"; "6," is 6
# a pronoun or a verb that moves the thing asked about: "move it", "that one", "ponlo", "baisse-la", "stell es"
_MOVES = re.compile(
    r"\b(it|that( one)?|this( one)?|es|ihn|sie|den|das|le|la|lo)\b|-(le|la|lo)\b|"
    r"\b(move|put|set|change|switch|make|lower|raise|drop|bump|go|stell\w*|setz\w*|änder\w*|wechsel\w*|"
    r"senk\w*|erhöh\w*|mets|passe|baisse|monte|augmente|change|pon\w*|c[aá]mbi\w*|b[aá]j\w*|s[uú]b\w*|mu[eé]v\w*|"
    r"p[aá]s[ae]\w*)\b",
    _I)
# a clock time is the change's time, never its value ("ok put it on 44 tonight at 23:00")
_CLOCK = re.compile(r"\b\d{1,2}\s*[:h.]\s*\d{2}\b|"
                    r"\b(at|um|a las?|vers|gegen|around)\s+([01]?\d|2[0-3])([:h.]\d{2})?\b(\s*(am|pm|uhr|h)\b)?|"
                    r"\b\d{1,2}\s*(am|pm|uhr|h)\b", _I)  # not "à 25": the French value ("baisse-la à 25")
# "… and the 2.4 on 6": an elliptic follow-up, its verb the question's
_ELLIPTIC = re.compile(r"^\W*((ok(ay)?|gut|bien|vale|d'accord|alright)\W+)?(and|und|et|y)\b", _I)
_BAND = re.compile(r"(?<![\w.])(2\.4GHz|5GHz|6GHz)", _I)
_OWN = re.compile(r"\b(channel|kanal|canal|power|leistung|puissance|potencia|width|breite|largeur|ancho|ssid|dns|"
                  r"reboot|restart|neu ?start|redémarr|reinici)", _I)


def asked_setting(question: str, previous: Request | None) -> str | None:
    """The one radio setting ``question`` (the thread's last message, a question) asked about, or None."""
    if previous is None or previous.act != "question" or len(previous.target.bands) > 1:
        return None
    named = [word for word, rx in _SETTINGS if rx.search(question)]
    if named[:1] == ["channel width"]:
        return "channel width"
    return named[0] if len(named) == 1 else None


def with_setting(text: str, core: str, question: str, previous: Request | None) -> str | None:
    """``text`` with the asked setting and band put before it, when it is a bare value for them; else None.
    ``core``: the message with its times and conditions taken out (normalised bands), where the one number, the
    verb or pronoun and the absence of a setting of its own are looked for. A band it names is its own ("ok, and
    the 2.4 on 6" after the 5 GHz channel was asked): then only the setting is put before it."""
    setting = asked_setting(question, previous)
    if setting is None or previous is None:
        return None
    bare = _CLOCK.sub(" ", core)
    if len(_NUMBER.findall(bare)) != 1 or not (_MOVES.search(bare) or _ELLIPTIC.match(bare)) or _OWN.search(bare):
        return None
    band = "" if _BAND.search(core) or not previous.target.bands else previous.target.bands[0]
    return f"{band} {setting}: {text}".strip()
