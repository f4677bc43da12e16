"""The audit chain's head as the last Gateward process on this host signed it (PostgreSQL).

Why: an audited commit on PostgreSQL is one statement when it knows the chain's head
in advance (``gateward_audit_append``, migration 0024), and each process remembered only the head
*it* signed last. With several processes on one database (API workers, job workers) the head was
almost always another process's, so ~94 % of appends in the four-process lifecycle bench took the
fallback: the append that finds a different head, the head check, a second statement — ~210 µs of
client and database CPU more per audited commit. Processes of one host now leave the head they
signed in a small file beside the database's anchor file, and the next appender on the host, in
whichever process, expects that head.

Nothing here is trusted. A head read from the file is used only if its MAC verifies with this
process's audit key — exactly the check :func:`core.audit._head_problem` makes of the database's
keyed head — and the database function still writes only if its head row and the table's tail
are exactly that head; anything else (a stale head, a torn or forged record, a file that cannot be
read or written) is at worst an expectation that fails: the checked fallback, as without a hint.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import orjson

from core.audit_anchor import AuditKey, anchor_path, mac_ok

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

RECORD = 320  # bytes: one head as JSON, padded; read and written whole at offset 0


class SignedHead(NamedTuple):
    seq: int
    hash: str
    ts: datetime
    key_id: str
    mac: str


# engine → fd (None: no file)
_FILES: weakref.WeakKeyDictionary[Engine | Connection, int | None] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def head_file(url: URL | str) -> Path | None:
    """Where the host's head hint for the database at ``url`` lives: beside its anchor file."""
    anchors = anchor_path(url)
    return None if anchors is None else anchors.with_name(anchors.name + ".head")


def _fd(bind: Engine | Connection) -> int | None:
    if bind in _FILES:
        return _FILES[bind]
    with _GUARD:
        if bind in _FILES:
            return _FILES[bind]
        fd: int | None = None
        path = head_file(bind.url if hasattr(bind, "url") else bind.engine.url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                fd = None  # no hint for this engine: every process appends as if alone
            else:
                weakref.finalize(bind, os.close, fd)  # closed with its engine, not left open per engine
        _FILES[bind] = fd
        return fd


def publish(bind: Engine | Connection, head: SignedHead) -> None:
    """Leave ``head`` (just signed by this process) for the next appender on this host. One
    positional write; a failure costs only the hint."""
    fd = _fd(bind)
    if fd is None:
        return
    record = orjson.dumps({"seq": head.seq, "hash": head.hash, "ts": head.ts.isoformat(timespec="microseconds"),
                           "key_id": head.key_id, "mac": head.mac})
    if len(record) > RECORD:
        return
    with contextlib.suppress(OSError):
        os.pwrite(fd, record.ljust(RECORD), 0)


def newer_than(bind: Engine | Connection, key: AuditKey, seq: int) -> SignedHead | None:
    """The host's last signed head if it is past ``seq`` and signed with ``key``, else None.
    A record that does not parse or whose MAC does not verify (torn, stale key, forged) is None."""
    fd = _fd(bind)
    if fd is None:
        return None
    try:
        raw = os.pread(fd, RECORD, 0)
        doc = orjson.loads(raw.rstrip(b" \x00") or b"null")
        if not isinstance(doc, dict) or int(doc["seq"]) <= seq or doc["key_id"] != key.key_id:
            return None
        head = SignedHead(int(doc["seq"]), str(doc["hash"]), datetime.fromisoformat(str(doc["ts"])),
                          str(doc["key_id"]), str(doc["mac"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if head.ts.tzinfo is None or not mac_ok(key, "head", head.seq, head.hash, head.seq, head.ts, head.mac):
        return None
    return head
