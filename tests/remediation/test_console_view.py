"""The console's remediation view in a real browser (headless Chromium) against `gateward run`:
the queue's counts, a problem's breaker, the case list and filter, a case's evidence, and a person
closing an escalated case from the page."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from testing.servers import GatewardRun
from tests.browser.conftest import ROOT, Browser, Server, _ensure_browser
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
    with GatewardRun(home=home, database_url=url, homes=12, cwd=ROOT) as run:
        yield Server(base=run.base, tokens=tokens, proc=run.proc, log=run.log)


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


def test_the_remediation_view_shows_what_each_fix_did_and_never_a_zero_from_nothing(
        rserver: Server, open_browser: Callable[[str, str], Browser]) -> None:
    """Issue 59 item 5 / 61 item 6: each problem's fix measured on its detector's KPI, beside the
    problems — and right after the fixes, with no telemetry since, 'not enough data', never
    '+0 (95% CI +0 to +0)'. What the interval means is said where it is shown."""
    b = open_browser("bob", "remediation-effects")
    b.sign_in("#/remediation")
    b.wait_css("[data-testid=remediation-effects-ci]", lambda el: "whole interval" in el.text)
    rows = b.driver.execute_script(
        "return [...document.querySelectorAll('[data-testid=remediation-effect]')]"
        ".map((r) => [r.dataset.problem, r.dataset.verdict, r.textContent])")
    with rserver.api("bob") as api:
        items = api.get("/api/remediation/effects").json()["items"]
    assert [r[0] for r in rows] == [x["problem"] for x in items]
    fixed = [r for r in rows if r[1] not in ("nothing to measure",)]
    assert fixed and all(r[1] == "not enough data" for r in fixed), rows
    assert not any("+0 to +0" in r[2] for r in rows)
    b.shot("remediation-effects")
    assert not b.console_errors(), b.console_errors()
