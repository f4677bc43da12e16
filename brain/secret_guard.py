"""Mask a chat turn before anything of it is stored: the redactor and a maintained detector together.

Why two: ``core.redact`` reads support sentences in four languages ("the new Wi-Fi password is
…", "use X as the passphrase", a correction after the planner asked); Yelp's ``detect-secrets``
(its keyword plugin and its Shannon-entropy measure over base64 and hex alphabets) knows the shapes
it was built for — ``password: …`` / ``pwd=…`` pasted from a config, API tokens, long random keys —
that no sentence rule expects. A span either finds is masked; the text that is stored, titled,
checkpointed and given to a model is the masked one. Nothing found here is kept: a secret reaches a
draft only through the secret field (``brain.secret_field``).

``context`` is the thread's: its last turn named a credential or the planner asked for one, so a
bare "no wait, make it Copper-Fox-31" is a secret too.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from core.redact import MASK, find_secrets

__all__ = ["Masked", "detector_spans", "mask_turn"]

# detect-secrets' own thresholds (its defaults): entropy in bits per character over its alphabets
_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-")
_HEX = frozenset("0123456789abcdefABCDEF")
_B64_LIMIT, _HEX_LIMIT = 4.5, 3.0
_TOKEN = re.compile(r"[^\s\"'`“”„«»,;()]+")


@dataclass(frozen=True)
class Masked:
    text: str
    found: int  # how many spans were masked


@lru_cache(maxsize=1)
def _keyword_plugin() -> Any:
    from detect_secrets.plugins.keyword import KeywordDetector

    return KeywordDetector()


@lru_cache(maxsize=1)
def _entropy() -> Any:
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

    return Base64HighEntropyString(limit=_B64_LIMIT)


def _shannon(token: str, alphabet: frozenset[str]) -> float:
    # detect-secrets' calculate_shannon_entropy, over one alphabet; kept here for the hex case too
    counts = Counter(c for c in token if c in alphabet)
    n = len(token)
    return -sum(k / n * math.log2(k / n) for k in counts.values()) if n else 0.0


def detector_spans(text: str) -> list[tuple[int, int]]:
    """Spans ``detect-secrets`` flags: its keyword plugin over each line (read as YAML and as plain
    text, the two shapes a pasted config takes), and unquoted tokens whose entropy passes its limits
    (base64 from 20 characters, hex from 16)."""
    spans: list[tuple[int, int]] = []
    kw = _keyword_plugin()
    offset = 0
    for line in text.splitlines(keepends=True):
        for name in ("chat.yaml", "chat.txt"):
            for found in kw.analyze_line(filename=name, line=line.rstrip("\n"), line_number=1):
                value = found.secret_value or ""
                at = line.find(value) if value else -1
                if at >= 0:
                    spans.append((offset + at, offset + at + len(value)))
        offset += len(line)
    b64 = _entropy()
    for m in _TOKEN.finditer(text):
        token = m.group(0).rstrip(".!?:")
        if (len(token) >= 20 and set(token) <= _B64 and b64.calculate_shannon_entropy(token) > _B64_LIMIT) or (
                len(token) >= 16 and set(token) <= _HEX and _shannon(token, _HEX) > _HEX_LIMIT):
            spans.append((m.start(), m.start() + len(token)))
    return spans


def mask_turn(text: str, *, context: bool = False) -> Masked:
    """``text`` with every secret either detector finds replaced by ``[secret]``."""
    if not text:
        return Masked(text, 0)
    spans = [(a, b) for a, b, _ in find_secrets(text, context=context, mask=True)] + detector_spans(text)
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, last = [], 0
    for a, b in merged:
        out += [text[last:a], MASK]
        last = b
    out.append(text[last:])
    return Masked("".join(out), len(merged))
