"""The console's screenshots in ``docs/img``, made as docs/console.md says: ``gateward run --demo``
(200 simulated homes) in headless Chromium, a 1440x900 window.

    .venv/bin/python -m tests.browser.docs_screenshots [support] [fleet] [device]

Starts a demo server on a fresh home (its own port, stopped at the end), applies one change — the
2.4 GHz channel of the device the pictures show, so its charts carry a change marker — and writes
``docs/img/NAME.png`` for each page named (all three by default), made a palette PNG by ``pngquant``
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


PAGES: dict[str, tuple[str, Callable[[Browser], None]]] = {
    "support": ("alice", _support), "fleet": ("dave", _fleet), "device": ("alice", _device)}


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
