"""A TCP proxy a test (or the soak) controls, in front of a real server such as PostgreSQL.

Why: a database outage must be produced without stopping the machine's PostgreSQL, which other
suites and people use. Everything the application sends goes through this proxy; :meth:`TcpProxy.cut`
closes every open connection at once (the application reads EOF mid-statement, as when the server
or the network went away) and refuses new ones (``ECONNREFUSED``: the listening socket is closed),
and :meth:`TcpProxy.restore` listens again on the same port. The server itself never notices more
than clients that disconnected.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from types import TracebackType

BUF = 65536


class TcpProxy:
    """Forward ``127.0.0.1:port`` to ``target``; :meth:`cut` and :meth:`restore` at will."""

    def __init__(self, target_host: str, target_port: int, *, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._listener: socket.socket | None = None
        self._stopped = False
        self.cuts = 0
        self.port = port
        self._listen()

    # ------------------------------------------------------------------ control
    @property
    def is_cut(self) -> bool:
        return self._listener is None

    def cut(self) -> int:
        """Close every proxied connection and stop listening. Returns how many were cut."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, set()
            self.cuts += 1
        if listener is not None:
            _close(listener)
        for a, b in pairs:
            _close(a)
            _close(b)
        return len(pairs)

    def restore(self) -> None:
        """Listen again on the same port (no-op when not cut)."""
        with self._lock:
            if self._listener is not None or self._stopped:
                return
        self._listen()

    def close(self) -> None:
        self._stopped = True
        self.cut()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def url_for(self, url: str) -> str:
        """``url`` (a database URL naming the target) pointed at this proxy instead."""
        host, port = self.target
        for name in (f"{host}:{port}", f"localhost:{port}"):
            if name in url:
                return url.replace(name, f"127.0.0.1:{self.port}", 1)
        raise ValueError(f"{url!r} does not name {host}:{port}")

    # ------------------------------------------------------------------ plumbing
    def _listen(self) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(256)
        self.port = srv.getsockname()[1]
        with self._lock:
            self._listener = srv
        threading.Thread(target=self._accept, args=(srv,), name="tcp-proxy-accept", daemon=True).start()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return  # cut or closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            pair = (client, upstream)
            with self._lock:
                if self._listener is not srv:  # cut while connecting
                    _close(client)
                    _close(upstream)
                    return
                self._pairs.add(pair)
            threading.Thread(target=self._pump, args=(pair,), name="tcp-proxy-pump", daemon=True).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        a, b = pair
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for src in ready:
                    data = src.recv(BUF)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._pairs.discard(pair)
            _close(a)
            _close(b)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
