"""Whose CPU a benchmark's figure is: a process's, a database backend's, the simulated devices'.

Why: on this machine the benchmarks run the control plane, its PostgreSQL and the simulated fleet
(the "devices") on the same cores. A device's own work — the simulator reading and writing its
twin, and the twin's database statements — is what a real CPE does on its own CPU; the campaign
bench has always reported its figures with that work taken out ("control plane"), and the
lifecycle bench does the same. Both read the pieces from here:

* :func:`proc_cpu_s` — user + system CPU seconds of a local process (Linux ``/proc``);
* :func:`named` and :class:`BackendCpu` — a PostgreSQL URL whose connections carry an
  ``application_name``, and the CPU the backends serving each name used (local server only);
* :class:`DeviceClock` — wall and thread CPU spent inside the simulator executor's calls in this
  process (reads, presence, backup reads, writes, operations), counted once however they nest.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CP_APP, SIM_APP = "gateward-bench", "gateward-bench-sim"  # PostgreSQL application_name per role


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a local process (Linux ``/proc``), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def named(url: str, app: str) -> str:
    """``url`` with its connections named ``app`` (PostgreSQL's ``application_name``)."""
    return f"{url}{'&' if '?' in url else '?'}application_name={app}"


class BackendCpu:
    """CPU seconds used by the PostgreSQL backends serving connections named ``apps`` between
    construction and :meth:`stop`. A backend that appeared in between counts from zero (its
    start-up included); one that ended before :meth:`stop` is not seen then, so take the reading
    while the measured processes still hold their connections. ``None`` per name when the server
    is not on this host (its backends' ``/proc`` entries are not ours to read)."""

    def __init__(self, engine: Any, apps: Iterable[str] = (CP_APP, SIM_APP)) -> None:
        self.engine, self.apps = engine, tuple(apps)
        self._start = self._read()

    def _read(self) -> dict[str, dict[int, float]] | None:
        from sqlalchemy import text

        try:
            with self.engine.connect() as c:
                rows = c.execute(text("SELECT pid, application_name FROM pg_stat_activity "
                                      "WHERE application_name = ANY(:apps)"), {"apps": list(self.apps)}).all()
        except Exception:
            return None
        out: dict[str, dict[int, float]] = {app: {} for app in self.apps}
        for pid, app in rows:
            cpu = proc_cpu_s(int(pid))
            if cpu is not None:
                out[str(app)][int(pid)] = cpu
        return out if any(out.values()) else None

    def stop(self) -> dict[str, float | None]:
        """Seconds per name since construction (None where the backends could not be read)."""
        end = self._read()
        if self._start is None or end is None:
            return dict.fromkeys(self.apps)
        start = self._start
        return {app: sum(v - start[app].get(pid, 0.0) for pid, v in end[app].items()) for app in self.apps}


class DeviceClock:
    """Wall and thread CPU this process spends inside the simulator executor's device calls.

    :meth:`install` wraps ``SimExecutor``'s reads, presence, discovery, backup read, write and
    operation (the methods behind every facade the lifecycle and the router hand out) — in this
    process only, for a benchmark's lifetime. A call made inside another (the default backup read
    reads) is counted once. The lifecycle's grant check and everything around the call stay the
    control plane's."""

    METHODS = ("read", "presence", "discover", "read_for_backup", "_apply", "_operate")

    def __init__(self) -> None:
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.calls = 0  # outermost device calls timed
        self._local = threading.local()
        self._lock = threading.Lock()
        self._originals: dict[str, Any] = {}

    def install(self) -> DeviceClock:
        from executors.sim.executor import SimExecutor

        if self._originals:
            raise RuntimeError("this DeviceClock is installed already")
        for name in self.METHODS:
            self._originals[name] = SimExecutor.__dict__.get(name)
            setattr(SimExecutor, name, self._timed(getattr(SimExecutor, name)))
        return self

    def uninstall(self) -> None:
        """Give ``SimExecutor`` its own methods back (an inherited one is inherited again)."""
        from executors.sim.executor import SimExecutor

        for name, original in self._originals.items():
            if original is None:
                delattr(SimExecutor, name)
            else:
                setattr(SimExecutor, name, original)
        self._originals.clear()

    def _timed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._local, "inside", False):
                return fn(*args, **kwargs)
            self._local.inside = True
            w, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self._local.inside = False
                dw, dc = time.perf_counter() - w, time.thread_time() - c
                with self._lock:
                    self.wall_s += dw
                    self.cpu_s += dc
                    self.calls += 1

        return timed

    def reading(self) -> tuple[float, float]:
        """(wall, CPU) seconds so far."""
        with self._lock:
            return self.wall_s, self.cpu_s
