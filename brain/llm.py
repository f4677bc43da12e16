"""The language-model client: any OpenAI-compatible endpoint through the ``openai`` package.

Why a thin wrapper: the planner needs four things the raw client does not give in one place —
configuration from the environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``GATEWARD_MODEL``,
timeouts and retries), one exception type that says *why* the model is unavailable (so the graph
can fall back to the playbooks and tell the agent which failure happened), token and cost
accounting per thread from the response's ``usage``, and a plain-dict view of the reply that can
be stored in a durable checkpoint. The ``openai`` client itself does the HTTP, the retries with
backoff (429/5xx/connection errors) and the timeouts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from core.kernel.jsontypes import JsonObject

# USD per million tokens (input, output) for models we know; anything else costs what
# GATEWARD_LLM_PRICE_INPUT/OUTPUT say (default 0: a local model).
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
}

FailureKind = Literal["unavailable", "timeout", "rate_limited", "rejected", "bad_response", "not_configured"]


class LLMError(Exception):
    """The model could not give an answer; ``kind`` says why (for the agent and the metrics)."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class LLMConfig:
    api_key: str | None
    base_url: str | None
    model: str
    timeout_s: float = 30.0
    max_retries: int = 2
    price_in_per_mtok: float = 0.0
    price_out_per_mtok: float = 0.0
    max_tokens: int = 1024  # a reply's length: a final call with the whole request fits; a runaway model stops

    @property
    def enabled(self) -> bool:
        return bool(self.api_key)

    @classmethod
    def from_env(cls, model: str | None = None, env: dict[str, str] | None = None) -> LLMConfig:
        e = os.environ if env is None else env
        name = model or e.get("GATEWARD_MODEL") or "gpt-4o-mini"
        p_in, p_out = PRICES.get(name, (0.0, 0.0))
        return cls(
            api_key=e.get("OPENAI_API_KEY") or None,
            base_url=e.get("OPENAI_BASE_URL") or None,
            model=name,
            timeout_s=float(e.get("GATEWARD_LLM_TIMEOUT_S", "30")),
            max_retries=int(e.get("GATEWARD_LLM_MAX_RETRIES", "2")),
            price_in_per_mtok=float(e.get("GATEWARD_LLM_PRICE_INPUT", p_in)),
            price_out_per_mtok=float(e.get("GATEWARD_LLM_PRICE_OUTPUT", p_out)),
            max_tokens=int(e.get("GATEWARD_LLM_MAX_TOKENS", "1024")),
        )


class Usage(BaseModel):
    """Tokens and cost, summed over a thread."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    failures: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> Usage:
        return Usage(calls=self.calls + other.calls, prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                     completion_tokens=self.completion_tokens + other.completion_tokens,
                     cost_usd=round(self.cost_usd + other.cost_usd, 6), failures=self.failures + other.failures)


@dataclass
class ToolCallMsg:
    id: str
    name: str
    arguments: str


@dataclass
class LLMReply:
    content: str | None
    tool_calls: list[ToolCallMsg] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)

    def as_message(self) -> JsonObject:
        """The assistant message to append to the conversation (OpenAI wire format)."""
        msg: JsonObject = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [{"id": t.id, "type": "function",
                                  "function": {"name": t.name, "arguments": t.arguments}} for t in self.tool_calls]
        return msg


class LLMClient:
    """One configured endpoint. Thread-safe (the ``openai`` client is)."""

    def __init__(self, config: LLMConfig) -> None:
        if not config.enabled:
            raise LLMError("not_configured", "no OPENAI_API_KEY is set")
        import openai

        self.config = config
        self._openai = openai
        self._client = openai.OpenAI(api_key=config.api_key, base_url=config.base_url, timeout=config.timeout_s,
                                     max_retries=config.max_retries)

    @property
    def model(self) -> str:
        return self.config.model

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return round((prompt_tokens * self.config.price_in_per_mtok
                      + completion_tokens * self.config.price_out_per_mtok) / 1e6, 6)

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
                 tool_choice: str | dict[str, Any] = "auto") -> LLMReply:
        """One chat completion (``tool_choice``: "auto", or one function the reply must call). Raises
        :class:`LLMError` for every way it can fail."""
        oa = self._openai
        try:
            resp = self._client.chat.completions.create(
                model=self.config.model, messages=messages,  # type: ignore[arg-type]
                tools=tools or oa.omit, tool_choice=tool_choice if tools else oa.omit,  # type: ignore[arg-type]
                temperature=0, max_tokens=self.config.max_tokens,
            )
        except oa.APITimeoutError as exc:
            raise LLMError("timeout", f"the model endpoint did not answer within {self.config.timeout_s:g} s") from exc
        except oa.RateLimitError as exc:
            raise LLMError("rate_limited", f"the model endpoint is rate limiting (429): {_brief(exc)}") from exc
        except oa.APIConnectionError as exc:
            raise LLMError("unavailable", f"cannot reach the model endpoint: {_brief(exc)}") from exc
        except oa.APIStatusError as exc:
            kind: FailureKind = "unavailable" if exc.status_code >= 500 else "rejected"
            raise LLMError(kind, f"the model endpoint answered HTTP {exc.status_code}: {_brief(exc)}") from exc
        except oa.OpenAIError as exc:
            raise LLMError("bad_response", f"{type(exc).__name__}: {_brief(exc)}") from exc
        if not getattr(resp, "choices", None):
            raise LLMError("bad_response", "the model endpoint returned no choices")
        choice = resp.choices[0]
        msg = choice.message
        calls = [ToolCallMsg(id=tc.id or f"call_{i}", name=tc.function.name, arguments=tc.function.arguments or "")
                 for i, tc in enumerate(getattr(msg, "tool_calls", None) or [])
                 if getattr(tc, "function", None) is not None]
        u = getattr(resp, "usage", None)
        pt = int(getattr(u, "prompt_tokens", 0) or 0)
        ct = int(getattr(u, "completion_tokens", 0) or 0)
        return LLMReply(content=msg.content, tool_calls=calls, finish_reason=choice.finish_reason,
                        usage=Usage(calls=1, prompt_tokens=pt, completion_tokens=ct, cost_usd=self.cost(pt, ct)))


def _brief(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
