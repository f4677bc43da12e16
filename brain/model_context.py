"""The model's first prompt, within a budget: ≤ 4 k tokens with the tools it may call.

Why a budget: the first prompt used to carry the whole evidence bundle, each device string wrapped
on its own, plus the full JSON schema of the typed request twice — 13–21 k tokens. A modest local
model (a 7–14 B model on a GPU server, or a CPU box) spends minutes reading that before it answers
anything. The prompt now holds a compact summary of the same bundle (every item, its values by
object, long lists cut with a count), wrapped as one untrusted block per item; what does not fit is
named with the read-only tool that reads it. The agent's message is never cut.

Tokens are estimated, not counted: :data:`CHARS_PER_TOKEN` characters a token, a conservative
figure for English and JSON (OpenAI's cl100k and Gemma's tokenizer both average 3.6–4.2 on these
prompts; the smoke test against ``llama-cpp-python`` reports the endpoint's own count beside it —
docs/planner.md). An endpoint's ``usage`` is the exact figure for what was billed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from brain.prompts import context_message
from brain.untrusted import Pseudonymizer, wrap

FIRST_PROMPT_BUDGET = 4000  # tokens: system prompt + tool schemas + first user message
CHARS_PER_TOKEN = 3.5
# Items of the evidence bundle, most useful first, with the read-only call that reads each again.
PRIORITY: tuple[tuple[str, str], ...] = (
    ("device_summary", "device_summary"), ("topology", "topology"),
    ("radios", "read_parameters Device.WiFi.Radio."), ("history", "history"),
    ("wifi_neighbors:5GHz", "wifi_neighbors 5GHz"), ("wifi_neighbors:2.4GHz", "wifi_neighbors 2.4GHz"),
    ("dns", "read_parameters Device.DNS.Client."), ("mgmt", "read_parameters Device.ManagementServer."),
    ("ipping", "run_ipping"),
)
_DROP = frozenset({"type", "writable", "count", "min", "since", "errors", "window_hours", "snapshot_params"})
# Cut next, when the summary is still too long: provenance and description a diagnosis rarely needs.
_VERBOSE = frozenset({"source", "detail", "Name", "Status", "SupportedStandards", "OperatingStandards",
                      "SupportedFrequencyBands", "AutoChannelSupported", "IEEE80211hEnabled", "RegulatoryDomain",
                      "chain", "attrs", "subscriber", "service", "bssid", "managed", "root", "protocol"})
_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d)(:\d\d(\.\d+)?)?(\+00:00|Z)?$")
_OBJECT = re.compile(r"^(.*\.)([^.]+)$")


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_tokens(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]) -> int:
    """The estimated size of a request's prompt: every message's text and the tools' schemas."""
    text = "".join(str(m.get("content") or "") for m in messages)
    return estimate_tokens(text) + estimate_tokens(json.dumps(list(tools), ensure_ascii=False))


def first_message(evidence: Mapping[str, Mapping[str, Any]], pseudo: Pseudonymizer, message: str, actor_id: str,
                  transcript: list[dict[str, str]], fixed_tokens: int) -> str:
    """The first user message of a turn within :data:`FIRST_PROMPT_BUDGET` less ``fixed_tokens``
    (system prompt and tools): the agent's whole message always; earlier turns, oldest dropped
    first, while the device context keeps room for its first items; the device context in what is left."""
    floor = 300  # tokens kept for the device context before earlier turns are dropped
    turns = list(transcript)

    def room(kept: list[dict[str, str]]) -> int:
        # the estimate of a whole is at most the sum of its parts' plus one per part: a margin of 8
        return FIRST_PROMPT_BUDGET - fixed_tokens - estimate_tokens(context_message("", message, actor_id, kept)) - 8

    while turns and room(turns) < floor:
        turns = turns[1:]
    return context_message(device_context(evidence, pseudo, max(0, room(turns))), message, actor_id, turns)


def device_context(evidence: Mapping[str, Mapping[str, Any]], pseudo: Pseudonymizer, budget: int) -> str:
    """The evidence bundle as compact lines, ``key: <untrusted …>{json}</untrusted>``, within
    ``budget`` tokens: lists are cut shorter first, then the least useful items are left out and
    named with the tool that reads them."""
    keys = [k for k, _ in PRIORITY if k in evidence] + sorted(k for k in evidence if k not in dict(PRIORITY))
    for keep, drop in ((6, _DROP), (4, _DROP | _VERBOSE), (2, _DROP | _VERBOSE), (1, _DROP | _VERBOSE)):
        lines = {k: _line(k, evidence[k], pseudo, keep, drop) for k in keys}
        if estimate_tokens("\n".join(lines.values())) <= budget:
            return "\n".join(lines.values())
    tools = dict(PRIORITY)
    kept: list[str] = []
    left: list[str] = []
    for i, k in enumerate(keys):
        note = _omitted([*left, *keys[i + 1:]], tools) if [*left, *keys[i + 1:]] else ""
        if estimate_tokens("\n".join([*kept, lines[k], note])) <= budget:
            kept.append(lines[k])
        else:
            left.append(k)
    note = _omitted(left, tools) if left else ""
    if estimate_tokens("\n".join([*kept, note])) > budget:
        return NO_ROOM
    return "\n".join([*kept, note] if note else kept)


NO_ROOM = "(no room for the device context: read it with the tools, starting with device_summary)"


def _omitted(keys: list[str], tools: Mapping[str, str]) -> str:
    return "not shown (read them with the tools): " + "; ".join(f"{k} → {tools.get(k, k)}" for k in keys)


def _line(key: str, item: Mapping[str, Any], pseudo: Pseudonymizer, keep: int, drop: frozenset[str]) -> str:
    data = item.get("data") if item.get("ok", True) else {"error": item.get("error") or "read failed"}
    body = json.dumps(_compact(data or {}, keep, drop), ensure_ascii=False, separators=(",", ":"), default=str)
    return f"{key}: {wrap(pseudo.text(body), 'device')}"


def _compact(obj: Any, keep: int, drop: frozenset[str]) -> Any:
    if isinstance(obj, dict):
        if isinstance(obj.get("values"), dict):
            obj = {**{k: v for k, v in obj.items() if k not in ("values", "source")}, **_by_object(obj["values"])}
        out = {str(k): _compact(v, keep, drop) for k, v in obj.items() if k not in drop}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(obj, list):
        head = [_compact(v, keep, drop) for v in obj[:keep]]
        return head + ([f"+{len(obj) - keep} more"] if len(obj) > keep else [])
    if isinstance(obj, float):
        return round(obj, 1)
    if isinstance(obj, str):
        m = _TS.match(obj)
        return f"{m.group(1)}Z" if m else obj
    return obj


def _by_object(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{path: {"value": v, …}}`` as ``{object.: {leaf: v}}`` — each path prefix said once."""
    out: dict[str, dict[str, Any]] = {}
    for path, v in values.items():
        m = _OBJECT.match(path)
        obj, leaf = (m.group(1), m.group(2)) if m else ("", path)
        out.setdefault(obj, {})[leaf] = v.get("value") if isinstance(v, dict) else v
    return out
