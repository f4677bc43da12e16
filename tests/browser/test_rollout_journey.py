"""The rollout journey in the console (issue 39, item 2), in headless Chromium against a real
``gateward run``, asserting what a person checks on screen: the change window before create; a
canary's real share; "promotes automatically in …" counting down; the failure rate drawn against
its threshold; no literal "null"; an aborted campaign that is not green and says "rolled back";
retry and clone. Screenshots: ``var/artifacts/browser/rollout-*.png``. Policy time is pinned to
02:30 UTC (tests/conftest.py): GB's window (00-05) is open, the US one (23-04 at UTC-5) closed."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.browser.conftest import Browser, Server
from tests.browser.test_campaign_journey import PATH, _approve_as_others, _select, _status, _text

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _body(b: Browser) -> str:
    return str(b.driver.execute_script("return document.body.innerText"))


def _field(b: Browser, testid: str, value: str) -> None:
    el = b.wait_css(f"[data-testid={testid}]")
    el.clear()
    el.send_keys(value)


def test_a_rollout_as_a_person_watches_it(admin: Server, browser: Callable[[str, str], Browser]) -> None:
    server = admin
    b = browser("dave", "rollout")
    b.sign_in("#/campaigns/new")
    b.wait_css("[data-testid=campaign-form]")

    # 1. the change window, before create: a firmware campaign in the US closed (and what that
    # means), a parameter change in GB open
    b.click("[data-testid=c-kind-firmware]")
    _select(b, "sel-region", "US")
    win = b.wait_css("[data-testid=create-windows]", lambda el: "US" in el.text)
    assert "US 23:00-04:00 local (UTC-5 h): closed; opens 04:00 UTC (in 1 h 30 min)" in win.text, win.text
    assert "Policy will deny this campaign while a window is closed" in _text(b, "[data-testid=create-window-warning]")
    b.shot("01-create-window-closed")
    b.click("input[name=kind][value=change]")
    _select(b, "sel-region", "GB")
    win = b.wait_css("[data-testid=create-windows]", lambda el: "GB" in el.text)
    assert "GB 00:00-05:00 local (UTC+0 h): open now" in win.text, win.text
    assert not b.driver.find_elements("css selector", "[data-testid=create-window-warning]")

    # 2. create with automatic promotion after 10 minutes, a 5 % threshold, canary 1 %
    _field(b, "c-name", "hide ssid GB auto")
    b.wait_css("[data-testid=c-changes]").send_keys(f"{PATH} = false")
    _field(b, "c-min-executed", "1")
    _field(b, "c-threshold", "5")
    _field(b, "c-canary", "1")
    _select(b, "c-promotion", "auto")
    _field(b, "c-pause-s", "600")
    b.click("[data-testid=campaign-create]")
    b.wait_css("[data-testid=campaign-verdict]", timeout=60)
    cid = b.driver.execute_script("return location.hash").split("/")[-1]
    st = _status(server, cid)
    assert st["spec"]["gate"]["failure_threshold"] == pytest.approx(0.05)  # typed 5 (%), stored 0.05
    assert "fail above 5.0 % after 1 executed" in _body(b)  # the same unit as typed
    canary = st["rings_detail"][0]
    title = _text(b, "[data-testid=campaign-ring][data-ring='0'] [data-testid=ring-title]")
    if canary["one_per_class"]:  # a canary that had to take one device of every class says so
        assert (f"asked 1 %, holds {canary['size']} of {st['devices']} devices ({canary['share_pct']} %): one of "
                f"each of its {canary['classes']} model × firmware classes") in title, title
    else:
        assert f"({canary['size']} devices)" in title, title
    assert "null" not in _body(b)
    b.shot("02-created-awaiting-approval")

    # 3. approved by others; started; the canary passes and the page counts down to the promotion
    assert _approve_as_others(server, st["proposal"]["id"])
    b.click("[data-testid=campaign-start]", lambda el: el.is_enabled(), timeout=30)
    count = b.wait_css("[data-testid=promote-countdown]", timeout=120)
    first = count.text
    assert first.startswith("promotes automatically in ") and "min" in first, first
    time.sleep(2.2)
    later = _text(b, "[data-testid=promote-countdown]")
    assert later != first and later.startswith("promotes automatically in "), (first, later)
    assert "passed" in _text(b, "[data-testid=campaign-phase]")
    # the analysis measurements against their threshold: a dashed line at 5 %
    level = b.wait(lambda d: d.execute_script(  # an SVG line of no height: not "displayed" to Selenium
        "const l = document.querySelector('[data-testid=chart-threshold]'); return l && l.dataset.level"), 30,
        what="the threshold line")
    assert float(level) == pytest.approx(5.0)
    levels = b.driver.execute_script(  # each gate signal against its own limit: unreached at most 10 %
        "return [...document.querySelectorAll('[data-testid=chart-threshold]')].map((l) => +l.dataset.level)")
    assert levels[:2] == [pytest.approx(5.0), pytest.approx(10.0)], levels
    assert "threshold 5.0 %" in _body(b)
    assert "null" not in _body(b)
    b.shot("03-canary-passed-countdown")

    # 4. abort: not green, the canary says rolled back (no ✓ beside it)
    b.click("[data-testid=campaign-abort]")
    b.wait_css("[data-testid=campaign-reason]").send_keys("checking the GB helpdesk first")
    b.click("[data-testid=campaign-abort-confirm]")
    b.wait_css("[data-testid=campaign-state]", lambda el: el.get_attribute("data-state") == "aborted", timeout=120)
    b.wait_css("[data-testid=campaign-ring][data-ring='0']",
               lambda el: el.get_attribute("data-status") == "rolled back", timeout=60)
    verdict = b.wait_css("[data-testid=campaign-verdict]")
    assert "allow" not in (verdict.get_attribute("class") or "").split(), verdict.get_attribute("class")
    assert verdict.text.startswith("Aborted.") and "Allowed by policy and approved" not in verdict.text, verdict.text
    title = _text(b, "[data-testid=campaign-ring][data-ring='0'] [data-testid=ring-title]")
    assert title.startswith("↺ ring 1 (canary)"), title
    assert "✓ canary" not in _body(b)
    assert _text(b, "[data-testid=campaign-phase]").startswith("stopped in ring 1 of")
    assert "null" not in _body(b)
    b.shot("04-aborted-rolled-back")

    # 5. clone: the create form holds the same definition, to change first
    b.click("[data-testid=campaign-clone]")
    b.wait_css("[data-testid=campaign-form]")
    assert b.wait_css("[data-testid=c-name]").get_attribute("value") == "hide ssid GB auto (copy)"
    assert b.wait_css("[data-testid=c-changes]").get_attribute("value") == f"{PATH} = false"
    assert b.wait_css("[data-testid=c-threshold]").get_attribute("value") == "5"
    assert b.wait_css("[data-testid=sel-region]").get_attribute("value") == "GB"
    b.shot("05-clone-prefilled")

    # 6. retry: the same definition as a new campaign, with its own proposal and approvals
    b.go(f"#/campaigns/{cid}")
    b.click("[data-testid=campaign-retry]")
    b.wait(lambda d: d.execute_script("return location.hash").split("/")[-1] not in (cid, "new"), 60,
           what="the retried campaign's page")
    again = b.wait_css("[data-testid=campaign-verdict]", timeout=60)
    new_id = b.driver.execute_script("return location.hash").split("/")[-1]
    retried = _status(server, new_id)
    assert retried["name"] == "hide ssid GB auto (retry)" and retried["proposal"]["id"] != st["proposal"]["id"]
    assert retried["state"] == "created" and "waiting for approval" in again.text
    b.shot("06-retried")

    # 7. the list says where each one is
    b.go("#/campaigns")
    b.wait_css("[data-testid=campaign-list]")
    phases = [el.text for el in b.driver.find_elements("css selector", "[data-testid=campaign-list-phase]")]
    assert any(p.startswith("stopped in ring 1 of") for p in phases), phases
    assert any(p.startswith("not started") for p in phases), phases
    b.shot("07-list")
    assert not [e for e in b.console_errors() if "favicon" not in e and " 40" not in e], b.console_errors()
