"""The console's screenshots in ``docs/img``, made as docs/console.md says: ``gateward run --demo``
(200 simulated homes) in headless Chromium, a 1440x900 window.

    .venv/bin/python -m tests.browser.docs_screenshots [PAGE …]   (PAGES below; all by default)

Starts a demo server on a fresh home (its own port, stopped at the end), applies one change — the
2.4 GHz channel of the device the pictures show, so its charts carry a change marker — and writes
``docs/img/NAME.png`` for each page named (all of them by default), made a palette PNG by ``pngquant``
when it is installed (``apt-get install pngquant``). Not a test: nothing is asserted
beyond the page having drawn what the picture is of.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from testing.servers import GatewardRun
from tests.browser.conftest import ROOT, Browser, Server

DEVICE = "00D0F1-CGW3400-VT00000009"
IMG = ROOT / "docs" / "img"
TOKEN = re.compile(r"^\s+(\w+)\s+[\w, ]+?\s+(gw_\S+)\s*$", re.M)


def _channel_fix(server: Server) -> None:
    """The change the device page's charts mark: the 2.4 GHz radio fixed on channel 11."""
    with server.api("alice") as c:
        r = c.post("/api/proposals", json={
            "intent": f"fix 2.4 GHz channel on {DEVICE}", "targets": [DEVICE], "rationale": "neighbours on 6",
            "changes": [{"path": "Device.WiFi.Radio.1.AutoChannelEnable", "value": False},
                        {"path": "Device.WiFi.Radio.1.Channel", "value": 11}]})
        r.raise_for_status()
        p = r.json()["proposal"]
    if p["state"] == "awaiting_approval":
        with server.api("bob") as c:
            c.post(f"/api/proposals/{p['id']}/approve", json={"hash": p["hash"], "comment": "ok"}).raise_for_status()
    with server.api("alice") as c:
        c.post(f"/api/proposals/{p['id']}/apply").raise_for_status()


def _support(b: Browser) -> None:
    b.sign_in("#/support")
    b.wait_css("[data-testid=device-search]").send_keys(DEVICE)
    b.click(f"li[data-device-id='{DEVICE}']")
    b.wait_css("[data-testid=device-panel] h2", lambda el: el.text == DEVICE)
    b.wait_css("[data-testid=presence-now]")


def _fleet(b: Browser) -> None:
    b.sign_in("#/fleet")
    b.wait_css("[data-testid=trend-online] .u-over")
    b.wait_css("[data-testid=trend-cases] .u-over")


def _device(b: Browser) -> None:
    b.sign_in(f"#/devices/{DEVICE}")
    b.wait_css("[data-testid=device-title]", lambda el: el.text == DEVICE)
    b.wait_css("[data-testid=chart] .u-over")
    b.wait_css("[data-testid=change-marker]")
    b.driver.execute_script(  # the charts under the sticky bar, as a person scrolls to them
        "const s = document.querySelector('[data-testid=history-hours]').closest('section');"
        "window.scrollTo(0, s.getBoundingClientRect().top + scrollY - 56)")


def _tr098_device(server: Server) -> str:
    with server.api("alice") as c:
        items = c.get("/api/devices/page", params={"limit": 200}).json()["items"]
    return str(next(d["id"] for d in items if d["root"] == "InternetGatewayDevice." and d["presence"] == "online"))


def _scroll_to(b: Browser, css: str) -> None:
    """``css`` under the sticky bar, as a person scrolls to it."""
    b.driver.execute_script("const s = document.querySelector(arguments[0]);"
                            "window.scrollTo(0, s.getBoundingClientRect().top + scrollY - 56)", css)


def _device_tr098(b: Browser) -> None:
    """A TR-098 device's tree opened to its first radio (read live: the exact names on the device)."""
    dev = _tr098_device(b.server)
    b.sign_in(f"#/devices/{dev}")
    b.wait_css("[data-testid=tree-tr098]")
    _scroll_to(b, "[data-testid=param-tree]")
    for obj in ("Device.WiFi.", "Device.WiFi.Radio."):
        b.driver.execute_script("arguments[0].click()", b.wait_css(
            "[data-testid=tree-toggle]", lambda el, o=obj: el.get_attribute("data-path") == o))
    b.driver.execute_script("arguments[0].click()", b.wait_css(
        "[data-testid=tree-refresh]", lambda el: el.get_attribute("data-path") == "Device.WiFi.Radio.1."))
    b.wait_css("[data-testid=tree-native]", lambda el: "WLANConfiguration." in el.text and "{i}" not in el.text)
    _scroll_to(b, "[data-testid=param-tree]")


def _ping(b: Browser) -> None:
    """An IPPing from a device, said from the fields it reported."""
    b.sign_in(f"#/devices/{DEVICE}")
    b.wait_css("[data-testid=device-actions]")
    _scroll_to(b, "[data-testid=device-actions]")
    for css in ("[data-testid=action-diagnostics]", "[data-testid=action-submit]"):
        b.driver.execute_script("arguments[0].click()", b.wait_css(css))
    b.wait_css("[data-testid=ping-result]")
    _scroll_to(b, "[data-testid=device-actions]")


def _diff_tr098(b: Browser) -> None:
    """The approver's card of a channel change on a TR-098 device: what is written on the device."""
    dev = _tr098_device(b.server)
    with b.server.api("alice") as c:
        r = c.post("/api/proposals", json={"intent": f"2.4 GHz channel 6 on {dev}", "targets": [dev],
                                           "rationale": "neighbours on 11",
                                           "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]})
        r.raise_for_status()
        pid = r.json()["proposal"]["id"]
    b.sign_in(f"#/approvals/{pid}")
    b.wait_css("[data-testid=diff-native]")
    _scroll_to(b, f"[data-proposal-id='{pid}'] [data-testid=diff]")


def _devices(b: Browser) -> None:
    b.sign_in("#/devices/")
    b.wait_css("[data-testid=device-row]")


def _scheduled(b: Browser) -> None:
    """A change for later: Apply pressed before its time says when it starts."""
    from datetime import UTC, datetime, timedelta

    at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    with b.server.api("alice") as c:
        r = c.post("/api/proposals", json={"intent": f"reboot {DEVICE} tonight", "targets": [DEVICE],
                                           "rationale": "the subscriber asked for a quiet hour",
                                           "operations": [{"command": "reboot"}], "not_before": at.isoformat()})
        r.raise_for_status()
        p = r.json()["proposal"]
    if p["state"] == "awaiting_approval":
        with b.server.api("bob") as c:
            c.post(f"/api/proposals/{p['id']}/approve", json={"hash": p["hash"], "comment": "ok"}).raise_for_status()
    b.sign_in(f"#/approvals/{p['id']}")
    b.driver.execute_script("arguments[0].click()", b.wait_css(f"[data-proposal-id='{p['id']}'] [data-testid=apply]"))
    b.wait_css(f"[data-proposal-id='{p['id']}'] [data-testid=apply-scheduled]")


def _campaign_aborted(b: Browser) -> None:
    """A campaign aborted after its first two rings: the words and the devices-changed chart."""
    import time

    with b.server.api("dave") as c:
        r = c.post("/api/campaigns", json={"name": "2.4 GHz channel 6, AW-1200", "target": {"model": "AW-1200"},
                                           "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}],
                                           "emergency": True, "promotion": {"mode": "manual"}})
        r.raise_for_status()
        cid, pid = r.json()["id"], r.json()["proposal_id"]
    for name in ("carol", "bob"):
        with b.server.api(name) as c:
            p = c.get(f"/api/proposals/{pid}").json()["proposal"]
            if p["state"] == "awaiting_approval":
                c.post(f"/api/proposals/{pid}/approve", json={"hash": p["hash"], "comment": "ok"}).raise_for_status()

    def waiting() -> bool:
        with b.server.api("dave") as c:
            return bool(c.get(f"/api/campaigns/{cid}").json()["ring_state"] == "waiting")

    with b.server.api("dave") as c:
        c.post(f"/api/campaigns/{cid}/start").raise_for_status()
    for step in ("promote", "abort"):
        while not waiting():
            time.sleep(0.5)
        with b.server.api("dave") as c:
            body = {"reason": "the canary's clients dropped"} if step == "abort" else None
            c.post(f"/api/campaigns/{cid}/{step}", json=body).raise_for_status()
    b.sign_in(f"#/campaigns/{cid}")
    b.wait_css("[data-testid=campaign-state]", lambda el: el.get_attribute("data-state") == "aborted", timeout=120)
    b.wait_css("[data-testid=campaign-chart] .u-over")
    _scroll_to(b, "[data-testid=campaign-rings]")


def _not_found(b: Browser) -> None:
    b.driver.get(f"{b.server.base}/console/devices")
    b.wait_css("[data-testid=not-found-page]")


PAGES: dict[str, tuple[str, Callable[[Browser], None]]] = {
    "support": ("alice", _support), "fleet": ("dave", _fleet), "device": ("alice", _device),
    "device-tr098": ("alice", _device_tr098), "ping": ("alice", _ping), "diff-tr098": ("bob", _diff_tr098),
    "devices": ("alice", _devices),
    "scheduled": ("alice", _scheduled), "campaign-aborted": ("dave", _campaign_aborted),
    "not-found": ("alice", _not_found)}


def main(names: list[str]) -> None:
    from tests.browser.conftest import _ensure_browser

    _ensure_browser()
    with tempfile.TemporaryDirectory(prefix="gw-docs-") as tmp:
        home = Path(tmp)
        url = f"sqlite:///{home / 'gateward.db'}"
        run = GatewardRun(home=home, database_url=url, homes=200, cwd=ROOT, args=["--demo"]).start()
        try:
            run.wait_ready(timeout=900)  # the demo seeds its 200 homes first
            tokens = dict(TOKEN.findall(run.log.read_text()))
            server = Server(base=run.base, tokens=tokens, proc=run.proc, log=run.log)
            _channel_fix(server)
            for name in names or list(PAGES):
                user, show = PAGES[name]
                b = Browser(server, user, f"docs-{name}")
                try:
                    b.driver.set_window_size(1440, 900)
                    show(b)
                    b.driver.execute_script("document.activeElement && document.activeElement.blur();"
                                            "document.documentElement.style.scrollbarWidth = 'none'")
                    b.driver.save_screenshot(str(IMG / f"{name}.png"))
                    if shutil.which("pngquant"):  # a palette, as the pictures were: a third of the bytes
                        subprocess.run(["pngquant", "--force", "--skip-if-larger", "--quality=80-100", "--ext", ".png",
                                        str(IMG / f"{name}.png")], check=False)
                    print(f"wrote {IMG / f'{name}.png'}")
                finally:
                    b.close()
        finally:
            run.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
