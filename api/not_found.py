"""An unknown address, answered to a browser as a page and to an API client as the error shape.

Why: a person who follows a stale link or mistypes an address in the browser got
``{"error": "not_found", …}`` as raw JSON, with no way back. A navigation (``Accept`` asks for HTML)
to a path outside ``/api/`` now gets a small page saying so, with a link to the console, and keeps
the 404 status for proxies and logs; an API client (and every path under ``/api/``) keeps the JSON.
The page carries no script (the console's CSP forbids inline script) and the console's stylesheet.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse


def wants_not_found_page(request: Request) -> bool:
    """A browser's navigation (it asks for HTML, as ``api.auth.page`` tells a sign-in's) to an address
    that is not an API route."""
    return "text/html" in request.headers.get("accept", "") and not request.url.path.startswith("/api/")


def not_found_page(request: Request) -> HTMLResponse:
    path = html.escape(request.url.path)
    body = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Not found · Gateward</title>
  <link rel="stylesheet" href="/static/css/app.css">
</head>
<body>
  <main class="panel" data-testid="not-found-page" style="max-width: 640px; margin: 48px auto;">
    <h1>Nothing here</h1>
    <p>Gateward has no page at <code>{path}</code>.</p>
    <p><a href="/">Open the console</a> — every page of it lives under <code>/#/…</code> (devices, approvals,
       campaigns, fleet, audit).</p>
  </main>
</body>
</html>
"""
    return HTMLResponse(body, status_code=404, headers={"Cache-Control": "no-store"})


__all__ = ["not_found_page", "wants_not_found_page"]
