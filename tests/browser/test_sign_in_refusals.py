"""The production sign-in page, and a sign-in Gateward refuses, as a person sees them (issues 45, 47).

Headless Chromium against a real ``gateward run`` configured for OpenID Connect only (no local
accounts, no demo) with a real provider (``oidc-provider``) behind a proxy that can break it
(``testing/faulty_http.py``). Checked: the page offers "Sign in with <provider>" first and focused,
the token box folded away and no word of demo tokens; a person with no mapped group, and a provider
failing after the person signed in there, both end on the console's sign-in page with the words, the
refusal's status and a way back — not raw JSON on ``/auth/callback``; trying again once the provider
is back signs the person in; and the roles the page shows follow the provider while it is open.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from testing.faulty_http import Fault, FaultyHttpProxy
from testing.oidc_provider import OidcProvider, free_port
from testing.servers import GatewardRun
from tests.api.auth_helpers import oidc_provider_root
from tests.browser.conftest import ROOT, Browser, Server
from tests.conftest import build_test_runtime

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROVIDER_NAME = "Example SSO"
ACCOUNTS: dict[str, dict[str, Any]] = {
    "amy": {"groups": ["noc-agents"]},
    "mallory": {"groups": ["guests"]},  # no mapped group
    "zed": {"groups": ["noc-agents"]},  # moved between groups while signed in
}


class Sso:
    """The server, its provider and the proxy in front of the provider."""

    def __init__(self, server: Server, op: OidcProvider, proxy: FaultyHttpProxy) -> None:
        self.server, self.op, self.proxy = server, op, proxy

    def token_path(self) -> str:
        meta = httpx.get(self.op.issuer + "/.well-known/openid-configuration", timeout=10).json()
        return str(httpx.URL(meta["token_endpoint"]).path)

    def sign_in_elsewhere(self, account: str) -> int:
        """``account`` signs in from another browser (an HTTP client playing one); the callback's status."""
        with httpx.Client(base_url=self.server.base, timeout=30, follow_redirects=False) as other:
            start = other.get("/auth/login")
            assert start.status_code == 302, start.text
            back = self.op.browser_login(start.headers["location"], account, self.server.base + "/auth/callback")
            return other.get(back).status_code


@pytest.fixture(scope="module")
def sso(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sso]:
    root = oidc_provider_root()
    home: Path = tmp_path_factory.mktemp("signin-refusals-home")
    url = f"sqlite:///{home / 'gateward.db'}"
    build_test_runtime(url, homes=4).close()
    port, public = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    client = {"client_id": "gateward", "client_secret": "browser-test-secret",
              "redirect_uris": [base + "/auth/callback"], "grant_types": ["authorization_code"],
              "response_types": ["code"]}
    op = OidcProvider([client], {k: dict(v) for k, v in ACCOUNTS.items()}, public_port=public).start(root)
    proxy = FaultyHttpProxy(op.upstream, port=public)
    secret = home / "oidc-secret"
    secret.write_text("browser-test-secret\n")
    env = {"GATEWARD_OIDC_ISSUER": op.issuer, "GATEWARD_OIDC_CLIENT_ID": "gateward",
           "GATEWARD_OIDC_CLIENT_SECRET_FILE": str(secret), "GATEWARD_OIDC_NAME": PROVIDER_NAME,
           "GATEWARD_OIDC_ROLE_MAP": '{"noc-agents": ["support_agent"], "noc-approvers": ["approver"]}',
           "GATEWARD_OIDC_TIMEOUT_S": "2", "GATEWARD_PUBLIC_URL": base, "GATEWARD_LIVE_HEARTBEAT_S": "2"}
    try:
        with GatewardRun(home=home, database_url=url, homes=4, cwd=ROOT, env=env, port=port) as run:
            yield Sso(Server(base=run.base, tokens={}, proc=run.proc, log=run.log), op, proxy)
    finally:
        proxy.close()
        op.stop()


@pytest.fixture
def chromium(sso: Sso) -> Iterator[Browser]:
    b = Browser(sso.server, "sso", "signin-refusals")
    try:
        yield b
    finally:
        sso.proxy.heal()
        b.close()


def at_provider(b: Browser, account: str) -> None:
    """Sign ``account`` in on the provider's own pages (its development login and consent forms),
    whichever of them it shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of

    def page(d: Any) -> str | bool:
        if d.find_elements(By.CSS_SELECTOR, "input[name=login]"):
            return "login"
        if d.find_elements(By.CSS_SELECTOR, "button[type=submit]") and "/interaction/" in d.current_url:
            return "consent"
        return "back" if d.current_url.startswith(b.server.base) else False

    for _ in range(3):
        where = b.wait(page, what="the provider's login or consent page, or the way back")
        if where == "back":
            return
        if where == "login":
            b.driver.find_element(By.CSS_SELECTOR, "input[name=login]").send_keys(account)
            b.driver.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("anything")
        submit = b.driver.find_element(By.CSS_SELECTOR, "button[type=submit]")
        submit.click()
        b.wait(staleness_of(submit), what="the provider's next page")


def navigation_status(b: Browser) -> int:
    """The HTTP status of the page the browser shows (the Navigation Timing entry)."""
    return int(b.driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus"))


def signin_text(b: Browser) -> str:
    return str(b.driver.execute_script("return document.getElementById('signin').innerText"))


def test_the_production_page_offers_the_provider_first_and_no_demo_tokens(chromium: Browser) -> None:
    from selenium.webdriver.common.by import By

    d = chromium.driver
    d.get(chromium.server.base + "/")
    button = chromium.wait_css("[data-testid=sso-signin]", lambda el: PROVIDER_NAME in el.text)
    assert button.text == f"Sign in with {PROVIDER_NAME}"
    assert d.execute_script("return document.activeElement.dataset.testid") == "sso-signin"
    assert d.execute_script("return document.getElementById('token-signin').open") is False
    assert not d.find_element(By.CSS_SELECTOR, "[data-testid=token-input]").is_displayed()
    assert "demo" not in signin_text(chromium).lower()
    assert not d.find_element(By.CSS_SELECTOR, "[data-testid=signin-refused]").is_displayed()
    chromium.shot("01-production-sign-in")
    d.find_element(By.CSS_SELECTOR, "#token-signin summary").click()  # tokens stay, for automation
    chromium.wait_css("[data-testid=token-input]")
    assert "demo" not in signin_text(chromium).lower()


def test_a_person_with_no_mapped_group_lands_on_the_sign_in_page_with_the_words(chromium: Browser) -> None:
    d = chromium.driver
    d.get(chromium.server.base + "/")
    chromium.click("[data-testid=sso-signin]")
    at_provider(chromium, "mallory")
    box = chromium.wait_css("[data-testid=signin-refused]")
    assert "none of your groups is mapped" in box.text and "ask an administrator" in box.text
    assert "unmapped_group" in box.text
    assert navigation_status(chromium) == 403
    assert d.execute_script("return location.pathname + location.search") == "/"  # the spent code is gone
    assert '"error"' not in d.find_element("tag name", "body").text  # no raw JSON anywhere
    back = chromium.wait_css("[data-testid=sso-signin]")
    assert back.text == f"Try again with {PROVIDER_NAME}" and back.get_attribute("href").endswith("/auth/login")
    assert d.execute_script("return document.activeElement.dataset.testid") == "sso-signin"
    chromium.shot("02-refused-no-mapped-group")


def test_a_provider_failing_after_sign_in_at_it_is_a_page_with_a_way_back(sso: Sso, chromium: Browser) -> None:
    d = chromium.driver
    d.get(chromium.server.base + "/")
    sso.proxy.fail(sso.token_path(), Fault("status", 500, b"<html><h1>500 Internal Server Error</h1></html>"))
    chromium.click("[data-testid=sso-signin]")
    at_provider(chromium, "amy")
    box = chromium.wait_css("[data-testid=signin-refused]")
    assert "the identity provider failed: it answered 500" in box.text.lower() and "try again" in box.text
    assert "provider_error" in box.text
    assert navigation_status(chromium) == 503
    chromium.shot("03-refused-provider-failed")
    # The next request on the same connection is served (a 500 used to reset it), and trying again
    # once the provider is back signs the person in.
    sso.proxy.heal()
    chromium.click("[data-testid=sso-signin]", lambda el: el.text.startswith("Try again"))
    at_provider(chromium, "amy")
    chromium.wait_css("[data-testid=whoami]", lambda el: el.text.startswith("amy"))
    assert not d.find_elements("css selector", "[data-testid=signin-refused]:not([hidden])")


def test_the_roles_shown_follow_the_provider_while_the_page_is_open(sso: Sso, chromium: Browser) -> None:
    d = chromium.driver
    d.get(chromium.server.base + "/")
    chromium.click("[data-testid=sso-signin]")
    at_provider(chromium, "zed")
    chromium.wait_css("[data-testid=whoami]", lambda el: el.text == "zed · support agent")
    chromium.wait_css("[data-testid=live-status][data-state=live]")

    sso.op.set_groups("zed", ["noc-approvers"])  # moved at the provider; zed signs in on another machine
    assert sso.sign_in_elsewhere("zed") == 303
    chromium.wait_css("[data-testid=whoami]", lambda el: el.text == "zed · approver")
    chromium.shot("04-roles-followed")

    sso.op.set_groups("zed", ["guests"])  # out of every mapped group: refused, and this page signed out
    assert sso.sign_in_elsewhere("zed") == 403
    chromium.wait_css("[data-testid=sso-signin]")
    status = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch("/api/me").then((r) => done(r.status));""")
    assert status == 401


def test_an_api_client_still_gets_the_error_shape(sso: Sso) -> None:
    """The page is for browsers; a client that asks for JSON keeps the API's error shape."""
    with httpx.Client(base_url=sso.server.base, timeout=30, follow_redirects=False) as c:
        start = c.get("/auth/login")
        back = sso.op.browser_login(start.headers["location"], "mallory", sso.server.base + "/auth/callback")
        r = c.get(urljoin(sso.server.base, back), headers={"Accept": "application/json"})
    assert r.status_code == 403 and r.json()["reason"] == "unmapped_group"
