"""A model's own words are checked before the agent sees them (issue 57.1): untrusted-content markers
never show, an echo of the prompt is not an answer, and an answer stands only when it cites what the
tools read — else the turn falls back to the offline planner and says so. The real ``openai`` client
against the local OpenAI-compatible server (``testing.llm_server``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from brain.model_text import answer_problem, strip_markers
from brain.prompts import SYSTEM_PROMPT, context_message
from testing.llm_server import FakeOpenAIServer
from tests.brain.conftest import run_turn


def _shown(events: list[Any]) -> str:
    return json.dumps([e.text for e in events if e.kind != "tool"] + [e.data for e in events if e.kind != "tool"],
                      default=str)


def _fallback(events: list[Any]) -> list[Any]:
    return [e for e in events if e.kind == "notice" and e.data.get("fallback")]


def test_an_echo_of_the_prompt_with_raw_markers_is_never_shown(
        llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    """What Gemma 3 270M answered on a real endpoint: the prompt back, markers and all."""
    echo = (SYSTEM_PROMPT[:400] + '\nDevice context: {"vendor": "<untrusted source="device">Lumenet</untrusted>"}')
    server.load([{"content": echo}])
    alice = actor("alice")
    tid = llm_svc.start(device("healthy", 0), alice)
    events = run_turn(llm_svc, tid, "what is going on with the wifi?", alice)
    assert "untrusted" not in _shown(events) and SYSTEM_PROMPT[:80] not in _shown(events)
    notice = _fallback(events)
    assert notice and "echo of its prompt" in notice[0].text and "offline" in notice[0].text


@pytest.mark.parametrize("reply", [
    {"content": "The gateway is healthy."},  # cites nothing
    {"content": "The line syncs at 873 Mbps, which is fine."},  # a number nobody read
    {"tool_calls": [{"name": "respond", "arguments": {"kind": "answer", "text": "All good, nothing to do here."}}]},
])
def test_an_answer_that_cites_nothing_the_tools_read_falls_back_and_says_so(
        llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any, reply: dict[str, Any]) -> None:
    server.load([reply])
    alice = actor("alice")
    tid = llm_svc.start(device("dfs_radar", 0), alice)
    events = run_turn(llm_svc, tid, "wifi keeps dropping in the evening", alice)
    said = str(reply.get("content") or reply["tool_calls"][0]["arguments"]["text"])
    assert said not in _shown(events)
    notice = _fallback(events)
    assert notice and "without citing what the tools read" in notice[0].text
    assert llm_svc.state(tid)["planner"] == "offline"


def test_an_answer_citing_facts_the_tools_read_is_shown_without_markers(
        llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    text = ('The 5 GHz radio of <untrusted source="device">ONT-G240W</untrusted> sits on channel 52, '
            "where radar hit it 13 times since yesterday.")
    server.load([{"content": text}])
    alice = actor("alice")
    tid = llm_svc.start(device("dfs_radar", 0), alice)
    events = run_turn(llm_svc, tid, "why does the wifi drop?", alice)
    assert not _fallback(events)
    assert events[-1].kind == "answer" and events[-1].text == strip_markers(text)
    assert "untrusted" not in events[-1].text and "ONT-G240W" in events[-1].text


def test_a_question_from_the_model_is_shown_without_markers(
        llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    server.load([{"tool_calls": [{"name": "respond", "arguments": {
        "kind": "question", "text": 'Is it the network <untrusted source="ssid">Flat&amp;4B</untrusted>?'}}]}])
    alice = actor("alice")
    tid = llm_svc.start(device("healthy", 0), alice)
    events = run_turn(llm_svc, tid, "the wifi is weird", alice)
    assert events[-1].kind == "question" and events[-1].text == "Is it the network Flat&4B?"


def test_numbers_the_agent_said_may_be_repeated_but_are_not_a_citation() -> None:
    shown = [{"role": "system", "content": "rules"},
             {"role": "user", "content": context_message('radios: {"Channel": 52}', "use channel 44", "alice", [])}]
    assert answer_problem("Channel 44 is what you asked; it is on 52 now.", shown) is None
    assert answer_problem("I will use channel 44.", shown) == "ungrounded"
