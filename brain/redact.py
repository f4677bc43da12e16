"""Keep passphrases out of the planner: redact them from chat text on arrival.

Why: a subscriber's new Wi-Fi passphrase typed into the chat must reach the proposal (the
lifecycle writes it, masked everywhere it is shown) but nothing else — not the durable thread
checkpoint, not the event history, not the language model. :func:`redact` replaces each
passphrase with a placeholder ``[secret:N]`` and returns the values separately; the chat service
keeps them in process memory only, and the planner resolves placeholders when it drafts. If the
process restarts before the draft, the placeholder cannot be resolved and the planner asks again.
"""

from __future__ import annotations

import re

_KEYWORD = r"(?:pass ?(?:word|phrase)|wi-?fi (?:key|code)|network key|wpa key|psk)"
_SEP = r"(?:\s+(?:to|is|as|should be|=|:)\s*|\s*[:=]\s*)"
_QUOTED = re.compile(_KEYWORD + r"(?:" + _SEP + r"|\s+)" + r"[\"“”'‘’]([^\"“”'‘’]{1,128})[\"“”'‘’]", re.IGNORECASE)
_BARE = re.compile(_KEYWORD + _SEP + r"(\S{4,128})", re.IGNORECASE)


def _looks_secret(token: str) -> bool:
    """An unquoted word is a passphrase only if it does not read like English: it has a digit,
    a symbol or mixed case (so "the password is definitely wrong" redacts nothing)."""
    token = token.rstrip(".,;!?")
    return (any(c.isdigit() for c in token) or any(not c.isalnum() for c in token)
            or (any(c.isupper() for c in token[1:]) and any(c.islower() for c in token)))


def redact(text: str, start: int = 1) -> tuple[str, dict[str, str]]:
    """``(text with placeholders, {placeholder: secret})``."""
    secrets: dict[str, str] = {}
    n = start

    def sub_quoted(m: re.Match[str]) -> str:
        nonlocal n
        key = f"[secret:{n}]"
        n += 1
        secrets[key] = m.group(1)
        return m.group(0).replace(m.group(0)[m.start(1) - m.start(0) - 1:m.end(1) - m.start(0) + 1], key)

    text = _QUOTED.sub(sub_quoted, text)

    def sub_bare(m: re.Match[str]) -> str:
        nonlocal n
        token = m.group(1)
        if token.startswith("[secret:") or not _looks_secret(token):
            return m.group(0)
        value = token.rstrip(".,;!?")
        key = f"[secret:{n}]"
        n += 1
        secrets[key] = value
        return m.group(0)[: m.start(1) - m.start(0)] + key + token[len(value):]

    text = _BARE.sub(sub_bare, text)
    return text, secrets
