"""``brain.qualify``: a draft is held against the request it came from before an agent or an approver sees it.

Policy and approval judge whether a change is *allowed*; this gate judges whether it is *what was asked*
— the value, the band, the network, nothing the agent excluded — and carries the request's conditions
and time into the draft, where the lifecycle reads them again when the write starts. A review found
that a draft with another value, another SSID or another band passed every test; these are the cases.

The gateway is a stand-in for what ``qualify`` uses of a ``ToolContext``: its live reads (a TR-181 tree
built per test, dual-band in one order and tri-band in another, so that no radio or SSID index is
assumed), its presence, and the neighbours the stored scans heard. Requests are read from an agent's
words by the offline understander where the words are the point (EN/DE/FR/ES, phrasings written for
these tests), and typed directly where the point is what a model could hand over. The clock is fixed
(Thursday 26 Nov 2026, 15:20 in Berlin); nothing here waits or needs a service.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
from brain.understanding.request import Condition, Request, Target
from core import localtime, preconditions
from core.kernel.models import Change, Operation, ProposalDraft
from core.kernel.ports.errors import InvalidParameterName
from core.kernel.ports.executor import Presence

NOW = datetime(2026, 11, 26, 14, 20, tzinfo=UTC)


# ---------------------------------------------------------------------------- the stand-in gateway
@dataclass(frozen=True)
class Radio:
    index: int
    band: str
    channel: int
    power: int = 100
    width: str = "20MHz"


@dataclass(frozen=True)
class Wlan:
    index: int
    name: str
    radio: int
    isolated: bool = False
    advertised: bool = True


# Two layouts: the common dual-band one (2.4 GHz first), and a tri-band one that lists 5 GHz first,
# with its guest networks in the other order and a hidden mesh backhaul.
LAYOUTS: dict[str, tuple[list[Radio], list[Wlan]]] = {
    "dual": ([Radio(1, "2.4GHz", 6), Radio(2, "5GHz", 36, power=80)],
             [Wlan(1, "Familie Weber", 1), Wlan(2, "Familie Weber 5G", 2),
              Wlan(3, "Gartenhaus", 1, isolated=True), Wlan(4, "Besuch", 2, isolated=True)]),
    "tri": ([Radio(1, "5GHz", 44, width="80MHz"), Radio(2, "2.4GHz", 11, power=60), Radio(3, "6GHz", 37)],
            [Wlan(1, "Casa Ruiz", 2), Wlan(2, "Casa Ruiz", 1), Wlan(3, "Casa Ruiz 6E", 3),
             Wlan(4, "Invitados", 1, isolated=True), Wlan(5, "Chez nous visite", 2, isolated=True),
             Wlan(6, "mesh-bh-7f", 1, advertised=False)]),
}
SCAN = preconditions.SCAN


@dataclass
class _Scans:
    """The store's session as ``preconditions.stored_neighbours`` is given it here."""

    by_device: dict[str, list[dict[str, Any]]]


@dataclass
class Gateway:
    """What ``qualify`` uses of a ``ToolContext``: ``device``, ``live_read`` (as the read tool calls it),
    ``reader.presence`` and ``runtime.store.read()``. Every live read is recorded in ``asked``."""

    device: Any
    params: dict[str, Any]
    radios: list[Radio]
    wlans: list[Wlan]
    online: bool = True
    reachable: bool = True
    heard: list[dict[str, Any]] = field(default_factory=list)
    lacks: tuple[str, ...] = ()
    asked: list[list[str]] = field(default_factory=list)

    # -- ToolContext
    def live_read(self, paths: list[str]) -> dict[str, Any]:
        self.asked.append(list(paths))
        out: dict[str, Any] = {}
        for p in paths:
            hit = {k: v for k, v in self.params.items() if k == p or (p.endswith(".") and k.startswith(p))}
            if p in self.lacks or (not hit and not p.endswith(".")):
                raise InvalidParameterName(self.device.id, f"invalid parameter name(s): {p}")
            out.update({k: {"value": v, "type": "string", "writable": True} for k, v in hit.items()})
        return out

    @property
    def reader(self) -> Gateway:
        return self

    def presence(self, device: Any) -> Presence:
        return Presence(device_id=device.id, online=self.online, reachable=self.reachable)

    @property
    def runtime(self) -> Any:
        return SimpleNamespace(store=self)

    @contextmanager
    def read(self) -> Iterator[_Scans]:
        yield _Scans({self.device.id: list(self.heard)})

    # -- what a test asks of it
    def radio(self, band: str) -> int:
        return next(r.index for r in self.radios if r.band == band)

    def wlan(self, band: str, *, guest: bool = False) -> Wlan:
        return next(w for w in self.wlans if self.band_of(w) == band and w.isolated == guest
                    and w.advertised)

    def band_of(self, w: Wlan) -> str:
        return next(r.band for r in self.radios if r.index == w.radio)

    def reads_of(self, prefix: str) -> int:
        return sum(1 for paths in self.asked if any(p.startswith(prefix) for p in paths))


def gateway(layout: str = "dual", *, region: str = "DE", scan: bool = True, hosts: tuple[str, ...] = ("laptop",),
            dev: str = "gw-0042") -> Gateway:
    radios, wlans = LAYOUTS[layout]
    p: dict[str, Any] = {
        "Device.DeviceInfo.SoftwareVersion": "7.2.6-CGW3400", "Device.DeviceInfo.UpTime": 90000,
        "Device.DNS.Client.Server.1.DNSServer": "192.0.2.53", "Device.DNS.Client.Server.1.Enable": True,
    }
    for i, name in enumerate(hosts, 1):
        p[f"Device.Hosts.Host.{i}.HostName"] = name
        p[f"Device.Hosts.Host.{i}.Active"] = True
    for r in radios:
        base = f"Device.WiFi.Radio.{r.index}."
        p |= {base + "Enable": True, base + "OperatingFrequencyBand": r.band, base + "Channel": r.channel,
              base + "TransmitPower": r.power, base + "OperatingChannelBandwidth": r.width}
    for w in wlans:
        p |= {f"Device.WiFi.SSID.{w.index}.SSID": w.name, f"Device.WiFi.SSID.{w.index}.Enable": True,
              f"Device.WiFi.SSID.{w.index}.LowerLayers": f"Device.WiFi.Radio.{w.radio}.",
              f"Device.WiFi.AccessPoint.{w.index}.SSIDReference": f"Device.WiFi.SSID.{w.index}.",
              f"Device.WiFi.AccessPoint.{w.index}.IsolationEnable": w.isolated,
              f"Device.WiFi.AccessPoint.{w.index}.SSIDAdvertisementEnabled": w.advertised}
    if scan:
        p |= {SCAN + "1.SSID": "FRITZ!Box 7530", SCAN + "1.Channel": 11, SCAN + "1.SignalStrength": -71}
    return Gateway(SimpleNamespace(id=dev, region=region), p, radios, wlans, lacks=() if scan else (SCAN,))


@pytest.fixture(autouse=True)
def _stored_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """The neighbours a gateway's stored scans heard come from the stand-in's session, for its own id."""
    monkeypatch.setattr(preconditions, "stored_neighbours", lambda s, device_id: s.by_device[device_id])


def evidence(gw: Gateway) -> dict[str, Any]:
    """The turn's evidence as the planner gathers it: the radios read live (``brain.evidence``)."""
    ev: dict[str, Any] = {}
    keep(ev, "radios", call_tool(gw, "read_parameters", {"paths": ["Device.WiFi.Radio."]}), lambda _: None)  # type: ignore[arg-type]
    return ev


def drafted(gw: Gateway, *changes: tuple[str, Any], reboot: bool = False) -> Plan:
    draft = ProposalDraft(intent="support request", targets=[gw.device.id], source="chat",
                          changes=[Change(path=p, value=v) for p, v in changes],
                          operations=[Operation(command="reboot")] if reboot else [])
    return Plan(outcome="change", finding="explicit_request", text="Drafted the change.", draft=draft)


def read(text: str, region: str = "DE") -> Request:
    """The agent's words read as the chat reads them, in the device's zone."""
    return understand(text, Context(now=NOW, zone=localtime.zone(region))).request


def run(gw: Gateway, req: Request | None, plan: Plan, ev: dict[str, Any] | None = None) -> Plan:
    return qualify.apply(gw, req, plan, evidence(gw) if ev is None else ev)  # type: ignore[arg-type]


def refused(out: Plan, req: Request, gw: Gateway) -> str:
    """The question that replaces a draft that is not what was asked; returns what it says is wrong."""
    assert (out.outcome, out.finding, out.draft, out.data) == ("question", "not_as_asked", None, {"suggested": None})
    head = "I will not draft that: "
    asked = f". You asked to {checker.readback(req, localtime.zone(gw.device.region))}. "
    assert out.text.startswith(head) and out.text.endswith(asked + "Say how you want it and I will draft exactly that.")
    return out.text[len(head):out.text.index(asked)]


def not_the(name: str, role: str) -> str:
    """What a refusal says of a network that is not the one asked for."""
    return f"it would change \u201c{name}\u201d, which is not the {role} network asked for"


def accepted(out: Plan, plan: Plan, req: Request, gw: Gateway) -> ProposalDraft:
    """The draft as shown: the same changes, the request read back in the device's zone."""
    assert out.outcome == "change" and out.draft is not None and plan.draft is not None, out.text
    assert out.draft.changes == plan.draft.changes and out.draft.operations == plan.draft.operations
    assert out.draft.readback == checker.readback(req, localtime.zone(gw.device.region))
    return out.draft


# ---------------------------------------------------------------------------- the value asked for
CHANNEL_5_44 = ["set the 5 GHz channel to 44", "Kanal im 5-GHz-Band auf 44 stellen", "mets le canal 5 GHz sur 44",
                "pon el canal de 5 GHz en el 44"]


@pytest.mark.parametrize("layout", ["dual", "tri"])
@pytest.mark.parametrize("text", CHANNEL_5_44)
def test_the_value_asked_for_on_the_band_asked_for_is_drafted(text: str, layout: str) -> None:
    """The conforming draft passes unchanged, with the request read back for the approver."""
    gw, req = gateway(layout), read(text)
    plan = drafted(gw, (f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", 44))
    out = run(gw, req, plan)
    d = accepted(out, plan, req, gw)
    assert "44" in d.readback and "5GHz" in d.readback
    assert (d.not_before, d.not_after, d.preconditions) == (None, None, [])
    assert out.text == plan.text  # nothing to add: no time, no condition


@pytest.mark.parametrize("layout", ["dual", "tri"])
@pytest.mark.parametrize("text", CHANNEL_5_44)
def test_another_value_is_refused(text: str, layout: str) -> None:
    """Channel 44 asked, another channel drafted on the right radio: a question naming both, nothing drafted."""
    gw, req = gateway(layout), read(text)
    path = f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel"
    out = run(gw, req, drafted(gw, (path, 40)))
    assert refused(out, req, gw) == f"it sets {path} to 40, not the 44 you asked for"


@pytest.mark.parametrize(("text", "leaf", "asked", "other"), [
    ("set the 5 GHz width to 80 MHz", "OperatingChannelBandwidth", "80MHz", "40MHz"),
    ("turn the 5 GHz radio off", "Enable", False, True),
    ("set the 5 GHz transmit power to 50%", "TransmitPower", 50, 75),
], ids=["width", "band-enable", "power"])
def test_every_radio_value_is_held_to_the_one_asked(text: str, leaf: str, asked: Any, other: Any) -> None:
    """Width, on/off and power are compared like the channel: the value asked passes, another is asked about."""
    gw, req = gateway("tri"), read(text)
    assert req.values["value"] == asked
    path = f"Device.WiFi.Radio.{gw.radio('5GHz')}.{leaf}"
    good = drafted(gw, (path, asked))
    accepted(run(gw, req, good), good, req, gw)
    assert refused(run(gw, req, drafted(gw, (path, other))), req, gw) == (
        f"it sets {path} to {other}, not the {asked} you asked for")


def test_a_value_the_device_takes_as_text_is_the_same_value() -> None:
    """"44" written as the device's string is channel 44: not refused for its type."""
    gw, req = gateway(), read("set the 5 GHz channel to 44")
    plan = drafted(gw, (f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", "44"))
    accepted(run(gw, req, plan), plan, req, gw)


def test_a_relative_step_has_no_value_to_compare() -> None:
    """"Two levels down" names no level: the level the planner chose is drafted, not questioned."""
    gw, req = gateway(), read("turn the 2.4 GHz transmit power down two levels")
    assert "value" not in req.values and req.values.get("step") == -2
    plan = drafted(gw, (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.TransmitPower", 60))
    accepted(run(gw, req, plan), plan, req, gw)



# ---------------------------------------------------------------------------- the band asked for
CHANNEL_24_11 = ["switch the 2.4 GHz radio to channel 11", "stell das 2,4-GHz-WLAN auf Kanal 11",
                 "passe le 2,4 GHz sur le canal 11", "cambia el 2,4 GHz al canal 11"]


@pytest.mark.parametrize("layout", ["dual", "tri"])
@pytest.mark.parametrize("text", CHANNEL_24_11)
def test_the_other_band_is_refused(text: str, layout: str) -> None:
    """Channel 11 on 2.4 GHz asked, drafted on the 5 GHz radio: refused, naming the band it would change."""
    gw, req = gateway(layout), read(text)
    assert req.target.bands == ["2.4GHz"]
    out = run(gw, req, drafted(gw, (f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", 11)))
    assert refused(out, req, gw) == "it would change the 5GHz radio, and you limited the request to 2.4GHz"
    good = drafted(gw, (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel", 11))
    accepted(run(gw, req, good), good, req, gw)


def test_the_asked_band_and_another_are_refused_naming_every_other_band() -> None:
    """A draft that also changes the two other radios is refused, naming every band it would change (sorted,
    in a list the agent can read) beside the one the request was limited to."""
    gw, req = gateway("tri"), read("set the 2.4 GHz width to 40 MHz")
    out = run(gw, req, drafted(gw, *[(f"Device.WiFi.Radio.{gw.radio(b)}.OperatingChannelBandwidth", "40MHz")
                                     for b in ("6GHz", "2.4GHz", "5GHz")]))
    assert refused(out, req, gw) == (
        "it would change the 2.4GHz, 5GHz, 6GHz radio, and you limited the request to 2.4GHz")


def test_a_request_limited_to_two_bands_names_both() -> None:
    """Limited to 2.4 and 5 GHz (as a model may hand it over), drafted on the 6 GHz radio: both bands said."""
    gw = gateway("tri")
    req = Request(act="change", action="width", values={"value": "40MHz"},
                  target=Target(bands=["2.4GHz", "5GHz"]), source="model")
    out = run(gw, req, drafted(gw, (f"Device.WiFi.Radio.{gw.radio('6GHz')}.OperatingChannelBandwidth", "40MHz")))
    assert refused(out, req, gw) == "it would change the 6GHz radio, and you limited the request to 2.4GHz, 5GHz"


@pytest.mark.parametrize("layout", ["dual", "tri"])
def test_no_band_named_means_any_band(layout: str) -> None:
    """"Set the channel to 44" names no band: a draft on whichever radio carries 44 is not refused for it."""
    gw, req = gateway(layout), read("set the channel to 44")
    assert req.target.bands == []
    plan = drafted(gw, (f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", 44))
    accepted(run(gw, req, plan), plan, req, gw)


@pytest.mark.parametrize("text", ["set the channel to 11 but leave the 5GHz alone",
                                  "Kanal auf 11, aber lass das 5-GHz-Band in Ruhe",
                                  "mets le canal 11 mais laisse le 5 GHz tranquille",
                                  "pon el canal 11 pero deja el 5 GHz en paz"])
@pytest.mark.parametrize("layout", ["dual", "tri"])
def test_a_band_the_agent_excluded_is_not_touched(text: str, layout: str) -> None:
    """"Leave the 5 GHz alone": a draft on the 5 GHz radio is refused, quoting the agent's words; the same
    change on the 2.4 GHz radio is drafted."""
    gw, req = gateway(layout), read(text)
    assert req.target.bands == [] and req.exclusions
    out = run(gw, req, drafted(gw, (f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", 11)))
    assert refused(out, req, gw) == f"it would touch {req.exclusions[0]}, which you asked me to leave alone"
    good = drafted(gw, (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel", 11))
    accepted(run(gw, req, good), good, req, gw)


def test_a_band_is_recognised_in_the_agents_words_whatever_their_case() -> None:
    """An exclusion the model wrote in capitals ("THE 5GHZ BAND") still names the 5 GHz radio."""
    gw = gateway()
    req = Request(act="change", action="channel", values={"value": 36}, exclusions=["THE 5GHZ BAND"], source="model")
    out = run(gw, req, drafted(gw, (f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", 36)))
    assert refused(out, req, gw) == "it would touch THE 5GHZ BAND, which you asked me to leave alone"


# ---------------------------------------------------------------------------- the network asked for
RENAME_GUEST = ["rename the guest network to Gartenhaus", "benenne das Gastnetz in Gartenhaus um",
                "renomme le réseau invités en Gartenhaus", "cambia el nombre de la red de invitados a Gartenhaus"]


@pytest.mark.parametrize("layout", ["dual", "tri"])
@pytest.mark.parametrize("text", RENAME_GUEST)
def test_renaming_the_guest_network_never_renames_the_home_network(text: str, layout: str) -> None:
    """The guest network asked, the household's networks drafted: refused, naming each of them; the guest
    networks (found by client isolation, not by name) are drafted."""
    gw, req = gateway(layout), read(text)
    assert req.target.ssid_role == "guest"
    home = [w for w in gw.wlans if not w.isolated and w.advertised]
    out = run(gw, req, drafted(gw, *[(f"Device.WiFi.SSID.{w.index}.SSID", "Gartenhaus") for w in home]))
    names = ", ".join(f"\u201c{w.name}\u201d" for w in home)
    assert refused(out, req, gw) == f"it would change {names}, which is not the guest network asked for"
    good = drafted(gw, *[(f"Device.WiFi.SSID.{w.index}.SSID", "Gartenhaus") for w in gw.wlans if w.isolated])
    accepted(run(gw, req, good), good, req, gw)


@pytest.mark.parametrize("text", ["rename the wifi to Zuhause", "benenne das WLAN in Zuhause um",
                                  "renomme le wifi en Zuhause", "cambia el nombre del wifi a Zuhause"])
def test_a_rename_that_names_no_network_is_the_home_network(text: str) -> None:
    """No network named: the primary one. A draft that renames a guest network beside it is refused."""
    gw, req = gateway("dual"), read(text)
    assert req.target.ssid_role is None
    guest = gw.wlan("2.4GHz", guest=True)
    out = run(gw, req, drafted(gw, ("Device.WiFi.SSID.1.SSID", "Zuhause"),
                               (f"Device.WiFi.SSID.{guest.index}.SSID", "Zuhause")))
    assert refused(out, req, gw) == not_the(guest.name, "primary")


@pytest.mark.parametrize("layout", ["dual", "tri"])
@pytest.mark.parametrize("text", ["rename the 5 GHz one to Gartenhaus", "benenne das 5-GHz-WLAN in Gartenhaus um",
                                  "renomme le wifi 5 GHz en Gartenhaus",
                                  "cambia el nombre del wifi de 5 GHz a Gartenhaus"])
def test_renaming_the_5ghz_network_leaves_the_other_bands_networks(text: str, layout: str) -> None:
    """"The 5 GHz one": a draft renaming every band's network is refused, naming the others (the band
    comes from the SSID's radio, never from its name)."""
    gw, req = gateway(layout), read(text)
    assert req.target.bands == ["5GHz"] and req.action == "ssid"
    home = [w for w in gw.wlans if not w.isolated and w.advertised]
    out = run(gw, req, drafted(gw, *[(f"Device.WiFi.SSID.{w.index}.SSID", "Gartenhaus") for w in home]))
    others = ", ".join(f"\u201c{w.name}\u201d" for w in home if gw.band_of(w) != "5GHz")
    assert refused(out, req, gw) == f"it would change {others}, which is not the primary network asked for"
    good = drafted(gw, (f"Device.WiFi.SSID.{gw.wlan('5GHz').index}.SSID", "Gartenhaus"))
    accepted(run(gw, req, good), good, req, gw)


@pytest.mark.parametrize("layout", ["dual", "tri"])
def test_a_passphrase_set_on_the_access_point_is_held_to_the_network_asked_for(layout: str) -> None:
    """The passphrase lives on ``AccessPoint.{i}``: a 5 GHz passphrase drafted on the 2.4 GHz access point is
    refused like a rename would be."""
    gw, req = gateway(layout), read("change the wifi password on the 5 GHz network")
    assert (req.action, req.target.ssid_role) == ("passphrase", None)
    wrong = gw.wlan("2.4GHz")
    out = run(gw, req, drafted(gw, (f"Device.WiFi.AccessPoint.{wrong.index}.Security.KeyPassphrase", "[secret:1]")))
    assert refused(out, req, gw) == not_the(wrong.name, "primary")
    good = drafted(gw, (f"Device.WiFi.AccessPoint.{gw.wlan('5GHz').index}.Security.KeyPassphrase", "[secret:1]"))
    accepted(run(gw, req, good), good, req, gw)


def test_switching_a_network_off_is_held_to_the_network_asked_for() -> None:
    """A network switched off (``ssid_enable``, here as a model hands it over with no role) is judged like a
    rename: the 2.4 GHz network drafted for "the 5 GHz one" is refused."""
    gw = gateway()
    req = Request(act="change", action="ssid_enable", values={"value": False}, target=Target(bands=["5GHz"]),
                  source="model")
    wrong = gw.wlan("2.4GHz")
    out = run(gw, req, drafted(gw, (f"Device.WiFi.SSID.{wrong.index}.Enable", False)))
    assert refused(out, req, gw) == not_the(wrong.name, "primary")


@pytest.mark.parametrize("text", ["turn off the 5 GHz guest wifi", "schalte das Gast-WLAN auf 5 GHz aus",
                                  "coupe le wifi invités en 5 GHz", "apaga la red de invitados de 5 GHz"])
def test_a_band_problem_is_not_hidden_by_a_right_network(text: str) -> None:
    """"Turn the guest network off" drafted as the right guest networks *and* a radio switched off: the radio
    is not what was asked, and the right networks beside it do not make the draft pass."""
    gw, req = gateway(), read(text)
    assert (req.action, req.target.bands, req.target.ssid_role) == ("ssid_enable", ["5GHz"], "guest")
    guest = gw.wlan("5GHz", guest=True)
    out = run(gw, req, drafted(gw, (f"Device.WiFi.SSID.{guest.index}.Enable", False),
                               (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Enable", False)))
    assert refused(out, req, gw) == "it would change the 2.4GHz radio, and you limited the request to 5GHz"


@pytest.mark.parametrize("excluded", ["the Guest network", "das Gast-WLAN", "le réseau des invités",
                                      "la red de invitados"])
def test_a_guest_network_the_agent_excluded_is_not_touched(excluded: str) -> None:
    """A reading that says "guest network" yet also "not the guest network" (a model's slip) drafts nothing on
    a guest network: the exclusion wins, in any of the four languages."""
    gw = gateway()
    req = Request(act="change", action="ssid", target=Target(ssid_role="guest"), exclusions=[excluded],
                  source="model")
    out = run(gw, req, drafted(gw, (f"Device.WiFi.SSID.{gw.wlan('5GHz', guest=True).index}.SSID", "Garten")))
    assert refused(out, req, gw) == f"it would touch {excluded}, which you asked me to leave alone"


def test_excluding_the_guest_network_leaves_the_backhaul_passphrase_to_change() -> None:
    """"Change the backhaul password but not the guest network": the hidden mesh backhaul is drafted; a draft
    that also changes a guest network is refused."""
    gw, req = gateway("tri"), read("change the mesh backhaul password but not the guest network")
    assert (req.target.ssid_role, req.exclusions) == ("backhaul", ["guest network"])
    plan = drafted(gw, ("Device.WiFi.AccessPoint.6.Security.KeyPassphrase", "[secret:1]"))
    accepted(run(gw, req, plan), plan, req, gw)
    out = run(gw, req, drafted(gw, ("Device.WiFi.AccessPoint.6.Security.KeyPassphrase", "[secret:1]"),
                               ("Device.WiFi.AccessPoint.4.Security.KeyPassphrase", "[secret:1]")))
    assert refused(out, req, gw) == "it would change \u201cInvitados\u201d, which is not the backhaul network asked for"


@pytest.mark.parametrize("text", ["rename the guest wifi to Garten but not the main network",
                                  "benenne das Gastnetz in Garten um, aber nicht das Hauptnetz"])
def test_excluding_the_home_network_leaves_the_guest_network_to_rename(text: str) -> None:
    """"The guest network, not the main one": renaming the guest networks is what was asked."""
    gw, req = gateway(), read(text)
    assert req.target.ssid_role == "guest" and req.exclusions
    plan = drafted(gw, *[(f"Device.WiFi.SSID.{w.index}.SSID", "Garten") for w in gw.wlans if w.isolated])
    accepted(run(gw, req, plan), plan, req, gw)


def test_the_networks_are_read_once_per_turn() -> None:
    """The SSID table is read live once and kept in the turn's evidence: a second look (the condition on the
    guest network beside the rename) does not read the gateway again."""
    gw = gateway()
    req = read("rename the guest network to Gartenhaus").model_copy(update={"conditions": [
        Condition(fact="ssid_enabled", expect="eq", value=True, words="if the guest network is on")]})
    ev = evidence(gw)
    plan = drafted(gw, *[(f"Device.WiFi.SSID.{w.index}.SSID", "Gartenhaus") for w in gw.wlans if w.isolated])
    accepted(qualify.apply(gw, req, plan, ev), plan, req, gw)  # type: ignore[arg-type]
    assert gw.asked.count(["Device.WiFi.SSID."]) == 1 and ev["ssid_roles"]["data"]["values"]
    qualify.conform(gw, req, plan.draft, ev)  # type: ignore[arg-type, arg-type]
    assert gw.asked.count(["Device.WiFi.SSID."]) == 1


# ---------------------------------------------------------------------------- conditions, checked now
NOBODY_CONNECTED = ["set the 5 GHz channel to 44 only if nobody is connected",
                    "Kanal 44 auf 5 GHz, aber nur wenn kein Gerät verbunden ist",
                    "mets le canal 44 en 5 GHz seulement si aucun appareil n'est connecté",
                    "pon el canal 44 en 5 GHz solo si no hay ningún dispositivo conectado"]


@pytest.mark.parametrize("text", NOBODY_CONNECTED)
def test_a_condition_false_now_is_answered_with_the_fact(text: str) -> None:
    """"Only if nobody is connected" while a laptop is: an answer naming it, nothing drafted."""
    gw, req = gateway(hosts=("laptop", "tv-wohnzimmer")), read(text)
    out = run(gw, req, drafted(gw, (f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", 44)))
    fact = "devices connected: laptop, tv-wohnzimmer"
    assert (out.outcome, out.finding, out.draft, out.data) == ("answer", "condition_false", None, {"facts": [fact]})
    assert out.text == (f"Nothing to do: you asked to {checker.readback(req, localtime.zone('DE'))}, and that "
                        f"condition does not hold now — {fact}. Nothing was drafted.")


@pytest.mark.parametrize("layout", ["dual", "tri"])
@pytest.mark.parametrize("text", NOBODY_CONNECTED)
def test_a_condition_true_now_goes_into_the_draft_to_be_checked_again(text: str, layout: str) -> None:
    """Nobody connected now: drafted, and the draft carries the condition for the write to read again."""
    gw, req = gateway(layout, hosts=()), read(text)
    plan = drafted(gw, (f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", 44))
    out = run(gw, req, plan)
    d = accepted(out, plan, req, gw)
    [pre] = d.preconditions
    assert (pre.fact, pre.expect, pre.value, pre.band, pre.at_write) == ("hosts_connected", "empty", None, None, False)
    assert pre.paths == ["Device.Hosts.Host."] and pre.text == "only if no device is connected"
    assert out.text == plan.text + " — only if no device is connected (checked now, and again when the write starts)"


def test_every_condition_is_listed_for_the_approver() -> None:
    """Two conditions that hold: both carried, both said, in the order asked."""
    gw = gateway(hosts=())
    req = Request(act="change", action="reboot", source="model", conditions=[
        Condition(fact="uptime", expect="gt", value=86400, words="up for more than a day"),
        Condition(fact="firmware", expect="eq", value="7.2.6", words="on 7.2.6")])
    plan = drafted(gw, reboot=True)
    out = run(gw, req, plan)
    d = accepted(out, plan, req, gw)
    assert [(p.fact, p.paths) for p in d.preconditions] == [("uptime", ["Device.DeviceInfo.UpTime"]),
                                                           ("firmware", ["Device.DeviceInfo.SoftwareVersion"])]
    assert out.text == plan.text + (" — only if it has been up longer than 1 days; only if the firmware is 7.2.6"
                                    " (checked now, and again when the write starts)")


@pytest.mark.parametrize(("online", "reachable", "holds"), [(True, True, True), (True, False, False),
                                                            (False, False, False)])
def test_online_means_reachable_now(online: bool, reachable: bool, holds: bool) -> None:
    """"Only if the gateway is online": a gateway heard from but not answering now (behind NAT, waiting for its
    next inform) is not online for this."""
    gw = gateway()
    gw.online, gw.reachable = online, reachable
    req = Request(act="change", action="reboot", source="model",
                  conditions=[Condition(fact="online", expect="eq", value=True, words="if it is online")])
    out = run(gw, req, drafted(gw, reboot=True))
    if holds:
        assert out.outcome == "change" and out.draft is not None
        assert [p.fact for p in out.draft.preconditions] == ["online"]
    else:
        assert (out.outcome, out.finding, out.data) == ("answer", "condition_false", {"facts": ["online: False"]})


NEIGHBOUR_ON_1 = ["switch the 2.4 to 1, but only if nobody else nearby is using 1",
                  "stell das 2,4-GHz-WLAN auf Kanal 1, aber nur wenn kein Nachbar Kanal 1 nutzt",
                  "passe le 2,4 GHz sur le canal 1 seulement si aucun voisin n'utilise le canal 1",
                  "pon el 2,4 GHz en el canal 1 solo si ningún vecino usa el canal 1"]


@pytest.mark.parametrize("text", NEIGHBOUR_ON_1)
def test_a_neighbour_heard_on_the_channel_answers_the_request(text: str) -> None:
    """A loud neighbour on channel 1 in the stored scans: nothing drafted, the neighbour named."""
    gw, req = gateway("tri"), read(text)
    gw.heard = [{"ssid": "Vodafone-A1B2", "band": "2.4GHz", "channel": 1, "rssi_dbm": -58}]
    out = run(gw, req, drafted(gw, (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel", 1)))
    assert (out.outcome, out.finding) == ("answer", "condition_false")
    assert out.data == {"facts": ["neighbours heard at -80 dBm or louder on channel 1: Vodafone-A1B2 (-58 dBm)"]}


@pytest.mark.parametrize("text", NEIGHBOUR_ON_1)
def test_a_neighbour_condition_is_limited_to_the_band_of_the_draft(text: str) -> None:
    """Channel 1 exists on 6 GHz too: a neighbour there does not stop a 2.4 GHz change, and the draft carries
    the band so the write judges it the same way."""
    gw, req = gateway("tri"), read(text)
    gw.heard = [{"ssid": "Nachbar-6E", "band": "6GHz", "channel": 1, "rssi_dbm": -50}]
    plan = drafted(gw, (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel", 1))
    d = accepted(run(gw, req, plan), plan, req, gw)
    [pre] = d.preconditions
    assert (pre.fact, pre.expect, pre.value, pre.band, pre.paths) == ("neighbour_on_channel", "empty", 1, "2.4GHz", [])


def test_a_neighbour_condition_without_a_band_takes_the_band_of_the_draft() -> None:
    """A model's reading that leaves the condition's band out: the radio the draft changes gives it."""
    gw = gateway("tri")
    gw.heard = [{"ssid": "Nachbar-6E", "band": "6GHz", "channel": 1, "rssi_dbm": -50}]
    req = Request(act="change", action="channel", values={"value": 1}, source="model", conditions=[
        Condition(fact="neighbour_on_channel", expect="empty", value=1, words="unless a neighbour uses 1")])
    plan = drafted(gw, (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel", 1))
    d = accepted(run(gw, req, plan), plan, req, gw)
    assert [p.band for p in d.preconditions] == ["2.4GHz"]


def test_without_the_radios_a_neighbour_condition_counts_every_band() -> None:
    """A turn whose radio read failed cannot tell the draft's band: a condition that names none is then judged
    on every band's neighbours (stricter, never looser), so a 6 GHz neighbour on channel 1 stops the change."""
    gw = gateway("tri")
    gw.heard = [{"ssid": "Nachbar-6E", "band": "6GHz", "channel": 1, "rssi_dbm": -50}]
    req = Request(act="change", action="channel", values={"value": 1}, source="model", conditions=[
        Condition(fact="neighbour_on_channel", expect="empty", value=1, words="unless a neighbour uses 1")])
    out = run(gw, req, drafted(gw, (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel", 1)), ev={})
    assert (out.outcome, out.finding) == ("answer", "condition_false")
    assert out.data == {"facts": ["neighbours heard at -80 dBm or louder on channel 1: Nachbar-6E (-50 dBm)"]}


@pytest.mark.parametrize("text", NEIGHBOUR_ON_1[:2])
def test_a_condition_the_gateway_can_never_report_is_asked_about(text: str) -> None:
    """A gateway with no neighbour scan table (TR-098) could never pass the write's re-check: asked, not
    drafted, naming the gateway, the fact and the condition."""
    gw, req = gateway(scan=False, dev="igd-tr098-7"), read(text)
    out = run(gw, req, drafted(gw, (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel", 1)))
    assert (out.outcome, out.finding, out.draft, out.data) == ("question", "condition_unreadable", None,
                                                               {"suggested": None})
    cond = checker.condition_text(req.conditions[0])
    assert out.text == (
        f"I will not draft that with its condition: you asked to {checker.readback(req, localtime.zone('DE'))}, and "
        f"igd-tr098-7 cannot report neighbours heard at -80 dBm or louder on channel 1 (invalid parameter name(s): "
        f"{SCAN}), so \u201c{cond}\u201d could not be checked when the write starts. Ask for the change without "
        "the condition, or with one this gateway can report.")


@pytest.mark.parametrize("layout", ["dual", "tri"])
@pytest.mark.parametrize(("fact", "value", "leaf"), [("channel", 40, "Channel"), ("band_enabled", False, "Enable"),
                                                     ("power", 90, "TransmitPower")])
def test_a_radio_condition_reads_the_radio_of_its_band(layout: str, fact: str, value: Any, leaf: str) -> None:
    """"Unless the 5 GHz radio is already …": the 5 GHz radio's own parameter, read now and again at the write."""
    gw = gateway(layout)
    req = Request(act="change", action="width", values={"value": "40MHz"}, source="model", target=Target(
        bands=["2.4GHz"]), conditions=[Condition(fact=fact, expect="ne", value=value, band="5GHz", words="unless")])
    plan = drafted(gw, (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.OperatingChannelBandwidth", "40MHz"))
    d = accepted(run(gw, req, plan), plan, req, gw)
    [pre] = d.preconditions
    assert pre.paths == [f"Device.WiFi.Radio.{gw.radio('5GHz')}.{leaf}"] and pre.band is None


@pytest.mark.parametrize("layout", ["dual", "tri"])
def test_a_radio_condition_with_no_band_reads_the_radio_the_draft_changes(layout: str) -> None:
    """"Only if the power is above 50 %" said of the change itself: the drafted radio's power, read now."""
    gw = gateway(layout)
    req = Request(act="change", action="channel", values={"value": 1}, target=Target(bands=["2.4GHz"]),
                  source="model", conditions=[Condition(fact="power", expect="gt", value=50, words="above 50 %")])
    idx = gw.radio("2.4GHz")
    plan = drafted(gw, (f"Device.WiFi.Radio.{idx}.Channel", 1))
    d = accepted(run(gw, req, plan), plan, req, gw)
    assert [p.paths for p in d.preconditions] == [[f"Device.WiFi.Radio.{idx}.TransmitPower"]]
    gw.params[f"Device.WiFi.Radio.{idx}.TransmitPower"] = 40
    out = run(gw, req, plan)
    assert (out.outcome, out.data) == ("answer", {"facts": ["transmit power (%): 40"]})


def test_the_band_of_the_draft_is_the_first_radio_it_changes() -> None:
    """A draft that changes a network first and a radio after: the radio gives the band, not the network."""
    gw = gateway("tri")
    req = Request(act="change", action="ssid", source="model",
                  conditions=[Condition(fact="channel", expect="eq", value=11, words="while on 11")])
    plan = drafted(gw, ("Device.WiFi.SSID.2.SSID", "Casa Ruiz"),
                   (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel", 11),
                   (f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", 36))
    d = accepted(run(gw, req, plan), plan, req, gw)
    assert [p.paths for p in d.preconditions] == [[f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel"]]


def test_a_condition_on_a_band_the_gateway_lacks_reads_nothing_and_does_not_hold() -> None:
    """A 6 GHz condition on a dual-band gateway has no radio to read: it does not hold, nothing is drafted."""
    gw = gateway("dual")
    req = Request(act="change", action="reboot", source="model",
                  conditions=[Condition(fact="channel", expect="eq", value=37, band="6GHz", words="on 37")])
    out = run(gw, req, drafted(gw, reboot=True))
    assert (out.outcome, out.data) == ("answer", {"facts": ["channel: None"]})


@pytest.mark.parametrize(("layout", "band", "expected"), [("dual", None, 3), ("dual", "5GHz", 4), ("tri", None, 4),
                                                          ("tri", "2.4GHz", 5)])
def test_a_guest_network_condition_reads_the_guest_networks_switch(layout: str, band: str | None,
                                                                   expected: int) -> None:
    """"Only if the guest network is on": the first guest network's ``Enable`` (the one on the band named,
    when one is), whichever radio the draft changes."""
    gw = gateway(layout)
    other = "5GHz" if gw.band_of(gw.wlans[expected - 1]) == "2.4GHz" else "2.4GHz"
    req = Request(act="change", action="channel", values={"value": 6}, source="model",
                  conditions=[Condition(fact="ssid_enabled", expect="eq", value=True, band=band, words="if on")])
    plan = drafted(gw, (f"Device.WiFi.Radio.{gw.radio(other)}.Channel", 6))
    d = accepted(run(gw, req, plan), plan, req, gw)
    assert [p.paths for p in d.preconditions] == [[f"Device.WiFi.SSID.{expected}.Enable"]]
    gw.params[f"Device.WiFi.SSID.{expected}.Enable"] = False
    assert run(gw, req, plan).data == {"facts": ["network enabled: False"]}


@pytest.mark.parametrize(("layout", "holds"), [("dual", True), ("tri", False)])
def test_a_channel_condition_is_read_live(layout: str, holds: bool) -> None:
    """"Only if the 5 GHz radio is on 36": the same words drafted on one gateway, answered on the other."""
    gw = gateway(layout)
    req = Request(act="change", action="width", values={"value": "80MHz"}, target=Target(bands=["5GHz"]),
                  source="model", conditions=[Condition(fact="channel", expect="eq", value=36, band="5GHz",
                                                        words="only if on 36")])
    out = run(gw, req, drafted(gw, (f"Device.WiFi.Radio.{gw.radio('5GHz')}.OperatingChannelBandwidth", "80MHz")))
    assert out.outcome == ("change" if holds else "answer")
    if not holds:
        assert out.data == {"facts": ["channel: 44"]}


def test_a_dns_condition_reads_the_servers_set() -> None:
    """"Only if no DNS server is set" on a gateway that has one: answered with the server."""
    gw, req = gateway(), read("set DNS to 1.1.1.1 only if no DNS server is set")
    out = run(gw, req, drafted(gw, ("Device.DNS.Client.Server.1.DNSServer", "1.1.1.1")))
    assert (out.outcome, out.data) == ("answer", {"facts": ["DNS servers set: 192.0.2.53"]})


def test_long_wording_is_cut_to_what_a_proposal_holds() -> None:
    """A condition worded past 300 characters and a read-back past 2000 are cut, so the draft is still one
    the lifecycle accepts."""
    gw = gateway()
    build = "7.2.6-" + "x" * 400
    gw.params["Device.DeviceInfo.SoftwareVersion"] = build
    req = Request(act="change", action="reboot", source="model", exclusions=["the attic extender"] * 120,
                  conditions=[Condition(fact="firmware", expect="eq", value=build, words="on that build")])
    plan = drafted(gw, reboot=True)
    out = run(gw, req, plan)
    assert out.draft is not None
    full = checker.readback(req, localtime.zone("DE"))
    assert len(full) > 2000 and out.draft.readback == full[:2000]
    assert out.draft.preconditions[0].text == checker.condition_text(req.conditions[0])[:300]
    ProposalDraft.model_validate(out.draft.model_dump())


# ---------------------------------------------------------------------------- the time asked for
@pytest.mark.parametrize(("text", "region", "local"), [
    ("restart it at 3 tonight if nobody is connected then", "DE", "Fri 27 Nov 03:00"),
    ("starte ihn heute Nacht um 3 neu, aber nur wenn kein Gerät verbunden ist", "DE", "Fri 27 Nov 03:00"),
    ("redémarre la box cette nuit à 3h si aucun appareil n'est connecté", "US", "Fri 27 Nov 03:00"),
    ("reinicia el equipo esta noche a las 3 si no hay ningún dispositivo conectado", "US", "Fri 27 Nov 03:00"),
])
def test_a_condition_for_later_is_judged_then_not_now(text: str, region: str, local: str) -> None:
    """"At 3 tonight if nobody is connected then", while a laptop is connected this afternoon: drafted for
    03:00 in the gateway's zone, with the condition left for the write to check at that time."""
    gw, req = gateway(region=region), read(text, region)
    zone = localtime.zone(region)
    plan = drafted(gw, reboot=True)
    out = run(gw, req, plan)
    d = accepted(out, plan, req, gw)
    assert req.schedule is not None and d.not_before == req.schedule.not_before
    assert d.not_after is not None and d.not_after.astimezone(zone).strftime("%a %H:%M") == "Fri 06:00"
    [pre] = d.preconditions
    assert (pre.fact, pre.expect, pre.at_write) == ("hosts_connected", "empty", True)
    assert out.text == (f"{plan.text} — scheduled: not before {local} local ({zone.key}) — only if no device is "
                        "connected (checked at 03:00 local, when the write starts)")
    assert gw.reads_of("Device.Hosts.") == 0  # nothing judged this afternoon


@pytest.mark.parametrize("text", ["reboot it overnight please", "Router heute Nacht neu starten"])
def test_an_hour_filled_in_is_said_with_the_time(text: str) -> None:
    """"Overnight" has no hour: the one filled in is said beside the time, for the agent to correct."""
    gw, req = gateway(), read(text)
    plan = drafted(gw, reboot=True)
    out = run(gw, req, plan)
    accepted(out, plan, req, gw)
    assert out.text == (f"{plan.text} — scheduled: not before Fri 27 Nov 02:00 local (Europe/Berlin); "
                        "no hour was given: 02:00 local")


def test_a_time_without_radio_evidence_is_still_drafted() -> None:
    """A turn that read no radios (the gateway answered nothing yet): a reboot for later is judged and timed
    all the same."""
    gw, req = gateway(region="US"), read("set the 5 GHz channel to 44 tonight at 3", "US")
    plan = drafted(gw, ("Device.WiFi.Radio.2.Channel", 44))
    out = run(gw, req, plan, ev={})
    d = accepted(out, plan, req, gw)
    assert req.schedule is not None and d.not_before == req.schedule.not_before
    assert out.text.endswith(" — scheduled: not before Fri 27 Nov 03:00 local (America/New_York)")


# ---------------------------------------------------------------------------- what is left alone
def test_no_request_or_no_draft_is_left_as_it_is() -> None:
    """Only a change with a draft and a request is qualified: a question, an answer or an escalation (even
    one that carries a draft), a change with no draft, or a turn with no request pass through untouched."""
    gw = gateway()
    req = read("set the 5 GHz channel to 44")
    wrong = drafted(gw, ("Device.WiFi.Radio.1.Channel", 1))
    for plan in (wrong.model_copy(update={"outcome": "escalation"}), wrong.model_copy(update={"outcome": "answer"}),
                 Plan(outcome="change", finding="explicit_request", text="nothing yet"),
                 Plan(outcome="question", finding="unplaced", text="which band?")):
        assert run(gw, req, plan) is plan
    assert run(gw, None, wrong) is wrong
    assert gw.reads_of("Device.WiFi.SSID.") == 0


def test_a_network_without_a_name_or_not_listed_is_named_by_its_object() -> None:
    """A refusal names every network it would wrongly change: one whose SSID is empty, or an index the
    gateway does not list, by its object — never an empty pair of quotes."""
    gw, req = gateway("dual"), read("rename the guest network to Gartenhaus")
    home = gw.wlan("5GHz")
    gw.params[f"Device.WiFi.SSID.{home.index}.SSID"] = ""
    out = run(gw, req, drafted(gw, (f"Device.WiFi.SSID.{home.index}.SSID", "Gartenhaus"),
                               ("Device.WiFi.SSID.9.SSID", "Gartenhaus")))
    assert refused(out, req, gw) == (f"it would change Device.WiFi.SSID.{home.index}., Device.WiFi.SSID.9., "
                                     "which is not the guest network asked for")
