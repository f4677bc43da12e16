"""An unknown address: a page for a browser's navigation, the error shape for an API client."""

from __future__ import annotations

from tests.api.conftest import Api

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what a browser sends


def test_a_browser_gets_a_page_and_an_api_client_json(api: Api) -> None:
    page = api.client.get("/no/such/page", headers={"Accept": HTML})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Nothing here" in page.text and 'href="/"' in page.text and "<script" not in page.text
    escaped = api.client.get("/no/<b>such</b>", headers={"Accept": HTML})
    assert "<b>such</b>" not in escaped.text
    for path, accept in (("/no/such/page", "application/json"), ("/api/no-such-route", HTML)):
        r = api.client.get(path, headers={"Accept": accept})
        assert r.status_code == 404 and r.json()["error"] == "not_found", (path, r.text)
