"""A cheap "is this database at the schema head?" check for read-only commands.

Why not ``Store.migrate()`` on every read: running Alembic's upgrade imports Alembic (~0.2 s) and
loads every migration script, on every ``gateward devices``, to find out that nothing needs doing.
Here the head is read from the migration files' ``revision`` / ``down_revision`` lines (text, no
import) and compared with ``alembic_version`` in one ``SELECT``. Anything unexpected (two heads,
an unreadable script, no version table, another revision) falls back to the real migration, so a
fresh or older database is still upgraded exactly as before; the check can only skip work, never
skip a migration that is due.

:func:`script_head` imports nothing beyond the standard library: the DB-API read path
(:mod:`core.store.lite`) asks it without loading SQLAlchemy. The functions taking a
:class:`~core.store.db.Store` import SQLAlchemy only when called.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.store.db import Store

# The same directory as core.store.db.MIGRATIONS (a test pins it); not imported from there, because
# that module imports SQLAlchemy.
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_SQL = "SELECT version_num FROM alembic_version"

_REVISION = re.compile(r"^revision\s*(?::\s*[^=]+)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::\s*[^=]+)?=\s*(None|['\"]([^'\"]+)['\"])", re.MULTILINE)


def script_head(migrations: Path = MIGRATIONS) -> str | None:
    """The single head revision of the migration scripts, or ``None`` when it cannot be told
    cheaply (a merge tuple, a script without a plain ``revision = "..."`` line, several heads)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((migrations / "versions").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(source), _DOWN.search(source)
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        if down.group(2):
            parents.add(down.group(2))
    heads = revisions - parents
    return next(iter(heads)) if len(heads) == 1 else None


def database_revisions(store: Store) -> set[str] | None:
    """What ``alembic_version`` says, or ``None`` when the table cannot be read (a fresh database)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with store.engine.connect() as conn:
            return {str(r) for r in conn.execute(text(VERSION_SQL)).scalars()}
    except SQLAlchemyError:
        return None


def at_head(store: Store, migrations: Path = MIGRATIONS) -> bool:
    """True only when the database holds exactly the scripts' single head."""
    head = script_head(migrations)
    return head is not None and database_revisions(store) == {head}


def open_for_reads(url: str | None = None) -> Store:
    """A store for a read command: migrated only when it is not already at head."""
    from core.store.db import Store

    store = Store(url, migrate=False)
    if not at_head(store):
        store.migrate()
    return store
