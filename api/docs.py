"""API docs that work offline: Swagger UI at ``/docs`` from packaged assets (``/redoc``
redirects there), under the same strict CSP as the console.

Why: FastAPI's built-in pages load Swagger UI and ReDoc from a CDN, so ``/docs`` was blank on a
machine without internet (an operations network, a laptop on a train) and every visit told a
third party which control plane was being read. The assets come from the ``fastapi-offline``
wheel (Swagger UI 5, which renders OpenAPI 3.1), served by this server under
``/docs-assets``; the page's start-up code is a file (``static/docs-init.js``), not an inline
script, so the CSP needs no ``unsafe-inline`` for scripts.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"


def assets_dir() -> Path | None:
    """Where the packaged Swagger UI / ReDoc files are (``None`` without the wheel)."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    path = Path(fastapi_offline.__file__).parent / "static"
    return path if (path / "swagger-ui-bundle.js").exists() else None


def _page(title: str, body: str, head: str = "") -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
        f"<link rel=\"icon\" href=\"{ASSETS_URL}/favicon.png\">{head}</head><body>{body}</body></html>",
        headers={"Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    """Serve ``/docs`` (the app must be built with ``docs_url=None, redoc_url=None``).
    Without the assets the pages say how to get them instead of rendering blank."""
    assets = assets_dir()
    title = f"{app.title} API"
    if assets is not None:
        app.mount(ASSETS_URL, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        if assets is None:
            return _missing(title)
        return _page(title, "<div id=\"swagger-ui\" data-openapi=\"/openapi.json\"></div>"
                            f"<script src=\"{ASSETS_URL}/swagger-ui-bundle.js\"></script>"
                            "<script src=\"/static/docs-init.js\"></script>",
                     f"<link rel=\"stylesheet\" href=\"{ASSETS_URL}/swagger-ui.css\">")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> RedirectResponse:
        """ReDoc's bundle fetches its logo from cdn.redoc.ly: one page of docs, Swagger UI, is enough."""
        return RedirectResponse("/docs", status_code=307)


def _missing(title: str) -> HTMLResponse:
    return _page(title, "<h1>API docs</h1><p>The Swagger UI assets are not installed "
                        "(<code>pip install fastapi-offline</code>). The description itself is at "
                        "<a href=\"/openapi.json\">/openapi.json</a>.</p>")
