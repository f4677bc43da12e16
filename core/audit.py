"""The audit trail: append-only, hash-chained (DESIGN.md §2 invariant 4).

Each event's hash is sha256 over its canonical content *and the previous event's hash*, so
editing, deleting or reordering any event breaks every later link. The database refuses
UPDATE/DELETE by trigger; :func:`verify_chain` catches anything that got past that (a restored
dump, a hand edit with triggers dropped) and names the first broken event.

Appends happen inside the caller's transaction, so a state change and its audit event commit
together or not at all. Sequence numbers are dense; concurrent appenders serialise on
``BEGIN IMMEDIATE`` (SQLite) or an advisory transaction lock (PostgreSQL).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.models import AuditEvent, Device, canonical_json, utcnow
from core.secrets import mask_params
from core.store.schema import AuditEventRow

GENESIS = "0" * 64
_AUDIT_LOCK_KEY = 72617


def _event_hash(seq: int, ts: datetime, actor: str, action: str, proposal_id: str | None,
                device_id: str | None, subscriber: str | None, model: str | None, firmware: str | None,
                data: dict[str, Any], prev_hash: str) -> str:
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


def _sanitise(data: dict[str, Any]) -> dict[str, Any]:
    """Mask secret parameter values anywhere they appear under a path key."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = mask_params(_sanitise(value)) if _looks_like_params(value) else _sanitise(value)
        elif isinstance(value, list):
            out[key] = [_sanitise(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    if "path" in out and "value" in out and isinstance(out["path"], str):
        out["value"] = mask_params({out["path"]: out["value"]})[out["path"]]
    for key in ("before", "after"):
        if "path" in out and key in out and isinstance(out["path"], str):
            out[key] = mask_params({out["path"]: out[key]})[out["path"]]
    return out


def _looks_like_params(d: dict[str, Any]) -> bool:
    return bool(d) and all(isinstance(k, str) and (k.startswith("Device.") or k.startswith("InternetGatewayDevice."))
                           for k in d)


def append(session: Session, *, actor: str, action: str, proposal_id: str | None = None,
           device: Device | None = None, device_id: str | None = None, data: dict[str, Any] | None = None,
           ts: datetime | None = None) -> AuditEventRow:
    """Append one event in the caller's transaction. Secret values are masked here, whatever
    the caller passed, so no code path can put a passphrase into the trail."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK_KEY})
    head = session.execute(
        select(AuditEventRow.seq, AuditEventRow.hash).order_by(AuditEventRow.seq.desc()).limit(1)
    ).first()
    seq = (head[0] + 1) if head else 1
    prev = head[1] if head else GENESIS
    ts = ts or utcnow()
    clean = _sanitise(data or {})
    # Round-trip through JSON so the hash is over exactly what the database will return.
    import orjson

    clean = orjson.loads(canonical_json(clean))
    did = device.id if device is not None else device_id
    subscriber = device.subscriber if device is not None else None
    model = device.model if device is not None else None
    firmware = device.firmware if device is not None else None
    row = AuditEventRow(
        seq=seq, ts=ts, actor=actor, action=action, proposal_id=proposal_id, device_id=did,
        subscriber=subscriber, model=model, firmware=firmware, data=clean, prev_hash=prev,
        hash=_event_hash(seq, ts, actor, action, proposal_id, did, subscriber, model, firmware, clean, prev),
    )
    session.add(row)
    session.flush()
    return row


def append_many(session: Session, events: list[dict[str, Any]]) -> int:
    """Append several events in one transaction (campaign batches): one head read, one lock,
    one bulk insert. Each dict takes the keyword arguments of :func:`append`."""
    if not events:
        return 0
    import orjson

    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK_KEY})
    head = session.execute(
        select(AuditEventRow.seq, AuditEventRow.hash).order_by(AuditEventRow.seq.desc()).limit(1)
    ).first()
    seq = head[0] if head else 0
    prev = head[1] if head else GENESIS
    rows = []
    now = utcnow()
    for ev in events:
        seq += 1
        device: Device | None = ev.get("device")
        did = device.id if device is not None else ev.get("device_id")
        subscriber = device.subscriber if device is not None else None
        model = device.model if device is not None else None
        firmware = device.firmware if device is not None else None
        clean = orjson.loads(canonical_json(_sanitise(ev.get("data") or {})))
        ts = ev.get("ts") or now
        h = _event_hash(seq, ts, ev["actor"], ev["action"], ev.get("proposal_id"), did, subscriber, model, firmware,
                        clean, prev)
        rows.append(AuditEventRow(seq=seq, ts=ts, actor=ev["actor"], action=ev["action"],
                                  proposal_id=ev.get("proposal_id"), device_id=did, subscriber=subscriber,
                                  model=model, firmware=firmware, data=clean, prev_hash=prev, hash=h))
        prev = h
    session.add_all(rows)
    session.flush()
    return len(rows)


@dataclass
class ChainReport:
    ok: bool
    count: int
    first_broken_seq: int | None = None
    reason: str = ""

    def message(self) -> str:
        if self.ok:
            return f"audit chain OK ({self.count} events)"
        return f"audit chain BROKEN at event {self.first_broken_seq}: {self.reason}"


def _iter_rows(session: Session, batch: int = 5000) -> Iterator[AuditEventRow]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEventRow).where(AuditEventRow.seq > last).order_by(AuditEventRow.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole chain; stop at the first event whose link or hash does not hold."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    for row in _iter_rows(session):
        if row.seq != expected_seq:
            return ChainReport(False, count, expected_seq, f"event {expected_seq} is missing (next is {row.seq})")
        if row.prev_hash != prev:
            return ChainReport(False, count, row.seq, "prev_hash does not match the previous event's hash")
        recomputed = _event_hash(row.seq, row.ts, row.actor, row.action, row.proposal_id, row.device_id,
                                 row.subscriber, row.model, row.firmware, row.data, row.prev_hash)
        if recomputed != row.hash:
            return ChainReport(False, count, row.seq, "content does not match its hash (edited)")
        prev = row.hash
        expected_seq += 1
        count += 1
    return ChainReport(True, count)


def to_model(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(seq=row.seq, ts=row.ts, actor=row.actor, action=row.action, proposal_id=row.proposal_id,
                      device_id=row.device_id, subscriber=row.subscriber, model=row.model,
                      firmware=row.firmware, data=row.data, prev_hash=row.prev_hash, hash=row.hash)
