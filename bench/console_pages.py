"""console_pages: each console page at 100,000 homes, in a real headless Chromium, from the first paint to
the last number (issue 60.4; goal ≤ 300 ms a page).

Why a browser and not the API alone: a page waits for what its requests wait for *in the order it
sends them* — the fleet page asked for its trends only after ``/api/fleet`` answered, the device list
for its rows only after its facet counts — and then renders. Timing each route alone missed both.

Set-up (not timed): a fleet loaded as ``gateward seed`` loads it (``gateward.fleet_load``: snapshots and
telemetry for the first homes), one campaign over one model in one region, then ``gateward run`` on a
free loopback port; Debian's Chromium driven through chromedriver (as ``tests/browser``), signed in with
an admin's token. Each page is opened fresh (``driver.get``: the console's scripts load from the browser's
cache, as a person's second visit) ``ROUNDS`` times, the pages in turn. Measured in the page:

* **done** — from the navigation's start to the last DOM change in the view after the last API answer
  the page asked for during its load (``PerformanceResourceTiming.responseEnd`` of every ``/api/`` request
  but the change feed; a ``MutationObserver`` on ``#view``): the moment the last number is there;
* **paint → done** — the same from the first contentful paint (the issue's "first paint to last number");
* **requests** and **in sequence**: how many API requests the load made and the longest chain of them
  that waited for one another (a request is after another when it started once that one had ended).

Pages: the fleet overview, the device list filtered by model and region, a search by subscriber, one
device's page (a device with a stored snapshot and telemetry) and the campaign's page. SQLite always;
PostgreSQL too with ``GATEWARD_BENCH_DATABASE_URL`` (a schema of its own, dropped afterwards).
``--quick``: 5,000 homes, 3 rounds; full: 100,000 homes (``GATEWARD_BENCH_CONSOLE_HOMES``), 7 rounds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, percentile

NAME = "console_pages"
PAGES = ("fleet", "device_list", "search", "device", "campaign")
KEYS = tuple(f"sqlite_{p}_p50_ms" for p in PAGES)  # metrics every --quick run reports (tests/bench_smoke)
KEYS_POSTGRES = tuple(f"postgres_{p}_p50_ms" for p in PAGES)  # ... and these with a PostgreSQL configured
NEEDS = ("chromium",)  # the smoke test installs it as the browser tests do (tests/browser/conftest.py)
DESCRIPTION = ("console pages (fleet, filtered list, search, device, campaign) at 100k homes in headless Chromium: "
               "navigation to the last number, paint to last number, requests in sequence (goal ≤ 300 ms)")
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
GOAL_MS = 300.0
SETTLE_S = 0.8  # a page is loaded once no API answer came for this long (and one came at all)

# Before the console's own scripts: every change of the view is time-stamped.
_OBSERVE = """
window.__gwMut = [];
document.addEventListener('DOMContentLoaded', () => {
  const v = document.getElementById('view');
  if (v) new MutationObserver(() => window.__gwMut.push(performance.now()))
    .observe(v, {childList: true, subtree: true, characterData: true, attributes: true});
});
"""
# What a load cost, read once it settled (times in ms from the navigation's start).
_READ = """
const api = performance.getEntriesByType('resource')
  .filter((e) => e.name.includes('/api/') && !e.name.includes('/api/events'))
  .map((e) => ({name: e.name, start: e.startTime, end: e.responseEnd}));
const fcp = (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null;
return {api, fcp, mut: window.__gwMut || []};
"""


def _chain(reqs: list[dict[str, Any]]) -> int:
    """The longest run of requests each started after the previous one ended (the page's round trips)."""
    reqs = sorted(reqs, key=lambda r: r["start"])
    depth: list[int] = []
    for i, r in enumerate(reqs):
        before = [depth[j] for j in range(i) if reqs[j]["end"] <= r["start"]]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


class Console:
    """One signed-in headless Chromium on a running server."""

    def __init__(self, base: str, token: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        self.base = base
        self.profile = tempfile.mkdtemp(prefix="gw-bench-chromium-")
        opts = Options()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-dev-shm-usage", "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--disable-quic", "--window-size=1440,1000", "--disable-features=BackForwardCache",
                    f"--user-data-dir={self.profile}"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.driver.set_page_load_timeout(60)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _OBSERVE})
        self.driver.get(base + "/")
        self.driver.execute_script("localStorage.setItem('gateward.token', arguments[0])", token)
        self.loads = 0

    def load(self, route: str, ready_css: str) -> dict[str, float]:
        """Open ``route`` fresh and measure it (see the module's docstring)."""
        from selenium.webdriver.common.by import By

        d = self.driver
        self.loads += 1  # a new document each time (never one the browser kept), the console's files from its cache
        d.get(f"{self.base}/?load={self.loads}{route}")
        deadline = time.monotonic() + 60
        seen, quiet_since = -1, time.monotonic()
        while True:
            got = d.execute_script(_READ)
            n = len(got["api"])
            if n != seen:
                seen, quiet_since = n, time.monotonic()
            ready = d.find_elements(By.CSS_SELECTOR, ready_css)
            if n > 1 and ready and time.monotonic() - quiet_since >= SETTLE_S:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{route} did not settle in 60 s ({n} API answers; ready: {bool(ready)})")
            time.sleep(0.05)
        last = max(r["end"] for r in got["api"])
        after = [m for m in got["mut"] if m >= last]
        done = min(after) if after else last
        fcp = got["fcp"]
        return {"done_ms": done, "paint_to_done_ms": done - fcp if fcp else done, "requests": float(n),
                "in_sequence": float(_chain(got["api"])), "last_api_ms": last}

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


def _setup(url: str, homes: int) -> dict[str, str]:
    """Load the fleet and one campaign (not timed); the ids and the token the pages use."""
    from sqlalchemy import func, select

    from campaigns.service import Campaigns
    from core.kernel.config import Settings
    from core.store.schema import DeviceRow
    from core.users import ensure_users, get_actor, issue_token
    from gateward.fleet_load import load_fleet
    from gateward.runtime import build_runtime

    rt = build_runtime(Settings(database_url=url))
    try:
        load_fleet(rt, homes=homes, seed=7)
        ensure_users(rt.store)
        with rt.store.read() as s:
            device = s.scalar(select(func.min(DeviceRow.id)))  # the first homes have snapshots and telemetry
            model, region, subscriber = s.execute(select(DeviceRow.model, DeviceRow.region, DeviceRow.subscriber)
                                                  .where(DeviceRow.id == device)).one()
        st = Campaigns(rt).create({"name": "bench: hide SSID 2", "target": {"model": model, "region": region},
                                   "changes": [{"path": "Device.WiFi.AccessPoint.2.SSIDAdvertisementEnabled",
                                                "value": False}], "emergency": True}, get_actor(rt.store, "dave"))
        return {"token": issue_token(rt.store, "dave"), "device": str(device), "model": str(model),
                "region": str(region), "subscriber": str(subscriber or ""), "campaign": str(st["id"])}
    finally:
        rt.close()


def _routes(ids: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Each page's route and the element that says its content is there."""
    from urllib.parse import quote

    return {
        "fleet": ("#/fleet", "#view [data-testid]"),
        "device_list": (f"#/devices/?model={quote(ids['model'])}&region={quote(ids['region'])}",
                        "[data-testid=device-row]"),
        "search": (f"#/devices/?q={quote(ids['subscriber'])}", "[data-testid=device-row]"),
        "device": (f"#/devices/{quote(ids['device'], safe='')}", "#view [data-testid]"),
        "campaign": (f"#/campaigns/{quote(ids['campaign'])}", "#view [data-testid]"),
    }


@contextmanager
def _database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'console.db'}"
        return
    from sqlalchemy import text

    from testing.databases import pg_schema_url

    url, admin, schema = pg_schema_url(os.environ["GATEWARD_BENCH_DATABASE_URL"])
    try:
        yield url
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _measure(backend: str, homes: int, rounds: int) -> tuple[dict[str, list[dict[str, float]]], float]:
    from testing.servers import GatewardRun

    with tempfile.TemporaryDirectory(prefix=f"gw-bench-console-{backend}-") as tmpdir:
        tmp = Path(tmpdir)
        with _database(backend, tmp) as url:
            t0 = time.perf_counter()
            ids = _setup(url, homes)
            setup_s = time.perf_counter() - t0
            routes = _routes(ids)
            samples: dict[str, list[dict[str, float]]] = {p: [] for p in PAGES}
            with GatewardRun(home=tmp, database_url=url, homes=homes, cwd=ROOT) as run:
                console = Console(run.base, ids["token"])
                try:
                    for page in PAGES:  # once each, untimed: the server's first requests and the browser's cache
                        console.load(*routes[page])
                    for _ in range(rounds):
                        for page in PAGES:
                            samples[page].append(console.load(*routes[page]))
                finally:
                    console.close()
    return samples, setup_s


def run(quick: bool) -> BenchResult:
    homes = 5_000 if quick else int(os.environ.get("GATEWARD_BENCH_CONSOLE_HOMES", "100000"))
    rounds = 3 if quick else 7
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        raise SystemExit(f"console_pages needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})")
    backends = ["sqlite"] + (["postgres"] if os.environ.get("GATEWARD_BENCH_DATABASE_URL") else [])
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    for backend in backends:
        load0 = os.getloadavg()[0]
        samples, setup_s = _measure(backend, homes, rounds)
        metrics[f"{backend}_setup_s"] = round(setup_s, 1)
        for page in PAGES:
            got = samples[page]
            done = [g["done_ms"] for g in got]
            paint = [g["paint_to_done_ms"] for g in got]
            key = f"{backend}_{page}"
            metrics[f"{key}_p50_ms"] = round(percentile(done, 50), 1)
            metrics[f"{key}_max_ms"] = round(max(done), 1)
            metrics[f"{key}_paint_to_done_p50_ms"] = round(percentile(paint, 50), 1)
            metrics[f"{key}_requests"] = got[-1]["requests"]
            metrics[f"{key}_in_sequence"] = max(g["in_sequence"] for g in got)
            verdict = "met" if percentile(done, 50) <= GOAL_MS else "NOT met"
            rows.append((f"{backend}: {page}",
                         f"p50 {percentile(done, 50):.0f} ms (max {max(done):.0f}), paint → done "
                         f"{percentile(paint, 50):.0f} ms; {got[-1]['requests']:.0f} requests, "
                         f"{max(g['in_sequence'] for g in got):.0f} in sequence — goal ≤ {GOAL_MS:.0f} ms: {verdict}"))
        metrics[f"{backend}_load_avg"] = round((load0 + os.getloadavg()[0]) / 2, 2)
        rows.append((f"{backend}: set-up (not timed), load average", f"{setup_s:.0f} s, {load0:.1f} → "
                                                                      f"{os.getloadavg()[0]:.1f}"))
    notes = [f"{homes:,} homes loaded as gateward seed loads them; each page opened fresh {rounds} times in turn "
             "after one untimed opening; done = navigation start to the last change of the view after the last API "
             "answer of the load (the change feed excluded)",
             f"{os.cpu_count()} cores shared with the server, its database and the browser"]
    return BenchResult(NAME, metrics, {"homes": homes, "rounds": rounds, "backends": backends, "quick": quick},
                       rows, notes)
