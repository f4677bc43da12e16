"""The pieces beside a change: what is named back as "not something I can do on the gateway", and what is context.

Written where a sampled mutation run of ``brain/understanding`` (docs/decisions/0031, fifth round) found the drafting
and amending functions' branches unjudged: a report, a negation or a short "fix it" beside the change is no other
request; a wish or an errand is; a DNS correction after a draft replaces the servers it can tell. Own phrasings."""

from __future__ import annotations

from typing import Any

import pytest

from brain.understanding import checker
from brain.understanding.offline import Context, understand
from tests.brain.test_nothing_dropped import BERLIN, NOW


def _read(text: str, previous: Any = None) -> Any:
    ctx = Context(now=NOW, zone=BERLIN, after_draft=previous is not None, previous=previous)
    return understand(text, ctx).request


@pytest.mark.parametrize(("text", "action"), [
    ("reboot it, the tv works fine otherwise", "reboot"),
    ("reboot it, and please don't touch the password", "reboot"),
    ("reboot it, no need to touch the password please", "reboot"),
    ("set channel 11 and can you please fix it", "channel"),
    ("reboot it, die Kundin sagt, der Fernseher läuft sonst gut", "reboot")])
def test_context_beside_the_change_is_no_other_request(text: str, action: str) -> None:
    r = _read(text)
    assert (r.act, r.action) == ("change", action) and not [u for u in r.unplaced if u.kind == "request"], r


@pytest.mark.parametrize(("text", "action", "named"), [
    ("reboot it and also unblock his netflix account", "reboot", "unblock his netflix account"),
    ("restart it and please call her back tomorrow", "reboot", "please call her back"),
    ("reinícialo, y que el técnico pase el jueves", "reboot", "que el técnico pase el jueves"),
    ("set channel 11 and please just fix it for her", "channel", "please just fix it for her")])
def test_an_errand_beside_the_change_is_named_back(text: str, action: str, named: str) -> None:
    r = _read(text)
    assert (r.act, r.action) == ("change", action), r
    assert [u.words for u in r.unplaced if u.kind == "request"] == [named], r.unplaced


@pytest.mark.parametrize(("first", "then", "servers"), [
    ("set the DNS to 9.9.9.9 and 149.112.112.112", "actually use 1.1.1.1 and 1.0.0.1", ["1.1.1.1", "1.0.0.1"]),
    ("set the DNS to 9.9.9.9", "no, 1.1.1.1 and 1.0.0.1", ["1.1.1.1", "1.0.0.1"]),
    ("set the DNS to 9.9.9.9", "1.1.1.1", ["1.1.1.1"])])
def test_a_dns_correction_after_a_draft_replaces_its_servers(first: str, then: str, servers: list[str]) -> None:
    r = _read(then, _read(first))
    assert (r.act, r.action, r.servers) == ("change", "dns", servers), r


@pytest.mark.parametrize("then", ["no, 8.8.8.8", "8.8.8.8 instead"])
def test_one_server_after_two_drafted_does_not_say_which_it_replaces(then: str) -> None:
    """Two servers drafted, one said: the first, the second or both? Never guessed into a draft."""
    r = _read(then, _read("set the DNS to 9.9.9.9 and 149.112.112.112"))
    assert r.servers != ["8.8.8.8"] and r.action != "dns", r


@pytest.mark.parametrize(("text", "render"), [
    ("turn the guest network off", "turn the guest network off"),
    ("turn the guest network on", "turn the guest network on"),
    ("switch off the 2.4 GHz guest wifi", "turn the guest network 2.4GHz off"),
    ("enable the guest wifi on 5 GHz", "turn the guest network 5GHz on")])
def test_the_guest_network_switched_is_rendered_with_its_state(text: str, render: str) -> None:
    assert checker.render(_read(text)) == render


# ---------------------------------------------------------------------------- amend: what a correction names
def _req(**kw: Any) -> Any:
    from brain.understanding.request import Request

    return Request(act="change", **kw)


def _at(hour: int) -> Any:
    from datetime import UTC, datetime

    from brain.understanding.request import Schedule

    return Schedule(not_before=datetime(2026, 11, 27, hour, tzinfo=UTC), zone="Europe/Berlin", words=f"at {hour}")


def test_amend_replaces_only_what_the_correction_names() -> None:
    from brain.understanding.offline import amend
    from brain.understanding.request import Condition, Target

    before = _req(action="dns", servers=["9.9.9.9"], schedule=_at(22))
    assert amend(before, _req(action="dns", servers=["1.1.1.1", "1.0.0.1"])).servers == ["1.1.1.1", "1.0.0.1"]
    later = amend(before, _req(schedule=_at(23)))
    assert later.servers == ["9.9.9.9"] and later.schedule == _at(23) and later.action == "dns"
    radio = _req(action="channel", values={"value": 6}, target=Target(bands=["2.4GHz"]))
    assert amend(radio, _req(values={"value": 11})).values == {"value": 11}
    assert amend(radio, _req(target=Target(bands=["5GHz"]))).target.bands == ["5GHz"]
    assert amend(radio, _req()).target.bands == ["2.4GHz"] and amend(radio, _req()).values == {"value": 6}
    cond = Condition(fact="hosts_connected", expect="empty", words="if nobody is connected")
    assert amend(radio, _req(conditions=[cond])).conditions == [cond]
    other = _req(action="reboot")
    assert amend(radio, other) is other  # another action replaces the request


def test_a_correction_that_only_says_when_keeps_the_servers(tmp_path: Any) -> None:
    r = _read("actually at 23:00", _read("set the DNS to 9.9.9.9"))
    assert (r.action, r.servers) == ("dns", ["9.9.9.9"]) and r.schedule is not None, r
    assert r.schedule.not_before.astimezone(BERLIN).hour == 23
