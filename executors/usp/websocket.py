"""USP over WebSocket (TR-369 "WebSocket Binding"), the controller side, on the ``websockets`` library.

What TR-369 asks, and what this module does:

* **Subprotocol ``v1.usp``** (R-WS.9 to R-WS.12): a client must offer it, the server answers with it.
  The server refuses a handshake that does not offer it (HTTP 400), and a wrong path (404).
* **Who is at the other end.** A client names its endpoint ID in ``Sec-WebSocket-Extensions:
  bbf-usp-protocol; eid="..."`` (R-WS.10a); the OB-USP-Agent instead puts it in the URL query
  (``<path>?eid=<percent-encoded ID>``, its ``wsclient.c``). Both are read; failing both, the first
  Record's ``from_id`` names it. A server answers the extension with its own ``eid`` when the client
  sent it (R-WS.11a); the agent closes the connection if that is not its configured controller.
  Records on a connection must keep coming from the endpoint it was opened for: one naming
  another agent is dropped (counted ``wrong_sender``).
* **Records as binary frames** (R-WS.14). A text frame or a Record that cannot be parsed closes the
  connection with 1003 (R-WS.16).
* **Presence = the connection.** An agent is connected while its WebSocket is open; a connection it
  opened to us becomes a ``connect`` event (what makes an unknown agent pending onboarding) only with
  its first valid Record from the endpoint it claims — its ``WebSocketConnectRecord`` (USP 1.3), like
  ``mqtt_connect``, or any other — never with the handshake alone (anyone may knock);
  replies go back over the connection the agent is on (one session per pair, R-WS.4: a newer
  connection of the same agent replaces the older one, which is closed).
* **Keep-alive**: agents send Pings (R-WS.17); the server also pings every ``ping_interval_s`` and
  drops a connection that stops answering.
* **TLS** (R-WS.22): a certificate and key make it ``wss://``; a client CA makes client certificates
  required and verified against it. A client certificate naming USP endpoints (subjectAltName URI
  ``urn:bbf:usp:id:<endpoint ID>``, TR-369's form) binds its connection to them: a connection
  claiming another endpoint is closed (1008). One naming none binds nothing (the OB-USP-Agent's
  example certificates name none) — then any holder of a certificate from that CA may claim any
  endpoint ID, as any client of an MQTT broker without ACLs may subscribe to any agent's topic.
* **Either side may be the client** (R-WS.5/R-WS.6): :func:`connect_agent` opens a connection to an
  agent's own WebSocket server (its ``LocalAgent.MTP.{i}.WebSocket``), naming this controller with
  ``?eid=`` and the extension.

Why the extension is read and written by hand: ``websockets`` parses extension parameters as RFC 6455
tokens, and an endpoint ID such as ``proto::controller-gateward`` is a quoted string holding ``:``,
which is no token; the handshake would fail. So the server offers no extensions of the library's
own (no permessage-deflate — a Record is protobuf, and agents do not ask for it) and leaves the
header to this module, and the client accepts the agent's answer itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.extensions.base import Extension
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from executors.usp.transport import Receiver

log = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("v1.usp")
EXTENSION = "bbf-usp-protocol"
MTP = "WebSocket"
CLOSE_UNSUPPORTED = 1003  # R-WS.16: a frame whose Record cannot be extracted
MAX_RECORD = 4 * 1024 * 1024  # a GetSupportedDM answer of a large agent fits many times over

#: how a certificate names a USP endpoint: a subjectAltName URI ``urn:bbf:usp:id:<endpoint ID>`` (TR-369)
USP_ID_URI = "urn:bbf:usp:id:"

_EID = re.compile(r'(?:^|[;,\s])eid\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;,\s]+))')


def endpoint_from_extensions(values: list[str]) -> str | None:
    """The ``eid`` of a ``bbf-usp-protocol`` extension in ``Sec-WebSocket-Extensions`` header values."""
    for value in values:
        for item in value.split(","):
            name, _, params = item.strip().partition(";")
            if name.strip().lower() != EXTENSION:
                continue
            m = _EID.search(params)
            if m is not None:
                eid = m.group(1) if m.group(1) is not None else m.group(2)
                eid = re.sub(r"\\(.)", r"\1", eid).strip()
                if eid:
                    return eid
    return None


def endpoint_from_query(path: str) -> str | None:
    """The ``eid`` query argument of a request path (percent-decoded), as the OB-USP-Agent sends it."""
    values = parse_qs(urlsplit(path).query).get("eid")
    return values[0].strip() or None if values else None


def cert_endpoint_ids(peercert: Any) -> frozenset[str]:
    """The endpoint IDs a verified peer certificate names (``ssl`` ``getpeercert()`` form); empty when
    it names none or there is no certificate."""
    if not isinstance(peercert, dict):
        return frozenset()
    return frozenset(v[len(USP_ID_URI):] for k, v in peercert.get("subjectAltName", ())
                     if k == "URI" and isinstance(v, str) and v.startswith(USP_ID_URI))


def extension_header(endpoint_id: str) -> str:
    return f'{EXTENSION}; eid="{endpoint_id.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class WsSettings:
    """The controller's WebSocket server (``GATEWARD_USP_WS_*``, docs/configuration.md)."""

    host: str
    port: int
    path: str = "/usp"
    cert_file: str | None = None
    key_file: str | None = None
    client_ca_file: str | None = None  # set: client certificates required, verified against this CA
    ping_interval_s: float = 30.0

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server's TLS context (None: plain ``ws://``). Raises ValueError naming the setting
        when a file cannot be loaded."""
        if self.cert_file is None:
            if self.client_ca_file is not None:
                raise ValueError("GATEWARD_USP_WS_CLIENT_CA_FILE needs TLS: set GATEWARD_USP_WS_CERT_FILE too")
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"GATEWARD_USP_WS_CERT_FILE / _KEY_FILE ({self.cert_file}): cannot load: {exc}") from None
        if self.client_ca_file is not None:
            try:
                ctx.load_verify_locations(self.client_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"GATEWARD_USP_WS_CLIENT_CA_FILE ({self.client_ca_file}): cannot load: {exc}"
                                 ) from None
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def url(self, port: int | None = None) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"{'wss' if self.tls else 'ws'}://{host}:{self.port if port is None else port}{self.path}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WsSettings | None:
        """``GATEWARD_USP_WS_LISTEN`` (``host:port``; unset: no WebSocket server), ``_PATH`` (``/usp``),
        ``_CERT_FILE`` / ``_KEY_FILE`` (TLS), ``_CLIENT_CA_FILE`` (client certificates required),
        ``_PING_S`` (30). Bad values raise ValueError naming the variable."""
        e = os.environ if env is None else env
        listen = (e.get("GATEWARD_USP_WS_LISTEN") or "").strip()
        if not listen:
            return None
        host, sep, port_s = listen.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
            raise ValueError(f"GATEWARD_USP_WS_LISTEN={listen!r} must be host:port (e.g. 0.0.0.0:8081)")
        path = (e.get("GATEWARD_USP_WS_PATH") or "/usp").strip()
        if not path.startswith("/") or "?" in path:
            raise ValueError(f"GATEWARD_USP_WS_PATH={path!r} must be a URL path starting with '/'")
        raw_ping = (e.get("GATEWARD_USP_WS_PING_S") or "30").strip()
        try:
            ping = float(raw_ping)
        except ValueError:
            raise ValueError(f"GATEWARD_USP_WS_PING_S={raw_ping!r} is not a number") from None
        if ping <= 0:
            raise ValueError("GATEWARD_USP_WS_PING_S must be positive")
        cert = (e.get("GATEWARD_USP_WS_CERT_FILE") or "").strip() or None
        key = (e.get("GATEWARD_USP_WS_KEY_FILE") or "").strip() or None
        ca = (e.get("GATEWARD_USP_WS_CLIENT_CA_FILE") or "").strip() or None
        out = cls(host=host, port=int(port_s), path=path, cert_file=cert, key_file=key, client_ca_file=ca,
                  ping_interval_s=ping)
        out.ssl_context()  # say now, not at the first connection, that a file is wrong
        return out


def connect_urls_from_env(env: dict[str, str] | None = None) -> list[str]:
    """``GATEWARD_USP_WS_CONNECT``: agents' own WebSocket servers (``ws://`` / ``wss://`` URLs, comma
    separated) the controller connects to and keeps connected."""
    e = os.environ if env is None else env
    urls = [u.strip() for u in (e.get("GATEWARD_USP_WS_CONNECT") or "").split(",") if u.strip()]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"GATEWARD_USP_WS_CONNECT: {url!r} is not a ws:// or wss:// URL")
    return urls


def client_ssl_from_env(env: dict[str, str] | None = None) -> ssl.SSLContext:
    """The TLS context for ``wss://`` connections to agents: the system's CAs, or
    ``GATEWARD_USP_WS_CA_FILE``; the controller's certificate (``GATEWARD_USP_WS_CERT_FILE`` /
    ``_KEY_FILE``) is presented when set, for agents that ask for one."""
    e = os.environ if env is None else env
    ca = (e.get("GATEWARD_USP_WS_CA_FILE") or "").strip() or None
    try:
        ctx = ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"GATEWARD_USP_WS_CA_FILE ({ca}): cannot load: {exc}") from None
    cert = (e.get("GATEWARD_USP_WS_CERT_FILE") or "").strip() or None
    if cert is not None:
        try:
            ctx.load_cert_chain(cert, (e.get("GATEWARD_USP_WS_KEY_FILE") or "").strip() or None)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"GATEWARD_USP_WS_CERT_FILE ({cert}): cannot load: {exc}") from None
    return ctx


# --------------------------------------------------------------------------- one agent's connection


class WsLink:
    """One agent's WebSocket (either side may have opened it): the controller's :class:`Transport`.

    Sends go through a queue and one writer task, so a Record is handed over without a coroutine
    per send and the Records leave in the order they were sent."""

    mtp = MTP

    def __init__(self, conn: ServerConnection | ClientConnection, loop: asyncio.AbstractEventLoop, *,
                 endpoint_id: str | None, peer: str, cert_ids: frozenset[str] = frozenset()) -> None:
        self.conn = conn
        self.cert_ids = cert_ids  # the endpoint IDs the peer's verified certificate names (none: any)
        self.loop = loop
        self.endpoint_id = endpoint_id
        self.peer = peer
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._closed = False
        self.sent = 0
        self._writer = loop.create_task(self._write())

    @property
    def connected(self) -> bool:
        return not self._closed

    def may_be(self, endpoint_id: str) -> bool:
        """Whether this connection may speak for ``endpoint_id``: a client certificate that names USP
        endpoints (``urn:bbf:usp:id:``) binds the connection to them; one that names none binds nothing."""
        return not self.cert_ids or endpoint_id in self.cert_ids

    def send(self, payload: bytes) -> bool:
        if self._closed:
            return False
        self._queue.append(payload)
        self._wake.set()
        return True

    def send_threadsafe(self, payload: bytes) -> bool:
        if self._closed:
            return False
        self.loop.call_soon_threadsafe(self.send, payload)
        return True

    async def _write(self) -> None:
        queue, conn = self._queue, self.conn
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while queue:
                    await conn.send(queue.popleft())
                    self.sent += 1
        except ConnectionClosed:
            self._closed = True
        except asyncio.CancelledError:
            raise

    def close(self, code: int = 1000, reason: str = "") -> None:
        if not self._closed:
            self._closed = True
            self.loop.create_task(self.conn.close(code, reason))

    def _ended(self) -> None:
        self._closed = True
        self._writer.cancel()

    async def serve(self, receiver: Receiver) -> str:
        """Hand every Record to ``receiver`` until the connection ends; returns why it ended."""
        conn = self.conn
        try:
            async for message in conn:
                if isinstance(message, str):
                    await conn.close(CLOSE_UNSUPPORTED, "USP Records travel in binary frames (R-WS.14)")
                    break
                if not receiver.on_transport_record(self, message):
                    await conn.close(CLOSE_UNSUPPORTED, "malformed USP Record")
                    break
        except ConnectionClosed:
            pass
        finally:
            self._ended()
        rcvd = conn.protocol.close_rcvd
        sent = conn.protocol.close_sent
        if rcvd is not None:
            return f"WebSocket closed by the agent ({rcvd.code}{' ' + rcvd.reason if rcvd.reason else ''})"
        if sent is not None:
            return f"WebSocket closed by the controller ({sent.code}{' ' + sent.reason if sent.reason else ''})"
        return "WebSocket connection lost"


def _peer(conn: ServerConnection | ClientConnection) -> str:
    addr = conn.remote_address
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


# --------------------------------------------------------------------------- the server agents connect to


class WsServer:
    """The controller's WebSocket server (``GATEWARD_USP_WS_LISTEN``): agents connect, each
    connection is one agent (see the module docstring)."""

    def __init__(self, settings: WsSettings, receiver: Receiver, controller_id: str) -> None:
        self.settings = settings
        self.receiver = receiver
        self.controller_id = controller_id
        self.server: Server | None = None
        self.links: set[WsLink] = set()
        self.refused = 0

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the one the system chose for port 0)."""
        assert self.server is not None, "not started"
        return int(next(iter(self.server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        return self.settings.url(self.port if self.server is not None else None)

    async def start(self) -> WsServer:
        s = self.settings
        self.server = await serve(
            self._handler, s.host, s.port, ssl=s.ssl_context(), subprotocols=[SUBPROTOCOL], compression=None,
            process_request=self._process_request, process_response=self._process_response,
            ping_interval=s.ping_interval_s, ping_timeout=s.ping_interval_s, max_size=MAX_RECORD,
            server_header="Gateward USP controller",
        )
        log.info("USP WebSocket MTP listening on %s", self.url)
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path != self.settings.path:
            self.refused += 1
            return conn.respond(HTTPStatus.NOT_FOUND, f"no USP endpoint at {path}; try {self.settings.path}\n")
        offered = [p.strip() for v in request.headers.get_all("Sec-WebSocket-Protocol") for p in v.split(",")]
        if SUBPROTOCOL not in offered:
            self.refused += 1
            return conn.respond(HTTPStatus.BAD_REQUEST,
                                "a USP WebSocket client offers the subprotocol v1.usp (TR-369 R-WS.10)\n")
        return None

    def _process_response(self, conn: ServerConnection, request: Request, response: Response) -> Response | None:
        if response.status_code == HTTPStatus.SWITCHING_PROTOCOLS and \
                endpoint_from_extensions(request.headers.get_all("Sec-WebSocket-Extensions")) is not None:
            response.headers["Sec-WebSocket-Extensions"] = extension_header(self.controller_id)  # R-WS.11a
        return None

    async def _handler(self, conn: ServerConnection) -> None:
        request = conn.request
        assert request is not None
        eid = (endpoint_from_extensions(request.headers.get_all("Sec-WebSocket-Extensions"))
               or endpoint_from_query(request.path))
        link = WsLink(conn, asyncio.get_running_loop(), endpoint_id=eid, peer=_peer(conn),
                      cert_ids=cert_endpoint_ids(conn.transport.get_extra_info("peercert")))
        if eid is not None and not link.may_be(eid):
            self.refused += 1
            log.warning("refused a WebSocket from %s claiming USP endpoint %s: its certificate names %s", link.peer,
                        eid, ", ".join(sorted(link.cert_ids)))
            link._ended()
            await conn.close(1008, "the certificate names another endpoint")
            return
        self.links.add(link)
        log.info("USP agent %s connected over WebSocket from %s", eid or "(not named yet)", link.peer)
        if eid is not None:  # named in the handshake: reachable now; announced at its first valid Record
            self.receiver.on_transport_open(link, announce=False)
        try:
            reason = await link.serve(self.receiver)
        finally:
            self.links.discard(link)
        self.receiver.on_transport_closed(link, reason)


# --------------------------------------------------------------------------- the controller as the client


class _AgentAnswer(Extension):
    """The agent's ``bbf-usp-protocol`` answer, accepted as-is (it changes no frame)."""

    name = EXTENSION  # type: ignore[assignment]  # ExtensionName is a NewType of str

    def __init__(self, endpoint_id: str | None) -> None:
        self.endpoint_id = endpoint_id

    def decode(self, frame: Any, *, max_size: int | None = None) -> Any:
        return frame

    def encode(self, frame: Any) -> Any:
        return frame


class _UspClientConnection(ClientConnection):
    """A client connection that reads the agent's ``bbf-usp-protocol; eid="..."`` answer itself
    (see the module docstring: the library would refuse a quoted ``:``)."""

    def __init__(self, protocol: Any, **kwargs: Any) -> None:
        super().__init__(protocol, **kwargs)
        self.agent_id: str | None = None

        def process_extensions(headers: Headers) -> list[Extension]:
            values = headers.get_all("Sec-WebSocket-Extensions")
            others = [v for v in values if EXTENSION not in v.lower()]
            if others:
                raise InvalidHandshake(f"the agent answered with extensions not asked for: {others}")
            self.agent_id = endpoint_from_extensions(values)
            return []

        protocol.process_extensions = process_extensions


async def connect_agent(url: str, controller_id: str, receiver: Receiver, *, ssl_context: ssl.SSLContext | None = None,
                        endpoint_id: str | None = None, ping_interval_s: float = 30.0,
                        open_timeout_s: float = 10.0) -> tuple[WsLink, asyncio.Task[None]]:
    """Open a connection to an agent's WebSocket server (``ws://host:port/path`` or ``wss://``), naming
    this controller in the query (``?eid=``, as the OB-USP-Agent's server reads it) and in the
    ``bbf-usp-protocol`` extension (R-WS.10a). Returns the link and the task that reads it (done
    when the connection ends). Raises OSError / ``websockets`` errors when it cannot connect, and
    ValueError when the agent names a different endpoint than ``endpoint_id``."""
    parts = urlsplit(url)
    query = (parts.query + "&" if parts.query else "") + "eid=" + quote(controller_id, safe="-._~")
    target = parts._replace(query=query).geturl()
    conn = await connect(
        target, subprotocols=[SUBPROTOCOL], compression=None, ssl=ssl_context if parts.scheme == "wss" else None,
        additional_headers={"Sec-WebSocket-Extensions": extension_header(controller_id)},
        create_connection=_UspClientConnection, ping_interval=ping_interval_s, ping_timeout=ping_interval_s,
        open_timeout=open_timeout_s, max_size=MAX_RECORD, proxy=None,
    )
    assert isinstance(conn, _UspClientConnection)
    if conn.subprotocol != SUBPROTOCOL:  # the library checks it was offered, not that one was chosen
        await conn.close(1002, "no v1.usp subprotocol")
        raise InvalidHandshake(f"{url} did not accept the v1.usp subprotocol (TR-369 R-WS.12)")
    named = conn.agent_id
    if endpoint_id is not None and named is not None and named != endpoint_id:
        await conn.close(1008, "wrong endpoint")
        raise ValueError(f"{url} is agent {named!r}, not {endpoint_id!r}")
    link = WsLink(conn, asyncio.get_running_loop(), endpoint_id=named or endpoint_id, peer=_peer(conn))

    async def run() -> None:
        reason = await link.serve(receiver)
        receiver.on_transport_closed(link, reason)

    return link, asyncio.get_running_loop().create_task(run())
