"""The console's sign-in (issue 36) in headless Chromium against a real ``gateward run`` configured
for OpenID Connect with a real provider (the npm package ``oidc-provider``, whose development login
and consent pages the browser fills) and for local accounts: the "Sign in" button, the session
used instead of a pasted token, a write carrying the CSRF header, sign-out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.auth.passwords import set_password
from testing.oidc_provider import OidcProvider, free_port
from testing.servers import GatewardRun
from tests.api.auth_helpers import oidc_provider_root
from tests.browser.conftest import ROOT, Browser, Server
from tests.conftest import build_test_runtime

PASSWORD = "a long local password"


@pytest.fixture(scope="module")
def signin_server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = oidc_provider_root()
    home: Path = tmp_path_factory.mktemp("signin-home")
    url = f"sqlite:///{home / 'gateward.db'}"
    rt = build_test_runtime(url, homes=12)
    set_password(rt.store, "carol", PASSWORD)
    rt.close()
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    client = {"client_id": "gateward", "client_secret": "browser-test-secret",
              "redirect_uris": [public + "/auth/callback"], "grant_types": ["authorization_code"],
              "response_types": ["code"]}
    op = OidcProvider([client], {"amy": {"groups": ["noc-agents"]}}).start(root)
    secret = home / "oidc-secret"
    secret.write_text("browser-test-secret\n")
    env = {"GATEWARD_OIDC_ISSUER": op.issuer, "GATEWARD_OIDC_CLIENT_ID": "gateward",
           "GATEWARD_OIDC_CLIENT_SECRET_FILE": str(secret),
           "GATEWARD_OIDC_ROLE_MAP": '{"noc-agents": ["support_agent"]}',
           "GATEWARD_PUBLIC_URL": public, "GATEWARD_LOCAL_ACCOUNTS": "1"}
    try:
        with GatewardRun(home=home, database_url=url, homes=12, cwd=ROOT, env=env, port=port) as run:
            yield Server(base=run.base, tokens={}, proc=run.proc, log=run.log)
    finally:
        op.stop()


@pytest.fixture
def chromium(signin_server: Server) -> Iterator[Browser]:
    b = Browser(signin_server, "sso", "signin")
    try:
        yield b
    finally:
        b.close()


def _write_status(b: Browser) -> Any:
    """A write from the page through the console's own API client (so with its CSRF header), and
    the same write without the header: (status with, status without)."""
    return b.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import("/static/js/api.js").then(async (api) => {
          let withHeader;
          try { await api.post("/api/proposals", {}); withHeader = 200; } catch (e) { withHeader = e.status; }
          const bare = await fetch("/api/proposals", {method: "POST", headers: {"Content-Type": "application/json"},
                                                      body: "{}"});
          done([withHeader, bare.status]);
        });""")


def test_sign_in_with_the_identity_provider_then_sign_out(chromium: Browser) -> None:
    from selenium.webdriver.common.by import By

    d = chromium.driver
    d.get(chromium.server.base + "/")
    chromium.click("[data-testid=sso-signin]")
    chromium.wait_css("input[name=login]").send_keys("amy")
    d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("anything")
    d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    chromium.wait_css("button[type=submit]", lambda el: "Continue" in el.text).click()  # the consent page
    chromium.wait_css("[data-testid=whoami]", lambda el: el.text.startswith("amy"))
    assert d.execute_script("return localStorage.getItem('gateward.token')") is None  # no token: the session
    assert "gateward_session" not in d.execute_script("return document.cookie")  # HttpOnly
    chromium.shot("sso-signed-in")
    # Authenticated (422: judged on its body) with the console's header; refused (403) without it.
    assert _write_status(chromium) == [422, 403]
    chromium.click("#signout")
    chromium.wait_css("[data-testid=sso-signin]")
    status = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch("/api/me").then((r) => done(r.status));""")
    assert status == 401


def test_sign_in_with_a_local_password(chromium: Browser) -> None:
    from selenium.webdriver.common.by import By

    d = chromium.driver
    d.get(chromium.server.base + "/")
    chromium.wait_css("[data-testid=pw-user]").send_keys("carol")
    d.find_element(By.CSS_SELECTOR, "[data-testid=pw-pass]").send_keys(PASSWORD)
    d.find_element(By.CSS_SELECTOR, "[data-testid=pw-submit]").click()
    chromium.wait_css("[data-testid=whoami]", lambda el: el.text.startswith("carol"))
    chromium.shot("password-signed-in")
    assert _write_status(chromium) == [422, 403]
