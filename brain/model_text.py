"""A model's own words, checked before the agent sees them.

Why: a model's text is shown to a support agent as the planner's answer. A useless model (a small
base model served by a local endpoint) echoes its prompt — device context, raw
``<untrusted source="…">`` markers and all — or states something nobody read. So:

* untrusted-content markers never show: they are taken out of every model text, the content kept as
  plain text (:func:`strip_markers`);
* a reply that repeats a stretch of what the model was shown is an echo, not an answer;
* an answer stands only when it cites a fact the tools read — a number or a value from a tool
  result or the device context — and every number it states is one the tools read or the agent
  said (:func:`answer_problem`). Otherwise the turn falls back to the offline planner and says why.

The check is about provenance, not truth: a model can still cite the right number wrongly. It
keeps made-up numbers and empty reassurance ("the gateway is healthy") from reaching the agent as
the planner's answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from brain.untrusted import unescape

Problem = Literal["echo", "ungrounded"]
_MARKER = re.compile(r"(?:<|&lt;)/?untrusted(?:\s+source=(?:\"|&quot;|\\\")[^\"&\\]*(?:\"|&quot;|\\\"))?\s*(?:>|&gt;)",
                     re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?![\d])")
_STRING = re.compile(r'"((?:[^"\\]|\\.){4,120})"(?!\s*:)')
ECHO_SPAN = 60  # characters: a stretch of the prompt this long, repeated, is an echo
# Where the first user message turns from the device context to the agent's words (the words are
# wrapped, so this cannot occur inside them: their "<" is escaped).
AGENT_SAYS = 'says:\n<untrusted source="chat">'


def strip_markers(text: str) -> str:
    """``text`` without untrusted-block markers (their content kept, unescaped)."""
    if "untrusted" not in text.lower():
        return text
    return unescape(_MARKER.sub("", text))


def answer_problem(text: str, messages: Iterable[Mapping[str, Any]]) -> Problem | None:
    """Why ``text`` may not be shown as the planner's answer, or None."""
    shown, facts, agent = _sources(messages)
    if _echoes(text, shown):
        return "echo"
    read_numbers = set(_numbers(facts))
    said = set(_numbers(text))
    if said - read_numbers - set(_numbers(agent)):
        return "ungrounded"  # a number nobody read
    if said & read_numbers:
        return None
    low = text.casefold()
    if any(value.casefold() in low for value in _values(facts)):
        return None
    return "ungrounded"


def _sources(messages: Iterable[Mapping[str, Any]]) -> tuple[list[str], str, str]:
    """What the model was shown (system and user texts), the facts the tools read (tool results and
    the device context of the first user message) and the agent's own words."""
    shown: list[str] = []
    facts: list[str] = []
    agent: list[str] = []
    for m in messages:
        content = m.get("content")
        if not isinstance(content, str) or not content:
            continue
        role = m.get("role")
        if role == "tool":
            facts.append(content)
        elif role in ("system", "user"):
            shown.append(content)
            head, sep, tail = content.rpartition(AGENT_SAYS)
            if sep:
                facts.append(head.rsplit("Earlier in this chat:", 1)[0])
                agent.append(tail)
            else:
                agent.append(content)
    return shown, strip_markers("\n".join(facts)), "\n".join(agent)


def _echoes(text: str, shown: list[str]) -> bool:
    flat = " ".join(text.split())
    if len(flat) < ECHO_SPAN:
        return False
    for source in shown:
        src = " ".join(source.split())
        for at in range(0, max(1, len(src) - ECHO_SPAN + 1), ECHO_SPAN // 2):
            if src[at:at + ECHO_SPAN] in flat:
                return True
    return False


def _numbers(text: str) -> list[str]:
    return [n.replace(",", ".").rstrip("0").rstrip(".") if "." in n.replace(",", ".") else n
            for n in _NUMBER.findall(text)]


def _values(facts: str) -> set[str]:
    """String values of the tool results (JSON strings that are not keys), as the model could quote them."""
    out: set[str] = set()
    for raw in _STRING.findall(facts):
        try:
            value = json.loads(f'"{raw}"')
        except json.JSONDecodeError:
            continue
        value = str(value).strip()
        if len(value) >= 4 and not value.startswith("Device.") and not value.isalpha():
            out.add(value)  # e.g. an SSID "Lumenet-0007", a firmware "3.2.1-1412", a DNS server
    return out
