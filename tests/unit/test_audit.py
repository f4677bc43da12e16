"""Invariant 4: the audit log is append-only and hash-chained; verify names the first broken link."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import audit
from core.kernel.models import Device


def _fill(store, n: int = 5) -> None:
    dev = Device(id="OUI-PC-1", vendor="V", model="M", firmware="1.0", subscriber="sub-1")
    for i in range(n):
        with store.write() as s:
            audit.append(s, actor="alice", action=f"test.{i}", device=dev, proposal_id="p-1",
                         data={"i": i, "path": "Device.WiFi.Radio.1.Channel", "value": i})


def test_chain_verifies(store) -> None:
    _fill(store)
    with store.read() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.count == 5
    assert report.message() == "audit chain OK (5 events)"


def test_each_event_links_to_previous(store) -> None:
    _fill(store, 3)
    with store.read() as s:
        rows = s.execute(text("SELECT seq, prev_hash, hash FROM audit_events ORDER BY seq")).all()
    assert rows[0][1] == audit.GENESIS
    assert rows[1][1] == rows[0][2] and rows[2][1] == rows[1][2]


@pytest.mark.parametrize("verb", ["UPDATE audit_events SET actor='mallory' WHERE seq=2",
                                  "DELETE FROM audit_events WHERE seq=2"])
def test_database_refuses_update_and_delete(store, verb: str) -> None:
    _fill(store, 3)
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as c:
        c.execute(text(verb))
    with store.read() as s:
        assert audit.verify_chain(s).ok


def _drop_triggers(store) -> None:
    with store.engine.begin() as c:
        if store.dialect == "sqlite":
            c.execute(text("DROP TRIGGER audit_events_no_update"))
            c.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            c.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))


def test_verify_names_first_edited_event(store) -> None:
    _fill(store, 5)
    _drop_triggers(store)  # an attacker with DBA rights, or a restored hand-edited dump
    with store.engine.begin() as c:
        c.execute(text("UPDATE audit_events SET actor='mallory' WHERE seq=3"))
    with store.read() as s:
        report = audit.verify_chain(s)
    assert not report.ok and report.first_broken_seq == 3
    assert "event 3" in report.message()


def test_verify_names_deleted_event(store) -> None:
    _fill(store, 5)
    _drop_triggers(store)
    with store.engine.begin() as c:
        c.execute(text("DELETE FROM audit_events WHERE seq=4"))
    with store.read() as s:
        report = audit.verify_chain(s)
    assert not report.ok and report.first_broken_seq == 4


def test_secrets_are_masked_in_audit(store) -> None:
    with store.write() as s:
        audit.append(s, actor="alice", action="x", data={
            "changes": [{"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": "hunter2hunter2"}],
            "params": {"Device.WiFi.AccessPoint.1.Security.KeyPassphrase": "hunter2hunter2"}})
    with store.read() as s:
        raw = s.execute(text("SELECT data FROM audit_events")).scalar_one()
    assert "hunter2" not in str(raw)


# ---------------------------------------------------------------------------- keyed anchoring (issue 10, defect 7)
def test_short_env_key_is_a_clear_error(store, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.kernel.errors import Invalid

    monkeypatch.setenv("GATEWARD_AUDIT_KEY", "short")
    with pytest.raises(Invalid, match="too short"), store.write() as s:
        audit.append(s, actor="alice", action="x")
    monkeypatch.delenv("GATEWARD_AUDIT_KEY")
    with store.read() as s:
        assert audit.verify_chain(s).count == 0  # nothing was written


def test_a_different_key_is_named_not_silently_accepted(store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_AUDIT_KEY", "k" * 32)
    _fill(store, 2)
    monkeypatch.setenv("GATEWARD_AUDIT_KEY", "z" * 32)
    with store.read() as s:
        report = audit.verify_chain(s)
    assert not report.ok and "not signed by this audit key (it names key" in report.reason


def test_upgrade_anchors_an_existing_trail(db_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trail written before migration 0009 gets a keyed head at upgrade, so it verifies."""
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from core.kernel.models import utcnow
    from core.store import Store
    from core.store.schema import AuditEventRow

    monkeypatch.setenv("GATEWARD_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    old = Store(db_url, migrate=False)
    old.migrate("0008")
    prev = audit.GENESIS
    with Session(old.engine) as s, s.begin():
        for seq in (1, 2, 3):
            row = audit._Pending(utcnow(), "alice", "legacy", None, None, None, {"seq": seq}).linked(seq, prev)
            s.execute(insert(AuditEventRow), [row])
            prev = row["hash"]
    old.dispose()
    new = Store(db_url)
    try:
        with new.read() as s:
            report = audit.verify_chain(s)
            head = s.execute(text("SELECT seq FROM audit_head")).scalar_one()
        assert report.ok and report.count == 3 and head == 3
    finally:
        new.dispose()
