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

MQTT 5 is the default (TR-369 R-MQTT.1); ``version=3`` speaks MQTT 3.1.1 (R-MQTT.2). The CONNECT
carries the ``usp-endpoint-id`` user property (R-MQTT.13) when an endpoint ID is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def broker_reachable(url: str, timeout: float = 2.0) -> bool:
    """Whether something accepts TCP connections at an ``mqtt://host:port`` URL.

    Why a bare TCP probe: the CLI wants to say "no broker at URL" before it builds a controller
    whose connect would otherwise retry in the background and time out with a vaguer error."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 1883), timeout=timeout):
            return True
    except OSError:
        return False


log = logging.getLogger(__name__)

USP_CONTENT_TYPE = "usp.msg"  # TR-369 R-MQTT.27
USP_CONTENT_TYPES = frozenset({"usp.msg", "application/vnd.bbf.usp.msg"})  # R-MQTT.27a
_client_ids = itertools.count(1)


class MqttError(ConnectionError):
    """The broker refused us, could not be reached, or dropped the connection."""


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``mqtt://host:port`` (also ``tcp://``; default port 1883). TLS (``mqtts://``) is not
        implemented here: terminate TLS in the broker or a sidecar."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(
                f"unsupported MQTT URL {url!r}: use mqtt://host:port (TLS is not implemented in this client)"
            )
        if not parts.hostname:
            raise ValueError(f"MQTT URL {url!r} has no host; expected mqtt://host:port")
        return cls(parts.hostname, parts.port or 1883)


@dataclass
class Inbound:
    """A received PUBLISH, reduced to what USP needs."""

    topic: str
    payload: bytes
    response_topic: str | None = None
    content_type: str | None = None
    qos: int = 0


@dataclass
class LinkStats:
    published: int = 0
    received: int = 0
    connects: int = 0
    disconnects: int = 0
    publish_errors: int = 0
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Will:
    """A last-will message: the broker publishes it if the connection dies without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1


class BufferedSocket:
    """The socket paho reads and writes, with user-space buffering on both sides.

    Why: paho reads every packet's fixed header one byte per ``recv`` and writes every packet with
    its own ``send`` — three to five system calls per USP message, each a chance to be descheduled
    on a busy machine. Reads here fill a 256 KiB buffer per ``recv``; writes are gathered while the
    event loop runs callbacks and go out in one ``send`` at the end of that turn (with TCP_NODELAY,
    straight away). paho accepts any socket-like object; :class:`MqttLink` installs this one in
    ``on_socket_open`` and drains the read buffer fully on each readiness event.
    """

    __slots__ = ("_flush_scheduled", "_in", "_in_pos", "_loop", "_out", "_sock", "_writer_on", "on_error",
                 "refills")

    def __init__(self, sock: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._sock = sock
        self._loop = loop
        self._in = bytearray()
        self._in_pos = 0
        self._out = bytearray()
        self._flush_scheduled = False
        self._writer_on = False
        self.refills = 1  # kernel reads allowed before the reader yields to other sockets
        self.on_error: Callable[[], None] | None = None

    @property
    def buffered(self) -> int:
        return len(self._in) - self._in_pos

    def recv(self, bufsize: int) -> bytes:
        if self._in_pos >= len(self._in):
            if self.refills <= 0:
                raise BlockingIOError  # paho keeps the partial packet and resumes on the next turn
            self.refills -= 1
            data = self._sock.recv(65536)  # BlockingIOError propagates: paho handles it
            if not data:
                return b""
            self._in = bytearray(data)
            self._in_pos = 0
        end = min(len(self._in), self._in_pos + bufsize)
        chunk = bytes(self._in[self._in_pos : end])
        self._in_pos = end
        return chunk

    def send(self, data: bytes | bytearray | memoryview) -> int:
        if not self._flush_scheduled and not self._writer_on and not self._out:
            # The first write of this loop turn goes out at once (a lone request pays no extra
            # turn); later writes in the same turn are gathered and flushed together.
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)
            try:
                sent = self._sock.send(data)
            except BlockingIOError:
                sent = 0
            if sent < len(data):
                self._out += memoryview(data)[sent:]
            return len(data)
        self._out += data
        if not self._flush_scheduled and not self._writer_on:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)
        return len(data)

    def flush(self) -> None:
        self._flush_scheduled = False
        while self._out:
            try:
                sent = self._sock.send(self._out)
            except BlockingIOError:
                break
            except OSError:
                self._out.clear()
                if self.on_error is not None:
                    self.on_error()
                return
            del self._out[:sent]
        if self._out and not self._writer_on:
            self._writer_on = True
            self._loop.add_writer(self._sock, self._writable)
        elif not self._out and self._writer_on:
            self._writer_on = False
            self._loop.remove_writer(self._sock)

    def _writable(self) -> None:
        self.flush()

    def close(self) -> None:
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
        buffered: bool = True,
    ) -> None:
        if version not in (3, 5):
            raise ValueError("MQTT version must be 5 or 3 (3.1.1)")
        self.address = BrokerAddress.parse(url)
        self.url = url
        self.version = version
        self.endpoint_id = endpoint_id
        self.client_id = client_id or f"gw-{next(_client_ids)}-{id(self) & 0xFFFFFF:x}"
        self.on_message = on_message
        self.on_connection = on_connection
        self.keepalive = keepalive
        self.clean_start = clean_start
        self.session_expiry_s = session_expiry_s
        self.will = will
        self.auto_reconnect = reconnect
        self.nodelay = nodelay
        self.buffered = buffered
        self.stats = LinkStats()
        self.connected = False
        self._subscriptions: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connack: asyncio.Future[int] | None = None
        self._suback: dict[int, asyncio.Future[list[int]]] = {}
        self._misc_task: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closing = False
        self._sock: Any = None
        self._used = False
        self._write_soon = False
        self._session_present = False
        self._props_cache: dict[tuple[str | None, str | None], Properties] = {}
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
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, qos=self.will.qos, retain=False)
        return client

    def _on_socket_open(self, client: paho.Client, _ud: Any, sock: Any) -> None:
        assert self._loop is not None
        if self.nodelay:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.buffered and getattr(client, "_sock", None) is sock:
            wrapped = BufferedSocket(sock, self._loop)
            wrapped.on_error = self._on_write_error
            client._sock = wrapped  # paho takes any socket-like object here (it does for websockets)
            sock = wrapped
        self._sock = sock
        self._loop.add_reader(sock, self._readable)
        if self._misc_task is None or self._misc_task.done():
            self._misc_task = self._loop.create_task(self._misc())

    def _on_socket_close(self, client: paho.Client, _ud: Any, sock: Any) -> None:
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(sock)
            with contextlib.suppress(Exception):
                self._loop.remove_writer(sock)
        self._sock = None

    def _on_register_write(self, client: paho.Client, _ud: Any, sock: Any) -> None:
        if self._loop is None:
            return
        if isinstance(sock, BufferedSocket):
            # writes never block here (the buffer takes them): hand paho's queue over on the next
            # turn instead of churning epoll registrations for every PUBACK
            if not self._write_soon:
                self._write_soon = True
                self._loop.call_soon(self._write_now)
        else:
            self._loop.add_writer(sock, client.loop_write)

    def _write_now(self) -> None:
        self._write_soon = False
        if self._sock is not None:
            self._client.loop_write()

    def _on_unregister_write(self, client: paho.Client, _ud: Any, sock: Any) -> None:
        if self._loop is not None and not isinstance(sock, BufferedSocket):
            with contextlib.suppress(Exception):
                self._loop.remove_writer(sock)

    def _readable(self) -> None:
        client = self._client
        sock = self._sock
        if isinstance(sock, BufferedSocket):
            sock.refills = 1  # one kernel read (<= 64 KiB) per turn: a storm cannot monopolise the loop
        for _ in range(256):
            rc = client.loop_read()
            if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
                log.debug("mqtt %s: read returned %s", self.client_id, rc)
                return
            sock = self._sock
            if not isinstance(sock, BufferedSocket) or not sock.buffered:
                return
        if self._loop is not None:
            self._loop.call_soon(self._readable)

    def _on_write_error(self) -> None:
        """The peer went away under a buffered write: let paho notice and report the loss."""
        if self._loop is not None:
            self._loop.call_soon(self._client.loop_read)

    async def _misc(self) -> None:
        while not self._closing:
            if self._client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS and self._sock is None:
                return
            await asyncio.sleep(1.0)

    def _on_connect(self, client: paho.Client, _ud: Any, flags: Any, reason: Any, props: Any) -> None:
        code = int(getattr(reason, "value", reason))
        self._session_present = bool(getattr(flags, "session_present", False))
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(code)
        if code == 0:
            self.stats.connects += 1

    def _on_disconnect(self, client: paho.Client, _ud: Any, flags: Any, reason: Any, props: Any) -> None:
        was = self.connected
        self.connected = False
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(MqttError(f"broker {self.url} closed the connection: {reason}"))
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

    def _on_subscribe(self, client: paho.Client, _ud: Any, mid: int, codes: Any, props: Any) -> None:
        fut = self._suback.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result([int(getattr(c, "value", c)) for c in codes])

    def _on_message(self, client: paho.Client, _ud: Any, message: paho.MQTTMessage) -> None:
        self.stats.received += 1
        if self.on_message is None:
            return
        response_topic = content_type = None
        props = getattr(message, "properties", None)
        if props is not None:
            response_topic = getattr(props, "ResponseTopic", None)
            content_type = getattr(props, "ContentType", None)
        try:
            self.on_message(
                Inbound(message.topic, bytes(message.payload), response_topic, content_type, message.qos)
            )
        except Exception:  # a handler bug must not kill the connection
            log.exception("mqtt %s: message handler failed on %s", self.client_id, message.topic)

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
            props = Properties(PacketTypes.CONNECT)
            if self.session_expiry_s:
                props.SessionExpiryInterval = self.session_expiry_s
            if self.endpoint_id:
                props.UserProperty = ("usp-endpoint-id", self.endpoint_id)
        try:
            kwargs: dict[str, Any] = {"keepalive": self.keepalive}
            if self.version == 5:
                kwargs["clean_start"] = self.clean_start
                kwargs["properties"] = props
            # A blocking TCP connect: fast to a nearby broker, and paho needs it on this thread.
            rc = self._client.connect(self.address.host, self.address.port, **kwargs)
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
            raise MqttError(f"the broker at {self.url} refused the connection (reason code {code})")
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

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        response_topic: str | None = None,
        content_type: str | None = USP_CONTENT_TYPE,
    ) -> bool:
        """Queue a PUBLISH and write it now. Returns False (and counts an error) when not connected.

        ``response_topic``/``content_type`` are MQTT 5 properties; on MQTT 3.1.1 they are ignored
        (use the ``/reply-to=`` topic convention instead, see ``executors.usp.topics``).
        """
        if not self.connected:
            self.stats.publish_errors += 1
            return False
        props: Properties | None = None
        if self.version == 5 and (response_topic or content_type):
            key = (response_topic, content_type)
            props = self._props_cache.get(key)
            if props is None:  # paho's Properties are slow to build (~45 us); they are immutable here
                props = Properties(PacketTypes.PUBLISH)
                if response_topic:
                    props.ResponseTopic = response_topic
                if content_type:
                    props.ContentType = content_type
                if len(self._props_cache) > 4096:
                    self._props_cache.clear()
                self._props_cache[key] = props
        info = self._client.publish(topic, payload, qos=qos, properties=props)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats.publish_errors += 1
            return False
        self.stats.published += 1
        if self._sock is not None:
            self._client.loop_write()
        return True

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
                props = Properties(PacketTypes.DISCONNECT)
                props.SessionExpiryInterval = 0
            self._client.disconnect(properties=props)
            with contextlib.suppress(Exception):
                self._client.loop_write()
        if self._misc_task is not None:
            self._misc_task.cancel()
        if self._sock is not None:
            self._on_socket_close(self._client, None, self._sock)
