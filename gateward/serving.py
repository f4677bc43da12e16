"""``gateward run --workers N``: N API processes on one port, each accepting on a socket of its own.

Why not uvicorn's default, every worker accepting on one shared socket: a worker woken by a burst
of new connections accepts all that are queued at once. A handful of long-lived keep-alive
connections — a reverse proxy's upstream pool, a benchmark's eight clients — then often lands on
one process, which does all the work while the other idles for as long as the connections live
(``gateward bench api_latency``, two processes: rounds of 159 to 292 ``POST /api/proposals`` a
second by how the eight connections happened to split). With ``SO_REUSEPORT`` (Linux) each worker
listens on a socket of its own on the same port and the kernel spreads new connections across
the sockets by their addresses.

The supervisor is uvicorn's (health checks, SIGHUP restarts, SIGINT/SIGTERM), with one change:
worker ``i`` always serves socket ``i``. A worker that dies is replaced on its socket; the
supervisor keeps every socket open, so connections queued on it wait for the replacement instead
of being refused. The number of workers is fixed (one per socket): SIGTTIN/SIGTTOU are refused.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

logger = logging.getLogger("uvicorn.error")


def can_share_port() -> bool:
    """Whether this platform lets several sockets listen on one port (``SO_REUSEPORT``)."""
    return hasattr(socket, "SO_REUSEPORT")


def sharing_socket(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (not yet listening)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def worker_sockets(first: socket.socket, n: int) -> list[socket.socket]:
    """``first`` (bound with ``SO_REUSEPORT`` and listening) and ``n - 1`` more on its address."""
    out = [first]
    host, port = first.getsockname()[:2]
    try:
        for _ in range(n - 1):
            sock = sharing_socket(first.family, host, port)
            out.append(sock)
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError:
        for sock in out[1:]:
            sock.close()
        raise
    return out


class SocketPerWorker(Multiprocess):
    """uvicorn's :class:`Multiprocess`, except that worker ``i`` serves ``slots[i]`` only."""

    def __init__(self, config: Config, slots: list[socket.socket]) -> None:
        super().__init__(config, sockets=slots)
        self.slots = slots
        self.processes_num = len(slots)

    def _start(self, idx: int) -> Process:
        process = Process(self.config, [self.slots[idx]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(i) for i in range(len(self.slots))]

    def restart_all(self) -> None:
        """SIGHUP: each worker's replacement starts on the same socket and serves before the old
        one is retired (as uvicorn does it)."""
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(idx)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error("new worker [%s] was not ready in time; keeping [%s], restart aborted",
                                 new.pid, old.pid)
                return
            old.terminate()
            old.join()
            self.processes[idx] = new

    def keep_subprocess_alive(self) -> None:
        """A worker that died or stopped answering is replaced on its own socket. One that failed
        before it served stops everything: the app or the socket is broken and would fail again."""
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker [%s] failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info("worker [%s] died; replacing it on its socket", process.pid)
            self.processes[idx] = self._start(idx)

    def handle_ttin(self) -> None:
        logger.warning("the number of API processes is fixed by --workers here (one per socket); ignoring SIGTTIN")

    def handle_ttou(self) -> None:
        logger.warning("the number of API processes is fixed by --workers here (one per socket); ignoring SIGTTOU")


def demo_api_worker_app() -> Any:
    """The app of one extra ``gateward run --demo --workers N`` process (a uvicorn factory): as
    ``gateward.runtime.api_worker_app``, and it tells the console it is a demo (``/api/health``),
    as the supervisor's own process would — whichever process a browser's request reaches."""
    from api.app import create_app
    from gateward.runtime import build_runtime

    return create_app(build_runtime(), demo=True)
