"""Invariant 4 against someone with database write access: truncation, deleting everything, forged
appends, edit + re-chain, out-of-sequence INSERTs (issue 10, defect 7).

Every tampering here leaves a chain whose plain sha256 links still hold, so the verify that only
followed links said "audit chain OK"; the keyed head, the keyed checkpoints and the anchor file
outside the database are what catch them. Runs on SQLite, and on PostgreSQL when configured.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core import audit
from core.kernel.errors import Conflict
from core.kernel.models import Device, utcnow
from core.store.schema import AuditEventRow

DEV = Device(id="OUI-T-1", vendor="V", model="M", firmware="1.0", subscriber="sub-1")


@pytest.fixture(autouse=True)
def _audit_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private key and home per test, so that anchor files never leak between tests."""
    monkeypatch.setenv("GATEWARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GATEWARD_AUDIT_KEY_FILE", str(tmp_path / "home" / "audit.key"))
    monkeypatch.setenv("GATEWARD_AUDIT_CHECKPOINT_EVERY", "2")
    monkeypatch.delenv("GATEWARD_AUDIT_KEY", raising=False)
    monkeypatch.delenv("GATEWARD_AUDIT_ANCHOR_FILE", raising=False)


def _fill(store: Any, n: int) -> None:
    for i in range(n):
        with store.write() as s:
            audit.append(s, actor="alice", action=f"test.{i}", device=DEV, proposal_id="p-1", data={"i": i})


def _verify(store: Any, **kw: Any) -> audit.ChainReport:
    """The ORM path's report — and the DB-API path of ``gateward audit verify`` (core.audit_lite)
    must reach exactly the same one, whatever the tampering (issue 39 item 7)."""
    from core import audit_lite
    from core.store.lite import connect

    with store.read() as s:
        report = audit.verify_chain(s, **kw)
    url = store.engine.url.render_as_string(hide_password=False)
    reader = connect(url)
    assert reader is not None, f"the DB-API path does not read {store.engine.url}"
    try:
        assert audit_lite.verify_chain(reader, url, **kw) == report
    finally:
        reader.close()
    return report


def _drop_guards(store: Any) -> None:
    """What an attacker with DBA rights does first."""
    with store.engine.begin() as c:
        if store.dialect == "sqlite":
            for name in ("audit_events_no_update", "audit_events_no_delete", "audit_events_in_sequence",
                         "audit_checkpoints_no_update", "audit_checkpoints_no_delete"):
                c.execute(text(f"DROP TRIGGER {name}"))
        else:
            c.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
            c.execute(text("DROP TRIGGER audit_events_in_sequence ON audit_events"))
            c.execute(text("DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints"))


def _forged_row(store: Any, seq: int, prev: str, actor: str = "mallory") -> AuditEventRow:
    ts = utcnow()
    data = {"note": "nothing to see"}
    h = audit._event_hash(seq, ts, actor, "proposal.approval_recorded", "p-1", None, None, None, None, data, prev)
    return AuditEventRow(seq=seq, ts=ts, actor=actor, action="proposal.approval_recorded", proposal_id="p-1",
                         device_id=None, subscriber=None, model=None, firmware=None, data=data, prev_hash=prev,
                         hash=h)


def _head(store: Any) -> tuple[int, str]:
    with store.read() as s:
        row = s.execute(text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")).one()
    return int(row[0]), str(row[1])


def _links_hold(store: Any) -> bool:
    """What verify checked before this fix: dense seq from 1, prev_hash links, recomputed hashes."""
    prev, n = audit.GENESIS, 0
    with store.read() as s:
        for row in audit._iter_rows(s):
            n += 1
            ok = row.seq == n and row.prev_hash == prev and row.hash == audit._event_hash(
                row.seq, row.ts, row.actor, row.action, row.proposal_id, row.device_id, row.subscriber, row.model,
                row.firmware, row.data, row.prev_hash)
            if not ok:
                return False
            prev = row.hash
    return True


# ---------------------------------------------------------------------------- truncation
def test_deleting_the_last_rows_is_truncation(store: Any) -> None:
    _fill(store, 5)
    _drop_guards(store)
    with store.engine.begin() as c:
        c.execute(text("DELETE FROM audit_events WHERE seq >= 4"))
    assert _links_hold(store)  # the old verify said OK here
    report = _verify(store)
    assert not report.ok and report.first_broken_seq == 4
    assert "truncated after seq 3" in report.message()


def test_truncation_with_a_replayed_head_is_caught_by_a_checkpoint(store: Any) -> None:
    _fill(store, 3)
    with store.read() as s:
        saved = s.execute(text("SELECT seq, hash, ts, key_id, mac FROM audit_head")).one()
    _fill(store, 2)  # checkpoint at seq 4 (every 2)
    _drop_guards(store)
    with store.engine.begin() as c:
        c.execute(text("DELETE FROM audit_events WHERE seq >= 4"))
        c.execute(text("UPDATE audit_head SET seq=:seq, hash=:hash, ts=:ts, key_id=:key_id, mac=:mac"),
                  dict(saved._mapping))
    assert _links_hold(store)
    report = _verify(store)
    assert not report.ok and report.first_broken_seq == 4
    assert "truncated after seq 3" in report.reason and "checkpoint" in report.reason


def test_deleting_every_row_is_caught_by_the_anchor_file(store: Any) -> None:
    _fill(store, 5)
    _drop_guards(store)
    with store.engine.begin() as c:
        for table in ("audit_events", "audit_head", "audit_checkpoints"):
            c.execute(text(f"DELETE FROM {table}"))
    assert _links_hold(store)
    report = _verify(store)
    assert not report.ok and report.first_broken_seq == 1
    assert "truncated after seq 0" in report.reason and "anchor file" in report.reason
    assert report.count == 0


# ---------------------------------------------------------------------------- forgery
def test_appended_event_with_a_valid_hash_is_forged(store: Any) -> None:
    _fill(store, 5)
    seq, prev = _head(store)
    with Session(store.engine) as s, s.begin():  # chains correctly, so even the INSERT trigger lets it in
        s.add(_forged_row(store, seq + 1, prev))
    assert _links_hold(store)
    report = _verify(store)
    assert not report.ok and report.first_broken_seq == 6
    assert "not covered by the keyed head" in report.reason


def test_next_append_records_the_forgery_instead_of_blessing_it(store: Any) -> None:
    _fill(store, 5)
    seq, prev = _head(store)
    with Session(store.engine) as s, s.begin():
        s.add(_forged_row(store, seq + 1, prev))
    _fill(store, 1)
    with store.read() as s:
        actions = [r.action for r in audit._iter_rows(s)]
    assert actions[6] == audit.TAMPER_ACTION and actions[7] == "test.0"
    report = _verify(store)
    assert not report.ok and report.first_broken_seq == 6
    with store.write() as s:  # the keyed head covers the alarm now, so the evidence cannot be dropped quietly
        assert audit.checkpoint(s).seq == 8
    assert _verify(store).first_broken_seq == 6


def test_anchor_refuses_to_bless_a_forged_head(store: Any) -> None:
    _fill(store, 3)
    seq, prev = _head(store)
    with Session(store.engine) as s, s.begin():
        s.add(_forged_row(store, seq + 1, prev))
    with store.write() as s, pytest.raises(Conflict, match="refusing to anchor"):
        audit.checkpoint(s)


def test_edit_and_rechain_is_caught_at_the_next_checkpoint(store: Any) -> None:
    _fill(store, 5)  # keyed checkpoints at seq 2 and 4
    _drop_guards(store)
    with store.read() as s:
        rows = list(audit._iter_rows(s))
    prev = rows[1].hash
    with store.engine.begin() as c:  # edit event 3 and recompute every plain hash after it
        for r in rows[2:]:
            actor = "mallory" if r.seq == 3 else r.actor
            h = audit._event_hash(r.seq, r.ts, actor, r.action, r.proposal_id, r.device_id, r.subscriber, r.model,
                                  r.firmware, r.data, prev)
            c.execute(text("UPDATE audit_events SET actor=:a, prev_hash=:p, hash=:h WHERE seq=:s"),
                      {"a": actor, "p": prev, "h": h, "s": r.seq})
            prev = h
    assert _links_hold(store)
    report = _verify(store)
    assert not report.ok and report.first_broken_seq == 4
    assert "re-chained" in report.reason


def test_checkpoint_forged_without_the_key_is_refused(store: Any) -> None:
    _fill(store, 5)
    _drop_guards(store)
    with store.engine.begin() as c:
        c.execute(text("UPDATE audit_checkpoints SET mac=:m WHERE seq=2"), {"m": "0" * 64})
    report = _verify(store)
    assert not report.ok and report.first_broken_seq == 2
    assert "not signed by this audit key" in report.reason


def test_verify_without_the_key_says_it_cannot_authenticate(store: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(store, 3)
    monkeypatch.setenv("GATEWARD_AUDIT_KEY_FILE", str(tmp_path / "elsewhere" / "audit.key"))
    report = _verify(store)
    assert not report.ok and "cannot be authenticated" in report.reason
    assert not (tmp_path / "elsewhere" / "audit.key").exists()  # verify never creates a key


# ---------------------------------------------------------------------------- the INSERT guard
@pytest.mark.parametrize("case", ["gap", "wrong_prev", "first_not_one"])
def test_out_of_sequence_insert_is_refused(store: Any, case: str) -> None:
    if case != "first_not_one":
        _fill(store, 3)
    seq, prev = _head(store) if case != "first_not_one" else (0, audit.GENESIS)
    row = {"gap": _forged_row(store, seq + 2, prev), "wrong_prev": _forged_row(store, seq + 1, "f" * 64),
           "first_not_one": _forged_row(store, 5, prev)}[case]
    with pytest.raises(DBAPIError, match="out-of-sequence"), Session(store.engine) as s, s.begin():
        s.add(row)
    report = _verify(store)
    assert report.ok and report.count == seq


def test_batch_append_passes_the_guard_and_checkpoints(store: Any) -> None:
    _fill(store, 1)
    with store.write() as s:
        n = audit.append_many(s, [{"actor": "campaign", "action": "device.applied", "device_id": f"d-{i}",
                                   "data": {"i": i}} for i in range(50)])
    assert n == 50
    report = _verify(store)
    assert report.ok and report.count == 51
    with store.read() as s:
        cps = s.execute(text("SELECT seq FROM audit_checkpoints")).scalars().all()
    assert list(cps) == [51]  # one checkpoint per batch that crosses a multiple, at the batch's head


def test_checkpoints_refuse_update_and_delete(store: Any) -> None:
    _fill(store, 2)
    for verb in ("UPDATE audit_checkpoints SET count=0", "DELETE FROM audit_checkpoints"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as c:
            c.execute(text(verb))


# ---------------------------------------------------------------------------- anchor file, key
def test_anchor_line_is_written_only_after_commit(store: Any, tmp_path: Path) -> None:
    _fill(store, 1)
    with pytest.raises(RuntimeError), store.write() as s:
        audit.append(s, actor="alice", action="will.roll.back")  # crosses seq 2: a checkpoint
        raise RuntimeError("abort")
    with store.read() as s:
        path = audit._default_anchor(s)
    assert path is not None and not path.exists()
    _fill(store, 1)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["seq"] for x in lines] == [2]
    assert _verify(store).ok


def test_key_file_is_created_private(store: Any, tmp_path: Path) -> None:
    _fill(store, 1)
    key = tmp_path / "home" / "audit.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32


def test_verify_says_what_it_checked_and_cannot_detect(store: Any) -> None:
    _fill(store, 5)
    report = _verify(store)
    assert report.ok and report.message() == "audit chain OK (5 events)"
    text_ = "\n".join(report.details())
    assert "5 events: every hash recomputed and 4 links followed" in text_
    assert "keyed head: seq 5" in text_ and "2 keyed checkpoints" in text_
    assert "anchor file" in text_ and "latest seq 4" in text_
    assert "gateward audit anchor" in text_ and "cannot detect:" in text_


# ---------------------------------------------------------------------------- CLI
@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import gateward.cli as cli_mod
    from core.kernel.config import get_settings

    monkeypatch.setenv("GATEWARD_DATABASE_URL", db_url)
    get_settings.cache_clear()
    cli_mod._runtime = None
    yield cli_mod
    if cli_mod._runtime is not None:
        cli_mod._runtime.close()
    cli_mod._runtime = None
    get_settings.cache_clear()


def test_cli_anchor_export_and_verify(cli: Any, tmp_path: Path) -> None:
    store = cli.rt().store
    _fill(store, 3)
    exported = tmp_path / "offhost.jsonl"
    out = CliRunner().invoke(cli.app, ["audit", "anchor", "--out", str(exported)])
    assert out.exit_code == 0, out.output
    line = json.loads(out.output.strip().splitlines()[-1])
    assert line["seq"] == 3 and json.loads(exported.read_text())["mac"] == line["mac"]
    ok = CliRunner().invoke(cli.app, ["audit", "verify", "--anchor", str(exported)])
    assert ok.exit_code == 0, ok.output
    assert "audit chain OK (3 events)" in ok.output and "offhost.jsonl: 1 lines" in ok.output
    assert "cannot detect" in ok.output
    # the attacker also deletes the anchor file on this host: the exported copy still says 3 events
    _drop_guards(store)
    with store.engine.begin() as c:
        for table in ("audit_events", "audit_head", "audit_checkpoints"):
            c.execute(text(f"DELETE FROM {table}"))
    with store.read() as s:
        local = audit._default_anchor(s)
    if local is not None:
        local.unlink(missing_ok=True)
    bad = CliRunner().invoke(cli.app, ["audit", "verify", "--anchor", str(exported)])
    assert bad.exit_code == 1
    assert "truncated after seq 0" in bad.output


def test_cli_verify_with_a_missing_anchor_file_is_a_clear_error(cli: Any, tmp_path: Path) -> None:
    out = CliRunner().invoke(cli.app, ["audit", "verify", "--anchor", str(tmp_path / "nope.jsonl")])
    assert out.exit_code == 2 and "anchor file not found" in out.output


# ---------------------------------------------------------------------------- API
def test_api_verify_reports_findings_checks_and_limits(sqlite_url: str) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from core.users import issue_token
    from tests.conftest import build_test_runtime

    rt = build_test_runtime(sqlite_url, homes=2)
    try:
        _fill(rt.store, 2)
        client = TestClient(create_app(rt), raise_server_exceptions=False)
        auth = {"Authorization": f"Bearer {issue_token(rt.store, 'erin')}"}
        good = client.get("/api/audit/verify", headers=auth).json()
        assert good["ok"] is True and good["findings"] == [] and good["checked"] and good["cannot_detect"]
        seq, prev = _head(rt.store)
        with Session(rt.store.engine) as s, s.begin():
            s.add(_forged_row(rt.store, seq + 1, prev))
        bad = client.get("/api/audit/verify", headers=auth).json()
        assert bad["ok"] is False and bad["first_broken_seq"] == seq + 1
        assert "not covered by the keyed head" in bad["findings"][0]["text"]
    finally:
        rt.close()


AWKWARD = ['say "hi"', "back\\slash", "{braces,commas}", "NULL", "", "tab\tnew\nline", "ünï ☃", '\\"', "a,b c"]


def test_awkward_values_are_stored_exactly_and_the_chain_verifies(store: Any) -> None:
    """Every column of a batch of events is stored as given, whatever the characters: on
    PostgreSQL the batch is sent as one array literal per column (core.audit._pg_array), so
    quotes, backslashes, braces, commas, the word NULL, empty strings and None must survive it."""
    events = [{"actor": v or "x", "action": f"test.{i}", "proposal_id": v, "device_id": None if i % 2 else v,
               "data": {"v": v, "list": [v, None], "Device.X.Name": v}} for i, v in enumerate(AWKWARD)]
    with store.write() as s:
        audit.append_many(s, events)
        audit.append(s, actor="a", action="test.device", device=Device(
            id='D"1\\', vendor="V", model='M{1}', firmware="NULL", subscriber=""), data={})
    with store.read() as s:
        rows = list(s.scalars(text("SELECT seq FROM audit_events ORDER BY seq")))
        stored = [audit.to_model(r) for r in s.query(AuditEventRow).order_by(AuditEventRow.seq)]
    assert len(rows) == len(AWKWARD) + 1
    for ev, got in zip(events, stored, strict=False):
        assert (got.actor, got.action, got.proposal_id, got.device_id) == (
            ev["actor"], ev["action"], ev["proposal_id"], ev["device_id"])
        assert got.data == ev["data"]
    last = stored[-1]
    assert (last.device_id, last.model, last.firmware, last.subscriber) == ('D"1\\', "M{1}", "NULL", "")
    assert _verify(store).ok
