"""A million-device fleet loaded by PostgreSQL itself (``generate_series``), for the device-list
benchmark (issue 39).

Why not :mod:`testing.bulk_fleet`: that builds each row in Python and inserts it through
SQLAlchemy (~2 minutes per million devices plus snapshots on this machine); here the server
generates the rows, so the setup is the database's own insert and index work. The fleet has the
shape the list's queries meet in production: last contacts spread over minutes (most devices), hours
(a few percent) and never (2 %), with ties; 32 devices per PON port; a stored snapshot per device
(the ``snapshot_heads`` trigger keeps each device's head, as for every writer); one PON port in an
outage (most of its devices reported the WAN down) and a few hundred open remediation cases.
"""

from __future__ import annotations

from typing import Any

DEVICES_SQL = """
INSERT INTO devices (id, vendor, model, product_class, oui, serial, firmware, root, protocol, adapter, subscriber,
                     region, service, tags, upstream_id, last_seen, created_at, status)
SELECT (ARRAY['00D0F1','00D0F1','A4C3F0','F8A2D6'])[i % 4 + 1] || '-' ||
       (ARRAY['CGW3400','CGW3400','G240W','PX7000'])[i % 4 + 1] || '-GB' || lpad(i::text, 8, '0'),
       (ARRAY['Vantec','Vantec','Lumenet','Prplnet'])[i % 4 + 1],
       (ARRAY['CGW-3400','CGW-3400','G-240W','PX-7000'])[i % 4 + 1],
       (ARRAY['CGW3400','CGW3400','G240W','PX7000'])[i % 4 + 1],
       (ARRAY['00D0F1','00D0F1','A4C3F0','F8A2D6'])[i % 4 + 1],
       'GB' || lpad(i::text, 8, '0'),
       (ARRAY['7.2.1','7.4.0-beta','3.2.5','1.3.0'])[i % 4 + 1],
       'Device.', (ARRAY['cwmp','cwmp','cwmp','usp'])[i % 4 + 1], 'sim',
       'sub-' || lpad(i::text, 8, '0'),
       (ARRAY['DE','GB','FR','US'])[(i / 7) % 4 + 1], 'standard', '[]'::json,
       'pon-' || (i / 32),
       CASE WHEN (i::bigint * 7919) % 1000 < 20 THEN NULL
            WHEN (i::bigint * 7919) % 1000 < 70 THEN :now - make_interval(hours => 1 + (i * 31) % 72)
            ELSE :now - make_interval(mins => (i * 13) % 60) END,
       :now, 'active'
FROM generate_series(0, :n - 1) AS i
"""

SNAPSHOTS_SQL = """
INSERT INTO parameter_snapshots (device_id, taken_at, source, params)
SELECT d.id, :now, 'bench', jsonb_build_object(
    'Device.WiFi.Radio.1.OperatingFrequencyBand', jsonb_build_object('value', '2.4GHz', 'type', 'string'),
    'Device.WiFi.Radio.1.Channel', jsonb_build_object('value', (ARRAY[1, 6, 11])[i % 3 + 1], 'type', 'unsignedInt'),
    'Device.WiFi.Radio.1.AutoChannelEnable', jsonb_build_object('value', true, 'type', 'boolean'),
    'Device.WiFi.Radio.2.OperatingFrequencyBand', jsonb_build_object('value', '5GHz', 'type', 'string'),
    'Device.WiFi.Radio.2.Channel', jsonb_build_object('value', (ARRAY[36, 44, 52, 100])[(i / 3) % 4 + 1],
                                                      'type', 'unsignedInt'),
    'Device.WiFi.Radio.2.AutoChannelEnable', jsonb_build_object('value', i % 2 = 0, 'type', 'boolean'),
    'Device.WiFi.Radio.2.OperatingChannelBandwidth', jsonb_build_object('value', '80MHz', 'type', 'string'),
    'Device.WiFi.SSID.1.SSID', jsonb_build_object('value', 'home-' || (i % 9973), 'type', 'string'))
FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM devices) AS d
"""

OUTAGE_SQL = """
INSERT INTO device_events (device_id, ts, kind, data)
SELECT id, :now - interval '10 minutes', 'wan_down', '{}'::json FROM devices WHERE upstream_id = 'pon-7'
ORDER BY id LIMIT 24
"""

CASES_SQL = """
INSERT INTO remediation_cases (id, device_id, problem, kind, status, class_key, proposal_ids, attempts, hits,
                               evidence, opened_at, updated_at)
SELECT 'case-bench-' || rn, id, 'wifi_interference', 'detector',
       (ARRAY['open','dispatched','proposed','applied','escalated'])[rn % 5 + 1], '', '[]'::json, 0, 1, '{}'::json,
       :now, :now
FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM devices) AS d
WHERE rn % :every = 0
"""


def seed_fleet_sql(store: Any, n: int, cases: int = 300) -> dict[str, float]:
    """Load ``n`` devices with one snapshot each on PostgreSQL; returns seconds per step."""
    import time

    from sqlalchemy import text

    from core.kernel.models import utcnow
    from core.users import ensure_users
    from testing.bulk_fleet import settle

    if store.dialect != "postgresql":
        raise RuntimeError("seed_fleet_sql needs PostgreSQL")
    ensure_users(store)
    now = utcnow()
    took: dict[str, float] = {}
    for name, sql, params in (("devices", DEVICES_SQL, {"n": n, "now": now}),
                              ("snapshots", SNAPSHOTS_SQL, {"now": now}),
                              ("events", OUTAGE_SQL, {"now": now}),
                              ("cases", CASES_SQL, {"now": now, "every": max(1, n // max(cases, 1))})):
        t0 = time.perf_counter()
        with store.engine.begin() as c:
            c.execute(text(sql), params)
        took[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    settle(store)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        for table in ("device_events", "remediation_cases"):
            c.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    took["vacuum_analyze"] = time.perf_counter() - t0
    return took
