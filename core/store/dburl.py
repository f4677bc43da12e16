"""Database URLs read the way SQLAlchemy reads them, without importing SQLAlchemy.

Why a copy: the read-only CLI commands open the database through the DB-API directly
(:mod:`core.store.lite`) so that ``gateward devices`` does not pay ~0.35 s for importing
SQLAlchemy. They must still connect to exactly the database the ORM would and label it exactly as
``gateward status`` always did, so this module follows ``sqlalchemy.engine.url``: the same
pattern (``_parse_url``), the same unquoting, the same rendering (``render_as_string``) and the
same connect arguments as the SQLite and psycopg dialects. ``tests/unit/test_store_lite.py``
compares every function here with SQLAlchemy over a corpus of URLs. Whatever this module cannot
read with certainty it returns as ``None``, and the caller takes the SQLAlchemy path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote

# sqlalchemy.engine.url._parse_url
_PATTERN = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
        """,
    re.X,
)


def normalise_url(url: str) -> str:
    """As :func:`core.store.db.normalise_url`: plain ``postgresql://`` means the psycopg 3 driver."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@dataclass(frozen=True)
class DbUrl:
    """The parts of a database URL, as ``sqlalchemy.engine.URL`` holds them."""

    drivername: str
    username: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: tuple[tuple[str, str], ...]  # in the URL's order; a key may repeat

    @property
    def backend(self) -> str:
        return self.drivername.split("+", 1)[0]

    def render(self, hide_password: bool = True) -> str:
        """``URL.render_as_string``: credentials quoted, the password as ``***``, query keys sorted."""
        s = self.drivername + "://"
        if self.username is not None:
            s += quote(self.username, safe=" +")
            if self.password is not None:
                s += ":" + ("***" if hide_password else quote(self.password, safe=" +"))
            s += "@"
        if self.host is not None:
            s += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            s += ":" + str(self.port)
        if self.database is not None:
            s += "/" + quote(self.database, safe=" +/")
        if self.query:
            grouped: dict[str, list[str]] = {}
            for k, v in self.query:
                grouped.setdefault(k, []).append(v)
            s += "?" + "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k in sorted(grouped) for v in grouped[k])
        return s


def parse(url: str) -> DbUrl | None:
    """The URL's parts, or ``None`` where SQLAlchemy would refuse it (no match, a port that is
    not a number)."""
    m = _PATTERN.match(url)
    if m is None:
        return None
    c = m.groupdict()
    port: int | None = None
    if c["port"]:
        try:
            port = int(c["port"])
        except ValueError:
            return None
    query = tuple(parse_qsl(c["query"])) if c["query"] is not None else ()
    return DbUrl(
        drivername=c["name"],
        username=unquote(c["username"]) if c["username"] is not None else None,
        password=unquote(c["password"]) if c["password"] is not None else None,
        host=c["ipv4host"] or c["ipv6host"],
        port=port,
        database=unquote(c["database"]) if c["database"] is not None else None,
        query=query,
    )


def label(url: str) -> str | None:
    """The URL without its password (``user:***@host``), as ``gateward status`` prints it."""
    parsed = parse(url)
    return None if parsed is None else parsed.render(hide_password=True)


def sqlite_file(url: DbUrl) -> str | None:
    """The absolute file a ``sqlite://`` URL names, as pysqlite opens it; ``None`` for an
    in-memory database or a URL with options (those stay with SQLAlchemy)."""
    if url.drivername not in ("sqlite", "sqlite+pysqlite") or url.query or url.host or url.username:
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return None
    return os.path.abspath(url.database)


def psycopg_kwargs(url: DbUrl) -> dict[str, Any] | None:
    """``psycopg.connect`` keyword arguments as SQLAlchemy's psycopg dialect builds them
    (``translate_connect_args(username="user", database="dbname")`` plus the query), or ``None``
    for what that dialect treats specially (several hosts, a repeated query key)."""
    if url.drivername != "postgresql+psycopg":
        return None
    query = dict(url.query)
    if len(query) != len(url.query) or "port" in query or any(c in query.get("host", "") for c in ",:"):
        return None  # several hosts or ports: the dialect rewrites them (``_split_multihost_from_url``)
    opts: dict[str, Any] = {}
    for key, value in (("host", url.host), ("database", url.database), ("username", url.username),
                       ("password", url.password), ("port", url.port)):
        if value:
            opts[{"username": "user", "database": "dbname"}.get(key, key)] = value
    opts.update(query)
    return opts


def open_dbapi(url: str, *, autocommit: bool = False) -> tuple[Any, str] | None:
    """A DB-API connection to the database ``url`` names and its backend (``sqlite`` or
    ``postgresql``), or ``None`` when the caller must take the SQLAlchemy path: an in-memory or
    optioned SQLite URL, a SQLite file that does not exist yet (SQLAlchemy creates and migrates
    it), a URL SQLAlchemy's psycopg dialect would rewrite, no psycopg, or a PostgreSQL this process
    cannot reach (the SQLAlchemy path then reports it as it always has).

    Why one opener: the CLI's store reader and the simulator's twin reader must open exactly the
    database the ORM would, the same way; a SQLite file is opened read-write without creating it."""
    import sqlite3

    parsed = parse(normalise_url(url))
    if parsed is None:
        return None
    if parsed.backend == "sqlite":
        path = sqlite_file(parsed)
        if path is None or not os.path.isfile(path):
            return None
        try:
            conn = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=30, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error:
            return None
        return conn, "sqlite"
    if parsed.backend == "postgresql":
        kwargs = psycopg_kwargs(parsed)
        if kwargs is None:
            return None
        try:
            import psycopg
        except ImportError:
            return None
        try:
            return psycopg.connect(**kwargs, autocommit=autocommit), "postgresql"
        except psycopg.Error:
            return None
    return None
