"""A private PostgreSQL that speaks TLS, for the tests of ``sslmode``/``sslrootcert`` (issue 36).

Why its own server: the shared test database (127.0.0.1:5432) runs without TLS, so against it a
``sslmode=verify-full`` URL can only fail with "server does not support SSL" — the CA, the
certificate and the host name are never checked. This one is made with ``initdb`` in a temporary
directory (~2 s), serves a certificate issued by the caller's CA for 127.0.0.1, listens on a free
port and is stopped with its directory removed. It needs the PostgreSQL server binaries
(``initdb``, ``postgres``); as root it runs as the ``postgres`` user, as PostgreSQL demands.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_NEEDED = ("initdb", "postgres", "pg_isready")


def server_binaries() -> Path | None:
    """The directory holding ``initdb``, ``postgres`` and ``pg_isready``, or ``None`` when they are
    not installed (a distribution keeps them off the ``PATH``, under ``/usr/lib/postgresql/N/bin``)."""
    found = shutil.which("initdb")
    dirs = [str(Path(found).parent)] if found else []
    dirs += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in dirs:
        if all(os.path.exists(os.path.join(candidate, name)) for name in _NEEDED):
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres() -> list[str]:
    """``runuser -u postgres --`` when running as root (initdb refuses root), else nothing."""
    if os.geteuid() != 0:
        return []
    pwd.getpwnam("postgres")  # KeyError: no such user, the caller skips
    return ["runuser", "-u", "postgres", "--"]


@contextlib.contextmanager
def tls_postgres(cert_pem: bytes, key_pem: bytes) -> Iterator[str]:
    """Start a TLS PostgreSQL serving ``cert_pem``/``key_pem``; yields
    ``postgresql+psycopg://postgres@127.0.0.1:<port>/postgres`` (trust auth, no password)."""
    bindir = server_binaries()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb) are not installed")
    prefix = _as_postgres()
    root = Path(tempfile.mkdtemp(prefix="gateward-pgtls-"))
    try:
        data, run = root / "data", root / "run"
        run.mkdir()
        (root / "server.crt").write_bytes(cert_pem)
        (root / "server.key").write_bytes(key_pem)
        os.chmod(root / "server.key", 0o600)
        if prefix:
            uid, gid = pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid
            for p in (root, run, root / "server.crt", root / "server.key"):
                os.chown(p, uid, gid)
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                        "--no-sync"], check=True, capture_output=True, timeout=120)
        port = _free_port()
        proc = subprocess.Popen(
            [*prefix, str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
             "-c", f"unix_socket_directories={run}", "-c", "ssl=on", "-c", f"ssl_cert_file={root / 'server.crt'}",
             "-c", f"ssl_key_file={root / 'server.key'}", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while True:
                ready = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                       capture_output=True)
                if ready.returncode == 0:
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise RuntimeError(f"the TLS PostgreSQL did not start: {err[-500:]}")
                time.sleep(0.1)
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


__all__ = ["server_binaries", "tls_postgres"]
