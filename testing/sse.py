"""Reading server-sent events back in tests: the frames ``api.sse.encode`` writes."""

from __future__ import annotations

from typing import Any

import orjson


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """(event, JSON data) for every frame with data in ``text``; a frame without ``event:`` is
    ``message`` (the SSE default)."""
    out: list[tuple[str, Any]] = []
    for block in text.split("\n\n"):
        kind, data = "message", None
        for line in block.splitlines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = orjson.loads(line[6:])
        if data is not None:
            out.append((kind, data))
    return out
