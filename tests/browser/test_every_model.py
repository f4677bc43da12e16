"""The console on every device model (issue 61): a TR-098 device's parameter tree and what it is
called on the device, in the tree and in the diff an agent and an approver read; an IPPing's answer
read from the fields the device reports; and one definition of "online" on every surface — the list's
badges, its presence column and the device page — with silence said apart from presence, and a
presence sample labelled as the sample it is. Screenshots go to ``var/artifacts/browser/``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from testing.servers import GatewardRun
from tests.browser.conftest import ROOT, USERS, Browser, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IGD = "InternetGatewayDevice."


@pytest.fixture(scope="module")
def server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A seeded fleet where one TR-181 device that presence says is online has been silent for five
    hours in the store (a CWMP device between informs, as the twin reports it), and another is
    offline in the twin though the store heard from it a minute ago; then ``gateward run``."""
    from sqlalchemy import select, update

    from core.kernel.models import utcnow
    from core.store.schema import DeviceRow
    from core.users import issue_token
    from executors.sim.twin import sim_devices
    from tests.conftest import build_test_runtime

    home: Path = tmp_path_factory.mktemp("every-model")
    url = f"sqlite:///{home / 'gateward.db'}"
    rt = build_test_runtime(url, homes=40)
    tokens = {u: issue_token(rt.store, u) for u in USERS}
    now = utcnow()
    with rt.store.write() as s:
        rows = s.execute(select(DeviceRow.id, DeviceRow.root, DeviceRow.protocol).order_by(DeviceRow.id)).all()
        up = {r.id for r in s.execute(select(sim_devices.c.id, sim_devices.c.online, sim_devices.c.reachable,
                                             sim_devices.c.faults)) if r.online and r.reachable and r.faults == "{}"}
        s.execute(update(DeviceRow).values(last_seen=now - timedelta(minutes=2)))
        cwmp181 = [r.id for r in rows if r.protocol == "cwmp" and r.root == "Device." and r.id in up]
        silent, gone = cwmp181[0], cwmp181[1]
        s.execute(update(DeviceRow).where(DeviceRow.id == silent).values(last_seen=now - timedelta(hours=5, minutes=3)))
        s.execute(sim_devices.update().where(sim_devices.c.id == silent).values(
            last_inform=(now - timedelta(hours=5, minutes=3)).timestamp(), version=sim_devices.c.version + 1))
        s.execute(sim_devices.update().where(sim_devices.c.id == gone).values(
            online=False, version=sim_devices.c.version + 1))
        tr098 = next(r.id for r in rows if r.root == IGD and r.id in up)
    rt.close()
    with GatewardRun(home=home, database_url=url, homes=40, cwd=ROOT) as run:
        srv = Server(base=run.base, tokens=tokens, proc=run.proc, log=run.log)
        srv.silent, srv.gone, srv.tr098 = silent, gone, tr098  # type: ignore[attr-defined]
        yield srv


def _expand(b: Browser, path: str) -> None:
    b.click("[data-testid=tree-toggle]", lambda el: el.get_attribute("data-path") == path)
    def below(el: Any) -> bool:
        at = el.get_attribute("data-path") or ""
        return at.startswith(path) and at != path

    b.wait_css("[data-testid=tree-toggle], [data-testid=tree-param]", below)


def _param(b: Browser, path: str) -> Any:
    return b.wait_css("[data-testid=tree-param]", lambda el: el.get_attribute("data-path") == path)


def test_a_tr098_device_shows_its_tree_and_what_each_parameter_is_called_on_it(
        server: Any, browser: Callable[[str, str], Browser]) -> None:
    """The store keeps every device's tree in TR-181 names: the page asked a TR-098 device for
    ``InternetGatewayDevice.`` and showed "nothing stored under here". Now the tree opens, each
    parameter says its native name (the form from the tables for the stored snapshot, the exact one
    read live), and a value proposed from it shows, in the diff the agent and the approver read, what
    is written on the device — a radio's setting on every WLANConfiguration of that radio."""
    dev = server.tr098
    b = browser("alice", "tr098-tree")
    b.sign_in(f"#/devices/{dev}")
    b.wait_css("[data-testid=tree-tr098]")
    for obj in ("Device.WiFi.", "Device.WiFi.Radio.", "Device.WiFi.Radio.1."):
        _expand(b, obj)
    native = b.text("[data-testid=tree-native]", lambda el: el.find_element("xpath", "..").get_attribute("data-path")
                    == "Device.WiFi.Radio.1.Channel")
    assert native.startswith(f"on the device: {IGD}LANDevice.") and ".WLANConfiguration." in native, native
    assert "every WLANConfiguration of radio 1" in native, native
    # read live: the exact parameter the device read
    b.click("[data-testid=tree-refresh]", lambda el: el.get_attribute("data-path") == "Device.WiFi.Radio.1.")
    exact = b.wait_css("[data-testid=tree-native]", lambda el: el.find_element("xpath", "..").get_attribute(
        "data-path") == "Device.WiFi.Radio.1.Channel" and bool(re.search(r"WLANConfiguration\.\d+\.Channel", el.text)))
    assert re.search(rf"{re.escape(IGD)}LANDevice\.\d+\.WLANConfiguration\.\d+\.Channel", exact.text), exact.text
    b.shot("01-tree")

    # propose a channel from the tree; the diff says what is written on the device
    row = _param(b, "Device.WiFi.Radio.1.Channel")
    row.find_element("css selector", "[data-testid=propose-open]").click()
    from selenium.webdriver.support.ui import Select

    picker = b.wait_css("[data-testid=propose-value]")
    current = _param(b, "Device.WiFi.Radio.1.Channel").find_element("css selector", "[data-testid=tree-value]").text
    channel = "6" if current != "6" else "11"
    if picker.tag_name == "select":
        Select(picker).select_by_value(channel)
    else:
        picker.clear()
        picker.send_keys(channel)
    b.wait_css("[data-testid=propose-reason]").send_keys("interference from the neighbours")
    b.click("[data-testid=propose-submit]")
    result = b.wait_css("[data-testid=proposal-result]")
    pid = result.find_element("css selector", "a").text
    for user in ("alice", "bob"):  # the agent who proposed it, an approver reading it
        v = b if user == "alice" else browser("bob", "tr098-diff-approver")
        if user == "bob":
            v.sign_in(f"#/approvals/{pid}")
        else:
            v.go(f"#/approvals/{pid}")
        said = v.text("[data-testid=diff-native]")
        assert said.startswith(f"on the device: {IGD}LANDevice.") and "Channel" in said, said
        assert "every other WLANConfiguration of radio 1" in said, said
        v.shot(f"02-diff-{user}")


def _ping_result(b: Browser) -> tuple[dict[str, Any], str]:
    """Run the page's IPPing and return the API's answer (read by a wrapper of the page's fetch) and
    what the page said of it."""
    b.driver.execute_script("""
        window.__ping = null;
        const real = window.fetch;
        window.fetch = async (url, init) => {
          const res = await real(url, init);
          if (String(url).includes('/diagnostics/ipping')) window.__ping = await res.clone().json();
          return res;
        };""")
    b.click("[data-testid=action-diagnostics]")
    b.click("[data-testid=action-submit]")
    said = b.text("[data-testid=ping-result]")
    answer = b.wait(lambda d: d.execute_script("return window.__ping"), what="the IPPing answer")
    return answer, said


@pytest.mark.parametrize("kind", ["tr098", "tr181"])
def test_an_ipping_says_what_the_device_answered(server: Any, browser: Callable[[str, str], Browser],
                                                 kind: str) -> None:
    """The page read fields the answer does not have ("? of 3 answered, average ? ms"): it reads the
    operation's output by its TR-181 names, and says each figure the device reported."""
    if kind == "tr098":
        dev = server.tr098
    else:
        with server.api("alice") as c:
            items = c.get("/api/devices/page", params={"limit": 50}).json()["items"]
        dev = next(d["id"] for d in items if d["root"] == "Device." and d["presence"] == "online")
    b = browser("alice", f"ping-{kind}")
    b.sign_in(f"#/devices/{dev}")
    answer, said = _ping_result(b)
    out = answer["output"]
    assert answer["status"] == "done" and "?" not in said, (answer, said)
    assert f"{out['SuccessCount']} of {out['NumberOfRepetitions']} answered" in said, (said, out)
    assert f"average {out['AverageResponseTime']}" in said and f"min {out['MinimumResponseTime']}" in said, (said, out)
    b.shot("ping")


def _list_rows(b: Browser) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = b.driver.execute_script("""
        return [...document.querySelectorAll('[data-testid=device-row]')].map((r) => ({
          id: r.dataset.id,
          presence: r.querySelector('[data-testid=presence-now]').dataset.state,
          badges: [...r.querySelectorAll('[data-testid=problem-badge]')].map((x) => [x.dataset.kind, x.textContent]),
        }));""")
    return rows


def test_one_definition_of_online_on_the_list_the_device_page_and_the_tiles(
        server: Any, browser: Callable[[str, str], Browser]) -> None:
    """The list badged "offline" a device silent for an hour that presence said was online (58 badged
    where the tile counted 11). Now offline is what presence says, on every surface; silence is a
    fact of its own ("no contact for 5 h")."""
    b = browser("alice", "online")
    b.sign_in("#/devices/")
    b.wait_css("[data-testid=device-row]")
    rows = {r["id"]: r for r in _list_rows(b)}
    silent, gone = rows[server.silent], rows[server.gone]
    assert silent["presence"] == "online", silent
    assert [k for k, _ in silent["badges"]] == ["silent"] and "no contact for 5 h" in silent["badges"][0][1], silent
    assert gone["presence"] == "offline" and ["offline", "◌ offline now"] in [[k, t] for k, t in gone["badges"]], gone
    # every row: an "offline" badge exactly where presence says offline, and presence as the device page says it
    with server.api("alice") as c:
        for r in rows.values():
            p = c.get(f"/api/devices/{r['id']}").json()["presence"]
            state = "offline" if not p["online"] else "online" if p["reachable"] else "unreachable"
            assert r["presence"] == state, (r, p)
            assert ("offline" in [k for k, _ in r["badges"]]) == (state == "offline"), r
        ov = c.get("/api/fleet").json()
    offline_listed = sum(r["presence"] == "offline" for r in rows.values())
    assert ov["presence_checked"] == ov["devices"] == len(rows), ov
    assert ov["offline"] == offline_listed, (ov, offline_listed)
    b.shot("01-list")
    b.go(f"#/devices/{server.silent}")
    assert b.text("[data-testid=presence-now]").startswith("online")
    assert "5 h ago" in b.text("[data-testid=last-heard]")


def test_a_presence_sample_is_labelled_as_a_sample(server: Server, browser: Callable[[str, str], Browser]) -> None:
    """At 100,000 devices the tile said "1999 online" of a 2,000-device sample beside "100000 active":
    of a sample, the tiles give its shares and say that they are of a sample. (The tiles' own function,
    in the page, with the overview a 100,000-device fleet answers.)"""
    b = browser("erin", "sample")
    b.sign_in("#/fleet")
    b.wait_css("[data-testid=fleet-online]")
    tiles = b.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        Promise.all([import('/static/js/views/fleet.js'), import('/static/js/dom.js')]).then(([f, dom]) => {
          const stat = (label, value, testid) => dom.h('div', { 'data-testid': testid },
            dom.h('b', {}, value), dom.h('i', {}, label));
          const ov = { devices: 100000, presence_checked: 2000, online: 1999, unreachable: 0, offline: 1 };
          done(f.presenceTiles(ov, stat).map((t) => [t.dataset.testid, t.querySelector('b').textContent,
            t.querySelector('i').textContent]));
        });""")
    by = {t[0]: t for t in tiles}
    assert by["fleet-online"][1] == "100.0 %" or by["fleet-online"][1] == "99.9 %", by
    assert "sample of 2,000" in by["fleet-online"][2] and "1,999" in by["fleet-online"][2], by
    assert all("sample" in t[2] and not t[1].isdigit() for t in tiles), tiles
