"""Issue 34, item 1: the console says when it is a demo (``gateward run --demo``) — on the sign-in
page and once signed in — and says nothing of the kind on a production start of the same database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testing.servers import GatewardRun
from tests.browser.conftest import ROOT, Browser, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = re.compile(r"^\s+erin\s+auditor\s+(gw_\S+)\s*$", re.M)


def _banner_shown(b: Browser) -> bool:
    from selenium.webdriver.common.by import By

    return bool(b.driver.find_element(By.CSS_SELECTOR, "[data-testid=demo-banner]").is_displayed())


def test_console_shows_a_demo_banner_only_when_served_with_demo(browser_ready: None, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    url = f"sqlite:///{home / 'gateward.db'}"
    with GatewardRun(home=home, database_url=url, homes=2, cwd=ROOT, args=["--demo", "--no-worker"],
                     log=home / "demo.log") as run:
        found = TOKEN.search(run.log.read_text())
        assert found, run.log_tail()
        b = Browser(Server(base=run.base, tokens={"erin": found.group(1)}, proc=run.proc, log=run.log), "erin",
                    "demo-banner")
        try:
            b.driver.get(run.base + "/")
            b.wait_css("[data-testid=demo-banner]", lambda el: "Demo" in el.text)
            b.wait_css("[data-testid=token-input]")  # on the sign-in page, before any token
            b.shot("01-demo-sign-in")
            b.sign_in("#/audit")
            assert _banner_shown(b)
            b.shot("02-demo-signed-in")
        finally:
            b.close()
    with GatewardRun(home=home, database_url=url, homes=2, cwd=ROOT, args=["--no-worker"],
                     log=home / "production.log") as run:
        b = Browser(Server(base=run.base, tokens={"erin": found.group(1)}, proc=run.proc, log=run.log), "erin",
                    "production-banner")
        try:
            b.sign_in("#/audit")  # the demo's token still signs erin in: the database is the demo's
            b.wait(lambda d: d.execute_script("return document.body.dataset.demo") == "false",
                   what="the console asked /api/health whether it is a demo")
            assert not _banner_shown(b)
            b.shot("03-production-no-banner")
        finally:
            b.close()
