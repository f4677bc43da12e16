"""The migration head read from the files' revision lines (issue 38: a CLI turn on a migrated
database skips Alembic) is the head Alembic itself computes, and a database at that head is not
migrated again — one behind is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text


def test_head_from_the_files_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from core.store.db import MIGRATIONS, migration_head

    c = Config()
    c.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(c).get_heads() == [migration_head()]


def test_a_database_at_head_skips_alembic_and_one_behind_does_not(tmp_path: Path) -> None:
    from core.store.db import Store

    url = f"sqlite:///{tmp_path / 'g.db'}"
    Store(url).dispose()
    probe = ("import sys; from core.store.db import Store; Store(sys.argv[1]).dispose(); "
             "print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # at head: Alembic never loaded
    behind = Store(url, migrate=False)
    with behind.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0026'"))
    assert not behind._at_head()
    behind.dispose()
    fresh = Store(f"sqlite:///{tmp_path / 'fresh.db'}", migrate=False)
    assert not fresh._at_head()  # no alembic_version table yet
    fresh.dispose()
