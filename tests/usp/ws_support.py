"""A rig of twin + simulated agents on WebSocket + executor: :func:`usp_ws_rig`.

The controller serves the WebSocket MTP on a free loopback port (``ws://`` or, with ``tls``,
``wss://`` with certificates made by ``testing.mqtt_tls_broker.make_tls_files``); each simulated
agent (``executors.sim.usp_ws``) is a real WebSocket client of it — or, with ``listen``, a
WebSocket server of its own the controller connects to (``UspController.keep_websocket``). The controller's MQTT side
still connects to the test broker (the controller is one object for both MTPs).
"""

from __future__ import annotations

import functools
import ssl
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.kernel.models import Device
from executors.sim.twin import Twin
from executors.sim.usp_host import HostConfig
from executors.sim.usp_ws import WsAgentHost
from executors.usp.executor import UspExecutor
from executors.usp.loop import LoopThread
from executors.usp.websocket import WsServer, WsSettings
from testing.mqtt_tls_broker import TlsFiles, make_tls_files
from tests.usp.support import UspRig, broker, wait_until


def agent_ssl(tls: TlsFiles, *, client_cert: bool = True, other: bool = False) -> ssl.SSLContext:
    """What a simulated agent trusts (the test CA) and presents (a client certificate, or none)."""
    ctx = ssl.create_default_context(cafile=str(tls.ca))
    if client_cert:
        cert, key = (tls.other_cert, tls.other_key) if other else (tls.client_cert, tls.client_key)
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _connected(rig: UspRig, device: Device) -> bool:
    return bool(rig.connected(device))


@contextmanager
def usp_ws_rig(
    tmp_path: Path,
    make_devices: Callable[[Twin], Sequence[Device]],
    *,
    tls: bool = False,
    client_certs: bool = False,
    listen: bool = False,
    timeout_s: float = 5.0,
    probe_timeout_s: float = 0.5,
    **host_options: Any,
) -> Iterator[UspRig]:
    info = broker()
    twin = Twin(f"sqlite:///{tmp_path / f'twin-{uuid.uuid4().hex[:6]}.db'}")
    devices = list(make_devices(twin))
    controller_id = f"proto::gw-ws-{uuid.uuid4().hex[:8]}"
    if tls:
        (tmp_path / "tls").mkdir(exist_ok=True)
    files = make_tls_files(tmp_path / "tls") if tls else None
    settings = WsSettings(host="127.0.0.1", port=0, path="/usp",
                          cert_file=str(files.server_cert) if files else None,
                          key_file=str(files.server_key) if files else None,
                          client_ca_file=str(files.ca) if files and client_certs else None)
    executor = UspExecutor(url=info.url, endpoint_id=controller_id, mqtt_version=5 if info.mqtt5 else 3,
                           timeout_s=timeout_s, probe_timeout_s=probe_timeout_s, reboot_timeout_s=10,
                           operation_timeout_s=10)
    server: WsServer = executor.runner.run(executor.controller.serve_websocket(settings), timeout=10)
    host_options.setdefault("boot_delay_s", 0.05)
    host_options.setdefault("poll_interval_s", None)
    host = WsAgentHost(HostConfig(url=server.url, controller_id=controller_id, **host_options), twin,
                       ws_url=server.url, ssl_context=agent_ssl(files, client_cert=client_certs) if files else None,
                       listen=listen)
    for d in devices:
        host.add_device(d.id)
    loop = LoopThread("usp-ws-agents")
    rig = UspRig(twin, host, loop, executor, info, devices)
    rig.extras = {"server": server, "tls": files}  # type: ignore[attr-defined]
    try:
        rig.run_agents(host.start())
        if listen:  # the agents serve; the controller connects to each and keeps the connection
            for d in devices:
                if d.id in host.listen_urls:
                    executor.runner.submit(executor.controller.keep_websocket(host.listen_urls[d.id],
                                                                              retry_min_s=0.2, retry_max_s=1.0))
            for d in devices:
                if d.id in host.listen_urls:
                    wait_until(functools.partial(_connected, rig, d), 10, f"the controller to connect to {d.id}")
        for d in devices:
            if host.agent(d.id).online:
                rig.settle(d)
        yield rig
    finally:
        rig.close()
