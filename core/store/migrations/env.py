"""Alembic environment: runs on the connection the Store hands over (or the URL in the config).

PostgreSQL: one transaction per migration (``transaction_per_migration``), so that a migration can
step out of its transaction (``autocommit_block``) to build an index ``CONCURRENTLY`` without
committing half of another. When the connection handed over is already in a transaction (a
caller's own), everything runs in that one and a migration cannot step out of it
(0028 then builds its indexes the blocking way). SQLite: one transaction for all, as the Store
opens it (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from core.store.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(conn: Connection) -> None:
    dialect = conn.dialect.name
    context.configure(connection=conn, target_metadata=target_metadata,
                      render_as_batch=dialect == "sqlite",
                      transaction_per_migration=dialect == "postgresql")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    connectable = engine_from_config(config.get_section(config.config_ini_section) or {},
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as conn:
        _run(conn)


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
