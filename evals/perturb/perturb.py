"""One field of a correct model answer changed the way a model errs.

Each perturbation changes the model's reading *and* its draft consistently — a model that misreads
the band also drafts on that band — so the guard cannot lean on the model contradicting itself.
Only perturbations that apply to a case are made (no condition to drop, no perturbation of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from brain.understanding.request import Band, Request, Scope, SsidRole, Target
from evals.perturb.cases import Case, Gateway, correct_request, draft

FIELDS = ("condition", "time", "scope", "band", "role", "value", "path", "secret", "act")
_NO_BAND = ("reboot", "dns", "inform_interval")  # actions on the whole gateway
_OPPOSITE = {"empty": "nonempty", "nonempty": "empty", "eq": "ne", "ne": "eq", "gt": "lt", "lt": "gt"}
_INVENTED = {"Channel": "ChannelNumber", "OperatingChannelBandwidth": "ChannelWidth", "TransmitPower": "TxPowerLevel",
             "Enable": "Enabled", "SSID": "NetworkName", "KeyPassphrase": "WPAKey", "DNSServer": "Server",
             "PeriodicInformInterval": "InformPeriod", "AutoChannelEnable": "AutoChannel"}


@dataclass(frozen=True)
class Answer:
    """A model's final tool call: ``propose_change`` (or ``respond``) arguments."""

    field: str  # "control" or one of FIELDS
    kind: str
    arguments: dict[str, Any]
    tool: str = "propose_change"

    def step(self) -> dict[str, Any]:
        return {"tool_calls": [{"name": self.tool, "arguments": self.arguments}]}


def control(case: Case, gw: Gateway, now: datetime, zone: ZoneInfo) -> Answer:
    """The correct answer: the case's request and its draft (a question: an answer, no change)."""
    req = correct_request(case, now, zone)
    if case.act == "question":
        return Answer("control", "correct", {"kind": "question", "text": "Which of these do you want changed?"},
                      tool="respond")
    changes, ops = draft(case, gw)
    return Answer("control", "correct", _args(case, req, changes, ops))


def perturbations(case: Case, gw: Gateway, now: datetime, zone: ZoneInfo) -> list[Answer]:
    req = correct_request(case, now, zone)
    if case.act == "question":
        return _question(case, gw, req)
    changes, ops = draft(case, gw)
    out: list[Answer] = []
    for c in case.cond:
        rest = [x for x in req.conditions if x is not c]
        out.append(_answer(case, "condition", "dropped", req.model_copy(update={"conditions": rest}), changes, ops))
        flipped = c.model_copy(update={"expect": _OPPOSITE[c.expect]})
        out.append(_answer(case, "condition", "inverted",
                           req.model_copy(update={"conditions": [*rest, flipped]}), changes, ops))
        break  # one condition per case is enough to perturb
    if req.schedule is not None:
        out.append(_answer(case, "time", "now", req.model_copy(update={"schedule": None, "immediate": True}),
                           changes, ops))
    out += _scope(case, gw, req)
    out += _band_and_role(case, gw, req)
    if case.first is not None:
        values = {**req.values, "value": case.first}
        c2, o2 = draft(case, gw, value=case.first)
        out.append(_answer(case, "value", "first_of_corrected", req.model_copy(update={"values": values}), c2, o2))
    if changes:
        invented = [{**c, "path": _invent(c["path"])} for c in changes]
        out.append(_answer(case, "path", "invented", req, invented, ops))
    if case.old_secret is not None:
        values = {**req.values, "passphrase": f"[secret:{case.old_secret}]"}
        c2, o2 = draft(case, gw, secret=case.old_secret)
        out.append(_answer(case, "secret", "swapped", req.model_copy(update={"values": values}), c2, o2))
    return out


def _scope(case: Case, gw: Gateway, req: Request) -> list[Answer]:
    fleet = Scope(kind="fleet", all_devices=True, words="every gateway")
    out = [_answer(case, "scope", "other_gateways", req.model_copy(update={"scope": fleet}), *draft(case, gw))]
    others = [b for b in gw.radios if b not in case.bands]
    if case.bands and others and case.action not in _NO_BAND:
        out += _retarget(case, gw, req, "scope", "wider", bands=[*case.bands, *others])
    if len(case.bands) > 1:
        out += _retarget(case, gw, req, "scope", "narrower", bands=case.bands[:1])
    return out


def _band_and_role(case: Case, gw: Gateway, req: Request) -> list[Answer]:
    out = []
    if len(case.bands) == 1 and case.action not in _NO_BAND:
        both: tuple[Band, ...] = ("5GHz", "2.4GHz")
        other: list[Band] = [b for b in both if b != case.bands[0] and b in gw.radios][:1]
        if other:
            out += _retarget(case, gw, req, "band", "wrong", bands=other)
    if case.action in ("ssid", "passphrase", "ssid_enable"):
        role: SsidRole = "primary" if case.role == "guest" else "guest"
        out += _retarget(case, gw, req, "role", "wrong", role=role)
    return out


def _retarget(case: Case, gw: Gateway, req: Request, field: str, kind: str, *, bands: list[Band] | None = None,
              role: SsidRole | None = None) -> list[Answer]:
    """The answer with its reading and its draft moved to other bands or another network — when that
    changes the draft (a guest network on no such band is no perturbation)."""
    changes, ops = draft(case, gw, bands=bands, role=role)
    if not changes or changes == draft(case, gw)[0]:
        return []
    update = {"bands": bands} if bands is not None else {"ssid_role": role}
    target = req.target.model_copy(update=update)
    return [_answer(case, field, kind, req.model_copy(update={"target": target}), changes, ops)]


def _question(case: Case, gw: Gateway, req: Request) -> list[Answer]:
    if case.propose is None:
        return []
    p = case.propose
    fake = Case(id=case.id, lang=case.lang, msg=case.msg, action=p.action, value=p.value, bands=p.bands)
    changes, ops = draft(fake, gw)
    as_change = Request(act="change", action=p.action, values={"value": p.value},
                        target=Target(bands=list(p.bands), words=req.target.words))
    return [_answer(fake, "act", "question_as_change", as_change, changes, ops)]


def _answer(case: Case, field: str, kind: str, req: Request, changes: list[dict[str, Any]],
            ops: list[dict[str, Any]]) -> Answer:
    return Answer(field, kind, _args(case, req, changes, ops))


def _args(case: Case, req: Request, changes: list[dict[str, Any]], ops: list[dict[str, Any]]) -> dict[str, Any]:
    args: dict[str, Any] = {"intent": f"{case.action or 'change'} as asked",
                            "request": req.model_dump(mode="json", exclude_defaults=True)}
    args["request"]["act"] = req.act
    if changes:
        args["changes"] = changes
    if ops:
        args["operations"] = ops
    return args


def _invent(path: str) -> str:
    head, _, leaf = path.rpartition(".")
    return f"{head}.{_INVENTED.get(leaf, leaf + 'Value')}"

