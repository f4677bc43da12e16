"""The model path on the same ground as the playbooks (issue 13, deliverable 8), for real: the
``openai`` client against the project's local OpenAI-compatible server.

The model must see the same core evidence bundle the offline planner diagnoses from, and it can
only act through the typed tools: a parameter path the registry does not know is refused inside
the loop and never becomes a proposal."""

from __future__ import annotations

from typing import Any

from brain.evidence import HISTORY_METRICS
from core.store import repo
from testing.llm_server import FakeOpenAIServer
from tests.brain.conftest import run_turn


def _first_user(server: FakeOpenAIServer) -> str:
    return str(next(m["content"] for m in server.requests[0]["messages"] if m["role"] == "user"))


def test_the_model_receives_the_evidence_bundle(llm_svc: Any, server: FakeOpenAIServer, device: Any,
                                                actor: Any) -> None:
    """Before: the model saw only device_summary and topology; radar events, DNS, radios and
    neighbours had to be guessed at. Now its first message carries the same bundle."""
    dev = device("dfs_radar", 0)
    alice = actor("alice")
    server.load([{"tool_calls": [{"name": "respond", "arguments": {"kind": "answer", "text": "Radar on 52."}}]}])
    tid = llm_svc.start(dev, alice)
    events = run_turn(llm_svc, tid, "the wifi keeps dropping", alice)
    assert llm_svc.state(tid)["planner"] == "llm"
    first = _first_user(server)
    # one line per item (brain.model_context): "key: <untrusted …>{compact json}</untrusted>"
    context = {ln.split(": ", 1)[0]: ln.split(": ", 1)[1] for ln in first.splitlines() if ": <untrusted" in ln}
    assert "device_summary" in context and "topology" in context
    # Each item is shown, or named with the tool that reads it when the prompt's budget left it out
    # (brain.model_context): the device's summary grows with what other tests in the shared world did to it
    # (a full-tier run once showed everything but dns and mgmt, named in the note).
    for key in ("radios", "dns", "mgmt", "history", "wifi_neighbors:5GHz"):
        assert key in context or f"{key} → " in first, f"{key} neither shown to the model nor named"
    if "history" in context:
        assert "dfs_radar" in context["history"] and HISTORY_METRICS[0] in context["history"]
    tools = [e.data["name"] for e in events if e.kind == "tool"]
    assert tools[:2] == ["device_summary", "topology"] and "wifi_neighbors" in tools and "history" in tools


def test_an_invented_path_is_refused_and_never_proposed(rt: Any, llm_svc: Any, server: FakeOpenAIServer,
                                                        device: Any, actor: Any) -> None:
    dev = device("dfs_radar", 0)
    alice = actor("alice")
    server.load([
        {"tool_calls": [{"name": "propose_change", "arguments": {
            "intent": "Turn on turbo mode", "changes": [{"path": "Device.WiFi.Radio.2.TurboBoost", "value": True}]}}]},
        {"tool_calls": [{"name": "respond", "arguments": {"kind": "escalation", "text": "No such setting."}}]},
    ])
    tid = llm_svc.start(dev, alice)
    events = run_turn(llm_svc, tid, "make the wifi faster", alice)
    assert not [e for e in events if e.kind == "proposal"]
    with rt.store.read() as s:
        assert not [p for p in repo.live_proposals_touching(s, [dev], exclude="")
                    if any("TurboBoost" in c.path for c in p.changes)]
    notice = next(e for e in events if e.kind == "notice" and e.data.get("problem") == "unknown_path")
    assert "Device.WiFi.Radio.2.TurboBoost" in notice.text
    told = [m for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert told and "no such parameter" in told[-1]["content"] and "TurboBoost" in told[-1]["content"]
    assert llm_svc.state(tid)["planner"] == "llm"  # refused inside the loop, not by falling back
