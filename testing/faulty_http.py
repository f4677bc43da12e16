"""An HTTP reverse proxy a test controls, in front of a real server, that misbehaves on purpose.

Why: the sign-in tests need an identity provider that fails the way real ones do — down, slow,
answering 500, answering garbage — at one endpoint and at one moment (after the browser came back
from a real login), while everything else stays the real provider (``oidc-provider``). The proxy
passes every request through unchanged (method, path, headers including ``Host``, body; every
``Set-Cookie``; redirects not followed) except on the paths it was told to break:

* ``drop`` — read the request, then close the connection without a byte of answer;
* ``hold`` — keep the request waiting, unanswered, until :meth:`FaultyHttpProxy.release` (or close):
  a provider too slow for its client's timeout, without a sleep of a chosen length;
* ``status`` — answer ``status`` with ``body`` (``content_type``) instead of the upstream's answer:
  a 500 HTML page from a load balancer, a 503 ``temporarily_unavailable`` in JSON, a 200 of garbage;
* ``drip`` — answer ``status`` with ``body`` one byte every ``interval_s``: a provider that keeps a
  connection alive without ever finishing its answer in time (no single read waits long).

:meth:`down` stops listening (new connections are refused, ``ECONNREFUSED``) and :meth:`up` listens
on the same port again.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                        "upgrade", "content-length"})


@dataclass(frozen=True)
class Fault:
    """What to do instead of forwarding (see the module's docstring)."""

    mode: str  # "drop" | "hold" | "status" | "drip"
    status: int = 500
    body: bytes = b""
    content_type: str = "text/html"
    interval_s: float = 0.25


class FaultyHttpProxy:
    """Forward ``http://127.0.0.1:port`` to ``upstream``; break the paths in :attr:`faults`."""

    def __init__(self, upstream: str, *, port: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port
        self.faults: dict[str, Fault] = {}
        self.hits: dict[str, int] = {}
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        # A jar that keeps nothing: the proxy stands in for many browsers, and a shared jar handed one
        # browser's provider session to the next client (a refused account arrived signed in as the
        # account Chromium had used before it, and was let in).
        self._client = httpx.Client(timeout=30, follow_redirects=False,
                                    cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))
        self.up()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ control
    def fail(self, path: str, fault: Fault) -> None:
        """Break every request whose path (without the query) is ``path``."""
        self._release.clear()
        with self._lock:
            self.faults[path] = fault

    def heal(self) -> None:
        """Forward everything again, and let held requests go (they are answered by the upstream)."""
        with self._lock:
            self.faults.clear()
        self._release.set()

    def release(self) -> None:
        self._release.set()

    def down(self) -> None:
        """Stop listening: a connection attempt is refused."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def up(self) -> None:
        if self._server is not None:
            return
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self._server = server
        threading.Thread(target=server.serve_forever, name="faulty-http", daemon=True).start()

    def close(self) -> None:
        self._release.set()
        self.down()
        self._client.close()

    def __enter__(self) -> FaultyHttpProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def _fault_for(self, path: str) -> Fault | None:
        with self._lock:
            fault = self.faults.get(path)
            if fault is not None:
                self.hits[path] = self.hits.get(path, 0) + 1
            return fault

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._fault_for(self.path.split("?", 1)[0])
                if fault is not None and fault.mode == "hold":
                    proxy._release.wait(120)  # then answered as if the provider had been slow
                    fault = None
                if fault is not None and fault.mode == "drop":
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(2)
                    return
                if fault is not None and fault.mode == "status":
                    self._answer(fault.status, [("content-type", fault.content_type)], fault.body)
                    return
                if fault is not None and fault.mode == "drip":
                    self._drip(fault)
                    return
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
                try:
                    resp = proxy._client.request(self.command, proxy.upstream + self.path, headers=headers,
                                                 content=body)
                except httpx.HTTPError:
                    self._answer(502, [("content-type", "text/plain")], b"upstream unreachable")
                    return
                kept = [(k, v) for k, v in resp.headers.multi_items()
                        if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding"]
                self._answer(resp.status_code, kept, resp.content)

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                with contextlib.suppress(OSError):  # the client gave up (a held request it timed out on)
                    self.send_response(status)
                    for k, v in headers:
                        self.send_header(k, v)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)

            def _drip(self, fault: Fault) -> None:
                with contextlib.suppress(OSError):  # the client gave up at its deadline
                    self.send_response(fault.status)
                    self.send_header("content-type", fault.content_type)
                    self.send_header("content-length", str(len(fault.body)))
                    self.end_headers()
                    self.wfile.flush()
                    for i in range(len(fault.body)):
                        if proxy._release.wait(fault.interval_s):
                            self.wfile.write(fault.body[i:])  # healed: the rest at once
                            return
                        self.wfile.write(fault.body[i:i + 1])
                        self.wfile.flush()

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = _serve

        return Handler
