"""The words of a message made comparable: its language, numbers written as words, and typos.

Why here and why only for matching: "kanal elf", "canal cuarenta y cuatro" and "restrat it" must
reach the same matchers as "channel 11" and "restart it", but a *value* must never be touched — an
SSID "Seven Oaks" or a passphrase stays exactly as typed. So :func:`for_matching` returns a second
text used to find actions, bands and times; values are always read from the original.

Numbers in words go through ``text2num`` (maintained, EN/DE/FR/ES; it leaves articles such as "un"
and "one" alone). Typos are corrected only towards the planner's own lexicon (:data:`VOCABULARY`)
with ``rapidfuzz`` — never towards a value, never a short word, never inside quotes.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from rapidfuzz import fuzz, process
from text_to_num import alpha2digit

Lang = Literal["en", "de", "fr", "es"]

# Frequent function words per language; the message's language is the one with the most hits
# (English when none: chat-speak, ids and numbers).
def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOP: dict[Lang, frozenset[str]] = {
    "en": _set("the a an is it to and on of for please can you could set change at in with this that "
                    "my their his her tonight tomorrow morning use make turn switch restart reboot only if "
                    "unless when not do does don't customer what which how"),
    "de": _set("der die das den dem ist und bitte kannst du sie es mit auf im am um nicht nur wenn falls "
                    "heute morgen früh nacht uhr kanal neu starten ändern stell schalte mach kunde kundin "
                    "was welche wie ich wir ihr sein seine stunden stunde minuten zwei drei vier fünf sechs sieben "
               "acht neun zehn zwölf elf"),
    "fr": _set("le la les un une est et de du des pour sur avec au aux ce cette il elle peux pouvez "
                    "svp merci demain matin soir nuit canal redémarre redémarrer change mets passe client "
                    "cliente que quel quelle si sauf pas ne heures heure deux trois quatre cinq six sept huit dix "
               "onze douze"),
    "es": _set("el la los las un una es y de del para con en al por favor puedes podrías mañana noche "
                    "tarde canal reinicia reiniciar cambia pon cliente que qué si salvo solo no lo le "
                    "esta este horas hora minutos dos tres cuatro cinco seis siete ocho nueve diez doce"),
}
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)


def language(text: str) -> Lang:
    words = [w.lower() for w in _WORD.findall(text)]
    if any(ch in text for ch in "¿¡ñ"):
        return "es"
    scores = {lang: sum(w in stop for w in words) for lang, stop in _STOP.items()}
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > scores["en"] else "en"


# The planner's own words, in four languages: what a typo may be corrected to. Only words of six
# letters or more are corrected (shorter ones have too many real neighbours: "chanel" → "channel"
# yes, "not" → "hot" never).
VOCABULARY: tuple[str, ...] = (
    # objects
    "channel", "channels", "password", "passphrase", "network", "wireless", "gateway", "router", "guest",
    "bandwidth", "neighbour", "neighbor", "neighbours", "neighbors", "connected", "devices", "firmware",
    "transmit", "interval", "configured", "kanal", "passwort", "netzwerk", "gastnetz", "gastnetzwerk",
    "nachbar", "nachbarn", "verbunden", "geräte", "mot de passe", "réseau", "invités", "voisin", "voisins",
    "connectés", "appareils", "contraseña", "invitados", "vecino", "vecinos", "conectados", "dispositivos",
    # actions
    "restart", "reboot", "rename", "change", "switch", "disable", "enable", "neustarten", "umbenennen",
    "ändern", "wechseln", "ausschalten", "einschalten", "redémarrer", "redémarre", "renommer", "changer",
    "désactiver", "activer", "reiniciar", "reinicia", "renombrar", "cambiar", "desactivar", "activar",
    # qualifiers
    "unless", "tonight", "tomorrow", "morning", "evening", "afternoon", "midnight", "already", "instead",
    "actually", "sonntag", "samstag", "montag", "dienstag", "mittwoch", "donnerstag", "freitag", "morgens",
    "nachts", "abends", "demain", "dimanche", "samedi", "lundi", "mardi", "mercredi", "jeudi", "vendredi",
    "domingo", "sábado", "lunes", "martes", "miércoles", "jueves", "viernes", "madrugada",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    # real words next to the lexicon, never "corrected" into it ("Morgen" is tomorrow, not "morgens")
    "morgen", "übermorgen", "vormittag", "nachmittag", "mittag", "mañana", "matinée",
)
_QUOTED = re.compile(r"[\"“”„«»][^\"“”„«»]*[\"“”„«»]|\[secret:\d+\]")
_SHORT_FIXES = ("reboot", "restart")


@lru_cache(maxsize=4096)
def _corrected(word: str) -> str | None:
    low = word.lower()
    if len(low) < 5 or low in VOCABULARY or any(low.startswith(v) and len(low) - len(v) <= 3 for v in VOCABULARY):
        return None  # a word of the lexicon, or one of its inflections ("restarted", "channels")
    if len(low) == 5:  # five letters have too many real neighbours ("Route", "Nacht"): only the reboot verbs
        hit5 = process.extractOne(low, _SHORT_FIXES, scorer=fuzz.ratio, score_cutoff=90)
        return str(hit5[0]) if hit5 is not None and hit5[0][0] == low[0] else None
    hit = process.extractOne(low, VOCABULARY, scorer=fuzz.ratio, score_cutoff=84)
    if hit is None or abs(len(hit[0]) - len(low)) > 2 or hit[0][0] != low[0]:
        return None
    return str(hit[0])


def fix_typos(text: str) -> str:
    """Words close to the lexicon replaced by it; quoted parts and secret placeholders untouched."""
    out: list[str] = []
    last = 0
    protected = [m.span() for m in _QUOTED.finditer(text)]
    for m in _WORD.finditer(text):
        if any(a <= m.start() < b for a, b in protected):
            continue
        fixed = _corrected(m.group(0))
        if fixed is not None:
            out.append(text[last:m.start()])
            out.append(fixed)
            last = m.end()
    out.append(text[last:])
    return "".join(out)


def numbers(text: str, lang: Lang) -> str:
    """Numbers written as words → digits, in the message's language (and English, which chat mixes
    in); quoted parts and placeholders untouched."""
    parts: list[str] = []
    last = 0
    for m in _QUOTED.finditer(text):
        parts.append(_numbers(text[last:m.start()], lang))
        parts.append(m.group(0))
        last = m.end()
    parts.append(_numbers(text[last:], lang))
    return "".join(parts)


def _numbers(chunk: str, lang: Lang) -> str:
    if not chunk.strip():
        return chunk
    # threshold=2: "three" and up become digits; "one/ein/un/una" (articles far more often) and "two"
    # stay, except "two" before a unit of time or after a channel word (``_TWO``)
    chunk = _TWO.sub("2", chunk)
    chunk = _ONE_OCLOCK.sub(r"\1 1", chunk)
    chunk = re.sub(r"\b(channel|kanal|canal)\s+(two|zwei|deux|dos)\b", r"\1 2", chunk, flags=re.I)
    out = str(alpha2digit(chunk, lang, threshold=2))
    out = str(alpha2digit(out, "en", threshold=2)) if lang != "en" else out
    out = _PER_CENT.sub(lambda m: m.group(1) + (" cent" if m.group(1).endswith("pour") else " ciento"), out)
    return _QUARTER_HOUR.sub(r"\1 cuarto", out)  # "las 8 y cuarto" is a quarter past, no fourth ("4º")


_QUARTER_HOUR = re.compile(r"(?<=\d )(y|menos) 4º(?!\w)", re.I)
# "80 pour cent", "80 por ciento": a percentage, no "80 pour 100" (the percent words were never read in French and
# Spanish: "mets le 5 GHz à 80 pour cent" was channel 80)
_PER_CENT = re.compile(r"(?<=\d)(\s+pour|\s+por) 100\b", re.I)


# "at one am", "à une heure", "um eins nachts", "um ein Uhr früh": one o'clock (left a word, the hour was lost — "à une
# heure du matin" was the morning's 08:00, "at one am" no time at all)
_ONE_OCLOCK = re.compile(r"\b(at|um|à|vers|gegen|around|after|nach|après|ab|dès)\s+(?:one|eins|ein|une?)\b"
                         r"(?=\s*(?:am|pm|a\.m\.|p\.m\.|o'?clock|uhr|heures?|h\b|in the (?:morning|night)|"
                         r"du (?:matin|soir)|nachts|früh|morgens|in der nacht|$|[,.;!?]))", re.I)
_TWO = re.compile(r"\b(?:two|zwei|deux|dos)(?=\s+(?:hours?|minutes?|stunden|minuten|heures?|horas|minutos|uhr|"
                  r"o'clock)\b)", re.I)


# German writes a weekday and a part of the day as one word ("Samstagnachmittag", "Sonntagabend").
_DAY_PART = re.compile(r"\b(montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)(morgen|vormittag|mittag|"
                       r"nachmittag|abend|nacht|früh|frueh)\b", re.I)


def for_matching(text: str) -> str:
    """The text the matchers read: typos towards the lexicon fixed, numbers as digits, German
    weekday-and-daypart compounds apart."""
    return _DAY_PART.sub(r"\1 \2", numbers(fix_typos(text), language(text)))
