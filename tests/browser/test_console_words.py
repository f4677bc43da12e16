"""Words the console said that were no longer true, or were its own (issue 61): a paused banner after
resume, "the proposal is now applying" on a campaign waiting to be promoted, verified devices after an
abort rolled them back, aborts listed as faults, a thread "awaiting approval" after its change was
verified, two DNS servers read back alike, the policy's stage rule on screen; a scheduled apply that
said "apply ended: approved"; the device list in a 420-px box, a CLI hint on the unknown-device
page and raw JSON for an unknown address. Screenshots go to ``var/artifacts/browser/``."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Browser, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# one time format: "Nov 27, 03:04:12 PM" (or a 24-hour clock), as dom.js fmtTime writes it
TIME = r"[A-Z][a-z]{2} \d{1,2}, \d\d:\d\d:\d\d(?: [AP]M)?"


def _devices(server: Server, **params: Any) -> list[dict[str, Any]]:
    with server.api("alice") as c:
        items: list[dict[str, Any]] = c.get("/api/devices", params={"limit": 200, **params}).json()["items"]
    return [d for d in items if not d["busy"]]


def _status(server: Server, cid: str) -> dict[str, Any]:
    with server.api("dave") as c:
        out: dict[str, Any] = c.get(f"/api/campaigns/{cid}").json()
    return out


def _wait(what: str, cond: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _running_campaign(server: Server) -> str:
    """An emergency campaign (no change window to wait for) of one model, approved by the two people
    policy asks, started, its canary ring passed and waiting for a person to promote it."""
    model = max({d["model"] for d in _devices(server, region="DE")},
                key=lambda m: sum(d["model"] == m for d in _devices(server)))
    with server.api("dave") as c:
        r = c.post("/api/campaigns", json={"name": "words", "target": {"model": model},
                                           "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}],
                                           "emergency": True, "promotion": {"mode": "manual"}})
        assert r.status_code == 201, r.text
        cid = str(r.json()["id"])
    pid = _status(server, cid)["proposal"]["id"]
    for name in ("carol", "bob"):
        with server.api(name) as c:
            p = c.get(f"/api/proposals/{pid}").json()["proposal"]
            if p["state"] == "awaiting_approval":
                c.post(f"/api/proposals/{pid}/approve", json={"hash": p["hash"], "comment": "ok"}).raise_for_status()
    with server.api("dave") as c:
        c.post(f"/api/campaigns/{cid}/start").raise_for_status()
    _wait("the canary ring to pass", lambda: _status(server, cid)["ring_state"] == "waiting")
    return cid


def test_a_campaign_says_where_it_is_after_a_pause_and_after_an_abort(admin: Server,
                                                                     browser: Callable[[str, str], Browser]) -> None:
    server = admin
    cid = _running_campaign(server)
    b = browser("dave", "words-campaign")
    b.sign_in(f"#/campaigns/{cid}")
    verdict = b.text("[data-testid=verdict-text]", lambda el: "Allowed" in el.text)
    assert "now applying" not in verdict and "waits to be promoted" in verdict, verdict
    with server.api("dave") as c:
        c.post(f"/api/campaigns/{cid}/pause", json={"reason": "checking the canary"}).raise_for_status()
    b.wait_css("[data-testid=campaign-halt]", lambda el: el.text.startswith("Paused"))
    with server.api("dave") as c:
        c.post(f"/api/campaigns/{cid}/resume").raise_for_status()
    b.wait_css("[data-testid=campaign-state]", lambda el: el.get_attribute("data-state") == "running")
    assert not b.driver.find_elements("css selector", "[data-testid=campaign-halt]"), "the paused banner stayed"
    b.shot("01-resumed")
    with server.api("dave") as c:
        c.post(f"/api/campaigns/{cid}/abort", json={"reason": "words test"}).raise_for_status()
    _wait("the abort to roll back", lambda: _status(server, cid)["state"] == "aborted")
    st = _status(server, cid)
    rolled = sum(r["rolled_back"] for r in st["rings_detail"])
    assert rolled > 0 and not any(r["verified"] for r in st["rings_detail"]), st["rings_detail"]
    b.wait_css("[data-testid=campaign-state]", lambda el: el.get_attribute("data-state") == "aborted")
    legend = b.wait(lambda d: d.execute_script("""
        const fig = [...document.querySelectorAll('[data-testid=campaign-chart]')]
          .find((f) => f.textContent.startsWith('devices changed'));
        const u = fig && fig.__chart;
        if (!u) return null;
        return u.series.slice(1).map((s, i) => [s.label, u.data[i + 1][u.data[i + 1].length - 1]]);"""),
        what="the devices-changed chart")
    last = {label: v for label, v in legend}
    assert last.get("verified, still in place") == 0 and last.get("rolled back") == rolled, legend
    b.shot("02-aborted")
    # the abort's rollbacks undid writes that held: not faults
    b.go("#/faults")
    b.wait_css("[data-testid=faults-table] tbody tr")
    rows = b.driver.execute_script(
        "return [...document.querySelectorAll('[data-testid=fault-row] a')].map((a) => a.href)")
    assert not [r for r in rows if st["proposal"]["id"] in r], rows
    assert "A rollback a person decided on" in b.text("section.panel p.muted")


def test_a_scheduled_apply_says_when_it_will_run(admin: Server, browser: Callable[[str, str], Browser]) -> None:
    """Apply before a change's time records who asked and writes nothing: the page said "apply ended:
    approved" and kept the button. It says when it will run, the button goes, and the card keeps one
    time format."""
    server = admin
    dev = _devices(server, region="GB")[0]["id"]
    at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    with server.api("alice") as c:
        r = c.post("/api/proposals", json={"intent": f"channel 6 on {dev}, later", "targets": [dev],
                                            "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}],
                                            "not_before": at.isoformat()})
        assert r.status_code == 201, r.text
        p = r.json()["proposal"]
    if p["state"] == "awaiting_approval":
        with server.api("bob") as c:
            c.post(f"/api/proposals/{p['id']}/approve", json={"hash": p["hash"], "comment": "ok"}).raise_for_status()
    b = browser("alice", "words-scheduled")
    b.sign_in(f"#/approvals/{p['id']}")
    card = f"[data-proposal-id='{p['id']}']"
    button = b.text(f"{card} [data-testid=apply]")
    assert re.match(rf"Apply at {TIME}", button), button
    b.click(f"{card} [data-testid=apply]")
    said = b.wait(lambda d: next((t for t in b.toasts_seen() if "apply" in t or "scheduled" in t), None),
                  what="the page's answer to Apply")
    assert said.startswith("scheduled: it starts at") and "approved" not in said, said
    scheduled = b.text(f"{card} [data-testid=apply-scheduled]")
    assert "alice" in scheduled, scheduled
    assert not b.driver.find_elements("css selector", f"{card} [data-testid=apply]"), "the Apply button stayed"
    header = b.text(f"{card} p.muted.small")
    when = b.text(f"{card} [data-testid=proposal-not-before]")
    assert re.search(TIME, header) and re.search(TIME, when), (header, when)
    b.shot("scheduled")
    with server.api("alice") as c:
        c.post(f"/api/proposals/{p['id']}/cancel", json={"reason": "test cleanup"})


def test_a_thread_says_what_became_of_its_change(admin: Server, browser: Callable[[str, str], Browser]) -> None:
    """A thread stayed "awaiting approval" in the list after its change was approved, applied and
    verified elsewhere: the list says the change's state now."""
    server = admin
    dev = _devices(server, region="DE")[0]["id"]
    with server.api("alice") as c:
        tid = c.post("/api/chat/threads", json={"device_id": dev}).json()["thread_id"]
        stream = c.post(f"/api/chat/threads/{tid}/messages",
                        json={"text": "please set the 2.4 GHz channel to 11"}).text
    frames = [f.split("\n") for f in stream.strip().split("\n\n")]
    prop = next((json.loads(ln[6:]) for f in frames if "event: proposal" in f for ln in f if ln.startswith("data: ")),
                None)
    assert prop is not None, stream[-2000:]
    pid = prop["data"]["proposal_id"]
    with server.api("alice") as c:
        p = c.get(f"/api/proposals/{pid}").json()["proposal"]
    if p["state"] == "awaiting_approval":
        with server.api("bob") as c:
            c.post(f"/api/proposals/{pid}/approve", json={"hash": p["hash"], "comment": "ok"}).raise_for_status()
    with server.api("alice") as c:
        c.post(f"/api/proposals/{pid}/apply").raise_for_status()
        assert c.get(f"/api/proposals/{pid}").json()["proposal"]["state"] == "done"
    b = browser("alice", "words-thread")
    b.sign_in(f"#/support/{dev}")
    option = b.wait(lambda d: d.execute_script(
        "return [...document.querySelectorAll('[data-testid=thread-select] option')]"
        ".map((o) => [o.value, o.textContent]).find(([v]) => v === arguments[0])", tid), what="the thread listed")
    assert "applied and verified" in option[1] and "awaiting" not in option[1], option


def test_a_parameter_read_back_names_its_object(admin: Server, browser: Callable[[str, str], Browser]) -> None:
    """"Dnsserver is now 1.1.1.1" twice, for two servers: each says which."""
    b = browser("alice", "words-label")
    b.sign_in("#/support")
    said = b.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import('/static/js/views/support.js').then((m) => done(['Device.DNS.Client.Server.1.DNSServer',
          'Device.DNS.Client.Server.2.DNSServer', 'Device.WiFi.Radio.2.Channel'].map(m.paramWords)));""")
    assert said == ["DNS server 1", "DNS server 2", "Radio 2 channel"], said


def test_policy_stages_read_as_one_plan(admin: Server, browser: Callable[[str, str], Browser]) -> None:
    """The verdict listed the rule's own text merged in braces ("stage: {canary 5, ring 25…}%")."""
    b = browser("bob", "words-stages")
    b.sign_in("#/approvals")
    lines = b.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const st = (kind, pct) => ({ code: 'obligation.stage', message: `stage: ${kind} ${pct}%`,
          params: { kind, percent: pct } });
        const items = [st('canary', 5), st('ring', 25), st('ring', 100),
          { code: 'obligation.window', message: 'apply inside the change window', params: {} }];
        import('/static/js/proposal.js').then((m) => done(m.obligationLines({ obligations: items.map((i) => i.message),
          obligation_items: items })));""")
    assert lines == ["roll out in rings: canary 5 % → 25 % → 100 % of the targets, a gate after each",
                     "apply inside the change window"], lines


def test_the_device_list_fills_the_page_and_an_unknown_device_or_address_is_a_page(
        admin: Server, browser: Callable[[str, str], Browser]) -> None:
    server = admin
    b = browser("alice", "words-pages")
    b.sign_in("#/devices/")
    b.wait_css("[data-testid=device-row]")
    box = b.driver.execute_script(
        "const s = document.querySelector('[data-testid=device-table]').parentElement;"
        "return [s.scrollHeight, s.clientHeight, document.querySelectorAll('[data-testid=device-row]').length]")
    assert box[2] > 13 and box[0] <= box[1] + 1, box  # every row of the page in the page, no box of its own
    b.go("#/devices/NO-SUCH-DEVICE-61")
    page = b.text("[data-testid=unknown-device]")
    assert "NO-SUCH-DEVICE-61" in page and "gateward" not in page and "`" not in page, page
    search = b.wait_css("[data-testid=unknown-device-search]").get_attribute("href")
    assert search.endswith("#/devices/?q=NO-SUCH-DEVICE-61"), search
    b.driver.get(f"{server.base}/no/such/page")
    assert "Nothing here" in b.driver.find_element("css selector", "h1").text
    assert b.driver.find_element("css selector", "main a").get_attribute("href") == f"{server.base}/"
    b.shot("not-found")
    api = httpx.get(f"{server.base}/no/such/page", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.json()["error"] == "not_found"
