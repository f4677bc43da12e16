"""Issue 10, defect 14: replicas started together on an empty database.

Two real processes build the runtime (which migrates) and seed the fleet at the same moment (a
file barrier lines them up after their imports). Both must exit 0 and the fleet must exist once:
one migration, one set of devices, at most one first snapshot per device (an offline
one has none), one row per demo user.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.store import Store
from core.store.schema import DeviceRow, ParameterSnapshotRow, UserRow
from core.users import DEMO_USERS

HOMES = 4

CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime
    from gateward.seed import ensure_seeded

    barrier, me, line_up_before = Path(sys.argv[1]), sys.argv[2], sys.argv[4]

    def wait_for_the_other():
        (barrier / me).touch()
        deadline = time.time() + 60
        while len(list(barrier.iterdir())) < 2 and time.time() < deadline:
            time.sleep(0.002)

    if line_up_before == "migrate":
        wait_for_the_other()
    rt = build_runtime(Settings(database_url=os.environ["GATEWARD_DATABASE_URL"]))
    if line_up_before == "seed":
        wait_for_the_other()
    print(ensure_seeded(rt, homes=int(sys.argv[3])))
    rt.close()
""")


def _start_two(url: str, tmp_path: Path, line_up_before: str) -> list[subprocess.CompletedProcess[str]]:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "GATEWARD_HOME": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(barrier), name, str(HOMES), line_up_before], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


@pytest.mark.parametrize("line_up_before", ["migrate", "seed"])
def test_two_replicas_start_together_on_an_empty_database(db_url: str, tmp_path: Path, line_up_before: str) -> None:
    """``migrate``: both start on an empty schema; ``seed``: the schema exists (the test migrates
    first) and both reach seeding together, the window where PostgreSQL hit a duplicate key."""
    if line_up_before == "seed":
        Store(db_url).dispose()
    results = _start_two(db_url, tmp_path, line_up_before)
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    counts = {int(r.stdout.strip().splitlines()[-1]) for r in results}
    assert len(counts) == 1  # both see the same fleet
    store = Store(db_url)
    try:
        with store.read() as s:
            devices = s.scalar(select(func.count()).select_from(DeviceRow))
            per_device = s.execute(select(ParameterSnapshotRow.device_id, func.count())
                                   .group_by(ParameterSnapshotRow.device_id)).all()
            users = s.scalar(select(func.count()).select_from(UserRow))
        assert counts == {devices}
        assert per_device and max(n for _, n in per_device) == 1  # seeded once: one first snapshot per device
        assert users == len(DEMO_USERS)
    finally:
        store.dispose()
