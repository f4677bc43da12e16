"""How ``gateward run`` serves HTTP: uvicorn's options (:func:`uvicorn_options`), its HTTP protocols with
a deadline for the request headers, and ``--workers N`` — N API processes on one port, each
accepting on a socket of its own.

Why a header deadline of our own: uvicorn has none. ``timeout_keep_alive`` covers only
the wait between requests, and any byte received resets it, so 60 connections trickling their
headers a byte at a time were all kept, indefinitely. :class:`HeaderDeadline` gives every request
``GATEWARD_API_HEADER_TIMEOUT_S`` (10 s) from the connection (or the previous answer) to the end of
its headers, then answers 408 and closes; the body has its own deadline (``api.limits.BodyGuard``).
The ``Server: uvicorn`` header is not sent: it tells a prober only what to try.

Why not uvicorn's default, every worker accepting on one shared socket: a worker woken by a burst
of new connections accepts all that are queued at once. A handful of long-lived keep-alive
connections — a reverse proxy's upstream pool, a benchmark's eight clients — then often lands on
one process, which does all the work while the other idles for as long as the connections live
(``gateward bench api_latency``, two processes: rounds of 159 to 292 ``POST /api/proposals`` a
second by how the eight connections happened to split). With ``SO_REUSEPORT`` (Linux) each worker
listens on a socket of its own on the same port and the kernel spreads new connections across
the sockets by their addresses.

The supervisor is uvicorn's (health checks, SIGHUP restarts), with two changes: worker ``i`` always
serves socket ``i``, and SIGTERM or SIGINT drains (``gateward.shutdown``). A worker that dies is
replaced on its socket; the supervisor keeps every socket open, so connections queued on it wait for
the replacement instead of being refused. The number of workers is fixed (one per socket): SIGTTIN/SIGTTOU are refused.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import socket
import time
from collections.abc import Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

import orjson
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import Server
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from api.limits import ReadTimeouts
from core.failpoints import failpoint

if TYPE_CHECKING:
    from gateward.shutdown import Drain

logger = logging.getLogger("uvicorn.error")


@functools.cache
def header_timeout_s() -> float:
    """This process's header deadline (read once: every worker process reads its own environment)."""
    return ReadTimeouts.from_env().header_s


class HeaderDeadline(asyncio.Protocol):
    """Mixed into uvicorn's HTTP protocols: a connection whose request headers are not complete
    ``header_timeout_s()`` after it was made — or after the previous answer on it — gets a 408 and
    is closed. Armed on those two events only (one timer a request); when it fires it looks at
    the connection: a request whose headers have arrived is in progress (its body has a deadline
    of its own in ``api.limits.BodyGuard``) and is left alone."""

    transport: asyncio.Transport
    cycle: Any
    loop: asyncio.AbstractEventLoop
    _header_timer: asyncio.TimerHandle | None = None

    def _arm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(header_timeout_s(), self._header_deadline_passed)

    def _header_deadline_passed(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return
        body = orjson.dumps({"error": "request_timeout",
                             "detail": f"the request headers did not arrive within {header_timeout_s():g} s"})
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                             b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm_header_deadline()


class H11WithDeadline(HeaderDeadline, H11Protocol):
    """uvicorn's pure-Python HTTP/1.1 protocol (``--http h11``) with the header deadline."""


def _httptools_protocol() -> type[asyncio.Protocol] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools not installed: --http h11 only (gateward.runtime.server_impls says so)
        return None

    class HttpToolsWithDeadline(HeaderDeadline, HttpToolsProtocol):
        """uvicorn's C-parser HTTP/1.1 protocol (``--http httptools``) with the header deadline."""

    HttpToolsWithDeadline.__module__ = __name__  # picklable by name: --workers N sends the config to each process
    HttpToolsWithDeadline.__qualname__ = "HttpToolsWithDeadline"
    return HttpToolsWithDeadline


HttpToolsWithDeadline = _httptools_protocol()
PROTOCOLS: dict[str, type[asyncio.Protocol] | None] = {"h11": H11WithDeadline, "httptools": HttpToolsWithDeadline}


def uvicorn_options(http_impl: str, loop_impl: str) -> dict[str, Any]:
    """uvicorn's settings for ``gateward run`` (a resolved ``http_impl``, ``gateward.runtime.server_impls``):
    the parser's protocol with the header deadline, no ``Server`` header, idle keep-alive
    connections closed after 5 s (uvicorn's default, said here), h11's buffer of an incomplete
    request line and headers at 16 KiB (its default; httptools has a fixed limit of its own)."""
    ReadTimeouts.from_env()  # a bad GATEWARD_API_*_TIMEOUT_S stops the start here, before serving
    start_timeout_s()
    return {"log_level": "warning", "http": PROTOCOLS[http_impl] or http_impl, "loop": loop_impl,
            "server_header": False, "timeout_keep_alive": 5, "h11_max_incomplete_event_size": 16 * 1024}


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


START_TIMEOUT_VAR = "GATEWARD_API_START_TIMEOUT_S"
DEFAULT_START_TIMEOUT_S = 120.0


def start_timeout_s(env: Mapping[str, str] | None = None) -> float:
    """How long a new API process of ``--workers N`` may take to answer its supervisor for the first
    time (``GATEWARD_API_START_TIMEOUT_S``, 120 s). Why a bound of its own: uvicorn judges a worker by
    a 5 s ping from the moment it is spawned, but a spawned process answers only once its
    interpreter has started and imported the app — on a loaded host that took longer than 5 s, and
    every replacement was killed in turn, so the server never became ready. A bad value stops the
    start with the variable's name."""
    from gateward.shutdown import seconds_setting

    return seconds_setting(START_TIMEOUT_VAR, DEFAULT_START_TIMEOUT_S, env)


class GatewardProcess(Process):
    """One API process of ``--workers N``. The failpoint ``serving.api_process_start`` holds it before
    it can answer its supervisor — a process slow to start, as on a loaded host."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover - child
        failpoint("serving.api_process_start")
        super().target(sockets)


class DrainingProcess(GatewardProcess):
    """One API process of ``--workers N``: its server drains on SIGTERM or SIGINT as a single process does,
    a second earlier than the supervisor's deadline, so that its own line about what it left (if
    anything) is the one in the log."""

    @property
    def server(self) -> Server:
        if self._server is None:
            from gateward.shutdown import Drain, shutdown_s

            limit = shutdown_s()
            self._server = DrainingServer(self.config, Drain(max(limit * 0.9, limit - 1)))
        return self._server


class SocketPerWorker(Multiprocess):
    """uvicorn's :class:`Multiprocess`, except that worker ``i`` serves ``slots[i]`` only — and,
    given a ``drain``, SIGTERM or SIGINT drains: every API process is told at once
    (SIGTERM) and drains itself (503 to writes, its applies finish), the supervisor's own part (the
    embedded worker) drains beside them, and the supervisor exits once all have, or at its deadline.

    A second Ctrl-C stops everything at once: each API process is sent SIGINT, which stops a
    draining one at once, naming what it leaves (a terminal sends it to the whole process group
    anyway; the first Ctrl-C is passed on as SIGTERM, so that a process that got the terminal's
    SIGINT and then the supervisor's is not stopped by the first press); then the supervisor."""

    def __init__(self, config: Config, slots: list[socket.socket], drain: Drain | None = None) -> None:
        super().__init__(config, sockets=slots)
        self.slots = slots
        self.processes_num = len(slots)
        self.drain = drain
        self.start_timeout_s = start_timeout_s()
        self._born: dict[int, float] = {}  # slot → when its current process was started
        self._unheard: set[int] = set()  # slots whose process has not answered a ping yet
        self._pinged: set[int] = set()  # ... and that have a ping waiting for that first answer
        if drain is not None:
            drain.then = self.should_exit.set
            drain.waits.append(self._children_gone)

    def _start(self, idx: int) -> Process:
        process = (DrainingProcess if self.drain is not None else GatewardProcess)(self.config, [self.slots[idx]])
        process.start()
        self._born[idx] = time.monotonic()
        self._unheard.add(idx)
        self._pinged.discard(idx)
        return process

    def _answers(self, idx: int, process: Process) -> bool:
        """Whether the process in slot ``idx`` is alive: uvicorn's ping once it has answered once;
        before that, alive while it is younger than ``start_timeout_s`` (one ping is kept waiting
        for its first answer, never a queue of them)."""
        if idx not in self._unheard:
            return process.is_alive(timeout=self.config.timeout_worker_healthcheck)
        if not process.process.is_alive():
            return False
        try:
            if idx not in self._pinged:
                process.parent_conn.send(b"ping")
                self._pinged.add(idx)
            if process.parent_conn.poll(0.2):
                process.parent_conn.recv()
                self._unheard.discard(idx)
                self._pinged.discard(idx)
                return True
        except (OSError, EOFError):
            return False
        if time.monotonic() - self._born[idx] < self.start_timeout_s:
            return True
        logger.error("worker [%s] did not answer within %s=%g s of its start; replacing it",
                     process.pid, START_TIMEOUT_VAR, self.start_timeout_s)
        return False

    def handle_term(self) -> None:
        if self.drain is None:
            super().handle_term()
            return
        self._begin_drain("SIGTERM")

    def handle_int(self) -> None:
        if self.drain is None:
            super().handle_int()
            return
        if not self.drain.started:
            self._begin_drain("SIGINT")
            return
        for process in self.processes:  # a second Ctrl-C: each stops now, saying what it leaves
            if process.process.exitcode is None and process.pid is not None:
                os.kill(process.pid, signal.SIGINT)
        if not self._children_gone(5):
            for process in self.processes:
                if process.process.is_alive():
                    process.kill()
        self.drain.force("SIGINT", left_elsewhere=any(p.exitcode != 0 for p in self.processes))

    def _begin_drain(self, why: str) -> None:
        assert self.drain is not None
        for process in self.processes:  # each drains itself; their pipes stay open for the join
            if process.process.exitcode is None and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        # No worker is replaced from now on, so this process needs the sockets no more: closed here,
        # each closes for good when its worker stops serving, and new connections go to the workers
        # still draining (503 to writes) or, once none is, are refused — never queued unanswered.
        for sock in self.slots:
            sock.close()
        self.drain.begin(why)

    def _children_gone(self, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while any(p.process.is_alive() for p in self.processes):
            if time.monotonic() >= end:
                return False
            time.sleep(0.1)
        return True

    @property
    def left_work(self) -> bool:
        """Whether an API process exited at its deadline with a write in flight (left to recovery)."""
        from gateward.shutdown import LEFT_TO_RECOVERY

        return any(p.exitcode == LEFT_TO_RECOVERY for p in self.processes)

    def init_processes(self) -> None:
        self.processes = [self._start(i) for i in range(len(self.slots))]

    def restart_all(self) -> None:
        """SIGHUP: each worker's replacement starts on the same socket and serves before the old
        one is retired (as uvicorn does it)."""
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(idx)
            if not new.wait_until_ready(self.start_timeout_s, self.should_exit):
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
        if self.should_exit.is_set() or (self.drain is not None and self.drain.started):
            return  # stopping: a worker that exits is not replaced
        for idx, process in enumerate(self.processes):
            if self._answers(idx, process):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker [%s] failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.warning("worker [%s] died or stopped answering; replacing it on its socket", process.pid)
            self.processes[idx] = self._start(idx)

    def handle_ttin(self) -> None:
        logger.warning("the number of API processes is fixed by --workers here (one per socket); ignoring SIGTTIN")

    def handle_ttou(self) -> None:
        logger.warning("the number of API processes is fixed by --workers here (one per socket); ignoring SIGTTOU")


class DrainingServer(Server):
    """uvicorn's server, except that SIGTERM or SIGINT (Ctrl-C) drains (``gateward.shutdown``, issue
    36): it keeps serving — reads answered, writes refused 503 — until nothing is in flight, then
    stops as uvicorn stops (no new connection, open ones finished, at most the time left). A second
    Ctrl-C, or the deadline, exits whatever happens, naming what it leaves to recovery."""

    def __init__(self, config: Config, drain: Drain) -> None:
        super().__init__(config)
        self.drain = drain
        drain.then = self.stop_serving

    def stop_serving(self) -> None:
        """The drain is over: uvicorn's own shutdown, bounded by what is left of the deadline less
        a little for the process's own teardown (the live feed's streams ended when the drain began)."""
        self.config.timeout_graceful_shutdown = max(1, int(self.drain.left_s()) - 3)
        self.should_exit = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT) and (self.drain.started or not self.should_exit):
            # Not recorded as captured: a drained process exits 0, not by the signal. A SIGINT while
            # draining (a second Ctrl-C) stops at once (Drain.on_signal).
            self.drain.on_signal(signal.Signals(sig).name)
            return
        super().handle_exit(sig, frame)


def demo_api_worker_app() -> Any:
    """The app of one extra ``gateward run --demo --workers N`` process (a uvicorn factory): as
    ``gateward.runtime.api_worker_app``, and it tells the console it is a demo (``/api/health``),
    as the supervisor's own process would — whichever process a browser's request reaches."""
    from api.app import create_app
    from gateward.heap import freeze_start_up_heap
    from gateward.runtime import build_runtime

    app = create_app(build_runtime(), demo=True)
    freeze_start_up_heap()
    return app
