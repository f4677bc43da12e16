"""Two readings of one message, reconciled (issue 57.1, issue 55 defect 7): what either reader found is
kept, and where both found a qualifier and disagree the agent is asked, naming both readings.

The parser's reading is the real offline reader's; the model's is what a model's tool call would
carry, written out here."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from brain.understanding import checker, offline
from brain.understanding.request import Condition, Request, Schedule, Scope, Target

ZONE = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 3, 10, 14, 0, tzinfo=ZONE)


def parsed(message: str) -> Request:
    return offline.understand(message, offline.Context(now=NOW, zone=ZONE)).request


def merged(message: str, model: Request) -> Request:
    out = checker.reconcile(parsed(message), model, message)
    assert out is not None
    return out


def asked(req: Request) -> str:
    text = checker.question(req)
    assert text is not None, f"expected a question, got a request to act on: {req.model_dump(exclude_defaults=True)}"
    return text


def test_a_model_now_never_overrides_a_parsed_tonight() -> None:
    message = "please reboot the gateway tonight at 2"
    model = Request(act="change", action="reboot", immediate=True)
    req = merged(message, model)
    assert req.schedule is not None and req.schedule.not_before.astimezone(ZONE).hour == 2
    assert not req.immediate and checker.question(req) is None
    at_now = Request(act="change", action="reboot", schedule=Schedule(not_before=NOW, zone="Europe/Paris", words="now"))
    assert "02:00" in asked(merged(message, at_now))  # two times: asked, never the model's "now"


def test_two_different_times_are_asked_about_naming_both() -> None:
    message = "please reboot the gateway tonight at 2"
    later = parsed(message).schedule
    assert later is not None
    model = Request(act="change", action="reboot",
                    schedule=Schedule(not_before=later.not_before + timedelta(hours=1), zone="Europe/Paris",
                                      words="tonight at 2"))
    text = asked(merged(message, model))
    assert "02:00" in text and "03:00" in text


def test_a_different_action_is_asked_about_not_taken_from_the_model() -> None:
    """At the start the model's action won: two right parser readings became a reboot."""
    message = 'rename the wifi to "Harbour View" please'
    model = Request(act="change", action="reboot")
    req = merged(message, model)
    text = asked(req)
    assert "reboot" in text and "ssid" in text


def test_a_value_only_the_parser_read_is_kept() -> None:
    """At the start a power change lost its value when the model's reading had none."""
    message = "set the 2.4 GHz transmit power to 50 %"
    model = Request(act="change", action="power", target=Target(bands=["2.4GHz"], words="2.4 GHz"))
    req = merged(message, model)
    assert str(req.values.get("value")) in ("50", "50.0") and checker.question(req) is None


def test_two_values_are_asked_about_unless_the_message_corrects_the_first() -> None:
    message = "set the 5 GHz channel to 40 ... sorry, 44"
    first = Request(act="change", action="channel", values={"value": 40}, target=Target(bands=["5GHz"], words="5 GHz"))
    second = first.model_copy(update={"values": {"value": 44}})
    # whichever reader took the first value, the later one (after "sorry") is what was asked
    for a, b in ((first, second), (second, first)):
        out = checker.reconcile(a, b, message)
        assert out is not None and out.values["value"] in (44, "44") and checker.question(out) is None
    # both readers kept the value the message corrects: asked, naming both
    assert "44" in asked(checker.reconcile(first, first, message))
    far = Request(act="change", action="channel", values={"value": 36}, target=Target(bands=["5GHz"]))
    assert "40" in asked(checker.reconcile(far, far, "5 GHz canal 36, enfin non, plutôt le 40"))
    plain = "set the 5 GHz channel to 40"
    assert "44" in asked(merged(plain, second)) and "40" in asked(merged(plain, second))


def test_a_condition_is_kept_and_its_opposite_is_asked_about() -> None:
    message = "reboot it, but only if nobody is connected"
    dropped = Request(act="change", action="reboot")
    assert [c.fact for c in merged(message, dropped).conditions] == ["hosts_connected"]
    inverted = Request(act="change", action="reboot", conditions=[
        Condition(fact="hosts_connected", expect="nonempty", words="only if nobody is connected")])
    assert "nobody is connected" in asked(merged(message, inverted))


def test_a_condition_only_the_model_read_is_kept_when_the_message_says_it() -> None:
    message = "reboot it when the house is empty of devices"
    said = Condition(fact="hosts_connected", expect="empty", words="when the house is empty of devices")
    req = merged(message, Request(act="change", action="reboot", conditions=[said]))
    assert any(c.fact == "hosts_connected" and c.expect == "empty" for c in req.conditions)
    invented = Condition(fact="online", expect="eq", value=True, words="only if it is online")
    assert "online" in asked(merged("reboot it", Request(act="change", action="reboot", conditions=[invented])))


@pytest.mark.parametrize("model_bands", [["2.4GHz"], ["2.4GHz", "5GHz"]])
def test_a_different_band_is_asked_about(model_bands: list[str]) -> None:
    message = "set the 5 GHz channel to 44"
    model = Request(act="change", action="channel", values={"value": 44},
                    target=Target(bands=model_bands, words="5 GHz"))  # type: ignore[arg-type]
    assert "5GHz" in asked(merged(message, model))


def test_a_band_only_the_model_read_must_be_in_the_message() -> None:
    model = Request(act="change", action="channel", values={"value": 6}, target=Target(bands=["2.4GHz"], words="2.4"))
    assert checker.question(merged("put the wifi on channel 6", model)) is not None
    grounded = merged("put the wifi in the kitchen extender band 2.4 on channel 6",
                      model.model_copy(update={"target": Target(bands=["2.4GHz"], words="band 2.4")}))
    assert grounded.target.bands == ["2.4GHz"]
    # "both bands" names two bands, never one of them (found by the perturbation harness)
    both = 'rename both wifi bands to "Birch"'
    two = Request(act="change", action="ssid", values={"ssid": "Birch"},
                  target=Target(bands=["2.4GHz", "5GHz"], words="both wifi bands"))
    one = two.model_copy(update={"target": Target(bands=["2.4GHz"], words="both wifi bands")})
    assert checker.question(merged(both, two)) is None and checker.question(merged(both, one)) is not None
    three = two.model_copy(update={"target": Target(bands=["2.4GHz", "5GHz", "6GHz"], words="both wifi bands")})
    assert checker.question(merged(both, three)) is not None


def test_another_network_is_asked_about() -> None:
    message = 'rename the guest network to "Cafe Lumiere"'
    model = Request(act="change", action="ssid", values={"ssid": "Cafe Lumiere"},
                    target=Target(ssid_role="primary", words="the network"))
    assert "guest" in asked(merged(message, model))


def test_other_gateways_read_by_the_model_only_are_asked_about() -> None:
    message = "set the 2.4 GHz channel to 6"
    model = Request(act="change", action="channel", values={"value": 6}, target=Target(bands=["2.4GHz"]),
                    scope=Scope(kind="fleet", all_devices=True, words="every gateway"))
    req = merged(message, model)
    assert req.scope.kind == "this_device" and checker.question(req) is not None


def test_a_question_read_as_a_change_is_asked_about() -> None:
    message = "what channel is the 5 GHz on?"
    model = Request(act="change", action="channel", values={"value": 36}, target=Target(bands=["5GHz"]))
    text = asked(merged(message, model))
    assert "question" in text


def test_swapped_secrets_are_asked_about() -> None:
    message = "the old password was [secret:1], set it to [secret:2]"
    rules = Request(act="change", action="passphrase", values={"passphrase": "[secret:2]"})
    model = Request(act="change", action="passphrase", values={"passphrase": "[secret:1]"})
    out = checker.reconcile(rules, model, message)
    assert out is not None and "[secret:1]" in asked(out) and "[secret:2]" in asked(out)


def test_unplaced_parts_and_exclusions_of_either_reader_are_kept() -> None:
    message = "set the 5 GHz channel to 44 but leave the 2.4 alone"
    model = Request(act="change", action="channel", values={"value": 44}, target=Target(bands=["5GHz"], words="5 GHz"),
                    exclusions=["the printer"])
    req = merged(message, model)
    assert "the printer" in req.exclusions and len(req.exclusions) >= 2


def test_a_network_only_the_model_read_must_be_named_in_the_message() -> None:
    """Found by the perturbation harness: a model that moved a rename to the guest network, quoting the
    band's words, was believed."""
    model = Request(act="change", action="ssid", values={"ssid": "Kestrel-5G"},
                    target=Target(bands=["5GHz"], ssid_role="guest", words="5 GHz"))
    assert "guest" in asked(merged('call the 5 GHz network "Kestrel-5G" please', model))
    excluded = 'rename the wifi to "Kestrel" and leave the guest network alone'
    sneaky = model.model_copy(update={"target": Target(ssid_role="guest", words="the guest network"),
                                      "values": {"ssid": "Kestrel"}})
    assert checker.question(merged(excluded, sneaky)) is not None
    named = merged('rename the visitors wifi to "Kestrel"', sneaky.model_copy(
        update={"target": Target(ssid_role="guest", words="visitors wifi")}))
    assert named.target.ssid_role == "guest"


def test_one_clause_read_as_two_different_checks_is_asked_about() -> None:
    message = "reboot it tonight at 3, but only if the gateway is online"
    rules = Request(act="change", action="reboot", conditions=[
        Condition(fact="hosts_connected", expect="nonempty", words="only if the gateway is online")])
    model = Request(act="change", action="reboot", conditions=[
        Condition(fact="online", expect="eq", value=True, words="only if the gateway is online")])
    out = checker.reconcile(rules, model, message)
    assert out is not None and "online" in asked(out)
