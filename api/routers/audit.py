"""Audit: query the trail (newest first, keyset-paginated by ``seq``), export it (CSV or JSON, any
time range and filter) and verify its hash chain.

Read-only for every authenticated role: the trail is what auditors work from, and support and
approvers need it to answer "who changed this and why". Secret values were masked when each
event was appended; responses are scrubbed again on the way out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, select

from api.deps import ActorDep, AppRuntime, RuntimeDep
from api.errors import errors_for
from api.schemas import AuditFindingOut, AuditPage, AuditVerifyOut
from api.scrub import scrub
from core import audit
from core.audit import to_model, verify_chain
from core.kernel.errors import Invalid
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import utcnow
from core.store.schema import AuditEventRow

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=errors_for(401))


def _utc(ts: datetime | None, name: str) -> datetime | None:
    """Aware UTC, or a 422 for a timestamp that cannot be one (e.g. year 9999 at -23:59)."""
    if ts is None:
        return None
    try:
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise Invalid(f"{name}: {ts.isoformat()} is out of range") from exc


@dataclass(frozen=True)
class AuditQuery:
    """The trail's filters, the same for a page and for an export."""

    proposal: str | None = None
    device: str | None = None
    subscriber: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def select(self) -> Select[Any]:
        q = select(AuditEventRow)
        for col, val in ((AuditEventRow.proposal_id, self.proposal), (AuditEventRow.device_id, self.device),
                         (AuditEventRow.subscriber, self.subscriber), (AuditEventRow.actor, self.actor)):
            if val:
                q = q.where(col == val)
        if self.action:
            if self.action.endswith("*") or self.action.endswith("."):
                prefix = self.action.rstrip("*")
                escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                q = q.where(AuditEventRow.action.like(f"{escaped}%", escape="\\"))
            else:
                q = q.where(AuditEventRow.action == self.action)
        if self.since:
            q = q.where(AuditEventRow.ts >= self.since)
        if self.until:
            q = q.where(AuditEventRow.ts < self.until)
        return q


def _query(proposal: Annotated[str | None, Query(max_length=64)] = None,
           device: Annotated[str | None, Query(max_length=128)] = None,
           subscriber: Annotated[str | None, Query(max_length=64)] = None,
           actor: Annotated[str | None, Query(max_length=64)] = None,
           action: Annotated[str | None, Query(max_length=64, description="exact, or a prefix ending in "
                                              "'.' or '*' (e.g. 'proposal.' or 'device.*')")] = None,
           since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
           until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None) -> AuditQuery:
    since, until = _utc(since, "since"), _utc(until, "until")
    if since and until and since >= until:
        raise Invalid(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    return AuditQuery(proposal=proposal, device=device, subscriber=subscriber, actor=actor, action=action,
                      since=since, until=until)


QueryDep = Annotated[AuditQuery, Depends(_query)]


@router.get("", response_model=AuditPage, responses=errors_for(422))
def list_events(rt: RuntimeDep, _: ActorDep, f: QueryDep,
                before_seq: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> AuditPage:
    q = f.select()
    if before_seq:
        q = q.where(AuditEventRow.seq < before_seq)
    with rt.store.read() as s:
        rows = list(s.scalars(q.order_by(AuditEventRow.seq.desc()).limit(limit)))
    items = [scrub(to_model(r).model_dump(mode="json")) for r in rows]
    nxt = rows[-1].seq if len(rows) == limit and rows[-1].seq > 1 else None
    return AuditPage(items=items, next_before_seq=nxt)


EXPORT_PAGE = 1000
CSV_COLUMNS = ("seq", "ts", "actor", "action", "proposal_id", "device_id", "subscriber", "model", "firmware", "data",
               "prev_hash", "hash")


def _events(rt: AppRuntime, f: AuditQuery) -> Iterator[JsonObject]:
    """Every matching event, oldest first, a page of ``EXPORT_PAGE`` per read transaction."""
    after = 0
    while True:
        with rt.store.read() as s:
            rows = list(s.scalars(f.select().where(AuditEventRow.seq > after).order_by(AuditEventRow.seq)
                                  .limit(EXPORT_PAGE)))
        for r in rows:
            yield scrub(to_model(r).model_dump(mode="json"))
        if len(rows) < EXPORT_PAGE:
            return
        after = rows[-1].seq


# A cell a spreadsheet would read as a formula (OWASP "CSV Injection"): = + - @, a tab, a carriage return.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """``value`` as a CSV cell no spreadsheet runs: text starting like a formula is prefixed with
    ``'`` (a device's model, a subscriber or an actor is anyone's text). The JSON export keeps values exact."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv(events: Iterator[Mapping[str, Json]]) -> Iterator[str]:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL)  # every cell quoted (OWASP): no separator inside one splits it
    w.writerow(CSV_COLUMNS)
    for i, e in enumerate(events):
        w.writerow([csv_cell(json.dumps(e["data"], sort_keys=True) if k == "data" else e.get(k)) for k in CSV_COLUMNS])
        if i % 200 == 199:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _json(events: Iterator[Mapping[str, Json]]) -> Iterator[str]:
    yield "["
    for i, e in enumerate(events):
        yield ("," if i else "") + "\n" + json.dumps(e, sort_keys=True)
    yield "\n]\n"


@router.get("/export", responses={**errors_for(422), 200: {
    "content": {"text/csv": {}, "application/json": {}},
    "description": "every matching event, oldest first, with its hashes (the chain can be checked offline)"}})
def export(rt: RuntimeDep, actor: ActorDep, f: QueryDep,
           format: Annotated[Literal["csv", "json"], Query(description="csv or json (an array)")] = "csv"
           ) -> StreamingResponse:
    """The filtered trail as a file: CSV (``data`` as a JSON column; every cell quoted, and a cell that
    would start a spreadsheet formula — ``= + - @``, tab, CR — prefixed with ``'``) or a JSON array, oldest first,
    streamed a page at a time; each event keeps ``prev_hash`` and ``hash``. The export itself is
    recorded in the trail (who, which filters)."""
    with rt.store.write() as s:
        audit.append(s, actor=actor.id, action="audit.exported", data={
            "format": format, **{k: (v.isoformat() if isinstance(v, datetime) else v)
                                 for k, v in vars(f).items() if v is not None}})
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    events = _events(rt, f)
    body, media = (_csv(events), "text/csv; charset=utf-8") if format == "csv" else (_json(events), "application/json")
    return StreamingResponse(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="gateward-audit-{stamp}.{format}"'})


@router.get("/verify", response_model=AuditVerifyOut)
def verify(rt: RuntimeDep, _: ActorDep) -> AuditVerifyOut:
    """Check the chain, the keyed head, the keyed checkpoints and this host's anchor file; ``ok=false``
    names the first finding, ``findings`` lists them all, and the answer says what it checked and
    what it cannot detect."""
    with rt.store.read() as s:
        report = verify_chain(s)
    return AuditVerifyOut(ok=report.ok, count=report.count, first_broken_seq=report.first_broken_seq,
                          message=report.message(),
                          findings=[AuditFindingOut(seq=f.seq, text=f.text) for f in report.findings],
                          checked=report.checked, cannot_detect=report.cannot_detect)
