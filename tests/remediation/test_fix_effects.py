"""Each remediation fix reports its effect over its cases: on the simulated fleet, a DNS restore
ends the DNS failures of the homes it fixed, measured against matched cases detected and left
unfixed (and, with none of those, against the same homes before); a problem whose detector reads
no KPI says so."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from brain.detectors.rules import load_rules
from brain.remediation.effects import fix_effects
from brain.remediation.schema import RemediationCaseRow
from brain.remediation.service import class_key
from core.kernel.ids import new_id
from core.store.schema import DeviceRow, TelemetryRow
from executors.sim.kpis import DNS_LOST_PER_H
from tests.campaigns.conftest import ert, fleet_file  # noqa: F401 - the simulated fleet with KPI-model telemetry

pytestmark = pytest.mark.slow
DNS = ("Device.DNS.Client.Server.1.DNSServer", "Device.DNS.Client.Server.2.DNSServer")
# Every run draws new noise (the samples are seeded by their times), so the checks are what the
# simulator makes true: the verdict at the default 95 % (its interval ended at -80 or lower over 30
# time seeds), and the true effect inside a 99.9 % interval, which misses it once in a thousand
# runs. A fixed bound on the interval's end ("high < -100") failed one CI run in about twelve (-97.4
# with 6 untreated homes); the verdict at 99.9 % was "no measurable effect" in another (6 controls).
CONFIDENCE = 0.999
# The simulator's hourly DNS failures with no server: uniform 40..300 (170); with one: 2 % of hours
# see 1..3 (0.04). The fix's effect is the change the restore made, the untreated homes' being none.
TRUE_EFFECT = 0.02 * 2 - sum(DNS_LOST_PER_H) / 2


def _homes(rt: Any) -> list[tuple[str, str]]:
    """Online TR-181 homes of the fleet's largest class, with their class key."""
    from executors.sim.kpis import values181
    from gateward.seed import twin_for

    twin = twin_for(rt)
    with rt.store.read() as s:
        rows = s.execute(select(DeviceRow.id, DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware,
                                DeviceRow.region).order_by(DeviceRow.id)).all()
    ok = [(d, class_key(v, m, fw, r)) for d, v, m, fw, r in rows
          if twin.state(d).presence_flags()[0] and DNS[0] in values181(twin.state(d))]
    top = Counter(k for _, k in ok).most_common(1)[0][0]
    return [(d, k) for d, k in ok if k == top]


def _case(device: str, key: str, at: datetime, fixed: bool) -> RemediationCaseRow:
    return RemediationCaseRow(id=new_id("rc"), device_id=device, problem="dns_lost", kind="detector",
                              status="applied" if fixed else "escalated", class_key=key, evidence={},
                              opened_at=at - timedelta(hours=1), updated_at=at, applied_at=at if fixed else None)


@pytest.mark.parametrize("untreated", [6, 0])
def test_a_dns_restore_is_measured_against_unfixed_cases_or_the_same_homes_before(
        ert: Any, untreated: int) -> None:  # noqa: F811 - the fixture imported above
    from gateward import sim_telemetry
    from gateward.seed import twin_for

    homes = _homes(ert)[:10 + untreated]
    assert len(homes) >= 10 + untreated
    ids = [d for d, _ in homes]
    twin = twin_for(ert)
    for d in ids:  # the firmware dropped the DNS servers a day ago
        twin.transact(d, lambda st: st.set_values(dict.fromkeys(DNS, "")))
    now = datetime.now(UTC)
    with ert.store.write() as s:
        s.execute(delete(TelemetryRow).where(TelemetryRow.device_id.in_(ids)))
    sim_telemetry.report(ert, now - timedelta(hours=24), 8, ids)
    fixed = ids[:10]
    for d in fixed:  # the fix: DNS servers restored
        twin.transact(d, lambda st: st.set_values({DNS[0]: "192.0.2.53", DNS[1]: "198.51.100.53"}))
    with ert.store.write() as s:
        for d, k in homes:
            s.add(_case(d, k, now, d in fixed))
    sim_telemetry.report(ert, now, 6, ids)
    with ert.store.read() as s:
        items = {i["problem"]: i for i in fix_effects(s, load_rules(), now=now + timedelta(hours=6))}
        wide = {i["problem"]: i for i in fix_effects(s, load_rules(), now=now + timedelta(hours=6),
                                                     confidence=CONFIDENCE)}
    dns = items["dns_lost"]
    assert (dns["cases"], dns["fixed"]) == (10 + untreated, 10)
    e = dns["effect"]
    assert dns["against"] == ("matched untreated cases" if untreated else "the same homes before")
    assert e["verdict"] == "better" and e["kpi"] == "dns.failures"
    w = wide["dns_lost"]["effect"]
    assert w["low"] <= TRUE_EFFECT <= w["high"], w  # the simulator's 170 failures an hour, ended
    assert items["inform_interval_drift"]["effect"] is None and "no KPI" in items["inform_interval_drift"]["note"]
