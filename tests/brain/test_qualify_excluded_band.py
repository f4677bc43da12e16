"""``brain.qualify``: a band the agent excluded is never written — not its radio, and not its networks.

A review found that "rename the guest wifi, but not on one band", drafted as a rename of *both* bands' guest
networks, was accepted: the check of an excluded band looked only at radio settings, and an SSID or access
point setting was judged by its role alone. A band is a radio, and every network on that radio (TR-181
``Device.WiFi.SSID.{i}.LowerLayers``) and its access point (``AccessPoint.{i}.SSIDReference``) is on that
band. These tests hold every SSID and access point setting to the band and network excluded, in the agent's
words (EN/DE/FR/ES, phrasings written for these tests) and as a model hands an exclusion over; where the band
or the role of what a draft writes cannot be told while an exclusion names one, nothing is drafted.

The gateway is a stand-in for what ``qualify`` reads of a ``ToolContext``: a TR-181 tree read live, in three
layouts — dual-band with the 2.4 GHz radio first, tri-band with the 5 GHz radio first, and one whose access
points name their SSIDs crosswise — so no index is assumed. Nothing here waits or needs a service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from brain import qualify
from brain.evidence import store as keep
from brain.plan import Plan
from brain.tools import call_tool
from brain.understanding import checker
from brain.understanding.offline import Context, understand
from brain.understanding.request import Request, Target
from core import localtime
from core.kernel.models import Change, ProposalDraft
from core.kernel.ports.errors import InvalidParameterName

NOW = datetime(2026, 11, 26, 14, 20, tzinfo=UTC)


@dataclass(frozen=True)
class Net:
    ssid: int  # Device.WiFi.SSID.{ssid}
    ap: int  # Device.WiFi.AccessPoint.{ap}, whose SSIDReference names the SSID
    name: str
    radio: int
    guest: bool = False


# radio index → band; the networks on them
LAYOUTS: dict[str, tuple[dict[int, str], list[Net]]] = {
    "dual": ({1: "2.4GHz", 2: "5GHz"},
             [Net(1, 1, "Haus Amsel", 1), Net(2, 2, "Haus Amsel 5G", 2),
              Net(3, 3, "Amsel Gäste", 1, guest=True), Net(4, 4, "Amsel Besuch", 2, guest=True)]),
    "tri": ({1: "5GHz", 2: "2.4GHz", 3: "6GHz"},
            [Net(1, 1, "Finca Olmo", 2), Net(2, 2, "Finca Olmo", 1), Net(3, 3, "Finca Olmo 6E", 3),
             Net(4, 4, "Olmo invitados", 1, guest=True), Net(5, 5, "Olmo amigos", 2, guest=True)]),
    # AccessPoint.1 serves SSID.2 and AccessPoint.2 serves SSID.1: the access point's own index is not its SSID's
    "crossed": ({1: "2.4GHz", 2: "5GHz"},
                [Net(1, 2, "Maison Pic", 1), Net(2, 1, "Maison Pic 5G", 2)]),
}


@dataclass
class Gateway:
    """What ``qualify`` uses of a ``ToolContext`` here: ``device`` and ``live_read`` (as the read tool calls it)."""

    device: Any
    params: dict[str, Any]
    radios: dict[int, str]
    nets: list[Net]
    asked: list[list[str]] = field(default_factory=list)

    def live_read(self, paths: list[str]) -> dict[str, Any]:
        self.asked.append(list(paths))
        hit = {k: v for k, v in self.params.items() for p in paths if k == p or (p.endswith(".") and k.startswith(p))}
        if not hit:
            raise InvalidParameterName(self.device.id, f"invalid parameter name(s): {paths[0]}")
        return {k: {"value": v, "type": "string", "writable": True} for k, v in hit.items()}

    def radio(self, band: str) -> int:
        return next(i for i, b in self.radios.items() if b == band)

    def guests(self, *bands: str) -> list[Net]:
        return [n for n in self.nets if n.guest and self.radios[n.radio] in bands]

    def homes(self, *bands: str) -> list[Net]:
        return [n for n in self.nets if not n.guest and self.radios[n.radio] in bands]


def gateway(layout: str = "dual", *, refs: bool = True, lower_layers: bool = True) -> Gateway:
    radios, nets = LAYOUTS[layout]
    p: dict[str, Any] = {}
    for i, band in radios.items():
        p |= {f"Device.WiFi.Radio.{i}.Enable": True, f"Device.WiFi.Radio.{i}.OperatingFrequencyBand": band,
              f"Device.WiFi.Radio.{i}.Channel": 6 if band == "2.4GHz" else 36}
    for n in nets:
        p |= {f"Device.WiFi.SSID.{n.ssid}.SSID": n.name, f"Device.WiFi.SSID.{n.ssid}.Enable": True,
              f"Device.WiFi.AccessPoint.{n.ap}.IsolationEnable": n.guest,
              f"Device.WiFi.AccessPoint.{n.ap}.SSIDAdvertisementEnabled": True}
        if lower_layers:
            p[f"Device.WiFi.SSID.{n.ssid}.LowerLayers"] = f"Device.WiFi.Radio.{n.radio}."
        if refs:
            p[f"Device.WiFi.AccessPoint.{n.ap}.SSIDReference"] = f"Device.WiFi.SSID.{n.ssid}."
    return Gateway(SimpleNamespace(id="gw-0815", region="DE"), p, dict(radios), list(nets))


def evidence(gw: Gateway) -> dict[str, Any]:
    """The turn's evidence as the planner gathers it: the radios read live."""
    ev: dict[str, Any] = {}
    keep(ev, "radios", call_tool(gw, "read_parameters", {"paths": ["Device.WiFi.Radio."]}), lambda _: None)  # type: ignore[arg-type]
    return ev


def drafted(*changes: tuple[str, Any]) -> Plan:
    draft = ProposalDraft(intent="support request", targets=["gw-0815"], source="chat",
                          changes=[Change(path=p, value=v) for p, v in changes])
    return Plan(outcome="change", finding="explicit_request", text="Drafted the change.", draft=draft)


def read(text: str) -> Request:
    return understand(text, Context(now=NOW, zone=localtime.zone("DE"))).request


def run(gw: Gateway, req: Request, plan: Plan, ev: dict[str, Any] | None = None) -> Plan:
    return qualify.apply(gw, req, plan, evidence(gw) if ev is None else ev)  # type: ignore[arg-type]


def refused(out: Plan, req: Request) -> str:
    """The question that replaces the draft; returns what it says is wrong."""
    assert (out.outcome, out.finding, out.draft, out.data) == ("question", "not_as_asked", None, {"suggested": None})
    head, asked = "I will not draft that: ", f". You asked to {checker.readback(req, localtime.zone('DE'))}. "
    assert out.text.startswith(head) and out.text.endswith(asked + "Say how you want it and I will draft exactly that.")
    return out.text[len(head):out.text.index(asked)]


def accepted(out: Plan, plan: Plan) -> None:
    assert out.outcome == "change" and out.draft is not None and plan.draft is not None, out.text
    assert out.draft.changes == plan.draft.changes


def left_alone(req: Request) -> str:
    return f"it would touch {req.exclusions[0]}, which you asked me to leave alone"


OTHER = {"2.4GHz": "5GHz", "5GHz": "2.4GHz"}


# ---------------------------------------------------------------------------- a rename, one band excluded
RENAME_GUEST_NOT_ON = [
    pytest.param("rename the guest network to Hofgarten, except for the 5 GHz band", "5GHz", id="en-except"),
    pytest.param("rename the guest wifi to Hofgarten and leave the 2.4 GHz band alone", "2.4GHz", id="en-leave"),
    pytest.param("benenne das Gäste-WLAN in Hofgarten um, aber nicht auf 2,4 GHz", "2.4GHz", id="de-nicht"),
    pytest.param("Gastnetz in Hofgarten umbenennen, außer im 5-GHz-Band", "5GHz", id="de-außer"),
    pytest.param("renomme le réseau invités en Hofgarten sauf sur la bande 2,4 GHz", "2.4GHz", id="fr-sauf"),
    pytest.param("renomme le wifi invités en Hofgarten, mais pas le 5 GHz", "5GHz", id="fr-pas"),
    pytest.param("cambia el nombre de la red de invitados a Hofgarten excepto en la banda de 2,4 GHz", "2.4GHz",
                 id="es-excepto"),
    pytest.param("renombra la red de invitados a Hofgarten, salvo el 5 GHz", "5GHz", id="es-salvo"),
]


@pytest.mark.parametrize("layout", ["dual", "tri"])
@pytest.mark.parametrize(("text", "band"), RENAME_GUEST_NOT_ON)
def test_renaming_every_guest_network_is_refused_when_a_band_is_excluded(text: str, band: str, layout: str) -> None:
    """The guest networks asked for, one band excluded: a draft renaming the guest networks of both bands is
    refused; the guest network of the other band alone is drafted."""
    gw, req = gateway(layout), read(text)
    assert (req.action, req.target.ssid_role) == ("ssid", "guest") and any(band in x for x in req.exclusions), req
    both = drafted(*[(f"Device.WiFi.SSID.{n.ssid}.SSID", "Hofgarten") for n in gw.guests("2.4GHz", "5GHz")])
    assert refused(run(gw, req, both), req) == left_alone(req)
    only = drafted(*[(f"Device.WiFi.SSID.{n.ssid}.SSID", "Hofgarten") for n in gw.guests(OTHER[band])])
    accepted(run(gw, req, only), only)


# ---------------------------------------------------------------------------- other network settings
@pytest.mark.parametrize("layout", ["dual", "tri"])
@pytest.mark.parametrize(("text", "band", "leaf", "value"), [
    pytest.param("change the guest wifi password but not on the 2.4 GHz band", "2.4GHz",
                 "AccessPoint.{ap}.Security.KeyPassphrase", "[secret:1]", id="en-passphrase"),
    pytest.param("ändere das Passwort des Gast-WLANs, außer im 2,4-GHz-Band", "2.4GHz",
                 "AccessPoint.{ap}.Security.KeyPassphrase", "[secret:1]", id="de-passphrase"),
    pytest.param("change le mot de passe du wifi invités sauf sur la bande 5 GHz", "5GHz",
                 "AccessPoint.{ap}.Security.KeyPassphrase", "[secret:1]", id="fr-passphrase"),
    pytest.param("cambia la contraseña de la red de invitados salvo en la banda de 2,4 GHz", "2.4GHz",
                 "AccessPoint.{ap}.Security.KeyPassphrase", "[secret:1]", id="es-passphrase"),
    pytest.param("turn off the guest wifi except on the 5 GHz band", "5GHz", "SSID.{ssid}.Enable", False,
                 id="en-off"),
])
def test_an_access_point_or_network_setting_on_an_excluded_band_is_refused(text: str, band: str, leaf: str,
                                                                          value: Any, layout: str) -> None:
    """Not only a name: a passphrase on the access point, a network switched off — on the band excluded,
    refused; on the other band, drafted."""
    gw, req = gateway(layout), read(text)
    assert req.target.ssid_role == "guest" and any(band in x for x in req.exclusions), req

    def path(n: Net) -> str:
        return "Device.WiFi." + leaf.format(ap=n.ap, ssid=n.ssid)

    assert refused(run(gw, req, drafted(*[(path(n), value) for n in gw.guests(band)])), req) == left_alone(req)
    good = drafted(*[(path(n), value) for n in gw.guests(OTHER[band])])
    accepted(run(gw, req, good), good)


@pytest.mark.parametrize(("exclusion", "leaf"), [
    ("the 2.4 GHz band", "SSID.{i}.SSIDAdvertisementEnabled"),
    ("2,4er", "AccessPoint.{i}.SSIDAdvertisementEnabled"),
    ("THE 2.4GHZ RADIO", "SSID.{i}.SSID"),
    ("la banda de 2,4 GHz", "AccessPoint.{i}.Security.ModeEnabled"),
])
def test_a_models_exclusion_of_a_band_is_read_however_it_is_written(exclusion: str, leaf: str) -> None:
    """A model hands the band over in its own words ("the 2.4 GHz band", "2,4er"): the networks on the 2.4 GHz
    radio are excluded all the same, and so is the radio itself."""
    gw = gateway("tri")
    req = Request(act="change", action="ssid", exclusions=[exclusion], source="model")
    net = gw.homes("2.4GHz")[0]
    out = run(gw, req, drafted(("Device.WiFi." + leaf.format(i=net.ssid), "x")))
    assert refused(out, req) == f"it would touch {exclusion}, which you asked me to leave alone"
    out = run(gw, req, drafted((f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel", 1)))
    assert refused(out, req) == f"it would touch {exclusion}, which you asked me to leave alone"
    # the rename asked for, on the band not excluded (a rename drafted as another setting alone is refused for
    # that: qualify._conform_kind)
    good = drafted((f"Device.WiFi.SSID.{gw.homes('5GHz')[0].ssid}.SSID", "x"))
    accepted(run(gw, req, good), good)


# ---------------------------------------------------------------------------- the access point's own SSID
@pytest.mark.parametrize(("text", "band"), [
    pytest.param("change the wifi password except on the 5 GHz band", "5GHz", id="en"),
    pytest.param("ändere das WLAN-Passwort, aber nicht im 2,4-GHz-Band", "2.4GHz", id="de"),
])
def test_an_access_point_is_on_the_band_of_the_ssid_it_names(text: str, band: str) -> None:
    """``AccessPoint.1`` serves ``SSID.2`` here: its band is that SSID's radio's, never ``SSID.1``'s."""
    gw, req = gateway("crossed"), read(text)
    assert any(band in x for x in req.exclusions), req
    [on], [off] = gw.homes(band), gw.homes(OTHER[band])
    assert on.ap != on.ssid
    out = run(gw, req, drafted((f"Device.WiFi.AccessPoint.{on.ap}.Security.KeyPassphrase", "[secret:1]")))
    assert refused(out, req) == left_alone(req)
    good = drafted((f"Device.WiFi.AccessPoint.{off.ap}.Security.KeyPassphrase", "[secret:1]"))
    accepted(run(gw, req, good), good)
    # the SSID itself is named by its own index, whichever access point serves it
    assert refused(run(gw, req, drafted((f"Device.WiFi.SSID.{on.ssid}.SSID", "Pic"))), req) == left_alone(req)
    good = drafted((f"Device.WiFi.SSID.{off.ssid}.SSID", "Pic"))
    accepted(run(gw, req, good), good)


def test_an_access_point_is_read_for_its_ssid_whatever_the_action() -> None:
    """A reboot drafted with an access point setting beside it (no network action, so no network check ran
    before): the SSID table is read for the exclusion, and the access point judged by the SSID it names."""
    gw = gateway("crossed")
    req = Request(act="change", action="reboot", exclusions=["5 GHz"], source="model")
    out = run(gw, req, drafted(("Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled", False)))
    assert refused(out, req) == "it would touch 5 GHz, which you asked me to leave alone"
    assert gw.asked.count(["Device.WiFi.SSID."]) == 1
    good = drafted(("Device.WiFi.AccessPoint.2.SSIDAdvertisementEnabled", False))
    accepted(run(gw, req, good), good)


def test_an_access_point_that_names_no_ssid_is_taken_for_the_ssid_of_its_index() -> None:
    """A device that does not fill ``SSIDReference`` pairs ``AccessPoint.{i}`` with ``SSID.{i}``."""
    gw = gateway("dual", refs=False)
    req = Request(act="change", action="passphrase", exclusions=["5GHz"], source="model")
    out = run(gw, req, drafted(("Device.WiFi.AccessPoint.2.Security.KeyPassphrase", "[secret:1]")))
    assert refused(out, req) == "it would touch 5GHz, which you asked me to leave alone"
    good = drafted(("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "[secret:1]"))
    accepted(run(gw, req, good), good)


def test_evidence_held_as_plain_values_is_read_the_same() -> None:
    """The SSID table kept in the turn's evidence as plain values (not ``{"value": …}`` items) names the same
    SSID for an access point."""
    gw = gateway("crossed")
    ev = evidence(gw)
    ev["ssid_roles"] = {"data": {"values": {k: v for k, v in gw.params.items() if ".Radio." not in k}}}
    req = Request(act="change", action="passphrase", exclusions=["5GHz"], source="model")
    out = run(gw, req, drafted(("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "[secret:1]")), ev)
    assert refused(out, req) == "it would touch 5GHz, which you asked me to leave alone"
    assert ["Device.WiFi.SSID."] not in gw.asked  # the evidence held was read, not the gateway again


# ---------------------------------------------------------------------------- a network role excluded
@pytest.mark.parametrize(("exclusion", "guest"), [
    ("the guest network", True), ("Gästenetz", True), ("réseau des invités", True), ("red de invitados", True),
    ("Besucher-WLAN", True), ("the main network", False), ("Hauptnetz", False), ("réseau principal", False),
])
def test_a_network_role_excluded_is_held_whatever_the_action(exclusion: str, guest: bool) -> None:
    """A channel change whose draft also switches a network off: a network of the role excluded is refused even
    though the action is no network's; one of the other role is not this check's to refuse."""
    gw = gateway("tri")
    req = Request(act="change", action="channel", values={"value": 36}, exclusions=[exclusion], source="model")
    radio = (f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", 36)
    hit = (gw.guests if guest else gw.homes)("5GHz")[0]
    out = run(gw, req, drafted(radio, (f"Device.WiFi.SSID.{hit.ssid}.Enable", False)))
    assert refused(out, req) == f"it would touch {exclusion}, which you asked me to leave alone"
    miss = (gw.homes if guest else gw.guests)("5GHz")[0]
    good = drafted(radio, (f"Device.WiFi.SSID.{miss.ssid}.Enable", False))
    accepted(run(gw, req, good), good)


def test_a_band_and_a_role_together_exclude_only_that_network() -> None:
    """"Except the 2.4 GHz guest network": that network and the 2.4 GHz radio are left alone; the household's
    2.4 GHz network and the 5 GHz guest network are not what was excluded."""
    gw = gateway("dual")
    req = read("set the channel to 36 except the 2.4 GHz guest network")
    assert req.exclusions == ["2.4GHz guest network"] and (req.target.bands, req.target.ssid_role) == ([], None), req
    radio = (f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", 36)
    [g24], [g5], [h24] = gw.guests("2.4GHz"), gw.guests("5GHz"), gw.homes("2.4GHz")
    out = run(gw, req, drafted(radio, (f"Device.WiFi.SSID.{g24.ssid}.Enable", False)))
    assert refused(out, req) == left_alone(req)
    out = run(gw, req, drafted((f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel", 36)))
    assert refused(out, req) == left_alone(req)
    for net in (h24, g5):
        plan = drafted(radio, (f"Device.WiFi.SSID.{net.ssid}.Enable", False))
        accepted(run(gw, req, plan), plan)


# ---------------------------------------------------------------------------- what cannot be told
def test_a_radio_whose_band_cannot_be_told_is_not_written_when_a_band_is_excluded() -> None:
    """No radio read this turn: a channel drafted on ``Radio.1`` may be the band excluded — asked, not drafted;
    without an exclusion the same draft goes ahead."""
    gw = gateway("tri")
    req = Request(act="change", action="channel", values={"value": 1}, exclusions=["2.4GHz"], source="model")
    plan = drafted(("Device.WiFi.Radio.1.Channel", 1))
    assert refused(run(gw, req, plan, ev={}), req) == (
        "it would change Device.WiFi.Radio.1. and I cannot tell whether that is 2.4GHz, which you asked me to "
        "leave alone")
    free = req.model_copy(update={"exclusions": []})
    accepted(run(gw, free, plan, ev={}), plan)


@pytest.mark.parametrize("lower_layers", [True, False])
def test_a_network_whose_band_cannot_be_told_is_not_written_when_a_band_is_excluded(lower_layers: bool) -> None:
    """An SSID whose radio is unknown (no radio read, or no ``LowerLayers``): asked about, naming the SSID."""
    gw = gateway("dual", lower_layers=lower_layers)
    req = Request(act="change", action="ssid", target=Target(ssid_role="guest"), exclusions=["5GHz band"],
                  source="model")
    [g24] = gw.guests("2.4GHz")
    out = run(gw, req, drafted((f"Device.WiFi.SSID.{g24.ssid}.SSID", "x")), ev={} if lower_layers else None)
    assert refused(out, req) == (f"it would change Device.WiFi.SSID.{g24.ssid}. and I cannot tell whether that is "
                                 "5GHz band, which you asked me to leave alone")


def test_a_network_the_gateway_does_not_list_is_not_written_when_a_role_is_excluded() -> None:
    """``SSID.9`` is in no table read: its role cannot be told, so "not the guest network" refuses it."""
    gw = gateway("dual")
    req = Request(act="change", action="channel", values={"value": 36}, exclusions=["guest network"], source="model")
    out = run(gw, req, drafted(("Device.WiFi.SSID.9.Enable", False)))
    assert refused(out, req) == ("it would change Device.WiFi.SSID.9. and I cannot tell whether that is guest "
                                 "network, which you asked me to leave alone")


@pytest.mark.parametrize("exclusion", ["the attic extender", "the DNS domain"])
def test_an_exclusion_that_names_no_band_or_network_reads_nothing(exclusion: str) -> None:
    """"Leave the attic extender alone" names no band or role ("domain" is no "main"): nothing is read for it,
    the rename goes ahead."""
    gw = gateway("dual")
    req = Request(act="change", action="ssid", exclusions=[exclusion], source="model")
    plan = drafted(("Device.WiFi.SSID.1.SSID", "x"))
    accepted(run(gw, req, plan), plan)
    asked = len(gw.asked)
    assert qualify.conform(gw, req.model_copy(update={"action": "reboot"}), plan.draft, {}) is None  # type: ignore[arg-type]
    assert len(gw.asked) == asked  # no network check, so nothing read
