"""People's names are unique as a reader sees them: in any letter case and Unicode form (issue 45).

``DAVE`` beside ``dave`` (by ``gateward users add`` or a sign-in) showed as two people who look the
same. Checked on SQLite and PostgreSQL: ``users add`` refuses a name another person holds in another
case, Unicode form (fullwidth letters, a decomposed accent, ``ß``/``ss``) — active or deactivated — and
names with invisible characters; the database itself refuses two active people with one key, whoever
adds them; and migration 0031 refuses to run over existing active duplicates (naming them, changing
nothing) rather than merging two people, runs once they are settled, and goes down without touching
anyone's tokens.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from core.kernel.errors import Invalid
from core.kernel.models import utcnow
from core.names import name_key, name_problem
from core.store import Store
from core.store.schema import ApiTokenRow, UserRow
from core.users import add_user, ensure_users, issue_token, revoke_user


@pytest.fixture
def fresh(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.dispose()


def test_the_key_is_the_name_a_reader_sees() -> None:
    same = ["dave", "DAVE", "Dave", "ｄａｖｅ", "ＤＡＶＥ"]
    assert {name_key(n) for n in same} == {"dave"}
    assert name_key("José") == name_key(unicodedata.normalize("NFD", "José")) == name_key("JOSÉ")
    assert name_key("straße") == name_key("STRASSE")
    assert name_key("dave") != name_key("dave2")
    assert name_problem("dave") is None and name_problem("jürgen.müller@noc") is None
    for bad in ("dave\u200b", "da ve", "dave\t", "", "x" * 65, "dave\u202e"):
        assert name_problem(bad) is not None, repr(bad)


@pytest.mark.parametrize("other", ["DAVE", "Dave", "ｄａｖｅ", "dave"])
def test_users_add_refuses_the_same_name_in_another_form(fresh: Store, other: str) -> None:
    add_user(fresh, "dave", ["admin"])
    with pytest.raises(Invalid, match="already exists" if other == "dave" else "another case or Unicode form"):
        add_user(fresh, other, ["auditor"])
    with fresh.read() as s:
        assert list(s.scalars(select(UserRow.id))) == ["dave"]


def test_a_deactivated_persons_name_stays_theirs(fresh: Store) -> None:
    add_user(fresh, "José", ["approver"])
    revoke_user(fresh, "José")
    with pytest.raises(Invalid, match="another case or Unicode form"):
        add_user(fresh, unicodedata.normalize("NFD", "JOSÉ"), ["approver"])


def test_invisible_characters_are_refused(fresh: Store) -> None:
    with pytest.raises(Invalid, match="invisible"):
        add_user(fresh, "dave\u200b", ["admin"])
    with pytest.raises(Invalid, match="spaces"):
        add_user(fresh, "da ve", ["admin"])


def test_the_database_refuses_two_active_people_with_one_key(fresh: Store) -> None:
    """Whichever process adds them (this one checks first; a racing one meets the unique index)."""
    add_user(fresh, "dave", ["admin"])
    now = utcnow()
    with pytest.raises(IntegrityError), fresh.write() as s:
        s.execute(insert(UserRow).values(id="DAVE", roles=[], kind="human", active=True, created_at=now))
    revoke_user(fresh, "dave")  # a deactivated holder does not block the index (the check above does)
    with fresh.write() as s:
        s.execute(insert(UserRow).values(id="DAVE", roles=[], kind="human", active=True, created_at=now))
    with fresh.read() as s:
        assert s.scalar(select(UserRow.name_key).where(UserRow.id == "DAVE")) == "dave"


def test_demo_people_are_not_added_beside_a_lookalike(fresh: Store) -> None:
    add_user(fresh, "ALICE", ["auditor"])
    ensure_users(fresh)
    with fresh.read() as s:
        ids = set(s.scalars(select(UserRow.id)))
    assert "ALICE" in ids and "alice" not in ids and "bob" in ids


def _insert_people(store: Store, *people: tuple[str, bool]) -> None:
    with store.engine.begin() as c:
        for uid, active in people:
            c.execute(text("INSERT INTO users (id, roles, kind, active, created_at) "
                           "VALUES (:id, '[\"approver\"]', 'human', :active, :at)"),
                      {"id": uid, "active": active, "at": utcnow().replace(tzinfo=None)})


def _columns(store: Store) -> set[str]:
    from sqlalchemy import inspect

    return {c["name"] for c in inspect(store.engine).get_columns("users")}


def test_migration_refuses_to_run_over_active_duplicates_then_runs_once_settled(db_url: str) -> None:
    store = Store(db_url, migrate=False)
    try:
        store.migrate("0030")
        _insert_people(store, ("dave", True), ("DAVE", True), ("José", True),
                       (unicodedata.normalize("NFD", "josé"), False), ("erin", True))
        with pytest.raises(Invalid) as refused:
            store.migrate()
        message = refused.value.message
        assert "'DAVE' and 'dave'" in message and "gateward users revoke" in message and "José" not in message
        assert "name_key" not in _columns(store)  # nothing changed
        with store.engine.begin() as c:
            c.execute(text("UPDATE users SET active = :off WHERE id = 'DAVE'"), {"off": False})
        store._migrated = False
        store.migrate()
        with store.read() as s:
            keys = {uid: key for uid, key in s.execute(select(UserRow.id, UserRow.name_key))}
        assert keys["DAVE"] == keys["dave"] == "dave" and keys["erin"] == "erin"
        assert keys["José"] == name_key("josé")
    finally:
        store.dispose()


def test_migration_goes_down_without_touching_tokens(db_url: str) -> None:
    """The column is dropped in place: a SQLite table copy would drop ``users`` and cascade to every
    token, session and identity."""
    from alembic import command

    store = Store(db_url)
    try:
        add_user(store, "ann", ["approver"])
        issue_token(store, "ann")
        cfg = store.alembic_config()
        with store._write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0030")
        assert "name_key" not in _columns(store)
        with store.read() as s:
            assert s.scalar(select(ApiTokenRow.user_id)) == "ann"
        store._migrated = False
        store.migrate()
        with store.read() as s:
            assert s.scalar(select(UserRow.name_key).where(UserRow.id == "ann")) == "ann"
    finally:
        store.dispose()
