"""Values said in words, relative to what the device has now, or corrected inside the same message.

Why a module of its own: the operation matchers read a number after the object's word ("power to 50 %",
"channel 44"), so an agent who says "a notch lower", "auf die Hälfte", "quarter power" or "use 36…
pardon, 44" got a question, nothing, or — worst — the first number. Here:

* **fractions of full power** (TR-181's TransmitPower is a percentage of full power): half 50, quarter 25,
  three quarters 75, full 100, in EN/DE/FR/ES;
* **steps** ("a notch lower", "ein bisschen runter", "un cran plus bas", "un poco más alto", "two steps
  down"): a relative value resolved against the radio's own ``TransmitPowerSupported`` levels when the
  draft is made (``brain.explicit``), never guessed here;
* **corrections inside one message** ("channel 36… sorry, 44", "at 2 — no wait, make that 3 am", "Kanal 40,
  nee Moment, 48", "a las 2, no, mejor a las 3"): the later value replaces the earlier one, and the
  correction's words are taken out, before anything else reads the message.
"""

from __future__ import annotations

import re

_I = re.IGNORECASE

_POWER_WORD = re.compile(r"\b(transmit(ting)? power|tx[ -]?power|power|sendeleistung|sendestärke|leistung|"
                         r"puissance( d['’]émission)?|potencia( de transmisión)?)\b", _I)
_FRACTIONS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"\b((three|drei|trois|tres|3)[- ]?(quarters?|viertel|quarts|cuartos)|dreiviertel)\b", _I), 75),
    (re.compile(r"\b(half|halbe\w*|hälfte|halb|moitié|mitad|medi[ao]|(?:demi|mi)[- ]puissance)\b", _I), 50),
    # "un cuarto de potencia" reaches here as "un 4º" (the matching text writes ordinals as digits)
    (re.compile(r"\b(quarter|viertel|quart|cuarto|cuarta parte)\b|(?<!\w)un 4º(?!\w)", _I), 25),
    (re.compile(r"\b(full|max(imum|imal)?|voll\w*|volle[nr]? leistung|à fond|au max\w*|pleine puissance|"
                r"al máximo|máxim[ao]|a tope|a todo)\b", _I), 100),
)
_DOWN = re.compile(r"\b(lower|down|less|reduce|decrease|drop|weniger|runter|niedriger|herunter|reduzier\w*|senk\w*|"
                   r"moins|plus bas|baisse\w*|diminue\w*|réduis\w*|menos|más baj[ao]|baja\w*|reduce|disminu\w*)\b", _I)
_UP = re.compile(r"\b(higher|up|more|raise|increase|boost|bump|höher|mehr|rauf|hoch|erhöh\w*|plus haut|plus fort|"
                 r"augmente\w*|monte\w*|más alt[ao]|más|sube\w*|aumenta\w*)\b", _I)
_STEP = re.compile(r"\b(a notch|one notch|a (bit|little|touch|tad|smidge)|slightly|somewhat|one step|a step|"
                   r"(?P<n>two|three|2|3) (steps?|notches|levels?)|ein (bisschen|bissel|wenig|stück|tick)|etwas|"
                   r"eine stufe|(?P<de>zwei|drei|2|3) stufen|un peu|un cran|légèrement|d'un cran|un (poco|pelín|pelin)|"
                   r"ligeramente|un nivel|(?P<es>dos|tres|2|3) niveles|(?P<fr>deux|trois|2|3) crans)\b", _I)
_N = {"two": 2, "three": 3, "2": 2, "3": 3, "zwei": 2, "drei": 3, "dos": 2, "tres": 3, "deux": 2, "trois": 3}


PERCENT = r"\d{1,3}\s*(?:%|percent|per ?cent|prozent|pour ?cent|por ?ciento)"  # a number of percent, as said
_PERCENT = re.compile(PERCENT, _I)


def percent(text: str) -> int | None:
    """A transmit power given as a number of percent beside a power word ("power to 75 percent")."""
    if not _POWER_WORD.search(text):
        return None
    m = _PERCENT.search(text)
    return int(re.match(r"\d+", m.group(0)).group(0)) if m else None  # type: ignore[union-attr]


def power_fraction(text: str) -> int | None:
    """A transmit power said as a share of full power ("half power", "auf die Hälfte", "à fond"), in percent."""
    if not _POWER_WORD.search(text) or _PERCENT.search(text):
        return None
    for rx, pct in _FRACTIONS:
        if rx.search(text):
            return pct
    return None


def shares_as_power(text: str) -> str:
    """``text`` with each share of full power said in words ("al máximo", "half") as the word "power": the object a
    condition names, without its level ("si está al máximo" lent the change its 100 %)."""
    for rx, _ in _FRACTIONS:
        text = rx.sub(" power ", text)
    return text


def power_step(text: str) -> int | None:
    """A transmit power moved by steps of the radio's own levels: -1 for "a notch lower", +2 for "two steps
    up"; None when the text gives no step and no direction."""
    if not _POWER_WORD.search(text) or _PERCENT.search(text):
        return None
    m = _STEP.search(text)
    down, up = _DOWN.search(text), _UP.search(text)
    if m is None or bool(down) == bool(up):
        return None
    n = _N.get((m.group("n") or m.group("de") or m.group("es") or m.group("fr") or "").lower(), 1)
    return -n if down else n


# ---------------------------------------------------------------------------- corrections inside a message
# No unbounded repeat beside another: a pathological run of punctuation must stay linear
# (tests/brain/test_understanding.py reads the redactor's 4,000-character corpus).
# The words that take a value back ("sorry", "no wait", "ich meine", "pardon", "perdón"): shared with the
# network name's correction (brain.understanding.intent).
CORRECTION_WORDS = (r"sorry|no wait|wait|hang on|hold on|i mean|i meant|make (?:that|it)|scratch that|or rather|rather|"
                    r"actually|correction|nee|nein|ne|moment|warte|ich mein(?:e|te)|äh|ähm|lieber|pardon|euh non|non|"
                    r"attends|plutôt|je veux dire|je voulais dire|enfin|perdón|perdona|no|espera|mejor|digo|"
                    r"quiero decir|quería decir|quise decir|o sea")
_MARK = re.compile(rf"(?<![\w'])(?:{CORRECTION_WORDS})\b[\s,:;.!-]{{0,6}}", _I)
_FILLER = re.compile(r"^\s*((no wait|wait|hang on|hold on|make (that|it)|moment|warte|nee|nein|non|no|attends|espera|"
                     r"euh|äh|ähm|mejor|plutôt|lieber|i mean|i meant|ich meinte|ich meine|je veux dire|je voulais dire|"
                     r"quiero decir|quería decir|quise decir|digo|sorry|pardon|perdón)[\s,:;.!-]*)*"
                     # "en el 11", "sur le 11", "auf den 11er": a preposition and an article before the value
                     r"(?:(?:a las|a la|al|le|la|el|das|den|die|the|auf|sur|en|to|on|à|um|a)\b\s*){0,2}", _I)
# A correction's own words: a value and at most its unit or its time ("44", "3 am tomorrow", "48 MHz").
_VALUE_ONLY = re.compile(r"\d{1,4}(\s*(am|pm|a\.m\.|p\.m\.|uhr|h|heures?|horas?|o'?clock|mhz|%|percent|prozent|"
                         r"pour ?cent|por ?ciento|tomorrow|morgen\w*|demain|mañana|tonight|heute nacht|ce soir|"
                         r"esta noche|in the morning|de la (mañana|madrugada|noche)|du matin|früh|instead|stattdessen|"
                         r"plutôt|mejor|then|dann|alors|entonces|please|pls|bitte|svp|stp|s'il (?:te|vous) plaît|"
                         r"meinte ich|meine ich|hab ich gemeint|i meant|i mean|je voulais dire|quería decir|"
                         r"por favor|thanks|thank you|danke|merci|gracias))*", _I)
_NUM = re.compile(r"(?<![\w.,])(\d{1,4})(?![.,]?\d)(?!\s*-?\s*(ghz|g\b|er\b|%))", _I)
# a share with its unit: the correction brings its own ("50%, actually make it 75%" → "75%", never "75%%")
_PCT = re.compile(r"(?<![\w.,])(\d{1,3})\s*(%|percent|prozent|pour ?cent|por ?ciento)", _I)


def inline_correction(text: str) -> str:
    """``text`` with a value corrected inside it replaced by the correction ("canal 36… pardon, 44" →
    "canal 44"; "at 2 — no wait, make that 3 am tomorrow" → "at 3 am tomorrow"); unchanged when no
    short correction follows a number."""
    if len(text) > 600 or not re.search(r"\d", text):
        return text  # a correction is a short message's; long or numberless text is read as it is
    for m in reversed(list(_MARK.finditer(text))[-8:]):
        head, tail = text[:m.start()], text[m.end():]
        tail_value = _FILLER.sub("", tail, count=1).strip(" .!")
        rest = ""
        if not _VALUE_ONLY.fullmatch(tail_value):
            # "… ah non pardon, le 40, le 36 c'est celui du voisin": the value, then a reason after a comma
            first, sep, after_value = tail_value.partition(",")
            if not (sep and _VALUE_ONLY.fullmatch(first.strip(" .!"))):
                continue  # "no, 11 is busy": a reason, not a corrected value
            tail_value, rest = first.strip(" .!"), "," + after_value
        # a share corrected by a share ("50%, actually make it 75%"): the earlier number is the one with its sign
        earlier = list((_PCT if _PCT.search(tail_value) else _NUM).finditer(head))
        if not earlier:
            continue
        last = earlier[-1]
        if re.search(r"\b(la|la de|de la)\s+$", head[:last.start()], _I) or re.match(r"\s*(ghz|g\b|er\b)",
                                                                                    head[last.end():], _I):
            continue  # "no, la 5 quería decir, en el 36": the earlier number is a band ("la 5"), not a value
        after = head[last.end():]
        # the earlier value with its unit words ("2 de la madrugada", "2 am"), when the correction gives its own
        unit = re.match(r"\s*(am|pm|uhr|h\b|heures?)", after, _I)
        keep = after[unit.end():] if unit and len(tail_value.split()) > 1 else after
        keep = _MARK.sub(" ", keep).rstrip(" ,;.…-–—")  # "…, no," before the correction: its own words go too
        return (head[:last.start()] + tail_value + keep + rest).strip()
    return text


# Two values offered for one setting ("channel 6 or 11", "auf 36 oder 40", "soit 20 soit 40 MHz", "al 6 o al 11"); not a
# band ("2.4 or 5 GHz")
_PAIR = (r"(?<![\d.,])(?P<a>\d+(?:[.,]\d+)?)\s*(?:%|mhz)?\s*,?\s+(?:{})\s+"
         r"(?:(?:maybe|perhaps|auch|vielleicht|bien|peut-être|quizás?|tal vez|channel|kanal|canal|on|auf|"
         r"sur|à|a|al|en|the|el|le|la|den|dem)\s+)*(?P<b>\d+(?:[.,]\d+)?)(?![.,]?\d)(?!\s*(?:ghz|g\b))")
_EITHER = re.compile(_PAIR.format("or|oder|ou|soit|o|u"), _I)
# ... and two values said together of one fact ("if the neighbours are on 1 and 6"): a condition on each
_BOTH = re.compile(_PAIR.format("and|und|et|y|e|as well as|sowie"), _I)


# A range said for one setting ("between 50 and 75 percent", "zwischen 50 und 75 %", "entre el 50 y el 75 %",
# "50–75 %"): a setting takes one value, so which is asked. Not "from 6 to 11" (FROM_TO: the value it comes from),
# not a range of hours ("between 1 and 3 am": a time).
_ARTICLE = r"(?:(?:the|el|le|la|den|dem|canal|channel|kanal)\s+)?"
_RANGE = re.compile(
    r"\b(?:between|zwischen|entre)\s+" + _ARTICLE + r"(?P<a>\d+(?:[.,]\d+)?)\s*(?:%|mhz|percent|prozent)?\s+"
    r"(?:and|und|et|y|e)\s+" + _ARTICLE + r"(?P<b>\d+(?:[.,]\d+)?)(?![.,]?\d)"
    r"(?!\s*(?:ghz|g\b|am\b|pm\b|a\.m|p\.m|uhr|h\b|heures?|horas?|o'?clock|hours?|stunden|minut))|"
    r"(?<![\d.,])(?P<c>\d+)\s*[-–]\s*(?P<d>\d+)\s*(?:%|percent|prozent|pour ?cent|por ?ciento)", _I)


def ranged(text: str, value: object) -> list[tuple[int, int]]:
    """The span of each range in ``text`` ("between 50 and 75 percent", "50–75 %") whose ends include ``value``."""
    number = _number_of(value)
    return [m.span() for m in _RANGE.finditer(text)
            if number is not None and number in {(m.group(k) or "").replace(",", ".") for k in "abcd"}]


def _number_of(value: object) -> str | None:
    """The number a drafted value starts with ("40" of "40MHz"); None for no value, a switch or a word."""
    if value is None or isinstance(value, bool):
        return None
    number = re.match(r"\d+(?:\.\d+)?", str(value))
    return None if number is None else number.group(0)


def offered_with(text: str, value: object, *, both: bool = False) -> list[tuple[int, int]]:
    """The span of each "X or Y" in ``text`` (with ``both``, each "X and Y") of which ``value`` (a number, or a
    width such as "40MHz") is one."""
    number = _number_of(value)
    return [m.span() for m in (_BOTH if both else _EITHER).finditer(text)
            if number is not None and number in (m.group("a").replace(",", "."), m.group("b").replace(",", "."))]
