"""The replay endpoint for ``gateward eval --planner replay``.

Why here and not in the CLI: the local OpenAI-compatible server that replays a scenario's
``llm.script`` is a test double (``testing.llm_server``). Product packages never import
``testing``; the evaluation harness may, because a replay run exercises the model path's plumbing
and gates and is always labelled ``replay`` — never a model score.
"""

from __future__ import annotations

from testing.llm_server import FakeOpenAIServer


def replay_server() -> FakeOpenAIServer:
    """Start a local scripted OpenAI-compatible server; the runner loads each scenario's script."""
    return FakeOpenAIServer().start()


__all__ = ["FakeOpenAIServer", "replay_server"]
