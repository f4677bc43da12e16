"""Seeded databases built once per test process and copied for each use.

Why: migrating a database through every migration and seeding a fleet costs 1.5-4 s (more on
PostgreSQL, more on a busy machine), and ~half the suite's tests need one. A copy of a database
built once costs a file copy on SQLite and a ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL
(~0.2 s). The copy is the same database the slow path would have produced: the same migrations,
the same deterministic fleet, the same audit chain — with the chain's anchor file (named by the
database's URL, ``core.audit_anchor.anchor_path``) copied beside the new URL, so ``audit verify``
on a copy finds what it would have found on the original.

PostgreSQL copies are whole databases named ``gwt_<random>`` in the server of
``GATEWARD_TEST_DATABASE_URL``; dropping one forces a checkpoint (~1 s), so drops run on a
background thread and the session waits for them only at its end.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL, Engine

from testing.databases import DatabaseUnavailable

Build = Callable[[str], None]
"""Builds a database at the given URL (migrate, seed) and closes every connection to it."""


def _copy_audit_files(src: URL, dst: URL) -> None:
    from core.audit_anchor import anchor_path

    a, b = anchor_path(src), anchor_path(dst)
    if a is None or b is None:
        return
    for suffix in ("", ".head"):
        s = a.with_name(a.name + suffix)
        if s.exists():
            d = b.with_name(b.name + suffix)
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(s, d)


class Templates:
    """Template databases of this process, keyed by what built them."""

    def __init__(self, root: Path, pg_url: str | None) -> None:
        self.root = root
        self.pg_url = pg_url
        self._sqlite: dict[str, Path] = {}
        self._pg: dict[str, str] = {}
        self._lock = threading.Lock()
        self._drops: queue.Queue[str | None] = queue.Queue()
        self._dropper: threading.Thread | None = None
        self._admin: Engine | None = None

    # -- SQLite ------------------------------------------------------------------------------
    def sqlite_copy(self, key: str, build: Build, dest: Path) -> str:
        """A SQLite file at ``dest`` equal to the template ``key`` (built on first use)."""
        with self._lock:
            tpl = self._sqlite.get(key)
            if tpl is None:
                # the pid: mutmut forks its test runs from one process that made ``root``, and two
                # children building the same template in one file deleted each other's (false kills)
                tpl = self.root / f"tpl-{key}-{os.getpid()}.db"
                tpl.parent.mkdir(parents=True, exist_ok=True)
                for stale in tpl.parent.glob(tpl.name + "*"):
                    stale.unlink()
                build(f"sqlite:///{tpl}")
                self._sqlite[key] = tpl
        for suffix in ("", "-wal", "-shm"):
            if (src := Path(str(tpl) + suffix)).exists():
                shutil.copyfile(src, str(dest) + suffix)
        _copy_audit_files(make_url(f"sqlite:///{tpl}"), make_url(f"sqlite:///{dest}"))
        return f"sqlite:///{dest}"

    # -- PostgreSQL --------------------------------------------------------------------------
    def _base(self) -> URL:
        from core.store.db import normalise_url

        if not self.pg_url:
            raise DatabaseUnavailable("GATEWARD_TEST_DATABASE_URL is not set")
        return make_url(normalise_url(self.pg_url))

    def _admin_engine(self) -> Engine:
        if self._admin is None:
            self._admin = create_engine(self._base(), isolation_level="AUTOCOMMIT", pool_size=1)
        return self._admin

    def _create(self, name: str, template: str | None) -> None:
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        try:
            with self._admin_engine().connect() as c:
                c.execute(text(sql))
        except Exception as exc:
            raise DatabaseUnavailable(f"PostgreSQL at {self.pg_url} is not usable: {exc}") from exc

    def _disconnect(self, name: str) -> None:
        """End the connections the build left open (pooled engines the product keeps per URL):
        a database is only copied while nobody is connected to it, and nobody uses a template."""
        with self._admin_engine().connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})

    def pg_copy(self, key: str, build: Build) -> tuple[str, Callable[[], None]]:
        """A new PostgreSQL database equal to the template ``key``: (url, drop it)."""
        base = self._base()
        with self._lock:
            tpl = self._pg.get(key)
            if tpl is None:
                tpl = f"gwt_tpl_{uuid.uuid4().hex[:10]}"
                self._create(tpl, None)
                build(base.set(database=tpl).render_as_string(hide_password=False))
                self._disconnect(tpl)
                self._pg[key] = tpl
        name = f"gwt_{uuid.uuid4().hex[:12]}"
        self._create(name, tpl)
        url = base.set(database=name)
        _copy_audit_files(base.set(database=tpl), url)
        return url.render_as_string(hide_password=False), lambda: self.drop_later(name)

    def drop_later(self, name: str) -> None:
        """Drop ``name`` on the background thread (a drop waits for a checkpoint)."""
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_loop, name="template-drops", daemon=True)
            self._dropper.start()
        self._drops.put(name)

    def _drop_loop(self) -> None:
        while (name := self._drops.get()) is not None:
            try:
                with self._admin_engine().connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception:
                pass

    def close(self) -> None:
        """Drop every copy and template of this process; wait for the drops."""
        for name in self._pg.values():
            self.drop_later(name)
        if self._dropper is not None:
            self._drops.put(None)
            self._dropper.join(timeout=300)
        if self._admin is not None:
            self._admin.dispose()


def worker_id() -> str:
    """pytest-xdist's worker name (``gw0``...), or ``main`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")
