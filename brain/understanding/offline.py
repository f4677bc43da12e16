"""The offline understander: a support message → a :class:`~brain.understanding.request.Request`.

Order matters, and is the point of this module. Qualifiers are *found* first, on the whole message
— a reference to the last turn, the scope, times, conditions — and their words are taken out; only
then is the rest read for the action (``brain.understanding.clauses`` / ``.actions`` / ``.intent``),
so "restart it at 4 in the morning" can never become "channel 4" and "switch to 11 unless a
neighbour sits there" is a channel change *with* a condition. Each qualifier is then read into its
typed form, or listed as unplaced. The planner never sees a message that was half read: the checker
(``brain.understanding.checker``) turns any unplaced part of a change into a question.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process

from brain.plan import Intent
from brain.understanding import (
    checker,
    clauses,
    conditions,
    durations,
    follow_up,
    pairs,
    references,
    scope,
    targets,
    when,
    words,
)
from brain.understanding import values as worded
from brain.understanding.actions import FROM_TO, ExplicitRequest, parse, to_value
from brain.understanding.intent import FOREIGN_ACCOUNT, QUOTED, classify, extract_ssid
from brain.understanding.lexicon import OFF_AND_ON
from brain.understanding.request import (
    Act,
    Action,
    Band,
    Condition,
    Reference,
    Request,
    Schedule,
    Scope,
    Target,
    Unplaced,
)
from core.kernel.models import Scalar

_I = re.IGNORECASE
_SECRET = re.compile(r"\[secret:\d+\]")
_QUOTED = re.compile(r"[\"“”„«»][^\"“”„«»]{1,128}[\"“”„«»]|(?<!\w)'[^']{1,128}'(?!\w)|\[secret:\d+\]")
# A bare "switch/move/put it to 11": a channel when the message (or the last request) is about the air.
_BARE_TO = re.compile(r"\b(switch|move|put|change|go|set|sit|be|stay|stick|pop|bung|wechsl?\w*|stell\w*|setz\w*|"
                      r"geh\w*|passe[rz]?|"
                      r"mets|mettre|bascule\w*|cambia\w*|p[oó]n\w*|mu[eé]ve\w*|p[aá]sa\w*)\b(?:[^.;!?\d]|\d(?:\.\d)?GHz){0,25}?"
                      r"\b(to|on|auf|sur|à|a|al|en|onto)\s+"
                      r"(?:le |la |el |den |die |das |the |channel |kanal |canal )?(\d{1,3})\b"
                      r"(?![.,]?\d|\s*(%|percent|per ?cent|prozent|pour ?cent|por ?ciento|mhz|ghz|s\b|sec|min|h\b|uhr|"
                      r"heures?|horas?|[kmg]bit|[kmg]b|[kmg]bps|mbit|"
                      r"gbit|€|eur|euros?|dollars?|\$|users?|devices?|geräte|appareils|equipos|clients?))", _I)
_AIRISH = re.compile(r"\b(channel|kanal|canal|neighbou?r\w*|nachbar\w*|voisin\w*|vecin\w*|wi-?fi|wlan|2\.4GHz|5GHz|"
                     r"6GHz|interference|störung|interférence|interferencia)\b", _I)
# What a request must not touch: "not the guest network", "leave the 2.4 alone", "except the 5 GHz".
# Between the connector and the band or network may stand a preposition, an article and a noun ("außer auf dem
# 2,4-GHz-Band", "sauf la bande des 2,4 GHz", "excepto la red de invitados", "apart from the network for
# guests"): read as an exclusion all the same — read past, those words left the band or the network behind in
# the text, where it was taken for the band the request is *limited to* or the network it is *aimed at*.
_GUEST_WORD = targets.ROLE_WORDS["guest"].pattern
_EXCLUDED = (r"(?P<prep>(?:on|in|for|of|from|auf|im|beim|bei|am|vom|von|für|sur|dans|pour|du|de|en|para|del|al)\s+)?"
             r"(?:(?:the|der|die|das|den|dem|des|le|la|les|el|los|las)\s+|l['’])?"
             r"(?P<what>(?P<noun>(?:bands?|bandes?|bandas?|networks?|réseaux?|red|redes|netz\w*|wi-?fi|wlan|radios?|"
             r"frequenz\w*|frequency|fréquence|frecuencia|zugang)\s+)?"
             r"(?:(?:de|des|du|of|for|für|pour|para|der)\s+|d['’])?(?:(?:the|les|los|las|la|le|el|die|den)\s+)?"
             rf"(?:{_GUEST_WORD}|\b(?:2\.4GHz|5GHz|6GHz)(?:\s+{_GUEST_WORD})?|\b(?:main|primary|haupt\w*|principal\w*))"
             r"(?:(?:\s+|-)(?:one|networks?|wi-?fi|wlan|netz\w*|réseaux?|red|band|bande|banda|radio|frequenz|zugang))?"
             # … and the band it is on: "not the guest network on 2.4 GHz" is no band to switch off
             r"(?:\s+(?:on|in|auf|im|sur|en|dans)\s+(?:the\s+|dem\s+|le\s+|la\s+|el\s+)?(?:2\.4GHz|5GHz|6GHz)"
             r"(?:[\s-]+(?:band|bande|banda|radio))?)?)"
             r"(?:\s+(?:alone|in ruhe|tranquille|en paz|as it is|so wie es ist|wie es ist|untouched|tel quel|"
             r"como está|(?:on|running|enabled|an|allumée?|activée?|encendida?|activada?)(?=\s*(?:[,.;!?]|$))))?")
# "except", "außer", "sauf", "excepto" … say what is left out of the request; found before the conditions, whose
# bare "außer" ("unless") would otherwise read "außer auf dem 2,4-GHz-Band" as a condition on the firmware.
_EXCEPT_WORDS = (r"but not|except(?:é\w*)?(?: for)?|excluding|apart from|other than|save for|außer|ausgenommen|bis auf|"
                 r"abgesehen von|sauf|hormis|à part|à l'exception d[eu]|en dehors d[eu]|excepto|salvo|menos|aparte de|"
                 r"a excepción de|excluyendo|fuera de")
_EXCEPT = re.compile(rf"\b(?:{_EXCEPT_WORDS})\s+" + _EXCLUDED, _I)
# English "but" is "except" straight after a quantifier and what it counts ("every network but the guest one",
# "on all bands but the 6 GHz band"); elsewhere it joins two clauses ("the guests are fine but the 5 GHz drops").
_BUT = re.compile(r"\bbut\s+" + _EXCLUDED, _I)
_COUNTED = re.compile(r"\b(?:every|all|each)\s+(?:(?:of\s+)?the\s+)?(?:[\w-]+\s+)?(?:networks?|wi-?fis?|wlans?|ssids?|"
                      r"bands?|radios?|access\s+points?|frequenc(?:y|ies))\s*$", _I)
# An exception in time ("except at night", "außer nachts", "sauf la nuit", "excepto por la noche", "but not during
# the evening"): a time the change must not run at.
_EXCEPT_TIME = re.compile(
    rf"\b(?:{_EXCEPT_WORDS}|not)\s+"
    r"(?:(?:at|during|on|in|over|the|am|im|an|in der|la|le|les|el|los|las|en|por|de|du|pendant|durante)\s+)*"
    r"(?:nights?|weekends?|evenings?|mornings?|nachts|abends|morgens|wochenende\w*|nacht|abend|nuit|soirs?|soirée|"
    r"week-?ends?|matin\w*|noches?|tardes?|fin(?:es)? de semana|mañanas?|business hours|office hours|"
    r"geschäftszeiten|heures de bureau|horario de oficina)\b", _I)
# "not", "leave", "ohne", "pas", "sin" … say it too, after the conditions ("only if no guest is connected").
_EXCLUDE = re.compile(r"\b(?P<by>not|leave|keep|without|nicht|ohne|lass\w*|pas|laisse\w*|sans|no|deja\w*|sin)\s+"
                      + _EXCLUDED, _I)
# A negation excludes through a preposition or a noun only at the head of its phrase ("…, not the 5 GHz band",
# "mais pas la bande 2,4 GHz", "pero no en la de 2,4"); after its verb that describes ("ne marche pas sur la
# bande 5 GHz", "je ne trouve pas le réseau invités"). The band or network right after it ("pas les invités")
# excludes wherever it stands.
_NEGATION = re.compile(r"not|nicht|pas|no", _I)
_PHRASE_HEAD = re.compile(r"(?:^|[,;:.!?(–—-]|\b(?:but|and|or|aber|und|oder|sondern|mais|et|ou|pero|y|o|sino|only|"
                          r"just|nur|seulement|solo|sólo|please|bitte|svp|stp|por favor))\s*$", _I)
# "außer das Gastnetz ist aus": a verb after it makes the words a condition ("unless …"), not an exclusion.
_STATE_VERB = re.compile(r"\s*(is|are|isn'?t|aren'?t|ist|sind|est|sont|n'est|está|están|esté|estén|es|son|läuft|"
                         r"was|war)\b", _I)


@dataclass(frozen=True)
class Context:
    """What the understander may know besides the text: the clock, the device's zone, and the last
    request of the thread (a correction amends it; a confirmation answers it)."""

    now: datetime
    zone: ZoneInfo
    after_draft: bool = False
    previous: Request | None = None
    is_job: bool = False
    # what the last turn deferred by name ("a channel-width change (40MHz on 5GHz)"): "now the 5 GHz one" is that
    deferred: tuple[str, ...] = ()
    # the thread's last question, when an answer was the last reply: "move it to 6" after "which channel is the
    # 2.4 on?" is the 2.4 GHz channel
    asked: str = ""


@dataclass
class Understood:
    """The typed request and the text the planner's matchers read (qualifiers taken out)."""

    request: Request
    text: str
    heard: clauses.Heard | None


def understand(text: str, ctx: Context) -> Understood:
    """Read ``text`` (secrets already masked) whole: a reference to the last turn, then the qualifiers
    found on the whole message and taken out, then the rest read for the action (module docstring)."""
    if ctx.is_job or not text.strip():
        return Understood(Request(act="empty" if not text.strip() else "diagnose",
                                  intent=str(classify(text, is_job=ctx.is_job))), text, None)
    text = worded.inline_correction(text)  # "channel 36… sorry, 44", "at 2 — no wait, make that 3": the later value
    text = _HEADING.sub("", text, count=1)  # "two things: …": its number is no value (it wrote "channel 2")
    ref = _reference(text, ctx)
    if ref is not None and ref.kind in ("confirm", "cancel"):
        return Understood(Request(act="reference", refers_to=ref), text, None)
    text = _retracted(text)  # "set channel 11, no wait, leave it, just reboot": what is still asked
    q = _qualifiers(text, ctx)
    heard = clauses.heard(q.core, q.when.day_instead and q.when.schedule is not None)
    intent, req, op_text = _operation(heard, q, ctx)
    request = _request(text, ref, q, heard, intent, req, op_text)
    amended = _amended(text, ctx, q, heard, op_text, request)
    if amended is not None:
        return Understood(amended, checker.render(amended), heard)
    said_for = _setting_said_before(text, q, ctx, request)
    if said_for is not None:
        return understand(said_for, dataclasses.replace(ctx, asked="", previous=None))
    request = _band_of_condition(request)
    request, heard = _reversal_later(request, q, heard, ctx)
    said = pairs.settle(request, q.core, heard.deferred)  # a band given only its own value; nothing else dropped
    if said.request is not request or said.deferred != heard.deferred:
        heard = dataclasses.replace(heard, deferred=said.deferred)
    if said.request.target.bands != request.target.bands:
        return Understood(said.request, checker.render(said.request), heard)
    return Understood(said.request, _text_out(q.core, heard, said.request), heard)


# "… and put it back on tomorrow morning", "… und morgen um 8 wieder einschalten", "… y vuelve a encenderlo
# mañana": the second clause undoes the first later — its time is its own
_REVERSAL = re.compile(r"\b(back on|back up|on again|re-?enable\w*|re-?activate\w*|wieder\b|erneut\b|"
                       r"rallum\w*|réactiv\w*|remets?-(?:le|la|les)|remettre|remettez|de nouveau|à nouveau|vuelv\w* a|"
                       r"de nuevo|otra vez|reactiv\w*)", _I)
_CLAUSE_START = re.compile(r"(,|;|\b(and|und|et|y|then|dann|danach|puis|ensuite|luego|después)\b)", _I)


def _reversal_later(request: Request, q: _Qualifiers, heard: clauses.Heard,
                    ctx: Context) -> tuple[Request, clauses.Heard]:
    """A switch-off undone later in the same message ("turn off the 5 GHz and put it back on tomorrow morning"):
    the time said in the second clause is the second request's, deferred by name with it — never the switch-off's
    (it was: the radio went off tomorrow morning and never came back on). A time said before it ("… tonight and
    back on tomorrow at 8") is the switch-off's alone."""
    if (request.schedule is None or request.values.get("value") is not False or not heard.deferred
            or not q.when.spans):
        return request, heard
    back = _REVERSAL.search(q.match)
    if back is None:
        return request, heard
    starts = [m.start() for m in _CLAUSE_START.finditer(q.match, 0, back.start())]
    boundary = starts[-1] if starts else back.start()
    said = _CLAUSE_START.sub("", q.match[boundary:], count=1).strip(" ,;.!")
    if boundary == 0 or not when.find(said, ctx.now, ctx.zone, q.lang).spans:
        return request, heard
    deferred = [f"{d}, as said: “{said}”" if i == len(heard.deferred) - 1 else d
                for i, d in enumerate(heard.deferred)]
    first = when.find(_blank(q.match[:boundary], q.quoted), ctx.now, ctx.zone, q.lang).schedule
    unplaced = [u for u in request.unplaced if not (u.kind == "time" and u.words == request.schedule.words)]
    return (request.model_copy(update={"schedule": first, "unplaced": unplaced}),
            dataclasses.replace(heard, deferred=deferred))


def _setting_said_before(text: str, q: _Qualifiers, ctx: Context, request: Request) -> str | None:
    """The message with the setting and band it moves put before it, when it says only a value and a pronoun:
    "move it to 6" after "which channel is the 2.4 on?", or "pásalo al 6" after "si el 2,4 está en el canal 1"
    (``follow_up``); None otherwise."""
    if request.action is not None or request.act == "question":
        return None
    if ctx.asked:  # the question read again: the chat may have answered it without keeping its reading
        question = understand(ctx.asked, dataclasses.replace(ctx, asked="", previous=None, deferred=())).request
        said = follow_up.with_setting(text, q.core, ctx.asked, question)
        if said is not None:
            return said
    bands = {c.band for c in request.conditions if c.band is not None}
    for c in request.conditions if len(bands) <= 1 else []:
        said = follow_up.with_setting(text, q.core, c.words, Request(act="question", target=Target(
            bands=[c.band] if c.band else [])))
        if said is not None:
            return said
    return None


def _band_of_condition(request: Request) -> Request:
    """A radio setting drafted without a band takes the one band its conditions name ("if the 2.4 is on channel 1
    move it to 6": the 2.4 GHz radio's channel, not every radio's)."""
    if request.action not in ("channel", "width", "power") or request.target.bands:
        return request
    bands = {c.band for c in request.conditions if c.band is not None}
    if len(bands) != 1:
        return request
    band = bands.pop()
    return request.model_copy(update={"target": request.target.model_copy(update={"bands": [band], "words": band})})


@dataclass
class _Qualifiers:
    """What was found on the whole message before the action is read, and the rest (``core``)."""

    lang: words.Lang
    match: str
    quoted: list[tuple[int, int]]
    scope: Scope
    when: when.When
    repeating: str | None
    found: conditions.Found
    now_said: list[tuple[int, int]]
    excl: list[re.Match[str]]
    core: str
    unplaced: list[Unplaced]
    # "except at night" in a message with no time of its own, or "after the match ends" (asked when it asks a change)
    except_time: list[str]


def _reference(text: str, ctx: Context) -> Reference | None:
    ref = references.find(text, after_draft=ctx.after_draft)
    if ref is None and not ctx.after_draft and ctx.previous is not None and ctx.previous.action is not None:
        # "je voulais dire la 2,4" after the planner asked about the request: a correction of that request
        marked = references.find(text, after_draft=True)
        ref = marked if marked is not None and marked.kind == "correct" else None
    return ref


def _sets_a_length(ctx: Context) -> bool:
    """The request this message follows sets a length of time ("uy no, mejor 3 horas" after a lease of 10 hours,
    drafted or applied: the 3 hours are its value, not 3 o'clock) — the caller asks that the message names no
    operation of its own ("reboot it 4h" keeps its time)."""
    return ctx.previous is not None and ctx.previous.action in ("dhcp_lease", "inform_interval")


def _weekend_asked(match: str, after_draft: bool = False) -> list[Unplaced]:
    """A weekend said in the clause that asks for the change — or, after a draft, in any clause that tells no past
    ("not tonight, this weekend") — is a day not picked: asked about, never now (nor at the draft's time)."""
    for clause in clauses.split_clauses(match):
        m = when.WEEKEND.search(clause)
        if m is not None and (parse(clause) is not None or (after_draft and not _PAST_TENSE.search(clause))):
            return [Unplaced(words=m.group(0), kind="time", why="a weekend is no moment: say the day and the time")]
    return []


_PAST_TENSE = re.compile(r"\b(was|were|had|did|last|war|waren|hatte|letzte\w*|était|étaient|avait|dernier|"
                         r"fue|fueron|había|pasado)\b", _I)


def _times(match: str, quoted: list[tuple[int, int]], ctx: Context,
           lang: words.Lang) -> tuple[when.When, str | None, list[Unplaced]]:
    """The time to act (a not-before), a repeating schedule's words, and the time words that could not
    be placed — never a time in a clause that only describes ("dead since early today")."""
    amounts = durations.bare_amounts(match) if _sets_a_length(ctx) and parse(match) is None else []
    w = when.find(_blank(match, _descriptions(match) + quoted + amounts), ctx.now, ctx.zone, lang)
    if (w.schedule is None and w.unplaced and w.spans
            and _PAST.search(match[max(0, min(a for a, _ in w.spans) - 25):max(b for _, b in w.spans)])):
        w = when.When(immediate=w.immediate, now_spans=w.now_spans)  # "dead since early today": when it began
    repeating: str | None = None
    around = match[max(0, min(a for a, _ in w.spans) - 20):max(b for _, b in w.spans) + 10] if w.spans else ""
    if w.schedule is not None and _RECURRENCE.search(_HOUR_OF_PART.sub(" ", around)):
        repeating = w.schedule.words  # refused below if the message asks for an operation, else context
        w = when.When(immediate=w.immediate, now_spans=w.now_spans, spans=w.spans)
    unplaced: list[Unplaced] = [] if w.schedule is not None or w.unplaced else _weekend_asked(match, ctx.after_draft)
    if w.schedule is not None and w.schedule.assumed == when.SAME_TIME_ASSUMED and (
            ctx.previous is None or ctx.previous.schedule is None):
        # "Sunday, same time" with no earlier time to take it from
        unplaced.append(Unplaced(words=w.schedule.words, kind="time", why="the same time as what? No time was given"))
        w = when.When(immediate=w.immediate, now_spans=w.now_spans, spans=w.spans)
    return w, repeating, [*unplaced, *w.unplaced]


# "… tomorrow after 20:00 is fine", "morgen nach 20 Uhr passt", "demain c'est bon": the time agreed to, part of
# the time's words — left behind, "is fine" read as a report that something works and the request was dropped
_AGREED = re.compile(r"\s*,?\s*((it|that|this|das|es|c'|ça|eso|esto)\s*)?(is|would be|works|sounds|ist|wäre|est|"
                     r"serait|está|estaría)?\s*(fine|ok|okay|good|great|passt|geht|gut|bon|bien|vale|me va)\b", _I)


# A change taken back inside the message: a withdrawal ("scratch that", "laisse tomber", "olvídalo"), or a "no wait"
# followed by "leave it" / "don't" or by another request. What came before it is withdrawn ("set channel 11, no
# wait, leave it, just reboot"); a "no wait" before a value or "make it …" corrects that value
# (``values.inline_correction``).
_WITHDRAW = (r"scratch that|forget (?:that|it)|never ?mind|actually,?\s*no|on second thought|vergiss (?:das|es)|"
             r"doch nicht|laisse tomber|oublie (?:ça|ce que j'ai dit)|olvídalo|mejor no")
_WAIT = (r"no,?\s*wait|wait,?\s*no|nein,?\s*warte|warte,?\s*nein|non,?\s*attends|attends,?\s*non|no,?\s*espera|"
         r"espera,?\s*no")
_LEAVE = r"leave (?:it|that)(?: alone)?|don'?t|do not|lass (?:es|das)|laisse(?:-le)?|déjalo|no lo hagas"
_RETRACT = re.compile(rf"(?<![\w'])(?:(?P<withdraw>{_WITHDRAW})|(?P<wait>{_WAIT}))\b[\s,:;.!—–-]*"
                      rf"(?:(?P<leave>{_LEAVE})\b[\s,:;.!—–-]*)?", _I)
# what follows a correction of a value, not a change taken back
_CORRECTS = re.compile(r"\s*(\d|\"|“|make (it|that)\b|rather\b|instead\b|use\b|plutôt\b|mets plutôt|prends\b|"
                       r"lieber\b|eher\b|nimm\b|mejor\b|pon mejor)", _I)


# "two things:", "Deux trucs :", "Zwei Sachen:", "dos cosas:": a heading that counts the requests after it
_HEADING = re.compile(r"^\W*(?:two|three|four|2|3|4|deux|trois|quatre|zwei|drei|vier|dos|tres|cuatro)\s+"
                      r"(?:things?|points?|requests?|choses|trucs|demandes|sachen|dinge|punkte|bitten|cosas|cositas|"
                      r"puntos)\s*(?:[:,;.-]|–|—)\s*", _I)


def _retracted(text: str) -> str:
    """``text`` after its last retraction (see ``_RETRACT``): what the message still asks for. Unchanged when none
    is said, when nothing came before it, and when it corrects a value rather than taking a change back."""
    last = None
    for m in _RETRACT.finditer(text):
        last = m
    if last is None or not re.search(r"\w", text[:last.start()]):  # "reboot, scratch that, …" takes the reboot back
        return text
    after = text[last.end():]
    if _CORRECTS.match(after):
        return text
    if last.group("wait") and not last.group("leave") and not clauses.OP_VERB.search(after):
        return text  # "rename the wifi to Alpha, no wait, please": nothing taken back that can be told
    return after.strip()


# A time set by an event: "after the football match ends", "once her meeting is over", "wenn das Spiel vorbei ist",
# "quand son appel sera fini", "cuando termine la película".
_EVENT_TIME = re.compile(
    r"\b(after|once|when|as soon as)\s+(the|her|his|their|my|our|a|an)\s+[^,.;!?]{1,40}?\s+(ends|is over|are over|"
    r"finishes|has finished|is done|is finished)\b|"
    # ... or begins, or someone comes home ("reboot it before the football starts" ran at once)
    r"\b(before|after|once|when|as soon as)\s+(the|her|his|their|my|our)\s+[^,.;!?\d]{1,30}?\s+(starts|begins|"
    r"kicks off|gets? (home|back)|comes? (home|back)|leaves)\b|"
    r"\bbevor\s+[^,.;!?\d]{1,30}?\s+(anfängt|beginnt|losgeht|nach hause kommt)\b|"
    r"\bavant que\s+[^,.;!?\d]{1,30}?\s+(commence|ne commence|rentre|arrive)\b|"
    r"\bantes de que\s+(empiece|empiecen|comience|llegue|lleguen|vuelva|vuelvan)\b[^,.;!?]{0,30}|"
    r"\b(wenn|nachdem|sobald|sowie)\s+[^,.;!?]{1,40}?\s+(vorbei ist|zu ende ist|fertig ist|endet|beendet ist)\b|"
    r"\b(quand|après que|dès que|une fois que|lorsque)\s+[^,.;!?]{1,40}?\s+(sera fini\w*|est fini\w*|se termine|"
    r"sera terminé\w*|finit|finira|aura fini\w*|aura terminé\w*|a fini\w*|a terminé\w*)\b|"
    r"\b(cuando|después de que|en cuanto|una vez que)\s+([^,.;!?]{1,40}?\s+)?(termine|acabe|se acabe|finalice|"
    r"haya terminado|haya acabado)\b[^,.;!?]{0,40}", _I)
# A value the customer calls bad is what the air is like, never the value asked for: "channel 6 is bad, try 1 or 11"
# drafted channel 6. Its number is taken out; the words stay, for the diagnosis.
_BAD_VALUE = re.compile(
    r"\b(channel|kanal|canal)\s+(?P<n>\d{1,3})\s+(is|was|seems|ist|war|scheint|est|était|semble|es|está|estaba|parece)\s+"
    r"(\w+\s+){0,2}?(bad|terrible|awful|horrible|busy|crowded|congested|overloaded|useless|rubbish|no good|schlecht|"
    r"furchtbar|überlaufen|überlastet|voll|mies|mauvais|nul|saturé|encombré|pourri|malo|fatal|saturado|lleno)\b", _I)


# ... and so is a channel a network is said to be on ("the neighbour's router is on channel 6 too", "ist auch auf
# Kanal 6", "est aussi sur le canal 6"), unless the agent asks to make it so ("make sure the 5 GHz is on channel 36")
_DESCRIBED_VALUE = re.compile(
    r"(?<!\bas it )\b(is|are|was|were|ist|sind|war|est|sont|était|está|están|estaba)\s+((also|too|still|now|"
    r"currently|auch|noch|jetzt|aussi|encore|también|todavía|ahora)\s+)?(on|auf|sur|en)\s+((the|dem|le|el)\s+)?"
    r"(channel|kanal|canal)\s+(?P<n>\d{1,3})\b", _I)
_MAKE_SURE = re.compile(r"\b(make sure|ensure|so that|damit|sorg\w* dafür|pour que|assure-toi|para que|asegúrate)\b"
                        r"(?:[^.;!?]|\.(?=\d))*$", _I)  # to the end of its sentence, "2.4GHz" within it


# What a change does anyway, said as a condition the device's facts do not name: "unless it's already there",
# "sauf s'il y est déjà", "a menos que ya esté" — a write of the value a setting already holds changes nothing.
# Taken out, never asked about (it was: "a condition on something I cannot check"). "If it isn't already on 11"
# and "außer er ist schon da" are read as conditions on the value (``conditions``), the other branch "otherwise
# leave it" as nothing done there (``conditions._LEAVE_IT``).
_ALREADY = re.compile(
    r"[,;]?\s*\b(?:unless\s+(?:it'?s|it\s+is|they'?re|they\s+are|that'?s)\s+already(?:\s+(?:there|so|set|at\s+that|on\s+it|"
    r"the\s+case))?|sauf\s+s'il\s+(?:y\s+)?est\s+déjà(?:\s+(?:réglé|comme\s+ça))?|"
    r"a\s+menos\s+que\s+ya\s+(?:esté|lo\s+esté)(?:\s+así)?)(?=\s*(?:[.,;!?]|$))", _I)


def _agreed(match: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The "is fine" straight after a time's words, taken out with them."""
    return [(b, m.end()) for _, b in spans if (m := _AGREED.match(match, b)) is not None]


def _qualifiers(text: str, ctx: Context) -> _Qualifiers:
    """The scope, times, conditions and exclusions, found on the whole message; their words taken out."""
    lang = words.language(text)
    match = targets.normalise_bands(words.for_matching(text))
    # values in quotes (an SSID, a passphrase) are never read as a scope, a time or a condition
    quoted = [m.span() for m in _QUOTED.finditer(match)]
    sc = scope.find(_blank(match, quoted))
    # "except at night": never the change's schedule (it was, the opposite of what was asked) — asked about
    exc_time = [m.span() for m in _EXCEPT_TIME.finditer(match)]
    w, repeating, unplaced = _times(match, quoted + exc_time, ctx, lang)
    # with a time of its own ("… tomorrow at 21:00") the exception is that time's
    except_time = [match[a:b] for a, b in exc_time] if w.schedule is None else []
    described = [m.span("n") for rx in (_BAD_VALUE, _DESCRIBED_VALUE) for m in rx.finditer(match)
                 if not _MAKE_SURE.search(match, 0, m.start())]
    taken = [*w.spans, *_agreed(match, w.spans), *exc_time, *described, *(m.span() for m in _ALREADY.finditer(match))]
    # "after the football match ends": a time only an event tells — asked for (with a change), never run now
    events = [m for m in _EVENT_TIME.finditer(_blank(match, quoted)) if w.schedule is None]
    except_time += [m.group(0).strip() for m in events]
    taken += [m.span() for m in events]
    # "except the 2.4 GHz band": what is left out, before a condition can take its "außer" for "unless"
    excl = _excepted(_blank(match, taken + quoted))
    taken += [m.span() for m in excl]
    # Conditions are found before the action is read (their words are not the action's) and read
    # after it (a condition names its fact relative to the action: "unless a neighbour sits there").
    found = conditions.find(_blank(match, taken + quoted), action=None, value=None, band=None)
    taken += found.spans
    # "now" inside a condition ("if it is now on 6") describes the device, not when to act
    now_said = [sp for sp in w.now_spans if not any(a <= sp[0] < b for a, b in found.spans)]
    taken += now_said
    if now_said and w.schedule is not None:
        unplaced.append(Unplaced(words=w.schedule.words, kind="time", why="both 'now' and a later time were said"))
    excl += _kept_off(_blank(match, taken))
    excl.sort(key=lambda m: m.start())
    taken += [m.span() for m in excl]
    return _Qualifiers(lang=lang, match=match, quoted=quoted, scope=sc, when=w, repeating=repeating, found=found,
                       now_said=now_said, excl=excl, core=_squash(_blank(match, taken)), unplaced=unplaced,
                       except_time=except_time)


def _operation(heard: clauses.Heard, q: _Qualifiers, ctx: Context) -> tuple[Intent, ExplicitRequest | None, str]:
    """What the rest asks for: the intent, the explicit action (with a bare "to 11" or an object named in a
    condition), and the text the matchers read."""
    op_text = to_value(heard.text)  # "from 6 to 11": the 11
    intent = classify(op_text) if op_text else Intent.UNKNOWN
    req = parse(op_text) if intent == Intent.REQUEST else None
    if req is None and op_text:
        bare = _BARE_TO.search(op_text)
        about_air = _AIRISH.search(q.match) or (ctx.previous is not None and ctx.previous.action == "channel")
        if bare and about_air and intent in (Intent.UNKNOWN, Intent.WIFI, Intent.REQUEST):
            b = targets.band_in(op_text)
            req = ExplicitRequest(action="channel", band=b if b != "6GHz" else None, value=int(bare.group(3)))
            intent = Intent.REQUEST
            op_text = f"{op_text} [channel {req.value}]"
    if req is None and intent not in _OPERATIONS and q.found.spans:
        # "if the transmit power is below 50 %, turn it up to 100 %": the object is named in the condition
        named = " ".join(_without_numbers(q.match[a:b]) for a, b in q.found.spans)
        req = parse(f"{named} {op_text}")
        if req is not None:
            intent = Intent.REQUEST
    return intent, req, op_text


def _request(text: str, ref: Reference | None, q: _Qualifiers, heard: clauses.Heard, intent: Intent,
             req: ExplicitRequest | None, op_text: str) -> Request:
    """The typed request: the action and its values, the conditions read against it, the target, and
    every part that could not be placed."""
    action, values, servers = _action(intent, req, text, op_text)
    clients = _clients_named(text) if action == "reboot" else None
    if clients is not None:  # "reboot the kids' devices": their devices, never the gateway
        action, values = None, {}
    # read the conditions now that the action is known; an exclusion's words are never a condition's
    # ("außer auf dem 2,4-GHz-Band" is no "unless")
    conds = conditions.find(_blank(q.match, q.quoted + [m.span() for m in (*q.excl, *_ALREADY.finditer(q.match))]),
                            action=action,
                            value=values.get("value"), band=req.band if req else None)
    times = _not_a_condition(_times_unplaced(q, action), conds.conditions)
    times += _time_unread(q, action, values, times) + _for_a_while(q, action) + _either_value(q.match, values, conds)
    unplaced = _value_unread(q, action, [*times, *conds.unplaced, *_parts_unplaced(q, action)])
    if clients is not None:
        unplaced.append(Unplaced(words=clients, kind="request", why="the customer's own devices, not the gateway: "
                                 "I can restart the gateway itself, not what is connected to it"))
    tgt, kept = _target(heard, q, req, action)
    return Request(act=_act(heard, action, intent), action=action, intent=str(intent), topics=list(heard.answers),
                   values=values, servers=servers, target=tgt, scope=q.scope, conditions=conds.conditions,
                   schedule=q.when.schedule, immediate=bool(q.now_said),
                   exclusions=[*(_ARTICLE.sub("", m.group("what")).strip() for m in q.excl), *kept],
                   refers_to=ref, unplaced=unplaced, source="offline")


# What is restarted, when it is the customer's own devices: "reboot the kids' devices", "restart her phone",
# "starte das Tablet neu", "redémarre sa tablette", "reinicia el móvil" — and no gateway named beside them
_CLIENTS = re.compile(
    r"\b(?:(?:the|her|his|their|my|your|all|the kids'?|the children'?s|die|das|den|ihr\w*|sein\w*|alle|sa|son|ses|"
    r"leurs?|les|la|le|tous les|su|sus|el|los|las|todos los)\s+){0,3}"
    # a device of a kind the gateway is not; "devices" in the plural; "her device" with whose it is ("the device",
    # "das Gerät" alone are the gateway the agent is looking at)
    r"(?:phones?|smartphones?|tablets?|laptops?|computers?|pcs?|consoles?|ps5|xbox|tvs?|printers?|cameras?|handys?|"
    r"fernseher|drucker|tablettes?|téléphones?|portables?|ordinateurs?|télé|imprimantes?|móvil(?:es)?|tabletas?|"
    r"portátil(?:es)?|ordenador(?:es)?|tele|impresoras?|devices|geräte|appareils|dispositivos)\b|"
    r"\b(?:her|his|their|the kids'?|the children'?s|ihr\w*|sein\w*|sa|son|ses|su|sus)\s+(?:\w+\s+)?"
    r"(?:device|gerät|appareil|dispositivo)\b", _I)
_GATEWAY_NOUN = re.compile(r"\b(gateway|router|routeur|box|modem|módem|ont|cpe|hub|passerelle|equipo|it|ihn|es|la|"
                           r"lo|le)\b", _I)
_RESTART_VERB = re.compile(r"\b(reboot|restart|power[- ]?cycle|neu ?starten|neustarten|starte|neustart|redémarr\w*|"
                           r"relanc\w*|reinici\w*)\b", _I)


def _clients_named(text: str) -> str | None:
    """The customer's devices named as what a restart is for ("reboot the kids' devices", "starte das Tablet neu",
    "bitte das Tablet neu starten"), when no gateway is named as its object: the words, or None. Only the restart's
    own clause is read — a device named in the clause before ("her phone drops, reboot it") is the reason."""
    verb = _RESTART_VERB.search(text)
    if verb is None:
        return None
    after = re.split(r"[,.;!?]", text[verb.end():], maxsplit=1)[0][:40]
    before = re.split(r"[,.;!?]", text[:verb.start()])[-1][-30:] if verb.group(0).lower().endswith("starten") else ""
    for part in (after, before):
        m = _CLIENTS.search(part)
        if m is not None and not _GATEWAY_NOUN.search(part[:m.start()]):
            return m.group(0).strip()
    return None


def _either_value(match: str, values: dict[str, Scalar], conds: conditions.Found) -> list[Unplaced]:
    """The change's value said as one of two ("set the channel to 6 or 11", "auf 36 oder 40") or as a range ("between
    50 and 75 percent"): asked about — one end was drafted, as if the other had not been said. A condition's
    alternatives are the condition's."""
    value = values.get("value")
    said = [c.words.lower() for c in conds.conditions if c.words]
    for (a, b), why in [*((span, "two values for one setting: say which one")
                          for span in worded.offered_with(match, value)),
                        *((span, "a range for one setting, which takes one value: say which")
                          for span in worded.ranged(match, value))]:
        words = match[a:b]
        if not any(words.lower() in w for w in said):
            return [Unplaced(words=words, kind="value", why=why)]
    return []


def _not_a_condition(times: list[Unplaced], conds: list[Condition]) -> list[Unplaced]:
    """The unplaced times that no condition read: German "wenn keiner verbunden ist, …" is "if" and "when" at once,
    and read as the condition it is checked before the write — asking for its clock time as well asks twice."""
    said = [c.words.lower() for c in conds if c.words]
    return [u for u in times if u.kind != "time" or not any(u.words.lower() in w for w in said)]


def _times_unplaced(q: _Qualifiers, action: Action | None) -> list[Unplaced]:
    """The time words no schedule places: what the qualifiers could not read, and — for a change — a repeating
    schedule, a time the change must not run at, a time an event sets."""
    # "don't reboot it today, the customer is home tomorrow": a day said only inside what is not to be done
    out = [u for u in q.unplaced if action is not None or u.kind != "time" or not _in_a_negation(q.match, u.words)]
    if action is None:  # a symptom's "… but not on weekends", "when the match ends" describes; a change's: asked
        return out
    if q.repeating is not None:
        out.append(Unplaced(words=q.repeating, kind="time",
                            why="a repeating schedule: I can schedule one change, not a series"))
    out += [Unplaced(words=words, kind="time", why="a time the change must not run at is no schedule I can set: say "
                     "when it should run") for words in q.except_time if not _EVENT_TIME.match(words)]
    out += [Unplaced(words=words, kind="time", why="a time an event sets, which I cannot see: say the clock time (or "
                     "'now')") for words in q.except_time if _EVENT_TIME.match(words)]
    return out


# A time said for a change ("at one am", "à une heure", "between 1 and 3", "um 2 Uhr"): an hour after a preposition of
# time, or beside its unit — what must be placed or asked about, never dropped
# (the matching text writes numbers as digits, two and up; "one" stays a word where no clock word followed it)
_HOUR_WORD = r"(?:[01]?\d|2[0-4])(?:[:h.][0-5]\d)?|one|eins|ein|une?|una"
_TIME_SAID = re.compile(
    r"\b(?:at|um|à|a las?|vers|gegen|around|between|zwischen|entre|ab|dès|from)\s+(?:(?:la|las|el|the)\s+)?"
    rf"(?P<h>{_HOUR_WORD})\b(?![.,]\d)(?!\s*(?:%|percent|prozent|pour ?cent|por ?ciento|mhz|ghz|db|dbm|"
    r"[gmk]bits?|[gmk]b\b|[gmk]bps|ms\b|\w+/s|devices?|clients?|"
    r"geräte\w*|appareils?|dispositivos?|days?|tage?n?|jours?|d[ií]as?|weeks?|wochen?|semaines?|semanas?|minutes?|"
    r"minuten|minutos?|seconds?|sekunden|secondes?|segundos?|times?|mal|fois|veces))|"
    rf"\b(?P<u>{_HOUR_WORD})\s*(?:am|pm|a\.m\.|p\.m\.|uhr|o'?clock|heures?|horas?)(?!\w)", _I)


# A change said to last a while ("turn off the wifi for an hour", "bis morgen", "pour la nuit", "hasta mañana"): the
# change would stay — nothing undoes it by itself
_FOR_A_WHILE = re.compile(
    r"\b(?:for|für|pendant|durante|pour)\s+(?:the\s+|la\s+|die\s+|el\s+|an?\s+|one\s+|half\s+an?\s+|a couple of\s+|"
    r"une?\s+|eine[nm]?\s+|una?\s+|\d{1,3}\s*|ein paar\s+|quelques\s+|unos?\s+|unas\s+)?"
    r"(?:hours?|minutes?|mins?|days?|nights?|weekend|week|stunden?|minuten|tage?n?|nacht|wochenende|heures?|jours?|"
    r"nuit|semaine|horas?|minutos?|d[ií]as?|noche|semana|fin de semana)\b|"
    # "for a quarter of an hour", "für eine Viertelstunde", "pendant un quart d'heure", "durante un cuarto de hora"
    r"\b(?:for|für|pendant|durante)\s+(?:a\s+quarter\s+of\s+an\s+hour|eine\s+viertelstunde|un\s+quart\s+d'heure|"
    r"un\s+(?:cuarto|4º)\s+de\s+hora)|"
    r"\b(?:until|till|bis|jusqu'à|jusqu'a|hasta)\s+(?:tomorrow|morgen|demain|mañana|tonight|heute abend|ce soir|"
    r"esta noche|the morning|the evening|\d{1,2}\b)", _I)


def _for_a_while(q: _Qualifiers, action: Action | None) -> list[Unplaced]:
    """A switch said to last a while ("turn off the wifi for an hour"): asked about — drafted, it switched the wifi
    off for good. The length of a setting's value ("the lease for 8 hours") is no while."""
    if action not in ("band_enable", "ssid_enable", "ssid_hide", "power", "channel", "width"):
        return []
    m = _FOR_A_WHILE.search(_blank(q.match, durations.spans(q.match)))
    if m is None:
        return []
    return [Unplaced(words=m.group(0), kind="time", why="a change for a while: I can make it, but nothing undoes it "
                     "by itself — say when it should go back, as a request of its own")]


# "the 2.4 is at 6, put it on 11", "das 2,4er steht auf 6", "le 2,4 est sur le 6", "el 2,4 está en el 6": what a
# band is on now — the reason for the change, no time (a band, not "it": "the reboot is at 6" is still asked about)
_BAND_NOW = re.compile(r"\b(?:2[.,]4|5|6)\s*(?:ghz|g|er)?(?:\s+(?:radio|band|funk|wlan|wifi))?"
                       r"(?:'s|\s+(?:is|are|sits|ist|steht|liegt|läuft|est|está|esta))\s+"
                       r"(?:(?:currently|now|still|gerade|jetzt|noch|aktuell|actuellement|encore|ahora|todavía)\s+)?"
                       r"(?:at|on|auf|bei|sur|à|en)\s+(?:(?:the|le|el|channel|kanal|canal)\s+)*\d+\b", _I)


def _time_unread(q: _Qualifiers, action: Action | None, values: dict[str, Scalar],
                 placed: list[Unplaced]) -> list[Unplaced]:
    """A change whose message says an hour the time reader neither placed nor asked about: asked about — it would
    otherwise run at once ("reboot it at one am", "redémarre-la à une heure", "reboot it between 1 and 3" were
    drafted with no time at all). The change's own value said with "at" ("put the 2.4 at 6") is no time."""
    if action is None or q.when.schedule is not None or q.now_said or any(u.kind == "time" for u in placed):
        return []
    own = {str(v) for v in values.values()}
    # "la concesión en 8 horas": the setting's length; "from 6 to 11": the value it comes from — no time either
    # "soit à 20 soit à 40 MHz": a value offered beside the one drafted (asked about as that)
    match = _blank(q.match, durations.spans(q.match) + [m.span() for m in FROM_TO.finditer(q.match)]
                   + worded.offered_with(q.match, values.get("value"))
                   + [m.span() for m in _BAND_NOW.finditer(q.match)])
    for m in _TIME_SAID.finditer(match):
        said = m.group("h") or m.group("u")
        if said not in own and not any(a <= m.start() < b for a, b in q.quoted):
            return [Unplaced(words=m.group(0), kind="time",
                             why="a time I could not read as one moment: say it as a clock time (e.g. 01:00)")]
    return []


def _in_a_negation(match: str, words: str) -> bool:
    """``words`` stand in a clause that rules an operation out ("pas de redémarrage aujourd'hui")."""
    at = match.find(words)
    if at < 0:
        return False
    a, b = when.clause_at(match, at)
    return clauses.act_of(match[a:b]) == "negation"


# "the other band" names a band only by the one said before — on a tri-band gateway either of two; asked, never
# dropped ("nee sorry, das andere Band meinte ich, 5 GHz bleibt auf 100" drafted the 5 GHz alone)
_OTHER_BAND = re.compile(r"\b(?:the other (?:band|radio|frequency)|(?:das|dem|den) andere[nm]? (?:band|funkband)|"
                         r"l'autre (?:bande|radio|fréquence)|la otra (?:banda|frecuencia|radio))\b", _I)


def _parts_unplaced(q: _Qualifiers, action: Action | None) -> list[Unplaced]:
    """The parts of the request no action places: this gateway beside others, another gateway, a request for
    something else, a setting without a value."""
    out: list[Unplaced] = []
    if q.scope.kind == "fleet" and q.scope.this_too and action is not None:
        out.append(Unplaced(words=q.scope.words, kind="scope", why=(
            "this gateway and others in one request: I can change this one now and draft a campaign for the "
            "others, one at a time — say which first")))
    has_op = action is not None or parse(q.core) is not None or classify(q.core) in _OPERATIONS
    out += _other_gateways(q.core)
    out += [Unplaced(words=m.group(0), kind="target", why="which band that is: say it by name (2.4, 5 or 6 GHz)")
            for m in _OTHER_BAND.finditer(q.core)]
    out += _unplaced_requests(q.core, q.match, [q.match[a:b] for a, b in q.found.spans], q.lang, has_op)
    return out


def _value_unread(q: _Qualifiers, action: Action | None, unplaced: list[Unplaced]) -> list[Unplaced]:
    """``unplaced`` with a setting asked without a readable value said as that (``_settings_unread``), in place of
    "not something I can do" for its words — when nothing else is asked and no other gateway is meant (those are
    fleetplan's)."""
    if action is not None or q.scope.kind != "this_device" or any(x.kind != "request" for x in unplaced):
        return unplaced
    unread = _settings_unread(q.core)
    return [*(x for x in unplaced if not any(x.words in u.words for u in unread)), *unread]


def _other_gateways(core: str) -> list[Unplaced]:
    """A clause asking for an operation on another gateway ("… and the neighbour's router", "la box du voisin"):
    asked about, never done on this one — beside it ("reboot this one and …") or instead of it. One that only
    describes it ("the neighbour's router is on channel 6 too") is context."""
    out: list[Unplaced] = []
    for clause in clauses.split_clauses(core):
        other = scope.another_gateway(clause)
        if other is not None and _asks_operation(clause):
            out.append(Unplaced(words=other, kind="target", why=(
                "another gateway: this chat changes only the gateway it is about — open a chat on that one")))
    return out


# A setting named in a request whose value could not be read ("two channels up", "the lowest DFS-free channel",
# "the dns back to automatic", "au minimum"): asked about — never answered as a symptom with the generic diagnosis.
_SETTING = re.compile(r"\b(channels?|kanal|canal|dns|name ?servers?|width|bandwidth|kanalbreite|breite|largeur|ancho|"
                      r"(transmit |tx )?power|sendeleistung|leistung|puissance|potencia|inform interval)\b", _I)


def _settings_unread(core: str) -> list[Unplaced]:
    """Each clause asking to change a setting it names, with no value an action reads."""
    return [Unplaced(words=clause, kind="value", why=(
        "a setting to change without a value I can read: say the exact value (a channel number, a width in MHz, a "
        "share of full power, the DNS server addresses)")) for clause in clauses.split_clauses(core)
        if _SETTING.search(clause) and (_asks_operation(clause) or clauses.act_of(clause) == "request")
        and parse(clause) is None]


def _asks_operation(clause: str) -> bool:
    """The clause asks for an operation: a verb of one, in a request or an imperative — not a question, a report
    or a description that happens to name a setting ("the neighbour's router is on channel 6 too")."""
    verb = clauses.OP_VERB.search(clause)
    if verb is None or clauses.act_of(clause) not in ("request", "statement"):
        return False
    lead = _LEAD_FILLER.match(clause)
    imperative = lead is not None and lead.end() == verb.start()
    return (imperative or clauses.act_of(clause) == "request" or parse(clause) is not None
            or classify(clause) in _OPERATIONS)


_LEAD_FILLER = re.compile(r"\W*((please|pls|also|then|now|bitte|auch|dann|jetzt|aussi|puis|también|luego)\s+)*", _I)


def _target(heard: clauses.Heard, q: _Qualifiers, req: ExplicitRequest | None,
            action: Action | None) -> tuple[Target, list[str]]:
    """The bands and network the request is limited to — those of the clauses that ask for the action,
    not of a question beside them ("which channel is the 5 GHz on? and move the 2.4 to 6") — and the
    bands kept as they are."""
    action_text = heard.text if heard.text and (heard.answers or heard.deferred) else q.core
    bands, kept = _bands_of_action(action_text)
    if not bands and req is not None and req.band is not None:
        bands = [req.band]  # named in a condition ("if the 2.4 GHz power is below 50 %, raise it")
    named_anywhere = action in ("ssid_enable", "ssid_hide")  # "hide it, the guest one": the role is the network's
    role = targets.role_in(action_text) or (targets.role_in(q.match) if named_anywhere else None)
    every = targets.all_bands(action_text)
    if every:
        bands = [b for b in targets.both_bands(action_text) if b not in kept]  # "both" is two bands; "all" all
    said = [*bands, *(["all bands"] if targets.all_bands(q.core) and not bands else [])]
    return Target(bands=bands, ssid_role=role, words=" ".join(dict.fromkeys(said))), kept


def _amended(text: str, ctx: Context, q: _Qualifiers, heard: clauses.Heard, op_text: str,
             request: Request) -> Request | None:
    """A correction ("actually make that 44", "typo, it's Meyer-Family") or a bare value answering the
    draft: the earlier request with what this message names replaced — planned as that request. None
    when the message is a request of its own."""
    prev = ctx.previous
    ref = request.refers_to
    correcting = ref is not None and ref.kind == "correct"
    if prev is None or prev.action is None or not (correcting or _answers_the_draft(ctx, request)):
        return None
    back = _switched_back_later(prev, q, ctx, op_text)
    if back is not None:
        return back
    if correcting and request.action is None and op_text:
        request = _on_off_again(prev, op_text, request)
    # the numbers of a time said with it are never the draft's new value ("mejor mañana a las 7" was channel 7, "do it
    # after 22:00" channel 0)
    amended, own = _amend_with(prev, request,
                               _blank(q.match, q.when.spans + [m.span() for m in _UNTIL.finditer(q.match)]), text)
    if own and amended is not None:  # a request of its own beside the draft, which stays as it is
        return _not_past(amended.model_copy(update={"refers_to": Reference(kind="beside", words=text[:100])}), ctx)
    taken = _deferred_taken(amended, request, ctx, q)
    if taken is not None:
        return taken
    if amended is None or not (correcting or amended != prev):
        return None
    # the correction's own words ("make that 44 instead") are the amendment, not a further request
    return _not_past(amended.model_copy(update={
        "refers_to": ref or Reference(kind="correct", words=text[:100]),
        "unplaced": [u for u in request.unplaced if u.kind != "request"]}), ctx)


# A time said as a deadline ("hasta las 10 de la noche", "until 10", "bis 22 Uhr", "jusqu'à 22h"): never the draft's new
# value (after a channel draft "hasta las 10 de la noche" drafted channel 10)
_UNTIL = re.compile(r"\b(?:until|till|bis|jusqu'à|jusqu'a|hasta)\s+(?:las?\s+|the\s+)?\d{1,2}(?:[:h.]\d\d)?\b", _I)


def _deferred_taken(amended: Request | None, request: Request, ctx: Context, q: _Qualifiers) -> Request | None:
    """The change deferred last turn, asked for by its band alone ("now the 5 GHz one"): a request of its own with
    the value deferred — which supersedes nothing (the one drafted before it stays), never a correction of it —
    and this message's time ("… at 3 tomorrow morning"; "… once her meeting is over" asked about): it was dropped,
    and the change drafted to run at once."""
    if amended is None or "value" in request.values:
        return None
    taken = pairs.deferred_value(amended, ctx.deferred)
    if taken is amended:
        return None
    times = _times_unplaced(q, taken.action)
    kept = [u for u in request.unplaced if u.kind not in ("request", "time")]
    schedule = q.when.schedule if q.when.schedule is not None else taken.schedule
    if q.when.schedule is None and not times:
        # "now the 5 GHz one at 23:00" has no verb, so its clause read as a description and its time as when a
        # symptom happens — dropped, and the change would run at once: read again as a request's
        said = when.find(_blank(q.match, q.quoted), ctx.now, ctx.zone, q.lang)
        if said.schedule is not None and _RECURRENCE.search(q.match):
            times = [Unplaced(words=said.schedule.words, kind="time",
                              why="a repeating schedule: I can schedule one change, not a series")]
        elif said.schedule is not None:
            schedule = said.schedule
        times += said.unplaced
    return _not_past(taken.model_copy(update={"refers_to": None, "unplaced": [*kept, *times], "schedule": schedule}),
                     ctx)


def _amend_with(prev: Request, request: Request, match: str, text: str) -> tuple[Request | None, bool]:
    """The earlier request amended by what this one names, or by the one bare value it gives; and whether that is a
    request of its own beside it (another band "as well", with its own value) rather than a correction of it."""
    also = _ALSO.search(match) is not None
    amended = amend(prev, request, also=also) if (request.action or request.values or request.qualified) else None
    if amended is None or amended.values == prev.values:
        bare = _bare_value(amended or prev, match, text)
        if (bare is not None and also and request.target.bands
                and bare.values.get("value") != prev.values.get("value")):
            # "and the 2.4 to 6 as well" after "the 5 GHz on 44": the band named with its own value, a request of
            # its own (both bands were set to 6) — as ``amend`` does when the value is read with the band
            return bare.model_copy(update={"target": request.target, "refers_to": None}), True
        amended = bare or amended
    return amended, also and _beside(prev, request, amended)


def _beside(prev: Request, request: Request, amended: Request | None) -> bool:
    """``amend`` made a request of its own: the band said "as well" alone, with a value other than the draft's."""
    return (amended is not None and amended.refers_to is None and bool(request.target.bands)
            and amended.target.bands == request.target.bands
            and amended.values.get("value") != prev.values.get("value"))


def _answers_the_draft(ctx: Context, request: Request) -> bool:
    """A message after a draft (or after a change deferred beside one) that asks nothing of its own: a bare value,
    a time, a band for it."""
    return (ctx.after_draft or bool(ctx.deferred)) and request.act in ("diagnose", "empty") and (
        not request.qualified or request.intent == str(Intent.UNKNOWN))


def _not_past(amended: Request, ctx: Context) -> Request:
    """An amended time that has already passed ("finalement ce soir, même heure" after a 4 am one) is
    asked about, never taken for tomorrow silently."""
    at = amended.schedule
    if at is None or at.not_before > ctx.now:
        return amended
    local = at.not_before.astimezone(ctx.zone)
    return amended.model_copy(update={"schedule": None, "unplaced": [*amended.unplaced, Unplaced(
        words=at.words, kind="time", why=f"{local:%H:%M} on {local:%a %d %b} local has already passed")]})


def _switched_back_later(prev: Request, q: _Qualifiers, ctx: Context, op_text: str) -> Request | None:
    """"… and back on tomorrow at 8" after "turn off the guest wifi": a request of its own — the opposite switch, at
    its own time — which supersedes nothing (it amended the draft: the guest network was switched off *tomorrow at
    8*, the opposite of what was asked). Without a time it is asked about — unless it corrects the draft ("nein,
    lieber wieder an"). None when the message switches nothing back."""
    before = prev.values.get("value")
    if not isinstance(before, bool) or not _REVERSAL.search(q.match):
        return None
    obj = clauses.object_words(checker.render(prev))
    again = parse(f"{obj} {op_text}") if obj else None
    if again is None or again.action != prev.action or again.value is not (not before):
        return None
    # "und morgen um 8 wieder ein" has no verb of its own: its time was read as a description's — read it again
    schedule = q.when.schedule or when.find(_blank(q.match, q.quoted), ctx.now, ctx.zone, q.lang).schedule
    if schedule is None and references.correcting(q.match):
        return None  # "nein, lieber wieder an": the draft corrected to the other switch, now (``_on_off_again``)
    unplaced = [] if schedule is not None else [Unplaced(words=op_text.strip()[:80], kind="time", why=(
        "when it should go back: say the time — the change drafted before stays as it is"))]
    return _not_past(prev.model_copy(update={"values": {**prev.values, "value": again.value}, "refers_to": None,
                                             "schedule": schedule, "immediate": False, "unplaced": unplaced}), ctx)


def _on_off_again(prev: Request, op_text: str, request: Request) -> Request:
    """"non pardon, active-le plutôt" after "turn the guest network off": the on/off on the object the
    corrected request named (a number is the bare value's)."""
    obj = clauses.object_words(checker.render(prev))
    again = parse(f"{obj} {op_text}") if obj else None
    if again is not None and again.action == prev.action and isinstance(again.value, bool):
        return request.model_copy(update={"action": again.action, "values": {**request.values, "value": again.value}})
    return request


def _text_out(core: str, heard: clauses.Heard, request: Request) -> str:
    """The text the planner's matchers read: the message without its qualifiers — or, when the action was
    read with a condition's help or from a bare "to 11", the request rendered exactly."""
    # a request deferred beside it is no part of what the matchers read ("… und das Haupt-WLAN in "X" umbenennen":
    # the guest network switched on was drafted as a rename)
    other_op = any("(" not in d for d in heard.deferred)  # a reboot, a rename … — not a value said for another band
    text_out = clauses.without_unwanted(core) if request.act != "question" and not other_op else heard.text
    if request.act == "change" and request.action in _RENDERED:
        own = parse(core)
        if own is None or own.action != request.action or own.value != request.values.get("value"):
            text_out = checker.render(request)
    return text_out


# A piece that keeps something as it is: "the 2.4 keeps its current name", "das 5er bleibt wie es ist",
# "ne touche pas au 2,4", "la de 2,4 se queda igual".
_KEEP = re.compile(r"\b(keeps?|stays?|remains?|leave|untouched|unchanged|as it is|alone|bleibt|bleiben|lass\w*|"
                   r"unverändert|so wie es ist|wie es ist|garde\w*|reste\w*|ne touche pas|touche pas|laisse\w*|"
                   r"tel quel|inchangé\w*|se queda\w*|se quede|queda igual|deja\w*|sin cambios|igual|como está|"
                   r"(ne )?bouge pas|(ne )?change pas|on n'y touche pas|don'?t touch|do not touch|hands off|"
                   r"nicht anfassen|rühr\w* nicht|nicht ändern|no (lo |la )?toques|no (se )?cambia|"
                   r"no la cambies)\b", _I)


def _bands_of_action(core: str) -> tuple[list[Band], list[str]]:
    """The bands the request is limited to — those of the pieces that ask for the action — and the
    bands another piece keeps as they are (exclusions)."""
    asked: list[Band] = []
    kept: list[str] = []
    # "just the 2.4 - hands off the 5: channel 6": a dash or a colon separates pieces too
    pieces = [p.strip() for piece in _PIECE.split(core) for p in re.split(r"\s[-–—]\s|:\s", (piece or "").strip())]
    for p in pieces:
        found = targets.bands_in(p)
        if not found:
            continue
        own = parse(p)
        if _KEEP.search(p) and (own is None or own.value is None):  # "keep the 5 GHz on channel 36" sets 36
            kept += [b for b in found if b not in kept]
        else:
            asked += [b for b in found if b not in asked]
    return [b for b in asked if b not in kept], kept


# "the secondary DNS", "the second DNS server", "den zweiten DNS", "le DNS secondaire", "el DNS secundario"
_SECOND_SERVER = re.compile(r"\b(secondary|second|alternate|backup|zweite\w*|sekundär\w*|secondaire|secundari[oa]|"
                            r"segundo)\s+(dns|name ?server|server)|\b(dns|name ?server|serveur dns|servidor dns)\s+"
                            r"(secondaire|secundario|sekundär\w*)\b", re.I)
_RENDERED = ("channel", "width", "power", "band_enable", "ssid_enable", "ssid_hide", "dns", "inform_interval",
             "dhcp_lease", "reboot")


def _action(intent: Intent, req: ExplicitRequest | None, text: str,
            op_text: str) -> tuple[Action | None, dict[str, Scalar], list[str]]:
    values: dict[str, Scalar] = {}
    if req is not None:
        if req.value is not None:
            values["value"] = req.value
        if req.step is not None:
            values["step"] = req.step  # relative to the device's own levels, resolved when drafting
        if req.action == "dns" and len(req.servers) == 1 and _SECOND_SERVER.search(text):
            values["dns_slot"] = 2  # "the secondary DNS": the primary stays
        return req.action, values, list(req.servers)
    if intent in (Intent.SSID, Intent.CREDENTIALS):
        ssid = extract_ssid(text)
        if ssid is not None:
            values["ssid"] = ssid
        if intent == Intent.CREDENTIALS:
            refs = _SECRET.findall(text)
            if refs:
                values["passphrase"] = refs[0]
        return "ssid", values, []
    if intent == Intent.PASSPHRASE:
        refs = _SECRET.findall(text)
        if refs:
            values["passphrase"] = refs[0]
        return "passphrase", values, []
    return None, values, []


def _act(heard: clauses.Heard, action: str | None, intent: Intent) -> Act:
    if heard.acknowledged is not None:
        return "acknowledge"
    if heard.asks_about_operation:
        return "question"  # the speech act wins over the operation's words: a question is never a change
    if action is not None and not heard.read_only:
        return "change"
    if heard.answers and not heard.text:
        return "question"
    if heard.answers or heard.read_only:
        return "question" if not heard.text else "diagnose"
    return "diagnose" if heard.text else "empty"


# "on the 2.4 too", "beim 5er auch", "sur le 5 aussi", "en el 2,4 también": a band added to the draft's, not in its
# place
_ALSO = re.compile(r"\b(too|also|as well|auch|ebenfalls|aussi|également|egalement|también|tambien|igualmente)\b", _I)


def amend(previous: Request, new: Request, *, also: bool = False) -> Request:
    """The previous request with what the correction names replaced (its value, band, target, time or
    conditions); everything it does not name is kept. ``also``: a band said "too" is added to the draft's."""
    update: dict[str, object] = {"refers_to": new.refers_to, "unplaced": new.unplaced, "source": new.source}
    if new.action is not None and new.action != previous.action:
        return new  # a different action: the correction replaces the request
    beside = _another_band_as_well(previous, new) if also else None
    if beside is not None:
        return beside
    if new.values:
        update["values"] = {**previous.values, **new.values}
    if new.servers:
        update["servers"] = new.servers
    if also and new.target.bands and previous.target.bands and not new.target.ssid_role:
        bands = list(dict.fromkeys([*previous.target.bands, *new.target.bands]))
        update["target"] = new.target.model_copy(update={"bands": bands, "words": " ".join(bands)})
    elif new.target.bands and not new.target.ssid_role and previous.target.ssid_role:
        # "the 5 GHz one only" after "turn off the guest wifi": the guest network on that band (it was every
        # network on the band, the main one too)
        update["target"] = new.target.model_copy(update={"ssid_role": previous.target.ssid_role})
    elif new.target.bands or new.target.ssid_role:
        update["target"] = new.target
    if new.schedule is not None or new.immediate:
        update["schedule"] = _draft_half_of_day(previous, _same_time(previous, new.schedule))
        update["immediate"] = new.immediate
    if new.conditions:
        update["conditions"] = new.conditions
    return previous.model_copy(update=update)


def _another_band_as_well(previous: Request, new: Request) -> Request | None:
    """"and the 2.4 to 6 as well" after "the 5 GHz on 44": a request of its own for that band, at the draft's time
    unless it says one — superseding nothing (it set both bands to 6, the 5 GHz's 44 gone). None otherwise."""
    value = new.values.get("value")
    if not new.target.bands or value is None or value == previous.values.get("value"):
        return None
    return previous.model_copy(update={
        "target": new.target, "values": {**previous.values, **new.values}, "refers_to": None,
        "unplaced": new.unplaced, "source": new.source, "schedule": new.schedule or previous.schedule,
        "immediate": new.immediate or (new.schedule is None and previous.immediate)})


def _draft_half_of_day(previous: Request, schedule: Schedule | None) -> Schedule | None:
    """"make it half past eleven instead" after a draft for 23:00: the evening of the draft's day, as the draft's time
    is — a bare hour of the morning was taken (11:30 the next morning, said back as assumed)."""
    before = previous.schedule
    if (schedule is None or before is None or not when.MORNING_ASSUMED.match(schedule.assumed or "")
            or when.names_a_day(schedule.words)):
        return schedule
    zone = ZoneInfo(schedule.zone)
    draft, said = before.not_before.astimezone(zone), schedule.not_before.astimezone(zone)
    if draft.hour < 12:
        return schedule
    at = datetime.combine(draft.date(), time(said.hour + 12, said.minute), zone)
    return schedule.model_copy(update={"not_before": at.astimezone(UTC), "assumed": (
        f"{at:%H:%M}, the evening as the draft's time (say if you meant {said:%H:%M})")})


def _same_time(previous: Request, schedule: Schedule | None) -> Schedule | None:
    """"samedi soir, même heure": the new day at the time of day the corrected request had."""
    before = previous.schedule
    if schedule is None or before is None or not when.SAME_TIME.search(schedule.words):
        return schedule
    zone = ZoneInfo(schedule.zone)
    old, new = before.not_before.astimezone(zone), schedule.not_before.astimezone(zone)
    at = datetime.combine(new.date(), old.time(), zone)
    return schedule.model_copy(update={"not_before": at.astimezone(UTC), "assumed": None})


_NUMBER = re.compile(r"(?<![\d.:])(\d{1,5})(?![\d.]|(?:st|nd|rd|th)\b)"  # "on 2nd thought" is no value
                     r"(?!\s*-?\s*(?:GHz|g\b|h\b|uhr|am|pm|heures?|horas?|o'?clock)|:\d)", _I)
_TOKEN = re.compile(r"[\w][\w'’.-]*[\w]|\w", re.UNICODE)
# A number that names or counts something else is no value for the draft ("the wifi is better in room 2 now",
# "she says 3 devices still drop", "it's been 2 days like that"): the label of a place before it, or a counted
# thing after it. "Zimmer" and "room" are the two, in either order ("2 rooms away").
_LABELLED = re.compile(r"\b(room|zimmer|raum|chambre|pi[eè]ce|habitaci[oó]n|cuarto|floor|stock|etage|[eé]tage|piso|"
                       r"planta|flat|apartment|apt|wohnung|appartement|apartamento|house|haus|maison|casa|unit|port|"
                       r"line|no(?=\.)|nr|n°|number|nummer|num[eé]ro)\.?\s*#?\s*(\d{1,5})\b",  # "no. 3", never "no 11"
                       _I)
_COUNTING = re.compile(r"\b(\d{1,5})\s*(devices?|clients?|people|persons?|users?|kids?|children|rooms?|floors?|"
                      r"minutes?|mins?|hours?|hrs?|days?|weeks?|months?|times?|mbps|mbit\w*|[gmk]b|bars?|meters?|"
                      r"metres?|m|ft|feet|ger[aä]te\w*|personen|leute|kinder|zimmer|minuten|stunden|tage\w*|wochen|"
                      r"mal|appareils?|personnes?|enfants?|pi[eè]ces|jours?|semaines?|fois|dispositivos?|personas?|"
                      r"niñ[oa]s|habitaciones|minutos?|d[ií]as?|semanas?|veces)\b", _I)


def _numbers_said(match: str, old: str) -> list[str]:
    """The numbers ``match`` gives as a value, in order and once each: not ``old`` (the draft's, "11, not 6"),
    not a time, not a number that labels or counts something else."""
    other = {m.start(2) for m in _LABELLED.finditer(match)} | {m.start(1) for m in _COUNTING.finditer(match)}
    return list(dict.fromkeys(m.group(1) for m in _NUMBER.finditer(match)
                              if m.group(1) != old and m.start(1) not in other))


def _bare_value(previous: Request, match: str, text: str) -> Request | None:
    """The one value a correction gives: a single number for a numeric action; for a name, the quoted
    text, else the token closest to the name it corrects ("it's Meyer-Family with a y" → Meyer-Family);
    for DNS, the addresses it names in place of as many of the earlier ones ("I meant 9.9.9.9")."""
    if previous.action == "dns":
        new = [a.group(0) for a in clauses.ADDRESS.finditer(text) if a.group(0) not in previous.servers]
        if new and (len(new) == len(previous.servers) or len(previous.servers) <= 1):
            return previous.model_copy(update={"servers": list(dict.fromkeys(new))})
        return None
    if previous.action in ("dhcp_lease", "inform_interval"):  # "uy no, mejor 3 horas": a length, in seconds
        length = durations.seconds(f"lease {match}", durations.LEASE)
        if length is not None:
            return previous.model_copy(update={"values": {**previous.values, "value": length}})
        if previous.action == "dhcp_lease":
            return None  # an inform interval's bare number is its seconds (below)
    if previous.action in ("channel", "power", "inform_interval", "width"):
        old = str(previous.values.get("value", "")).removesuffix("MHz")
        nums = _numbers_said(match, old)
        if len(nums) == 1:
            value: Scalar = f"{nums[0]}MHz" if previous.action == "width" else int(nums[0])
            return previous.model_copy(update={"values": {**previous.values, "value": value}})
        return None
    if previous.action == "ssid" and previous.values.get("ssid"):
        quoted = QUOTED.search(text)  # never the apostrophe of "c'est", "l'invité", "qu'il"
        if quoted:
            value = quoted.group(1).strip()
        else:
            old = str(previous.values["ssid"])
            hit = process.extractOne(old, _TOKEN.findall(text), scorer=fuzz.ratio, score_cutoff=60)
            if hit is None or hit[0] == old:
                return None
            value = str(hit[0])
        return previous.model_copy(update={"values": {**previous.values, "ssid": value}})
    return None


# An hour and the part of the day it falls in ("um 1 nachts", "12 Uhr nachts", "nachts um 3", "à 8h le soir"): one
# time, no series
_HOUR_OF_PART = re.compile(r"\b\d{1,2}(?:[:.h]\d\d)?\s*(?:uhr\s+|h\s+)?(?:nachts|abends|morgens|le soir|la nuit|"
                           r"de la nuit|du soir)\b|\b(?:nachts|abends|morgens)\s+(?:um|gegen)\s+\d{1,2}\b", _I)
_RECURRENCE = re.compile(r"\b(every|each|always|usually|often|jeden|jede|jeder|immer|meistens|oft|chaque|tous les|"
                         r"toutes les|toujours|souvent|cada|todas las|todos los|siempre|a menudo|since|seit|depuis|"
                         r"desde(?!\s+(mañana|pasado mañana|el próximo|la próxima))|ago|"
                         r"vor(?=\s+(kurzem|\d+\s*(min|std|h)\w*|(\d+|einer?m?|zwei|drei|vier|ein paar|"
                         r"wenigen)\s+(minute|stunde|tag|woche|monat)\w*))|il y a|hace|last|letzte\w*|dernier|"
                         r"dernière|pasad[oa](?!\s+mañana))\b|"
                         r"\b(evenings|nights|mornings|weekends|abends|nachts|le soir|la nuit|por las noches|"
                         r"por las tardes)\b", _I)


# A clause that asks for something (even without "please"): it starts with a verb of doing.
_IMPERATIVE = re.compile(r"^\W*(please\s+|pls\s+|bitte\s+|kindly\s+)?(fix|sort|solve|handle|repair|do|make|set|put|"
                         r"change|switch|move|turn|restart|reboot|rename|call|give|use|go|get|try|schedule|plan|"
                         r"mach|reparier|beheb|lös|stell|setz|änder|schalt|starte|benenn|nimm|gib|versuch|"
                         r"répare|règle|fais|mets|change|passe|bascule|redémarre|renomme|utilise|essaie|"
                         r"arregla|soluciona|haz|pon|cambia|pasa|reinicia|renombra|usa|intenta|programa)\w*\b", _I)


# ("from tomorrow", "desde mañana", "starting next week": when a change is to start, never when a symptom began)
_PAST = re.compile(r"\b(since|ever since|until|till|from(?!\s+(tomorrow|next|the day after))|seit|bis|depuis|"
                   r"jusqu'à|desde(?!\s+(mañana|pasado mañana|el próximo|la próxima))|hasta|ago|vor|il y a|hace|"
                   # "started this afternoon": when a symptom began (a passed "this afternoon" was asked about)
                   r"started|starting(?!\s+(tomorrow|next))|began|begun|angefangen|begonnen|commencé|a commencé|empezó|"
                   r"comenzó)\b", _I)


# "tomorrow after 20:00 works for them", "ab 22 Uhr passt ihnen", "demain soir leur convient": a time that suits
# "restart it tomorrow after 20:00 is fine", "…, après 20 h c'est bon": a time agreed to after a request
_TIME_BEFORE = re.compile(
    r"(\b\d{1,2}(:\d{2})?\s*(uhr|h|am|pm|o'?clock)?|\b(tomorrow|tonight|today|morning|evening|afternoon|night|"
    r"any ?time|whenever|later|weekend|monday|tuesday|wednesday|thursday|friday|saturday|sunday|morgen|heute|"
    r"abend|nacht|nachmittag|demain|ce soir|matin|soir|nuit|mañana|esta noche|tarde|noche))"
    r"\s*,?\s*((it|that|this|das|es|c'|ça|eso|esto)\s*)?$", _I)


def _agrees_to_a_time(upto: str) -> bool:
    """The message up to a report's end says "<time> is fine" after an operation's verb: the time the request
    may run, not something that works ("por la mañana todo bien" after a symptom describes)."""
    m = _AGREED_REPORT.search(upto)
    return m is not None and bool(_TIME_BEFORE.search(upto, 0, m.start())) and bool(
        clauses.OP_VERB.search(upto, 0, m.start()))


_AGREED_REPORT = re.compile(r"((is|would be|works|sounds|ist|wäre|est|serait|está|estaría)\s+)?(fine|ok|okay|good|"
                            r"great|passt|geht|gut|bon|bien|vale|me va)\W*$", _I)
_SUITS = re.compile(r"\b(works for|suits|is fine for|is ok for|okay for|passt (ihnen|ihm|ihr|uns|mir)|geht für|"
                    r"(leur|lui|nous|me) convient|(les|le|nos|me) (va|viene) bien|les conviene|le conviene)\b", _I)


def _descriptions(text: str) -> list[tuple[int, int]]:
    """The spans of clauses that describe rather than ask (no request mood, no operation, no imperative):
    their times say when a symptom happens, not when to act."""
    out: list[tuple[int, int]] = []
    pos = 0
    for part in [x for c in clauses.split_clauses(text) for x in re.split(r"\s[-–—]\s", c)]:
        at = text.find(part, pos)
        if at < 0:
            continue
        pos = at + len(part)
        if clauses.act_of(part) == "report" and not _SUITS.search(part) and not _agrees_to_a_time(text[:pos]):
            out.append((at, at + len(part)))  # "mornings are fine": when it works, not when to act
            continue
        if clauses.act_of(part) in ("request", "negation", "heading") or _IMPERATIVE.search(part):
            continue
        if when.VAGUE.search(part):
            continue  # "but later, not now": a time to ask about, not a description
        if conditions.opens_one(part):
            continue  # "if nobody is online tonight, …": the condition's time is when to act (it was dropped)
        if references.correcting(part):
            continue  # "actually make it 3am instead": a correction qualifies the request it amends
        if clauses.BACK_ON.match(part):
            continue  # "… y vuelve a encenderla mañana a las 8": a request whose object is the clause before
        if when.TIME_OPENER.search(part) and not _RECURRENCE.search(part):
            continue  # "tomorrow after 20:00 works for them": a time qualifying the request
        if parse(part) is not None or classify(part) in (Intent.SSID, Intent.PASSPHRASE, Intent.CREDENTIALS,
                                                         Intent.REQUEST):
            continue
        words = when.without_times(part)
        words = re.sub(r"\b(please|pls|bitte|svp|stp|por favor|thanks|danke|merci|gracias|it|es|le|la|lo|"
                       r"then|dann|puis|luego|ok|okay|but|aber|mais|pero|and|und|et|y|at|um|à|a|las|the|do|"
                       r"that|das|ça|eso|so|also|alors|entonces|instead|lieber|plutôt|mejor|erst|only|just|nur|"
                       r"seulement|solo|sólo|ab|nach|after|before|vor|avant|après|dès|antes|después|desde|until|bis|"
                       r"hasta|jusqu|not|nicht|pas|no|no earlier than|frühestens|till|til|erst|say|sagen wir|"
                       r"disons|digamos|around|about|gegen|vers|sobre|ish)\b", "", words, flags=_I)
        if not re.findall(r"[^\W\d_]{3,}", words):
            continue  # "tonight please", "à 3h alors": only a time, qualifying the request beside it
        out.append((at, at + len(part)))
    return out


# What a clause asks for when it starts with a verb of doing (any language), a clitic imperative ("cámbiale",
# "envoie-lui"), or a jussive "que …" (ES/FR): a request. Generic ones ("fix it", "check the wifi", "tell
# the customer") ask the planner to diagnose or are for the agent: they are placed.
_DEMAND = re.compile(
    r"^\W*(please\s+|pls\s+|also\s+|then\s+|bitte\s+|auch\s+|aussi\s+|también\s+)?"
    r"((get|make|move|turn|switch|change|send|order|book|cancel|transfer|remove|delete|block|unblock|allow|limit|"
    r"restrict|open|close|forward|install|update|upgrade|give|lower|raise|reset|activate|enable|disable|schedule|"
    r"arrange|ship|replace|stell|setz|schick|bestell|buch|kündig|übertrag|füg|entfern|lösch|sperr|erlaub|begrenz|"
    r"öffne|schließ|leite|senk|erhöh|aktivier|deaktivier|tausch|ersetz|envoie|commande|réserve|annule|transfère|"
    r"ajoute|supprime|bloque|autorise|limite|ouvre|ferme|redirige|donne|baisse|augmente|active|désactive|remplace|"
    r"envía|manda|pide|reserva|cancela|transfiere|añade|quita|elimina|bloquea|permite|limita|abre|cierra|baja|sube|"
    r"activa|desactiva|reemplaza|cambia|unblock|register|enrol|refund|fix|repair|"
    r"résili|rembours|inscri|appell|téléphon|programm|vormerk|anmeld|abmeld|ruf|llam|registr|inscrib|"
    r"reembols)\w*|(set|put|add|mach|gib|mets|pon|da(?=\s+(?:el|la|los|las|un|una|acceso|permiso)\b)|dale|ponle|haz|do|"
    r"call|email|sign|pay)\b(?!')"  # Spanish "da" only before its object: German "da wär …" is "there"
    r"(?=\s+\w))|"
    r"^\W*(?!(?:dis|dites|montre|montrez|indique|indiquez|explique|expliquez)-moi\b)\w+-(lui|leur|le|la|les|moi)\b|"
    r"^\W*(que|qu')\s", _I)
# Spanish imperatives carry their object as a clitic ("cámbiale", "envíale", "quítalo"): read so only in Spanish.
_CLITIC_ES = re.compile(r"^\W*(\w*[áéíóú]\w*(le|la|lo|les|los|las|me|nos)|pon(le|lo|la|les)|p[óo]ns?el[oa]s?|"
                        r"haz(lo|la)|dale|dile|quita(le|lo)|manda(le|lo))\b", _I)
_GENERIC = re.compile(r"\b(fix|sort|solve|help|check|look|investigate|handle|repair|correct|adjust|improve|tune|"
                      r"optimi[sz]|korrigier|anpass|verbesser|optimier|richte|richten|in ordnung|corr[ií]g|ajust|"
                      r"amélior|mejor|"
                      r"optimiz|arregl|normal|normalement|normalmente|"
                      r"tell|inform|let \w+ know|call|ask|"
                      r"explain|diagnos|reparier|beheb|prüf|schau|kümmer|sag|erklär|répar|règl|vérifi|regard|dis\b|"
                      r"expliqu|arregl|solucion|revis|mira|comprueb|dile|explic)\w*", _I)
# Business transactions: never a Wi-Fi symptom, whatever words they carry ("cancel her streaming subscription").
_TRANSACTION = re.compile(r"\b(cancel|transfer|send|order|book|ship|replace|refund|invoice|bill|contract|subscription|"
                          r"tariff|kündig|übertrag|schick|bestell|buch|ersetz|rechnung|vertrag|abo|tarif|annul|"
                          r"transf[eé]r|envoi|command|factur|contrat|abonnement|cancela|env[ií]a|pide|factura|"
                          r"contrato|suscripci[oó]n|tarifa)\w*", _I)
_PIECE = re.compile(r"\.(?=\s|$)|[;!?\n]+|,(?!\d)|\s+(?:and also|and then|and|und dann|und auch|und|et puis|"
                    r"et aussi|et|y luego|"
                    # ("plus" is "and" — not the "plus" of "il (ne) veut plus que …", no longer)
                    r"y también|y|e|(?<!veut )(?<!veux )(?<!veulent )(?<!voudrait )plus|as well as|then|dann|puis|"
                    r"luego|aber|but|mais|pero|n|&|\+)\s+", _I)
_OPERATIONS = (Intent.SSID, Intent.PASSPHRASE, Intent.CREDENTIALS, Intent.REQUEST)
# what the planner places besides operations: a symptom to diagnose ("make the wifi faster"), an escalation
_PLACED = (*_OPERATIONS, Intent.WIFI, Intent.COVERAGE, Intent.CONNECTIVITY, Intent.INFORM, Intent.STATUS,
           Intent.UNSUPPORTED)


_ARTICLE = re.compile(r"^\s*(the|la|le|el|das|den|die|les|los|de)\s+", _I)


def _contributes(core: str, piece: str) -> bool:
    """The piece is part of the operation the message asks for: without it, the operation is another — or on
    other bands ("set the 2.4 GHz and the 5 GHz to channel 6": "set the 2.4 GHz" names a band it is for)."""
    whole = parse(core)
    if whole is None:
        return False
    rest = parse(core.replace(piece, " "))
    return rest is None or rest.action != whole.action or rest.band != whole.band


def _without_numbers(text: str) -> str:
    """``text`` without its numbers (a condition's threshold is not the action's value), bands kept; a share of power
    said in words is the word "power"."""
    return re.sub(r"(?<![\d.])\d+(?:[.,]\d+)?(?![\d.,]*\s*GHz)\s*(%|percent|prozent|pour ?cent|por ?ciento)?", " ",
                  worded.shares_as_power(text))


# What the planner's gateway work is about: a request piece that names none of it is for something else.
_NETWORKY = re.compile(
    r"\b(wi-?fi|wlan|wireless|internet|networks?|netz\w*|réseaux?|red(es)?|signal|coverage|empfang|couverture|cobertura|"
    r"router|routeur|box|gateway|modem|ont|cpe|channel|kanal|canal|connection|verbindung|connexion|conexión|line|"
    r"leitung|ligne|línea|speed|geschwindigkeit|débit|velocidad|dns|ssid|band|bande|banda|2\.4GHz|5GHz|6GHz|"
    r"radio|guest|gast\w*|invit\w*|password|passwort|mot de passe|contraseña|inform|acs|latency|ping|lag|"
    r"slow|langsam|lent|lento|drop\w*|disconnect\w*|abbr\w*|coup\w*|cae|se corta)\b", _I)
# Words that open a further request without being it ("while you're at it", "also", "and", "n", "además").
_OPENERS = re.compile(r"^\W*((while you'?re at it|while you are at it|also|too|plus|and|n|then|additionally|"
                      r"another thing|oh and|auch|außerdem|noch|und|dann|aussi|en plus|et|puis|también|además|y|"
                      r"luego|tant que tu y es|de paso|ya que estás)\W+)+", _I)
# Numbered lists and bullets split like clauses ("1) … 2) …").
_LIST = re.compile(r"(?:^|\s)(?:\d{1,2}[).]|[-•*])\s+")
_GERMAN_INFINITIVE_END = re.compile(r"\b[a-zäöüß]{3,}(en|ern|eln)\s*$", _I)


def _unplaced_requests(core: str, match: str, named: list[str], lang: str, has_op: bool = False) -> list[Unplaced]:
    """Pieces that ask for something no operation places ("and move the contract over to her husband",
    "y que el técnico pase el jueves", "while you're at it unblock his Netflix account"): named back to the
    agent, never silently dropped. A piece asks when it is a request (modal, "please", a verb of doing first,
    a jussive "que …", a German infinitive coordinated with a request); it is placed when it is an
    operation, part of one, a problem with the network to diagnose, an escalation when nothing else is
    asked, what to leave alone, or a question. ``named``: the condition clauses, where a pronoun's object
    may be named ("if the guest wifi is off, turn it back on")."""
    cx = _Pieces.of(core, match, named, lang, has_op)
    out: list[Unplaced] = []
    previous = ""
    # "el cliente quiere su IP pública, ¿puedes mirarlo?": a want the question after it reads is part of that question
    asked = [c.text for c in clauses.understand(core).clauses if c.act == "question"]
    for raw in cx.pieces:
        before, previous = previous, raw
        p = _OPENERS.sub("", raw).strip(" ,;.:-")
        if any(p in q for q in asked):
            continue
        if len(re.findall(r"[^\W\d_]{2,}", p)) < 2 or re.fullmatch(r"\W*(please|pls|bitte|svp|stp|por favor|"
                                                                 r"thanks|danke|merci|gracias|go ahead|ok go|vas-y|"
                                                                 r"allez-y|mach ruhig|mach mal|adelante|venga|dale)\W*",
                                                                 p, _I):
            continue  # chatter, a value
        kind = classify(p)
        if _placed(p, raw, kind, cx) or _not_a_request(p) or not _asks(p, raw, cx) or _network_work(p, kind, cx):
            continue
        if (cx.has_op or asked) and _context_of_the_operation(p, before, cx.match):
            continue
        if _ANAPHOR.match(p) and before and clauses.act_of(before) not in ("request", "question") and \
                parse(before) is None:
            p = f"{before.strip(' ,;.:-')}, {p}"  # "X got cancelled, that must go back in": say what "that" is
        out.append(Unplaced(words=p, kind="request", why="not something I can do on the gateway"))
    return out


def _context_of_the_operation(p: str, before: str, match: str) -> bool:
    """A piece beside an operation that is that operation's (:func:`_beside_the_operation`), or the complement of a
    want said in the piece before it ("der Kunde will nicht, | dass die Nachbarn es sehen")."""
    return _beside_the_operation(p, match) or bool(
        _ITS_COMPLEMENT.match(p) and (_THEIR_OWN.match(before) or _WANTS_OUTCOME.match(before)))


def _beside_the_operation(p: str, match: str) -> bool:
    """A piece beside an operation that is that operation's, not another request: the operation asked for again by
    a pronoun ("… 9.9.9.9 et 149.112.112.112, tu peux les mettre ?"), or why it is wanted ("passe l'intervalle à
    900 s, on veut qu'elle remonte plus souvent")."""
    if _DO_IT.search(p) and len(p.split()) <= 7:
        return True
    if _THEIR_OWN.match(p) or _WANTS_OUTCOME.match(p) or _THEIR_OWN_ES.match(p):
        return True  # "le client veut se connecter à sa caméra", "il veut pas qu'elle émette pour rien": context
    at = match.find(p)
    return bool(_WANT_THAT.match(p)) and bool(_MORE_OR_LESS.search(match[at:at + len(p) + 30] if at >= 0 else p))


@dataclass(frozen=True)
class _Pieces:
    """A message cut into pieces for :func:`_unplaced_requests`, with what every piece is judged against."""

    core: str
    match: str
    text: str
    pieces: list[str]
    context: str
    named_object: str
    requested: bool
    lead: str
    lead_imperative: bool
    lang: str
    has_op: bool

    @classmethod
    def of(cls, core: str, match: str, named: list[str], lang: str, has_op: bool) -> _Pieces:
        text = _LIST.sub(" ; ", OFF_AND_ON.sub("power-cycle", core))
        pieces = [x.strip(" ,;.:-") for x in _PIECE.split(text) if x and x.strip(" ,;.:-")]
        lead = next((x for x in pieces if len(re.findall(r"[^\W\d_]{2,}", x)) >= 2), "")
        return cls(core=core, match=match, text=text, pieces=pieces, context=_without_numbers(" ".join(named)),
                   named_object=clauses.object_words(core),
                   requested=any(clauses.act_of(x) == "request" or _DEMAND.search(x) for x in pieces), lead=lead,
                   lead_imperative=bool(parse(lead) is not None or classify(lead) in _OPERATIONS
                                        or _DEMAND.search(lead)), lang=lang, has_op=has_op)


def _placed(p: str, raw: str, kind: Intent, cx: _Pieces) -> bool:
    """The piece is placed: an operation, part of one, what to leave alone, the scope — or nothing is left."""
    if parse(p) is not None or kind in _OPERATIONS or (_BARE_TO.search(to_value(p)) and _AIRISH.search(cx.match)):
        return True  # an operation: drafted, or named as deferred
    if _contributes(cx.core, raw):
        return True  # part of the operation the whole message asks for ("… Bitte vom Modem aus messen")
    if cx.context and (parse(f"{cx.context} {p}") is not None or classify(f"{cx.context} {p}") in _OPERATIONS):
        return True  # the operation on what a condition names
    if cx.named_object and (clauses.PRONOUN_OBJECT.search(p) or clauses.ADDRESS.search(p)) and parse(
            f"{cx.named_object} {p}") is not None:
        return True  # "… and switch it on": a second operation on the object named, deferred (``clauses``)
    if _KEEP.search(p) and (targets.bands_in(p) or targets.role_in(p)):
        return True  # what to leave alone: an exclusion
    if _REST_KEPT.search(p):
        return True  # "and leave everything else": nothing else is touched anyway
    if scope.find(p).kind != "this_device" or _THIS_ONLY.search(p):
        return True  # "… and on every CGW-3400 in the UK as well", "only this customer's box": the scope
    return not _content_words(p)  # "aber bitte nur": what is left of a clause once its condition was taken out


_REST_KEPT = re.compile(r"\b(leave|keep|don'?t touch|do not touch)\s+(everything|anything|all)\s+(else|other)\b|"
                        r"\b(leave|keep)\s+the rest\b", _I)


def _not_a_request(p: str) -> bool:
    """A question, a negation or a report — unless it is a wish ("que …") or a modal demand ("can you …")."""
    act = clauses.act_of(p)
    jussive = bool(_JUSSIVE.match(p)) and not _CAUSAL_QUE.match(p)
    return act in ("question", "negation", "report") and not jussive and not (
        act == "question" and _DEMAND.search(_MODAL_LEAD.sub("", p)))


def _asks(p: str, raw: str, cx: _Pieces) -> bool:
    """The piece asks for something (and is not "fix it", which is the diagnosis's)."""
    asks = _asks_by_form(p, cx.lang) or _asks_beside(p, raw, cx)
    short_fix = bool(_GENERIC.search(p)) and len(p.split()) <= 5 and re.search(
        r"\b(it|this|that|das|es|ça|le|la|lo|eso|esto|ihn|sie)\b", p, _I) is not None
    # not asking: a description or a reason (context for the diagnosis), or "fix it" (the diagnosis)
    return asks and not _FIX_IT.search(p) and not short_fix and not _ASIDE.match(p)


def _asks_by_form(p: str, lang: str) -> bool:
    """A request by its own form: a modal or polite request, a wish ("que …"), a verb of doing first, an
    obligation ("das muss wieder rein"), a Spanish clitic imperative ("cámbiale")."""
    if clauses.act_of(p) == "request":
        return True
    if _CAUSAL_QUE.match(p) is None and (_JUSSIVE.match(p) or _DEMAND.search(p)):
        return True
    if _OBLIGED.search(p) and not _EPISTEMIC.search(p):
        return True
    return lang == "es" and bool(_CLITIC_ES.search(p))


def _asks_beside(p: str, raw: str, cx: _Pieces) -> bool:
    """A request by its place beside another: a conjunct opening with its own verb next to an imperative
    ("set dns to 8.8.8.8 and whitelist her VPN"), a German infinitive in a list of them."""
    joined_by = cx.text[:max(0, cx.text.find(raw))]
    conjunct = bool(re.search(r"(\b(and|und|et|y|e|plus|then|dann|puis|luego|n)|[+&])\s*$", joined_by, _I))
    if (cx.has_op and cx.lead_imperative and raw is not cx.lead and len(p.split()) >= 2 and conjunct
            and _verb_first(p) and not _GENERIC.match(p) and not _like_words(joined_by, p)):
        return True
    # "…, Festnetznummer portieren lassen": a list of infinitives; "…, die Enkel kommen" has a subject
    coordinated = bool(re.search(r"\b(und|sowie)\s*$", joined_by, _I)) or (
        joined_by.rstrip().endswith(",") and _no_subject(p))
    return (cx.lang == "de" and (cx.requested or cx.lead_imperative) and coordinated
            and bool(_GERMAN_INFINITIVE_END.search(p)) and not re.search(r"\b(nicht|kein\w*|nie)\b", p, _I))


def _network_work(p: str, kind: Intent, cx: _Pieces) -> bool:
    """A request the planner handles as the network's: a problem to diagnose, an escalation when nothing
    else is asked, a generic "sort that out" about the problem described."""
    purpose = _PURPOSE.sub("", p)  # "… so it stops dropping": why, not what
    about_network = bool(_NETWORKY.search(purpose)) and not _TRANSACTION.search(p) and not (
        FOREIGN_ACCOUNT.search(purpose))
    if kind in _SYMPTOMS and about_network:
        return True  # a problem with the network to diagnose ("make the wifi faster", "fix the signal upstairs")
    if kind is Intent.UNSUPPORTED and not cx.has_op:
        return True  # an escalation (a firmware upgrade, a factory reset asked for on its own)
    if about_network and (_GENERIC.search(p) or kind is not Intent.UNKNOWN):
        return True
    return bool(_GENERIC.search(p)) and not cx.has_op  # "… can you sort that out": the problem, to diagnose


# "only this customer's box", "nur bei diesem Kunden", "seulement sa box", "solo este router": this gateway alone
_THIS_ONLY = re.compile(r"\b(only|just|nur|seulement|juste|uniquement|solo|sólo|solamente|únicamente)\s+"
                        r"(this|that|her|his|their|the customer'?s?|diese\w*|bei (diesem|dieser|ihm|ihr)|cette|ce|sa|"
                        r"son|leur|este|esta|su)\b", _I)


def _like_words(before: str, piece: str) -> bool:
    """The words either side of "and" share an ending ("montante et descendante", "upload and download"):
    two of a kind coordinated inside one phrase, not a second request."""
    head = re.sub(r"(\b(and|und|et|y|e|plus|then|dann|puis|luego|n)|[+&])\s*$", "", before.rstrip(), flags=_I)
    last = re.findall(r"[^\W\d_]+", head.lower())[-1:]
    first = re.findall(r"[^\W\d_]+", piece.lower())[:1]
    return bool(last and first and len(last[0]) > 4 and len(first[0]) > 4 and last[0][-4:] == first[0][-4:])


def _no_subject(piece: str) -> bool:
    """The piece does not open with an article or a pronoun (a German infinitive clause has no subject)."""
    first = re.match(r"\W*([^\W\d_][\w-]*)", piece)
    return first is not None and first.group(1).lower() not in _NOT_A_VERB


def _verb_first(piece: str) -> bool:
    """The piece opens with a word that is no subject, article, possessive or number — in a conjunct
    beside an imperative, a verb."""
    first = re.match(r"\W*([^\W\d_][\w-]*)", piece)  # "she'll" → "she"
    return first is not None and first.group(1).lower() not in _NOT_A_VERB and not first.group(1)[0].isupper()


_NOT_A_VERB = frozenset([
    "i", "you", "he", "she", "it", "we", "they", "me", "him", "her", "us", "them", "this", "that", "these", "those",
    "there", "here", "the", "a", "an", "my", "your", "his", "its", "our", "their", "customer", "client", "user",
    "caller", "kid", "kids", "son", "daughter", "wife", "husband", "everything", "nothing", "something", "all",
    "both", "ich", "du", "er", "sie", "es", "wir", "ihr", "man", "der", "die", "das", "ein", "eine", "einen", "dem",
    "den", "des", "mein", "meine", "sein", "seine", "ihre", "unser", "kunde", "kundin", "alles", "nichts", "je",
    "tu", "il", "elle", "on", "nous", "vous", "ils", "elles", "le", "la", "les", "un", "une", "des", "mon", "ma",
    "mes", "son", "sa", "ses", "leur", "leurs", "ce", "cette", "ces", "client", "cliente", "tout", "rien", "yo",
    "tú", "él", "ella", "nosotros", "ellos", "ellas", "el", "los", "las", "uno", "una", "mi", "mis", "su", "sus",
    "nuestro", "cliente", "todo", "nada", "also", "too", "nobody", "niemand", "personne", "nadie", "c",
    # a conjunct that opens with its negation says what is not to happen ("… y no quiere cortes")
    "no", "not", "nicht", "kein", "keine", "ne", "pas", "nunca", "never", "jamais", "ni", "nor"])
# A reason or an aside beside the request, never a request of its own: "… et c'est parce que le voisin squatte le
# 36", "… and that's because …", "… und zwar weil …", "… y es porque …", "… et de toute façon …"
_ASIDE = re.compile(r"^\W*(?:(?:c'est|c’est|that's|that is|it's|it is|this is|das ist|es ist|zwar|es|ist)\s+)?"
                    r"(?:parce que|parce qu'|because|'?cause|since|weil|denn|porque|ya que|puesto que|car|puisque|"
                    r"vu que)(?:\b|(?<=')|$)|"
                    # a filler alone ("… et de toute façon"); "anyway he wants wifipass = …" is a request
                    r"^\W*(?:de toute (?:façon|manière)|anyway|anyhow|sowieso|ohnehin|de todas (?:formas|maneras))\W*$",
                    _I)
# An obligation is a request ("das muss wieder rein", "it has to go back on", "il faut le remettre").
# ... said of "that", of the agent, or impersonally — not of a device ("Laptop muss sich neu verbinden").
_OBLIGED = re.compile(r"^\W*((das|that|this|it|es|dies|ça|cela|eso|esto|you|du|ihr|sie|we|wir|man|tu|vous|on)\s+"
                      r"(\w+\s+)?(muss|müssen|has to|have to|needs? to|must|doit|doivent|tienes que|tiene que|debe)|"
                      r"il faut|faut|hay que|man muss)\b", _I)
_EPISTEMIC = re.compile(r"\b(must have|muss (wohl|doch|ja)|doit avoir|debe de|has to be (the|a)|must be (the|a))\b",
                        _I)
_PURPOSE = re.compile(r"\b(so( that)?|damit|sodass|so dass|pour que|pour qu'|afin que|afin de|para que)\b.*$", _I)
_ANAPHOR = re.compile(r"^\W*(that|this|it|das|es|dies|ça|cela|ceci|eso|esto|lo)\b", _I)


_FIX_IT = re.compile(r"^\W*(please\s+|pls\s+|bitte\s+|can you\s+)?(fix|sort|solve|repair|handle|check|look at|"
                     r"correct|beheb\w*|reparier\w*|répare\w*|règle\w*|arregl\w*|soluciona\w*)\s+(it|this|that|"
                     r"them|the problem|the issue|das|es|ça|le|la|lo|el problema|le problème|das problem)\b", _I)
# "que el técnico pase el jueves", "qu'il rappelle demain": a wish in the subjunctive (not "qu'est-ce que …")
# "on veut qu'elle remonte plus souvent", "der Kunde will, dass …", "we want it to …" beside an operation: its purpose
_WANT_THAT = re.compile(r"^\W*(on|nous|je|il|elle|le client|la cliente|we|i|they|the customer|der kunde|die kundin|"
                        r"wir|ich)\s+(veu\w*|voudr\w*|souhait\w*|want\w*|need\w*|will|möchte\w*|wollen)\s*,?\s+"
                        r"(qu|que|it to|them to|dass|das)\b", _I)
# What the customer wants to do themselves, or does not want ("he wants to reach his camera from work", "le client
# veut se connecter …", "il veut pas qu'elle émette pour rien", "der will die in seiner Kindersicherung eintragen",
# "el cliente quiere entrar desde fuera"): why a change or a read is asked, never a request of its own — but "he
# wants his Netflix unblocked", "on veut qu'il débloque …" ask for something done, and are still asked about
_SUBJECT = (r"(le client|la cliente|il|elle|ils|der kunde|die kundin|der|die|er|sie|el cliente|la clienta|él|ella|"
            r"the customer|the client|he|she|they|cust)")
# … but not a setting the customer wants changed on the gateway ("le client veut ouvrir un port sur son NAS")
_OURS = (r"(?!(ouvrir|open|öffnen|aufmachen|abrir|débloquer|unblock|freischalten|entsperren|desbloquear|bloquer|block|"
         r"sperren|bloquear|configurer|configure|einrichten|konfigurieren|configurar|activer|activate|aktivieren|activar|"
         r"changer|change|ändern|cambiar|mettre|set|setzen|poner|renommer|rename|umbenennen|renombrar)\b)")
_THEIR_OWN = re.compile(
    r"^\W*" + _SUBJECT + r"\s+("
    r"(ne\s+)?(veut|voudrait|veulent)\s+(pas|plus|jamais)\b|(ne\s+)?(veut|voudrait|veulent)\s+(se|s')\b|"
    r"(ne\s+)?(veut|voudrait|veulent)\s+(l'|le\s+|la\s+|les\s+)?" + _OURS + r"(?-i:[a-zéèêàç]+)(er|ir|re)\b|"
    r"(will|möchte|wollen)\s+(nicht|kein\w*)\b|(will|möchte|wollen)\b[^,;.]{0,40}\b" + _OURS + r"\w+(en|ern|eln)\s*$|"
    r"(no\s+)?(quiere|quieren|necesita)\s+(no\s+)?(se\s+|lo\s+|la\s+)?" + _OURS
    + r"\w+(ar|er|ir)(se|lo|la|le|les)?\b|"
    r"(doesn'?t|does not|don'?t|do not)\s+want\b|wants?\s+to\s+(?!have\b|get\b)" + _OURS + r"\w+|"
    r"no\s+(quiere|quieren)\s+que\b|"  # "… no quiere que la vean los vecinos": what is not wanted, a reason
    # a want whose object was a qualifier read apart ("elle veut pas de coupure en journée": the daytime)
    r"(ne\s+)?(veut|voudrait|veulent|wants?|will|möchte|quiere|quieren)(\s+(pas|plus|nicht|no|not))?\W*$)", _I)
# the complement of a want said in the piece before it ("der Kunde will nicht, | dass die Nachbarn es sehen")
_ITS_COMPLEMENT = re.compile(r"^\W*(dass|que|qu'|that)\b", _I)
# what the customer wants the operation for, beside it: "Kundin will mehr Reichweite", "she wants it to match her old
# router", "il veut plus de portée", "quiere más cobertura"
_WANTS_OUTCOME = re.compile(
    r"^\W*(?:" + _SUBJECT + r"|customer|client|kunde|kundin|cliente|clienta)\s+(?:will|möchte|wants?|would like|"
    r"veut|voudrait|quiere|querría|quería)\s+(?:(?:mehr|weniger|more|less|plus de|moins de|más|menos|max\w*|"
    r"volle\w*|full|better|bessere\w*|meilleure?|mejor)\b|(?:it|them)\s+to\s+(?:match|look|be|stay|fit|show|work|"
    r"sound)\b)", _I)
# ... in Spanish the subject is left out: "…, quiere fijarle una IP a la impresora"
_THEIR_OWN_ES = re.compile(r"^\W*(no\s+)?(quiere|quieren)\s+(no\s+)?(se\s+|lo\s+|la\s+)?" + _OURS
                           + r"\w+(ar|er|ir)(se|lo|la|le|les)?\b|"
                           r"^\W*no\s+(quiere|quieren)\b", _I)  # "… y no quiere cortes": what is not wanted
# a short "can you put them in?" beside an operation: that operation asked for again, its object the one named
_DO_IT = re.compile(r"\b(put|set|enter|apply|do|add)\s+(it|them|that|those)\b|\b(les|la|le)\s+(mettre|appliquer|"
                    r"faire|ajouter|rentrer)\b|\b(mets|applique|fais)-(les|la|le)\b|\bmach\s+(den|das|es|ihn|sie)\b|"
                    r"\b(die|sie|es|das)\s+(mal\s+)?"
                    r"(eintragen|setzen|übernehmen|machen|einstellen)\b|\b(ponerl[oa]s?|ponl[oa]s?|aplícal[oa]s?|"
                    r"cámbial[oa]s?|hazlo)\b", _I)
_MORE_OR_LESS = re.compile(r"\b(more|less|fewer|better|faster|slower|often|plus|moins|mieux|souvent|mehr|weniger|"
                           r"besser|öfter|häufiger|schneller|más|menos|mejor|menudo)\b", _I)
_JUSSIVE = re.compile(r"^\W*(que|qu')\s*(el|la|los|las|le|les|il|elle|ils|elles|on|un|une|se|lo|me|te|nos|alguien|"
                      r"quelqu'un)\b", _I)
# "que ahora hay gente trabajando", "que la clienta está sacando las facturas": "que" giving a reason — a
# finite indicative verb or a gerund, where a wish would take the subjunctive ("que el técnico pase").
_CAUSAL_QUE = re.compile(r"^\W*que\s+(?:(?:[^\W\d_]+|\d+(?:[.,]\d+)?(?:GHz)?)\s+){0,3}?"
                         r"(hay|está|están|estamos|estoy|es|son|era|eran|"
                         r"tiene|tienen|tengo|va|van|da|dan|lleva|llevan|anda|andan|sigue|siguen|puede|pueden|"
                         r"quiere|quieren|necesita|necesitan|ha|han|hemos|se\s+\w+a[n]?\b(?<!sea)|"
                         r"se mete|se meten|se cuela|se cuelan|llega|llegan|molesta|molestan|interfiere|"
                         r"\w+(?:ando|iendo))\b", _I)
_FILLER = re.compile(r"\b(please|pls|plz|bitte|svp|stp|por favor|thanks|thx|danke|merci|gracias|only|just|nur|"
                     r"seulement|juste|solo|sólo|solamente|but|aber|mais|pero|then|dann|puis|luego|ok|okay|also|"
                     r"auch|aussi|también|and|und|et|y|so|doch|mal|ja|einfach|really|vraiment|realmente)\b", _I)


def _content_words(piece: str) -> list[str]:
    """The words of ``piece`` that are not politeness, hedges or connectives."""
    return re.findall(r"[^\W\d_]{2,}", _FILLER.sub(" ", piece))


_MODAL_LEAD = re.compile(r"^\W*(can|could|would|will) (you|u|we)\s+(also\s+|please\s+)?", _I)
_SYMPTOMS = (Intent.WIFI, Intent.COVERAGE, Intent.CONNECTIVITY, Intent.INFORM, Intent.STATUS)


def _excepted(text: str) -> list[re.Match[str]]:
    """What an exception connector leaves out of the request ("except the 2.4 GHz band", "sauf la bande 2,4 GHz",
    "außer auf dem 2,4-GHz-Band", "excepto la red de invitados"), each match's ``what`` the words excluded.
    Found before the conditions are, so a bare "außer" is not read as "unless"; one followed by a verb of state
    ("außer das Gastnetz ist aus") is left to the conditions, where it is one."""
    return ([m for m in _EXCEPT.finditer(text) if not _STATE_VERB.match(text, m.end())]
            + [m for m in _BUT.finditer(text) if _COUNTED.search(text, 0, m.start())])  # the caller orders them


def _kept_off(text: str) -> list[re.Match[str]]:
    """What a negation or "leave"/"without" keeps out of the request ("not the guest network", "laisse le réseau
    des invités", "sin los invitados") — a negation only at the head of its phrase, where it is one; never the
    act's own negation ("do not reboot")."""
    return [m for m in _EXCLUDE.finditer(text) if not _negates_action(text, m) and _kept_as_is(m)
            and not _kept_at_a_value(text, m) and (
        not _NEGATION.fullmatch(m.group("by")) or not (m.group("prep") or m.group("noun"))
        or _PHRASE_HEAD.search(text, 0, m.start()))]


# "keep the guest network on / running / alone" keeps it as it is; "keep the 5 GHz on channel 36" asks for a value
_KEEP_STATE = re.compile(r"\b(on|running|enabled|alone|untouched|as it is)$", _I)


def _kept_as_is(m: re.Match[str]) -> bool:
    """A "keep" excludes only with the state it keeps ("keep the guest wifi running"); any other word excludes."""
    return m.group("by").lower() != "keep" or bool(_KEEP_STATE.search(m.group(0)))


# "lass das 5-GHz-Band auf Kanal 44", "deja el 2,4 en el canal 6": kept *at a value* — that value is the request
_AT_VALUE = re.compile(r"\s*(on|at|auf|bei|sur|en|a|à)\s+([^\W\d_]+\s+){0,3}?\d+", _I)


def _kept_at_a_value(text: str, m: re.Match[str]) -> bool:
    return m.group("by").lower().startswith(("keep", "leave", "lass", "laisse", "deja", "garde")) and bool(
        _AT_VALUE.match(text, m.end()))


def _negates_action(text: str, m: re.Match[str]) -> bool:
    """"not" in "do not reboot" or "pas" in "ne redémarre pas" is the act's negation, not an exclusion."""
    return bool(re.match(r"\s*(reboot|restart|change|touch|neu|red[ée]marr|reinici|cambi)", text[m.end():], _I))


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        for i in range(max(0, a), min(len(chars), b)):
            chars[i] = " "
    return "".join(chars)


def _squash(text: str) -> str:
    return re.sub(r"\s{2,}", " ", re.sub(r"\s+([,.;!?])", r"\1", text)).strip(" ,;")
