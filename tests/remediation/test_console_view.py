"""The console's remediation view in a real browser (headless Chromium) against `gateward run`:
the queue's counts, a problem's breaker, the case list and filter, a case's evidence, and a person
closing an escalated case from the page."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.browser.conftest import ROOT, Browser, Server, _ensure_browser, _free_port
from tests.conftest import build_test_runtime
from tests.remediation.conftest import make_service

pytestmark = [pytest.mark.browser, pytest.mark.slow]
USERS = ("bob", "dave")


@pytest.fixture(scope="module")
def rserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server over a fleet whose remediation already ran: four cases applied, one escalated."""
    _ensure_browser()
    from core.users import issue_token

    home = tmp_path_factory.mktemp("remediation-browser")
    url = f"sqlite:///{home / 'gateward.db'}"
    rt = build_test_runtime(url, homes=12)
    svc = make_service(rt)
    svc.detect()
    svc.drain(timeout_s=60)
    tokens = {u: issue_token(rt.store, u) for u in USERS}
    rt.close()
    port = _free_port()
    log = home / "server.log"
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "GATEWARD_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env.pop("OPENAI_API_KEY", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gateward.cli", "run", "--host", "127.0.0.1", "--port",
                                 str(port), "--homes", "12"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"gateward run exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/api/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            pytest.fail(f"gateward run did not become ready:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    try:
        yield Server(base=base, tokens=tokens, proc=proc, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def open_browser(rserver: Server) -> Iterator[Callable[[str, str], Browser]]:
    opened: list[Browser] = []

    def open_(user: str, name: str) -> Browser:
        b = Browser(rserver, user, name)
        opened.append(b)
        return b

    yield open_
    for b in opened:
        b.close()


def test_remediation_view_lists_cases_and_a_person_closes_one(rserver: Server,
                                                             open_browser: Callable[[str, str], Browser]) -> None:
    from selenium.webdriver.support.ui import Select

    b = open_browser("bob", "remediation")
    b.sign_in("#/remediation")
    b.wait_css("[data-testid=nav-remediation]")
    b.wait_css("[data-testid=count-applied]", lambda el: el.text == "applied 4")
    b.wait_css("[data-testid=count-escalated]", lambda el: el.text == "escalated 1")
    b.wait_css("[data-testid=remediation-problems]")
    b.wait_css("[data-testid=profile-conflicts-none]")
    assert b.driver.execute_script("return document.querySelectorAll('[data-testid=case-row]').length") == 5
    Select(b.wait_css("[data-testid=case-filter]")).select_by_value("escalated")
    b.wait(lambda d: d.execute_script(
        "const r = document.querySelectorAll('[data-testid=case-row]');"
        "return r.length === 1 && r[0].textContent.includes('inform_interval_drift')"), what="filtered list")
    b.shot("remediation-list")
    case_id = b.driver.execute_script("return document.querySelector('[data-testid=case-row]').dataset.case")
    b.go(f"#/remediation/{case_id}")
    b.wait_css("[data-testid=case-status]", lambda el: el.get_attribute("data-status") == "escalated")
    b.wait_css("[data-testid=case-evidence]", lambda el: "inform-interval-profile" in el.text)
    assert b.wait_css("[role=alert]").text.startswith("p-")  # the policy's reason, as text
    b.driver.execute_script("window.prompt = () => 'fixed on the ACS by hand'")
    b.wait_css("[data-testid=case-close]").click()
    b.wait_css("[data-testid=case-status]", lambda el: el.get_attribute("data-status") == "closed")
    b.shot("remediation-case-closed")
    with rserver.api("bob") as api:
        c = api.get(f"/api/remediation/cases/{case_id}").json()
    assert c["status"] == "closed" and "fixed on the ACS by hand" in c["resolution"]
    assert not b.console_errors(), b.console_errors()
