"""``gateward audit verify`` on the DB-API read path (issue 39 item 7): the real command, in a
fresh process, reads the chain without SQLAlchemy or the schema, and still catches an edited row
and a broken link — with the same verdict, first finding and details as the ORM path
(``core.audit.verify_chain``). Both feed ``core.audit_chain.verify``; every tampering of
``tests/integration/test_audit_tamper.py`` compares the two paths as well. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from core import audit
from core.kernel.models import Device
from tests.integration.test_audit_tamper import _drop_guards

ROOT = Path(__file__).resolve().parents[2]
DEV = Device(id="OUI-L-1", vendor="V", model="M", firmware="1.0", subscriber="sub-1")
# What the DB-API path must not import (the ORM, the schema, the models).
ORM = ("sqlalchemy", "core.store.db", "core.store.schema", "core.kernel.models", "core.audit", "alembic")

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


@pytest.fixture(autouse=True)
def _audit_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GATEWARD_AUDIT_KEY_FILE", str(tmp_path / "home" / "audit.key"))
    monkeypatch.setenv("GATEWARD_AUDIT_CHECKPOINT_EVERY", "3")
    monkeypatch.delenv("GATEWARD_AUDIT_KEY", raising=False)
    monkeypatch.delenv("GATEWARD_AUDIT_ANCHOR_FILE", raising=False)


def _verify_cli(url: str) -> tuple[int, str, set[str]]:
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "COLUMNS": "250"}
    done = subprocess.run([sys.executable, "-c", _CHILD, "audit", "verify"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    marker = [ln for ln in done.stdout.splitlines() if ln.startswith("MODULES:")]
    assert marker, f"child failed: {done.stderr[-2000:]}"
    info = json.loads(marker[-1][len("MODULES:"):])
    return int(info["code"] or 0), done.stdout + done.stderr, set(info["loaded"])


def _orm(store: Any) -> audit.ChainReport:
    with store.read() as s:
        return audit.verify_chain(s)


def _fill(store: Any, n: int) -> None:
    for i in range(n):
        with store.write() as s:
            audit.append(s, actor="alice", action=f"test.{i}", device=DEV, proposal_id="p-1", data={"i": i})


def _same_as_orm(store: Any, db_url: str) -> tuple[int, str]:
    code, out, modules = _verify_cli(db_url)
    assert sorted(m for m in ORM if m in modules) == []  # the DB-API path, not the ORM's
    want = _orm(store)
    assert code == (0 if want.ok else 1)
    assert want.message() in out
    assert "\n".join(want.details()) in out
    return code, out


def test_lite_verify_of_an_intact_chain(store: Any, db_url: str) -> None:
    _fill(store, 7)
    code, out = _same_as_orm(store, db_url)
    assert code == 0 and "audit chain OK (7 events)" in out


def test_lite_verify_detects_an_edited_row(store: Any, db_url: str) -> None:
    _fill(store, 7)
    _drop_guards(store)
    with store.engine.begin() as c:  # the content changes, its stored hash does not
        c.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 5"))
    code, out = _same_as_orm(store, db_url)
    assert code == 1 and "audit chain BROKEN at event 5: content does not match its hash (edited)" in out


def test_lite_verify_detects_a_broken_link(store: Any, db_url: str) -> None:
    _fill(store, 7)
    _drop_guards(store)
    with store.engine.begin() as c:
        c.execute(text("UPDATE audit_events SET prev_hash = :h WHERE seq = 4"), {"h": "f" * 64})
    code, out = _same_as_orm(store, db_url)
    assert code == 1 and "audit chain BROKEN at event 4: prev_hash does not match the previous event's hash" in out


def test_lite_verify_detects_edited_json_data(store: Any, db_url: str) -> None:
    """``data`` is hashed as decoded JSON: the DB-API path must decode it as the ORM does."""
    _fill(store, 4)
    _drop_guards(store)
    with store.engine.begin() as c:
        c.execute(text("UPDATE audit_events SET data = :d WHERE seq = 2"), {"d": json.dumps({"i": 99})})
    code, out = _same_as_orm(store, db_url)
    assert code == 1 and "BROKEN at event 2: content does not match its hash (edited)" in out


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dgw_abc",
    "postgresql://user:p%40ss@db.example:5432/gw?sslmode=require&application_name=x y",
    "postgresql+psycopg://u:pw@[::1]:5432/gw", "postgresql+psycopg://u@h/d?a=2&a=1&b=%2F",
    "sqlite:////tmp/x/g.db", "sqlite:///rel/g.db", "sqlite://", "sqlite:////tmp/a b/g%20x.db"])
def test_both_paths_find_the_same_anchor_file(url: str) -> None:
    """The DB-API path names the anchor file from the URL text, the ORM path from the engine's URL:
    a different name would lose the file, and with it the evidence of a deleted tail."""
    import hashlib

    from sqlalchemy.engine import make_url

    from core.audit_anchor import anchor_path, settings
    from core.store.db import normalise_url

    engine_url = make_url(normalise_url(url))
    if engine_url.get_backend_name() == "sqlite":  # the name SQLAlchemy's parts gave before (beside the file)
        db = engine_url.database
        before = None if not db or db == ":memory:" else Path(db + "-audit-anchor.jsonl")
    else:
        ident = engine_url.set(password=None).render_as_string(hide_password=False)
        before = settings().home / "audit-anchors" / (hashlib.sha256(ident.encode()).hexdigest()[:16] + ".jsonl")
    assert anchor_path(url) == anchor_path(engine_url) == before
