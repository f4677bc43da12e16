"""Read commands stay light (issue 15): ``gateward --help``, ``gateward devices``, ``gateward show``,
``gateward status`` and ``gateward device ID`` must not load the policy pack, the lifecycle, Alembic
or the heavy optional stacks — and the table reads not even SQLAlchemy, pydantic or the settings
model: they read through the DB-API (core/store/lite.py) and typer's pydantic coercion is built
only for a value that needs it (gateward/cli_fast.py). ``gateward device ID`` reads a simulated
device live from the twin's rows on the DB-API too (executors/sim/lite.py; what it prints is held
to the full runtime's output in tests/unit/test_cli_device_lite.py).

Asserted on ``sys.modules`` of a fresh interpreter rather than on wall time: which modules a
command loads is deterministic, a timing on a shared two-core machine is not (the figure itself
is ``gateward bench cli_wall``). The child runs ``gateward.cli.main``, as the console script does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import build_test_runtime

ROOT = Path(__file__).resolve().parents[2]

# Never needed to read: the policy engine, the write path, migrations, the API/agent stacks.
HEAVY = ("regorus", "policies.engine", "core.lifecycle", "alembic", "fastapi", "langgraph", "openai",
         "procrastinate", "uvicorn")
# Not needed to read and print rows: the ORM, the models, the settings model, any executor.
TABLE_HEAVY = (*HEAVY, "sqlalchemy", "pydantic", "pydantic_settings", "core.kernel.models", "core.kernel.config",
               "core.store.db",
               "executors", "typer._adapters", "typer.rich_utils", "gateward.cli_brain", "gateward.cli_usp",
               "gateward.cli_genieacs", "gateward.cli_campaign", "gateward.cli_remediation")
# Not needed to read a simulated device live: the executor stack, the models, the registry that masks.
LIVE_HEAVY = (*HEAVY, "sqlalchemy", "pydantic", "pydantic_settings", "core.kernel.models", "core.kernel.config",
              "core.store.db",
              "core.kernel.secrets", "core.kernel.datamodel.registry", "core.kernel.ports.executor", "executors.base",
              "executors.sim.executor", "executors.sim.twin",
              "executors.sim.fleet", "executors.usp", "executors.genieacs", "gateward.runtime", "typer.rich_utils",
              "gateward.cli_brain", "gateward.cli_usp", "gateward.cli_genieacs", "gateward.cli_campaign",
              "gateward.cli_remediation")
# Not even the data layer is needed to print help.
HELP_HEAVY = (*HEAVY, "sqlalchemy", "pydantic", "pydantic_settings", "core.kernel.models", "core.kernel.config",
              "executors.sim",
              "core.store.lite", "psycopg")

_CHILD = """
import json, sys
from gateward import cli
try:
    cli.main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("MODULES:" + json.dumps({"code": code, "loaded": sorted(sys.modules)}))
"""


def _run_cli(args: list[str], db_url: str | None = None) -> tuple[int, str, set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWARD_")}
    if db_url is not None:
        env["GATEWARD_DATABASE_URL"] = db_url
    env["COLUMNS"] = "250"  # rich would cut the ids in an 80-column table
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    marker = [ln for ln in done.stdout.splitlines() if ln.startswith("MODULES:")]
    assert marker, f"child failed: {done.stderr[-2000:]}"
    info = json.loads(marker[-1][len("MODULES:"):])
    return int(info["code"] or 0), done.stdout, set(info["loaded"])


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules)


def test_help_loads_no_data_layer_and_no_heavy_stack() -> None:
    code, out, modules = _run_cli(["--help"])
    assert code == 0
    assert "devices" in out and "propose" in out  # the plugins' commands are all still listed
    assert _loaded(modules, HELP_HEAVY) == []


def test_subcommand_help_loads_no_data_layer() -> None:
    for args in (["devices", "--help"], ["device", "--help"], ["show", "--help"], ["campaign", "--help"]):
        code, out, modules = _run_cli(args)
        assert code == 0 and "Usage:" in out, args
        assert _loaded(modules, HELP_HEAVY) == [], args


@pytest.fixture
def seeded(db_url: str) -> Any:
    rt = build_test_runtime(db_url, homes=2)
    from core.kernel.models import Change, ProposalDraft
    from core.store import repo
    from core.users import get_actor

    with rt.store.read() as s:
        device = repo.list_devices(s, limit=1)[0][0]
    p = rt.lifecycle.submit(ProposalDraft(intent="inform", targets=[device.id], changes=[
        Change(path="Device.ManagementServer.PeriodicInformInterval", value=600)]), get_actor(rt.store, "dave"))
    rt.close()
    return db_url, device, p.id


def test_devices_list_reads_without_policy_lifecycle_or_migrations(seeded: Any) -> None:
    db_url, device, _ = seeded
    code, out, modules = _run_cli(["devices", "--limit", "500"], db_url)
    assert code == 0
    assert device.id in out
    assert _loaded(modules, TABLE_HEAVY) == []
    assert ("psycopg" in modules) is db_url.startswith("postgresql")


def test_show_and_status_read_without_the_orm_or_the_models(seeded: Any) -> None:
    db_url, device, pid = seeded
    code, out, modules = _run_cli(["show", pid], db_url)
    assert code == 0, out
    assert pid in out and device.id in out and "policy:" in out
    assert _loaded(modules, (*TABLE_HEAVY, "gateward.cli_devices", "gateward.cli_device")) == []
    code, out, modules = _run_cli(["status"], db_url)
    assert code == 0, out
    assert "fleet:" in out and "1 proposals awaiting approval" in out
    assert _loaded(modules, (*TABLE_HEAVY, "gateward.cli_devices", "gateward.cli_device")) == []


def test_device_show_reads_live_without_policy_lifecycle_orm_or_models(seeded: Any) -> None:
    db_url, device, _ = seeded
    assert device.adapter == "sim"
    code, out, modules = _run_cli(["device", device.id], db_url)
    assert code == 0, out
    assert device.id in out and "presence: online=True" in out and "Device.DeviceInfo.SerialNumber" in out
    assert sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in LIVE_HEAVY)) == []
    assert "gateward.cli_devices" not in modules  # the fleet list and inventory commands: another module


def test_read_store_head_check_migrates_only_when_a_migration_is_due(db_url: str) -> None:
    """The cheap head check may skip Alembic only at head: a database a revision behind is still
    upgraded, and one at head is opened without running a migration (gateward/read_runtime.py)."""
    from alembic.script import ScriptDirectory

    from core.store.db import Store
    from core.store.head import at_head, open_for_reads, script_head

    behind = Store(db_url, migrate=False)
    head = script_head()
    assert head is not None and head == ScriptDirectory.from_config(behind.alembic_config()).get_current_head()
    previous = ScriptDirectory.from_config(behind.alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str)
    behind.migrate(previous)
    assert not at_head(behind)
    behind.dispose()

    upgraded = open_for_reads(db_url)  # a migration is due: it runs
    assert upgraded._migrated and at_head(upgraded)
    upgraded.dispose()

    current = open_for_reads(db_url)  # at head: nothing runs
    assert not current._migrated and at_head(current)
    current.dispose()


def test_script_head_refuses_to_guess_with_two_heads(tmp_path: Path) -> None:
    from core.store.head import script_head

    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (versions / "b.py").write_text('revision: str = "b"\ndown_revision: str | None = "a"\n')
    assert script_head(tmp_path) == "b"
    (versions / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')
    assert script_head(tmp_path) is None  # two heads: the caller runs the real migration
