"""The harness's messages and, for one device, the correct model answer to each.

A case says what was asked in a few fields (the action, its value, the bands, the network, the time,
the conditions, what a correction replaced); :func:`correct_request` turns it into the typed request a
model should fill, and :func:`draft` into the parameter changes (or operations) it should propose on
a given gateway — read from that gateway's own radios and SSIDs.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field

from brain import roles
from brain.understanding.request import Action, Band, Condition, Request, Schedule, SsidRole, Target
from core.kernel.models import Scalar

MESSAGES = Path(__file__).resolve().parent / "messages.yaml"
_RADIO_LEAF = {"channel": "Channel", "width": "OperatingChannelBandwidth", "power": "TransmitPower",
               "band_enable": "Enable"}
_BAND_WORDS = {"2.4GHz": r"2[.,]4(\s*-?\s*GHz)?", "5GHz": r"\b5(\s*-?\s*GHz)?\b", "6GHz": r"\b6(\s*-?\s*GHz)?\b"}
_ROLE_WORDS = {"guest": r"gast\w*|gäste\w*|guest\w*|invit\w*", "primary": r"main\w*|haupt\w*|principal\w*"}


class Proposed(BaseModel):
    """What an erring model proposes for a question."""

    model_config = ConfigDict(extra="forbid")
    action: Action
    value: Scalar
    bands: list[Band] = Field(default_factory=list)


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    lang: Literal["en", "de", "fr", "es"]
    msg: str
    act: Literal["change", "question"] = "change"
    action: Action | None = None
    value: Scalar | None = None
    ssid: str | None = None
    secret: int | None = Field(default=None, description="the placeholder index of the new passphrase")
    old_secret: int | None = None
    servers: list[str] = Field(default_factory=list)
    bands: list[Band] = Field(default_factory=list)
    role: SsidRole | None = None
    target_words: str | None = Field(default=None, description="the words naming the bands/network, when not "
                                                                  "a band's number (e.g. 'both bands')")
    at: str | None = Field(default=None, description="HH:MM local: the next such time (or tomorrow's)")
    day: Literal["next", "tomorrow"] = "next"
    when: str = Field(default="", description="the words of the time")
    cond: list[Condition] = Field(default_factory=list)
    excl: list[str] = Field(default_factory=list)
    first: Scalar | None = Field(default=None, description="the value a correction in the message replaced")
    propose: Proposed | None = None


def load(path: Path = MESSAGES) -> list[Case]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    cases = [Case.model_validate(x) for x in raw]
    ids = [c.id for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate case ids in {path}: {sorted(dupes)}")
    return cases


def not_before(case: Case, now: datetime, zone: ZoneInfo) -> datetime | None:
    if case.at is None:
        return None
    hh, mm = (int(x) for x in case.at.split(":"))
    local = now.astimezone(zone)
    at = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if case.day == "tomorrow":
        at = (local + timedelta(days=1)).replace(hour=hh, minute=mm, second=0, microsecond=0)
    elif at <= local:
        at += timedelta(days=1)
    return at.astimezone(ZoneInfo("UTC"))


def correct_request(case: Case, now: datetime, zone: ZoneInfo) -> Request:
    """The typed request a model should fill for ``case`` (``words`` taken from the message)."""
    values: dict[str, Scalar] = {}
    if case.value is not None:
        values["value"] = case.value
    if case.ssid is not None:
        values["ssid"] = case.ssid
    if case.secret is not None:
        values["passphrase"] = f"[secret:{case.secret}]"
    at = not_before(case, now, zone)
    schedule = Schedule(not_before=at, zone=zone.key, words=case.when or case.at or "") if at else None
    return Request(act=case.act, action=case.action if case.act == "change" else None, values=values,
                   servers=list(case.servers), target=Target(bands=list(case.bands), ssid_role=case.role,
                                                             words=target_words(case)),
                   conditions=list(case.cond), schedule=schedule, exclusions=list(case.excl))


def target_words(case: Case) -> str:
    """The words of the message that name the bands and the network (a model quotes them)."""
    if case.target_words:
        return case.target_words
    found = []
    for band in case.bands:
        m = re.search(_BAND_WORDS[band], case.msg, re.IGNORECASE)
        if m:
            found.append(m.group(0))
    if case.role:
        m = re.search(_ROLE_WORDS.get(case.role, case.role), case.msg, re.IGNORECASE)
        if m:
            found.append(m.group(0))
    return " ".join(found)


class Gateway(BaseModel):
    """What the draft needs of a gateway: its radios by band, its SSIDs with band and role."""

    radios: dict[Band, int]
    ssids: list[tuple[int, str | None, str]]  # (index, band, role)


def draft(case: Case, gw: Gateway, *, action: Action | None = None, value: Scalar | None = None,
          bands: list[Band] | None = None, role: SsidRole | None = None,
          secret: int | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(changes, operations) a correct model proposes for ``case`` on ``gw``; the keyword arguments
    override the case (a perturbed answer's draft)."""
    act = action or case.action
    val = case.value if value is None else value
    bnds = case.bands if bands is None else bands
    if act == "reboot":
        return [], [{"command": "reboot"}]
    if act in _RADIO_LEAF:
        return _radio_changes(act, val, bnds, gw), []
    if act == "dns":
        return [{"path": f"Device.DNS.Client.Server.{k}.DNSServer", "value": s}
                for k, s in enumerate(case.servers, 1)], []
    if act == "inform_interval":
        return [{"path": "Device.ManagementServer.PeriodicInformInterval", "value": val}], []
    picked = [i for i, b, r in gw.ssids if r == ((case.role if role is None else role) or "primary")
              and (not bnds or b in bnds)]
    leaf_value = {"ssid": ("SSID.{i}.SSID", case.ssid), "ssid_enable": ("SSID.{i}.Enable", val),
                  "passphrase": ("AccessPoint.{i}.Security.KeyPassphrase",
                                 f"[secret:{case.secret if secret is None else secret}]")}.get(act or "")
    if leaf_value is None:
        return [], []
    leaf, v = leaf_value
    return [{"path": "Device.WiFi." + leaf.format(i=i), "value": v} for i in picked], []


def _radio_changes(act: str, val: Scalar | None, bands: list[Band], gw: Gateway) -> list[dict[str, Any]]:
    out = []
    for band in bands or list(gw.radios):
        i = gw.radios.get(band)
        if i is None:
            continue
        out.append({"path": f"Device.WiFi.Radio.{i}.{_RADIO_LEAF[act]}", "value": val})
        if act == "channel":
            out.append({"path": f"Device.WiFi.Radio.{i}.AutoChannelEnable", "value": False})
    return out


def gateway(values: dict[str, Any], radio_list: list[Any]) -> Gateway:
    """A :class:`Gateway` from a live read of ``Device.WiFi.`` (``brain.roles``)."""
    known = roles.ssids(values, radio_list)
    return Gateway(radios={r.band: r.index for r in radio_list if r.band in ("2.4GHz", "5GHz", "6GHz")},
                   ssids=[(s.index, s.band, s.role) for s in known])
