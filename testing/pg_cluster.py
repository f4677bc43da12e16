"""A private PostgreSQL cluster a test or the soak can stop and start again (issue 56).

Why its own cluster: a database outage cut at a TCP proxy leaves the server running — sessions end,
but no shutdown, no crash recovery, no "the database system is starting up" — and the shared test
server (127.0.0.1:5432) cannot be stopped under other suites. This one is made with ``initdb`` in a
temporary directory, run by the distribution's ``pg_ctl`` (Debian keeps it under
``/usr/lib/postgresql/N/bin``) on a free loopback port, stopped with ``-m immediate`` (the postmaster
and every backend killed without a checkpoint: what a crash or a power cut does) and started again on
the same port and data directory (crash recovery replays the WAL). As root it runs as the
``postgres`` user, as PostgreSQL demands.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from testing.pg_tls import _as_postgres, _free_port, server_binaries


class PgCluster:
    """``initdb`` + ``pg_ctl`` under a temporary directory; :attr:`url` is the superuser's database."""

    def __init__(self, *, port: int | None = None) -> None:
        bindir = server_binaries()
        if bindir is None or not (bindir / "pg_ctl").exists():
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bindir = bindir
        self.prefix = _as_postgres()
        self.root = Path(tempfile.mkdtemp(prefix="gateward-pgcluster-"))
        self.data, self.run, self.log = self.root / "data", self.root / "run", self.root / "postgres.log"
        self.run.mkdir()
        if self.prefix:
            pw = pwd.getpwnam("postgres")
            for p in (self.root, self.run):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        subprocess.run([*self.prefix, str(bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                        "--no-sync"], check=True, capture_output=True, timeout=120)
        self.port = port or _free_port()
        self.stops = 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
                              capture_output=True, text=True, timeout=timeout)

    def start(self) -> PgCluster:
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.run} "
                "-c fsync=off -c max_connections=200")
        r = self._ctl("-l", str(self.log), "-o", opts, "-w", "-t", "120", "start")
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {r.stdout}{r.stderr}{self.log_tail()}")
        return self

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: no checkpoint, every backend killed)."""
        r = self._ctl("-m", mode, "-w", "-t", "60", "stop")
        if r.returncode != 0 and "Is server running?" not in r.stderr:
            raise RuntimeError(f"pg_ctl stop failed: {r.stdout}{r.stderr}")
        self.stops += 1

    def running(self) -> bool:
        return self._ctl("status").returncode == 0

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        end = time.monotonic() + timeout_s
        while subprocess.run([str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                             capture_output=True).returncode != 0:
            if time.monotonic() > end:
                raise RuntimeError("the cluster did not become ready: " + self.log_tail())
            time.sleep(0.1)

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def close(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


__all__ = ["PgCluster"]
