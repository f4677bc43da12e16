"""How many PostgreSQL connections one process keeps and may open is the platform team's to set
(``GATEWARD_DB_POOL_SIZE``, ``GATEWARD_DB_POOL_OVERFLOW``): every process's pools together must stay
under the server's ``max_connections`` (docs/deploy.md, "Connections")."""

from __future__ import annotations

import pytest

from core.kernel.config import Settings, setting_problems
from core.kernel.errors import Invalid
from core.store.db import make_engine

PG = "postgresql+psycopg://gateward@127.0.0.1:1/nowhere"  # never connected: the pool is built lazily


def test_the_pool_takes_its_sizes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_DB_POOL_SIZE", "4")
    monkeypatch.setenv("GATEWARD_DB_POOL_OVERFLOW", "7")
    engine = make_engine(PG)
    try:
        assert engine.pool.size() == 4  # type: ignore[attr-defined]
        assert engine.pool._max_overflow == 7  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_the_production_defaults_are_ten_kept_and_twenty_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWARD_DB_POOL_SIZE", raising=False)
    monkeypatch.delenv("GATEWARD_DB_POOL_OVERFLOW", raising=False)
    engine = make_engine(PG)
    try:
        assert (engine.pool.size(), engine.pool._max_overflow) == (10, 20)  # type: ignore[attr-defined]
    finally:
        engine.dispose()


@pytest.mark.parametrize(("name", "value"), [("GATEWARD_DB_POOL_SIZE", "0"), ("GATEWARD_DB_POOL_SIZE", "ten"),
                                             ("GATEWARD_DB_POOL_OVERFLOW", "-1")])
def test_a_malformed_size_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(Invalid) as err:
        make_engine(PG)
    assert name in err.value.message and "\n" not in err.value.message
    assert any(name in line for line in setting_problems(Settings))  # `gateward status` lists it too


def test_sqlite_has_no_pool_to_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SQLite file is one host's: the sizes do not apply, and a malformed one does not stop it."""
    monkeypatch.setenv("GATEWARD_DB_POOL_SIZE", "ten")
    engine = make_engine("sqlite://")
    try:
        assert engine.dialect.name == "sqlite"
    finally:
        engine.dispose()
