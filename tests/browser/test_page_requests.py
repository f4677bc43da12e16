"""A console page asks for what it shows at once, not one answer after another (issue 60.4): the fleet
page's trends go out with ``/api/fleet``, the device list's first page with its facet counts, a device
page's history and neighbourhood with the device, a campaign page's preview and rehearsal with the
campaign. Each is checked by holding the first request's answer in the page (a wrapped ``fetch``) and
seeing the others asked meanwhile — then letting it go and seeing the page complete."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from testing.servers import GatewardRun
from tests.browser.conftest import ROOT, Browser, Server, browsers_on

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Before the console's scripts: every request's path is noted, and the one named in localStorage
# ('gw.hold') is answered only when the test calls window.__gwRelease().
HOLD = """
window.__gwAsked = [];
const realFetch = window.fetch;
window.fetch = function (input, init) {
  const path = new URL(String((input && input.url) || input), location.href).pathname;
  window.__gwAsked.push(path);
  const answer = realFetch.apply(this, arguments);
  if (path !== localStorage.getItem('gw.hold')) return answer;
  return new Promise((resolve) => { window.__gwRelease = () => resolve(answer); });
};
"""


@dataclass
class PageServer(Server):
    campaign: str = ""
    device: str = ""


@pytest.fixture(scope="module")
def server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    """The 40-home fleet with one campaign, served; dave (admin) signs in."""
    from campaigns.service import Campaigns
    from core.users import get_actor, issue_token
    from tests.conftest import build_test_runtime

    home: Path = tmp_path_factory.mktemp("page-requests")
    url = f"sqlite:///{home / 'gateward.db'}"
    rt = build_test_runtime(url, homes=40)
    st = Campaigns(rt).create({"name": "hide SSID 2", "target": {"region": "DE"}, "emergency": True,
                               "changes": [{"path": "Device.WiFi.AccessPoint.2.SSIDAdvertisementEnabled",
                                            "value": False}]}, get_actor(rt.store, "dave"))
    with rt.store.read() as s:
        from sqlalchemy import func, select

        from core.store.schema import DeviceRow

        device = str(s.scalar(select(func.min(DeviceRow.id))))
    tokens = {"dave": issue_token(rt.store, "dave")}
    rt.close()
    with GatewardRun(home=home, database_url=url, homes=40, cwd=ROOT) as run:
        yield PageServer(base=run.base, tokens=tokens, proc=run.proc, log=run.log, campaign=str(st["id"]),
                         device=device)


@pytest.fixture
def browser(server: PageServer) -> Iterator[Callable[[str, str], Browser]]:
    yield from browsers_on(server)


def _asked_while_held(b: Browser, route: str, held: str, wanted: list[str], done_css: str) -> None:
    d = b.driver
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOLD})
    d.execute_script("localStorage.setItem('gw.hold', arguments[0])", held)
    d.get(f"{b.server.base}/?fresh={abs(hash(route))}{route}")
    asked = b.wait(lambda drv: (lambda a: a if held in a and all(w in a for w in wanted) else False)(
        drv.execute_script("return window.__gwAsked || []")), timeout=20,
        what=f"{wanted} asked while {held} is held")
    assert held in asked
    d.execute_script("localStorage.removeItem('gw.hold'); window.__gwRelease && window.__gwRelease()")
    b.wait_css(done_css)


def test_each_page_asks_for_its_parts_at_once(server: PageServer, browser: Callable[[str, str], Browser]) -> None:
    b = browser("dave", "page-requests")
    b.sign_in("#/fleet")
    dev, camp = quote(server.device, safe=""), quote(server.campaign)
    _asked_while_held(b, "#/fleet", "/api/fleet", ["/api/fleet/trends"], "[data-testid=trend-totals]")
    _asked_while_held(b, "#/devices/?region=DE", "/api/devices/facets", ["/api/devices/page"],
                      "[data-testid=device-row]")
    _asked_while_held(b, f"#/devices/{dev}", f"/api/devices/{dev}",
                      [f"/api/devices/{dev}/history", f"/api/devices/{dev}/topology"], "[data-testid=device-title]")
    _asked_while_held(b, f"#/campaigns/{camp}", f"/api/campaigns/{camp}",
                      [f"/api/campaigns/{camp}/preview", f"/api/campaigns/{camp}/rehearsal"],
                      "[data-testid=campaign-verdict]")
