"""Text a device, a provider or a person chose, kept inert on the operator's terminal (issue 56).

Why: the CLI renders with rich, and rich reads markup in every string it prints — in an f-string and
in a table cell alike. A host name a device reports, a model an import wrote, an intent a person
typed went in as they were, so ``[link=https://evil.example]…[/link]`` became an OSC-8 hyperlink,
``[conceal]`` hid what followed, ``:skull:`` became an emoji and ``[/]`` crashed ``gateward device``
(rich's MarkupError); and the terminal itself received what the string held — an escape sequence that
clears the screen, sets the window title, colours text as the CLI's own verdicts or makes a raw OSC-8
link, a carriage return or backspaces that overwrite a line, a right-to-left override.

Two layers:

* :func:`inert` — for a value placed inside a markup string (``f"[bold]{inert(d.model)}[/bold]"``) —
  and :func:`plain` — a table cell or a line that is data only: a rich ``Text``, never parsed as markup;
* :class:`SafeConsole`, every command's console: whatever string it is handed, a control or
  bidirectional character is printed as a visible escape (``\\x1b``, ``\\u202e``), text that is not
  valid markup is printed as text instead of raising, and emoji codes stay the text they are. Our own
  output never carries a raw control character (rich makes its colours itself), so nothing of ours is
  lost.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.errors import MarkupError
from rich.markup import escape
from rich.text import Text

# C0 controls but newline and tab, DEL, C1, the bidirectional controls (marks, embeddings, overrides,
# isolates) and the line and paragraph separators.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _visible(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible_controls(text: str) -> str:
    """``text`` with each control or bidirectional character written as its escape."""
    return _CONTROLS.sub(_visible, text) if _CONTROLS.search(text) else text


def inert(value: object) -> str:
    """``value`` for a markup string: its control characters visible, its markup escaped."""
    return escape(visible_controls(str(value)))


def plain(value: object, style: str = "") -> Text:
    """``value`` as a rich ``Text`` (a table cell, a line of data): never read as markup or emoji."""
    return Text(visible_controls(str(value)), style=style)


class SafeConsole(Console):
    """A console that never hands the terminal a control character it was given in text, never
    crashes on text that is not markup, and reads no emoji codes (see the module docstring)."""

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("emoji", False)
        super().__init__(**kw)

    def render_str(self, text: str, **kw: Any) -> Text:
        text = visible_controls(text)
        try:
            return super().render_str(text, **kw)
        except MarkupError:  # a value that reached a markup string unescaped: shown as it is
            return super().render_str(text, **{**kw, "markup": False})


__all__ = ["SafeConsole", "inert", "plain", "visible_controls"]
