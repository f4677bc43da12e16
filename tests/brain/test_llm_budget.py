"""The model's first prompt fits a budget (issue 57.1): ≤ 4 k tokens — system prompt, the tools'
schemas and the first user message, estimated at ``brain.model_context.CHARS_PER_TOKEN`` characters a
token — with the agent's whole message and every item of the evidence bundle either summarised or
named with the tool that reads it. Measured on what the local OpenAI-compatible server received."""

from __future__ import annotations

import json
from typing import Any

import pytest

from brain.evidence import HISTORY_METRICS
from brain.model_context import FIRST_PROMPT_BUDGET, NO_ROOM, prompt_tokens
from brain.untrusted import unescape
from testing.llm_server import FakeOpenAIServer
from tests.brain.conftest import run_turn

LONG = ("The customer in flat 12 says the wifi drops every evening around eight, mostly on the laptop in the "
        "back bedroom, and the kids' tablet loses the connection when the microwave runs; she already moved "
        "the gateway off the floor. ") * 16  # about 3,900 characters: near the 4,000 a message may have


def _first(server: FakeOpenAIServer) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    req = server.requests[0]
    return req["messages"], req.get("tools") or []


def _respond() -> list[dict[str, Any]]:
    return [{"tool_calls": [{"name": "respond", "arguments": {"kind": "question", "text": "Since when?"}}]}]


@pytest.mark.parametrize("condition,message", [
    ("dfs_radar", "wifi drops every evening"),
    ("wifi_congestion", LONG[:3990]),
    ("poor_24_coverage", "restart it tonight at 2, but only if nobody is connected"),
], ids=["short", "longest", "qualified"])
def test_the_first_prompt_fits_the_budget_with_the_whole_message(
        llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any, condition: str, message: str) -> None:
    """At the start the first prompt was 10.8–12.3 k tokens by the same estimate (13–21 k on a real
    endpoint's tokenizer): the whole bundle, each device string wrapped on its own, and the typed
    request's schema twice."""
    alice = actor("alice")
    server.load(_respond())
    tid = llm_svc.start(device(condition, 0), alice)
    run_turn(llm_svc, tid, message, alice)
    messages, tools = _first(server)
    assert prompt_tokens(messages, tools) <= FIRST_PROMPT_BUDGET
    user = unescape(next(m["content"] for m in messages if m["role"] == "user"))
    assert message.strip() in user
    if NO_ROOM not in user:
        for key in ("device_summary", "topology", "history", "radios"):
            assert f"\n{key}:" in user or f"{key} →" in user, key


def test_earlier_turns_are_dropped_before_the_budget_is_broken(
        llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    alice = actor("alice")
    tid = llm_svc.start(device("healthy", 0), alice)
    for _ in range(4):
        server.load(_respond())
        run_turn(llm_svc, tid, LONG[:3990], alice)
        messages, tools = _first(server)
        assert prompt_tokens(messages, tools) <= FIRST_PROMPT_BUDGET
        assert LONG[:3990] in unescape(next(m["content"] for m in messages if m["role"] == "user"))


def test_the_summary_keeps_what_a_diagnosis_reads_first(
        llm_svc: Any, server: FakeOpenAIServer, device: Any, actor: Any) -> None:
    alice = actor("alice")
    server.load(_respond())
    tid = llm_svc.start(device("dfs_radar", 0), alice)
    run_turn(llm_svc, tid, "the wifi keeps dropping", alice)
    user = next(m["content"] for m in _first(server)[0] if m["role"] == "user")
    lines = {ln.split(":", 1)[0]: ln.split(":", 1)[1] for ln in user.splitlines() if ": <untrusted" in ln}
    history = json.loads(unescape(lines["history"]).split(">", 1)[1].rsplit("<", 1)[0])
    assert history["event_counts"]["dfs_radar"] > 0 and HISTORY_METRICS[0] in json.dumps(history)
    radios = json.loads(unescape(lines["radios"]).split(">", 1)[1].rsplit("<", 1)[0])
    five = next(v for v in radios.values() if v.get("OperatingFrequencyBand") == "5GHz")
    assert five["Channel"] == 52 and "PossibleChannels" in five
