"""``gateward audit verify`` on the DB-API read path: the rows read without SQLAlchemy, the check
is :func:`core.audit_chain.verify` — the same function the ORM path (``core.audit.verify_chain``)
feeds (through the ORM the command took ~1-2 s, nearly all of it importing the ORM and schema).

The rows are decoded as the ORM decodes them (``core.store.lite``: timestamps aware UTC, JSON
parsed), so a recomputed hash sees exactly the values the ORM path sees;
``tests/unit/test_audit_lite.py`` checks both paths reach the same report, tampered or not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from core import audit_chain as chain
from core.audit_anchor import Anchor, anchor_path
from core.store.lite import LiteReader, _sqlite_json, _sqlite_utc, _utc

_PARAM = {"sqlite": ":{}", "postgresql": "%({})s"}
_EVENTS = ("SELECT " + ", ".join(chain.EVENT_COLUMNS) +
           " FROM audit_events WHERE seq > {last} ORDER BY seq LIMIT {limit}")
_CHECKPOINTS = "SELECT seq, hash, count, ts, key_id, mac FROM audit_checkpoints ORDER BY seq"
_HEAD = "SELECT seq, hash, seq, ts, key_id, mac FROM audit_head WHERE id = 1"  # the head's count is its seq


def _sql(reader: LiteReader, text: str) -> str:
    style = _PARAM[reader.backend]
    return text.format(last=style.format("last"), limit=style.format("limit"))


def _ts(reader: LiteReader, value: Any) -> Any:
    return _sqlite_utc(value) if reader.backend == "sqlite" else _utc(value)


def _events(reader: LiteReader, batch: int = 5000) -> Iterator[chain.EventRecord]:
    sql, sqlite, last = _sql(reader, _EVENTS), reader.backend == "sqlite", 0
    while True:
        _, rows = reader._fetch(sql, {"last": last, "limit": batch})
        if not rows:
            return
        for r in rows:
            yield chain.EventRecord(r[0], _ts(reader, r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                                    _sqlite_json(r[9]) if sqlite else r[9], r[10], r[11])
        last = rows[-1][0]


def _anchors(reader: LiteReader, sql: str) -> list[Anchor]:
    _, rows = reader._fetch(sql, {})
    return [Anchor(int(r[0]), r[1], int(r[2]), _ts(reader, r[3]), r[4], r[5]) for r in rows]


def verify_chain(reader: LiteReader, url: str, *, anchors: Sequence[Path] = ()) -> chain.ChainReport:
    """:func:`core.audit.verify_chain` over a DB-API reader of the database ``url`` names."""
    with reader.read():
        cps = _anchors(reader, _CHECKPOINTS)
        heads = _anchors(reader, _HEAD)
        files = [p for p in [anchor_path(url)] if p is not None] + list(anchors)
        return chain.verify(_events(reader), cps, heads[0] if heads else None, files)
