"""USP over WebSocket (issue 37 item 5): the controller's WebSocket server, agents as its clients.

Real WebSocket connections on 127.0.0.1 (the ``websockets`` library on both ends; the agents are
``executors.sim.usp_ws``, twin-backed, connecting as the OB-USP-Agent's WebSocket client does:
``/usp?eid=<endpoint>``, subprotocol ``v1.usp``, a ``websocket_connect`` Record first). The
controller's MQTT side connects to the test broker, hence the ``mqtt`` mark.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from core.kernel.models import Change
from executors.base import DeviceOffline
from executors.usp import records
from executors.usp.executor import endpoint_for
from executors.usp.websocket import SUBPROTOCOL, WsSettings, endpoint_from_extensions, endpoint_from_query
from testing.grants import grant
from tests.usp.support import wait_until
from tests.usp.ws_support import agent_ssl, usp_ws_rig

pytestmark = [pytest.mark.mqtt, pytest.mark.xdist_group("mqtt")]

PRPL = "prplnet-px7000-1.3"
LUMENET = "lumenet-g240w-3.2"


def _two(twin: Any) -> list[Any]:
    return [twin.add_device(PRPL, "PXWS0001", region="DE"), twin.add_device(LUMENET, "LMWS0001", region="GB")]


# --------------------------------------------------------------------------- handshake rules (no agents)


def test_endpoint_ids_are_read_from_the_extension_and_the_query() -> None:
    assert endpoint_from_extensions(['bbf-usp-protocol; eid="os::0044FF-AB%2F12"']) == "os::0044FF-AB%2F12"
    assert endpoint_from_extensions(["permessage-deflate, bbf-usp-protocol; eid=proto::x"]) == "proto::x"
    assert endpoint_from_extensions(['bbf-usp-protocol; eid="a\\"b"']) == 'a"b'
    assert endpoint_from_extensions(["permessage-deflate"]) is None
    assert endpoint_from_query("/usp?eid=os%3A%3A0044FF-AB12") == "os::0044FF-AB12"
    assert endpoint_from_query("/usp") is None


def test_settings_from_the_environment(tmp_path: Path) -> None:
    assert WsSettings.from_env({}) is None
    s = WsSettings.from_env({"GATEWARD_USP_WS_LISTEN": "0.0.0.0:8081"})
    assert s is not None and (s.host, s.port, s.path, s.tls) == ("0.0.0.0", 8081, "/usp", False)
    assert s.url() == "ws://0.0.0.0:8081/usp"
    for bad, word in (({"GATEWARD_USP_WS_LISTEN": "8081"}, "host:port"),
                      ({"GATEWARD_USP_WS_LISTEN": "h:1", "GATEWARD_USP_WS_PATH": "usp"}, "GATEWARD_USP_WS_PATH"),
                      ({"GATEWARD_USP_WS_LISTEN": "h:1", "GATEWARD_USP_WS_CLIENT_CA_FILE": "/x"}, "needs TLS"),
                      ({"GATEWARD_USP_WS_LISTEN": "h:1", "GATEWARD_USP_WS_CERT_FILE": str(tmp_path / "none.pem")},
                       "cannot load")):
        with pytest.raises(ValueError, match=word):
            WsSettings.from_env(bad)


# --------------------------------------------------------------------------- agents on WebSocket


def test_agents_connect_are_read_and_written_over_websocket(tmp_path: Path) -> None:
    with usp_ws_rig(tmp_path, _two) as rig:
        ctl = rig.controller
        for d in rig.devices:
            st = ctl.agent(endpoint_for(d))
            assert st is not None and st.connected is True
            assert st.mtp is not None and st.mtp.mtp == "WebSocket"
        assert ctl.stats.ws_connects == 2
        assert "WebSocket from 127.0.0.1:" in rig.executor.presence(rig.devices[1]).detail
        connects = [e for e in ctl.recent_events if e.kind == "connect"]
        assert {e.data["mtp"] for e in connects} == {"WebSocket"}
        dev = rig.devices[0]
        path = "Device.WiFi.Radio.2.Channel"
        before = rig.executor.read(dev, [path])[path].value
        new = 44 if before != 44 else 48
        with grant(rig.executor, dev, paths=[path]) as g:
            result = rig.executor.apply(dev, [Change(path=path, value=new)], "k-ws-1", g)
        assert result.status == 0 and result.applied == [path], result
        assert rig.twin.params(dev.id)[path] == new  # it reached the device behind the agent
        assert rig.executor.read(dev, [path])[path].value == new
        assert ctl.stats.malformed == 0 and ctl.stats.wrong_sender == 0


def test_boot_onboarding_and_value_change_are_heard_and_answered(tmp_path: Path) -> None:
    with usp_ws_rig(tmp_path, _two, onboard=True, boot_on_start=True, notify_retry_min_s=0.3) as rig:
        ctl = rig.controller
        eps = {endpoint_for(d) for d in rig.devices}
        wait_until(lambda: {e.endpoint_id for e in ctl.recent_events if e.kind == "boot"} == eps, 5, "Boot!s")
        wait_until(lambda: {e.endpoint_id for e in ctl.recent_events if e.kind == "onboard"} == eps, 5, "onboards")
        # every notification was answered over the agent's own connection: none waits to be retried
        wait_until(lambda: rig.host.pending_notifications() == 0, 5, "NotifyResps to reach the agents")
        assert rig.host.stats.notify_retries == 0
        assert ctl.stats.notify_resp_sent >= 4
        # a subscribed ValueChange, after a change made on the device (its local GUI)
        dev = rig.devices[0]
        path = "Device.WiFi.Radio.1.Channel"
        rig.ctl(ctl.subscribe(endpoint_for(dev), "ValueChange", path, subscription_id="gw-ws-vc"))
        agent = rig.host.agent(dev.id)
        assert agent.sim is not None
        rig.run_agents(_local_change(rig.host, agent, path, "11"))
        wait_until(lambda: any(e.kind == "value_change" and e.data["path"] == path for e in ctl.recent_events), 5,
                   "the ValueChange")


async def _local_change(host: Any, agent: Any, path: str, value: str) -> None:
    from executors.sim.usp_agent import Action

    host._act(agent, Action("notify", changes=[(path, value)]))


def test_presence_follows_the_connection(tmp_path: Path) -> None:
    with usp_ws_rig(tmp_path, _two, boot_delay_s=0.05) as rig:
        dev = rig.devices[0]
        ep = endpoint_for(dev)
        rig.inject(dev, "offline")  # the line is cut: no close frame, no disconnect Record
        st = rig.controller.agent(ep)
        assert st is not None and st.connected is False and st.mtp is None
        assert "WebSocket" in st.disconnect_reason
        with pytest.raises(DeviceOffline):
            rig.executor.read(dev, ["Device.DeviceInfo.SoftwareVersion"])
        rig.clear(dev, "offline")
        assert rig.controller.agent(ep).connected is True  # type: ignore[union-attr]
        assert rig.executor.read(dev, ["Device.DeviceInfo.SoftwareVersion"])
        # a reboot: goodbye, close, reconnect, Boot! — the executor waits for the Boot! as over MQTT
        with grant(rig.executor, dev, commands=["reboot"], purpose="operate") as g:
            out = rig.executor.operate(dev, "reboot", {}, g)
        assert out.status == "done", out
        assert rig.controller.stats.ws_connects >= 4


def test_a_newer_connection_of_the_same_agent_replaces_the_older(tmp_path: Path) -> None:
    with usp_ws_rig(tmp_path, _two) as rig:
        dev = rig.devices[0]
        ep = endpoint_for(dev)
        old = rig.controller.agent(ep).mtp  # type: ignore[union-attr]
        url = rig.extras["server"].url  # type: ignore[attr-defined]

        async def second() -> Any:
            async with connect(f"{url}?eid={ep}", subprotocols=[SUBPROTOCOL], compression=None) as ws:
                await ws.send(records.websocket_connect_record(to_id=rig.controller.endpoint_id, from_id=ep))
                await asyncio.sleep(0.3)
                return rig.controller.agent(ep).mtp  # type: ignore[union-attr]

        newer = rig.run_agents(second())
        assert newer is not old and old is not None and not old.connected


# --------------------------------------------------------------------------- what the server refuses


def test_the_server_refuses_what_tr369_forbids(tmp_path: Path) -> None:
    with usp_ws_rig(tmp_path, lambda twin: []) as rig:
        server = rig.extras["server"]  # type: ignore[attr-defined]
        base = server.url
        ctl = rig.controller

        async def check() -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, url, protos in (("path", base.replace("/usp", "/other"), [SUBPROTOCOL]),
                                      ("subprotocol", base, None)):
                try:
                    async with connect(url, subprotocols=protos, compression=None):
                        out[name] = "accepted"
                except InvalidStatus as exc:
                    out[name] = exc.response.status_code
            # a text frame, then a Record that is no Record: each closes the connection with 1003
            for name, frame in (("text", "hello"), ("garbage", b"\x0a\xff\xff")):
                async with connect(f"{base}?eid=os::x-{name}", subprotocols=[SUBPROTOCOL],
                                   compression=None) as ws:
                    await ws.send(frame)
                    try:
                        await asyncio.wait_for(ws.recv(), 5)
                    except ConnectionClosed as exc:
                        out[name] = exc.rcvd.code if exc.rcvd else None
            # R-WS.11a: a client naming itself in the extension gets the controller's eid back
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /usp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                          b"Sec-WebSocket-Protocol: v1.usp\r\n"
                          b'Sec-WebSocket-Extensions: bbf-usp-protocol; eid="os::raw-1"\r\n\r\n')
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            writer.close()
            out["handshake"] = head
            return out

        out = rig.run_agents(check())
        assert out["path"] == 404 and out["subprotocol"] == 400
        assert out["text"] == 1003 and out["garbage"] == 1003
        assert ctl.stats.malformed == 1
        head = out["handshake"]
        assert head.startswith("HTTP/1.1 101")
        assert "Sec-WebSocket-Protocol: v1.usp" in head
        assert f'Sec-WebSocket-Extensions: bbf-usp-protocol; eid="{ctl.endpoint_id}"' in head
        wait_until(lambda: (ctl.agent("os::raw-1") is not None), 5, "the agent named in the extension")


# --------------------------------------------------------------------------- TLS


def test_wss_with_client_certificates(tmp_path: Path) -> None:
    with usp_ws_rig(tmp_path, _two, tls=True, client_certs=True) as rig:
        server = rig.extras["server"]  # type: ignore[attr-defined]
        assert server.url.startswith("wss://127.0.0.1:")
        dev = rig.devices[1]
        assert rig.executor.read(dev, ["Device.DeviceInfo.SerialNumber"])["Device.DeviceInfo.SerialNumber"].value \
            == "LMWS0001"
        tls = rig.extras["tls"]  # type: ignore[attr-defined]

        async def stranger(ctx: ssl.SSLContext) -> str:
            try:
                async with connect(f"{server.url}?eid=os::stranger", subprotocols=[SUBPROTOCOL], compression=None,
                                   ssl=ctx, open_timeout=5) as ws:
                    await ws.send(records.websocket_connect_record(to_id=rig.controller.endpoint_id,
                                                                   from_id="os::stranger"))
                    await asyncio.wait_for(ws.recv(), 2)
                    return "open"
            except (ssl.SSLError, ConnectionClosed, OSError, InvalidHandshake) as exc:
                return type(exc).__name__
            except TimeoutError:
                return "open"

        for ctx in (agent_ssl(tls, client_cert=False), agent_ssl(tls, other=True)):
            assert rig.run_agents(stranger(ctx)) != "open"
        time.sleep(0.2)
        assert rig.controller.agent("os::stranger") is None


# --------------------------------------------------------------------------- the controller as the client


def test_the_controller_connects_to_agents_that_listen(tmp_path: Path) -> None:
    with usp_ws_rig(tmp_path, _two, listen=True, boot_on_start=True) as rig:
        ctl = rig.controller
        dev = rig.devices[0]
        ep = endpoint_for(dev)
        st = ctl.agent(ep)
        assert st is not None and st.connected is True and st.mtp is not None
        assert st.mtp.peer.startswith("127.0.0.1:")  # the agent's own port: this controller opened it
        # like the OB-USP-Agent's server, the agent refuses a second connection while one is open (R-WS.4)
        url = rig.host.listen_urls[dev.id]  # type: ignore[attr-defined]

        async def second() -> Any:
            async with connect(f"{url}?eid={ctl.endpoint_id}", subprotocols=[SUBPROTOCOL], compression=None) as ws:
                try:
                    await asyncio.wait_for(ws.recv(), 5)
                except ConnectionClosed as exc:
                    return exc.rcvd.code if exc.rcvd else None
            return "open"

        assert rig.run_agents(second()) == 1008
        assert ctl.agent(ep).mtp is st.mtp and st.mtp.connected  # type: ignore[union-attr]
        # the agent named itself in its extension answer, and its Boot! came over the same connection
        wait_until(lambda: any(e.kind == "boot" and e.endpoint_id == ep for e in ctl.recent_events), 5, "Boot!")
        path = "Device.WiFi.Radio.2.Channel"
        with grant(rig.executor, dev, paths=[path]) as g:
            res = rig.executor.apply(dev, [Change(path=path, value=40)], "k-ws-out", g)
        assert res.status == 0 and rig.twin.params(dev.id)[path] == 40
        # the agent goes away and comes back: the controller sees it gone, then connects again by itself
        rig.inject(dev, "offline")
        assert ctl.agent(ep).connected is False  # type: ignore[union-attr]
        rig.twin.clear(dev.id, "offline")
        rig.run_agents(rig.host.sync(dev.id))
        wait_until(lambda: bool(rig.connected(dev)), 10, "the controller to reconnect to the agent")
        assert rig.executor.read(dev, [path])[path].value == 40


def test_a_process_without_the_websocket_mtp_says_where_such_agents_are(tmp_path: Path, store: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI command is a process of its own: an agent on gateward run's WebSocket is not reachable
    from it, and it says so — from what the store knows of the device (its last contact was over
    WebSocket), not from the asking command's own environment (issue 46: the hint came and went with
    GATEWARD_USP_WS_LISTEN in the CLI's shell)."""
    from datetime import UTC, datetime

    from core.inventory import register
    from core.kernel.models import Device
    from core.store.schema import DeviceEventRow, OnboardingRow
    from core.usp_topics import device_hints

    dev = Device.model_validate({"id": "3C9A77-PX7000-PXWS0009", "vendor": "Prplnet", "model": "PX-7000",
                                 "firmware": "1", "protocol": "usp", "adapter": "usp", "root": "Device.",
                                 "oui": "3C9A77", "serial": "PXWS0009", "region": "DE"})
    with store.write() as s:
        register(s, dev, "dave", "test")
    monkeypatch.setenv("GATEWARD_USP_WS_LISTEN", "127.0.0.1:18081")
    assert not any("WebSocket" in h for h in device_hints(store, dev))  # nothing known: no guess from the env
    # accepted from pending (found against OB-USP-Agent's WebSocket build): its first contact is on
    # its onboarding row, kept with how it came
    with store.write() as s:
        s.add(OnboardingRow(endpoint_id="os::3C9A77-PXWS0009", status="accepted", first_seen=datetime.now(UTC),
                            last_seen=datetime.now(UTC), data={"last_kind": "connect", "mtp": "WebSocket",
                                                               "peer": "127.0.0.1:39999"}))
    (pending_hint,) = device_hints(store, dev)
    assert "over WebSocket from 127.0.0.1:39999" in pending_hint
    with store.write() as s:
        s.add(DeviceEventRow(device_id=dev.id, ts=datetime.now(UTC), kind="connect",
                             data={"mtp": "WebSocket", "peer": "127.0.0.1:40000"}))
    monkeypatch.delenv("GATEWARD_USP_WS_LISTEN")
    (hint,) = device_hints(store, dev)
    assert "over WebSocket from 127.0.0.1:40000" in hint and "only the process it is connected to" in hint


def test_a_bare_handshake_announces_nobody_and_a_record_from_the_claimed_endpoint_does(tmp_path: Path) -> None:
    """Issue 46 item 4, found against OB-USP-Agent's WebSocket build: anyone who could open the
    WebSocket added a pending agent — the handshake alone made a ``connect`` event (what onboarding
    turns into a pending row). Now the handshake makes the connection usable and announces nothing;
    the first valid Record from the endpoint the handshake claimed does; one from another is ignored."""
    import asyncio

    from websockets.asyncio.client import connect

    from executors.usp import records

    with usp_ws_rig(tmp_path, lambda twin: []) as rig:
        ctl, server = rig.controller, rig.extras["server"]  # type: ignore[attr-defined]
        claimed = f"os::00D09E-KNOCK{uuid.uuid4().hex[:6].upper()}"
        url = f"{server.url}?eid={claimed}"

        async def knock(*frames: bytes) -> None:
            async with connect(url, subprotocols=["v1.usp"]) as ws:  # type: ignore[list-item]
                for frame in frames:
                    await ws.send(frame)
                await asyncio.sleep(0.5)

        def connects() -> list[str]:
            return [e.endpoint_id for e in ctl.recent_events if e.kind == "connect"]

        rig.run_agents(knock(), timeout=10)
        assert claimed not in connects()
        other = records.websocket_connect_record(to_id=ctl.endpoint_id, from_id="os::00D09E-SOMEONEELSE")
        rig.run_agents(knock(other), timeout=10)
        assert claimed not in connects() and "os::00D09E-SOMEONEELSE" not in connects()
        mine = records.websocket_connect_record(to_id=ctl.endpoint_id, from_id=claimed)
        rig.run_agents(knock(mine), timeout=10)
        wait_until(lambda: claimed in connects(), 5, "the connect event after a valid Record")
