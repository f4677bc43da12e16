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
# time seeds), and the estimate within a fifth of the simulator's effect (120 of 120 fixed time
# seeds, 6 and 0 untreated homes). The untreated cases are detected an hour before the fix, so their
# windows start an hour earlier. Where the telemetry did not cover that hour, a count read it as an
# hour without failures: the controls' level read 5/6 of the truth and the estimate leaned to about
# -145 against -170 (mean 0.82 of the effect, 0.73 at worst, over 16 time seeds), and the 99.9 %
# interval missed the effect in 14 of 60 (one CI run). A count is now a rate over the hours with a
# report (issue 59): with that hour silent, 0.98 of the effect on average, 0.83-1.14 over 60 seeds.
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


@pytest.mark.parametrize(("untreated", "silent_h"), [(6, 0), (0, 0), (6, 1)])
def test_a_dns_restore_is_measured_against_unfixed_cases_or_the_same_homes_before(
        ert: Any, untreated: int, silent_h: int) -> None:  # noqa: F811 - the fixture imported above
    """``silent_h``: the untreated cases' windows begin that many hours before any telemetry (they are
    detected an hour before the fix). Read as an hour without failures, that hour made the controls
    read 5/6 of their level and the estimate lean to -145 against -170 (issue 59); it is left out."""
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
    sim_telemetry.report(ert, now - timedelta(hours=25 - silent_h), 9 - silent_h, ids)  # untreated's day before
    fixed = ids[:10]
    for d in fixed:  # the fix: DNS servers restored
        twin.transact(d, lambda st: st.set_values({DNS[0]: "192.0.2.53", DNS[1]: "198.51.100.53"}))
    with ert.store.write() as s:
        for d, k in homes:
            s.add(_case(d, k, now, d in fixed))
    sim_telemetry.report(ert, now - timedelta(hours=1 - silent_h), 7 - silent_h, ids)  # from their detection
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
    assert 1.2 * TRUE_EFFECT < w["estimate"] < 0.8 * TRUE_EFFECT, w  # the simulator's 170 an hour, ended
    assert items["inform_interval_drift"]["effect"] is None and "no KPI" in items["inform_interval_drift"]["note"]
