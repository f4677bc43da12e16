"""device_list: the console's device list at a million devices on PostgreSQL (issue 39).

The fleet is loaded by the database itself (``testing.bulk_fleet_sql``: devices, one snapshot each,
an outage and open cases), then every request goes through the real HTTP API
(``GET /api/devices/page``, the app in process, a bearer token), so a figure is what the console
waits for: the route, the keyset query, the badges for the page, the JSON. Each case is asked
``ROUNDS`` times after one untimed warm-up; p50 and p99 are reported.

Cases: the first page newest-contact-first (with the fleet's count), the same order 900,000 rows
deep (a cursor, as the console's "next" carries it), a region filter, the "offline for an hour"
filter, and two parameter-value searches: a rare value (an SSID, ~100 devices) and a common one
(5 GHz channel 36, a quarter of the fleet). Needs ``GATEWARD_BENCH_DATABASE_URL`` (or
``GATEWARD_TEST_DATABASE_URL``): a fresh schema is made and dropped.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.framework import BenchResult, percentile

NAME = "device_list"
KEYS = ()  # metrics every --quick run reports (tests/bench_smoke)
# ... and these with a PostgreSQL configured
KEYS_POSTGRES = ("first_page_p50_ms", "deep_page_p50_ms", "search_common_p50_ms")
DESCRIPTION = "device list API at 1M devices on PostgreSQL: first page, deep keyset page, searches (goal ≤ 300 ms)"
ROUNDS = 15


def _cursor_at(rt: Any, depth: int) -> str:
    """The cursor the console holds after ``depth`` rows of newest-contact-first (not timed)."""
    from api.device_list import encode_cursor
    from core.store.schema import DeviceRow

    with rt.store.read() as s:
        row = s.query(DeviceRow).filter(DeviceRow.last_seen.is_not(None)).order_by(
            DeviceRow.last_seen.desc(), DeviceRow.id.desc()).offset(depth).limit(1).one()
        return encode_cursor("last_seen", True, row, "v")


def _time(client: Any, headers: dict[str, str], params: dict[str, Any]) -> tuple[list[float], dict[str, Any]]:
    r = client.get("/api/devices/page", params=params, headers=headers)
    if r.status_code != 200:
        raise RuntimeError(f"{params}: {r.status_code} {r.text[:300]}")
    body: dict[str, Any] = r.json()
    samples = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        r = client.get("/api/devices/page", params=params, headers=headers)
        samples.append(time.perf_counter() - t0)
        assert r.status_code == 200
    return samples, body


def run(quick: bool) -> BenchResult:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from core.kernel.config import Settings
    from core.users import issue_token
    from gateward.runtime import build_runtime
    from testing.bulk_fleet_sql import seed_fleet_sql
    from testing.databases import pg_schema_url

    n = 100_000 if quick else int(os.environ.get("GATEWARD_BENCH_DEVICE_LIST_N", "1000000"))
    base = os.environ.get("GATEWARD_BENCH_DATABASE_URL") or os.environ.get("GATEWARD_TEST_DATABASE_URL")
    if not base:
        raise SystemExit("device_list needs PostgreSQL: set GATEWARD_BENCH_DATABASE_URL")
    url, admin, schema = pg_schema_url(base)
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    try:
        rt = build_runtime(Settings(database_url=url))
        t0 = time.perf_counter()
        steps = seed_fleet_sql(rt.store, n)
        setup_s = time.perf_counter() - t0
        headers = {"Authorization": f"Bearer {issue_token(rt.store, 'alice')}"}
        client = TestClient(create_app(rt))
        deep = int(n * 0.9)
        cases: list[tuple[str, str, dict[str, Any]]] = [
            ("first_page", "first page, newest contact first, with the count",
             {"sort": "last_seen", "desc": "true", "limit": 50}),
            ("first_page_id", "first page by id, with the count", {"limit": 50}),
            ("deep_page", f"page {deep:,} rows deep, newest contact first",
             {"sort": "last_seen", "desc": "true", "limit": 50, "cursor": _cursor_at(rt, deep)}),
            ("region", "region DE by model, with the count", {"region": "DE", "sort": "model", "limit": 50}),
            ("offline_1h", "offline for 1 h, with the count", {"offline_hours": 1, "sort": "last_seen", "limit": 50}),
            ("search_rare", "search SSID = home-42 (~100 devices), with the count",
             {"param": "Device.WiFi.SSID.1.SSID", "value": "home-42", "limit": 50}),
            ("search_common", "search 5 GHz channel = 36 (a quarter), with the count",
             {"param": "Device.WiFi.Radio.2.Channel", "value": "36", "limit": 50}),
            ("search_common_next", "the same search, second page (no count)",
             {"param": "Device.WiFi.Radio.2.Channel", "value": "36", "limit": 50}),
        ]
        for key, label, params in cases:
            if key == "search_common_next":
                first = client.get("/api/devices/page", params=params, headers=headers).json()
                params = {**params, "cursor": first["next_cursor"]}
            samples, body = _time(client, headers, params)
            ms = [x * 1e3 for x in samples]
            metrics[f"{key}_p50_ms"] = round(percentile(ms, 50), 1)
            metrics[f"{key}_p99_ms"] = round(percentile(ms, 99), 1)
            total = body.get("total")
            rows.append((label, f"p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms"
                                + (f" ({total:,} match)" if total is not None else "")))
        badges = sum(len(d["badges"]) for d in body["items"])
        rows.append(("setup (not timed)", f"{setup_s:.1f} s: " + ", ".join(f"{k} {v:.1f}s" for k, v in steps.items())))
        metrics["setup_s"] = round(setup_s, 1)
        client.close()
        rt.close()
    finally:
        from sqlalchemy import text

        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    notes = [f"{n:,} devices on PostgreSQL, one ~0.6 KB snapshot each; {ROUNDS} requests per case after a warm-up, "
             "through the HTTP API in process (TestClient): route, query, badges, JSON",
             f"badges on the last page measured: {badges}",
             "the setup ends with VACUUM (ANALYZE), as autovacuum would (testing.bulk_fleet.settle)"]
    return BenchResult(NAME, metrics, {"devices": n, "rounds": ROUNDS, "quick": quick}, rows, notes)
