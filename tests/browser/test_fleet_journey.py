"""The fleet view with time (issue 39, item 3), as a person checks it: the trends for a range they
pick, the outage panel naming the upstream and N of N degraded, tiles that count right (an applied
case is not open), presence bars that do not rely on red against green, and a bar that opens the
device list filtered to its group. Screenshots are kept as test artefacts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from testing.servers import GatewardRun
from tests.browser.conftest import ROOT, USERS, Browser, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A seeded fleet where most devices on one upstream reported the WAN down, and remediation
    cases: two open, one applied (waiting for its verification)."""
    from sqlalchemy import select

    from brain.remediation.schema import RemediationCaseRow
    from core.kernel.models import utcnow
    from core.store.schema import DeviceEventRow, DeviceRow
    from core.users import issue_token
    from tests.conftest import build_test_runtime

    home: Path = tmp_path_factory.mktemp("fleet-journey")
    url = f"sqlite:///{home / 'gateward.db'}"
    rt = build_test_runtime(url, homes=40)
    tokens = {u: issue_token(rt.store, u) for u in USERS}
    now = utcnow()
    with rt.store.write() as s:
        rows = s.execute(select(DeviceRow.id, DeviceRow.upstream_id).order_by(DeviceRow.id)).all()
        sizes = Counter(u for _, u in rows if u)
        upstream, n = sizes.most_common(1)[0]
        on_it = [d for d, u in rows if u == upstream]
        for did in on_it[: n // 2 + 1]:
            s.add(DeviceEventRow(device_id=did, ts=now - timedelta(minutes=30), kind="wan_down", data={}))
        for i, status in enumerate(("open", "escalated", "applied")):
            s.add(RemediationCaseRow(id=f"case-fj-{i}", device_id=rows[i][0], problem="wifi_interference",
                                     kind="detector", status=status, opened_at=now - timedelta(hours=2),
                                     updated_at=now))
    rt.close()
    with GatewardRun(home=home, database_url=url, homes=40, cwd=ROOT) as run:
        srv = Server(base=run.base, tokens=tokens, proc=run.proc, log=run.log)
        srv.outage = (upstream, n // 2 + 1, n)  # type: ignore[attr-defined]
        srv.url = url  # type: ignore[attr-defined]
        yield srv


def test_fleet_over_time(server: Any, browser: Callable[[str, str], Browser]) -> None:
    with server.api("alice") as c:
        ov = c.get("/api/fleet").json()
    b = browser("alice", "fleet")
    b.sign_in("#/fleet")
    # tiles: two open cases (the applied one is counted apart), campaigns as the API counts them
    b.wait_css("[data-testid=fleet-cases] .value", lambda el: el.text == str(sum(ov["cases_by_problem"].values())))
    assert ov["cases_by_problem"].get("wifi_interference") == 2
    applied = b.driver.find_element("css selector", "[data-testid=fleet-cases-applied] .value").text
    assert applied == str(ov["cases_applied"])
    assert ov["cases_applied"] >= 1
    # the outage panel: which upstream, N of N degraded, a link to its devices
    upstream, bad, total = server.outage
    row = b.wait_css(f"[data-testid=outage-row][data-upstream='{upstream}']")
    assert f"{bad} of {total} degraded" in row.find_element("css selector", "[data-testid=outage-count]").text
    # the trends, then another range
    with server.api("alice") as c:
        day = c.get("/api/fleet/trends", params={"hours": 24}).json()["totals"]
    assert day["cases_opened"] >= 3
    totals = b.wait_css("[data-testid=trend-totals]", lambda el: el.text.startswith("last 24 h:"))
    assert f"{day['cases_opened']} cases opened" in totals.text, totals.text
    for tid in ("trend-online", "trend-changes", "trend-failures", "trend-cases"):
        b.wait_css(f"[data-testid={tid}] svg polyline, [data-testid={tid}] svg circle, [data-testid={tid}] figcaption")
    b.driver.execute_script("document.querySelector('[data-testid=fleet-trends]').scrollIntoView()")
    b.shot("01-trends-24h")
    from selenium.webdriver.support.ui import Select

    Select(b.driver.find_element("css selector", "[data-testid=range-picker]")).select_by_visible_text("last 7 days")
    b.wait_css("[data-testid=trend-totals]", lambda el: el.text.startswith("last 7 days:"))
    b.shot("02-trends-7d")
    # presence bars: offline and unreachable carry a texture, not only a colour
    fills = b.driver.execute_script(
        "return [...document.querySelectorAll('[data-testid=fleet-by-region] rect[data-kind]')]"
        ".map(r => [r.dataset.kind, r.getAttribute('fill')])")
    for kind, fill in fills:
        assert fill.startswith("url(#") == (kind in ("offline", "unreachable")), (kind, fill)
    # a bar opens the device list filtered to its group
    region = ov["by_region"][0]["key"]
    link = b.wait_css(f"[data-testid=fleet-by-region] [data-testid=bar-link][data-key='{region}']")
    b.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    b.shot("03-bars-and-outages")
    b.driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", link)
    b.wait(lambda d: "#/devices/?region=" in d.current_url, what="the filtered device list")
    b.wait_css("[data-testid=device-total]", lambda el: el.text == f"{ov['by_region'][0]['devices']} devices")
    regions = {el.text for el in b.driver.find_elements("css selector", "[data-testid=device-row] td:nth-child(5)")}
    assert regions == {region}
    assert b.driver.find_element("css selector", "[data-testid=filter-region]").get_attribute("value") == region
    b.shot("04-clicked-through-to-devices")
    assert not b.console_errors()


def test_faults_and_provisioning_profiles_pages(server: Any, browser: Callable[[str, str], Browser]) -> None:
    from core.kernel.models import utcnow
    from core.store.db import Store
    from core.store.schema import ExecutionRow

    with server.api("alice") as c:
        dev = c.get("/api/devices/page", params={"limit": 1}).json()["items"][0]["id"]
        change = {"path": "Device.WiFi.Radio.1.AutoChannelEnable", "value": True}
        r = c.post("/api/proposals", json={"intent": "faults page check", "targets": [dev], "rationale": "test",
                                           "changes": [change]})
        pid = r.json()["proposal"]["id"]
        profiles = c.get("/api/remediation/profiles").json()
    store = Store(server.url, migrate=False)
    now = utcnow()
    with store.write() as s:  # a write that did not hold, as the lifecycle records one
        s.add(ExecutionRow(id="ex-ui-fault", proposal_id=pid, device_id=dev, status="rolled_back", key="k",
                           detail={}, error="Channel read back 36, expected 44: restored from the backup",
                           started_at=now, finished_at=now))
    store.dispose()
    b = browser("alice", "faults-profiles")
    b.sign_in("#/faults")
    row = b.wait_css("[data-testid=fault-row][data-execution=ex-ui-fault]")
    assert dev in row.text and "faults page check" in row.text and "rolled back" in row.text
    assert row.find_element("css selector", "[data-testid=fault-reason]").text.startswith("Channel read back 36")
    b.shot("05-faults")
    b.go("#/profiles")
    b.wait_css("h1", lambda el: el.text == f"Provisioning profiles ({profiles['total']})")
    shown = [el.get_attribute("data-id") for el in b.driver.find_elements("css selector", "[data-testid=profile]")]
    assert shown == [p["id"] for p in profiles["items"]] and shown
    first = profiles["items"][0]
    values = [el.text for el in b.driver.find_elements(
        "css selector", f"[data-testid=profile][data-id='{first['id']}'] [data-testid=profile-value]")]
    assert len(values) == len(first["parameters"])
    b.shot("06-profiles")
    assert not b.console_errors()
