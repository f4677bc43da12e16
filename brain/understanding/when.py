"""When a request may run: a not-before time in the device's local zone, or a question.

Why this module exists: "restart it at 4 in the morning, not during the day" was drafted as an
immediate reboot — the time was read by nobody. Here every time-like part of a message is found
first (high recall, four languages: clock times, hours with a unit or after "at/um/à/a las", days,
parts of the day, "in two hours", "not before", "now"), then resolved. A part that is found but
cannot be resolved into one future instant is returned as *unplaced*, so the planner asks instead
of acting at once.

Resolution is this module's own small lexicon per language: clock times with or without a unit
("23:00", "23h30", "4am", "at 2 tonight", "um 3 Uhr nachts", "a las 5"), minutes to or past an hour,
day words and weekdays, dates, parts of the day ("Sonntag früh", "demain matin"), amounts from now
("in 2 hours", "dans une demi-heure", "dans 1h30"). ``dateparser`` read the amounts until it was seen
to read none of the halves and "dans 1h30" as 01:30 (docs/decisions/0032, round ten). A
part of the day without an hour takes a stated default hour (night 02:00, early morning 05:00,
morning 08:00, noon 12:00, afternoon 15:00, evening 19:00), said back to the agent as assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from brain.understanding import durations
from brain.understanding.request import Schedule, Unplaced
from brain.understanding.words import Lang

_I = re.IGNORECASE
MAX_AHEAD = timedelta(days=14)  # further than two weeks is a campaign or a ticket, not a chat schedule
DAYTIME = (8, 20)  # "not during the day": local hours [8, 20)

# ---------------------------------------------------------------------------- lexicon
_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "montag": 0, "dienstag": 1, "mittwoch": 2, "donnerstag": 3, "freitag": 4, "samstag": 5, "sonnabend": 5,
    "sonntag": 6, "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5, "dimanche": 6,
    "lunes": 0, "martes": 1, "miércoles": 2, "miercoles": 2, "jueves": 3, "viernes": 4, "sábado": 5, "sabado": 5,
    "domingo": 6,
}
# Day words: offset in days from today (None: a weekday, resolved by dateparser / the table above).
_DAY_OFFSET = {
    "today": 0, "heute": 0, "aujourd'hui": 0, "aujourd’hui": 0, "hoy": 0,
    "tomorrow": 1, "tmrw": 1, "tmr": 1, "2morrow": 1, "morgen": 1, "demain": 1, "mañana": 1,
    "übermorgen": 2, "après-demain": 2, "pasado mañana": 2, "day after tomorrow": 2,
}
# Parts of the day → (earliest hour, latest hour, default hour). "night" hours after midnight.
_PARTS: dict[str, tuple[int, int, int]] = {
    "night": (22, 5, 2), "early": (3, 7, 5), "morning": (5, 12, 8), "noon": (11, 13, 12),
    "afternoon": (12, 18, 15), "evening": (17, 23, 19), "midnight": (0, 0, 0),
}
_EXACT_PARTS = frozenset({"midnight", "noon"})  # parts that are an hour
_PART_WORDS = {
    "tonight": "night", "tonite": "night", "2nite": "night", "overnight": "night", "at night": "night",
    "in the night": "night", "night": "night", "nachts": "night", "heute nacht": "night", "nacht": "night",
    "in der nacht": "night", "cette nuit": "night", "la nuit": "night", "nuit": "night", "de nuit": "night",
    "esta noche": "night", "por la noche": "night", "de noche": "night", "noche": "night",
    "early morning": "early", "first thing": "early", "früh": "early", "frühmorgens": "early",
    "in aller frühe": "early", "tôt": "early", "tot le matin": "early", "tôt le matin": "early",
    "de madrugada": "early", "madrugada": "early", "temprano": "early",
    "in the morning": "morning", "morning": "morning", "morgens": "morning", "vormittag": "morning",
    "vormittags": "morning", "am morgen": "morning", "matin": "morning", "le matin": "morning",
    "matinée": "morning", "por la mañana": "morning", "de la mañana": "morning", "esta mañana": "morning",
    "this morning": "morning", "ce matin": "morning", "heute vormittag": "morning", "this afternoon": "afternoon",
    "cet après-midi": "afternoon", "esta tarde": "afternoon", "heute nachmittag": "afternoon",
    "noon": "noon", "midday": "noon", "mittag": "noon", "mittags": "noon", "midi": "noon", "mediodía": "noon",
    "afternoon": "afternoon", "nachmittag": "afternoon", "nachmittags": "afternoon", "après-midi": "afternoon",
    "por la tarde": "afternoon", "de la tarde": "afternoon",
    "evening": "evening", "this evening": "evening", "abends": "evening", "heute abend": "evening",
    "abend": "evening", "ce soir": "evening", "le soir": "evening", "soir": "evening", "soirée": "evening",
    "midnight": "midnight", "mitternacht": "midnight", "minuit": "midnight", "medianoche": "midnight",
}
_NOW = re.compile(r"\b(right now|now|right away|immediately|asap|straight away|at once|jetzt|sofort|gleich|"
                  r"umgehend|maintenant|tout de suite|immédiatement|de suite|ahora( mismo)?|ya mismo|"
                  r"inmediatamente|enseguida|en seguida)\b", _I)
# "not during the day / business hours": the daytime excluded.
_NOT_DAYTIME = re.compile(
    r"\b(not|never|nicht|pas|no|nunca|jamais)\b[^.;!?]{0,25}?\b(during|while|in|en|durante|pendant|wäh?rend|"
    r"am|de)?\s*(the\s+|la\s+|el\s+|der\s+|den\s+)?(day(time)?|business hours|office hours|working hours|"
    r"work hours|opening hours|tagsüber|tag|arbeitszeit|geschäftszeit\w*|bürozeit\w*|journée|jour|"
    r"heures de bureau|heures ouvrables|día|dia|horario (laboral|de oficina)|horas de trabajo)\b|"
    r"\b(nicht tagsüber|pas en journée|pas de jour)\b|"
    r"\b(tagsüber|during the day|in the daytime|pendant la journée|en journée|durante el día|de día)\s+(\w+\s+)?"
    r"(nicht|not|pas|no|nunca|never)\b", _I)
VAGUE = _VAGUE = re.compile(
    r"\b((?<!minute )(?<!minutes )(?<!hour )(?<!hours )(?<!second )(?<!seconds )(?<!day )(?<!days )"
    r"(?<!moment )(?<!while )later( on| today)?|some ?time(?!s)|when (it'?s )?(convenient|quiet)|after hours|"
    r"out of hours|off[- ]peak|"
    # (a "when …" clause ends at its comma: "when no one is connected, reboot it" — the reboot is no part of it)
    r"when (they|he|she|nobody|no one|the customer)\b[^.,;!?]{0,30}|once (they|he|she|the customer)\b[^.,;!?]{0,30}|"
    r"später|irgendwann|wenn (niemand|keiner|sie schlafen|er schläft)\b[^.,;!?]{0,20}|plus tard|"
    r"quand (ils|elle|il|personne)\b[^.,;!?]{0,30}|más tarde|cuando (no haya nadie|duerman|estén)\b[^.,;!?]{0,20})",
    _I)
# "at the top of the hour", "zur vollen Stunde", "à l'heure pile", "a la hora en punto": the next full hour
_TOP_OF_HOUR = re.compile(r"\b(at the top of the hour|on the hour|zur (nächsten )?vollen stunde|à l'heure pile|"
                          r"a la (próxima )?hora en punto)\b", _I)
# A day not picked: asked about in the clause that asks for the change ("reboot it this weekend" ran at once), context
# elsewhere ("visitors coming this weekend, turn the guest network on") — ``offline``
WEEKEND = re.compile(r"\b((this|next|over the|at the|on the) weekend|(am|dieses|nächstes|übers) wochenende|"
                     r"(ce|le) week-?end( prochain)?|(este|el) fin de semana( que viene)?)\b", _I)
_DENIED = re.compile(r"\b(not|nicht|pas|no|never|jamais|nunca)\s+$", _I)
_NEG_BEFORE = re.compile(r"\b(not before|no earlier than|not (un)?till?|not until|nicht vor|frühestens( um| ab)?|"
                         # "wait until 10 pm", "warte bis 22 Uhr", "attends jusqu'à 22h", "espera hasta las 10": no
                         # earlier than that (it was read as a deadline)
                         r"wait (un)?till?|wait until|warte(n)? bis|attends jusqu'à|attendre jusqu'à|"
                         r"espera(r)? hasta( las)?|"
                         r"erst( am| um| ab| nach)?|pas avant|seulement (à partir de|après)|au plus tôt( à)?|"
                         r"no antes de( las)?|no hasta( el| la| las)?|hasta no)\s*$", _I)
# "same time", "même heure": a correction's time of day is the one it corrects (``offline.amend``)
SAME_TIME = re.compile(r"\b(same time|same hour|même heure|à la même heure|gleiche(n)? (uhr)?zeit|selbe(n)? (uhr)?zeit|"
                       r"zur selben zeit|misma hora|a la misma hora)\b", _I)
SAME_TIME_ASSUMED = "the time of day of the request it corrects"
# what is said back for a bare hour taken as the morning's (``_clock_hour``): an amendment may take the evening instead
MORNING_ASSUMED = re.compile(r"^\d\d:\d\d \(morning; say if you meant \d\d:\d\d\)$")
# "pas demain", "not tomorrow", "nicht morgen": a day ruled out, not the day
_DAY_DENIED = re.compile(r"\b(not|nicht|pas|no|nunca|jamais|never)\s+(\w+\s+)?$", _I)
# "esta tarde no", "heute Nachmittag nicht", "this afternoon is no good": a part of the day ruled out after
# it is said — but "heute Nachmittag nicht vor 15 Uhr" keeps it (a not-before inside it)
_PART_DENIED_AFTER = re.compile(r"^\s*(is\s+|'s\s+|geht\s+|ça\s+)?(no|not|nicht|non|pas|nein|"
                                r"no good|out|bad|schlecht|impossible)\b(?!\s+(vor|before|avant|antes|until|till|"
                                r"bis|later|earlier|später|früher|plus|más|hasta|after|nach|après|después))", _I)
_AFTER = re.compile(r"\b(after|from|ab|nach|après|à partir de|dès|desde|después de( las)?|a partir de( las)?)\s*$",
                    _I)
_BEFORE = re.compile(r"\b(before|by|until|till|no later than|vor|bis|spätestens|avant|d'ici|jusqu'à|"
                     r"au plus tard|antes de( las)?|hasta( las)?|para las)\s*$", _I)

# Clock words: "half past nine", "quarter to 8", "halb zehn", "viertel nach 8", "dreiviertel 8", "neuf heures et
# demie", "huit heures moins le quart", "las nueve y media", "las 8 menos cuarto".
_CLOCK_WORDS = re.compile(
    r"\b(?:(?P<hp>half|quarter|viertel) (?P<rel>past|to|nach|vor) (?P<h1>\d{1,2}|midnight|noon|mitternacht)|"
    r"halb (?P<h2>\d{1,2})|"
    r"drei ?viertel (?P<h4>\d{1,2})|"
    r"(?P<h3>\d{1,2})\s*(?:h|heures?|horas?|uhr|o'?clock)?\s*(?P<sign>et|y|and a|moins le|moins|menos) "
    r"(?P<frac>demie|media|cuarto|quart|half)|"
    # minutes to or past an hour, only after a word that introduces a time ("at 10 to 11", "um 10 vor 11",
    # "à 23 heures moins 10", "a las 9 y 10"): "from channel 6 to 11" or "canales 1 y 6" are no clock
    r"(?:at|um|gegen|around|about|vers|à)\s+(?P<m5>[1-9]|[1-5]\d)\s+(?:minutes?\s+|minuten\s+)?"
    r"(?P<rel5>past|to|nach|vor)\s+(?P<h5>[01]?\d|2[0-4])|"
    r"(?:à|vers|a las|las|sobre las|hacia las)\s+(?P<h6>[01]?\d|2[0-4])\s*(?:h|heures?|horas?)?\s+"
    r"(?P<sign6>moins|menos|et|y)\s+(?P<m6>[1-9]|[1-5]\d)(?:\s*min(?:utes?|utos)?)?"
    r"(?![\d.,:]|\s*(?:%|ghz|mhz|dbm|db\b|percent|prozent|pour|por)))\b",
    _I)
# Hours: "23:00", "23h30", "4am", "4 pm", "22 Uhr", "7 heures", "a las 5", "at 2", "um 3".
# ... with its am/pm when it has one ("at 3:30 pm" ran at 03:30, "11:45 p.m." at 11:45: the clock's meridiem was not
# read), "3.30 pm" with a dot only beside its unit; and the 24-hour clock without a colon after "at" ("at 0300"; never
# after "à", which is "to" as well: "mets-les tous à 1800" sets an interval)
_CLOCK = re.compile(r"(?<![\d.])([01]?\d|2[0-3])\s*(?::|h(?=\d)|\.(?=[0-5]\d\s*(?:uhr|a\.?m\.?|p\.?m\.?)(?!\w)))"
                    r"\s*([0-5]\d)(?![\d.])(?:\s*(a\.?m\.?|p\.?m\.?)(?!\w))?", _I)
_CLOCK_DIGITS = re.compile(r"\b(?:at|um|gegen|vers|a las|around)\s+([01]\d|2[0-3])([0-5]\d)"
                           r"(?:\s*(?:hrs|hours|h)\b)?(?![\d.,])", _I)
_HOUR_UNIT = re.compile(r"(?<![\d.,])(1[0-2]|0?\d|1[3-9]|2[0-4])\s*(a\.?m\.?|p\.?m\.?|uhr|h(?![a-z])|o'?clock|"
                        r"heures?|horas?|-?ish)(?!\w)", _I)
_HOUR_AT = re.compile(r"\b(at|um|gegen|around|about|vers|à|a las|a la|las|sobre las|hacia las|after|from|nach|ab|"
                      r"après|dès|desde las|después de las|a partir de las)\s+"
                      r"(1[0-2]|0?\d|1[3-9]|2[0-3]|una)\b(?!\s*(%|mhz|ghz|dbm|db\b|s\b|sec|min|percent|prozent|"
                      r"pour ?cent|por ?ciento|\.\d|,\d))", _I)
# An amount of minutes or hours from now: "in 20 minutes", "in an hour and a half", "in half an hour", "dans une
# demi-heure", "dans 1h30", "dentro de media hora", "en una hora y media", "in anderthalb Stunden" (dateparser read
# none of the halves and took "dans 1h30" for 01:30; the time was dropped and the change went at once)
_IN_RELATIVE = re.compile(
    r"\b(?:in|dans|en|dentro de|d'ici)\s+(?:(?P<hh>\d{1,2})\s*h\s*(?P<mm>[0-5]\d)\b|"
    r"(?P<n>\d{1,3}(?:[.,]\d{1,2})?|half an?|an?|one|une demie?|une?|una?|media|einer halben|eine halbe|einer|einem|"
    r"eine|anderthalb|eineinhalb)[\s-]*"
    r"(?P<unit>minutes?|mins?|hours?|hrs?|h\b|minuten|stunden?|heures?|horas?|minutos?)"
    r"(?P<half>\s+(?:and a half|et demie|y media|und eine halbe))?"
    r"(?:\s+(?:and|und|et|y)\s+(?P<plus>[1-5]?\d)\s*(?:minutes?|mins?|minuten|minutos?))?)(?!\w)", _I)
_AMOUNTS = {"a": 1.0, "an": 1.0, "one": 1.0, "un": 1.0, "une": 1.0, "una": 1.0, "einer": 1.0, "einem": 1.0,
            "eine": 1.0, "half a": 0.5, "half an": 0.5, "une demi": 0.5, "une demie": 0.5, "media": 0.5,
            "einer halben": 0.5, "eine halbe": 0.5, "anderthalb": 1.5, "eineinhalb": 1.5}
# A window ("between 1 and 5 am", "zwischen 1 und 5 Uhr", "entre 1h et 5h", "entre la 1 y las 5"): the change goes at
# its start, the end's unit or am/pm being the start's too when it has none — the end's hour alone was taken ("turn off
# the 2.4 between 1 and 5 am" switched it off at 05:00); nothing is switched back at the end, and that is said
_WINDOW = re.compile(
    r"\b(?:between|zwischen|entre)\s+(?:la\s+|las\s+)?(?P<a>[01]?\d|2[0-3])(?::(?P<am>[0-5]\d))?\s*"
    r"(?P<ua>a\.?m\.?|p\.?m\.?|h|uhr|heures?)?\s+(?:and|und|et|y)\s+(?:la\s+|las\s+)?"
    r"(?P<b>[01]?\d|2[0-4])(?::(?P<bm>[0-5]\d))?\s*(?P<ub>a\.?m\.?|p\.?m\.?|h\b|uhr|heures?|horas?)?"
    r"(?![\w.,]|\s*(?:%|ghz|mhz|dbm|db\b|percent|prozent))", _I)
# A date named without a time ("on the 3rd", "am 3.", "le 3 décembre"): asked about, never guessed.
# A bare "1.4" is a firmware version far more often than a date, so it is not one here.
_FULL_DATE = re.compile(r"\b(\d{1,2})[./-](\d{1,2})[./-](\d{4})\b")
_DATE = re.compile(r"\b(on the \d{1,2}(st|nd|rd|th)|am \d{1,2}\.(\s*\d{1,2}\.)?|le \d{1,2}(er)? (janvier|février|mars|"
                   r"avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre)|el \d{1,2} de \w+)(?=\W|$)", _I)


def _word_alt(words: object) -> str:
    return "|".join(sorted((re.escape(str(w)) for w in words), key=len, reverse=True))  # type: ignore[attr-defined]


_DAY_RE = re.compile(r"(?<!\w)(" + _word_alt(list(_DAY_OFFSET) + list(_WEEKDAYS)) + r")(?!\w)", _I)
_PART_RE = re.compile(r"(?<!\w)(" + _word_alt(_PART_WORDS) + r")(?!\w)", _I)


@dataclass
class When:
    """What the time parts of a message amount to."""

    schedule: Schedule | None = None
    immediate: bool = False
    now_spans: list[tuple[int, int]] = field(default_factory=list)  # where "now" was said
    spans: list[tuple[int, int]] = field(default_factory=list)  # characters of the message used
    unplaced: list[Unplaced] = field(default_factory=list)
    not_daytime: bool = False
    # "heute keinen Neustart mehr, mach den erst morgen um 5": the day was ruled out in a clause that says no, and
    # the other day's clause says that day is wanted — the "no" is the day's, not the operation's (``clauses``)
    day_instead: bool = False


@dataclass
class _Parts:
    hour: int | None = None
    minute: int = 0
    meridiem: str | None = None  # am | pm
    day_offset: int | None = None
    weekday: int | None = None
    part: str | None = None
    relative: datetime | None = None
    relation: str = "at"  # at | after | before
    window_end: str | None = None  # "between 1 and 5 am": the end said back, never scheduled
    instead: bool = False  # a day ruled out by its clause's "no", another day wanted instead (``When.day_instead``)
    words: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)


def find(text: str, now: datetime, zone: ZoneInfo, lang: Lang) -> When:
    """The schedule in ``text`` (the matching text: numbers as digits), read in ``zone``. A setting's length of
    time ("Meldeintervall von 24h auf 12 Stunden") is no clock time (``durations``)."""
    for a, b in durations.spans(text):
        text = text[:a] + " " * (b - a) + text[b:]
    out = When()
    said = [m.span() for m in _NOW.finditer(text)
            if not _DENIED.search(text[max(0, m.start() - 12):m.start()])]
    if said:  # "now" said, and not denied ("pas maintenant", "not now")
        out.immediate = True
        out.now_spans = said
    nd = _NOT_DAYTIME.search(text)
    if nd:
        out.not_daytime = True
        out.spans.append(nd.span())
    dated = _dated(text, now.astimezone(zone).date())
    # the date's own numbers are no hour ("le 3 décembre à 9h"); it is read below (``_full_date``)
    collect_text = text if dated is None else text[:dated[1].start()] + " " * len(dated[1].group(0)) + text[
        dated[1].end():]
    p = _collect(collect_text, now, zone, lang, skip=[nd.span()] if nd else [], dated=dated is not None)
    out.day_instead = p.instead
    if not _full_date(dated, now, zone, p, out):
        return out
    vague = _VAGUE.search(text)
    if vague and not p.words:
        out.unplaced.append(Unplaced(words=vague.group(0).strip(), kind="time",
                                     why="a time I cannot turn into a clock time"))
        out.spans.append(vague.span())
        return out
    if not p.words:
        if not out.not_daytime:
            return out
        p.part = "night"  # "not during the day" alone: the coming night
        p.words.append(nd.group(0) if nd else "")
    out.spans += p.spans
    _place(p, now, zone, out)
    return out


# A date with its month named ("3 December", "December 3rd, 2026", "am 3. Dezember", "le 3 décembre", "el 3 de
# diciembre"), an ISO date, or a day of the month alone ("on the 3rd", "am 3."): each was dropped and the time said
# beside it placed on the next such hour — "redémarre-la le 3 décembre à 9h" ran the next morning
_MONTHS = {
    "january": 1, "jan": 1, "januar": 1, "janvier": 1, "enero": 1, "february": 2, "feb": 2, "februar": 2,
    "février": 2, "fevrier": 2, "febrero": 2, "march": 3, "mar": 3, "märz": 3, "maerz": 3, "mars": 3, "marzo": 3,
    "april": 4, "apr": 4, "avril": 4, "abril": 4, "may": 5, "mai": 5, "mayo": 5, "june": 6, "jun": 6, "juni": 6,
    "juin": 6, "junio": 6, "july": 7, "jul": 7, "juli": 7, "juillet": 7, "julio": 7, "august": 8, "aug": 8, "août": 8,
    "aout": 8, "agosto": 8, "september": 9, "sep": 9, "sept": 9, "septembre": 9, "septiembre": 9, "october": 10,
    "oct": 10, "oktober": 10, "octobre": 10, "octubre": 10, "november": 11, "nov": 11, "novembre": 11,
    "noviembre": 11, "december": 12, "dec": 12, "dezember": 12, "décembre": 12, "decembre": 12, "diciembre": 12}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NAMED_DATE = re.compile(
    rf"(?<![\w.])(?P<d>\d{{1,2}})(?:st|nd|rd|th|er|º|\.)?\s+(?:of\s+|de\s+)?(?P<m>{_MONTH})\.?"
    rf"(?:,?\s+(?:de\s+)?(?P<y>\d{{4}}))?(?![\w])|"
    rf"(?<![\w])(?P<m2>{_MONTH})\.?\s+(?:the\s+)?(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y2>\d{{4}}))?(?![\w.,]\d)|"
    r"(?<![\w.-])(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})(?![\w-])|"
    r"\bam\s+(?P<nd>\d{1,2})\.(?P<nm>\d{1,2})\.(?!\d)|"  # "am 3.12.": German, no year
    r"\bon\s+the\s+(?P<od>\d{1,2})(?:st|nd|rd|th)\b(?!\s+(?:floor|time|step|channel|try|attempt|of\s+the\s+month))|"
    rf"\bam\s+(?P<gd>\d{{1,2}})\.(?!\d)(?!\s*(?:{_MONTH})\b)", _I)


def _dated(text: str, today: date) -> tuple[date | None, re.Match[str]] | None:
    """The day a date in ``text`` names (None in its place when it names no real day), with its match; a date
    without a year is its next one, a day of the month alone this month's or the next."""
    full = _FULL_DATE.search(text)
    if full is not None:
        return _day(int(full.group(3)), int(full.group(2)), int(full.group(1))), full
    m = _NAMED_DATE.search(text)
    if m is None:
        return None
    if m.group("iy"):
        return _day(int(m.group("iy")), int(m.group("im")), int(m.group("id"))), m
    if m.group("nd"):
        month, d = int(m.group("nm")), int(m.group("nd"))
        this = _day(today.year, month, d)
        return (this, m) if this is None or this >= today else (_day(today.year + 1, month, d), m)
    if m.group("od") or m.group("gd"):
        d = int(m.group("od") or m.group("gd"))
        this = _day(today.year, today.month, d)
        if this is not None and this >= today:
            return this, m
        nxt = date(today.year + today.month // 12, today.month % 12 + 1, 1)
        return _day(nxt.year, nxt.month, d), m
    month = _MONTHS[(m.group("m") or m.group("m2")).lower()]
    d, year = int(m.group("d") or m.group("d2")), m.group("y") or m.group("y2")
    if year:
        return _day(int(year), month, d), m
    this = _day(today.year, month, d)
    return (this, m) if this is not None and this >= today else (_day(today.year + 1, month, d), m)


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _full_date(found: tuple[date | None, re.Match[str]] | None, now: datetime, zone: ZoneInfo, p: _Parts,
               out: When) -> bool:
    """The dated day ``_dated`` found ("27.11.2026", "le 3 décembre") into ``p``; False (and unplaced) when it has
    already passed or names no day."""
    today = now.astimezone(zone).date()
    if found is None:
        return True
    day, full = found
    if day is None:
        out.unplaced.append(Unplaced(words=full.group(0), kind="time", why="a date that is no day of the calendar"))
        out.spans.append(full.span())
        return False
    if day < today:
        out.unplaced.append(Unplaced(words=full.group(0), kind="time", why=f"{day:%d %b %Y} has already passed"))
        out.spans.append(full.span())
        return False
    p.day_offset = (day - today).days
    p.weekday = None
    p.words.append(full.group(0))
    p.spans.append(full.span())
    return True


def _place(p: _Parts, now: datetime, zone: ZoneInfo, out: When) -> None:
    """The collected parts as one moment in ``out.schedule``, or the reason they are not one."""
    words = " ".join(w for w in p.words if w).strip()
    if p.relation == "before":
        out.unplaced.append(Unplaced(words=words, kind="time", why=(
            "a deadline, not a start time: should it wait for a time, or go as soon as it is approved?")))
        return
    at, assumed = _resolve(p, now, zone, out.not_daytime)
    why = _not_a_start(at, assumed, p, now.astimezone(zone), out.not_daytime)
    if why is not None:
        out.unplaced.append(Unplaced(words=words, kind="time", why=why))
        return
    assert at is not None
    if p.window_end is not None:
        said = f"the start of the window; nothing is done at its end ({p.window_end})"
        assumed = f"{assumed}; {said}" if assumed else said
    out.schedule = Schedule(not_before=at.astimezone(UTC), zone=str(zone.key), words=words, assumed=assumed)


def _not_a_start(at: datetime | None, assumed: str | None, p: _Parts, local_now: datetime,
                 not_daytime: bool) -> str | None:
    """Why the moment cannot be the change's not-before (passed, too far ahead, during the day), or None."""
    if at is None:
        return "a time I could not read as one moment"
    if at <= local_now:
        return f"{at:%H:%M} on {at:%a %d %b} local has already passed"
    if at - local_now > MAX_AHEAD:
        return "more than two weeks ahead"
    if not_daytime and DAYTIME[0] <= at.hour < DAYTIME[1] and p.hour is not None and not (
            assumed or "").startswith("not during the day"):
        return f"{at:%H:%M} is during the day, which you asked to avoid"
    return None


def _collect(text: str, now: datetime, zone: ZoneInfo, lang: Lang, skip: list[tuple[int, int]],
             dated: bool = False) -> _Parts:
    c = _Collector(text, skip, dated)
    c.relative(now, zone)  # before the clocks and hours: "dans 1h30", "dans 1 heure" are from now, never 01:30, 01:00
    c.window()
    c.clock_words()
    c.clock()
    c.hour()
    c.part()
    c.day()
    c.finish()
    return c.p


class _Collector:
    """The parts of a time in a text, each taken once, never inside a span already taken or skipped."""

    def __init__(self, text: str, skip: list[tuple[int, int]], dated: bool = False) -> None:
        self.text, self.skip, self.p = text, skip, _Parts()
        self.dated = dated  # a date is said beside (blanked here): "am 3. Dezember um 9" — its "um 9" is an hour
        self.denied: list[tuple[int, int]] = []

    def free(self, a: int, b: int) -> bool:
        return not any(x <= a < y or x < b <= y for x, y in self.skip + self.p.spans)

    def ruled_out(self, m: re.Match[str]) -> bool:
        """"pas 23h, 22h", "not 11pm but 10", "nicht um 23 Uhr": an hour ruled out is not the hour."""
        if self.ruled_out_at(m.start()):
            self.p.spans.append(m.span())
            return True
        return False

    def take(self, m: re.Match[str]) -> None:
        p = self.p
        p.words.append(m.group(0).strip())
        p.spans.append(m.span())
        before = self.text[max(0, m.start() - 25):m.start()]
        extra = _NEG_BEFORE.search(before) or _AFTER.search(before)
        if extra is not None:
            p.relation = "after"
            p.spans.append((m.start() - len(before) + extra.start(), m.start()))
        elif _BEFORE.search(before):
            p.relation = "before"

    def window(self) -> None:
        """"between 1 and 5 am": the start of the window is the time, with the end's am/pm when it has none."""
        for m in _WINDOW.finditer(self.text):
            unit = (m.group("ua") or m.group("ub") or "").lower().replace(".", "")
            # bare hours ("between 1 and 3") are no clock without a unit, minutes, or a day or part of the day said
            clock = (unit or m.group("am") or m.group("bm") or self.dated or _has_day_word(self.text)
                     or re.search(r"\blas?\s", m.group(0), _I))  # "entre la 1 y las 5": the article says o'clock
            if clock and self.free(*m.span()) and not self.ruled_out(m):
                self.p.hour, self.p.minute = int(m.group("a")), int(m.group("am") or 0)
                self.p.meridiem = unit if unit in ("am", "pm") else None
                meridiem = f" {unit}" if unit in ("am", "pm") else ""
                self.p.window_end = f"{m.group('b')}:{m.group('bm') or '00'}{meridiem}"
                self.take(m)
                return

    def clock_words(self) -> None:
        """"half past nine", "halb zehn", "neuf heures et demie", "las nueve y media"."""
        for m in _CLOCK_WORDS.finditer(self.text):
            if self.free(*m.span()) and not self.ruled_out(m):
                self.p.hour, self.p.minute = _clock_words(m)
                self.take(m)
                return

    def clock(self) -> None:
        for rx in (_CLOCK, _CLOCK_DIGITS):
            for m in rx.finditer(self.text):
                if self.p.hour is None and self.free(*m.span()) and not self.ruled_out(m):
                    self.p.hour, self.p.minute = int(m.group(1)), int(m.group(2))
                    said = (m.group(3) or "").lower().replace(".", "") if rx is _CLOCK else ""
                    self.p.meridiem = said or None
                    self.take(m)
                    return

    def hour(self) -> None:
        """An hour with its unit ("3 am", "14 Uhr"), else after a preposition ("at 2", "a las 3")."""
        if self.p.hour is not None:
            return
        for m in _HOUR_UNIT.finditer(self.text):
            if self.free(*m.span()) and not self.ruled_out(m):
                self.p.hour = int(m.group(1)) % 24
                unit = m.group(2).lower().replace(".", "")
                self.p.meridiem = unit if unit in ("am", "pm") else None
                self.take(m)
                return
        for m in _HOUR_AT.finditer(self.text):
            if self.free(*m.span()) and not self.ruled_out(m) and (
                    m.group(1).lower() in _HOUR_ALONE or self.dated or _has_day_word(self.text)):
                self.p.hour = 1 if m.group(2).lower() == "una" else int(m.group(2))
                self.take(m)
                return

    def part(self) -> None:
        """The part of the day said — midnight or noon before a broader part beside it ("tonight at midnight" is
        00:00, not the night's 02:00)."""
        said = [m for m in _PART_RE.finditer(self.text) if self.free(*m.span()) and not self._part_denied(m)]
        exact = [m for m in said if _PART_WORDS[m.group(1).lower()] in _EXACT_PARTS]
        if exact or said:
            m = (exact or said)[0]
            self.p.part = _PART_WORDS[m.group(1).lower()]
            self.take(m)
            for other in said:
                if other is not m and _PART_WORDS[other.group(1).lower()] == "night" and self.p.part == "midnight":
                    self.take(other)  # "tonight at midnight": the night's words are the midnight's

    def _part_denied(self, m: re.Match[str]) -> bool:
        """"not this afternoon, tomorrow at 9", "esta tarde no, mañana a las 9": the part of the day ruled
        out is no part of the time asked (it made 9 into 21:00)."""
        start = m.start()
        this = re.search(r"\b(this|ce|cet|cette|esta|heute)\s+$", self.text[max(0, start - 8):start], _I)
        if this is not None:
            start -= len(this.group(0))
        if self.ruled_out_at(start) or _PART_DENIED_AFTER.search(self.text[m.end():m.end() + 20]):
            self.p.spans.append(m.span())
            self.denied.append((start, m.end()))
            return True
        return False

    def ruled_out_at(self, start: int) -> bool:
        """A denial just before ``start`` ("not", "pas", "nicht" …) that is no not-before ("not before")."""
        lead = self.text[max(0, start - 14):start]
        return bool(_DAY_DENIED.search(lead)) and not _NEG_BEFORE.search(lead)

    def _clause_denied(self, m: re.Match[str], days: list[re.Match[str]]) -> bool:
        """"heute bitte keinen Neustart mehr, morgen früh um 5", "no reboot today, tomorrow at 6": a day in a
        clause that says no, beside another day in a clause that does not, is the day ruled out. One day alone
        ("don't reboot tomorrow") is the request's own time, whatever the negation says of the request."""
        clause = clause_at(self.text, m.start())
        if not _CLAUSE_NO.search(self.text[clause[0]:clause[1]]):
            return False
        others = [clause_at(self.text, d.start()) for d in days if not (clause[0] <= d.start() < clause[1])]
        others = [o for o in others if not _CLAUSE_NO.search(self.text[o[0]:o[1]])]
        self.p.instead = self.p.instead or any(_wanted_instead(self.text[a:b]) for a, b in others)
        return bool(others)

    def day(self) -> None:
        text = self.text
        if any(not any(a <= t.start() < b for a, b in self.denied) for t in _THIS_PART.finditer(text)):
            self.p.day_offset = 0  # "this morning", "ce matin", "esta mañana": today's, even once it has passed
        days = [m for m in _DAY_RE.finditer(text) if not _not_a_day(m.group(1).lower(), text, m)]
        for m in _DAY_RE.finditer(text):
            if not self.free(*m.span()):
                continue
            w = m.group(1).lower()
            if self._clause_denied(m, days) or self.ruled_out_at(m.start()):
                self.p.spans.append(m.span())  # "pas demain, samedi": the day ruled out
                continue
            if _not_a_day(w, text, m):
                continue
            if w in _DAY_OFFSET:
                self.p.day_offset = _DAY_OFFSET[w]
            else:
                self.p.weekday = _WEEKDAYS[w]
            self.take(m)
            return

    def relative(self, now: datetime, zone: ZoneInfo) -> None:
        """"in 2 hours", "dans une demi-heure": that long from now (local time, as the other parts); "at the top of
        the hour": the next full hour."""
        top = _TOP_OF_HOUR.search(self.text)
        if top is not None and self.free(*top.span()):
            local = now.astimezone(zone)
            self.p.relative = (local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).replace(
                tzinfo=None)
            self.take(top)
            return
        for m in _IN_RELATIVE.finditer(self.text):
            if self.free(*m.span()):
                self.p.relative = (now.astimezone(zone) + _from_now(m)).replace(tzinfo=None)
                self.take(m)
                return

    def finish(self) -> None:
        """"same time" beside a day; a bare date when nothing else was found."""
        p = self.p
        same = SAME_TIME.search(self.text)
        if same is not None and p.words and self.free(*same.span()):
            p.words.append(same.group(0))
            p.spans.append(same.span())
        if not p.words:
            for m in _DATE.finditer(self.text):
                if self.free(*m.span()):
                    self.take(m)
                    return


# A clause's bounds for a ruled-out day: punctuation, or a word that turns to what is wanted instead.
_CLAUSE_END = re.compile(r"[,;.!?¿¡—–]|\b(but|rather|instead|aber|sondern|lieber|mais|plutôt|pero|sino|mejor)\b", _I)
_CLAUSE_NO = re.compile(r"\b(no|not|never|nicht|kein\w*|nie|pas|jamais|ne|ni|nunca|tampoco)\b|\b(n'|don't|won't|can't)",
                        _I)


# What says the other day is the one wanted: "tomorrow is fine", "mach den erst morgen", "fais-le plutôt demain",
# "mejor mañana" — or a clause that is nothing but its time ("…, tomorrow at 6")
_INSTEAD = re.compile(r"\b(instead|rather|do it|geht|passt|lieber|stattdessen|dafür|erst|mach\w*|plutôt|ça va|"
                      r"c'est bon|mejor|vale|hazlo|en cambio)\b|\b(fais|faites)(-(le|la|les)\b|\b)|"
                      # "tomorrow is fine", "6am works", "that would be better": the time's, never "she works at home"
                      r"(?:\b(?:tomorrow|tonight|today|morning|evening|afternoon|night|it|that|then|which)|"
                      r"\d(?:am|pm|h)?)"
                      r"\s+(?:is\s+fine|works|is\s+ok(?:ay)?|would\s+work|(?:is|would\s+be)\s+better|suits)\b", _I)


def _wanted_instead(clause: str) -> bool:
    """The clause of the other day says that day is wanted (``_INSTEAD``), or says nothing but the time."""
    if _INSTEAD.search(clause):
        return True
    rest = re.sub(r"\b(please|pls|bitte|svp|stp|por favor|then|dann|alors|entonces|and|und|et|y|at|um|à|a las|las|"
                  r"on|am|le|el)\b", " ", without_times(clause), flags=_I)
    return not re.search(r"[^\W\d_]{3,}", rest)


def clause_at(text: str, at: int) -> tuple[int, int]:
    """The span of the clause around ``at``."""
    start = max((e.end() for e in _CLAUSE_END.finditer(text, 0, at)), default=0)
    end = next((e.start() for e in _CLAUSE_END.finditer(text, at)), len(text))
    return start, end


_NAMED_HOURS = {"midnight": 24, "mitternacht": 24, "noon": 12}  # "quarter past midnight" 00:15, "to midnight" 23:45


def _clock_words(m: re.Match[str]) -> tuple[int, int]:
    """The hour and minute of a clock said in words."""
    if m.group("h1"):
        h = _NAMED_HOURS.get(m.group("h1").lower()) or int(m.group("h1"))
        quarter = m.group("hp").lower() in ("quarter", "viertel")
        if m.group("rel").lower() in ("to", "vor"):
            return (h - 1) % 24, 45 if quarter else 30
        return h % 24, 15 if quarter else 30
    if m.group("h2"):
        return (int(m.group("h2")) - 1) % 24, 30  # "halb zehn" is 9:30
    if m.group("h4"):
        return (int(m.group("h4")) - 1) % 24, 45  # "dreiviertel acht" is 7:45
    if m.group("h5") or m.group("h6"):
        h, minutes = int(m.group("h5") or m.group("h6")), int(m.group("m5") or m.group("m6"))
        if (m.group("rel5") or m.group("sign6")).lower() in ("to", "vor", "moins", "menos"):
            return (h - 1) % 24, 60 - minutes  # "10 to 11" is 10:50, "23 heures moins 10" 22:50
        return h % 24, minutes
    h, quarter = int(m.group("h3")), m.group("frac").lower() in ("cuarto", "quart")
    if m.group("sign").lower() in ("moins", "moins le", "menos"):  # "8 heures moins le quart", "las 8 menos cuarto"
        return (h - 1) % 24, 45 if quarter else 30
    return h % 24, 15 if quarter else 30


# A part of today named as today's ("at 8 this morning" said at noon was scheduled for tomorrow at 8)
_THIS_PART = re.compile(r"\b(this|ce|cet|cette|esta|heute)\s+(morning|afternoon|evening|matin|après-midi|soir|mañana|"
                        r"tarde|morgen|vormittag|nachmittag|abend|früh)\b", _I)


def _not_a_day(w: str, text: str, m: re.Match[str]) -> bool:
    """"por la mañana" is a part of the day (below); "am Morgen", "heute Morgen" the morning, not tomorrow."""
    if w == "mañana" and re.search(r"\b(por la|de la|esta)\s+$", text[:m.start()], _I):
        return True  # "esta mañana" is this morning
    return w == "morgen" and bool(re.search(r"\b(guten|am|jeden|heute)\s+$", text[:m.start()], _I))


# prepositions that make a bare number an hour on their own; the others ("à 3", "nach 8") only beside a day
_HOUR_ALONE = frozenset({"at", "gegen", "around", "about", "vers", "a las", "las", "sobre las", "hacia las"})


def _has_day_word(text: str) -> bool:
    return bool(_DAY_RE.search(text) or _PART_RE.search(text) or re.search(r"\d\s*(h|heures?|uhr)\b", text, _I))


def _from_now(m: re.Match[str]) -> timedelta:
    """How long from now an ``_IN_RELATIVE`` match says: "1h30", or an amount of its unit (and a half)."""
    if m.group("hh"):
        return timedelta(hours=int(m.group("hh")), minutes=int(m.group("mm")))
    said = m.group("n").lower()
    amount = _AMOUNTS.get(said) or float(said.replace(",", "."))
    if m.group("half"):
        amount += 0.5
    plus = timedelta(minutes=int(m.group("plus"))) if m.group("plus") else timedelta()  # "2 hours and 30 minutes"
    return timedelta(seconds=amount * durations.unit_seconds(m.group("unit"))) + plus


def _resolve(p: _Parts, now: datetime, zone: ZoneInfo, not_daytime: bool = False) -> tuple[datetime | None, str | None]:
    local_now = now.astimezone(zone)
    if p.relative is not None:
        return p.relative.replace(tzinfo=zone), None
    hour, assumed = _hour_of(p, not_daytime)
    if hour is None:
        return None, None  # no time of day (a day alone: ask for the hour)
    return datetime.combine(_day_of(p, hour, local_now, zone), time(hour, p.minute), zone), assumed


def _hour_of(p: _Parts, not_daytime: bool) -> tuple[int | None, str | None]:
    """The hour on the 24-hour clock, and what was assumed to get it (said back), or None."""
    hour = p.hour
    if hour is not None:
        return _clock_hour(p, hour)
    dated = p.day_offset is not None or p.weekday is not None
    if p.part in _EXACT_PARTS:  # "midnight", "noon": the hour itself; a dated midnight says which one it is
        return _PARTS[p.part][2], _which_midnight(p) if p.part == "midnight" else None
    if p.part is not None:
        hour = _PARTS[p.part][2]
        return hour, f"no hour was given: {hour:02d}:00 local"
    if dated and any(SAME_TIME.search(w) for w in p.words):
        return 12, SAME_TIME_ASSUMED  # replaced by the corrected request's time of day (``offline.amend``)
    if dated and not_daytime:
        # "tomorrow, but not during working hours": that evening, said back
        return DAYTIME[1], f"not during the day: {DAYTIME[1]:02d}:00 local"
    return None, None


def _which_midnight(p: _Parts) -> str | None:
    """Said back for a midnight with a day: "tomorrow at midnight" is the one that ends tomorrow (``_day_of``),
    "Saturday at midnight" the one Saturday begins with — either may be meant the other way."""
    if p.day_offset is not None and p.day_offset > 0:
        return "00:00 at the end of the day named (say if you meant the night before)"
    if p.weekday is not None:
        return "00:00 at the start of the day named (say if you meant the night after)"
    return None


def _clock_hour(p: _Parts, hour: int) -> tuple[int, str | None]:
    if p.meridiem == "pm" and hour < 12:
        return hour + 12, None
    if p.meridiem == "am" and hour == 12:
        return 0, None
    if p.meridiem is None and p.part is not None and hour < 12 and p.part in ("afternoon", "evening"):
        return hour + 12, None
    if p.meridiem is None and p.part == "night" and 7 <= hour < 12:
        return hour + 12, None  # "at 11 tonight" is 23:00
    if p.meridiem is None and p.part == "night" and hour == 12:
        return 0, None  # "tonight at 12" is midnight, never noon
    if p.meridiem is None and p.part is None and 7 <= hour <= 11:
        return hour, f"{hour:02d}:{p.minute:02d} (morning; say if you meant {hour + 12:02d}:{p.minute:02d})"
    return hour, None


def _day_of(p: _Parts, hour: int, local_now: datetime, zone: ZoneInfo) -> date:
    """The day the hour falls on: the day named, the next such weekday, or the next time it is that o'clock."""
    if p.day_offset is not None:
        day = local_now.date() + timedelta(days=p.day_offset)
        if p.part in ("night", "midnight") and hour < 12 and p.day_offset >= 0:
            day += timedelta(days=1)  # "tomorrow night at 2", "tomorrow at midnight": the night after tomorrow
        return day
    if p.weekday is not None:
        ahead = (p.weekday - local_now.weekday()) % 7
        day = local_now.date() + timedelta(days=ahead)
        if ahead == 0 and datetime.combine(day, time(hour, p.minute), zone) <= local_now:
            day += timedelta(days=7)
        return day
    day = local_now.date()
    if datetime.combine(day, time(hour, p.minute), zone) <= local_now:
        return day + timedelta(days=1)  # the next time it is that o'clock ("tonight at 2" said in the afternoon)
    return day


def names_a_day(text: str) -> bool:
    """Whether ``text`` names a day (a day word, a weekday, a date)."""
    return bool(_DAY_RE.search(text) or _FULL_DATE.search(text) or _DATE.search(text))


def without_times(text: str) -> str:
    """``text`` without its day, part-of-day and clock words (what is left says whether a clause is only a time)."""
    for rx in (_CLOCK_WORDS, _PART_RE, _DAY_RE, _CLOCK, _HOUR_UNIT, _HOUR_AT, _NOW, _IN_RELATIVE, SAME_TIME):
        text = rx.sub(" ", text)
    return text


# A clause that opens with a time or a time relation qualifies the request ("tomorrow after 20:00 works
# for them", "no earlier than 6pm - …", "ab 23 Uhr passt"), whatever follows it.
TIME_OPENER = re.compile(r"^\W*(not before|no earlier than|no sooner than|after|from|at|around|by|before|"
                         r"nicht vor|frühestens|ab|nach|um|gegen|pas avant|après|à partir de|dès|vers|"
                         r"no antes de|después de|a partir de|a las|hacia)\b|^\W*(" + _DAY_RE.pattern + "|"
                         + _PART_RE.pattern + r")|^\W*\d{1,2}\s*(:\d\d|h\b|uhr|am|pm)", _I)


def latest_start(words: str, not_before: datetime, zone: ZoneInfo) -> datetime | None:
    """The latest start a request's time implies, or None (the lifecycle's default then applies):
    "tonight" or any night-time part ends at that part's last hour the morning after, "not during
    the day" at the start of the day (``DAYTIME``) — so a reboot asked for "at 3, never during the
    day" is never run at 10:00 because the box came back late (issue 55, 3)."""
    local = not_before.astimezone(zone)
    ends: list[datetime] = []
    if _NOT_DAYTIME.search(words):
        ends.append(_next_hour(local, DAYTIME[0]))
    for m in _PART_RE.finditer(words):
        part = _PART_WORDS.get(m.group(1).lower())
        if part is not None and part in _PARTS:
            ends.append(_next_hour(local, _PARTS[part][1] + 1))
    return min(ends).astimezone(not_before.tzinfo) if ends else None


def _next_hour(after: datetime, hour: int) -> datetime:
    """The first local ``hour``:00 strictly after ``after``."""
    at = after.replace(hour=hour % 24, minute=0, second=0, microsecond=0)
    return at if at > after else at + timedelta(days=1)
