"""``gateward campaign status`` on the DB-API (:mod:`core.store.lite`): no SQLAlchemy, no pydantic.

Why: ``campaign status`` took 1.3–4.5 s where the other read commands take 0.2–0.5 s;
building the runtime was most of it, and importing SQLAlchemy and the ORM schema most of the rest.
The rows are read with the reader's own connection (``sqlite3`` or ``psycopg``), decoded as the ORM
decodes them (JSON text and ISO timestamps on SQLite; psycopg decodes both itself), and turned into
the status by :func:`campaigns.words.compose` — the same function the ORM read uses, so the two print
the same dictionary (``tests/campaigns/test_lite_reads.py`` compares them).

The SQL is written here, not generated like :mod:`core.store.lite_sql`: a handful of plain selects
over the campaign tables, with the ``:name`` placeholders rewritten to psycopg's on PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from campaigns.words import compose, summary
from core.kernel.errors import NotFound

if TYPE_CHECKING:
    from core.store.lite import LiteReader

_CAMPAIGN_COLUMNS = ("id", "name", "proposal_id", "author", "kind", "spec", "plan", "state", "ring", "ring_state",
                     "promote_at", "window", "batch_size", "halted_at", "halt_reason", "halted_by", "run_by",
                     "started_at", "finished_at", "error", "created_at")
_JSON = frozenset({"spec", "plan", "targets", "metrics", "reasons"})
_TIME = frozenset({"promote_at", "halted_at", "started_at", "finished_at", "created_at", "ts"})
_BOOL = frozenset({"final"})

_SQL = {
    "campaign": "SELECT " + ", ".join(f'c."{n}"' for n in _CAMPAIGN_COLUMNS) + " FROM campaigns c WHERE c.id = :cid",
    "list": "SELECT " + ", ".join(f'c."{n}"' for n in _CAMPAIGN_COLUMNS) + ", p.state AS p_state FROM campaigns c "
            "LEFT OUTER JOIN proposals p ON p.id = c.proposal_id ORDER BY c.created_at DESC LIMIT :limit",
    "proposal": "SELECT id, state, hash, error, risk, targets FROM proposals WHERE id = :pid",
    "counts": "SELECT status, count(*) FROM executions WHERE proposal_id = :pid GROUP BY status",
    "per_ring": "SELECT ring, count(*), sum(n_failed) FROM campaign_batches WHERE campaign_id = :cid GROUP BY ring",
    "now": "SELECT d.ring, e.status, count(*) FROM campaign_devices d JOIN executions e "
           "ON e.device_id = d.device_id AND e.proposal_id = :pid WHERE d.campaign_id = :cid "
           "GROUP BY d.ring, e.status",
    "states": "SELECT state, count(*) FROM campaign_batches WHERE campaign_id = :cid GROUP BY state",
    "analyses": "SELECT ring, ts, outcome, final, metrics, reasons FROM campaign_analyses WHERE campaign_id = :cid "
                "ORDER BY id DESC LIMIT 40",
    "workers": "SELECT worker, count(*) FROM campaign_batches WHERE campaign_id = :cid AND worker IS NOT NULL "
               "GROUP BY worker ORDER BY worker",
}
_PG = {k: re.sub(r":(\w+)", r"%(\1)s", v) for k, v in _SQL.items()}


class _Row(dict[str, Any]):
    """A decoded row; columns are attributes too, as on an ORM row (what ``words`` reads)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _decode(name: str, value: Any, sqlite: bool) -> Any:
    if value is None:
        return None
    if name in _TIME:  # UTCDateTime: aware UTC
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if sqlite and name in _JSON and isinstance(value, (str, bytes)):
        import orjson

        return orjson.loads(value)
    if name in _BOOL:
        return bool(value)
    return value


class LiteCampaigns:
    """Campaign reads on one :class:`~core.store.lite.LiteReader` (its connection and backend)."""

    def __init__(self, reader: LiteReader, clock: Callable[[], datetime]) -> None:
        self.reader = reader
        self.clock = clock
        self._sqlite = reader.backend == "sqlite"

    def _fetch(self, name: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        sql = _SQL[name] if self._sqlite else _PG[name]
        return self.reader._fetch(sql, params)[1]

    def _rows(self, name: str, columns: Sequence[str], params: Mapping[str, Any]) -> list[_Row]:
        return [_Row({c: _decode(c, v, self._sqlite) for c, v in zip(columns, raw, strict=True)})
                for raw in self._fetch(name, params)]

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.reader.read():
            rows = self._rows("list", (*_CAMPAIGN_COLUMNS, "p_state"), {"limit": limit})
        return [summary(r, r.p_state) for r in rows]

    def status(self, cid: str) -> dict[str, Any]:
        with self.reader.read():
            found = self._rows("campaign", _CAMPAIGN_COLUMNS, {"cid": cid})
            if not found:
                raise NotFound(f"unknown campaign {cid!r}; list campaigns with `gateward campaign status`")
            c = found[0]
            props = self._rows("proposal", ("id", "state", "hash", "error", "risk", "targets"), {"pid": c.proposal_id})
            if not props:
                raise NotFound(f"campaign {cid}: its proposal {c.proposal_id} is missing")
            ids = {"cid": cid, "pid": c.proposal_id}
            counts = {str(st): int(n) for st, n in self._fetch("counts", {"pid": c.proposal_id})}
            per_ring = self._fetch("per_ring", {"cid": cid})
            now: dict[int, dict[str, int]] = {}
            for ring, st, n in self._fetch("now", ids):
                now.setdefault(int(ring), {})[str(st)] = int(n)
            states = {str(st): int(n) for st, n in self._fetch("states", {"cid": cid})}
            analyses = self._rows("analyses", ("ring", "ts", "outcome", "final", "metrics", "reasons"), {"cid": cid})
            workers = [{"worker": w, "batches": int(n)} for w, n in self._fetch("workers", {"cid": cid})]
        return compose(c, props[0], counts, per_ring, now, states, analyses, workers, self.clock())
