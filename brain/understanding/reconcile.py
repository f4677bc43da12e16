"""Two readings of one message — the offline parser's and a model's — made into one request.

Why a guard and not a gate: the model reads the whole message (it places words the parser's lexicon
lacks), the parser reads a fixed set of qualifiers reliably. Neither may drop what the other saw,
and neither may quietly overrule the other where they disagree. Field by field:

* **found by one reader only** — a time, a condition, a band or network limit, an exclusion, a
  value, other gateways, an unplaced part — is kept: a model that answers "now" never overrides the
  parser's "tonight", a value only the parser read is not dropped. A qualifier only the *model*
  found must be grounded: its ``words`` occur in the message (else the model invented it and the
  agent is asked);
* **found by both, the same** — kept once;
* **found by both, different** — the agent is asked, naming both readings (two times, two bands,
  two networks, a condition and its opposite, two values, two actions, a question read as a change,
  this gateway read as others). One exception: two values where the message itself corrects the
  first ("40 … sorry, 44") — the later one is what was asked.

Everything a disagreement produces is an :class:`Unplaced` part, so the one checker
(``checker.question``) asks and nothing is drafted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from brain.understanding.request import (
    Act,
    Action,
    Band,
    Condition,
    Reference,
    Request,
    Schedule,
    Scope,
    SsidRole,
    Target,
    Unplaced,
)
from brain.understanding.targets import ROLE_WORDS
from core.kernel.models import Scalar

_WHICH = "read two ways — which one is meant?"
# Words that take back what was just said inside one message (EN/DE/FR/ES).
_CORRECTION = re.compile(
    r"\b(sorry|i mean|i meant|no wait|actually|rather|make (it|that)|correction|scratch that|ich meine|nein|"
    r"eher|lieber|doch|pardon|plutôt|je veux dire|enfin|non|perdón|perdon|quiero decir|mejor|digo)\b|\bno\s*,",
    re.IGNORECASE)
_OPPOSITE = {"empty": "nonempty", "nonempty": "empty", "eq": "ne", "ne": "eq", "gt": "lt", "lt": "gt"}


def reconcile(offline: Request | None, model: Request | None, message: str = "") -> Request | None:
    """One request from the two readings of ``message`` (see the module docstring). Either reading
    may be missing; then the other is the request."""
    if model is None or offline is None:
        return model or offline
    asks: list[Unplaced] = []
    act, action = _act_and_action(offline, model, asks)
    values = _values(offline, model, message, asks)
    schedule, immediate = _schedule(offline, model, message, asks)
    update: dict[str, object] = {
        "source": "model", "act": act, "action": action, "values": values,
        "servers": _servers(offline, model, asks), "schedule": schedule, "immediate": immediate,
        "conditions": _conditions(offline, model, message, asks), "target": _target(offline, model, message, asks),
        "scope": _scope(offline, model, asks),
        "exclusions": list(dict.fromkeys([*model.exclusions, *offline.exclusions])),
        "refers_to": _refers_to(offline, model),
    }
    seen = {u.words for u in model.unplaced}
    update["unplaced"] = [*model.unplaced, *(u for u in offline.unplaced if u.words not in seen), *asks]
    return model.model_copy(update=update)


def _refers_to(offline: Request, model: Request) -> Reference | None:
    """What the message does to the turn before: the model's reading, except that a change "beside" the waiting
    draft — which keeps that draft and drafts another — stands only when the other reading does not call the
    message a correction of it (then the draft is amended, and no second one is made)."""
    ref = model.refers_to or offline.refers_to
    if ref is not None and ref.kind == "beside":
        other = offline.refers_to if ref is model.refers_to else model.refers_to
        if other is not None and other.kind == "correct":
            return other
    return ref


# ---------------------------------------------------------------------------- what is asked
def _act_and_action(offline: Request, model: Request, asks: list[Unplaced]) -> tuple[Act, Action | None]:
    if model.act == "change" and offline.act in ("question", "acknowledge"):
        asks.append(Unplaced(words="a question or a change", kind="request",
                             why=f"I read it as a{'n acknowledgement' if offline.act == 'acknowledge' else ' question'}"
                                 f", the model as a change{_to(model.action)} — a question is never a change"))
        return "change", None  # asked about (the checker asks only about a change), never drafted
    if offline.action and model.action and offline.action != model.action:
        asks.append(Unplaced(words=f"{offline.action} or {model.action}", kind="request",
                             why=f"what is asked was {_WHICH} I read {offline.action}, the model read {model.action}"))
        return model.act, None
    if offline.action and not model.action:
        return ("change" if offline.act == "change" else model.act), offline.action
    return model.act, model.action or offline.action


def _to(action: str | None) -> str:
    return f" ({action})" if action else ""


def _values(offline: Request, model: Request, message: str, asks: list[Unplaced]) -> dict[str, Scalar]:
    out = dict(model.values)
    for key, value in offline.values.items():
        if key not in out:
            out[key] = value  # a value only the parser read is kept
            continue
        if _same(out[key], value):
            continue
        later = _corrected(message, value, out[key])
        if later is not None:
            out[key] = later
            continue
        asks.append(Unplaced(words=f"{value} or {out[key]}", kind="value",
                             why=f"the {key} was {_WHICH} I read {value}, the model read {out[key]}"))
        out[key] = value
    later = _taken_back(message, out.get("value"))
    if later is not None:  # both readers kept a value the message itself corrects ("75 %, perdón, 50 %")
        asks.append(Unplaced(words=f"{out['value']} or {later}", kind="value",
                             why=f"the message seems to correct {out['value']} to {later} — which one?"))
    return out


def _taken_back(message: str, value: Scalar | None) -> str | None:
    """The number that follows a correction of ``value`` in the message ("40 … sorry, 44"), if any."""
    if value is None or isinstance(value, bool) or not message:
        return None
    for m in re.finditer(rf"(?<![\w.]){re.escape(str(value))}(?![\w])", message):
        tail = message[m.end():m.end() + 48]
        fix = _CORRECTION.search(tail)
        if fix is None:
            continue
        number = re.search(r"(?<![\w.])\d+(?:[.,]\d+)?", tail[fix.end():])
        if number is not None and not _same(number.group(0).replace(",", "."), value):
            return number.group(0)
    return None


def _servers(offline: Request, model: Request, asks: list[Unplaced]) -> list[str]:
    if offline.servers and model.servers and [s.strip() for s in offline.servers] != [s.strip() for s in model.servers]:
        asks.append(Unplaced(words=f"{', '.join(offline.servers)} or {', '.join(model.servers)}", kind="value",
                             why=f"the DNS servers were {_WHICH}"))
    return offline.servers or model.servers


def _same(a: Scalar, b: Scalar) -> bool:
    return _norm(a) == _norm(b)


def _norm(v: Scalar) -> object:
    if isinstance(v, bool):
        return v
    try:
        return float(str(v).strip().rstrip("%"))
    except ValueError:
        return str(v).strip()


def _corrected(message: str, first: Scalar, second: Scalar) -> Scalar | None:
    """The later of two values when the message says one and then corrects it ("40 … sorry, 44")."""
    if not message:
        return None
    spots = {}
    for v in (first, second):
        hits = [m.start() for m in re.finditer(rf"(?<![\w.]){re.escape(str(v))}(?![\w])", message)]
        if not hits:
            return None
        spots[hits[-1]] = v
    a, b = sorted(spots)
    if a == b or not _CORRECTION.search(message[a:b]):
        return None
    return spots[b]


# ---------------------------------------------------------------------------- qualifiers
def _schedule(offline: Request, model: Request, message: str,
              asks: list[Unplaced]) -> tuple[Schedule | None, bool]:
    a, b = offline.schedule, model.schedule
    if a is not None and b is not None and a.not_before != b.not_before:
        zone = _zone(a.zone)
        asks.append(Unplaced(words=f"{_at(a.not_before, zone)} or {_at(b.not_before, zone)}", kind="time",
                             why=f"the time was {_WHICH} I read “{a.words}” as {_at(a.not_before, zone)}, the "
                                 f"model as {_at(b.not_before, zone)}"))
    if a is not None:
        return a, False  # a "now" from the model never overrides a time the parser read
    if b is not None:
        if not _grounded(b.words, message):
            asks.append(Unplaced(words=b.words or "a time", kind="time",
                                 why="the model read a time the message does not say"))
        return b, False
    return None, offline.immediate or model.immediate


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def _at(when: datetime, zone: ZoneInfo) -> str:
    return f"{when.astimezone(zone):%a %H:%M}"


def _conditions(offline: Request, model: Request, message: str, asks: list[Unplaced]) -> list[Condition]:
    def key(c: Condition) -> tuple[str, str, object, str | None]:
        return c.fact, c.expect, None if c.value is None else _norm(c.value), c.band

    parsed = {key(c): c for c in offline.conditions}
    out = list(offline.conditions)
    for c in model.conditions:
        k = key(c)
        if k in parsed:
            continue
        opposite = (k[0], _OPPOSITE[k[1]], k[2], k[3])
        if opposite in parsed:
            asks.append(Unplaced(words=c.words or parsed[opposite].words, kind="condition",
                                 why=f"the condition was {_WHICH} I read “{parsed[opposite].words}” one way, the "
                                     "model read it the opposite way"))
            continue
        if not _grounded(c.words, message):
            asks.append(Unplaced(words=c.words or c.fact, kind="condition",
                                 why="the model read a condition the message does not say"))
            continue
        same_words = next((p for p in offline.conditions if _overlap(p.words, c.words)), None)
        if same_words is not None:  # one clause, two checks: which one does it mean?
            asks.append(Unplaced(words=c.words, kind="condition",
                                 why=f"the condition was {_WHICH} I read “{same_words.words}” as a check on "
                                     f"{same_words.fact} ({same_words.expect}), the model as {c.fact} ({c.expect})"))
            continue
        out.append(c)  # a condition only the model read: kept, the stricter request
    return out


def _overlap(a: str, b: str) -> bool:
    """Two readers' words for a condition name the same clause (most of the shorter one's words)."""
    ta, tb = set(_tokens(a)), set(_tokens(b))
    small = min(len(ta), len(tb))
    return small > 0 and len(ta & tb) * 2 > small


def _target(offline: Request, model: Request, message: str, asks: list[Unplaced]) -> Target:
    a, b = offline.target, model.target
    bands = list(a.bands)
    if a.bands and b.bands and set(a.bands) != set(b.bands):
        asks.append(Unplaced(words=f"{' and '.join(a.bands)} or {' and '.join(b.bands)}", kind="target",
                             why=f"the band was {_WHICH} I read {' and '.join(a.bands)}, the model read "
                                 f"{' and '.join(b.bands)}"))
    elif b.bands and not a.bands:
        if _names_bands(b.bands, b.words, message):
            bands = list(b.bands)
        else:
            asks.append(Unplaced(words=" and ".join(b.bands), kind="target",
                                 why="the model limited it to a band the message does not name"))
    role = a.ssid_role
    if a.ssid_role and b.ssid_role and a.ssid_role != b.ssid_role:
        asks.append(Unplaced(words=f"the {a.ssid_role} or the {b.ssid_role} network", kind="target",
                             why=f"the network was {_WHICH} I read {a.ssid_role}, the model read {b.ssid_role}"))
    elif b.ssid_role and not a.ssid_role and b.ssid_role != "primary":  # no network named means the primary
        if _names_role(b.ssid_role, b.words, message, offline.exclusions):
            role = b.ssid_role
        else:
            asks.append(Unplaced(words=f"the {b.ssid_role} network", kind="target",
                                 why="the model named a network the message does not name"))
    return Target(bands=bands, ssid_role=role, words=a.words or b.words)


_BAND_NUMERAL = {"2.4GHz": re.compile(r"(?<!\d)2[.,]?4(?!\d)"), "5GHz": re.compile(r"(?<![\d.,])5(?![\d.,])"),
                 "6GHz": re.compile(r"(?<![\d.,])6(?![\d.,])")}
_BOTH = re.compile(r"\b(both|beide\w*|deux|dos|ambas|ambos)\b", re.IGNORECASE)
_EVERY = re.compile(r"\b(all|alle\w*|tou(te)?s|todas|todos)\b", re.IGNORECASE)


def _names_bands(bands: list[Band], words: str, message: str) -> bool:
    """The model's words for its bands name them: each band's number, "both" for two, "all" for
    several (never one band, or three, from "both bands"), and the words are the message's."""
    named = (all(_BAND_NUMERAL[b].search(words) for b in bands) or (len(bands) == 2 and _BOTH.search(words))
             or (len(bands) > 1 and not _BOTH.search(words) and _EVERY.search(words)))
    return bool(named) and _grounded(words, message)


def _names_role(role: SsidRole, words: str, message: str, exclusions: list[str]) -> bool:
    """The model's words for the network name that network (the role's own words, in the message, not
    inside something the agent said to leave alone)."""
    said = ROLE_WORDS[role].search(words)
    return (said is not None and _grounded(words, message)
            and not any(ROLE_WORDS[role].search(x) for x in exclusions))


def _scope(offline: Request, model: Request, asks: list[Unplaced]) -> Scope:
    a, b = offline.scope, model.scope
    if a.kind != "this_device":
        return a  # other gateways the parser read: never narrowed to this one
    if b.kind != "this_device":
        asks.append(Unplaced(words=b.words or b.kind, kind="scope",
                             why="I read it as about this gateway, the model as about other gateways — which?"))
    return a


# ---------------------------------------------------------------------------- grounding
_TOKEN = re.compile(r"\w+", re.UNICODE)


def _grounded(words: str, message: str) -> bool:
    """Whether the words a model says a qualifier came from are in the message (each word of two or
    more characters, in any order). Empty words cannot be checked, and are not grounded."""
    said = set(_tokens(message))
    wanted = [t for t in _tokens(words) if len(t) > 1 or t.isdigit()]
    return bool(wanted) and all(t in said for t in wanted)


def _tokens(text: str) -> Iterable[str]:
    return (t.casefold() for t in _TOKEN.findall(text.replace("GHz", " GHz").replace("ghz", " ghz")))
