"""PostgreSQL's ``sslmode``/``sslrootcert`` are passed through from ``GATEWARD_DATABASE_URL`` to
libpq, on the ORM path and the CLI's DB-API path alike (issue 36); a database that refuses the
connection — TLS required by the URL but not offered, a CA that does not sign the server's
certificate, a root certificate file that is missing — is one line from the CLI, not a traceback.

Against the shared test database (no TLS) and a private TLS PostgreSQL (``testing.pg_tls``) with
a certificate from a test CA.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from core.store.db import Store
from core.store.dburl import open_dbapi
from testing.cli import CliResult, run_cli

ROOT = Path(__file__).resolve().parents[2]


def _gateward(tmp_path: Path, url: str, *args: str) -> CliResult:
    """``gateward *args`` (``status`` by default) in process (``testing/cli.py``), with no ``GATEWARD_*``
    of the test's own."""
    env = {"GATEWARD_HOME": str(tmp_path / "home"), "GATEWARD_DATABASE_URL": url, "GATEWARD_POLICY_TIME": "02:30"}
    unset = tuple(k for k in os.environ if k.startswith("GATEWARD_") and k not in env)
    return run_cli(*(args or ("status",)), env=env, unset=unset, cwd=ROOT)


def _ssl_in_use(url: str) -> bool:
    store = Store(url, migrate=False)
    try:
        with store.read() as s:
            return bool(s.scalar(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")))
    finally:
        store.engine.dispose()


@pytest.fixture
def shared_pg() -> str:
    url = os.environ.get("GATEWARD_TEST_DATABASE_URL")
    if not url:
        pytest.skip("GATEWARD_TEST_DATABASE_URL is not set")
    return url.split("?", 1)[0]


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["disable", "prefer", "allow"])
def test_sslmode_passes_through_to_the_shared_database(shared_pg: str, mode: str) -> None:
    url = f"{shared_pg}?sslmode={mode}"
    assert _ssl_in_use(url) is False  # the shared server has no TLS: these modes connect without it
    lean = open_dbapi(url)  # the CLI's DB-API path reads the same options
    assert lean is not None
    lean[0].close()


@pytest.mark.postgres
def test_tls_demanded_of_a_server_without_it_is_one_line(shared_pg: str, tmp_path: Path) -> None:
    out = _gateward(tmp_path, f"{shared_pg}?sslmode=verify-full&sslrootcert={tmp_path / 'ca.pem'}")
    assert out.returncode == 2, out.stdout
    assert out.stderr.startswith("error: cannot open the database ")
    assert "server does not support SSL" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- a TLS PostgreSQL
@pytest.fixture(scope="module")
def tls_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import trustme

    from testing.pg_tls import server_binaries, tls_postgres

    if server_binaries() is None:
        pytest.skip("the PostgreSQL server binaries (initdb) are not installed")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = tmp_path_factory.mktemp("pg-ca")
    ca.cert_pem.write_to_path(str(files / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(files / "other-ca.pem"))
    try:
        with tls_postgres(b"".join(b.bytes() for b in cert.cert_chain_pems), cert.private_key_pem.bytes()) as url:
            yield {"url": url, "ca": files / "ca.pem", "other": files / "other-ca.pem"}
    except (KeyError, PermissionError) as exc:  # no postgres user to run it as
        pytest.skip(f"cannot run a private PostgreSQL here: {exc}")


@pytest.mark.slow
def test_verify_full_with_the_right_ca(tls_pg: dict[str, Any], tmp_path: Path) -> None:
    url = f"{tls_pg['url']}?sslmode=verify-full&sslrootcert={tls_pg['ca']}"
    assert _ssl_in_use(url) is True
    out = _gateward(tmp_path, url)
    assert out.returncode == 0, out.stderr
    assert "sslmode=verify-full" in out.stdout and "0 devices" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("case", ["wrong CA", "missing root file"])
def test_bad_sslrootcert_is_one_clear_line(tls_pg: dict[str, Any], tmp_path: Path, case: str) -> None:
    root = tls_pg["other"] if case == "wrong CA" else tmp_path / "nope.pem"
    out = _gateward(tmp_path, f"{tls_pg['url']}?sslmode=verify-full&sslrootcert={root}", "devices")
    assert out.returncode == 2, out.stdout
    assert out.stderr.startswith("error: cannot open the database ") and "Traceback" not in out.stderr
    expected = "certificate verify failed" if case == "wrong CA" else "does not exist"
    assert expected in out.stderr, out.stderr
