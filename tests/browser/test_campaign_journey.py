"""The admin's campaign journey in the console (issue 16, deliverable 3), in headless Chromium
against a real ``gateward run``: create (selector with a live device count) → preview (per-class
diff, counts, the policy verdict with reasons, the change windows) → approved by other people
(through the API) → start → watch the ring timeline → abort with a reason → the ring shows its
devices rolled back. And "detect now" in the remediation view. Screenshots go to
``var/artifacts/browser/campaign-*.png``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import Browser, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PATH = "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"
REASON = "support calls spiking in GB"


def _text(b: Browser, css: str) -> str:
    return str(b.text(css))


def _select(b: Browser, testid: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(b.wait_css(f"[data-testid={testid}]")).select_by_value(value)


def _approve_as_others(server: Server, pid: str) -> list[str]:
    who = []
    for name in ("bob", "carol"):
        with server.api(name) as c:
            p = c.get(f"/api/proposals/{pid}").json()["proposal"]
            if p["state"] != "awaiting_approval":
                break
            r = c.post(f"/api/proposals/{pid}/approve", json={"hash": p["hash"], "comment": "canary first"})
            assert r.status_code == 200, r.text
            who.append(name)
    return who


def _status(server: Server, cid: str) -> dict[str, Any]:
    with server.api("dave") as c:
        out: dict[str, Any] = c.get(f"/api/campaigns/{cid}").json()
    return out


def test_admin_runs_a_campaign_end_to_end_in_the_console(admin: Server,
                                                         browser: Callable[[str, str], Browser]) -> None:
    server = admin
    with server.api("dave") as c:
        sel = c.get("/api/campaigns/selection", params={"region": "GB"}).json()
    assert 0 < sel["devices"] < sel["fleet"]
    b = browser("dave", "campaign")
    b.sign_in("#/campaigns")
    b.click("[data-testid=campaign-new]")
    b.wait_css("[data-testid=campaign-form]")
    # the live count: the whole fleet first, then the GB region alone
    b.wait_css("[data-testid=selection-count]", lambda el: el.text.startswith(f"{sel['fleet']} of {sel['fleet']}"))
    assert "whole fleet" in _text(b, "[data-testid=selection-count]")
    _select(b, "sel-region", "GB")
    b.wait_css("[data-testid=selection-count]",
               lambda el: el.text == f"{sel['devices']} of {sel['fleet']} devices match")
    b.wait_css("[data-testid=c-name]").send_keys("hide ssid GB")
    b.wait_css("[data-testid=c-changes]").send_keys(f"{PATH} = false")
    mx = b.wait_css("[data-testid=c-min-executed]")
    mx.clear()
    mx.send_keys("1")
    b.shot("01-create-form")
    b.click("[data-testid=campaign-create]")

    # the campaign page: verdict inline (allowed, waiting for approval, with the role and why), the
    # windows (open at the pinned policy time), a per-class diff with counts, Start disabled with why
    verdict = b.wait_css("[data-testid=campaign-verdict]", timeout=60)
    cid = b.driver.execute_script("return location.hash").split("/")[-1]
    st = _status(server, cid)
    pid = st["proposal"]["id"]
    assert st["proposal"]["state"] == "awaiting_approval" and st["devices"] == sel["devices"]
    assert "waiting for approval" in verdict.text and "approver" in verdict.text
    windows = _text(b, "[data-testid=campaign-windows]")
    assert "GB 00:00-05:00 local (UTC+0 h): open now" in windows, windows
    assert "senior approver" in _text(b, "[data-testid=emergency-path]")
    assert _text(b, "[data-testid=preview-count]") == f"{sel['devices']} of {sel['fleet']} devices"
    classes = b.driver.find_elements("css selector", "[data-testid=preview-class]")
    assert classes and all(PATH in el.text and "→" in el.text for el in classes)
    assert sum(int(el.text.split(" — ")[1].split()[0]) for el in classes) == sel["devices"]
    start = b.wait_css("[data-testid=campaign-start]")
    assert not start.is_enabled() and "awaiting approval" in _text(b, "[data-testid=start-blocked]")
    b.shot("02-preview-awaiting-approval")

    assert _approve_as_others(server, pid)  # other people approve, through the API
    b.wait_css("[data-testid=campaign-verdict]", lambda el: el.get_attribute("data-state") == "approved", timeout=20)
    b.click("[data-testid=campaign-start]", lambda el: el.is_enabled())
    b.wait_css("[data-testid=campaign-state]", lambda el: el.get_attribute("data-state") == "running", timeout=20)
    # watch: the canary ring fills (manual promotion: it then waits for a person)
    b.wait_css("[data-testid=campaign-ring][data-ring='0'] [data-testid=ring-counts]",
               lambda el: "✓ 0 verified" not in el.text, timeout=90)
    b.wait_css("[data-testid=ring-analyses]", timeout=60)
    b.shot("03-running-canary")
    verified = sum(r["verified"] for r in _status(server, cid)["rings_detail"])
    assert verified >= 1

    # abort with a reason: the form asks why; an empty reason is not accepted
    b.click("[data-testid=campaign-abort]")
    b.click("[data-testid=campaign-abort-confirm]")
    assert b.driver.find_elements("css selector", "[data-testid=campaign-reason]"), "an empty reason was accepted"
    b.wait_css("[data-testid=campaign-reason]").send_keys(REASON)
    b.shot("04-abort-reason")
    b.click("[data-testid=campaign-abort-confirm]")
    b.wait_css("[data-testid=campaign-state]", lambda el: el.get_attribute("data-state") == "aborted", timeout=120)
    ring = b.wait_css("[data-testid=campaign-ring][data-ring='0']",
                      lambda el: el.get_attribute("data-status") == "rolled back", timeout=30)
    counts = ring.find_element("css selector", "[data-testid=ring-counts]").text
    assert f"↺ {verified} rolled back" in counts and "✓ 0 verified" in counts, counts
    assert REASON in _text(b, "[data-testid=campaign-halt]")
    b.shot("05-aborted-rolled-back")
    end = _status(server, cid)
    assert end["state"] == "aborted" and end["rings_detail"][0]["rolled_back"] == verified
    assert not [e for e in b.console_errors() if "favicon" not in e and " 40" not in e], b.console_errors()


def test_detect_now_in_the_remediation_view(admin: Server, browser: Callable[[str, str], Browser]) -> None:
    b = browser("dave", "campaign-detect")
    b.sign_in("#/remediation")
    b.click("[data-testid=detect-now]")
    result = b.wait_css("[data-testid=detect-result]", lambda el: el.text.startswith("detectors ran:"), timeout=60)
    with admin.api("dave") as c:
        total = c.get("/api/remediation/cases", params={"limit": 1}).json()["total"]
    assert total > 0 and re.search(r"\b\d+ cases? opened", result.text), result.text
    b.shot("01-detect-now")
    erin = browser("erin", "campaign-detect-auditor")  # not an operator: the refusal is shown, nothing runs
    erin.sign_in("#/remediation")
    erin.click("[data-testid=detect-now]")
    erin.wait_css(".toast.bad", lambda el: "may not run remediation" in el.text, timeout=20)


def test_a_denied_campaign_says_why_when_the_window_opens_and_offers_the_emergency_path(
        admin: Server, browser: Callable[[str, str], Browser]) -> None:
    """Policy time is pinned to 02:30 UTC: the US window (23-04 at UTC-5) is closed, so a firmware
    campaign there is denied. The page says why, when the window opens, keeps Start disabled, and
    "Create again as an emergency" gives the same campaign the senior-approver path."""
    b = browser("dave", "campaign-denied")
    b.sign_in("#/campaigns/new")
    b.wait_css("[data-testid=campaign-form]")
    _select(b, "sel-region", "US")
    b.wait_css("[data-testid=selection-count]", lambda el: el.text.startswith("1 of "))
    b.wait_css("[data-testid=c-name]").send_keys("firmware US")
    b.click("[data-testid=c-kind-firmware]")
    b.wait_css("[data-testid=c-fw-url]").send_keys("https://firmware.gateward.example/us.bin")
    b.wait_css("[data-testid=c-fw-version]").send_keys("9.9.9")
    b.click("[data-testid=campaign-create]")
    verdict = b.wait_css("[data-testid=campaign-verdict]", lambda el: el.get_attribute("data-state") == "denied",
                         timeout=60)
    assert "Policy denied this campaign; it cannot be started" in verdict.text
    assert "outside the change window for US" in verdict.text
    assert "US 23:00-04:00 local (UTC-5 h): closed; opens 04:00 UTC (in 1 h 30 min)" in \
        _text(b, "[data-testid=campaign-windows]")
    # closed at once (issue 39): no Start to press, not counted as active
    assert b.wait_css("[data-testid=campaign-state]").get_attribute("data-state") == "denied"
    assert not b.driver.find_elements("css selector", "[data-testid=campaign-start]")
    assert _text(b, "[data-testid=campaign-phase]") == "never started (policy denied it)"
    denied_id = b.driver.execute_script("return location.hash").split("/")[-1]
    b.shot("01-denied-window")
    with admin.api("dave") as c:
        r = c.post(f"/api/campaigns/{denied_id}/start")
        assert r.status_code == 409 and "policy denied it" in r.json()["detail"], r.text

    b.click("[data-testid=campaign-as-emergency]")
    b.wait(lambda d: d.execute_script("return location.hash").split("/")[-1] != denied_id, 30,
           what="the emergency campaign's page")
    again = b.wait_css("[data-testid=campaign-verdict]",
                       lambda el: el.get_attribute("data-state") == "awaiting_approval", timeout=60)
    assert "senior approver (emergency change outside the change window for US)" in again.text, again.text
    assert "not bound to a change window" in _text(b, "[data-testid=campaign-windows]")
    b.shot("02-emergency-awaiting-senior")
    assert _status(admin, denied_id)["proposal"]["state"] == "denied"  # the window itself is not weakened


def test_a_kpi_from_the_form_and_its_effect_chart_with_the_tolerance_and_the_interval_explained(
        admin: Server, browser: Callable[[str, str], Browser]) -> None:
    """Issue 61 item 6: the form has a KPI field (a control group is asked for with it); the
    campaign page says what the effects are measured against, and the effect chart draws zero and
    the tolerance, both ends of the interval alike, and says what the interval means. The
    measurement is the estimator's own on known data, recorded as the gate records its looks."""
    import random
    from datetime import UTC, datetime

    from campaigns.effects import KPIS, DeviceChange, tolerance_of
    from campaigns.estimator import estimate, tail
    from campaigns.schema import CampaignAnalysisRow
    from core.store.db import Store

    server = admin
    b = browser("dave", "campaign-kpi")
    b.sign_in("#/campaigns/new")
    b.wait_css("[data-testid=campaign-form]")
    _select(b, "sel-region", "GB")
    b.wait_css("[data-testid=c-name]").send_keys("channel off 6 GB")
    b.wait_css("[data-testid=c-changes]").send_keys(f"{PATH} = false")
    _select(b, "c-kpi", "wifi.channel_utilization_pct")
    _select(b, "c-kpi-band", "2.4GHz")
    b.wait_css("[data-testid=c-kpi-margin]").send_keys("2")
    b.click("[data-testid=campaign-create]")
    b.wait_css("[data-testid=campaign-verdict]", timeout=60)
    cid = b.driver.execute_script("return location.hash").split("/")[-1]
    st = _status(server, cid)
    (kpi,) = st["spec"]["gate"]["kpis"]
    assert (kpi["metric"], kpi["labels"], kpi["margin"], st["spec"]["control_pct"]) == \
        ("wifi.channel_utilization_pct", {"band": "2.4GHz"}, 2, 10)
    b.wait_css("[data-testid=campaign-measured-against]", lambda el: "control group of" in el.text)

    rng = random.Random(7)
    busy = KPIS["wifi.channel_utilization_pct"]
    t = {f"t{i}": DeviceChange(30 + (x := rng.gauss(0, 5)), 30 + x + 6 + rng.gauss(0, 1), 24, 24) for i in range(20)}
    c = {f"c{i}": DeviceChange(30 + (x := rng.gauss(0, 5)), 30 + x + rng.gauss(0, 1), 24, 24) for i in range(20)}
    eff = estimate(busy, t, c, level=0.99)
    tol = tolerance_of(busy, eff, 0.0, 2.0)
    eff.tail = tail(eff, tol)
    eff.look = {"k": 1, "of": 6, "level": 0.99, "final": False}
    store = Store(f"sqlite:///{server.log.parent / 'gateward.db'}", migrate=False)
    with store.write() as s:
        s.add(CampaignAnalysisRow(campaign_id=cid, ring=0, ts=datetime.now(UTC), outcome="pending", final=False,
                                  metrics={"kpis": {busy.id: {**eff.as_dict(), "tolerance": tol, "judged": True,
                                                              "harm": eff.harm(tol), "gating": True}}},
                                  reasons=[]))
    store.engine.dispose()
    b.go(f"#/campaigns/{cid}")
    chart = b.wait_css("[data-testid=campaign-effect]", timeout=30)
    levels = sorted(float(x.get_attribute("data-value"))
                    for x in chart.find_elements("css selector", "[data-testid=chart-threshold]"))
    assert levels == [0.0, pytest.approx(tol)]  # no effect, and the tolerance on the worse side (busier)
    assert "worse" in chart.find_element("css selector", "[data-testid=campaign-effect-text]").text
    assert "did worse than expected by more than the tolerance" in _text(b, "[data-testid=campaign-effect-tail]")
    ci = _text(b, "[data-testid=campaign-effect-ci]")
    assert "What the interval means" in ci and "look 1 of 6" in ci and "whole interval" in ci
    b.shot("06-effect-chart")
    assert not [e for e in b.console_errors() if "favicon" not in e and " 40" not in e], b.console_errors()
