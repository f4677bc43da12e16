"""Simulated USP agents over WebSocket: each agent is a WebSocket client of the controller.

Why a separate host: over MQTT many agents share a few connections (``executors.sim.usp_host``);
over WebSocket an agent *is* its connection — the controller knows who is there by the connection,
and a reply goes back over it — so each agent opens its own, as the OB-USP-Agent's WebSocket client
does (``wsclient.c``): ``<path>?eid=<its endpoint ID>``, subprotocol ``v1.usp``, then a
``websocket_connect`` Record, then OnBoardRequest / Boot! as due, Records as binary frames, Pings.
Everything else — the twin behind the agent, faults, commands, notifications and their retries —
is :class:`~executors.sim.usp_host.AgentHost`'s, unchanged: only the wire differs.

Faults: ``offline`` drops the TCP connection without a close frame (the controller's side sees the
connection lost); a reboot or an agent stopping sends a ``disconnect`` Record and closes with 1000.

With ``listen=True`` the agents are WebSocket *servers* instead (TR-369 R-WS.6; the OB-USP-Agent's
``LocalAgent.MTP.{i}.WebSocket``, ``wsserver.c``): each listens on its own loopback port
(:attr:`WsAgentHost.listen_urls`), answers a controller's ``bbf-usp-protocol`` extension with its
own ``eid``, and sends its ``websocket_connect`` Record once a controller has connected; like the
OB-USP-Agent's server it refuses a second connection while one is open (R-WS.4). Offline, it drops
the connection and stops listening; back online, it listens on the same port again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Sequence
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from executors.sim.twin import Twin
from executors.sim.usp_host import AgentHost, HostConfig, HostedAgent, build_parser, run_process
from executors.usp import records
from executors.usp.mqtt import Inbound
from executors.usp.websocket import MAX_RECORD, SUBPROTOCOL, WsLink, endpoint_from_extensions, extension_header

log = logging.getLogger(__name__)


class WsAgentHost(AgentHost):
    """Agents that connect to a controller's WebSocket server at ``ws_url`` (``ws://`` or ``wss://``;
    ``ssl_context`` trusts the server and may carry the agents' client certificate)."""

    def __init__(self, config: HostConfig, twin: Twin | None = None, *, ws_url: str,
                 ssl_context: ssl.SSLContext | None = None, ping_interval_s: float | None = 30.0,
                 listen: bool = False) -> None:
        super().__init__(config, twin)
        self.listen = listen
        self.listen_urls: dict[str, str] = {}  # device id -> ws://127.0.0.1:<port>/usp (listen=True)
        self._servers: dict[str, Server] = {}
        self._ports: dict[str, int] = {}
        self._boot_due: dict[str, str] = {}
        self.ws_url = ws_url
        self.ssl_context = ssl_context
        self.ping_interval_s = ping_interval_s
        self._ws: dict[str, WsLink] = {}  # endpoint ID -> its connection while it has one
        self._readers: set[asyncio.Task[None]] = set()

    @property
    def connections(self) -> int:
        return sum(1 for link in self._ws.values() if link.connected)

    def url_for(self, agent: HostedAgent) -> str:
        return f"{self.ws_url}?eid={quote(agent.endpoint_id, safe='-._~')}"

    async def _open(self, agent: HostedAgent) -> None:
        conn: ClientConnection = await connect(
            self.url_for(agent), subprotocols=[SUBPROTOCOL], compression=None,
            ssl=self.ssl_context if self.ws_url.startswith("wss:") else None, proxy=None,
            ping_interval=self.ping_interval_s, max_size=MAX_RECORD, open_timeout=10)
        link = WsLink(conn, asyncio.get_running_loop(), endpoint_id=self.config.controller_id,
                      peer=self.ws_url)
        self._ws[agent.endpoint_id] = link
        task = asyncio.get_running_loop().create_task(self._read(agent, link))
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _read(self, agent: HostedAgent, link: WsLink) -> None:
        host = self

        class _Receiver:
            def on_transport_open(self, _link: object, *, announce: bool = True) -> None:
                pass

            def on_transport_record(self, _link: object, payload: bytes) -> bool:
                host._on_inbound(0, Inbound(agent.topic, payload))
                return True

            def on_transport_closed(self, _link: object, reason: str) -> None:
                pass

        reason = await link.serve(_Receiver())
        if self._ws.get(agent.endpoint_id) is link:
            del self._ws[agent.endpoint_id]
            if agent.online and not self._closing:
                log.info("simulated agent %s lost its WebSocket: %s", agent.endpoint_id, reason)
                agent.online = False

    # ------------------------------------------------------------------ agents as servers
    async def _listen(self, agent: HostedAgent) -> None:
        def answer(conn: ServerConnection, request: Request, response: Response) -> None:
            if endpoint_from_extensions(request.headers.get_all("Sec-WebSocket-Extensions")) is not None:
                response.headers["Sec-WebSocket-Extensions"] = extension_header(agent.endpoint_id)

        async def handler(conn: ServerConnection) -> None:
            old = self._ws.get(agent.endpoint_id)
            if old is not None and old.connected:  # one session per pair (R-WS.4): as the OB-USP-Agent's
                await conn.close(1008, "already connected to this controller")  # server, refuse the newer
                return
            link = WsLink(conn, asyncio.get_running_loop(), endpoint_id=self.config.controller_id, peer="controller")
            self._ws[agent.endpoint_id] = link
            self._announce(agent, boot_cause=self._boot_due.pop(agent.endpoint_id, None))
            await self._read(agent, link)

        server = await serve(handler, "127.0.0.1", self._ports.get(agent.endpoint_id, 0), subprotocols=[SUBPROTOCOL],
                             compression=None, process_response=answer, max_size=MAX_RECORD,
                             ping_interval=self.ping_interval_s)
        port = int(next(iter(server.sockets)).getsockname()[1])
        self._ports[agent.endpoint_id] = port
        self._servers[agent.endpoint_id] = server
        self.listen_urls[agent.device_id] = f"ws://127.0.0.1:{port}/usp"

    async def _unlisten(self, agent: HostedAgent) -> None:
        server = self._servers.pop(agent.endpoint_id, None)
        if server is not None:
            server.close(close_connections=False)
            await server.wait_closed()

    # ------------------------------------------------------------------ start / stop
    async def start(self, *, connect_concurrency: int = 64) -> WsAgentHost:
        sem = asyncio.Semaphore(connect_concurrency)

        async def up(agent: HostedAgent) -> None:
            if agent.sim is not None and not agent.sim.presence_flags()[0]:
                return  # the twin says the device is off: it does not connect
            async with sem:
                if self.listen:
                    await self._listen(agent)
                else:
                    await self._open(agent)

        await asyncio.gather(*(up(a) for a in self.agents))
        if self.twin is not None:
            self._last_event_id = self.twin.last_event_id()
        self._tasks.append(asyncio.create_task(self._retry_loop()))
        cfg = self.config
        if self.twin is not None and cfg.poll_interval_s:
            self._tasks.append(asyncio.create_task(self._poll_loop(cfg.poll_interval_s)))
        if cfg.persist == "batched" and cfg.flush_interval_s:
            self._tasks.append(asyncio.create_task(self._flush_loop(cfg.flush_interval_s)))
        for agent in self.agents:
            if self.listen and agent.endpoint_id in self._servers and cfg.boot_on_start:
                self._boot_due[agent.endpoint_id] = "LocalReboot"  # said once a controller connects
            if agent.endpoint_id not in self._ws:
                continue
            agent.unreachable = agent.sim is not None and not agent.sim.presence_flags()[1]
            self._announce(agent, boot_cause="LocalReboot" if cfg.boot_on_start else None)
        return self

    async def stop(self) -> None:
        await self._goodbye()
        for link in list(self._ws.values()):
            link.close(1000, "agent shutting down")
        for agent in self.agents:
            await self._unlisten(agent)
        if self._readers:
            await asyncio.wait(list(self._readers), timeout=5)
        self.flush_all()

    # ------------------------------------------------------------------ the wire
    def _publish(self, agent: HostedAgent, payload: bytes, qos: int, dest: str | None = None) -> bool:
        link = self._ws.get(agent.endpoint_id)
        return link is not None and link.send(payload)

    def _connect_record(self, agent: HostedAgent) -> bytes:
        return records.websocket_connect_record(to_id=self.config.controller_id, from_id=agent.endpoint_id)

    async def _go_offline(self, agent: HostedAgent, reason: str, *, graceful: bool) -> None:
        if not agent.online:
            return
        agent.online = False
        link = self._ws.pop(agent.endpoint_id, None)
        if link is not None:
            if graceful:
                link.send(records.disconnect_record(to_id=self.config.controller_id, from_id=agent.endpoint_id,
                                                    reason=reason))
                await asyncio.sleep(0.01)
                link.close(1000, reason)
            else:  # the line is cut: no close frame, the controller finds the connection lost
                transport = link.conn.transport
                with contextlib.suppress(Exception):
                    transport.abort()
        if self.listen:
            await self._unlisten(agent)
        self.stats.disconnects_sent += 1

    async def _go_online(self, agent: HostedAgent, *, boot_cause: str | None = None, command_key: str = "",
                         firmware_updated: bool = False) -> None:
        if self.listen:  # listening again: the controller connects, then the agent announces itself
            if boot_cause is not None:
                self._boot_due[agent.endpoint_id] = boot_cause
            if agent.endpoint_id not in self._servers:
                await self._listen(agent)
            return
        if agent.endpoint_id not in self._ws:
            await self._open(agent)
        self._announce(agent, boot_cause=boot_cause, command_key=command_key, firmware_updated=firmware_updated)

    async def reconnect_storm(self) -> float:
        raise NotImplementedError("reconnect storms are measured over MQTT (executors.sim.usp_host)")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m executors.sim.usp_ws --ws-url URL``: ``python -m executors.sim.usp_host``'s
    process of agents, each a WebSocket client of the controller at URL instead of an MQTT client."""
    p = build_parser()
    p.prog = "python -m executors.sim.usp_ws"
    p.add_argument("--ws-url", required=True, help="the controller's WebSocket URL (ws:// or wss://)")
    p.add_argument("--ws-ca", default=None, help="CA file that vouches for a wss:// controller")
    args = p.parse_args(argv)
    if args.count < 0:
        args.count = None
    ctx = ssl.create_default_context(cafile=args.ws_ca) if args.ws_ca else None
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    def make_host(cfg: HostConfig, twin: Twin | None) -> AgentHost:
        return WsAgentHost(cfg, twin, ws_url=args.ws_url, ssl_context=ctx)

    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run_process(args, make_host))
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
