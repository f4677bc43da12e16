"""A real ``gateward run`` process for end-to-end tests: start it, wait until it serves, stop it.

Why one helper: the browser suites and the USP events test each booted the server with their own
copy of the same loop (pick a port, Popen with the database in the environment, poll
``/api/ready`` while watching for an early exit, terminate then kill); a fix to one copy (a log
tail in the failure, a kill after a hung stop) never reached the others. Failures raise
:class:`ServerFailed` carrying the end of the server's log, so the reason shows in the test report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

LOG_TAIL = 3000


class ServerFailed(RuntimeError):
    """The server exited, did not become ready, or did not stop; the message ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewardRun:
    """``python -m gateward.cli run`` over an already seeded database, logging to ``home/server.log``.

    As a context manager it starts the server, waits for ``/api/ready`` and stops it on exit;
    :meth:`start`, :meth:`wait_log` and :meth:`stop` serve a test that checks how it starts or
    stops (a log line, the exit code after SIGINT).
    """

    def __init__(self, *, home: Path, database_url: str, homes: int, cwd: Path,
                 env: Mapping[str, str] | None = None, args: Sequence[str] = (),
                 log: Path | None = None, port: int | None = None) -> None:
        self.home, self.cwd = home, cwd
        self._own_port = port is None  # a port it chose itself may be chosen again when another takes it
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log or home / "server.log"
        # ``--homes`` sizes the demo's fleet only: a production start (no ``--demo``) refuses it (issue 34)
        sized = ["--homes", str(homes)] if "--demo" in args else []
        self.argv = [sys.executable, "-m", "gateward.cli", "run", "--host", "127.0.0.1", "--port", str(self.port),
                     *sized, *args]
        self.env = {**os.environ, "GATEWARD_DATABASE_URL": database_url, "GATEWARD_HOME": str(home),
                    "PYTHONUNBUFFERED": "1"}
        self.env.pop("OPENAI_API_KEY", None)  # the offline planner: deterministic
        self.env.update(env or {})
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise ServerFailed("gateward run was not started")
        return self._proc

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-LOG_TAIL:] if self.log.exists() else "(no log)"

    def start(self) -> GatewardRun:
        with open(self.log, "wb") as out:
            self._proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=out,
                                          stderr=subprocess.STDOUT)
        return self

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise ServerFailed(f"gateward run exited with {self.proc.returncode}:\n{self.log_tail()}")

    def wait_ready(self, timeout: float = 240) -> None:
        """Until ``/api/ready`` answers 200; an exit or the timeout raises :class:`ServerFailed`.

        Liveness deadlines, not speed bounds: on a 2-core machine at load 20 a new server's first
        answers took longer than a 2 s read, so every probe was abandoned and the 90 s ran out with
        the server up (make test at load 15). Each probe may take up to 30 s."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                left = max(2.0, min(30.0, deadline - time.monotonic()))
                if httpx.get(f"{self.base}/api/ready", timeout=left).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServerFailed(f"gateward run did not become ready in {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.3)

    def wait_log(self, needle: str, timeout: float) -> None:
        """Until ``needle`` appears in the server's log; an exit or the timeout raises."""
        deadline = time.monotonic() + timeout
        while needle not in self.log.read_text(errors="replace"):
            self._check_alive()
            if time.monotonic() > deadline:
                raise ServerFailed(f"no {needle!r} from gateward run within {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Send ``sig`` and return the exit code; one that does not stop in ``timeout`` is killed
        and raises :class:`ServerFailed` (a hung shutdown is a failure, not a slow test)."""
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise ServerFailed(f"gateward run did not stop on {signal.Signals(sig).name}:\n{self.log_tail()}") from None

    def __enter__(self) -> GatewardRun:
        for attempt in range(3):
            self.start()
            try:
                self.wait_ready()
            except ServerFailed as exc:
                self._stop_quietly()
                # free_port() only says the port was free a moment ago: on parallel workers another
                # process can bind it first (CI: "cannot listen on 127.0.0.1:42977: Address already in
                # use"). A port this object chose is chosen again; one the test named is its failure.
                if not (self._own_port and attempt < 2 and "Address already in use" in str(exc)):
                    raise
                self._choose_port(free_port())
                continue
            except BaseException:
                self._stop_quietly()
                raise
            return self
        raise AssertionError("unreachable")

    def _choose_port(self, port: int) -> None:
        old = str(self.port)
        self.port, self.base = port, f"http://127.0.0.1:{port}"
        self.argv = [str(port) if a == old and self.argv[i - 1] == "--port" else a for i, a in enumerate(self.argv)]

    def _stop_quietly(self) -> None:
        with contextlib.suppress(ServerFailed):  # killed: nothing is left running
            self.stop()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop_quietly()
