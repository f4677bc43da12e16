"""What people see stays true while they look (issue 16): the device page shows the value an
apply wrote and the whole parameter list; pages that are open follow approvals and applies made
elsewhere (the change feed, ``GET /api/events``); and no page — console or API docs — loads
anything from outside the server. Screenshots are saved as test artefacts."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import Browser, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

POWER = "Device.WiFi.Radio.1.TransmitPower"
PASSPHRASE = "Quarry-Meadow-4410"


def _device(server: Server, region: str) -> str:
    with server.api("alice") as c:
        items = c.get("/api/devices", params={"limit": 200, "presence": "true", "region": region}).json()["items"]
    for d in items:
        if d["root"] == "Device." and not d["busy"] and (d["presence"] or {}).get("reachable"):
            return str(d["id"])
    raise AssertionError(f"no reachable TR-181 device in {region}")


def _propose(server: Server, dev: str, path: str, value: Any, intent: str) -> str:
    with server.api("alice") as c:
        r = c.post("/api/proposals", json={"intent": intent, "targets": [dev],
                                           "changes": [{"path": path, "value": value}]})
        assert r.status_code in (200, 201), r.text
        assert r.json()["proposal"]["state"] in ("awaiting_approval", "approved"), r.text
        return str(r.json()["proposal"]["id"])


def _approve(server: Server, pid: str) -> None:
    for who in ("bob", "carol"):
        with server.api(who) as c:
            p = c.get(f"/api/proposals/{pid}").json()["proposal"]
            if p["state"] != "awaiting_approval":
                break
            r = c.post(f"/api/proposals/{pid}/approve", json={"hash": p["hash"], "comment": "ok"})
            assert r.status_code == 200, r.text
    with server.api("alice") as c:
        assert c.get(f"/api/proposals/{pid}").json()["proposal"]["state"] == "approved"


def _apply(server: Server, pid: str) -> None:
    with server.api("alice") as c:
        r = c.post(f"/api/proposals/{pid}/apply")
        assert r.status_code == 200 and r.json()["proposal"]["state"] == "done", r.text


def _param_value(b: Browser, path: str) -> str:
    return str(b.driver.execute_script(
        "const r = document.querySelector(`[data-testid=param-row][data-path='${arguments[0]}'] "
        "[data-testid=param-value]`); return r ? r.textContent : null;", path))


def test_device_page_shows_the_applied_value_and_every_parameter(
        server: Server, browser: Callable[[str, str], Browser]) -> None:
    dev = _device(server, "GB")
    with server.api("alice") as c:
        before = {p["path"]: p["value"] for p in c.get(f"/api/devices/{dev}").json()["parameters"]}
    assert POWER in before and len(before) > 50, (len(before), sorted(before)[:5])
    new = 75 if before[POWER] != 75 else 50
    b = browser("alice", "live-1-device")
    b.sign_in(f"#/devices/{dev}")
    b.wait_css("[data-testid=device-title]", lambda el: el.text == dev)
    b.wait_css("[data-testid=param-count]", lambda el: el.text.startswith(f"{len(before)} parameters"))
    assert _param_value(b, POWER) == str(before[POWER])
    b.shot("01-before-apply")

    pid = _propose(server, dev, POWER, new, f"transmit power {before[POWER]} -> {new}")
    _approve(server, pid)
    _apply(server, pid)

    # the open page follows by itself: the new value, and the full list (not just the backed-up parameter)
    b.wait(lambda d: _param_value(b, POWER) == str(new), 20, what=f"{POWER} = {new} on the open page")
    count = b.text("[data-testid=param-count]")
    shown = int(count.split()[0])
    assert shown >= len(before), f"the parameter list collapsed to {count!r} after the apply (was {len(before)})"
    b.shot("02-after-apply-live")
    b.driver.refresh()  # and what a fresh look at the page says
    b.wait_css("[data-testid=device-title]", lambda el: el.text == dev)
    b.wait(lambda d: _param_value(b, POWER) == str(new), 20, what="the new value after a reload")
    assert int(b.text("[data-testid=param-count]").split()[0]) == shown
    b.shot("03-after-reload")


def test_open_pages_follow_an_approval_and_an_apply_made_elsewhere(
        server: Server, browser: Callable[[str, str], Browser]) -> None:
    dev = _device(server, "DE")
    agent = browser("alice", "live-2-agent")
    agent.sign_in(f"#/support/{dev}")
    agent.wait_css("[data-testid=device-panel] h2", lambda el: el.text == dev)
    agent.wait_css("[data-testid=live-status]", lambda el: el.get_attribute("data-state") == "live")
    assert not agent.driver.find_elements("css selector", "[data-testid=in-flight]")
    approver = browser("bob", "live-2-approver")
    approver.sign_in("#/approvals")
    approver.wait_css("[data-testid=live-status]", lambda el: el.get_attribute("data-state") == "live")

    pid = _propose(server, dev, "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", PASSPHRASE, "new passphrase")
    with server.api("bob") as c:
        assert c.get(f"/api/proposals/{pid}").json()["proposal"]["state"] == "awaiting_approval"
    # a new proposal appears in the open queue, and the agent's panel says work is in flight
    approver.wait_css(f"[data-testid=queue-item][data-proposal-id='{pid}']", timeout=15)
    agent.wait_css("[data-testid=in-flight]", lambda el: pid in el.text, timeout=15)
    agent.shot("01-in-flight")
    approver.shot("01-queue-has-it")

    _approve(server, pid)  # approved by others, through the API: the open queue drops it from "pending"
    approver.wait(lambda d: not d.find_elements("css selector", f"[data-testid=queue-item][data-proposal-id='{pid}']"),
                  15, what="the approved proposal to leave the pending queue")
    _apply(server, pid)
    agent.wait(lambda d: not d.find_elements("css selector", "[data-testid=in-flight]"), 15,
               what="'in flight' to go once the apply finished")
    agent.shot("02-idle-after-apply")
    approver.shot("02-queue-reconciled")
    count = approver.driver.find_element("css selector", "#queue-count")
    with server.api("bob") as c:
        pending = c.get("/api/proposals", params={"state": "awaiting_approval", "limit": 1}).json()["total"]
    approver.wait(lambda d: (count.text == str(pending)) if pending else not count.is_displayed(), 15,
                  what="the nav count to match the server")
    assert PASSPHRASE not in agent.driver.page_source + approver.driver.page_source
    for b in (agent, approver):
        assert not [e for e in b.console_errors() if "favicon" not in e and " 40" not in e], b.console_errors()


def _requests(b: Browser) -> list[str]:
    return list(b.driver.execute_script(
        "return [location.href, ...performance.getEntriesByType('resource').map((e) => e.name)];"))


def test_no_page_loads_anything_from_outside_the_server(server: Server, browser: Callable[[str, str], Browser]) -> None:
    b = browser("carol", "offline")
    b.sign_in("#/support")
    seen: list[str] = []
    for view in ("#/support", "#/approvals", "#/fleet", "#/devices", "#/campaigns", "#/remediation", "#/audit"):
        b.go(view)
        b.wait(lambda d, v=view: d.execute_script("return document.getElementById('view').dataset.view") == v[2:],
               what=f"view {view}")
        b.wait_css("#view > *")
        seen += _requests(b)
    b.driver.get(server.base + "/docs")  # the API docs render from packaged assets
    b.wait_css(".swagger-ui .opblock", timeout=30)
    b.wait_css(".swagger-ui .info .title", lambda el: "Gateward" in el.text)
    b.shot("docs")
    seen += _requests(b)
    b.driver.get(server.base + "/redoc")  # ReDoc's bundle would fetch its logo from a CDN: /docs instead
    b.wait(lambda d: d.current_url == server.base + "/docs", what="/redoc -> /docs")
    b.wait_css(".swagger-ui .opblock", timeout=30)
    outside = sorted({u for u in seen if not u.startswith(server.base + "/") and not u.startswith("data:")})
    assert not outside, f"pages loaded things from outside the server: {outside}"
    refused = [e for e in b.console_errors() if "Content Security Policy" in e or "Refused to" in e]
    assert not refused, refused
    with server.api("carol") as c:
        for path in ("/", "/docs", "/redoc"):
            csp = c.get(path).headers["content-security-policy"]
            assert "default-src 'self'" in csp and "http" not in csp, (path, csp)


def test_papercuts_a_person_would_notice(server: Server, browser: Callable[[str, str], Browser]) -> None:
    from selenium.webdriver.common.by import By

    dev = _device(server, "GB")
    b = browser("alice", "papercuts")
    b.sign_in(f"#/devices/{dev}")
    title = b.wait_css("[data-testid=device-title]", lambda el: el.text == dev)
    assert float(title.value_of_css_property("font-size").removesuffix("px")) >= 20  # a title, not a footnote
    b.go(f"#/support/{dev}")
    b.wait_css("[data-testid=device-panel] h2", lambda el: el.text == dev)
    b.driver.find_element(By.CSS_SELECTOR, "[data-testid=device-panel] details summary").click()
    form = b.wait_css("[data-testid=manual-form]")
    labels = [el.text.split("\n")[0] for el in form.find_elements(By.CSS_SELECTOR, "label.field")]
    assert labels == ["Parameter path", "New value", "Why"], labels
    path = form.find_element(By.CSS_SELECTOR, "[data-testid=manual-path]")
    assert path.find_element(By.XPATH, "..").tag_name == "label"  # clicking the label focuses the field
    path.send_keys("Device.WiFi.Radio.1.TransmitPower")
    form.find_element(By.CSS_SELECTOR, "[data-testid=manual-value]").send_keys("500")
    form.find_element(By.CSS_SELECTOR, "[data-testid=manual-intent]").send_keys("more power")
    form.find_element(By.CSS_SELECTOR, "[data-testid=manual-submit]").click()
    # an invalid change says why — in a toast, or on its card — never "policy has not decided"
    b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#toasts .toast.bad, [data-testid=invalid-reason]"), 20,
           what="the reason the change is invalid")
    shown = " ".join(el.text for el in b.driver.find_elements(
        By.CSS_SELECTOR, "#toasts .toast, [data-testid=invalid-reason]"))
    assert "TransmitPower: 500 is outside" in shown, shown
    assert "Policy has not decided" not in b.driver.page_source
    b.shot("manual-form-invalid")
    # link-styled buttons read as links on white (the pale colour is only for the dark top bar)
    on_white = b.driver.execute_script(
        "const x = document.createElement('button'); x.className = 'link'; x.textContent = 'open';"
        "document.getElementById('view').append(x); const c = getComputedStyle(x).color; x.remove(); return c;")
    top = b.driver.find_element(By.ID, "signout").value_of_css_property("color")
    assert on_white == "rgb(36, 88, 214)" and on_white != top, (on_white, top)


def test_fleet_view_counts_what_the_api_counts(server: Server, browser: Callable[[str, str], Browser]) -> None:
    from selenium.webdriver.common.by import By

    with server.api("erin") as c:
        ov = c.get("/api/fleet").json()
        regions = {g["key"]: g for g in ov["by_region"]}
    assert ov["devices"] > 0 and ov["presence_checked"] == ov["devices"]
    assert ov["online"] + ov["unreachable"] + ov["offline"] == ov["devices"]
    b = browser("erin", "fleet")  # an auditor: the fleet view is read-only, for every role
    b.sign_in("#/fleet")
    b.wait_css("[data-testid=fleet-devices] .value", lambda el: el.text == str(ov["devices"]))
    assert b.text("[data-testid=fleet-online] .value") == str(ov["online"])
    # the tile's percent is online ÷ asked, and it says it counts presence, asked; the trend beside
    # it says it is a share of the devices' own reports, and of which bucket its latest value is
    tile = b.text("[data-testid=fleet-online] .muted")
    shown = re.fullmatch(r"online when asked \((\d+\.\d) % of (\d+)\)", tile)
    assert shown and int(shown.group(2)) == ov["presence_checked"], tile
    assert abs(float(shown.group(1)) - 100 * ov["online"] / ov["presence_checked"]) <= 0.05 + 1e-9, (tile, ov)
    legend = b.wait(lambda d: d.execute_script(
        "const s = document.querySelectorAll('[data-testid=trend-online] .u-legend .u-series');"
        "return s.length > 1 && ['.u-label', '.u-value'].map((c) => s[1].querySelector(c).textContent);"),
        what="the link-up trend's legend")
    assert legend[0] == "link-up reports", legend
    assert re.fullmatch(r"\d+(\.\d+)? % of reports, \d\d:\d\d( [AP]M)?–\d\d:\d\d( [AP]M)?", legend[1]), legend
    assert "not the “online when asked” tile" in b.text("[data-testid=trend-online-note]")
    rows = b.driver.find_elements(By.CSS_SELECTOR, "[data-testid=fleet-by-region] .bar-row")
    assert {r.get_attribute("data-key") for r in rows} == set(regions)
    for r in rows:  # the hover text carries the exact numbers, with units
        g = regions[r.get_attribute("data-key")]
        hover = r.find_element(By.TAG_NAME, "title").get_attribute("textContent")
        assert hover.startswith(f"{g['key']}: {g['devices']} devices — {g['online']} online"), hover
    assert "devices" in b.driver.find_element(By.CSS_SELECTOR, "[data-testid=fleet-by-region] .axis-label").text
    cells = b.driver.find_elements(By.CSS_SELECTOR, "[data-testid=compat-grid] td.compat")
    assert cells and {c.get_attribute("data-status") for c in cells} <= {"green", "yellow", "red"}
    assert all(c.get_attribute("title") for c in cells)  # evidence on hover
    b.wait_css("[data-testid=fleet-recent]")
    b.wait_css("[data-testid=fleet-onboarding]")
    b.shot("fleet-view")
    assert not [e for e in b.console_errors() if "favicon" not in e], b.console_errors()
