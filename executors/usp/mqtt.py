"""One MQTT connection driven by an asyncio event loop, on top of paho-mqtt — no network thread.

Why not paho's ``loop_start()``: a USP controller holds thousands of agents' requests in flight
on one connection, and the agent simulator hosts thousands of agents on a few connections; both
want every request to be a coroutine, not a thread. paho supports exactly this through its
external-event-loop hooks (``on_socket_open`` / ``on_socket_register_write`` → ``loop_read`` /
``loop_write`` / ``loop_misc``), which is what :class:`MqttLink` wires to ``asyncio``.

Latency: the socket gets ``TCP_NODELAY`` as soon as paho opens it, and a publish is written to the
socket at once rather than on the next loop turn. The broker must do the same on its side
(Mosquitto: ``set_tcp_nodelay true``); otherwise Nagle's algorithm holds each small PUBLISH until
the peer's delayed ACK (~40 ms on Linux), and a request/response costs ~44 ms instead of ~1 ms.

Speed: PUBLISH and PUBACK — all of USP's traffic — are framed, encoded and decoded by
:mod:`executors.usp.mqtt_wire` rather than by paho, whose per-packet ``MQTTMessage`` and MQTT 5
``Properties`` handling was most of the CPU per USP Record; paho still runs the connection
(CONNECT, will, SUBSCRIBE, keepalive, DISCONNECT) and anything the codec declines.

MQTT 5 is the default (TR-369 R-MQTT.1); ``version=3`` speaks MQTT 3.1.1 (R-MQTT.2). The CONNECT
carries the ``usp-endpoint-id`` user property (R-MQTT.13) when an endpoint ID is given.

TLS and credentials: ``mqtts://[user[:password]@]host:port`` connects over TLS (the
handshake happens in paho's ``connect``, with the ``ssl.SSLContext`` of
:class:`~executors.usp.mqtt_tls.MqttSecurity`: ``GATEWARD_MQTT_CA_FILE``, a client certificate and key
for mutual TLS, hostname verification on); the user name and password (the URL's, else
``GATEWARD_MQTT_USERNAME`` / ``GATEWARD_MQTT_PASSWORD[_FILE]``) go in CONNECT on either MQTT version.
After the handshake the link reads and writes the ``SSLSocket`` like a plain one (the fast PUBLISH
path is the same); what differs is that TLS records are read one at a time, a "would block" is an
``SSLWant*Error``, and reads and writes from two threads are serialised (an OpenSSL connection is not
safe to use from two threads at once). Errors say what went wrong — a wrong password, a CA this
client does not trust, an expired certificate, TLS spoken to a plaintext port or the reverse — and a
URL is shown without its password everywhere (:func:`~executors.usp.mqtt_tls.redact_url`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.kernel.errors import GatewardError
from executors.usp import mqtt_wire as wire
from executors.usp.mqtt_tls import (
    PLAIN_SCHEMES,
    TLS_SCHEMES,
    MqttSecurity,
    explain_closed_plaintext,
    explain_refusal,
    explain_tls,
    redact_url,
)

if TYPE_CHECKING:
    from paho.mqtt.client import ConnectFlags, DisconnectFlags, SocketLike
    from paho.mqtt.reasoncodes import ReasonCode



class RawSocket(Protocol):
    """What :class:`BufferedSocket` needs of the socket paho opened (``socket.socket``, ``ssl.SSLSocket``):
    paho's own ``SocketLike`` declares ``send`` for bytes only, and the buffer sends memoryviews."""

    def recv(self, bufsize: int, /) -> bytes: ...

    def send(self, data: bytes | bytearray | memoryview, /) -> int: ...

    def close(self) -> None: ...

    def fileno(self) -> int: ...


def _reason_int(reason: ReasonCode | int) -> int:
    """A reason code's number (paho's ``ReasonCode`` carries it in ``value``)."""
    return reason if isinstance(reason, int) else int(reason.value)


_paho_clock: Callable[[], float] = getattr(paho, "time_func", time.monotonic)  # the clock paho's keepalive reads
# "try again later" from a non-blocking socket; a TLS socket says it with its own exceptions (OSErrors too)
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def broker_reachable(url: str, timeout: float = 2.0) -> bool:
    """Whether something accepts TCP connections at an ``mqtt://`` or ``mqtts://`` URL.

    Why a bare TCP probe: the CLI wants to say "no broker at URL" before it builds a controller
    whose connect would otherwise retry in the background and time out with a vaguer error."""
    try:
        addr = BrokerAddress.parse(url)
    except ValueError:
        return False
    try:
        with socket.create_connection((addr.host, addr.port), timeout=timeout):
            return True
    except OSError:
        return False


log = logging.getLogger(__name__)

USP_CONTENT_TYPE = "usp.msg"  # TR-369 R-MQTT.27
USP_CONTENT_TYPES = frozenset({"usp.msg", "application/vnd.bbf.usp.msg"})  # R-MQTT.27a
_client_ids = itertools.count(1)
#: a QoS 0 PUBLISH's fixed header for each remaining length under 4 KiB (made once: a request's
#: header is then one index)
_PUBLISH_QOS0_HEADS = [bytes((wire.PUBLISH,)) + wire.varint(n) for n in range(4096)]


class MqttError(GatewardError, ConnectionError):
    """The broker refused us, could not be reached, or dropped the connection. A ``ConnectionError``
    (what callers of the link catch) and a ``GatewardError`` (its message is what the CLI and the
    API show)."""

    code = "mqtt_unavailable"
    http_status = 503


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``mqtt://host:port`` (also ``tcp://``; default port 1883) or, over TLS,
        ``mqtts://host:port`` (also ``ssl://``, ``tls://``; default port 8883); either may carry
        ``user[:password]@`` (better: the password in ``GATEWARD_MQTT_PASSWORD_FILE``)."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        shown = redact_url(url)
        scheme = parts.scheme.lower()
        if scheme not in PLAIN_SCHEMES | TLS_SCHEMES:
            raise ValueError(f"unsupported MQTT URL {shown!r}: use mqtt://host:port, or mqtts://host:port for TLS")
        if not parts.hostname:
            raise ValueError(f"MQTT URL {shown!r} has no host; expected mqtt://host:port or mqtts://host:port")
        tls = scheme in TLS_SCHEMES
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise ValueError(f"MQTT URL {shown!r} has a bad port") from None
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(parts.hostname, port, tls, user, password)


@dataclass(slots=True)
class Inbound:
    """A received PUBLISH, reduced to what USP needs."""

    topic: str
    payload: bytes
    response_topic: str | None = None
    content_type: str | None = None
    qos: int = 0


@dataclass
class LinkStats:
    published_loop: int = 0  # written by the loop's thread alone (no lock per PUBLISH)
    published_threadsafe: int = 0  # by publish_threadsafe's callers, under the link's stats lock
    received: int = 0
    connects: int = 0
    disconnects: int = 0
    publish_errors: int = 0
    dropped_bad_utf8: int = 0  # PUBLISHes whose topic or properties are not UTF-8 (acknowledged, dropped)
    puback_refused: int = 0  # our QoS 1 PUBLISHes the broker acknowledged with an error reason code
    handed_to_paho: int = 0  # PUBLISHes the fast codec declined (QoS 2, topic alias, malformed)
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def published(self) -> int:
        """PUBLISHes written, from any thread."""
        return self.published_loop + self.published_threadsafe


@dataclass(frozen=True)
class Will:
    """A last-will message: the broker publishes it if the connection dies without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False  # an empty retained will clears a retained marker (the controller group's session holder)


class BufferedSocket:
    """The socket paho sees: its reads come from packets :class:`MqttLink` hands over, its writes
    are gathered and sent once per event-loop turn.

    Why: paho reads every packet's fixed header one byte per ``recv`` and writes every packet with
    its own ``send`` — three to five system calls per USP message, each a chance to be descheduled
    on a busy machine. Here the link reads the kernel (up to 64 KiB per readiness event), frames
    the packets itself, handles PUBLISH and PUBACK with :mod:`executors.usp.mqtt_wire`, and
    :meth:`feed` s every other packet (CONNACK, SUBACK, PINGRESP, DISCONNECT, ...) to paho, which
    reads it from here. Writes are gathered while the event loop runs callbacks and go out in one
    ``send`` at the end of that turn (with TCP_NODELAY, straight away); the first write of a turn
    goes out at once — except while the link handles a read (:meth:`cork`): what that read's
    messages cause (answers, NotifyResps, PUBACKs) leaves in one ``send`` when it is done.
    :meth:`send_threadsafe` lets another thread write a whole packet (the executor's synchronous
    requests), under the same lock.
    """

    __slots__ = ("_corked", "_eof", "_error", "_flush_scheduled", "_in", "_lock", "_loop", "_out", "_sock",
                 "_writer_on", "last_error", "on_error", "tls")

    def __init__(self, sock: RawSocket, loop: asyncio.AbstractEventLoop, *, tls: bool = False) -> None:
        self._sock = sock
        self.tls = tls
        self._loop = loop
        self._in = b""
        self._eof = False
        self._error: OSError | None = None
        self._out = bytearray()
        self._flush_scheduled = False
        self._writer_on = False
        self._corked = False
        self._lock = threading.Lock()
        self.on_error: Callable[[], None] | None = None
        self.last_error: OSError | None = None  # why a write failed (a TLS alert when there was one)

    @property
    def raw(self) -> RawSocket:
        return self._sock

    def _failed_write(self, exc: OSError) -> OSError:
        """A write failed. On TLS the reason is often an alert waiting to be read — the broker refused
        our client certificate and hung up — so read it, and keep whichever error says most."""
        if self.tls and (not isinstance(exc, ssl.SSLError) or isinstance(exc, ssl.SSLEOFError)):
            try:
                self._sock.recv(1)
            except ssl.SSLError as alert:
                if not isinstance(alert, (ssl.SSLWantReadError, ssl.SSLWantWriteError)):
                    exc = alert
            except OSError:
                pass
        self.last_error = exc
        return exc

    def read_tls(self) -> bytes:
        """What the TLS connection has decrypted, up to 64 KiB, under the write lock: OpenSSL must not
        read and write one connection from two threads at once, and :meth:`send_threadsafe` writes
        from the executor's. Raises ``BlockingIOError`` when nothing is ready.

        Why a loop: one ``recv`` returns one TLS record, and the broker writes each PUBLISH as a
        record of its own, so reading one per loop wakeup handled one message per turn — with a
        write per turn — under a fan-out (half the plaintext rate, measured). Reading until the
        kernel has no more (one "would block" per wakeup) keeps a storm's batching."""
        sock = cast("ssl.SSLSocket", self._sock)
        with self._lock:
            try:
                data = sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise BlockingIOError from None
            if not data:
                return data
            chunks = [data]
            got = len(data)
            while got < 65536:
                try:
                    more = sock.recv(65536 - got)
                except _WOULD_BLOCK:
                    break
                except OSError:  # the next read reports it
                    break
                if not more:
                    break
                chunks.append(more)
                got += len(more)
            return b"".join(chunks) if len(chunks) > 1 else data

    def feed(self, packet: bytes) -> None:
        """A whole packet for paho's next ``loop_read``."""
        self._in = packet

    def fail(self, error: OSError | None) -> None:
        """The connection ended (``None``: the peer closed it): paho's next read says so."""
        self._eof = True
        self._error = error

    def recv(self, bufsize: int) -> bytes:
        data = self._in
        if data:
            if len(data) <= bufsize:
                self._in = b""
                return data
            self._in = data[bufsize:]
            return data[:bufsize]
        if self._eof:
            if self._error is not None:
                raise self._error
            return b""
        raise BlockingIOError  # nothing handed over: paho waits for the next packet

    def cork(self) -> None:
        """Hold the loop thread's writes until :meth:`uncork` (while the link handles one read)."""
        self._corked = True

    def uncork(self) -> None:
        """Write what was held, in one ``send`` (the rest, if the kernel pushes back, when writable)."""
        self._corked = False
        if self._out and not self._writer_on and not self._flush_scheduled:
            self.flush()

    def send(self, data: bytes | bytearray | memoryview) -> int:
        with self._lock:
            if self._corked:
                self._out += data
                return len(data)
            if not self._flush_scheduled and not self._writer_on and not self._out:
                # The first write of this loop turn goes out at once (a lone request pays no extra
                # turn); later writes in the same turn are gathered and flushed together.
                self._flush_scheduled = True
                self._loop.call_soon(self.flush)
                try:
                    sent = self._sock.send(data)
                except _WOULD_BLOCK:
                    sent = 0
                except OSError as exc:
                    raise self._failed_write(exc) from None
                if sent < len(data):
                    self._out += memoryview(data)[sent:]
                return len(data)
            self._out += data
            if not self._flush_scheduled and not self._writer_on:
                self._flush_scheduled = True
                self._loop.call_soon(self.flush)
            return len(data)

    def send_threadsafe(self, data: bytes) -> None:
        """Write one whole packet from a thread other than the loop's (sent at once when nothing
        is queued in front of it; else queued behind, in order)."""
        with self._lock:
            if not self._out and not self._writer_on:
                try:
                    sent = self._sock.send(data)
                except _WOULD_BLOCK:
                    sent = 0
                except OSError as exc:
                    raise self._failed_write(exc) from None
                if sent == len(data):
                    return
                self._out += memoryview(data)[sent:]
            else:
                self._out += data
            if not self._flush_scheduled and not self._writer_on:
                self._flush_scheduled = True
                self._loop.call_soon_threadsafe(self.flush)

    def flush(self) -> None:
        failed = False
        with self._lock:
            self._flush_scheduled = False
            while self._out:
                try:
                    sent = self._sock.send(self._out)
                except _WOULD_BLOCK:  # (TLS: the retry must offer the same bytes again; _out still starts with them)
                    break
                except OSError as exc:
                    self._failed_write(exc)
                    self._out.clear()
                    failed = True
                    break
                del self._out[:sent]
            if not failed:
                if self._out and not self._writer_on:
                    self._writer_on = True
                    self._loop.add_writer(self._sock, self._writable)
                elif not self._out and self._writer_on:
                    self._writer_on = False
                    self._loop.remove_writer(self._sock)
        if failed and self.on_error is not None:
            self.on_error()

    def _writable(self) -> None:
        self.flush()

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(OSError):
                if self._out:
                    self._sock.send(self._out)
            self._out.clear()
            if self._writer_on:
                self._writer_on = False
                with contextlib.suppress(Exception):
                    self._loop.remove_writer(self._sock)
        self._sock.close()

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def __getattr__(self, name: str) -> Any:  # setblocking, setsockopt, shutdown, ...
        return getattr(self._sock, name)


class MqttLink:
    """One MQTT connection on the running asyncio loop.

    ``on_message`` is called on the loop for every PUBLISH; ``on_connection`` with ``True`` after
    every (re)connect (subscriptions already restored) and ``False`` when the connection is lost.
    With ``reconnect=True`` a lost connection is retried with backoff until :meth:`close`.

    PUBLISH (QoS 0 and 1, both ways) and PUBACK are encoded and decoded by
    :mod:`executors.usp.mqtt_wire`; paho drives the connection (CONNECT, will, SUBSCRIBE,
    keepalive, DISCONNECT) and gets every other packet. ``security`` (default: the ``GATEWARD_MQTT_*``
    settings) supplies the TLS context for an ``mqtts://`` URL and the credentials; :attr:`url` is the
    URL without its password (for messages). As with paho before, a QoS 1 PUBLISH not
    acknowledged when the connection drops is not re-sent on the next connection (each connect
    starts a fresh client); USP's own retries (an agent's unanswered notification, a
    controller's timed-out request) cover that.
    """

    def __init__(
        self,
        url: str,
        *,
        client_id: str | None = None,
        endpoint_id: str | None = None,
        version: int = 5,
        on_message: Callable[[Inbound], None] | None = None,
        on_connection: Callable[[bool], None] | None = None,
        keepalive: int = 60,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        will: Will | None = None,
        reconnect: bool = True,
        nodelay: bool = True,
        security: MqttSecurity | None = None,
    ) -> None:
        if version not in (3, 5):
            raise ValueError("MQTT version must be 5 or 3 (3.1.1)")
        self.address = BrokerAddress.parse(url)
        self.url = redact_url(url)  # what messages and logs show: never a password
        self._where = f"{self.address.host}:{self.address.port}"
        try:
            self.security = security if security is not None else MqttSecurity.from_settings()
        except ValueError as exc:  # an unreadable GATEWARD_MQTT_PASSWORD_FILE, a malformed setting
            raise MqttError(f"MQTT settings for {self.url}: {exc}") from None
        self.username = self.address.username or self.security.username
        self._password = self.address.password if self.address.password is not None else self.security.password
        self._tls_context: ssl.SSLContext | None = None
        if self.address.tls:
            try:
                self._tls_context = self.security.context()
            except ValueError as exc:
                raise MqttError(f"cannot set up TLS for {self.url}: {exc}") from None
        self._last_error: BaseException | None = None  # why the connection ended, for a CONNACK never received
        self.version = version
        self.endpoint_id = endpoint_id
        self.client_id = client_id or f"gw-{next(_client_ids)}-{id(self) & 0xFFFFFF:x}"
        self.on_message = on_message
        #: a receiver's fast path for what it receives most: offered the bytes read whenever a QoS 0
        #: PUBLISH (no DUP, no RETAIN) starts at ``pos``, as (the bytes, pos, where they end), it handles
        #: as many whole packets from there as it takes and returns (where it stopped, how many it
        #: handled); the packet it stopped at is decoded and given to ``on_message`` as usual. It must
        #: not keep the bytes, and raises for nothing it reads (a bug: the packet goes the usual way).
        self.on_publish: Callable[[bytes, int, int], tuple[int, int]] | None = None
        self.on_connection = on_connection
        self.keepalive = keepalive
        self.clean_start = clean_start
        self.session_expiry_s = session_expiry_s
        self.will = will
        self.auto_reconnect = reconnect
        self.nodelay = nodelay
        self.stats = LinkStats()
        self.connected = False
        self._subscriptions: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connack: asyncio.Future[int] | None = None
        self._suback: dict[int, asyncio.Future[list[int]]] = {}
        self._misc_task: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closing = False
        self._sock: BufferedSocket | None = None
        self._used = False
        self._write_soon = False
        self._session_present = False
        # topic -> its encoded form, and the MQTT 5 property blocks: strings and bytes only, nothing
        # for the cyclic GC to scan (a storm publishes to 200,000 agents once each)
        self._topic_fields: dict[str, bytes] = {}
        self._props: dict[str | None, dict[str | None, bytes]] = {}  # content type -> response topic -> block
        self._rbuf = b""  # the start of a packet not yet complete
        self._stats_lock = threading.Lock()
        self._client = self._make_client()

    # ------------------------------------------------------------------ paho wiring
    def _make_client(self) -> paho.Client:
        protocol = paho.MQTTv5 if self.version == 5 else paho.MQTTv311
        kwargs: dict[str, Any] = {}
        if self.version == 3:
            kwargs["clean_session"] = self.clean_start
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=protocol, **kwargs
        )
        # 0 = no limit. With any limit paho rescans every unacknowledged QoS 1 message on each
        # PUBACK (O(n^2) under a notification storm); the broker's Receive Maximum still applies.
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        if self._tls_context is not None:
            client.tls_set_context(self._tls_context)
        if self.username is not None or self._password is not None:
            client.username_pw_set(self.username or "", self._password)
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, qos=self.will.qos, retain=self.will.retain)
        return client

    def _on_socket_open(self, client: paho.Client, _ud: object, sock: SocketLike) -> None:
        assert self._loop is not None
        if self.nodelay:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]
        wrapped = BufferedSocket(cast("RawSocket", sock), self._loop,  # a real socket, whatever paho declares
                                 tls=isinstance(sock, ssl.SSLSocket))
        wrapped.on_error = self._on_write_error
        client._sock = wrapped  # paho takes any socket-like object here (it does for websockets)
        self._sock = wrapped
        self._rbuf = b""
        self._loop.add_reader(sock, self._readable)
        if self._misc_task is None or self._misc_task.done():
            self._misc_task = self._loop.create_task(self._misc())

    def _on_socket_close(self, client: paho.Client, _ud: object, sock: SocketLike) -> None:
        if self._last_error is None:  # a write that failed knows why (a TLS alert)
            self._last_error = getattr(sock, "last_error", None)
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(sock)
            with contextlib.suppress(Exception):
                self._loop.remove_writer(sock)
        self._sock = None

    def _on_register_write(self, client: paho.Client, _ud: object, sock: SocketLike) -> None:
        # writes never block here (the buffer takes them): hand paho's queue over on the next
        # turn instead of churning epoll registrations for every packet
        if self._loop is not None and not self._write_soon:
            self._write_soon = True
            self._loop.call_soon(self._write_now)

    def _write_now(self) -> None:
        self._write_soon = False
        if self._sock is not None:
            self._client.loop_write()

    def _on_unregister_write(self, client: paho.Client, _ud: object, sock: SocketLike) -> None:
        pass  # the buffered socket registers its own writer when the kernel pushes back

    def _readable(self) -> None:
        """One kernel read (<= 64 KiB: a storm cannot monopolise the loop), then every complete
        packet in it: PUBLISH and PUBACK here, the rest through paho."""
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.read_tls() if sock.tls else sock.raw.recv(65536)
        except _WOULD_BLOCK:
            return
        except OSError as exc:
            self._last_error = exc
            sock.fail(exc)
            self._client.loop_read()  # paho reports the loss (on_disconnect, reconnect)
            return
        if not data:
            self._last_error = EOFError("the broker closed the connection")
            sock.fail(None)
            self._client.loop_read()
            return
        # Bytes arrived: tell paho's keepalive, which otherwise only sees the packets it reads itself
        # and would drop a busy connection whose PINGRESP is queued behind a storm of PUBLISHes.
        self._client._last_bytes_received = _paho_clock()
        buf = self._rbuf + data if self._rbuf else data
        self._rbuf = b""
        n = len(buf)
        pos = 0
        v5 = self.version == 5
        deliver = self.on_message
        fast = self.on_publish
        decode = wire.decode_publish
        # QoS 1 packet ids to acknowledge, in order: one write for the whole read rather than a
        # PUBACK object and a locked write per PUBLISH. Sent before paho sees any packet, so
        # acknowledgements still leave in the order the PUBLISHes came (MQTT-4.6.0-2).
        acks: list[int] = []
        received = 0
        # Everything written while this read is handled (answers, NotifyResps, PUBACKs) leaves in
        # one send when it is done: a storm's read holds hundreds of PUBLISHes, and a system call
        # (plus a loop callback) per answer was a fifth of the agent simulator's CPU.
        sock.cork()
        try:
            while pos < n:
                first = buf[pos]
                if first == wire.PUBLISH and fast is not None:  # QoS 0, no DUP, no RETAIN: the fast path's
                    try:
                        stop, taken = fast(buf, pos, n)
                    except Exception:  # a handler bug: this packet goes the usual way
                        log.exception("mqtt %s: PUBLISH handler failed", self.client_id)
                        stop, taken = pos, 0
                    if stop != pos:
                        received += taken
                        pos = stop
                        if self._sock is not sock:  # the connection was closed meanwhile
                            return
                        continue
                # the remaining length: one or two bytes for USP's messages (< 16 KiB), inline
                if pos + 1 >= n:
                    self._rbuf = buf[pos:]
                    break
                length = buf[pos + 1]
                if length < 0x80:
                    body = pos + 2
                    end = body + length
                elif pos + 2 < n and buf[pos + 2] < 0x80:
                    body = pos + 3
                    end = body + ((length & 0x7F) | (buf[pos + 2] << 7))
                else:
                    try:
                        frame = wire.frame_length(buf, pos)
                    except wire.Unsupported:
                        self._send_acks(sock, acks)
                        sock.feed(buf[pos:])  # a broken length: paho says it is a protocol error
                        self._client.loop_read()
                        return
                    if frame is None:
                        self._rbuf = buf[pos:]
                        break
                    body, end = frame
                if end > n:
                    self._rbuf = buf[pos:]
                    break
                kind = first & 0xF0
                if kind == wire.PUBLISH:
                    try:
                        topic, payload, qos, mid, response_topic, content_type = decode(first, buf, body, end, v5=v5)
                    except wire.Unsupported:
                        self._send_acks(sock, acks)
                        self.stats.handed_to_paho += 1
                        sock.feed(buf[pos:end])
                        self._client.loop_read()
                    except UnicodeDecodeError:
                        self._send_acks(sock, acks)
                        self._bad_utf8(first, buf, body, end)
                    else:
                        received += 1
                        if deliver is not None:
                            try:
                                deliver(Inbound(topic, payload, response_topic, content_type, qos))
                            except Exception:  # a handler bug must not kill the connection
                                log.exception("mqtt %s: message handler failed on %s", self.client_id, topic)
                        if qos:
                            acks.append(mid)
                elif kind == wire.PUBACK and end - body >= 2:
                    # paho sent no QoS 1 PUBLISH (they all go through publish() below): nothing to tell it
                    if end - body > 2 and buf[body + 2] >= 0x80:
                        self.stats.puback_refused += 1
                else:
                    self._send_acks(sock, acks)
                    sock.feed(buf[pos:end])
                    self._client.loop_read()
                if self._sock is not sock:  # the connection was closed on that packet
                    return
                pos = end
            if acks:
                sock.send(wire.pubacks(acks))
        finally:
            self.stats.received += received
            # Uncorked once the callbacks this read made ready have run: the requests and answers that
            # the callers woken by it send (a fan-out's next Sets) leave in the same send as the rest.
            loop = self._loop
            if loop is not None:
                loop.call_soon(sock.uncork)
            else:
                sock.uncork()

    @staticmethod
    def _send_acks(sock: BufferedSocket, acks: list[int]) -> None:
        """Write the PUBACKs gathered so far (before a packet paho handles, which may write)."""
        if acks:
            sock.send(wire.pubacks(acks))
            acks.clear()

    def _bad_utf8(self, first: int, buf: bytes, body: int, end: int) -> None:
        """A PUBLISH whose topic or properties are not UTF-8: dropped, and acknowledged (QoS 1) so
        the broker does not send it again and again."""
        self.stats.dropped_bad_utf8 += 1
        log.debug("mqtt %s: dropped a PUBLISH whose topic or properties are not UTF-8", self.client_id)
        if (first >> 1) & 3 == 1 and self._sock is not None:
            mid_at = body + 2 + ((buf[body] << 8) | buf[body + 1])
            if mid_at + 2 <= end:
                self._sock.send(wire.puback((buf[mid_at] << 8) | buf[mid_at + 1]))

    def _on_write_error(self) -> None:
        """The peer went away under a buffered write: let paho notice and report the loss."""
        sock = self._sock
        if self._loop is not None and sock is not None:
            sock.fail(ConnectionResetError("write failed: the connection is gone"))
            self._loop.call_soon(self._client.loop_read)

    async def _misc(self) -> None:
        while not self._closing:
            if self._client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS and self._sock is None:
                return
            await asyncio.sleep(1.0)

    def _on_connect(self, client: paho.Client, _ud: object, flags: ConnectFlags, reason: ReasonCode,
                    props: Properties | None) -> None:
        code = _reason_int(reason)
        self._session_present = bool(getattr(flags, "session_present", False))
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(code)
        if code == 0:
            self.stats.connects += 1

    def _on_disconnect(self, client: paho.Client, _ud: object, flags: DisconnectFlags, reason: ReasonCode,
                       props: Properties | None) -> None:
        was = self.connected
        self.connected = False
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(MqttError(self._why_no_connack(reason)))
        for fut in self._suback.values():
            if not fut.done():
                fut.set_exception(MqttError(f"connection to {self.url} lost while subscribing"))
        self._suback.clear()
        if was:
            self.stats.disconnects += 1
            log.info("mqtt %s: disconnected from %s (%s)", self.client_id, self.url, reason)
            if self.on_connection is not None:
                self.on_connection(False)
        if not self._closing and self.auto_reconnect and was and self._loop is not None:
            self._reconnect_task = self._loop.create_task(self._reconnect_forever())

    def _why_no_connack(self, reason: ReasonCode | int) -> str:
        """Why the connection ended before CONNACK, in words: a TLS alert (our client certificate
        refused, none sent, expired), or a plaintext CONNECT hung up on (a TLS port)."""
        error = self._last_error
        if isinstance(error, ssl.SSLError):
            return explain_tls(error, self._where, during_handshake=False)
        if not self.address.tls and isinstance(error, (EOFError, ConnectionResetError, BrokenPipeError)):
            return explain_closed_plaintext(self._where) + f" ({self.url})"
        return f"broker {self.url} closed the connection before CONNACK: {reason}"

    def _on_subscribe(self, client: paho.Client, _ud: object, mid: int, codes: list[ReasonCode],
                      props: Properties | None) -> None:
        fut = self._suback.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result([_reason_int(c) for c in codes])

    def _on_message(self, client: paho.Client, _ud: object, message: paho.MQTTMessage) -> None:
        """A PUBLISH the fast codec left to paho (QoS 2, a topic alias)."""
        try:
            topic = message.topic
        except UnicodeDecodeError:
            self.stats.dropped_bad_utf8 += 1
            return
        self.stats.received += 1
        if self.on_message is None:
            return
        response_topic = content_type = None
        props = getattr(message, "properties", None)
        if props is not None:
            response_topic = getattr(props, "ResponseTopic", None)
            content_type = getattr(props, "ContentType", None)
        try:
            self.on_message(Inbound(topic, bytes(message.payload), response_topic, content_type, message.qos))
        except Exception:  # a handler bug must not kill the connection
            log.exception("mqtt %s: message handler failed on %s", self.client_id, topic)

    # ------------------------------------------------------------------ public API
    async def connect(self, timeout: float = 10.0) -> None:
        """Connect and wait for CONNACK; raises :class:`MqttError` saying what went wrong."""
        self._loop = asyncio.get_running_loop()
        self._closing = False
        if self._used:  # paho clients are not reusable after their socket died: start afresh
            self._client = self._make_client()
        self._used = True
        self._connack = self._loop.create_future()
        props: Properties | None = None
        if self.version == 5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it untyped
            if self.session_expiry_s:
                props.SessionExpiryInterval = self.session_expiry_s
            if self.endpoint_id:
                props.UserProperty = ("usp-endpoint-id", self.endpoint_id)
        self._last_error = None
        try:
            kwargs: dict[str, Any] = {"keepalive": self.keepalive}
            if self.version == 5:
                kwargs["clean_start"] = self.clean_start
                kwargs["properties"] = props
            # A blocking TCP connect (and TLS handshake): fast to a nearby broker, and paho needs it on
            # this thread.
            rc = self._client.connect(self.address.host, self.address.port, **kwargs)
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise MqttError(explain_tls(exc, self._where, during_handshake=True)) from None
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
            if self.address.tls:  # the TCP connect worked, the handshake did not
                raise MqttError(explain_tls(exc, self._where, during_handshake=True)) from None
            raise MqttError(f"the MQTT broker at {self._where} dropped the connection ({exc})") from None
        except OSError as exc:
            raise MqttError(
                f"cannot reach the MQTT broker at {self.address.host}:{self.address.port} ({exc}); "
                "is it running? (set GATEWARD_MQTT_URL)"
            ) from None
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MqttError(f"MQTT connect to {self.url} failed: {paho.error_string(rc)}")
        try:
            code = await asyncio.wait_for(self._connack, timeout)
        except TimeoutError:
            self._client.disconnect()
            raise MqttError(f"no CONNACK from {self.url} within {timeout:g}s") from None
        if code != 0:
            raise MqttError(explain_refusal(code, self.url, username=self.username,
                                            has_password=self._password is not None))
        self.connected = True
        if self._subscriptions and not self._session_present:  # a resumed session kept them
            await self._subscribe_many(dict(self._subscriptions), timeout)
        if self.on_connection is not None:
            self.on_connection(True)

    async def _reconnect_forever(self) -> None:
        delay = 0.2
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                await self.connect()
                log.info("mqtt %s: reconnected to %s", self.client_id, self.url)
                return
            except (MqttError, OSError) as exc:
                log.warning("mqtt %s: reconnect failed (%s); retrying in %.1fs", self.client_id, exc, delay)
                delay = min(delay * 2, 10.0)

    async def subscribe(self, topics: list[str] | str, qos: int = 1, timeout: float = 10.0) -> None:
        """Subscribe (and remember, so a reconnect restores it). Raises if the broker refuses one."""
        items = [topics] if isinstance(topics, str) else list(topics)
        wanted = {t: qos for t in items}
        self._subscriptions.update(wanted)
        if self.connected:
            await self._subscribe_many(wanted, timeout)

    async def _subscribe_many(self, topics: dict[str, int], timeout: float, batch: int = 500) -> None:
        assert self._loop is not None
        items = list(topics.items())
        pending: list[tuple[list[tuple[str, int]], asyncio.Future[list[int]]]] = []
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            rc, mid = self._client.subscribe(chunk)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
                raise MqttError(f"SUBSCRIBE on {self.url} failed: {paho.error_string(rc)}")
            fut: asyncio.Future[list[int]] = self._loop.create_future()
            self._suback[mid] = fut
            pending.append((chunk, fut))
        for chunk, fut in pending:
            try:
                codes = await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                raise MqttError(f"no SUBACK from {self.url} within {timeout:g}s") from None
            refused = [t for (t, _), c in zip(chunk, codes, strict=False) if c >= 0x80]
            if refused:
                raise MqttError(f"the broker refused subscriptions to {', '.join(refused[:3])}")

    async def unsubscribe(self, topics: list[str]) -> None:
        for t in topics:
            self._subscriptions.pop(t, None)
        if self.connected and topics:
            self._client.unsubscribe(topics)

    def _packet(self, topic: str, payload: bytes, qos: int, response_topic: str | None,
                content_type: str | None) -> bytes:
        """The PUBLISH packet; its topic and properties are encoded once per destination.

        Why a cache of plain bytes: a reconnect storm answers 200,000 agents once each, so any
        object kept per destination is pure cost (and cyclic-GC work); a fan-out to 1,000 agents
        re-uses every entry."""
        field = self._topic_fields.get(topic)
        if field is None:
            field = wire.topic_field(topic)
            if len(self._topic_fields) >= 20000:  # one per agent topic in use; bounded all the same
                self._topic_fields.clear()
            self._topic_fields[topic] = field
        props = b""
        if self.version == 5:  # per content type, then per response topic: string keys, no tuple per call
            blocks = self._props.get(content_type)
            if blocks is None:
                blocks = self._props[content_type] = {}
            block = blocks.get(response_topic)
            if block is None:
                block = wire.properties(response_topic=response_topic, content_type=content_type)
                if len(blocks) >= 20000:  # one per agent in the agent simulator; bounded all the same
                    blocks.clear()
                blocks[response_topic] = block
            props = block
        if not qos:
            return wire.publish_packet(field, props, payload)
        if qos != 1:
            raise ValueError("this codec publishes QoS 0 and 1 only")
        # Packet ids continue paho's own sequence, so they never collide with its SUBSCRIBE ids;
        # without its lock: QoS 1 is published on the loop's thread only, as paho's SUBSCRIBEs are.
        client = self._client
        mid = client._last_mid % 65535 + 1
        client._last_mid = mid
        return wire.publish_packet(field, props, payload, 1, mid)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        response_topic: str | None = None,
        content_type: str | None = USP_CONTENT_TYPE,
        retain: bool = False,
    ) -> bool:
        """Write a PUBLISH (QoS 0 or 1) now. Returns False (and counts an error) when not connected;
        raises ``ValueError`` for a topic with wildcards, an empty topic or another QoS.

        ``response_topic``/``content_type`` are MQTT 5 properties; on MQTT 3.1.1 they are ignored
        (use the ``/reply-to=`` topic convention instead, see ``executors.usp.topics``).
        """
        sock = self._sock
        if not self.connected or sock is None:
            self.stats.publish_errors += 1
            return False
        packet = self._packet(topic, payload, qos, response_topic, content_type)
        if retain:  # the RETAIN flag is bit 0 of the fixed header
            packet = bytes((packet[0] | 0x01,)) + packet[1:]
        if self._client._out_packet:  # whatever paho queued (a SUBSCRIBE, ...) goes out first
            self._client.loop_write()
        sock.send(packet)
        self.stats.published_loop += 1
        return True

    def publish_head(self, topic: str, *, response_topic: str | None = None,
                     content_type: str | None = USP_CONTENT_TYPE) -> bytes:
        """What every QoS 0 PUBLISH to ``topic`` with these properties starts with (:meth:`publish`'s
        topic and, on MQTT 5, property block): kept by a caller that sends there again and again,
        and extended with whatever its payloads start with, for :meth:`publish_after`. Raises
        ``ValueError`` for a topic :meth:`publish` refuses."""
        field = wire.topic_field(topic)
        return field + wire.props_block(response_topic, content_type) if self.version == 5 else field

    def publish_after(self, head: bytes, middle: bytes, payload: bytes) -> bool:
        """:meth:`publish` (QoS 0) of the PUBLISH whose bytes after the fixed header are ``head``
        (from :meth:`publish_head`), ``middle`` and ``payload``. False (an error counted) when not
        connected."""
        sock = self._sock
        if not self.connected or sock is None:
            self.stats.publish_errors += 1
            return False
        rest = len(head) + len(middle) + len(payload)
        if rest < 4096:  # wire.publish_parts, inline (a USP request is seldom longer)
            packet = b"".join((_PUBLISH_QOS0_HEADS[rest], head, middle, payload))
        else:
            packet = wire.publish_parts(head, middle, payload)
        if self._client._out_packet:  # whatever paho queued (a SUBSCRIBE, ...) goes out first
            self._client.loop_write()
        sock.send(packet)
        self.stats.published_loop += 1
        return True

    def publish_threadsafe(
        self,
        topic: str,
        payload: bytes,
        *,
        response_topic: str | None = None,
        content_type: str | None = USP_CONTENT_TYPE,
    ) -> bool:
        """:meth:`publish` (QoS 0) from a thread other than the loop's — the executor's synchronous
        requests, which so skip a hop to the loop and back. False when it cannot be written from
        here (not connected, or paho has packets queued that must go first): use the loop then."""
        sock = self._sock
        if not self.connected or sock is None or self._client._out_packet:
            return False
        packet = self._packet(topic, payload, 0, response_topic, content_type)
        sock.send_threadsafe(packet)
        with self._stats_lock:
            self.stats.published_threadsafe += 1
        return True

    def tls_version(self) -> str | None:
        """The connection's TLS protocol and cipher (``TLSv1.3 TLS_AES_256_GCM_SHA384``); None when
        it is plaintext or down. Benchmarks and ``gateward usp`` say what they ran over."""
        sock = self._sock
        if sock is None or not sock.tls:
            return None
        raw = cast("ssl.SSLSocket", sock.raw)
        cipher = raw.cipher()
        return f"{raw.version()} {cipher[0] if cipher else ''}".strip()

    async def drop(self) -> None:
        """Close the TCP connection without a DISCONNECT (the broker then publishes the will)."""
        self._closing = True
        self.connected = False
        sock = self._sock
        if sock is not None:
            self._on_socket_close(self._client, None, sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        if self._misc_task is not None:
            self._misc_task.cancel()

    async def close(self, *, end_session: bool = False) -> None:
        """Send DISCONNECT (no will) and stop reconnecting. ``end_session`` also tells an MQTT 5
        broker to forget a persistent session (its subscriptions and queued messages)."""
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        if self.connected:
            self.connected = False
            props = None
            if end_session and self.version == 5 and self.session_expiry_s:
                props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = 0
            self._client.disconnect(properties=props)
            with contextlib.suppress(Exception):
                self._client.loop_write()
        if self._misc_task is not None:
            self._misc_task.cancel()
        if self._sock is not None:
            self._on_socket_close(self._client, None, self._sock)
