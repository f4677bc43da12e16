"""The audit chain check itself: one pure function over rows, whoever read them.

Why apart from ``core.audit``: ``gateward audit verify`` is a read command and must start like
one — on the DB-API connection of ``core.store.lite``, without SQLAlchemy or the ORM schema —
while the ORM path (``core.audit.verify_chain``, the API, tests holding a session) must reach the
same verdict. Both read the rows their own way and hand them here: :func:`verify` is the only
place that follows links, recomputes hashes and matches the keyed head, checkpoints and anchor
files. Rows are anything with the columns as attributes (an ``AuditEventRow``, an
:class:`EventRecord`); timestamps aware (UTC), ``data`` decoded JSON — as the ORM hands them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from core.audit_anchor import Anchor, AuditKey, load_key, mac_ok, read_anchors, settings
from core.kernel.canonical import canonical_json
from core.kernel.jsontypes import Json

GENESIS = "0" * 64
TAMPER_ACTION = "alarm.audit_tampered"


def event_hash(seq: int, ts: datetime, actor: str, action: str, proposal_id: str | None,
               device_id: str | None, subscriber: str | None, model: str | None, firmware: str | None,
               data: Mapping[str, Json], prev_hash: str) -> str:
    """The hash of one event: what appends write and what verify recomputes."""
    body = {
        "seq": seq,
        "ts": ts.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "proposal_id": proposal_id,
        "device_id": device_id,
        "subscriber": subscriber,
        "model": model,
        "firmware": firmware,
        "data": data,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


class EventLike(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def proposal_id(self) -> str | None: ...
    @property
    def device_id(self) -> str | None: ...
    @property
    def subscriber(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def firmware(self) -> str | None: ...
    @property
    def data(self) -> Any: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


class EventRecord(NamedTuple):
    """One ``audit_events`` row as the DB-API path reads it (the column order of the table)."""

    seq: int
    ts: datetime
    actor: str
    action: str
    proposal_id: str | None
    device_id: str | None
    subscriber: str | None
    model: str | None
    firmware: str | None
    data: Any
    prev_hash: str
    hash: str


EVENT_COLUMNS = EventRecord._fields


@dataclass(frozen=True)
class Finding:
    seq: int
    text: str


@dataclass
class ChainReport:
    ok: bool
    count: int
    first_broken_seq: int | None = None
    reason: str = ""
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    cannot_detect: list[str] = field(default_factory=list)

    def message(self) -> str:
        if self.ok:
            return f"audit chain OK ({self.count} events)"
        return f"audit chain BROKEN at event {self.first_broken_seq}: {self.reason}"

    def details(self) -> list[str]:
        """What was checked, every finding, and what this check cannot detect — for people."""
        out = ["checked:", *(f"  - {c}" for c in self.checked)]
        if self.findings:
            out += ["findings:", *(f"  - event {f.seq}: {f.text}" for f in self.findings)]
        out += ["cannot detect:", *(f"  - {c}" for c in self.cannot_detect)]
        return out


@dataclass
class _Verifier:
    """Collects what a verify run learns: findings, and the hash each authenticated source expects
    at a seq (keyed head, checkpoints, anchor lines)."""

    key: AuditKey | None
    findings: list[Finding] = field(default_factory=list)
    expected: dict[int, tuple[str, str]] = field(default_factory=dict)  # seq -> (hash, which source)

    def find(self, seq: int, text_: str) -> None:
        self.findings.append(Finding(seq, text_))

    def authentic(self, kind: str, a: Anchor, source: str) -> bool:
        if self.key is None:
            return False
        if mac_ok(self.key, kind, a.seq, a.hash, a.count, a.ts, a.mac):
            self.expected.setdefault(a.seq, (a.hash, source))
            return True
        other = f" (it names key {a.key_id}; this is {self.key.key_id})" if a.key_id != self.key.key_id else \
            " (forged or altered)"
        self.find(a.seq, f"{source} at seq {a.seq} is not signed by this audit key{other}")
        return False


def _walk(rows: Iterable[EventLike], v: _Verifier) -> tuple[int, int]:
    """Follow every link from genesis; returns (events, the table's head seq)."""
    prev, expected_seq, count, last, broken = GENESIS, 1, 0, 0, False
    for row in rows:
        count += 1
        if not broken:
            if row.seq != expected_seq:
                broken = True
                v.find(expected_seq, f"event {expected_seq} is missing (next is {row.seq})")
            elif row.prev_hash != prev:
                broken = True
                v.find(row.seq, "prev_hash does not match the previous event's hash")
            elif event_hash(row.seq, row.ts, row.actor, row.action, row.proposal_id, row.device_id,
                            row.subscriber, row.model, row.firmware, row.data, row.prev_hash) != row.hash:
                broken = True
                v.find(row.seq, "content does not match its hash (edited)")
        if row.action == TAMPER_ACTION:
            first = row.data.get("first_seq") if isinstance(row.data, dict) else None
            v.find(int(first) if isinstance(first, int) else row.seq,
                   f"Gateward found the trail tampered with when it next wrote (event {row.seq}): "
                   f"{row.data.get('reason') if isinstance(row.data, dict) else ''}")
        exp = v.expected.get(row.seq)
        if exp is not None and exp[0] != row.hash:
            v.find(row.seq, f"event {row.seq} does not match the {exp[1]}: history up to it was rewritten "
                            "(edited and re-chained)")
        prev, expected_seq, last = row.hash, row.seq + 1, row.seq
    return count, last


def verify(events: Iterable[EventLike], checkpoints: Sequence[Anchor], head: Anchor | None,
           anchor_files: Sequence[Path]) -> ChainReport:
    """Check the links, the keyed head, every keyed checkpoint and the anchor file(s).

    ``events`` in ``seq`` order (read lazily: the walk runs after the keyed sources are
    authenticated); ``checkpoints`` in ``seq`` order; ``head`` the ``audit_head`` row (its ``count``
    is its seq) or ``None``; ``anchor_files`` this host's file first, then exported copies.
    Reports every finding, what was checked, and what this cannot detect."""
    key = load_key(create=False)
    v = _Verifier(key)
    cfg = settings()
    checked: list[str] = []
    cps = list(checkpoints)
    if key is None and (cps or head is not None):
        v.find(1, f"no audit key at {cfg.key_file()} and GATEWARD_AUDIT_KEY unset: the keyed head and "
                  f"{len(cps)} checkpoints cannot be authenticated; point GATEWARD_AUDIT_KEY_FILE at the key")
    head_ok = head is not None and v.authentic("head", head, "keyed head")
    good_cps = {cp.seq for cp in cps if v.authentic("checkpoint", cp, "keyed checkpoint")}
    file_top = _check_anchor_files(v, anchor_files, checked)
    count, last = _walk(events, v)
    checked[:0] = [f"{count} events: every hash recomputed and {max(count - 1, 0)} links followed from genesis",
                   f"keyed head: {'seq ' + str(head.seq) if head else 'absent'} (HMAC, audit key "
                   f"{key.key_id if key else 'missing'} from {key.source if key else cfg.key_file()})",
                   f"{len(cps)} keyed checkpoints (every {cfg.audit_checkpoint_every} events), each matched "
                   "against its event"]
    top = max(v.expected, default=0)
    if top > last:
        v.find(last + 1, f"truncated after seq {last}: the {v.expected[top][1]} says {top} events existed")
    if head is None and count:
        v.find(1, f"no keyed head covers events 1..{last}: the audit_head row was deleted, or the events were "
                  "written outside Gateward")
    elif head_ok and head is not None and head.seq < last:
        v.find(head.seq + 1, f"events {head.seq + 1}..{last} are not covered by the keyed head: "
                             "appended outside Gateward (forged)")
    if file_top and file_top <= last and file_top not in good_cps:
        v.find(file_top, f"the anchor file's checkpoint at seq {file_top} is missing from audit_checkpoints "
                         "(checkpoint rows deleted)")
    return _report(v, count, checked)


def _check_anchor_files(v: _Verifier, files: Sequence[Path], checked: list[str]) -> int:
    """Authenticate every line of every anchor file; returns the highest anchored seq."""
    top = 0
    for path in files:
        if not path.exists():
            checked.append(f"anchor file {path}: not present (no checkpoint written from this host yet)")
            continue
        lines = 0
        for line in read_anchors(path):
            lines += 1
            if line.anchor is None:
                v.find(1, f"anchor file {path}: {line.error}")
            elif v.authentic("checkpoint", line.anchor, f"anchor file {path.name}"):
                top = max(top, line.anchor.seq)
        checked.append(f"anchor file {path}: {lines} lines, latest seq {top or '-'}")
    return top


def _report(v: _Verifier, count: int, checked: list[str]) -> ChainReport:
    every = settings().audit_checkpoint_every
    cannot = [
        "someone holding the audit key and database write access can rewrite history since the last anchor "
        "kept off-host; export anchors off-host with `gateward audit anchor` and check them with "
        "`gateward audit verify --anchor FILE`",
        f"deleting the latest events since the last checkpoint (fewer than {every}) while restoring a keyed "
        "head row saved before them; run `gateward audit anchor` or lower GATEWARD_AUDIT_CHECKPOINT_EVERY",
        "anchor files on other hosts are not read: each host's file holds the checkpoints its processes wrote",
    ]
    findings = sorted(dict.fromkeys(v.findings), key=lambda f: f.seq)  # stable: sources in order
    if not findings:
        return ChainReport(True, count, checked=checked, cannot_detect=cannot)
    first = findings[0]
    return ChainReport(False, count, first.seq, first.text, findings, checked, cannot)
