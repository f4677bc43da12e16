"""What a real OpenAI-compatible endpoint would expose on the model path (issue 38 item 6).

No model is reachable on these machines: these run the real ``openai`` client against the local
scripted server (``testing.llm_server``), which now enforces the tool-reply rule a real API does
(an assistant ``tool_calls`` id without its ``tool`` message is a 400). At HEAD: two
``propose_change`` calls in one reply left the second unanswered, so the redraft after a refused
draft was a 400 and the turn silently fell back to the playbooks; a whole-tree read went to the
model uncut; a plain-text "Let me check…" was taken as the final answer."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from brain.llm import LLMClient, LLMConfig
from brain.llm_planner import TOOL_OUTPUT_MAX_CHARS, cap_tool_output, is_preamble
from testing.llm_server import FakeOpenAIServer, tool_reply_problem
from tests.brain.conftest import run_turn


@pytest.fixture
def llm_svc(rt: Any, server: FakeOpenAIServer) -> Any:
    from brain.service import ChatService

    client = LLMClient(LLMConfig(api_key=server.api_key, base_url=server.base_url, model="gpt-4o-mini",
                                 timeout_s=2, max_retries=0))
    s = ChatService(rt, planner="llm", llm=client)
    yield s
    s.close()


def _propose(channel: int) -> dict[str, Any]:
    return {"name": "propose_change", "arguments": {
        "intent": f"Move 5 GHz to {channel}", "changes": [{"path": "Device.WiFi.Radio.2.Channel", "value": channel}]}}


def test_server_answers_400_for_a_tool_call_without_its_reply(server: FakeOpenAIServer) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "history", "arguments": "{}"}}
    unanswered = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [call]},
                  {"role": "user", "content": "and?"}]
    server.load([{"content": "never served"}])
    raw = openai.OpenAI(api_key=server.api_key, base_url=server.base_url, max_retries=0)
    with pytest.raises(openai.BadRequestError) as exc:
        raw.chat.completions.create(model="m", messages=unanswered)  # type: ignore[arg-type]
    assert "call_1" in str(exc.value) and server.remaining == 1  # the script did not advance
    stray = [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_9", "content": "{}"}]
    assert tool_reply_problem(stray) is not None
    assert tool_reply_problem(unanswered[:2]) is not None  # ending on an unanswered call is rejected too
    answered = [*unanswered[:2], {"role": "tool", "tool_call_id": "call_1", "content": "{}"}, unanswered[2]]
    assert tool_reply_problem(answered) is None
    assert raw.chat.completions.create(model="m", messages=answered).choices[0].message.content == "never served"  # type: ignore[arg-type]


def test_two_proposals_in_one_reply_then_a_redraft_stays_on_the_model_path(
        rt: Any, llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    dev = device("dfs_radar", 1)  # DE: 165 is not permitted, so the first draft is refused and redrafted
    alice = actor("alice")
    server.load([{"tool_calls": [_propose(165), _propose(44)]}, {"tool_calls": [_propose(40)]}])
    tid = llm_svc.start(dev, alice)
    events = run_turn(llm_svc, tid, "wifi dies every evening", alice)
    assert not [e for e in events if e.kind == "notice" and e.data.get("fallback")], [e.text for e in events]
    assert [e.data.get("problem") for e in events if e.data.get("problem") == "second_final"] == ["second_final"]
    prop = next(e for e in events if e.kind == "proposal")
    assert prop.data["changes"][0]["value"] == 40 and llm_svc.state(tid)["planner"] == "llm"
    last = server.requests[-1]["messages"]
    assert tool_reply_problem(last) is None
    assert any("one propose_change or respond per reply" in m["content"] for m in last if m["role"] == "tool")


def test_a_whole_tree_read_is_cut_with_a_note(rt: Any, llm_svc: Any, server: FakeOpenAIServer, device: Any,
                                              actor: Any) -> None:
    dev = device("dfs_radar", 2)
    alice = actor("alice")
    server.load([{"tool_calls": [{"name": "read_parameters", "arguments": {"paths": ["Device."]}}]},
                 {"content": "The radio settings look normal."}])
    tid = llm_svc.start(dev, alice)
    events = run_turn(llm_svc, tid, "what is configured on this box?", alice)
    seen = [m for m in server.requests[-1]["messages"] if m["role"] == "tool"][-1]["content"]
    body = json.loads(seen)
    assert body["truncated"] is True and "tokens left out" in body["note"]
    assert len(seen) <= TOOL_OUTPUT_MAX_CHARS
    capped = [e for e in events if e.data.get("problem") == "tool_output_capped"]
    assert capped and capped[0].data["tokens_omitted"] > 0


def test_cap_leaves_short_output_alone() -> None:
    assert cap_tool_output('{"ok": true}') == ('{"ok": true}', 0)
    body, cut = cap_tool_output("x" * 10_000, limit=1000)
    assert len(body) <= 1000 and cut > 2250 and json.loads(body)["partial"] == "x" * (len(json.loads(body)["partial"]))


def test_a_preamble_is_not_the_answer(rt: Any, llm_svc: Any, server: FakeOpenAIServer, device: Any,
                                      actor: Any) -> None:
    dev = device("dfs_radar", 3)
    alice = actor("alice")
    server.load([{"content": "Let me check the neighbouring networks first."}, {"tool_calls": [_propose(44)]}])
    tid = llm_svc.start(dev, alice)
    events = run_turn(llm_svc, tid, "wifi dies every evening", alice)
    assert not [e for e in events if e.kind == "answer" and "Let me check" in e.text]
    assert next(e for e in events if e.kind == "proposal").data["changes"][0]["value"] == 44
    assert [e.data.get("problem") for e in events if e.data.get("problem") == "preamble"] == ["preamble"]


@pytest.mark.parametrize("text,pre", [
    ("Let me check the neighbours first.", True), ("Checking the radios:", True),
    ("Je vais vérifier les canaux.", True), ("I will escalate this to the NOC.", False),
    ("The 5 GHz radio is on channel 36.", False), ("I'll need the customer to confirm.", False),
])
def test_preamble_words(text: str, pre: bool) -> None:
    assert is_preamble(text) is pre
