"""Device ids in URL paths, slashes included: ``/api/devices/LM-NT%2F9002/tree``.

Why: a device id may hold a ``/`` (a serial such as ``LM-NT/9002``: real ONTs report them, the ACS
sync and ``devices import`` register what they report, and a USP endpoint ID carries the serial), but a
route matches one path segment per ``{device_id}``, and the server decodes ``%2F`` into ``/`` before
routing, so such a device could not be addressed by any device route — and an id ending in ``/tree``
or ``/history`` would have named another device's page. Refusing the ``/`` would have refused the
devices themselves.

So a client percent-encodes the id as one segment (``encodeURIComponent``; the console does), and
:class:`EncodedSlashes` keeps an encoded slash encoded in the path the routes match: a ``/`` in the
URL always separates segments, a ``%2F`` is always part of one. :data:`DeviceId` decodes it back in
the route's parameter. ``/api/devices/X%2Ftree`` is device ``X/tree``; ``/api/devices/X/tree`` is
device ``X``'s tree: they cannot collide.

Each escape is decoded exactly once. ``%252F`` is an encoded ``%`` followed by ``2F`` — the text
``%2F`` — and was decoded twice (the server made it ``%2F``, the parameter then ``/``), so
``X%252F9`` named device ``X/9``. The middleware therefore keeps an encoded ``%`` encoded too (``%25``)
and the parameter decodes ``%2F`` and ``%25`` in one pass: ``X%252F9`` is the id ``X%2F9``, which no
device has (ids never hold ``%``, ``core.kernel.ids``).
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import unquote

from fastapi import Path
from pydantic import AfterValidator
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_ID = 160
_ENCODED_SLASH = re.compile(r"%2[Ff]")
_KEPT = re.compile(r"%(2[Ff]|25)")  # what the middleware leaves encoded: a slash, a percent sign


def _slashes(value: str) -> str:
    decoded = _KEPT.sub(lambda m: "%" if m.group(1) == "25" else "/", value)  # one pass: decoded once
    if len(decoded) > MAX_ID:
        raise ValueError(f"an id is at most {MAX_ID} characters")
    return decoded


# In a route: ``device_id: DeviceId`` (3 characters an encoded slash before decoding, so the bound
# before decoding is three times the id's).
DeviceId = Annotated[str, Path(min_length=1, max_length=3 * MAX_ID), AfterValidator(_slashes)]


class EncodedSlashes:
    """Route on a path in which ``%2F`` and ``%25`` stay encoded (everything else decoded, as the
    server did), so that a route's parameter decodes each escape once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] in ("http", "websocket") else None
        lowered = raw.lower() if raw else b""
        if raw and (b"%2f" in lowered or b"%25" in lowered):
            parts = _ENCODED_SLASH.split(raw.split(b"?", 1)[0].decode("latin-1"))
            path = "%2F".join(unquote(part).replace("%", "%25") for part in parts)
            root = str(scope.get("root_path") or "")
            if root and str(scope.get("path", "")).startswith(root) and not path.startswith(root):
                path = root + path  # the server's path carries the mount prefix; the raw request did not
            scope = {**scope, "path": path}
        await self.app(scope, receive, send)
