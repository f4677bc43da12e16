"""The change scan's page reader in a process of its own, for a long scan (issue 11 benchmark).

Why a process: reading a page (the HTTP answer, JSON decode, one parse per document) is Python
work that holds the GIL, and the sync applies the previous page in the same process at the same
time. As a thread the reader did not only add its own CPU to the sync's: every time the database
driver released the GIL for a row (``sqlite3`` steps each row of an ``executemany`` without it)
the reader took it for up to a switch interval, so the writer crawled while a page was parsed
(measured: a first sync of 100,000 devices spent twice its CPU time in wall time). In a child the
reader runs on the other core; the sync process keeps one Python thread.

What crosses the pipe is what the in-process reader yields (:class:`~executors.genieacs.inventory.Page`
of :class:`~executors.genieacs.inventory.AcsDevice`/``ItemError`` and its cursor), pickled: one
page is about 120 kB, unpickled in ~1 µs a device. The child is told when to send each page and
reads exactly one page ahead of the sync (the page it sends next), like the thread it replaces, so
memory stays bounded: the page being applied, the one in the pipe, none more. Errors keep their
type: a source failure in the child (the ACS down, slow or answering nonsense) is the same
``SourceError`` with the same words, raised where the next page was expected, so the pages
already applied and the stored cursor stand; a reader that dies or falls silent is a
``SourceError`` too; a bug in the child is a ``RuntimeError`` carrying its traceback.

The child is ``python -m executors.genieacs.inventory_reader``: a plain interpreter that imports
the reader and its HTTP client (about a second), so the sync starts it only for a scan long enough
to repay that (``AcsInventorySource``'s ``process_min``) and keeps reading in-process until the
child says it is ready; a child that cannot start leaves the scan on the in-process reader.

Frames in both directions: 4-byte big-endian length, then a pickle. Parent → child: the job
(client arguments, page size, cursor), then one ``b"n"`` byte per page wanted. Child → parent:
``("ready",)``, then per request ``("page", Page)``, ``("end",)``, ``("error", message)`` or
``("crash", traceback)``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger("gateward.inventory_reader")

MODULE = "executors.genieacs.inventory_reader"  # what the child runs (``python -m``)
_HEADER = struct.Struct(">I")
_NEXT = b"n"
#: How long the parent waits for a page beyond the client's own timeout before it calls the
#: reader dead (the child's HTTP timeout fires first and reports the ACS as the culprit).
_GRACE_S = 30.0


# ---------------------------------------------------------------------------- frames
def _frame(obj: object) -> bytes:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def _write(out: BinaryIO, obj: object) -> None:
    out.write(_frame(obj))
    out.flush()


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    data = stream.read(n)
    return data if data is not None and len(data) == n else None


# ---------------------------------------------------------------------------- the child
def main() -> int:
    """The child: say ready, read the job, then send one page per request until the scan ends."""
    from executors.genieacs.inventory import AcsInventorySource, Cursor, Page, SourceError
    from executors.genieacs.nbi import NbiClient

    out, inp = sys.stdout.buffer, sys.stdin.buffer
    sys.stdout = sys.stderr  # nothing else may write into the frame stream
    # This process's own objects (the modules just imported) live until it ends, and a page's
    # documents are freed by reference counting once the page is sent: keep the collector off
    # the former and let it run less often over the latter (measured in the syncing process:
    # full collections over the imported modules were ~2 µs a device).
    gc.freeze()
    gc.set_threshold(10_000, 20, 50)
    try:
        _write(out, ("ready",))
        header = _read_exact(inp, _HEADER.size)
        if header is None:
            return 0  # the parent no longer wants it
        job = pickle.loads(_read_exact(inp, _HEADER.unpack(header)[0]) or b"")
        source = AcsInventorySource(NbiClient(**job["client"]), page_size=job["page_size"], process_min=None)
        cursor: Cursor | None = job["cursor"]

        def fetch(after: Cursor | None) -> tuple[Any, ...]:
            try:
                page: Page | None = source._next_page(after)
            except SourceError as exc:
                return ("error", str(exc))
            except Exception:  # a bug: the parent raises it with this traceback
                return ("crash", traceback.format_exc())
            return ("end",) if page is None else ("page", page)

        ahead: tuple[Any, ...] | None = None
        while inp.read(1) == _NEXT:
            frame = ahead if ahead is not None else fetch(cursor)
            _write(out, frame)
            if frame[0] != "page":
                return 0
            page = frame[1]
            cursor = page.cursor
            # One page ahead, while the sync applies this one; after a short page there is none.
            ahead = fetch(cursor) if page.full else ("end",)
        return 0
    except (BrokenPipeError, KeyboardInterrupt):
        return 0  # the parent went away: nobody to tell


# ---------------------------------------------------------------------------- the parent
class ProcessReader:
    """The parent's handle on one child reader (one scan)."""

    def __init__(self, client_args: dict[str, Any], page_size: int) -> None:
        self.client_args = client_args
        self.page_size = page_size
        self.timeout_s = float(client_args.get("timeout_s") or 30.0) * 2 + _GRACE_S
        self.started = False
        self.failed = False
        root = str(Path(__file__).resolve().parents[2])  # the directory that holds ``executors``
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen([sys.executable, "-m", MODULE],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in, self._out = self.proc.stdin, self.proc.stdout
        self._fd = self._out.fileno()

    def ready(self, wait_s: float = 0.0) -> bool:
        """Whether the child has started, waiting at most ``wait_s`` for it. A child that died
        starting is marked ``failed`` (the scan goes on in-process)."""
        if self.failed:
            return False
        if self.started:
            return True
        if not select.select([self._fd], [], [], max(0.0, wait_s))[0]:
            return False
        try:
            frame = self._read_frame(time.monotonic() + self.timeout_s)
        except _Gone:
            frame = None
        if frame != ("ready",):
            self.failed = True
            log.warning("the inventory page reader process did not start (exit code %s); reading in-process",
                        self.proc.poll())
            self.close()
            return False
        self.started = True
        return True

    def pages(self, cursor: Any) -> Iterator[Any]:
        """The pages after ``cursor``, one per request (see the module docstring)."""
        from executors.genieacs.inventory import SourceError

        try:
            self._send(_frame({"client": self.client_args, "page_size": self.page_size, "cursor": cursor}))
            while True:
                self._send(_NEXT)
                frame = self._read_frame(time.monotonic() + self.timeout_s)
                kind = frame[0]
                if kind == "page":
                    yield frame[1]
                elif kind == "end":
                    return
                elif kind == "error":
                    raise SourceError(frame[1])
                else:
                    raise RuntimeError(f"the inventory page reader process failed:\n{frame[1]}")
        except _Gone as gone:
            raise SourceError(str(gone)) from None

    def _send(self, data: bytes) -> None:
        try:
            self._in.write(data)
            self._in.flush()
        except (BrokenPipeError, OSError):
            raise _Gone(f"the inventory page reader process ended (exit code {self.proc.poll()}); "
                        "stopped") from None

    def _read_frame(self, deadline: float) -> tuple[Any, ...]:
        size = _HEADER.unpack(self._read(_HEADER.size, deadline))[0]
        frame: tuple[Any, ...] = pickle.loads(self._read(size, deadline))
        return frame

    def _read(self, n: int, deadline: float) -> bytes:
        """``n`` bytes from the child, waiting at most until ``deadline`` (the GIL is released
        while it waits, so nothing else in this process is held up)."""
        chunks, left = [], n
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self._fd], [], [], wait)[0]:
                raise _Gone(f"the inventory page reader process gave no page within {self.timeout_s:g}s; stopped")
            chunk = os.read(self._fd, min(left, 1 << 20))
            if not chunk:
                raise _Gone(f"the inventory page reader process ended mid-scan (exit code {self.proc.poll()}); "
                            "stopped")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Stop the child (it may be blocked fetching a page nobody wants any more)."""
        for stream in (self._in, self._out):
            with contextlib.suppress(OSError):  # a pipe the dead child broke
                stream.close()
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a kill that did not take
            log.error("the inventory page reader process %s did not stop", self.proc.pid)


class _Gone(Exception):
    """The child ended, or fell silent, mid-conversation."""


if __name__ == "__main__":
    sys.exit(main())
