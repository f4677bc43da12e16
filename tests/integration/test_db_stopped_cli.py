"""``gateward apply`` whose PostgreSQL stops mid-apply says one line (issue 56, item 5).

The database is really stopped (``pg_ctl stop -m immediate`` on a private cluster,
``testing/pg_cluster.py``), not cut at a proxy, with the simulated devices' twin in the same database
as in the project's own soak. To land the stop inside a transaction of the apply — where it printed
SQLAlchemy's "Exception during reset or similar" with three raw tracebacks (133 lines) before its one
good line — the test holds a lock on the second device's twin row, waits until the apply's backend
waits for it, then stops the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_apply_fanout import _approved
from tests.integration.test_staged import _cwmp_tr181

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120  # how long the test waits for the apply to reach the lock (a liveness bound, not a timing)


@pytest.fixture
def cluster() -> Iterator[Any]:
    from testing.pg_cluster import PgCluster

    try:
        pg = PgCluster()
    except (FileNotFoundError, KeyError) as exc:
        if os.environ.get("GATEWARD_REQUIRE_SERVICES") == "1":
            pytest.fail(f"GATEWARD_REQUIRE_SERVICES=1 but {exc}")
        pytest.skip(f"needs the PostgreSQL server binaries: {exc}")
    with pg:
        pg.start()
        yield pg


def test_an_apply_whose_database_stops_mid_transaction_says_one_line(cluster: Any, tmp_path: Path) -> None:
    import psycopg

    from core.kernel.config import Settings
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet

    url = cluster.create_database("gw")
    rt = build_runtime(Settings(database_url=url))
    try:
        seed_fleet(rt, homes=12, seed=7)
        devices = _cwmp_tr181(rt, 3)
        p = _approved(rt, devices, "stopped-mid-apply")
    finally:
        rt.close()
    held = psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=gw")
    held.execute("SELECT 1 FROM sim_devices WHERE id = %s FOR UPDATE", (devices[1].id,))  # a transaction, held
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "COLUMNS": "400"}
    env.pop("GATEWARD_SIM_DATABASE_URL", None)
    child = subprocess.Popen([sys.executable, "-m", "gateward.cli", "apply", p.id, "--as", "alice"], cwd=ROOT,
                             env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watch = psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=gw", autocommit=True)
    try:  # (pg_stat_activity is read outside a transaction: inside one it is a snapshot)
        end = time.monotonic() + WAIT_S
        while not watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone()[0]:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < end, "the apply never reached the held row"
            time.sleep(0.05)
        watch.close()
        cluster.stop("immediate")
        out, err = child.communicate(timeout=WAIT_S)
    finally:
        if child.poll() is None:
            child.kill()
        held.close()
    assert child.returncode == 2, (out, err)
    assert "Traceback" not in err and "Exception during reset" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: apply of proposal") and "gateward recover" in lines[0], err
