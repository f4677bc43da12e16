"""What a person reads off the console, checked against where it comes from (issue 47), in headless
Chromium at 1440x900 against a real ``gateward run``:

* the fleet trends' "N cases opened" is the number of rows in the cases table, on SQLite and on
  PostgreSQL (cases opened a minute apart, each second its own: SQLite once folded them into one);
* a trend chart has a time axis with readable ticks, and hovering it reads out a time and a value;
* a campaign's ring numbering is one numbering in the console, the API and the CLI: the phase's
  "ring 2 of 3" is the card titled "ring 2" and the CLI's line "ring 2".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from testing.servers import GatewardRun
from tests.browser.conftest import ROOT, Browser, Server
from tests.conftest import BACKENDS, seeded_db_url

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PEOPLE = ("alice", "bob", "carol", "dave", "erin")
CASES = 45


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, browser_ready: None,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A seeded fleet with remediation cases opened a minute apart over the last hour, served."""
    from brain.remediation.schema import RemediationCaseRow
    from core.kernel.config import Settings
    from core.kernel.models import utcnow
    from core.store.schema import DeviceRow
    from core.users import issue_token
    from gateward.runtime import build_runtime

    home: Path = tmp_path_factory.mktemp(f"console-numbers-{request.param}")
    url, drop = seeded_db_url(request.param, home, homes=40)
    rt = build_runtime(Settings(database_url=url))
    tokens = {u: issue_token(rt.store, u) for u in PEOPLE}
    now = utcnow()
    with rt.store.write() as s:
        devices = list(s.scalars(DeviceRow.__table__.select().with_only_columns(DeviceRow.id).order_by(DeviceRow.id)))
        for i in range(CASES):
            at = now - timedelta(minutes=55) + timedelta(seconds=61 * i)
            s.add(RemediationCaseRow(id=f"case-cn-{i}", device_id=devices[i % len(devices)], problem="bucket_check",
                                     kind="detector", status="closed", opened_at=at, updated_at=at, closed_at=at))
    rt.close()
    try:
        with GatewardRun(home=home, database_url=url, homes=40, cwd=ROOT) as run:
            srv = Server(base=run.base, tokens=tokens, proc=run.proc, log=run.log)
            srv.url = url  # type: ignore[attr-defined]
            srv.backend = request.param  # type: ignore[attr-defined]
            yield srv
    finally:
        drop()


def _cases_in_table(url: str) -> int:
    from sqlalchemy import func, select

    from brain.remediation.schema import RemediationCaseRow
    from core.kernel.config import Settings
    from core.kernel.models import utcnow
    from gateward.runtime import build_runtime

    rt = build_runtime(Settings(database_url=url))
    try:
        with rt.store.read() as s:
            return int(s.scalar(select(func.count()).select_from(RemediationCaseRow).where(
                RemediationCaseRow.opened_at >= utcnow() - timedelta(hours=24))) or 0)
    finally:
        rt.close()


@pytest.fixture
def browser(served: Server) -> Iterator[Callable[[str, str], Browser]]:
    """Browsers signed in to this module's server (not the shared one), 1440x900."""
    opened: list[Browser] = []

    def open_(user: str, name: str) -> Browser:
        b = Browser(served, user, f"{name}-{served.backend}")  # type: ignore[attr-defined]
        b.driver.set_window_size(1440, 900)
        opened.append(b)
        return b

    yield open_
    for b in opened:
        b.close()


def _open(served: Server, browser: Callable[[str, str], Browser], user: str, name: str) -> Browser:
    return browser(user, name)


def test_the_trend_counts_what_the_cases_table_holds(served: Server, browser: Callable[[str, str], Browser]) -> None:
    b = _open(served, browser, "erin", "trends")
    b.sign_in("#/fleet")
    in_table = _cases_in_table(served.url)  # type: ignore[attr-defined]
    assert in_table >= CASES
    totals = b.wait_css("[data-testid=trend-totals]", lambda el: el.text.startswith("last 24 h:"))
    assert f"{in_table} cases opened" in totals.text, (totals.text, in_table)
    b.shot("trend-totals")


def test_a_chart_has_a_time_axis_and_reads_out_under_the_pointer(served: Server,
                                                                 browser: Callable[[str, str], Browser]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    if served.backend != "sqlite":  # type: ignore[attr-defined]
        pytest.skip("what the browser draws does not depend on the database (the count above does)")
    b = _open(served, browser, "erin", "chart")
    b.sign_in("#/fleet")
    fig = "[data-testid=trend-cases]"
    over = b.wait_css(f"{fig} .u-over")
    ticks = b.wait(lambda d: d.execute_script(f"return document.querySelector('{fig}').dataset.xticks"),
                   what="the time axis drawn")
    labels = [t.split("\n")[0] for t in str(ticks).split("|")]
    assert len(labels) >= 3, labels  # more than a first and a last label
    assert all(re.search(r"\d{1,2}:\d{2}", t) or re.search(r"[A-Z][a-z]{2} \d{1,2}|\d{1,2} [A-Z][a-z]{2}", t)
               for t in labels), labels
    legend = f"{fig} .u-legend .u-series"

    def readout() -> list[str]:
        return [str(x) for x in b.driver.execute_script(
            f"return [...document.querySelectorAll('{legend} .u-value')].map((e) => e.textContent)")]

    away = readout()
    assert away[0] == "latest" and re.fullmatch(r"\d+", away[1]), away  # away: the latest bucket
    # The newest bucket's value holds until now, the axis's end: the chart is given a point there
    # (a stepped line otherwise ends where that bucket starts, up to a bucket's width short).
    with served.api("erin") as c:
        newest = datetime.fromisoformat(c.get("/api/fleet/trends", params={"hours": 24}).json()["points"][-1]["ts"])
    held = b.driver.execute_script(f"return Number(document.querySelector('{fig}').dataset.heldTo)")
    assert (held or 0) / 1000 > newest.timestamp(), (held, newest)
    b.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", over)
    width = over.size["width"]
    ActionChains(b.driver).move_to_element_with_offset(over, int(width * 0.35) - width // 2, 0).perform()
    under = b.wait(lambda d: (r := readout())[0] != "latest" and r, what="a read-out under the pointer")
    assert re.search(r"\d{1,2}:\d{2}", under[0]), under  # the time under the pointer
    assert re.fullmatch(r"\d+", under[1]), under  # the cases opened in that bucket
    b.shot("chart-hover")


def _campaign_waiting_at_ring_two(served: Server) -> str:
    """A campaign over region GB, started, its canary passed and promoted, its second ring passed
    and waiting for a person (manual promotion): a page that stands still."""
    with served.api("dave") as c:
        r = c.post("/api/campaigns", json={
            "name": "numbering", "target": {"region": "GB"}, "emergency": True, "rings": [50, 100],
            "canary_pct": 10,
            "changes": [{"path": "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled", "value": False}],
            "promotion": {"mode": "manual"}, "gate": {"min_executed": 1},
            "rate": {"initial_batch": 4, "max_batch": 16}})
        assert r.status_code == 201, r.text
        st = r.json()
    pid = st["proposal"]["id"]
    for name in ("carol", "bob"):
        with served.api(name) as c:
            p = c.get(f"/api/proposals/{pid}").json()["proposal"]
            if p["state"] == "awaiting_approval":
                assert c.post(f"/api/proposals/{pid}/approve", json={"hash": p["hash"]}).status_code == 200
    with served.api("dave") as c:
        assert c.post(f"/api/campaigns/{st['id']}/start").status_code == 200
        for ring in (0, 1):
            deadline = time.monotonic() + 120
            while True:
                now = c.get(f"/api/campaigns/{st['id']}").json()
                if now["ring"] == ring and now["ring_state"] == "waiting":
                    break
                assert now["state"] in ("running",), now["phase"]
                assert time.monotonic() < deadline, now["phase"]
                time.sleep(0.5)
            if ring == 0:
                with served.api("carol") as cc:
                    assert cc.post(f"/api/campaigns/{st['id']}/promote").status_code == 200
    return str(st["id"])


def test_ring_numbering_is_one_in_the_console_the_api_and_the_cli(served: Server,
                                                                  browser: Callable[[str, str], Browser]) -> None:
    if served.backend != "sqlite":  # type: ignore[attr-defined]
        pytest.skip("the words are the same on both databases; one campaign run is enough")
    cid = _campaign_waiting_at_ring_two(served)
    with served.api("dave") as c:
        st = c.get(f"/api/campaigns/{cid}").json()
    n = int(re.search(r"ring (\d+) of (\d+)", st["phase"]).group(1))  # type: ignore[union-attr]
    assert n == 2 and st["rings_detail"][n - 1]["name"] == "ring 2"
    assert st["rings_detail"][0]["name"] == "ring 1 (canary)"
    # the console: the phase and the card it names
    b = _open(served, browser, "dave", "rings")
    b.sign_in(f"#/campaigns/{cid}")
    phase = b.text("[data-testid=campaign-phase]", lambda el: "ring" in el.text)
    assert f"ring {n} of {st['rings']}" in phase, phase
    card = b.wait_css(f"[data-testid=campaign-ring][data-number='{n}']")
    assert card.find_element("css selector", "[data-testid=ring-title]").text.split(" — ")[0].endswith(f"ring {n}")
    assert card.find_element("css selector", "[data-testid=ring-status]").text == st["rings_detail"][n - 1]["status"]
    assert "ring 1 (canary)" in b.text("[data-testid=campaign-ring][data-number='1'] [data-testid=ring-title]")
    # the obligations name every ring the campaign runs, with its share; "runs for" names a person
    rings = b.text("[data-testid=obligation-rings]")
    for r in st["rings_detail"]:
        assert f"{r['name']} {r['stage_pct']:g} %" in rings, (rings, r["name"])
    assert b.text("[data-testid=campaign-acting]").split(",")[0] == st["run_by"]
    b.shot("ring-numbering")
    # the CLI, on the same database
    env = {**os.environ, "GATEWARD_DATABASE_URL": served.url, "GATEWARD_HOME": str(served.log.parent),  # type: ignore[attr-defined]
           "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "gateward.cli", "campaign", "status", cid], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"ring {n} of {st['rings']}" in out.stdout, out.stdout
    assert any(line.startswith(f"ring {n} ") for line in out.stdout.splitlines()), out.stdout
    assert any(line.startswith("ring 1 (canary)") for line in out.stdout.splitlines()), out.stdout
