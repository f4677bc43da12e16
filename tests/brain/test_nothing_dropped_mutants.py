"""What the agent and the approver are told about the requests read since "nothing asked is dropped" and "the
whole Wi-Fi off": found by the mutation helper on the functions those changes wrote (``make mutate``), each case a
line that no test would have noticed going wrong.

* **Another gateway** (``brain.understanding.offline._other_gateways`` / ``_asks_operation``,
  ``scope.another_gateway``): a clause that asks for an operation on the neighbour's router — by an imperative, a
  polite request or the operation's own words — is asked about by name, with the reason; one that reports or
  wonders about it is not.
* **A time agreed to** ("… tomorrow after 20:00 is fine"): the schedule, in four languages; "mornings are fine"
  after a symptom is no schedule.
* **Kept at a value** ("leave the 5 GHz on channel 36"): the channel asked for, never an exclusion — while "leave
  the guest network alone" still excludes it.
* **A piece of the message** (``_contributes``): what completes the operation is part of it; a request beside it
  that no operation places is named back, not dropped.
* **The whole Wi-Fi on or off** (``actions._whole_wifi`` / ``_radio_request``): the parser's own answer — the band,
  the value, never another device's "off" nor a description.
* **A radio switched off that carries a network kept** (``brain.qualify``): refused, also when only a confirmation
  carries the write; a time is read back in the gateway's local time, whatever zone a model wrote it in.
* **Several radios at once** (``brain.explicit``): who loses Wi-Fi, counted once and named, before anything is
  written; the question asked where a value or a band is missing.

The gateway stand-in is the one of ``tests/brain/test_qualify_excluded_band.py`` (a TR-181 tree read live), given a
``Device`` and, where the test needs them, connected hosts and the radios' own value lists. Nothing here waits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest

from brain import explicit, qualify
from brain.plan import Plan
from brain.understanding.actions import ExplicitRequest, parse
from brain.understanding.offline import Context, Understood, understand
from brain.understanding.request import Band, Condition, Request, Schedule, Target, Unplaced
from core.kernel.models import Device
from tests.brain.conftest import run_turn
from tests.brain.test_qualify_excluded_band import Gateway, accepted, drafted, evidence, gateway, refused, run
from tests.brain.test_reader_chat import _dual_band, _proposals

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 26, 14, 20, tzinfo=UTC)  # Thursday, 15:20 in Berlin
ELSEWHERE = "another gateway: this chat changes only the gateway it is about — open a chat on that one"
NOT_HERE = "not something I can do on the gateway"


def read(text: str) -> Understood:
    return understand(text, Context(now=NOW, zone=BERLIN))


def targets_asked(req: Request) -> list[Unplaced]:
    return [u for u in req.unplaced if u.kind == "target"]


# ---------------------------------------------------------------------------- another gateway, asked about by name
@pytest.mark.parametrize(("text", "words"), [
    ("touch the neighbour's router", "neighbour's router"),  # an imperative, nothing else
    ("also touch the other router", "the other router"),  # the verb after a filler word
    ("can you change the neighbour's router", "neighbour's router"),  # a request, no action named
    ("for the neighbour's router rename the wifi to Bob", "neighbour's router"),  # the operation's own words
    ("starte auch den Router vom Nachbarn neu", "Router vom Nachbarn"),
    ("redémarre aussi la box du voisin", "box du voisin"),
    ("reinicia también el router del vecino", "router del vecino"),
])
def test_an_operation_on_another_gateway_is_asked_about_naming_it(text: str, words: str) -> None:
    assert targets_asked(read(text).request) == [Unplaced(words=words, kind="target", why=ELSEWHERE)]


def test_each_other_gateway_asked_for_is_named_in_the_order_said() -> None:
    req = read("reboot the neighbour's router. also reset the other box").request
    assert targets_asked(req) == [Unplaced(words="neighbour's router", kind="target", why=ELSEWHERE),
                                  Unplaced(words="the other box", kind="target", why=ELSEWHERE)]


@pytest.mark.parametrize("text", [
    "we changed the neighbour's router",  # a report: its verb is not the clause's first word
    "the neighbour's router was rebooted",
    "why did the neighbour's router reboot?",  # a question
    "set the neighbour's router to channel 6 ?",  # an imperative asked as a question
    "don't reboot the neighbour's router",  # a negation
])
def test_another_gateway_reported_or_wondered_about_is_no_request(text: str) -> None:
    req = read(text).request
    assert targets_asked(req) == [] and req.action is None, req


def test_a_rename_for_the_neighbours_router_drafts_nothing_here(rt: Any, world: Any, svc: Any, device: Any,
                                                                  actor: Any) -> None:
    alice = actor("alice")
    events = run_turn(svc, svc.start(_dual_band(world, device), alice),
                      "for the neighbour's router rename the wifi to Bob", alice)
    said = " ".join(e.text for e in events if e.kind in ("answer", "question", "escalation", "notice"))
    assert _proposals(rt, events) == [], said
    assert "neighbour's router" in said and "another gateway" in said, said


# ---------------------------------------------------------------------------- a time agreed to
@pytest.mark.parametrize(("text", "words", "rest"), [
    ("restart the gateway tomorrow after 20:00 is fine", "20:00 tomorrow", "restart the gateway"),
    ("starte den Router morgen neu, nach 20 Uhr passt", "20 Uhr morgen", "starte den Router neu"),
    ("redémarre la box demain, après 20 h c'est bon", "20 h demain", "redémarre la box"),
    ("reinicia el router mañana, después de las 20:00 está bien", "20:00 mañana", "reinicia el router"),
])
def test_a_time_agreed_to_is_the_reboots_schedule(text: str, words: str, rest: str) -> None:
    u = read(text)
    req = u.request
    assert (req.act, req.action, req.unplaced) == ("change", "reboot", []), req
    assert req.schedule is not None and (req.schedule.words, req.schedule.not_before) == (
        words, datetime(2026, 11, 27, 19, 0, tzinfo=UTC)), req.schedule
    assert u.text == rest  # "is fine" went with the time, not left to be read as a report


def test_a_time_that_is_fine_beside_a_symptom_is_no_schedule() -> None:
    req = read("the wifi drops in the evening, mornings are fine").request
    assert (req.act, req.action, req.schedule, req.unplaced) == ("diagnose", None, None, []), req


# ---------------------------------------------------------------------------- kept at a value, or kept as it is
@pytest.mark.parametrize(("text", "band", "value"), [
    ("leave the 5 GHz on channel 36", "5GHz", 36),
    ("keep the 2.4 GHz as it is on channel 6", "2.4GHz", 6),
    ("lass das 5-GHz-Band auf Kanal 44", "5GHz", 44),
    ("laisse le 5 GHz sur le canal 36", "5GHz", 36),
    ("deja el 2,4 en el canal 6", "2.4GHz", 6),
])
def test_a_band_left_at_a_channel_is_that_channel_and_nothing_excluded(text: str, band: str, value: int) -> None:
    req = read(text).request
    assert (req.act, req.action, req.values, req.target.bands, req.exclusions) == (
        "change", "channel", {"value": value}, [band], []), req


@pytest.mark.parametrize(("text", "kept"), [
    ("change the wifi password but leave the guest network alone", "guest network"),
    ("rename the wifi to Garten, leave the guest wifi", "guest wifi"),
    ("ändere das WLAN-Passwort, aber lass das Gästenetz in Ruhe", "Gästenetz"),
    ("change le mot de passe du wifi mais laisse le réseau invités", "réseau invités"),
    ("cambia la contraseña del wifi pero deja la red de invitados", "red de invitados"),
])
def test_a_network_left_without_a_value_is_still_excluded(text: str, kept: str) -> None:
    assert read(text).request.exclusions == [kept]


# ---------------------------------------------------------------------------- a piece of the message
@pytest.mark.parametrize("text", [
    "please move the contract over to her husband",
    "bitte den Vertrag auf ihren Mann umschreiben",
    "déménage son contrat chez son mari svp",
])
def test_a_request_no_operation_places_is_named_back(text: str) -> None:
    req = read(text).request
    assert (req.act, req.action) == ("diagnose", None), req
    assert req.unplaced == [Unplaced(words=text, kind="request", why=NOT_HERE)]


@pytest.mark.parametrize(("text", "piece"), [
    ("reboot it and cancel her streaming subscription", "cancel her streaming subscription"),
    ("starte den Router neu und kündige ihren Vertrag", "kündige ihren Vertrag"),
    ("redémarre la box et résilie son abonnement TV", "résilie son abonnement TV"),
    ("reinicia el router y cancela su suscripción de Netflix", "cancela su suscripción de Netflix"),
])
def test_a_request_beside_a_reboot_is_named_back_not_dropped(text: str, piece: str) -> None:
    req = read(text).request
    assert (req.act, req.action) == ("change", "reboot"), req
    assert req.unplaced == [Unplaced(words=piece, kind="request", why=NOT_HERE)]


@pytest.mark.parametrize(("text", "action", "values", "bands", "role"), [
    ("la potencia del 5 GHz, un poco más alta", "power", {"step": 1}, ["5GHz"], None),
    ("die Sendeleistung vom 5-GHz-Band, etwas niedriger", "power", {"step": -1}, ["5GHz"], None),
    ("puissance un cran plus bas", "power", {"step": -1}, [], None),
    ("is the guest wifi off? if so switch it back on", "ssid_enable", {"value": True}, [], "guest"),
])
def test_a_piece_that_completes_the_operation_is_part_of_it(text: str, action: str, values: dict[str, Any],
                                                             bands: list[str], role: str | None) -> None:
    req = read(text).request
    assert (req.act, req.action, req.values, req.target.bands, req.target.ssid_role) == (
        "change", action, values, bands, role), req
    assert req.unplaced == [], req.unplaced


# ---------------------------------------------------------------------------- the parser: the whole Wi-Fi, on or off
@pytest.mark.parametrize(("text", "value"), [
    ("das WLAN bitte ausschalten", False),  # a German infinitive after the noun
    ("switch the wifi on", True),
    ("schalte das WLAN ein", True),
    ("allume le wifi", True),
    ("enciende el wifi", True),
])
def test_the_whole_wifi_switched_is_every_radio(text: str, value: bool) -> None:
    assert parse(text) == ExplicitRequest(action="band_enable", value=value)
    req = read(text).request
    assert (req.action, req.values, req.target.bands) == ("band_enable", {"value": value}, []), req


@pytest.mark.parametrize("text", [
    "turn off the TV",  # another device's off
    "switch it off",  # nothing named
    "both bands switch off when the microwave runs",  # described: the noun before its verb
    "das WLAN schaltet sich nachts aus",
])
def test_an_off_that_is_not_the_wifis_switch_is_no_radio_request(text: str) -> None:
    assert parse(text) is None
    assert read(text).request.action is None


@pytest.mark.parametrize(("text", "band", "value"), [
    ("the 5 GHz is disabled, enable it", "5GHz", True),  # the request's "on" over the description's "off"
    ("réactive le wifi 5 GHz, il est désactivé", "5GHz", True),
    ("réactive le wifi 5 GHz", "5GHz", True),  # "back on" alone
    ("reactiva el wifi de 5 GHz", "5GHz", True),
    ("switch the 2.4 GHz radio off", "2.4GHz", False),
    ("schalte das 2,4-GHz-WLAN aus", "2.4GHz", False),
    ("désactive le 5 GHz", "5GHz", False),
    ("desactiva la banda de 5 GHz", "5GHz", False),
])
def test_a_band_switched_keeps_its_band_and_value(text: str, band: Band, value: bool) -> None:
    assert parse(text) == ExplicitRequest(action="band_enable", band=band, value=value)


@pytest.mark.parametrize(("text", "band", "value"), [
    ("enable the guest wifi on 5 GHz", "5GHz", True),
    ("disable the guest network on the 2.4 GHz band", "2.4GHz", False),
    ("schalte das Gäste-WLAN im 5-GHz-Band aus", "5GHz", False),
    ("coupe le wifi invités en 5 GHz", "5GHz", False),
    ("apaga la red de invitados de 2,4 GHz", "2.4GHz", False),
])
def test_the_guest_network_switched_keeps_its_band_and_value(text: str, band: Band, value: bool) -> None:
    assert parse(text) == ExplicitRequest(action="ssid_enable", band=band, value=value)


@pytest.mark.parametrize(("text", "band", "value"), [
    ("quarter power on the 5 GHz", "5GHz", 25),
    ("stell die Sendeleistung im 5-GHz-Band auf ein Viertel", "5GHz", 25),
    ("la puissance 5 GHz à un quart", "5GHz", 25),
    ("baja la potencia del 5 GHz a la mitad", "5GHz", 50),
    ("lower the power a bit, to a quarter", None, 25),  # a share said: no step beside it
    ("set the transmit power on 2.4 GHz to 50%", "2.4GHz", 50),
    ("set the 5 GHz power to 60", "5GHz", 60),
])
def test_a_transmit_power_keeps_its_band_and_its_share(text: str, band: Band | None, value: int) -> None:
    assert parse(text) == ExplicitRequest(action="power", band=band, value=value)


# ---------------------------------------------------------------------------- qualify: a radio off carries its networks
OFF_KEEPING_THE_GUESTS = [
    ("turn off the wifi except the guest network", "guest network"),
    ("schalte das WLAN aus, außer dem Gästenetz", "Gästenetz"),
    ("coupe le wifi sauf le réseau invités", "réseau invités"),
    ("apaga el wifi excepto la red de invitados", "red de invitados"),
]


def kept_off(band: str, word: str) -> str:
    return (f"it would switch off the {band} radio, which carries the {word} you asked me to keep — a network goes "
            "off with its radio")


@pytest.mark.parametrize(("text", "word"), OFF_KEEPING_THE_GUESTS)
def test_a_radio_off_that_carries_the_network_kept_is_refused(text: str, word: str) -> None:
    """Tri-band, 5 GHz radio first: the 5 GHz and 2.4 GHz radios carry a guest network, the 6 GHz radio none."""
    gw, req = gateway("tri"), read(text).request
    assert (req.action, req.values, req.exclusions) == ("band_enable", {"value": False}, [word]), req
    six, five = gw.radio("6GHz"), gw.radio("5GHz")
    out = run(gw, req, drafted((f"Device.WiFi.Radio.{six}.Enable", False), (f"Device.WiFi.Radio.{five}.Enable", False)))
    assert refused(out, req) == kept_off("5GHz", word)
    only_six = drafted((f"Device.WiFi.Radio.{six}.Enable", False))
    accepted(run(gw, req, only_six), only_six)


def test_a_radio_switched_on_or_another_setting_is_not_a_network_switched_off() -> None:
    gw = gateway("tri")
    req = Request(act="change", action="band_enable", values={"value": True}, exclusions=["guest network"],
                  source="model")
    on = drafted((f"Device.WiFi.Radio.{gw.radio('5GHz')}.Enable", True))
    accepted(run(gw, req, on), on)
    channel = drafted((f"Device.WiFi.Radio.{gw.radio('5GHz')}.Channel", 44))
    accepted(run(gw, req.model_copy(update={"action": "channel", "values": {"value": 44}}), channel), channel)
    assert ["Device.WiFi.SSID."] not in gw.asked  # nothing switched off: no network table read for it


def test_a_radio_off_with_only_a_band_excluded_reads_no_network() -> None:
    gw = gateway("tri")
    req = Request(act="change", action="band_enable", values={"value": False}, exclusions=["6GHz"], source="model")
    plan = drafted((f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Enable", False))
    accepted(run(gw, req, plan), plan)
    assert ["Device.WiFi.SSID."] not in gw.asked  # no network kept: the radio's networks are not this check's


def test_the_main_network_kept_rides_on_every_radio() -> None:
    gw = gateway("dual")
    req = Request(act="change", action="band_enable", values={"value": False}, exclusions=["main network"],
                  source="model")
    out = run(gw, req, drafted((f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Enable", False)))
    assert refused(out, req) == kept_off("2.4GHz", "main network")


def test_a_radio_whose_band_or_networks_cannot_be_told_is_not_switched_off() -> None:
    """No radio read: the radio is named by its index. No ``LowerLayers``: a guest network may be on any radio."""
    gw = gateway("tri")
    req = Request(act="change", action="band_enable", values={"value": False}, exclusions=["guest network"],
                  source="model")
    out = run(gw, req, drafted(("Device.WiFi.Radio.3.Enable", False)), ev={})
    assert refused(out, req) == kept_off("radio 3", "guest network")
    flat = gateway("tri", lower_layers=False)
    out = run(flat, req, drafted((f"Device.WiFi.Radio.{flat.radio('6GHz')}.Enable", False)))
    assert refused(out, req) == kept_off("6GHz", "guest network")


# ---------------------------------------------------------------------------- qualify: a confirmation's write
def asking(*changes: tuple[str, Any], outcome: Literal["question", "answer"] = "question") -> Plan:
    """What ``brain.explicit`` asks before turning radios off: the changes it would write, in the plan's data."""
    return Plan(outcome=outcome, finding="explicit_request", text="2 device(s) are connected … Reply 'yes' …",
                data={"pending": "explicit_request", "missing": ["confirm"],
                      "would_write": [{"path": p, "value": v, "type": None} for p, v in changes]})


def test_a_confirmation_whose_write_is_refused_is_never_asked() -> None:
    gw, req = gateway("dual"), read("turn off the wifi except the guest network").request
    question = asking(*[(f"Device.WiFi.Radio.{gw.radio(b)}.Enable", False) for b in ("2.4GHz", "5GHz")])
    assert refused(run(gw, req, question), req) == kept_off("2.4GHz", "guest network")


def test_a_confirmation_whose_write_is_as_asked_is_asked_as_it_was() -> None:
    gw, req = gateway("dual"), read("turn off the wifi").request
    question = asking(*[(f"Device.WiFi.Radio.{gw.radio(b)}.Enable", False) for b in ("2.4GHz", "5GHz")])
    assert run(gw, req, question) == question


def test_only_a_questions_write_is_judged_and_only_against_a_request() -> None:
    gw, req = gateway("dual"), read("turn off the wifi except the guest network").request
    write = (f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Enable", False)
    answer = asking(write, outcome="answer")
    assert run(gw, req, answer) == answer  # an answer writes nothing
    question = asking(write)
    assert qualify.apply(gw, None, question, evidence(gw)) == question  # type: ignore[arg-type]
    empty = question.model_copy(update={"data": {"pending": "explicit_request", "would_write": []}})
    assert run(gw, req, empty) == empty



def test_a_time_a_model_hands_over_in_utc_is_read_back_in_the_gateways_local_time() -> None:
    """A schedule is shown in the device's zone (``request.Schedule``): one a model wrote in UTC is read back at
    20:00 on a Berlin gateway — drafted, refused or asked about — never at the 19:00 it says in UTC."""
    gw = gateway("dual")  # region DE; no neighbour scan table
    at = Schedule(not_before=datetime(2026, 11, 27, 19, 0, tzinfo=UTC), zone="UTC", words="tomorrow at 19:00")
    req = Request(act="change", action="channel", values={"value": 1}, target=Target(bands=["2.4GHz"]),
                  schedule=at, source="model")
    radio = f"Device.WiFi.Radio.{gw.radio('2.4GHz')}.Channel"
    out = run(gw, req, drafted((radio, 1)))
    assert out.draft is not None and "Fri 27 Nov 20:00" in out.draft.readback, out.draft
    assert "scheduled: not before Fri 27 Nov 20:00 local" in out.text, out.text
    out = run(gw, req, drafted((radio, 6)))
    assert out.finding == "not_as_asked" and "Fri 27 Nov 20:00" in out.text, out.text
    unless = Condition(fact="neighbour_on_channel", expect="empty", value=1, words="unless a neighbour uses 1")
    out = run(gw, req.model_copy(update={"conditions": [unless]}), drafted((radio, 1)))
    assert out.finding == "condition_unreadable" and "Fri 27 Nov 20:00" in out.text, out.text

# ---------------------------------------------------------------------------- explicit: several radios at once
def home(layout: str = "dual", *, connected: dict[int, int] | None = None, hosts: tuple[str, ...] = (),
         lower_layers: bool = True, without: tuple[int, ...] = ()) -> Gateway:
    """The stand-in with a ``Device``, ``connected[ssid]`` clients on each access point (its index is its SSID's),
    ``hosts`` active and named on ``SSID.1``, and the radios' own lists: channels 1–11 on 2.4 GHz (manual), 36–48
    on 5 GHz (automatic), transmit power 25/50/75/100 %. ``without``: radios the gateway does not have."""
    gw = gateway(layout, lower_layers=lower_layers)
    gw.device = Device(id="gw-0815", vendor="Sagemcom", model="F@st 5670", firmware="7.2.6", region="DE")
    for i, band in gw.radios.items():
        gw.params |= {f"Device.WiFi.Radio.{i}.PossibleChannels": "1,2,3,4,5,6,7,8,9,10,11" if band == "2.4GHz"
                      else "36,40,44,48", f"Device.WiFi.Radio.{i}.AutoChannelEnable": band != "2.4GHz",
                      f"Device.WiFi.Radio.{i}.TransmitPowerSupported": "25,50,75,100",
                      f"Device.WiFi.Radio.{i}.TransmitPower": 100}
    for n in gw.nets:
        gw.params[f"Device.WiFi.AccessPoint.{n.ap}.AssociatedDeviceNumberOfEntries"] = (connected or {}).get(n.ssid, 0)
    for i, name in enumerate(hosts, start=1):
        gw.params |= {f"Device.Hosts.Host.{i}.Layer1Interface": "Device.WiFi.SSID.1.",
                      f"Device.Hosts.Host.{i}.Active": True, f"Device.Hosts.Host.{i}.HostName": name}
    for i in without:
        gw.params = {k: v for k, v in gw.params.items() if not k.startswith(f"Device.WiFi.Radio.{i}.")}
        gw.radios.pop(i)
    return gw


def draft(gw: Gateway, req: ExplicitRequest, text: str = "") -> Plan:
    return explicit.draft(gw, explicit.finding(req, text), evidence(gw))  # type: ignore[arg-type]


OFF = ExplicitRequest(action="band_enable", value=False)
CONFIRM = "Reply 'yes' to turn the Wi-Fi off anyway, or 'no'."


def lose(n: int, named: str, bands: str) -> str:
    return (f"{n} device(s) are connected to this gateway's Wi-Fi right now{named} and will lose Wi-Fi if I turn the "
            f"{bands} radios off (the guest network on them goes off too). {CONFIRM}")


def enables(gw: Gateway, value: bool, *bands: str) -> list[dict[str, Any]]:
    return [{"path": f"Device.WiFi.Radio.{gw.radio(b)}.Enable", "value": value, "type": None} for b in bands]


def test_the_wifi_off_asks_first_counting_every_radio_and_naming_who_is_on_it() -> None:
    gw = home(connected={1: 2, 2: 1}, hosts=("Lenas iPad",))
    out = draft(gw, OFF, "turn off the wifi")
    assert (out.outcome, out.finding, out.draft) == ("question", "explicit_request", None)
    assert out.text == lose(3, ' — "Lenas iPad" and 2 more —', "2.4GHz and 5GHz")
    assert out.data == {"pending": "explicit_request", "missing": ["confirm"],
                        "would_write": enables(gw, False, "2.4GHz", "5GHz")}


def test_the_wifi_off_confirmed_is_drafted_on_every_radio() -> None:
    gw = home(connected={1: 2, 2: 1}, hosts=("Lenas iPad",))
    out = draft(gw, OFF, "turn off the wifi [confirmed]")
    assert out.outcome == "change" and out.draft is not None, out.text
    assert out.text == out.draft.intent == "Disable the Wi-Fi: the 2.4GHz and 5GHz radios (agent request)"
    assert [c.model_dump(mode="json") for c in out.draft.changes] == enables(gw, False, "2.4GHz", "5GHz")


@pytest.mark.parametrize(("text", "value", "intent"), [
    ("turn the wifi back on", True, "Enable the Wi-Fi: the 2.4GHz and 5GHz radios (agent request)"),
    ("schalte das WLAN aus", False, "Disable the Wi-Fi: the 2.4GHz and 5GHz radios (agent request)"),
])
def test_the_wifi_on_or_off_with_nobody_to_lose_is_drafted_without_asking(text: str, value: bool,
                                                                          intent: str) -> None:
    gw = home(connected={1: 2, 2: 1} if value else None, hosts=("Lenas iPad",) if value else ())
    req = explicit.from_request(read(text).request)
    assert req is not None
    out = draft(gw, req, text)
    assert out.outcome == "change" and out.draft is not None, out.text
    assert (out.text, [c.model_dump(mode="json") for c in out.draft.changes]) == (
        intent, enables(gw, value, "2.4GHz", "5GHz"))


def test_both_bands_off_on_a_tri_band_gateway_leaves_the_third_radio() -> None:
    gw = home("tri")
    req = explicit.from_request(read("turn off both bands").request)
    assert req is not None
    out = draft(gw, req)
    assert out.draft is not None, out.text
    assert out.text == "Disable the Wi-Fi: the 5GHz and 2.4GHz radios (agent request)"
    assert [c.model_dump(mode="json") for c in out.draft.changes] == enables(gw, False, "5GHz", "2.4GHz")


def test_the_wifi_off_without_the_ssid_to_radio_map_counts_each_client_once() -> None:
    """Without ``LowerLayers`` each radio counts every access point: the same clients, not twice as many."""
    gw = home(connected={1: 2, 2: 1}, hosts=("Lenas iPad",), lower_layers=False)
    assert draft(gw, OFF).text == lose(3, "", "2.4GHz and 5GHz")


@pytest.mark.parametrize(("connected", "hosts", "named"), [
    ({1: 1}, ("Lenas iPad",), ' — "Lenas iPad" —'),
    ({1: 1, 2: 1}, ("Lenas iPad",), ' — "Lenas iPad" and 1 more —'),
])
def test_who_loses_wifi_is_named_and_how_many_more(connected: dict[int, int], hosts: tuple[str, ...],
                                                   named: str) -> None:
    gw = home(connected=connected, hosts=hosts)
    assert draft(gw, OFF).text == lose(sum(connected.values()), named, "2.4GHz and 5GHz")


def test_who_loses_wifi_is_named_eight_at_most() -> None:
    gw = home(connected={1: 10}, hosts=tuple(f"Laptop {i}" for i in range(1, 11)))
    text = draft(gw, OFF).text
    assert text.startswith("10 device(s) are connected to this gateway's Wi-Fi right now — " + ", ".join(
        f'"Laptop {i}"' for i in range(1, 9))), text
    assert '"Laptop 9"' not in text and '"Laptop 10"' not in text, text


def test_the_wifi_off_on_a_single_radio_gateway_is_that_radio_off() -> None:
    gw = home(connected={1: 2}, hosts=("Lenas iPad",), without=(2,))
    out = draft(gw, OFF)
    assert out.text == ('2 device(s) are connected on 2.4GHz right now — "Lenas iPad" and 1 more — and may lose Wi-Fi '
                        "if I turn 2.4GHz off (devices that only support 2.4GHz cannot move to the other band). Reply "
                        "'yes' to turn it off anyway, or 'no'.")
    assert out.data == {"pending": "explicit_request", "missing": ["confirm"],
                        "would_write": enables(gw, False, "2.4GHz")}
    done = draft(gw, OFF, "[confirmed]")
    assert done.draft is not None and done.text == "Disable the 2.4GHz radio 1 (agent request)"


def test_one_band_off_names_its_own_clients() -> None:
    gw = home(connected={2: 1, 4: 2})
    out = draft(gw, ExplicitRequest(action="band_enable", band="5GHz", value=False))
    assert out.text.startswith("3 device(s) are connected on 5GHz right now and may lose Wi-Fi if I turn 5GHz off")
    assert out.data is not None and out.data["would_write"] == enables(gw, False, "5GHz")


# ---------------------------------------------------------------------------- explicit: one radio's setting
@pytest.mark.parametrize(("req", "text", "changes"), [
    (ExplicitRequest(action="channel", value=6), "Set 2.4GHz channel to 6 on radio 1 (agent request)",
     [("Device.WiFi.Radio.1.Channel", 6)]),  # no band said: channel 6 is a 2.4 GHz one
    (ExplicitRequest(action="channel", band="5GHz", value=44), "Set 5GHz channel to 44 on radio 2 (agent request)",
     [("Device.WiFi.Radio.2.Channel", 44), ("Device.WiFi.Radio.2.AutoChannelEnable", False)]),
    (ExplicitRequest(action="width", band="5GHz", value="80MHz"), "Set 5GHz width to 80MHz on radio 2 (agent request)",
     [("Device.WiFi.Radio.2.OperatingChannelBandwidth", "80MHz")]),
    (ExplicitRequest(action="power", band="2.4GHz", value=50),
     "Set 2.4GHz transmit power to 50 on radio 1 (agent request)", [("Device.WiFi.Radio.1.TransmitPower", 50)]),
])
def test_a_radio_setting_is_drafted_on_the_radio_of_its_band(req: ExplicitRequest, text: str,
                                                             changes: list[tuple[str, Any]]) -> None:
    out = draft(home(), req)
    assert out.outcome == "change" and out.draft is not None, out.text
    assert out.text == text and [(c.path, c.value) for c in out.draft.changes] == changes
    assert out.measure is not None and out.measure.labels == {"radio": changes[0][0].split(".")[3]}


@pytest.mark.parametrize(("req", "text"), [
    (ExplicitRequest(action="channel", band="2.4GHz", value=13),
     "Channel 13 is not one the 2.4GHz radio supports (PossibleChannels: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11). Which "
     "of those should I use?"),
    (ExplicitRequest(action="power", band="5GHz", value=30),
     "Transmit power 30% is not a level the 5GHz radio supports (TransmitPowerSupported: 25, 50, 75, 100). Which "
     "should I use?"),
])
def test_a_value_the_radio_does_not_list_is_asked_about(req: ExplicitRequest, text: str) -> None:
    out = draft(home(), req)
    assert (out.outcome, out.text, out.data) == ("question", text, {"pending": "explicit_request",
                                                                     "missing": ["value"]})



def test_a_width_the_device_does_not_list_is_asked_about_with_nothing_to_chart() -> None:
    gw = home()
    gw.params["Device.WiFi.Radio.1.SupportedOperatingChannelBandwidths"] = "20MHz,40MHz"
    out = draft(gw, ExplicitRequest(action="width", band="2.4GHz", value="80MHz"))
    assert (out.outcome, out.draft, out.measure) == ("question", None, None)
    assert out.text == ("The device would not take that as asked: Device.WiFi.Radio.1.OperatingChannelBandwidth: "
                        "80MHz is not supported by this device (SupportedOperatingChannelBandwidths: 20MHz,40MHz). "
                        "Which value should I use instead?")

@pytest.mark.parametrize(("gw", "req", "text"), [
    (home(), ExplicitRequest(action="power", value=50),
     "Which band should the power change apply to: 2.4 GHz or 5 GHz?"),
    (home(without=(1, 2)), OFF, "Which band should the band enable change apply to: 2.4 GHz or 5 GHz?"),
])
def test_a_band_that_cannot_be_told_is_asked_for(gw: Gateway, req: ExplicitRequest, text: str) -> None:
    out = draft(gw, req)
    assert (out.outcome, out.text, out.data) == ("question", text, {"pending": "explicit_request",
                                                                     "missing": ["band"]})


def test_a_band_the_gateway_has_no_radio_for_is_answered() -> None:
    out = draft(home(), ExplicitRequest(action="channel", band="6GHz", value=37))
    assert (out.outcome, out.finding, out.draft) == ("answer", "explicit_request", None)
    assert out.text == "This gateway has no 6GHz radio I could read; nothing to change."


def test_the_confirmation_of_the_wifi_off_is_refused_when_it_carries_the_network_kept() -> None:
    """The flow end to end: the drafter's question, then the request's own limits on what it would write."""
    gw = home(connected={1: 2, 2: 1}, hosts=("Lenas iPad",))
    text = "turn off the wifi except the guest network"
    req = read(text).request
    asked = explicit.from_request(req)
    assert asked is not None
    question = draft(gw, asked, text)
    assert question.outcome == "question" and question.text.endswith(CONFIRM), question.text
    assert refused(run(gw, req, question), req) == kept_off("2.4GHz", "guest network")
