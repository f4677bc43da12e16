"""The model reads everything; the rules guard it (issue 57 deliverable 1, issue 55 defect 7).

The real ``openai`` client against the local OpenAI-compatible server (``testing.llm_server``): the
model is given the agent's whole message, fills the typed request, and where its reading and the
offline parser's disagree on a qualifier the stricter one wins or the agent is asked."""

from __future__ import annotations

from typing import Any

from testing.llm_server import FakeOpenAIServer
from tests.brain.conftest import run_turn


def _agent_words(server: FakeOpenAIServer) -> str:
    """What the model was given as the agent's message in its first request."""
    first = str(next(m["content"] for m in server.requests[0]["messages"] if m["role"] == "user"))
    return first.rsplit("says:", 1)[1]


def test_the_model_is_given_the_whole_message_not_the_parsers_remainder(
        llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    """At the start the model got what the parser left after taking its qualifiers out ("please
    restart it"): the time and the condition never reached it."""
    alice = actor("alice")
    server.load([{"tool_calls": [{"name": "respond", "arguments": {"kind": "question", "text": "Which one?"}}]}])
    tid = llm_svc.start(device("healthy", 0), alice)
    said = "please restart it tonight at 2, only if nobody is connected"
    run_turn(llm_svc, tid, said, alice)
    seen = _agent_words(server)
    assert "tonight at 2" in seen and "only if nobody is connected" in seen, seen


def _propose(request: dict[str, Any], channel: int = 44) -> list[dict[str, Any]]:
    return [{"tool_calls": [{"name": "propose_change", "arguments": {
        "intent": f"Move 5 GHz to {channel}", "request": request,
        "changes": [{"path": "Device.WiFi.Radio.2.Channel", "value": channel},
                    {"path": "Device.WiFi.Radio.2.AutoChannelEnable", "value": False}]}}]}]


def test_a_model_that_reads_now_cannot_make_tonight_immediate(
        rt: Any, llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    """Issue 55 defect 7: the model's reading of the time overrode the parser's."""
    from core import localtime

    dev = device("healthy", 3)
    alice = actor("alice")
    server.load(_propose({"act": "change", "action": "channel", "values": {"value": 44},
                          "target": {"bands": ["5GHz"], "words": "5 GHz"}, "immediate": True}))
    tid = llm_svc.start(dev, alice)
    events = run_turn(llm_svc, tid, "move the 5 GHz to channel 44 tonight at 3, they are streaming until late", alice)
    proposal = next(e for e in events if e.kind == "proposal")
    p = rt.lifecycle.get(proposal.data["proposal_id"])
    assert p.not_before is not None and localtime.local(p.not_before, rt_region(rt, dev)).hour == 3


def test_a_model_that_reads_another_time_is_asked_about_naming_both(
        llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    alice = actor("alice")
    server.load(_propose({"act": "change", "action": "channel", "values": {"value": 44},
                          "target": {"bands": ["5GHz"], "words": "5 GHz"},
                          "schedule": {"not_before": "2020-01-01T00:00:00Z", "zone": "UTC", "words": "now"}}))
    tid = llm_svc.start(device("healthy", 3), alice)
    events = run_turn(llm_svc, tid, "move the 5 GHz to channel 44 tonight at 3", alice)
    assert not [e for e in events if e.kind == "proposal"]
    assert events[-1].kind == "question" and "03:00" in events[-1].text


def rt_region(rt: Any, dev: str) -> str | None:
    from core.store import repo

    with rt.store.read() as s:
        return repo.get_device(s, dev).region


def test_the_model_can_propose_a_reboot_and_it_keeps_the_parsed_time(
        rt: Any, llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    """At the start ``propose_change`` could carry no operation: the model path could not reboot."""
    from core import localtime

    dev = device("healthy", 4)
    alice = actor("alice")
    server.load([{"tool_calls": [{"name": "propose_change", "arguments": {
        "intent": "Reboot the gateway tonight", "operations": [{"command": "reboot"}],
        "request": {"act": "change", "action": "reboot"}}}]}])
    tid = llm_svc.start(dev, alice)
    events = run_turn(llm_svc, tid, "please reboot the gateway tonight at 2", alice)
    assert not [e for e in events if e.data.get("problem") == "schema"], [e.text for e in events]
    proposal = next(e for e in events if e.kind == "proposal")
    p = rt.lifecycle.get(proposal.data["proposal_id"])
    assert [o.command for o in p.operations] == ["reboot"] and not p.changes
    assert p.not_before is not None and localtime.local(p.not_before, rt_region(rt, dev)).hour == 2


def test_a_model_draft_of_another_kind_than_asked_is_asked_about(
        llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    """The model drafts a reboot and says nothing of its reading: the parser read a rename."""
    alice = actor("alice")
    server.load([{"tool_calls": [{"name": "propose_change", "arguments": {
        "intent": "Reboot", "operations": [{"command": "reboot"}]}}]}])
    tid = llm_svc.start(device("healthy", 4), alice)
    events = run_turn(llm_svc, tid, 'rename the wifi to "Harbour View"', alice)
    assert not [e for e in events if e.kind == "proposal"]
    assert events[-1].kind == "question" and "reboot" in events[-1].text


def test_a_model_draft_with_another_value_than_its_own_reading_is_asked_about(
        llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    alice = actor("alice")
    server.load(_propose({"act": "change", "action": "channel", "values": {"value": 44},
                          "target": {"bands": ["5GHz"], "words": "5 GHz"}}, channel=40))
    tid = llm_svc.start(device("healthy", 3), alice)
    events = run_turn(llm_svc, tid, "put the 5 GHz radio on channel 44", alice)
    assert not [e for e in events if e.kind == "proposal"]
    assert events[-1].kind == "question" and "44" in events[-1].text
