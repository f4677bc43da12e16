"""The approver's journey in the console (issue 39, item 4), in headless Chromium against a real
``gateward run``, asserting what a person checks on screen: one line per distinct warning (not the
same one per access point); after a partial approval the buttons give way to "still needs …" (so
a comment cannot become a second submit); a campaign's proposal links to its campaign instead of
an Apply button the server refuses; the finished tab filters, sorts, pages and keeps people's
changes apart from invalid drafts; a change the planner drafted for a busy channel shows the chart
behind it (the radio's utilisation, the threshold, when it was drafted). Screenshots:
``var/artifacts/browser/approver-*.png``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import Browser, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSPHRASE = "Quarry-Beacon-4418"
KEY = "Device.WiFi.AccessPoint.{}.Security.KeyPassphrase"


def _tr181(server: Server, region: str) -> list[str]:
    with server.api("alice") as c:
        items = c.get("/api/devices", params={"limit": 200, "region": region}).json()["items"]
    return [d["id"] for d in items if d["root"] == "Device." and not d["busy"]]


def _ids(b: Browser) -> list[str]:
    ids: list[str] = b.driver.execute_script(  # in one call: the list re-renders under a loop of reads
        "return [...document.querySelectorAll('[data-testid=queue-item]')].map((e) => e.dataset.proposalId)")
    return ids


def test_an_approver_reads_one_line_per_warning_and_signs_once(admin: Server,
                                                               browser: Callable[[str, str], Browser]) -> None:
    server = admin
    dev = _tr181(server, "DE")[0]
    with server.api("alice") as c:  # one passphrase on three access points: three not-restorable warnings
        r = c.post("/api/proposals", json={"intent": f"new passphrase on every AP of {dev}", "targets": [dev],
                                            "changes": [{"path": KEY.format(i), "value": PASSPHRASE}
                                                        for i in (1, 2, 3)]})
        assert r.status_code == 201, r.text
        pid = r.json()["proposal"]["id"]
        warnings = r.json()["decision"]["warnings"]
    assert len([w for w in warnings if "cannot restore" in w]) == 3, warnings
    b = browser("bob", "approver-warnings")
    b.sign_in(f"#/approvals/{pid}")
    box = b.wait_css(f"[data-testid=queue-detail] [data-proposal-id='{pid}'] [data-testid=warnings]")
    lines = [li.text for li in box.find_elements("css selector", "li")]
    restore = [ln for ln in lines if "cannot restore" in ln]
    assert restore == [f"change: a rollback cannot restore {KEY.format('{1, 2, 3}')} (a secret reads back empty): "
                       "if this change is rolled back, the new value stays"], lines
    assert PASSPHRASE not in b.driver.page_source
    b.shot("01-one-line-per-warning")


def test_a_partial_approval_says_who_must_still_sign_and_a_campaign_proposal_links_its_campaign(
        admin: Server, browser: Callable[[str, str], Browser]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    server = admin
    with server.api("dave") as c:  # firmware outside the US window, an emergency: an approver and a senior sign
        r = c.post("/api/campaigns", json={"name": "approver journey", "target": {"region": "US"}, "emergency": True,
                                           "firmware": {"url": "https://firmware.gateward.example/us.bin",
                                                        "version": "9.9.9"}})
        assert r.status_code == 201, r.text
        st: dict[str, Any] = r.json()
    pid = st["proposal"]["id"]
    roles = {a["role"] for a in st_decision(server, pid)["approvals_required"]}
    assert {"approver", "senior_approver"} <= roles, roles
    b = browser("bob", "approver-partial")
    b.sign_in(f"#/approvals/{pid}")
    detail = f"[data-testid=queue-detail] [data-proposal-id='{pid}']"
    # the campaign's proposal: a link to the campaign, no Apply button
    link = b.wait_css(f"{detail} [data-testid=campaign-link]", lambda el: "approver journey" in el.text)
    assert link.get_attribute("href").endswith(f"#/campaigns/{st['id']}")
    assert not b.driver.find_elements("css selector", f"{detail} [data-testid=apply]")
    b.wait_css("[data-testid=review-comment]").send_keys("GB helpdesk is staffed")
    b.click("[data-testid=approve]")
    needs = b.wait_css(f"{detail} [data-testid=still-needs]", timeout=30)
    assert needs.text == f"you approved {pid}: it still needs a senior approver", needs.text
    # the buttons gave way: no comment box to press Ctrl+Enter in, nothing to submit twice
    assert not b.driver.find_elements("css selector", f"{detail} [data-testid=approve]")
    assert not b.driver.find_elements("css selector", f"{detail} [data-testid=review-comment]")
    ActionChains(b.driver).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
    assert not b.driver.find_elements("css selector", ".toast.bad"), "a second submit reached the server"
    b.shot("02-still-needs-senior")
    link = b.wait_css(f"{detail} [data-testid=campaign-link]")
    link.click()
    b.wait_css("[data-testid=campaign-verdict]", lambda el: "waiting for approval" in el.text, timeout=30)
    assert b.driver.execute_script("return location.hash") == f"#/campaigns/{st['id']}"
    b.shot("03-campaign-from-the-proposal")


def st_decision(server: Server, pid: str) -> dict[str, Any]:
    with server.api("dave") as c:
        out: dict[str, Any] = c.get(f"/api/proposals/{pid}").json()["decision"]
    return out


def test_the_finished_tab_filters_sorts_pages_and_keeps_drafts_apart(admin: Server,
                                                                    browser: Callable[[str, str], Browser]) -> None:
    server = admin
    devs = _tr181(server, "FR") or _tr181(server, "DE")
    with server.api("alice") as c:
        made = []
        for i, dev in enumerate(devs[:2]):  # two of alice's, cancelled: finished people's changes
            r = c.post("/api/proposals", json={"intent": f"finished tab {i}", "targets": [dev], "changes": [
                {"path": "Device.ManagementServer.PeriodicInformInterval", "value": 1800 + i}]})
            assert r.status_code == 201, r.text
            pid = r.json()["proposal"]["id"]
            assert c.post(f"/api/proposals/{pid}/cancel", json={"reason": "test"}).status_code == 200
            made.append(pid)
        r = c.post("/api/proposals", json={"intent": "a draft that never validated", "targets": [devs[0]],
                                            "changes": [{"path": "Device.No.Such.Parameter", "value": 1}]})
        assert r.json()["proposal"]["state"] == "invalid", r.text
        invalid = r.json()["proposal"]["id"]
    b = browser("bob", "approver-finished")
    b.sign_in("#/approvals")
    b.click("[data-testid=filter-recent]")
    b.wait_css("[data-testid=finished-filters]")
    groups = lambda: b.driver.execute_script(  # noqa: E731
        "return [...document.querySelectorAll('[data-testid=queue-group]')].map((e) => e.dataset.kind)")
    b.wait(lambda d: "invalid" in groups(), 30, what="the invalid drafts' group")
    assert groups()[0] == "people" and groups()[-1] == "invalid", groups()
    page = b.text("[data-testid=fin-page]")
    assert page.startswith("1–") and " of " in page, page
    b.shot("04-finished-grouped")

    author = b.wait_css("[data-testid=fin-author]")
    author.send_keys("alice\n")
    b.wait(lambda d: set(_ids(b)) >= {*made, invalid} and all("alice" in x for x in d.execute_script(
        "return [...document.querySelectorAll('[data-testid=queue-item]')].map((e) => e.innerText)")), 30,
        what="alice's finished proposals only")
    newest = _ids(b)
    from selenium.webdriver.support.ui import Select

    Select(b.wait_css("[data-testid=fin-sort]")).select_by_value("oldest")
    b.wait(lambda d: _ids(b) != newest, 30, what="the oldest first")
    people = [p for p in _ids(b) if p in made]
    assert people == sorted(people, key=lambda p: made.index(p)), (people, made)
    Select(b.wait_css("[data-testid=fin-kind]")).select_by_value("invalid")
    b.wait(lambda d: _ids(b) == [invalid] or (invalid in _ids(b) and not set(_ids(b)) & set(made)), 30,
           what="the invalid drafts alone")
    b.shot("05-finished-alice-invalid")
    author = b.wait_css("[data-testid=fin-author]")
    author.clear()
    author.send_keys("nobody-at-all\n")
    b.wait_css("[data-testid=fin-page]", lambda el: el.text == "0–0 of 0", timeout=30)
    assert "Nothing here" in b.text("[data-testid=queue]")


def _drafted_by_the_planner(server: Server, dev: str, text: str) -> str:
    """The planner drafts on ``dev`` through the chat API, as a support agent's turn would."""
    with server.api("alice") as c:
        tid = c.post("/api/chat/threads", json={"device_id": dev, "title": "slow Wi-Fi"}).json()["thread_id"]
        stream = c.post(f"/api/chat/threads/{tid}/messages", json={"text": text}).text
    frames = [b.split("\n") for b in stream.strip().split("\n\n")]
    prop = next((json.loads(ln[6:]) for f in frames if "event: proposal" in f for ln in f if ln.startswith("data: ")),
                None)
    assert prop is not None, stream[-2000:]
    return str(prop["data"]["proposal_id"])


def test_the_approver_sees_the_chart_behind_a_drafted_change(admin: Server,
                                                              browser: Callable[[str, str], Browser]) -> None:
    from executors.sim.fleet import generate_fleet
    from tests.conftest import SEED

    server = admin
    dev = generate_fleet(40, SEED, telemetry=False).conditions["wifi_congestion"][0]
    pid = _drafted_by_the_planner(server, dev, "the wifi is slow every evening")
    with server.api("bob") as c:
        series = c.get(f"/api/proposals/{pid}").json()["proposal"]["evidence"][0]["data"]["series"]
    try:
        b = browser("bob", "approver-chart")
        b.sign_in(f"#/approvals/{pid}")
        box = f"[data-testid=queue-detail] [data-proposal-id='{pid}'] [data-testid=evidence-facts]"
        chart = b.wait_css(f"{box} [data-testid=evidence-chart] [data-testid=chart] canvas")
        b.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
        drawn = b.wait(lambda d: d.execute_script("""
            const fig = arguments[0].closest('figure'), u = fig.__chart, q = (sel) => fig.querySelector(sel);
            const th = q('[data-testid=threshold]');
            if (!u || !th) return null;
            const pts = u.data[0].map((t, i) => [u.valToPos(t, 'x'), u.valToPos(u.data[1][i], 'y')]);
            return {points: pts, threshold: Number(th.dataset.value), thresholdY: parseFloat(th.style.top),
                    thresholdText: th.textContent, at: (q('[data-testid=at-marker]') || {}).textContent,
                    caption: q('figcaption').textContent};""", chart), what="the evidence chart drawn")
        assert len(drawn["points"]) == len(series["points"]) >= 2, (len(drawn["points"]), len(series["points"]))
        assert drawn["caption"].startswith("Wi-Fi channel busy") and "(%)" in drawn["caption"], drawn["caption"]
        assert drawn["threshold"] == series["threshold"] and series["threshold_text"] in drawn["thresholdText"]
        # drawn to scale: the busy evening rises above the threshold line (smaller y is higher)
        assert min(y for _, y in drawn["points"]) < drawn["thresholdY"] < max(y for _, y in drawn["points"]), drawn
        assert drawn["at"].startswith("drafted"), drawn["at"]
        b.shot("06-chart-behind-the-change")
        assert not [e for e in b.console_errors() if "favicon" not in e], b.console_errors()
    finally:
        with server.api("alice") as c:
            c.post(f"/api/proposals/{pid}/cancel", json={"reason": "test cleanup"})


def test_the_approver_sees_when_a_change_may_start_and_on_what_condition(admin: Server,
                                                                        browser: Callable[[str, str], Browser]) -> None:
    """A change for later carries its time and its conditions into the hash; the approver's card says
    both before anyone signs (issue 44: the approver reads what was asked, not only the diff)."""
    from datetime import UTC, datetime, timedelta

    server = admin
    dev = _tr181(server, "DE")[1]
    at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    cond = {"fact": "hosts_connected", "expect": "empty", "text": "nobody is connected to the Wi-Fi then"}
    with server.api("alice") as c:
        r = c.post("/api/proposals", json={"intent": f"new passphrase on {dev}, at night", "targets": [dev],
                                            "changes": [{"path": KEY.format(1), "value": PASSPHRASE}],
                                            "not_before": at.isoformat(), "preconditions": [cond]})
        assert r.status_code == 201, r.text
        pid = r.json()["proposal"]["id"]
    b = browser("bob", "approver-scheduled")
    b.sign_in(f"#/approvals/{pid}")
    card = f"[data-testid=queue-detail] [data-proposal-id='{pid}']"
    when = b.wait_css(f"{card} [data-testid=proposal-not-before]")
    shown = b.driver.execute_script(  # the card's one time format, with the zone: an approver may sit in another
        "return new Date(arguments[0]).toLocaleString(undefined, {month: 'short', day: 'numeric', hour: '2-digit',"
        " minute: '2-digit', second: '2-digit', timeZoneName: 'short'})", at.isoformat())
    assert when.text.startswith(f"not before {shown}") and "waits for its time" in when.text, when.text
    only = b.wait_css(f"{card} [data-testid=proposal-preconditions]")
    assert "nobody is connected to the Wi-Fi then" in only.text and "read again when the write starts" in only.text
    b.shot("05-scheduled-with-a-condition")


def test_the_words_a_senior_approver_reads_before_and_after_signing(admin: Server,
                                                                   browser: Callable[[str, str], Browser]) -> None:
    """A passphrase on two access points (an approver, once per parameter in policy's words) and a
    management-plane change (a senior approver): one line per role, each reason once; a finding's
    fact with no value is left out, and a finding with none has no dash after it; once the senior
    approver signed, "it still needs an approver" (not "a approver")."""
    server = admin
    dev = _tr181(server, "DE")[-1]
    with server.api("dave") as c:  # an admin may propose a management-plane change; a senior signs it
        r = c.post("/api/proposals", json={
            "intent": f"new passphrase and inform interval on {dev}", "targets": [dev], "rationale": "caller asked",
            "changes": [{"path": KEY.format(1), "value": PASSPHRASE}, {"path": KEY.format(2), "value": PASSPHRASE},
                        {"path": "Device.ManagementServer.PeriodicInformInterval", "value": 600}],
            "evidence": [{"kind": "finding", "summary": "weak signal", "data": {"channel": 6, "note": ""}},
                         {"kind": "finding", "summary": "the caller's words", "data": {"note": ""}}]})
        assert r.status_code == 201, r.text
        pid = r.json()["proposal"]["id"]
        assert r.json()["proposal"]["state"] == "awaiting_approval", r.text
    b = browser("carol", "approver-words")
    b.sign_in(f"#/approvals/{pid}")
    card = f"[data-testid=queue-detail] [data-proposal-id='{pid}']"
    b.wait_css(f"{card} [data-testid=approval-required]")
    lines = b.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((li) => [li.dataset.role, li.textContent])",
        f"{card} [data-testid=approval-required]")
    assert sorted(role for role, _ in lines) == ["approver", "senior_approver"], lines  # a line per role
    approver = next(text for role, text in lines if role == "approver")
    for i in (1, 2):
        assert approver.count(f"secret change to {KEY.format(i)}") == 1, approver
    facts = [li.text for li in b.driver.find_elements("css selector", f"{card} [data-testid=evidence-facts] > li")]
    assert facts == ["finding: weak signal — channel 6", "finding: the caller's words"], facts
    b.wait_css("[data-testid=review-comment]").send_keys("the caller is the account holder")
    b.click("[data-testid=approve]")
    needs = b.wait_css(f"{card} [data-testid=still-needs]", timeout=30)
    assert needs.text == f"you approved {pid}: it still needs an approver", needs.text
    b.shot("07-still-needs-an-approver")
    with server.api("dave") as c:
        c.post(f"/api/proposals/{pid}/cancel", json={"reason": "test cleanup"})
