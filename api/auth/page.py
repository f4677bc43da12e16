"""A refused sign-in, answered to a browser: the console's own sign-in page, saying what happened.

Why the console's page and not JSON: the browser arrives at ``/auth/callback`` (or ``/auth/login``)
by a redirect, so whatever is answered there is what the person sees; raw JSON left them stranded on
a URL holding a spent code. Why served in place rather than redirected to ``/``: the answer keeps the
refusal's own status (503 when the provider failed, 401/403 when the sign-in was refused), so a proxy,
a log or a monitor sees what happened, and nothing about the refusal travels in a URL or a cookie
that a third party could forge. The refusal rides in a ``<meta name="gateward-refusal">`` element
(its JSON escaped as an attribute; the page's CSP forbids inline script); the console shows it on its
sign-in page with the sign-in button as the way back, and moves the address bar to ``/``.

A client that does not ask for HTML (``Accept`` without ``text/html``: the API's clients, scripts)
keeps the API's error shape.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse

from api.auth.refusals import AuthRefused

INDEX = Path(__file__).resolve().parents[1] / "static" / "index.html"
META = "gateward-refusal"


def wants_page(request: Request) -> bool:
    """Whether the request is a browser's navigation (it asks for HTML), not an API call."""
    return "text/html" in request.headers.get("accept", "")


@lru_cache(maxsize=1)
def _index() -> str:
    return INDEX.read_text(encoding="utf-8")


def refusal_page(exc: AuthRefused) -> HTMLResponse:
    """The console's sign-in page carrying ``exc``, answered with its status."""
    doc = orjson.dumps({"error": exc.code, "reason": exc.reason, "detail": exc.message,
                        "status": exc.http_status}).decode()
    meta = f'<meta name="{META}" content="{html.escape(doc, quote=True)}">'
    body = _index().replace("<head>", f"<head>\n  {meta}", 1)
    return HTMLResponse(body, status_code=exc.http_status, headers={"Cache-Control": "no-store"})
