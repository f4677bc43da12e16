"""A private MQTT broker for tests, benchmarks and demos: Mosquitto when installed, else amqtt.

Why a helper and not "use whatever runs on 1883": a benchmark must control the broker's
configuration — above all ``set_tcp_nodelay true`` (without it Mosquitto's Nagle delay costs
~44 ms per USP request on loopback instead of ~1 ms) and queue limits high enough that a
reconnect storm is not cut short by the broker (``max_queued_messages``, default 1000 per client).

:class:`MqttBroker` starts ``/usr/sbin/mosquitto`` (or ``mosquitto`` on ``PATH``) with a generated
configuration on a free loopback port, and stops it on exit. Without a Mosquitto binary it runs
the embedded `amqtt` broker in a thread; amqtt speaks MQTT 3.1.1 only, so :attr:`MqttBroker.mqtt5`
is False and USP endpoints must use the 3.1.1 ``/reply-to=`` convention there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from executors.usp.mqtt import broker_reachable as reachable  # re-exported: tests probe brokers with it

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")


def find_mosquitto() -> str | None:
    for path in MOSQUITTO_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("mosquitto")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mosquitto_config(port: int, *, nodelay: bool = True, log_file: str | None = None,
                     extra: tuple[str, ...] = ()) -> str:
    """The configuration this helper runs Mosquitto with (documented in docs/usp.md); ``extra``:
    more lines (e.g. ``queue_qos0_messages true``, issue 37)."""
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        f"set_tcp_nodelay {'true' if nodelay else 'false'}",
        "max_queued_messages 1000000",
        "max_queued_bytes 0",
        "max_inflight_messages 0",
        "max_connections -1",
        "max_keepalive 65535",
        "sys_interval 0",
    ]
    lines += list(extra)
    if log_file:
        lines += [f"log_dest file {log_file}", "log_type error", "log_type warning", "log_type notice"]
    else:
        lines.append("log_dest none")
    return "\n".join(lines) + "\n"


class MqttBroker:
    """Run a private broker for the duration of a ``with`` block (or ``start``/``stop``).

    ``kind`` is ``"auto"`` (Mosquitto if installed, else amqtt), ``"mosquitto"`` or ``"amqtt"``.
    """

    def __init__(self, *, kind: str = "auto", port: int | None = None, nodelay: bool = True,
                 extra: tuple[str, ...] = ()) -> None:
        if kind not in ("auto", "mosquitto", "amqtt"):
            raise ValueError("kind must be auto, mosquitto or amqtt")
        self.binary = find_mosquitto() if kind in ("auto", "mosquitto") else None
        if kind == "mosquitto" and self.binary is None:
            raise RuntimeError("no mosquitto binary found (apt-get install mosquitto)")
        self.kind = "mosquitto" if self.binary else "amqtt"
        self.port = port or free_port()
        self.nodelay = nodelay
        self.extra = tuple(extra)
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._amqtt: Any = None

    @property
    def mqtt5(self) -> bool:
        return self.kind == "mosquitto"

    @property
    def description(self) -> str:
        if self.kind == "mosquitto":
            return f"mosquitto ({self.binary}) on {self.url}, set_tcp_nodelay {str(self.nodelay).lower()}"
        return f"embedded amqtt (MQTT 3.1.1 only) on {self.url}"

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the Mosquitto process has used so far; None for the embedded
        broker (it shares this process) or where ``/proc`` is not available. Benchmarks put it
        next to the controller's and the agents' CPU to show which one is the limit."""
        if self._proc is None:
            return None
        try:
            with open(f"/proc/{self._proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def start(self, timeout: float = 10.0) -> MqttBroker:
        if self.kind == "mosquitto":
            self._start_mosquitto()
        else:
            self._start_amqtt()
        deadline = time.monotonic() + timeout
        while not reachable(self.url, 0.2):
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with code {self._proc.returncode}: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.kind} broker did not listen on {self.url} within {timeout:g}s")
            time.sleep(0.02)
        return self

    def _start_mosquitto(self) -> None:
        assert self.binary is not None
        self._tmp = tempfile.TemporaryDirectory(prefix="gw-mosquitto-")
        log_file = str(Path(self._tmp.name) / "mosquitto.log")
        conf = Path(self._tmp.name) / "mosquitto.conf"
        conf.write_text(mosquitto_config(self.port, nodelay=self.nodelay, log_file=log_file, extra=self.extra))
        self._proc = subprocess.Popen(
            [self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _log_tail(self) -> str:
        if self._tmp is None:
            return ""
        path = Path(self._tmp.name) / "mosquitto.log"
        with contextlib.suppress(OSError):
            return path.read_text(errors="replace")[-800:]
        return ""

    def _start_amqtt(self) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            from amqtt.broker import Broker

            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            config = {
                "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }

            async def boot() -> None:
                self._amqtt = Broker(config)
                await self._amqtt.start()

            try:
                loop.run_until_complete(boot())
            except BaseException as exc:  # reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="amqtt-broker", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise RuntimeError(f"embedded amqtt broker failed to start: {errors[0]}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
        if self._loop is not None and self._amqtt is not None:
            loop = self._loop
            fut = asyncio.run_coroutine_threadsafe(self._amqtt.shutdown(), loop)
            with contextlib.suppress(Exception):
                fut.result(10)
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop = None
            self._amqtt = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> MqttBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
