"""Device work in the console (issue 39): the device list pages past any size, sorts by last
contact, says each device's problems in words, finds a device by a stored parameter value, and a
selection starts a campaign. Screenshots are kept as test artefacts (tests/browser/conftest.py)."""

from __future__ import annotations

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
    """A seeded fleet where one device has been silent for five hours and another has an open
    remediation case (and a third an applied one, which is not open); a fourth, online, last
    informed 57 minutes ago and reported one DNS-failure count and two radar-event counts in the
    window; then ``gateward run``."""
    from sqlalchemy import delete, select, update

    from brain.remediation.schema import RemediationCaseRow
    from core.kernel.models import utcnow
    from core.store.schema import DeviceRow, TelemetryRow
    from core.users import issue_token
    from executors.sim.twin import sim_devices
    from tests.conftest import build_test_runtime

    home: Path = tmp_path_factory.mktemp("device-journey")
    url = f"sqlite:///{home / 'gateward.db'}"
    rt = build_test_runtime(url, homes=40)
    tokens = {u: issue_token(rt.store, u) for u in USERS}
    now = utcnow()
    with rt.store.write() as s:
        ids = sorted(s.scalars(select(DeviceRow.id)))
        s.execute(update(DeviceRow).values(last_seen=now - timedelta(minutes=2)))
        s.execute(update(DeviceRow).where(DeviceRow.id == ids[5]).values(last_seen=now - timedelta(hours=5, minutes=2)))
        for cid, did, status in (("case-ui-1", ids[5], "open"), ("case-ui-2", ids[6], "applied")):
            s.add(RemediationCaseRow(id=cid, device_id=did, problem="wifi_interference", kind="detector",
                                     status=status, opened_at=now, updated_at=now))
        cwmp = set(s.scalars(select(DeviceRow.id).where(DeviceRow.protocol == "cwmp", DeviceRow.root == "Device.")))
        up = {r.id for r in s.execute(select(sim_devices.c.id, sim_devices.c.online, sim_devices.c.reachable,
                                             sim_devices.c.faults)) if r.online and r.reachable and r.faults == "{}"}
        charted = next(d for d in ids[7:] if d in cwmp and d in up)
        informed = now - timedelta(minutes=57)
        s.execute(update(DeviceRow).where(DeviceRow.id == charted).values(last_seen=informed))
        s.execute(sim_devices.update().where(sim_devices.c.id == charted).values(
            last_inform=informed.timestamp(), version=sim_devices.c.version + 1))
        s.execute(delete(TelemetryRow).where(TelemetryRow.device_id == charted, TelemetryRow.metric.in_(
            ("dns.failures", "wifi.dfs_radar_events"))))
        s.add_all([TelemetryRow(device_id=charted, ts=now - timedelta(hours=h), metric=m, value=v, labels={})
                   for h, m, v in ((3, "dns.failures", 4), (6, "wifi.dfs_radar_events", 1),
                                   (2, "wifi.dfs_radar_events", 3))])
    rt.close()
    with GatewardRun(home=home, database_url=url, homes=40, cwd=ROOT) as run:
        srv = Server(base=run.base, tokens=tokens, proc=run.proc, log=run.log)
        srv.silent, srv.applied, srv.charted = ids[5], ids[6], charted  # type: ignore[attr-defined]
        yield srv


def _rows(b: Browser) -> list[str]:
    """The ids of the rows on screen, read in one script (never stale while the list re-renders)."""
    ids = b.driver.execute_script(
        "return [...document.querySelectorAll('[data-testid=device-row]')].map(r => r.dataset.id)")
    return [str(i) for i in ids]


def _text(b: Browser, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(b.driver.find_element(By.CSS_SELECTOR, css).text)


def test_the_list_pages_sorts_and_shows_problems(server: Any, browser: Callable[[str, str], Browser]) -> None:
    with server.api("alice") as c:
        total = c.get("/api/devices/page").json()["total"]
    assert total > 20
    b = browser("alice", "device-list")
    b.sign_in("#/devices/?limit=10")
    b.wait(lambda d: len(_rows(b)) == 10, what="ten rows")
    assert _text(b, "[data-testid=device-total]") == f"{total} devices"
    assert _text(b, "[data-testid=page-range]") == "showing 1–10"
    first_page = _rows(b)
    b.driver.find_element("css selector", "[data-testid=page-next]").click()
    b.wait_css("[data-testid=page-range]", lambda el: el.text == "showing 11–20")
    b.wait(lambda d: len(_rows(b)) == 10 and not set(_rows(b)) & set(first_page), what="the second page")
    b.driver.find_element("css selector", "[data-testid=page-prev]").click()
    b.wait(lambda d: _rows(b) == first_page, what="back to the first page")
    # By default the devices with a problem come first: the first row carries a badge.
    assert b.driver.find_elements("css selector", "[data-testid=device-row]:first-child [data-testid=problem-badge]")
    assert "problems" in b.driver.find_element("css selector", "th[aria-sort=ascending]").text
    # Oldest contact first (newest first, then reversed): the silent device leads, and says why in words.
    b.driver.find_element("css selector", "[data-testid=sort-last_seen]").click()
    b.wait_css("th[aria-sort=descending]")
    b.click("[data-testid=sort-last_seen]")
    b.wait(lambda d: _rows(b)[:1] == [server.silent], what="the silent device first")
    th = b.driver.find_element("css selector", "th[aria-sort=ascending]")
    assert "last contact" in th.text
    row = b.driver.find_element("css selector", f"[data-testid=device-row][data-id='{server.silent}']")
    labels = [el.text for el in row.find_elements("css selector", "[data-testid=problem-badge]")]
    with server.api("alice") as c:  # offline is what its presence says now; silence is its own badge
        gone = c.get(f"/api/devices/{server.silent}").json()["presence"]["online"] is False
    want = ["▲ open case: wifi interference", "◔ no contact for 5 h"]
    assert labels == (["◌ offline now", *want] if gone else want), labels
    assert "5 h ago" in row.find_element("css selector", "[data-testid=last-contact]").text
    applied = b.driver.find_element("css selector", f"[data-testid=device-row][data-id='{server.applied}']")
    assert not applied.find_elements("css selector", "[data-testid=problem-badge]")  # applied is not open
    b.shot("01-oldest-contact-first")
    # The filter the person set is in the address: a reload keeps it.
    assert "sort=last_seen" in b.driver.current_url and "desc=false" in b.driver.current_url
    assert not b.console_errors()


def test_search_by_a_stored_value_then_campaign_from_selection(server: Any,
                                                              browser: Callable[[str, str], Browser]) -> None:
    with server.api("alice") as c:
        dev = c.get("/api/devices/page", params={"limit": 1}).json()["items"][0]["id"]
        params = {p["path"]: p["value"] for p in c.get(f"/api/devices/{dev}").json()["parameters"]}
        ssid = params["Device.WiFi.SSID.1.SSID"]
        want = c.get("/api/devices/page", params={"param": "Device.WiFi.SSID.1.SSID", "value": ssid}).json()
    b = browser("alice", "device-search")
    b.sign_in("#/devices")
    b.wait(lambda d: len(_rows(b)) > 0, what="rows")
    b.driver.find_element("css selector", "[data-testid=filter-param]").send_keys("Device.WiFi.SSID.1.SSID")
    b.driver.find_element("css selector", "[data-testid=filter-value]").send_keys(ssid)
    b.wait(lambda d: sorted(_rows(b)) == sorted(x["id"] for x in want["items"]), what="only the matching devices")
    assert dev in _rows(b)
    assert _text(b, "[data-testid=device-total]") == f"{want['total']} device{'s' if want['total'] != 1 else ''}"
    b.shot("02-search-by-ssid")
    from selenium.webdriver.common.keys import Keys

    for name in ("param", "value"):  # as a person does: select all and delete (fires input)
        b.driver.find_element("css selector", f"[data-testid=filter-{name}]").send_keys(Keys.CONTROL, "a", Keys.DELETE)
    b.wait(lambda d: len(_rows(b)) > len(want["items"]), what="the whole list again")
    picked = _rows(b)[:2]
    for dev_id in picked:  # by id: a late re-draw of the list must not make the click miss
        b.click(f"[data-testid=device-row][data-id='{dev_id}'] [data-testid=select-device]")
    b.wait_css("[data-testid=selection-count]", lambda el: el.text == "2 selected")
    b.shot("03-two-selected")
    b.driver.find_element("css selector", "[data-testid=campaign-from-selection]").click()
    b.wait(lambda d: d.current_url.endswith("#/campaigns/new"), what="the campaign form")
    handed = b.driver.execute_script("return JSON.parse(sessionStorage.getItem('gateward.campaign.selection'))")
    assert handed == picked
    b.wait_css("input[name=name]", lambda el: el.get_attribute("value") == "2 selected devices")
    b.wait_css("[data-testid=selection-count]", lambda el: el.text == "2 selected devices")
    assert "Exactly the 2 selected devices" in _text(b, "[data-testid=selected-devices]")
    b.shot("04-campaign-form-prefilled")
    # Create it: the campaign targets exactly those two devices (target.devices), not whatever
    # the prefilled model / firmware / region would match.
    b.wait_css("[data-testid=c-changes]").send_keys("Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled = false")
    _click(b, "[data-testid=c-emergency]")  # the devices' regions may be outside their window at this hour
    _click(b, "[data-testid=campaign-create]")
    b.wait(lambda d: "#/campaigns/c" in d.current_url, what="the new campaign's page", timeout=60)
    cid = b.driver.execute_script("return location.hash").split("/")[-1]
    with server.api("alice") as c:
        st = c.get(f"/api/campaigns/{cid}").json()
    assert st["devices"] == 2 and sum(st["plan"]["sizes"]) == 2, st
    assert sorted(st["spec"]["target"]["devices"]) == sorted(picked)
    assert b.driver.execute_script("return sessionStorage.getItem('gateward.campaign.selection')") is None
    b.shot("05-campaign-of-the-selection")


def _click(b: Browser, css: str) -> None:
    el = b.wait_css(css)
    b.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)  # not under the sticky top bar
    el.click()


def test_device_page_tree_proposal_marker_and_events(server: Any, browser: Callable[[str, str], Browser]) -> None:
    """A support agent opens a device: walks the tree to the 5 GHz channel (writable), re-reads
    that radio live, proposes a new channel inline through the gates; once it is applied the
    history marks it on the charts and lists it in words; events read as sentences; a reboot from
    the action bar opens a proposal too."""
    with server.api("alice") as c:
        items = c.get("/api/devices", params={"limit": 200, "presence": "true"}).json()["items"]
        dev = next(d["id"] for d in items if d["root"] == "Device." and not d["busy"]
                   and (d["presence"] or {}).get("reachable")
                   and d["id"] not in (server.silent, server.applied, server.charted))
        live = c.get(f"/api/devices/{dev}/parameters", params={"live": "true", "prefix": "Device.WiFi.Radio."}).json()
    values = {p["path"]: p["value"] for p in live["live"]}
    idx = next(p.split(".")[3] for p, v in values.items() if p.endswith(".OperatingFrequencyBand") and v == "5GHz")
    channel = int(values[f"Device.WiFi.Radio.{idx}.Channel"])
    new = 44 if channel != 44 else 40
    b = browser("alice", "device-page")
    b.sign_in(f"#/devices/{dev}")
    b.wait_css("[data-testid=device-title]", lambda el: el.text == dev)
    for path in ("Device.WiFi.", "Device.WiFi.Radio.", f"Device.WiFi.Radio.{idx}."):
        _click(b, f"[data-testid=tree-toggle][data-path='{path}']")
    row_css = f"[data-testid=tree-param][data-path='Device.WiFi.Radio.{idx}.Channel']"
    row = b.wait_css(row_css)
    assert row.find_element("css selector", "[data-testid=tree-value]").text == str(channel)
    assert "✎ writable" in row.text
    _click(b, f"[data-testid=tree-refresh][data-path='Device.WiFi.Radio.{idx}.']")
    b.wait_css("[data-testid=tree-live-note]", lambda el: el.text.strip().startswith("read live"))
    row = b.wait_css(row_css)
    _click(b, f"{row_css} [data-testid=propose-open]")
    field = b.wait_css(f"{row_css} [data-testid=propose-value]")
    field.clear()
    field.send_keys(str(new))
    b.driver.find_element("css selector", f"{row_css} [data-testid=propose-reason]").send_keys("neighbours crowd it")
    _click(b, f"{row_css} [data-testid=propose-submit]")
    result = b.wait_css(f"{row_css} [data-testid=proposal-result]")
    pid = result.find_element("css selector", "a").text
    assert result.get_attribute("data-state") in ("approved", "awaiting_approval"), result.text
    b.shot("05-proposed-inline")
    with server.api("alice") as c:
        p = c.get(f"/api/proposals/{pid}").json()["proposal"]
        assert [(ch["path"], ch["value"]) for ch in p["changes"]] == [(f"Device.WiFi.Radio.{idx}.Channel", new)]
    if p["state"] == "awaiting_approval":
        with server.api("bob") as c:
            assert c.post(f"/api/proposals/{pid}/approve", json={"hash": p["hash"], "comment": "ok"}).status_code == 200
    # The page follows the apply in place: the tree stays expanded where the agent left it, the
    # filter they typed stays, and the applied value appears where they are looking.
    b.driver.find_element("css selector", "[data-testid=param-filter]").send_keys("Radio")
    b.driver.execute_script("window.__radio = document.querySelector(arguments[0])",
                            f"[data-testid=tree-toggle][data-path='Device.WiFi.Radio.{idx}.']")
    with server.api("alice") as c:
        assert c.post(f"/api/proposals/{pid}/apply").json()["proposal"]["state"] == "done"
    b.wait(lambda d: d.execute_script("return document.querySelector(arguments[0] + ' [data-testid=tree-value]')"
                                      "?.textContent", row_css) == str(new), what="the applied channel in the tree")
    kept = b.driver.execute_script(
        "return [document.contains(window.__radio), window.__radio.getAttribute('aria-expanded'),"
        " document.querySelector('[data-testid=param-filter]').value]")
    assert kept == [True, "true", "Radio"], kept
    item = b.wait_css("[data-testid=change-item]", lambda el: f"Channel = {new}" in el.text)
    assert f"WiFi.Radio.{idx}.Channel = {new}" in item.text and "applied and verified" in item.text, item.text
    assert b.driver.find_elements("css selector", "[data-testid=chart] [data-testid=change-marker]")
    captions = [el.text for el in b.driver.find_elements("css selector", "[data-testid=chart] figcaption")]
    assert captions and not any("." in c.split(" (")[0] for c in captions), captions  # names, not metric ids
    assert any(c.startswith("Wi-Fi channel busy (%)") for c in captions), captions  # as the server names it
    words = [el.text for el in b.driver.find_elements("css selector", "[data-testid=event-words]")]
    assert words and all(w.endswith(".") and "{" not in w for w in words), words[:5]
    b.driver.execute_script("document.querySelector('[data-testid=chart]').scrollIntoView()")
    b.shot("06-change-marker-on-charts")
    _click(b, "[data-testid=action-reboot]")
    b.wait_css("[data-testid=action-reason]").send_keys("subscriber reports a hang")
    _click(b, "[data-testid=device-actions] [data-testid=action-submit]")
    res = b.wait_css("[data-testid=action-result] [data-testid=proposal-result]")
    assert res.get_attribute("data-state") in ("approved", "awaiting_approval", "denied"), res.text
    with server.api("alice") as c:
        rp = c.get(f"/api/proposals/{res.find_element('css selector', 'a').text}").json()["proposal"]
    assert rp["operations"][0]["command"] == "reboot" and rp["targets"] == [dev]
    b.shot("07-reboot-proposed")
    assert not b.console_errors()


# In the page: the stroke of a chart's first series (solid, COLOURS[0] #2458d6) near a value, in
# canvas pixels; the x of a time, the y of a value; and whether each y axis is as wide as its labels.
_CHART_JS = """
const fig = document.querySelector(`[data-testid=chart][data-metric='${arguments[0]}']`);
const u = fig && fig.__chart;
if (!u) return null;
const inked = (x, y) => {  // any of the series' blue within a pixel of (x, y)
  const d = u.ctx.getImageData(Math.round(x) - 1, Math.round(y) - 1, 3, 3).data;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 80 && d[i + 2] > 150 && d[i + 2] - d[i] > 90) return true;
  return false;
};
const xs = u.data[0], ys = u.data[1];
const at = xs.map((t, i) => [u.valToPos(t, 'x', true), u.valToPos(ys[i], 'y', true)]);
const out = {n: xs.length, dot: at.map(([x, y]) => inked(x, y))};
if (xs.length === 2) {
  const mid = (at[0][0] + at[1][0]) / 2;
  out.holds = inked(mid, at[0][1]);  // the first report held until the second
  out.slope = inked(mid, u.valToPos((ys[0] + ys[1]) / 2, 'y', true));  // a line between them
}
return out;
"""

_AXES_JS = """
const c = document.createElement('canvas').getContext('2d');
return [...document.querySelectorAll('[data-testid=chart]')].filter((f) => f.__chart).map((f) => {
  const ax = f.__chart.axes[1];
  c.font = ax.font[0];
  const widest = Math.max(...ax._values.map((v) => c.measureText(String(v)).width)) / (window.devicePixelRatio || 1);
  return {metric: f.dataset.metric, labels: ax._values, need: widest + ax.ticks.size + ax.gap, size: ax._size};
});
"""


def test_an_online_device_says_when_it_was_asked_and_its_counts_are_steps(
        server: Any, browser: Callable[[str, str], Browser]) -> None:
    """A CWMP device online now whose last periodic inform was 57 minutes ago: the device page and
    the support page say "online — checked just now" and "last periodic inform 57 min ago", never
    "last contact" beside "online". Its charts: a lone DNS-failure count is a dot; two radar-event
    counts are a step (the first held until the second), not a slope; every y axis fits its labels."""
    import re

    dev = server.charted
    with server.api("alice") as c:
        d = c.get(f"/api/devices/{dev}").json()
    assert d["presence"]["online"] and d["presence"]["reachable"], d["presence"]
    assert d["presence"]["checked_at"], d["presence"]
    b = browser("alice", "device-contact")
    b.sign_in(f"#/devices/{dev}")
    b.wait_css("[data-testid=device-title]", lambda el: el.text == dev)
    for page in ("device", "support"):
        now = b.text("[data-testid=presence-now]")
        assert re.fullmatch(r"online — checked just now \(\d\d:\d\d:\d\d( [AP]M)?\)", now), (page, now)
        rows = b.driver.execute_script(
            "const n = document.querySelector('[data-testid=last-heard]');"
            "return [n.closest('tr').querySelector('th').textContent, n.textContent,"
            " n.closest('table').innerText];")
        assert rows[0] == "last periodic inform", (page, rows[0])
        minutes = re.match(r"(\d+) min ago \(", rows[1])
        assert minutes and int(minutes.group(1)) >= 57, (page, rows[1])
        assert "last contact" not in rows[2], (page, rows[2])
        b.shot(f"01-{page}-online-last-inform")
        if page == "device":
            b.wait_css("[data-testid=chart][data-metric='wifi.dfs_radar_events'] .u-over")
            b.wait(lambda drv: drv.execute_script(_CHART_JS, "dns.failures"), what="the DNS failures chart")
            lone = b.driver.execute_script(_CHART_JS, "dns.failures")
            assert lone["n"] == 1 and lone["dot"] == [True], lone  # one report: a dot where it is
            two = b.driver.execute_script(_CHART_JS, "wifi.dfs_radar_events")
            assert two["n"] == 2 and two["dot"] == [True, True], two
            assert two["holds"] and not two["slope"], two  # a step, not a diagonal
            axes = b.driver.execute_script(_AXES_JS)
            assert axes and all(a["labels"] for a in axes), axes
            clipped = [a for a in axes if a["need"] > a["size"]]
            assert not clipped, clipped  # every label inside its axis, none cut at the canvas edge
            b.driver.execute_script(
                "document.querySelector(\"[data-testid=chart][data-metric='wifi.dfs_radar_events']\").scrollIntoView()")
            b.shot("02-device-charts")
            b.go(f"#/support/{dev}")
            b.wait_css("[data-testid=device-panel] h2", lambda el: el.text == dev)
    assert not b.console_errors(), b.console_errors()
