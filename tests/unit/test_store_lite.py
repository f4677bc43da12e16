"""The DB-API read path (core/store/lite.py) reads what the ORM reads (issue 15).

``gateward devices`` / ``device ID`` / ``show`` / ``status`` read through ``sqlite3`` or ``psycopg``
without SQLAlchemy. These tests pin that it cannot drift from the ORM: the SQL is regenerated from
the schema and compared; URLs are parsed, labelled and connected to as SQLAlchemy does; and on a
real seeded database (SQLite, and PostgreSQL when configured) every row the read path returns is
compared with what ``core.store.repo`` returns for it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from core.kernel.errors import NotFound
from core.kernel.models import Change, Device, ProposalDraft
from core.store import dburl, lite, lite_gen, repo
from core.store.schema import ApprovalRow, AuditEventRow, DeviceRow, ExecutionRow, PolicyDecisionRow, ProposalRow
from core.users import get_actor

PP = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"
INFORM = "Device.ManagementServer.PeriodicInformInterval"

URLS = [
    "sqlite:////tmp/x.db", "sqlite:///rel/x.db", "sqlite://", "sqlite:///:memory:", "sqlite:////tmp/a b.db",
    "sqlite:///x.db?timeout=3", "sqlite+pysqlite:////tmp/y.db",
    "postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dgwt_abc",
    "postgresql+psycopg://gw:s3cret@db.example:5432/gw", "postgresql+psycopg://gw:s%40c%3Ar@[::1]:5432/gw?b=2&a=1",
    "postgresql+psycopg://g%20w@h/db", "postgresql+psycopg:///db?host=/var/run/postgresql",
    "postgresql+psycopg://u:p@h1:5432,h2:5433/db", "postgresql+psycopg://u@h:notaport/db",
    "postgresql+psycopg://u@h/db?a=1&a=2", "postgresql+psycopg://u@h/db?sslmode=require&application_name=gw",
    "postgresql+psycopg://u:@h/db", "postgresql+psycopg://h", "not a url", "mysql://u:p@h/db",
    "postgresql+psycopg://u@h/db?host=h1,h2", "postgresql+psycopg://u@h/db?port=5433",
]


# ---------------------------------------------------------------------------- no drift
def test_the_generated_sql_is_the_schema_compiled_now() -> None:
    """After a schema change, ``python -m core.store.lite_gen`` and review the diff."""
    assert lite_gen.TARGET.read_text(encoding="utf-8") == lite_gen.render()


def test_copies_of_store_constants_match() -> None:
    from core.store import db, head

    assert head.MIGRATIONS == db.MIGRATIONS
    assert lite.ACTIVE == repo.ACTIVE
    for u in URLS:
        assert dburl.normalise_url(u) == db.normalise_url(u)
    for text in ("", "a", "50%", "a_b", "back\\slash", "%_\\"):
        assert lite.contains_pattern(text) == repo.contains_pattern(text)


def test_the_device_view_has_the_model_fields() -> None:
    assert list(lite.DeviceView._fields) == list(Device.model_fields)


@pytest.mark.parametrize("url", URLS)
def test_urls_are_read_and_labelled_as_sqlalchemy_reads_them(url: str) -> None:
    parsed = dburl.parse(url)
    try:
        sa = make_url(url)
        sa_label = sa.render_as_string(hide_password=True)
    except Exception:
        assert parsed is None  # SQLAlchemy refuses it: so does the copy (the CLI then shows what follows "@")
        return
    assert parsed is not None
    assert dburl.label(url) == sa_label
    assert (parsed.drivername, parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == \
        (sa.drivername, sa.username, sa.password, sa.host, sa.port, sa.database)
    if sa.get_backend_name() == "sqlite":
        args, _ = sa.get_dialect()().create_connect_args(sa)
        expected = args[0] if args and sa.database not in (None, "", ":memory:") and not sa.query else None
        assert dburl.sqlite_file(parsed) == expected
    if sa.drivername == "postgresql+psycopg":
        kwargs = dburl.psycopg_kwargs(parsed)
        _, sa_kwargs = sa.get_dialect()().create_connect_args(sa)
        sa_kwargs.pop("context", None)
        if kwargs is not None:  # None: what the dialect rewrites is left to it
            assert kwargs == sa_kwargs


def test_an_unknown_or_unreadable_url_is_left_to_sqlalchemy(tmp_path: Path) -> None:
    assert lite.connect("sqlite://") is None  # in memory
    assert lite.connect(f"sqlite:///{tmp_path / 'missing.db'}") is None  # SQLAlchemy creates and migrates it
    assert not (tmp_path / "missing.db").exists()
    assert lite.connect("mysql://u@h/db") is None


# ---------------------------------------------------------------------------- the same rows
@pytest.fixture
def world(runtime: Any) -> Any:
    """The seeded fleet with proposals in several states (approved and applied, awaiting approval,
    per-target values), a retired device, and odd characters in a subscriber."""
    rt = runtime
    with rt.store.read() as s:
        devices, _ = repo.list_devices(s, limit=1000)
    cwmp = [d for d in devices if str(d.root) == "Device." and str(d.protocol) == "cwmp"]
    d1, d2, d3 = cwmp[0], cwmp[1], cwmp[2]
    from core.inventory import Inventory

    Inventory(rt.store).retire(devices[-1].id, get_actor(rt.store, "dave"), "test")
    with rt.store.write() as s:
        s.get(DeviceRow, d3.id).subscriber = "50%_off\\x"
    lc, dave = rt.lifecycle, get_actor(rt.store, "dave")
    applied = lc.submit(ProposalDraft(intent="passphrase", targets=[d1.id], changes=[
        Change(path=PP, value="Orchard-Lantern-4417")], rationale="rotate"), dave)
    lc.approve(applied.id, get_actor(rt.store, "bob"), "ok")
    lc.apply(applied.id, dave)
    waiting = lc.submit(ProposalDraft(intent="inform", targets=[d1.id, d2.id], changes=[
        Change(path=INFORM, value=600), Change(path=PP, value="Copper-Meadow-5521")]), dave)
    per_target = lc.submit(ProposalDraft(intent="per device", targets=[d1.id, d2.id], changes=[
        Change(path=INFORM, value=900, target=d1.id), Change(path=INFORM, value=1200, target=d2.id)]), dave)
    reader = lite.connect(rt.store.url)
    assert reader is not None and reader.at_head()
    yield rt, reader, [applied.id, waiting.id, per_target.id], d3
    reader.close()


def _cols(row: Any, table: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in table.__table__.columns}


def test_devices_read_as_the_repository_reads_them(world: Any) -> None:
    rt, reader, _, odd = world
    with rt.store.read() as s:
        every, total = repo.list_devices(s, limit=10_000)
        assert [Device(**v._asdict()) for v in reader.list_devices(limit=10_000)[0]] == every
        assert reader.list_devices(limit=10_000)[1] == total
        for d in every:
            assert Device(**reader.device(d.id)._asdict()) == repo.get_device(s, d.id)
        queries: list[dict[str, Any]] = [
            {}, {"status": "retired"}, {"status": "active", "region": every[0].region}, {"model": every[0].model},
            {"firmware": every[0].firmware, "model": every[0].model}, {"subscriber": odd.subscriber and "50%_off\\x"},
            {"q": "%_"}, {"q": "50%_off\\"}, {"q": every[0].id[:6]}, {"q": "nothing-like-this"},
            {"limit": 3, "offset": 2}, {"limit": 0}, {"region": every[0].region, "limit": 2, "offset": 1},
        ]
        for q in queries:
            views, n = reader.list_devices(**q)
            models, m = repo.list_devices(s, **q)
            assert ([Device(**v._asdict()) for v in views], n) == (models, m), q
    with pytest.raises(NotFound) as lean_err:
        reader.device("nope")
    with rt.store.read() as s, pytest.raises(NotFound) as orm_err:
        repo.get_device(s, "nope")
    assert lean_err.value.message == orm_err.value.message


def test_proposals_read_as_the_repository_reads_them(world: Any) -> None:
    rt, reader, pids, _ = world
    for pid in pids:
        view = reader.proposal(pid)
        with rt.store.read() as s:
            row = repo.get_proposal_row(s, pid)
            p = repo.proposal_from_row(row)
            assert view.preview == row.preview
            decision = repo.latest_decision(s, pid)
            approvals = list(s.scalars(select(ApprovalRow).where(ApprovalRow.proposal_id == pid)
                                       .order_by(ApprovalRow.created_at)))
            executions = list(s.scalars(select(ExecutionRow).where(ExecutionRow.proposal_id == pid)
                                        .order_by(ExecutionRow.device_id)))
            model_approvals, model_execs = repo.approvals_for(s, pid), repo.executions_for(s, pid)
        plain = p.model_dump(mode="python")
        for key in ("id", "author", "intent", "targets", "rationale", "emergency", "action_type", "staged", "source",
                    "risk", "hash", "error", "created_at", "updated_at"):
            assert getattr(view, key) == plain[key], key
        assert (view.state, view.author_kind) == (str(p.state), str(p.author_kind))
        assert [(c.path, c.value, type(c.value), c.type, c.target) for c in view.changes] == \
            [(c.path, c.value, type(c.value), c.type, c.target) for c in p.changes]
        assert view.operations == [o.model_dump(mode="json") for o in p.operations]
        assert view.evidence == [e.model_dump(mode="json") for e in p.evidence]
        assert view.per_target is p.per_target
        assert {t: [(c.path, c.value, c.target) for c in cs] for t, cs in view.values_by_device().items()} == \
            {t: [(c.path, c.value, c.target) for c in cs] for t, cs in p.values_by_device().items()}
        lean_decision = reader.latest_decision(pid)
        assert (lean_decision is None) == (decision is None)
        if decision is not None:
            assert lean_decision == _cols(decision, PolicyDecisionRow)
            assert lean_decision.result == decision.result and lean_decision.duration_us == decision.duration_us
        assert reader.approvals(pid) == [_cols(a, ApprovalRow) for a in approvals]
        assert [(a.actor, a.role, a.verdict, a.comment, a.proposal_hash) for a in reader.approvals(pid)] == \
            [(a.actor, a.role, a.verdict, a.comment, a.proposal_hash) for a in model_approvals]
        assert reader.executions(pid) == [_cols(e, ExecutionRow) for e in executions]
        assert [(e.device_id, e.status, e.error) for e in reader.executions(pid)] == \
            [(e.device_id, str(e.status), e.error) for e in model_execs]
    assert reader.executions(pids[0]) and reader.approvals(pids[0])  # the applied one has both
    assert reader.proposal(pids[2]).per_target
    with pytest.raises(NotFound) as lean_err:
        reader.proposal("p-none")
    with rt.store.read() as s, pytest.raises(NotFound) as orm_err:
        repo.get_proposal_row(s, "p-none")
    assert lean_err.value.message == orm_err.value.message


def test_timestamps_are_aware_utc_as_the_orm_returns_them(world: Any) -> None:
    rt, reader, pids, _ = world
    view = reader.proposal(pids[0])
    assert view.created_at.utcoffset() is not None and view.created_at.utcoffset().total_seconds() == 0
    with rt.store.read() as s:
        assert view.created_at == repo.get_proposal_row(s, pids[0]).created_at


def test_status_counts_are_the_orms(world: Any) -> None:
    rt, reader, _, _ = world
    with rt.store.read() as s:
        expected = (int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0),
                    int(s.scalar(select(func.count()).select_from(ProposalRow)
                                 .where(ProposalRow.state == "awaiting_approval")) or 0),
                    int(s.scalar(select(func.max(AuditEventRow.seq))) or 0))
    assert reader.fleet_counts() == expected and expected[1] >= 1 and expected[2] > 0


def test_a_database_behind_the_head_is_not_read(db_url: str) -> None:
    """The DB-API path reads only at head; read_runtime then migrates through the store."""
    from alembic.script import ScriptDirectory

    from core.store.db import Store
    from core.store.head import script_head

    store = Store(db_url, migrate=False)
    fresh = lite.connect(store.url)  # None for a SQLite file not created yet
    assert fresh is None or (fresh.revisions() is None and not fresh.at_head())
    if fresh is not None:
        fresh.close()
    head = script_head()
    assert head is not None
    previous = ScriptDirectory.from_config(store.alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str)
    store.migrate(previous)
    reader = lite.connect(store.url)
    assert reader is not None and reader.revisions() == {previous} and not reader.at_head()
    reader.close()
    store.dispose()

    from gateward.read_runtime import ReadRuntime

    reads = ReadRuntime(db_url)
    try:
        assert reads.lite is not None and reads.lite.at_head()  # migrated by the store, then read
        assert reads._store is not None and reads._store._migrated
    finally:
        reads.close()


# ---------------------------------------------------------------------------- the same output
@pytest.fixture
def both_paths(world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run a CLI command through the DB-API path (no runtime built in the process) and through the
    ORM (the built runtime's store, as after a change), on the same database and settings."""
    from rich.console import Console
    from typer.testing import CliRunner

    from core.kernel.config import get_settings
    from gateward import cli

    rt = world[0]
    get_settings.cache_clear()  # the ORM path reads the (cached) settings, the DB-API path the environment
    monkeypatch.setenv("GATEWARD_DATABASE_URL", rt.store.url)
    monkeypatch.setenv("GATEWARD_HOME", str(tmp_path))
    monkeypatch.delenv("GATEWARD_OPA_URL", raising=False)
    monkeypatch.setattr(cli, "console", Console(width=250, color_system=None))
    monkeypatch.setattr(cli, "err", Console(width=250, color_system=None, stderr=True))

    def run(*args: str) -> tuple[tuple[int, str], tuple[int, str]]:
        if cli._reads is not None:
            cli._reads.close()
        monkeypatch.setattr(cli, "_runtime", None)
        monkeypatch.setattr(cli, "_reads", None)
        lean = CliRunner().invoke(cli.app, list(args))
        if args[-1] != "x":  # a bad --status is refused before anything is read
            assert cli._reads is not None and cli._reads.lite is not None, "the command did not take the DB-API path"
            # none opens the SQLAlchemy store: a simulated device is read live from the twin's rows
            # on the DB-API too (executors/sim/lite.py)
            assert cli._reads._store is None, args
        monkeypatch.setattr(cli, "_runtime", rt)
        orm = CliRunner().invoke(cli.app, list(args))
        return (lean.exit_code, lean.output), (orm.exit_code, orm.output)

    yield run
    if cli._reads is not None:
        cli._reads.close()
    cli._reads = None
    get_settings.cache_clear()


def test_read_commands_print_the_same_on_both_paths(world: Any, both_paths: Any) -> None:
    rt, _, pids, odd = world
    with rt.store.read() as s:
        first = repo.list_devices(s, limit=1)[0][0]
    for args in (["devices"], ["devices", "--status", "retired"], ["devices", "--region", first.region, "--limit", "3"],
                 ["devices", "--q", "50%_"], ["devices", "--subscriber", "50%_off\\x"], ["devices", "--status", "x"],
                 ["status"], ["show", "p-none"], *[["show", pid] for pid in pids]):
        lean, orm = both_paths(*args)
        assert lean == orm, args
        assert lean[0] == (2 if args[-1] in ("x", "p-none") else 0), lean
    shown, _ = both_paths("show", pids[0])
    assert "Orchard-Lantern-4417" not in shown[1] and "********" in shown[1]  # the secret stays masked
    uptime = re.compile(r"(UpTime\s*│\s*)\d+\s*")  # the one value that moves between two reads
    for device_id in (first.id, odd.id, "nope"):
        lean, orm = both_paths("device", device_id)
        assert lean[0] == orm[0]
        assert uptime.sub(r"\1N ", lean[1]) == uptime.sub(r"\1N ", orm[1])  # record, presence, every value


def test_settings_are_resolved_as_core_config_resolves_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.kernel.config import Settings
    from gateward import read_runtime
    from policies.engine import EmbeddedRegoEngine, OpaServerEngine

    cases: list[dict[str, str]] = [
        {}, {"GATEWARD_HOME": str(tmp_path / "h")}, {"gateward_home": str(tmp_path / "lower")},
        {"XDG_DATA_HOME": str(tmp_path / "xdg")}, {"GATEWARD_DATABASE_URL": "sqlite:////tmp/x.db"},
        {"GATEWARD_DATABASE_URL": "", "GATEWARD_HOME": str(tmp_path / "e")}, {"GATEWARD_HOME": "rel/home"},
        {"Gateward_Database_Url": "postgresql://u@h/db"}, {"GATEWARD_OPA_URL": "http://127.0.0.1:8181"},
        {"GATEWARD_OPA_URL": ""},
    ]
    monkeypatch.chdir(tmp_path)
    for case in cases:
        with monkeypatch.context() as m:
            for k in list(__import__("os").environ):
                if k.upper().startswith("GATEWARD_") or k == "XDG_DATA_HOME":
                    m.delenv(k)
            m.setenv("HOME", str(tmp_path / "user"))
            for k, v in case.items():
                m.setenv(k, v)
            s = Settings()
            assert read_runtime.home() == s.home, case
            assert read_runtime.database_url() == s.resolved_database_url(), case
            engine = OpaServerEngine if s.opa_url else EmbeddedRegoEngine
            assert read_runtime.policy_engine_name() == engine.name, case
