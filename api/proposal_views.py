"""What an approver needs on one screen, assembled from the store (read-only, masked).

Builds on ``core.views.proposal_detail`` (proposal, per-device preview diff, decision, approvals,
executions) and adds what the console shows beside it: the backup, the blast radius (targets by
model / firmware / region), the proposal's execution log from the audit trail, and the policy
decision in plain words. Secret values never leave: previews and the trail are masked by the
lifecycle and the audit module already, and everything is masked again here, because a leaked
passphrase cannot be taken back.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import orjson
from sqlalchemy import Connection, Integer, String, Table, bindparam, func, select
from sqlalchemy.orm import Session

from api.native_paths import native_name
from api.scrub import scrub
from core.kernel.datamodel.tr098 import IGD
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Approval, Execution, Proposal
from core.kernel.secrets import MASK, mask_changes, mask_params
from core.readmodels.proposal import (
    APPROVAL_COLUMNS,
    EXECUTION_COLUMNS,
    PROPOSAL_SUMMARY_COLUMNS,
    DecisionDetailView,
)
from core.store import repo
from core.store.fastsql import Prepared
from core.store.records import ProposalRecord, among
from core.store.schema import (
    ApprovalRow,
    AuditEventRow,
    BackupRow,
    DeviceRow,
    ExecutionRow,
    PolicyDecisionRow,
    ProposalDeviceRow,
    ProposalRow,
)
from core.views import approval_public, decision_public, execution_public, proposal_public

if TYPE_CHECKING:
    from core.lifecycle import Submitted

LOG_LIMIT = 300
_VERSION_AT = len(PROPOSAL_SUMMARY_COLUMNS)  # where the "rows" statement puts the version


_P = cast(Table, ProposalRow.__table__)
# The queue row's columns, derived from the schema (core/readmodels/shapes.py says what it leaves out).
_SUMMARY_COLUMNS = tuple(_P.c[n] for n in PROPOSAL_SUMMARY_COLUMNS)


def _iso(ts: datetime) -> str:
    return str(ts.isoformat().replace("+00:00", "Z"))


_STATEMENTS: dict[tuple[str, bool, bool, bool], Any] = {}


def _page_statement(kind: str, states: bool, author: bool, device: bool) -> Any:
    """The queue's queries for one combination of filters, built once with bound parameters
    (docs/performance.md, D10). ``kind`` "page": id, version and ``count(*) OVER ()`` of one page,
    so the page and its total come back in one round trip; "rows": the summary columns of given ids."""
    key = (kind, states, author, device)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        if kind == "rows":
            stmt = select(*_SUMMARY_COLUMNS, ProposalRow.version).where(  # version last: the cache key
                ProposalRow.id.in_(bindparam("ids", expanding=True)))
            _STATEMENTS[key] = stmt
            return stmt
        stmt = select(ProposalRow.id, ProposalRow.version, func.count().over())
        if states:
            stmt = stmt.where(ProposalRow.state.in_(bindparam("states", expanding=True)))
        if author:
            stmt = stmt.where(ProposalRow.author == bindparam("author"))
        if device:
            stmt = stmt.join(ProposalDeviceRow, ProposalDeviceRow.proposal_id == ProposalRow.id).where(
                ProposalDeviceRow.device_id == bindparam("device"))
        stmt = (stmt.order_by(ProposalRow.created_at.desc(), ProposalRow.id)
                .limit(bindparam("lim", type_=Integer)).offset(bindparam("off", type_=Integer)))
        _STATEMENTS[key] = stmt
    return stmt


def _summary_renderer() -> Callable[[Sequence[Any]], JsonObject]:
    """:func:`_summary`, reading each summary column at its index in the derived column order (the
    indices are closure cells: as cheap as the literal indices a hand-kept order allowed)."""
    (i_id, i_author, i_intent, i_state, i_risk, i_hash, i_targets, i_changes, i_operations, i_source, i_error,
     i_created, i_updated, i_not_before, i_not_after) = (PROPOSAL_SUMMARY_COLUMNS.index(n) for n in (
        "id", "author", "intent", "state", "risk", "hash", "targets", "changes", "operations", "source", "error",
        "created_at", "updated_at", "not_before", "not_after"))

    def summary(row: Sequence[Any]) -> dict[str, Any]:
        """A queue row (``api.schemas.ProposalSummary``) from the summary columns (the version after them)."""
        targets = list(row[i_targets] or [])
        return {"id": row[i_id], "author": row[i_author], "intent": row[i_intent], "state": row[i_state],
                "risk": row[i_risk], "hash": row[i_hash], "target_count": len(targets), "targets": targets[:20],
                "changes": mask_changes(row[i_changes] or []), "operations": list(row[i_operations] or []),
                "source": row[i_source], "error": row[i_error], "created_at": _iso(row[i_created]),
                "updated_at": _iso(row[i_updated]),
                "not_before": _iso(row[i_not_before]) if row[i_not_before] is not None else None,
                "not_after": _iso(row[i_not_after]) if row[i_not_after] is not None else None}

    return summary


_summary = _summary_renderer()


class SummaryCache:
    """Rendered queue rows (JSON bytes, masked) keyed by ``(id, version)`` (why: docs/performance.md,
    D10). The key is the row's optimistic-concurrency ``version``, raised by every save of the row,
    so a changed proposal is never served from here — on any replica, whoever changed it. Bounded
    (least recently used out)."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._rows: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
        with self._lock:
            found = {k: self._rows[k] for k in keys if k in self._rows}
            for k in found:
                self._rows.move_to_end(k)
        return found

    def put_many(self, items: dict[tuple[str, int], bytes]) -> None:
        with self._lock:
            self._rows.update(items)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


_CACHES: weakref.WeakKeyDictionary[Any, SummaryCache] = weakref.WeakKeyDictionary()


def summary_cache(s: Session | Connection) -> SummaryCache:
    """The cache of the database ``s`` reads (one per engine: ids are only unique per database)."""
    bind = s if isinstance(s, Connection) else s.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind  # a write session may hold a Connection
    cache = _CACHES.get(engine)
    if cache is None:
        cache = _CACHES.setdefault(engine, SummaryCache())
    return cache


def _params(states: list[str] | None, author: str | None, device_id: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if states:
        params["states"] = list(states)
    if author:
        params["author"] = author
    if device_id:
        params["device"] = device_id
    return params


def list_page_json(s: Session | Connection, *, states: list[str] | None, author: str | None,
                   device_id: str | None, limit: int, offset: int, cache: SummaryCache | None = None) -> bytes:
    """``{"items": [...], "total": N}`` as JSON bytes: one page of the queue (newest first).

    One query names the page (ids, versions, and the total by window count); the rows not rendered
    before at that version are read in a second and rendered once. Same order and masking as
    ``repo.list_proposals`` and ``core.views.proposal_public``; rows straight from the columns, and
    a plain ``Connection`` where the caller has one (docs/performance.md, D10)."""
    flags = (bool(states), bool(author), bool(device_id))
    conn = s if isinstance(s, Connection) else s.connection()
    page = conn.execute(_page_statement("page", *flags),
                        {**_params(states, author, device_id), "lim": limit, "off": offset}).all()
    if not page:
        total = count_proposals(s, states, author, device_id) if offset else 0
        return b'{"items":[],"total":' + str(total).encode() + b"}"
    keys = [(pid, int(version or 0)) for pid, version, _ in page]
    cache = cache or summary_cache(s)
    rendered = cache.get_many(keys)
    missing = [pid for pid, version in keys if (pid, version) not in rendered]
    if missing:
        fresh = {(r[0], int(r[_VERSION_AT] or 0)): orjson.dumps(_summary(r), default=str)
                 for r in conn.execute(_page_statement("rows", False, False, False), {"ids": missing})}
        cache.put_many(fresh)
        rendered.update(fresh)
    # A row changed between the two reads is sent as the second read found it (its newer version).
    by_id = {pid: body for (pid, _), body in rendered.items()}
    items = [by_id[pid] for pid, _ in keys if pid in by_id]
    return b'{"items":[' + b",".join(items) + b'],"total":' + str(int(page[0][2])).encode() + b"}"


def count_proposals(s: Session | Connection, states: list[str] | None, author: str | None,
                    device_id: str | None) -> int:
    q = select(func.count()).select_from(ProposalRow)
    if states:
        q = q.where(ProposalRow.state.in_(states))
    if author:
        q = q.where(ProposalRow.author == author)
    if device_id:
        q = q.join(ProposalDeviceRow, ProposalDeviceRow.proposal_id == ProposalRow.id).where(
            ProposalDeviceRow.device_id == device_id)
    return int(s.scalar(q) or 0)


def blast_radius(s: Session | Connection, targets: list[str]) -> dict[str, Any]:
    """Targets by model, firmware and region, and how many subscribers: one statement whatever the
    number of targets (the list is one bound parameter, ``core.store.records.among``)."""
    return _blast(len(targets), _prepared("devices").all(s, {"ids": targets}) if targets else ())


def _blast(targets: int, rows: Iterable[Sequence[Any]]) -> JsonObject:
    """:func:`blast_radius` of ``targets`` targets from their (model, firmware, region, subscriber)."""
    models: Counter[str] = Counter()
    firmwares: Counter[str] = Counter()
    regions: Counter[str] = Counter()
    subscribers: set[str] = set()
    for model, firmware, region, sub in rows:
        models[model] += 1
        firmwares[f"{model} {firmware}"] += 1
        regions[region] += 1
        if sub:
            subscribers.add(sub)
    return {"targets": targets, "subscribers": len(subscribers), "by_model": dict(models.most_common()),
            "by_firmware": dict(firmwares.most_common()), "by_region": dict(regions.most_common())}


def _mask_preview(preview: dict[str, Any] | None, tr098: Mapping[str, tuple[str, str]]) -> dict[str, Any] | None:
    """The preview, masked; each line of a TR-098 device (``tr098``: id → vendor, model) says what the
    device itself calls the parameter (``native``, :mod:`api.native_paths`)."""
    if not preview:
        return preview
    devices = []
    for d in preview.get("devices", []):
        lines = mask_changes(d.get("lines", []))
        native = tr098.get(str(d.get("device_id")))
        for ln in lines:
            if ln.get("secret"):
                ln["before"] = MASK if ln.get("before") not in (None, "") else ln.get("before")
                ln["after"] = MASK
            if native is not None:
                ln["native"] = native_name(str(ln["path"]), read_as=str(ln.get("device_path") or ""),
                                           vendor=native[0], model=native[1])
        devices.append({**d, "lines": lines})
    return {**preview, "devices": devices}


def _preview_ids(preview: Mapping[str, Any] | None) -> list[str]:
    return [str(d["device_id"]) for d in (preview or {}).get("devices", []) if d.get("lines")]


def _tr098(conn: Connection | Session, preview: Mapping[str, Any] | None) -> dict[str, tuple[str, str]]:
    """The previewed devices that run TR-098 firmware, with their vendor and model."""
    ids = _preview_ids(preview)
    if not ids:
        return {}
    return {dev: (vendor, model) for dev, vendor, model in _prepared("tr098").all(conn, {"ids": ids})}


_DEC = cast(Table, PolicyDecisionRow.__table__)
_DECISION_COLUMNS = tuple(_DEC.c[n] for n in DecisionDetailView._fields)
_DETAIL_STATEMENTS: dict[str, Prepared] = {}
_DETAIL_GUARD = threading.Lock()


def _prepared(name: str) -> Prepared:
    """The detail's reads, each built once and run on the connection's own DB-API cursor
    (``core.store.fastsql``; docs/performance.md, D11). Columns, not ORM objects; the decision
    without its policy ``input`` (the answer does not show it, ``/decision`` does)."""
    stmt = _DETAIL_STATEMENTS.get(name)
    if stmt is not None:
        return stmt
    with _DETAIL_GUARD:
        return _DETAIL_STATEMENTS.get(name) or _DETAIL_STATEMENTS.setdefault(name, Prepared(_build(name)))


def _build(name: str) -> Any:
    pid = bindparam("pid", type_=String)
    if name in ("decision", "decision_dry_run"):
        stmt = select(*_DECISION_COLUMNS).where(PolicyDecisionRow.proposal_id == pid)
        if name == "decision":
            stmt = stmt.where(PolicyDecisionRow.dry_run.is_(False))
        return stmt.order_by(PolicyDecisionRow.created_at.desc(), PolicyDecisionRow.id.desc()).limit(1)
    if name == "approvals":
        t = cast(Table, ApprovalRow.__table__)
        return (select(*(t.c[n] for n in APPROVAL_COLUMNS)).where(t.c.proposal_id == pid)
                .order_by(t.c.created_at))
    if name == "executions":
        t = cast(Table, ExecutionRow.__table__)
        return (select(*(t.c[n] for n in EXECUTION_COLUMNS)).where(t.c.proposal_id == pid)
                .order_by(t.c.device_id))
    if name == "backup":
        return (select(BackupRow.device_id, BackupRow.created_at, BackupRow.params)
                .where(BackupRow.proposal_id == pid).order_by(BackupRow.device_id))
    if name == "log":
        return (select(AuditEventRow.seq, AuditEventRow.ts, AuditEventRow.actor, AuditEventRow.action,
                       AuditEventRow.device_id, AuditEventRow.data)
                .where(AuditEventRow.proposal_id == pid).order_by(AuditEventRow.seq.desc()).limit(LOG_LIMIT))
    if name == "devices":
        return (select(DeviceRow.model, DeviceRow.firmware, DeviceRow.region, DeviceRow.subscriber)
                .where(among(cast(Table, DeviceRow.__table__).c.id, "ids")))
    if name == "tr098":
        return (select(DeviceRow.id, DeviceRow.vendor, DeviceRow.model)
                .where(among(cast(Table, DeviceRow.__table__).c.id, "ids"), DeviceRow.root == IGD))
    raise KeyError(name)


def _backup(s: Session | Connection, pid: str) -> list[dict[str, Any]]:
    return [{"device_id": dev, "created_at": created.isoformat(), "params": mask_params(params or {})}
            for dev, created, params in _prepared("backup").all(s, {"pid": pid})]


def _log(s: Session | Connection, pid: str) -> list[dict[str, Any]]:
    """The proposal's newest ``LOG_LIMIT`` audit events, oldest first, read as columns (D11)."""
    rows = _prepared("log").all(s, {"pid": pid})
    return [_log_entry(seq, ts, actor, action, dev, data) for seq, ts, actor, action, dev, data in reversed(rows)]


def _log_entry(seq: int, ts: datetime, actor: str, action: str, device_id: str | None,
               data: Mapping[str, Json]) -> JsonObject:
    return {"seq": seq, "ts": ts.isoformat(), "actor": actor, "action": action, "device_id": device_id, "data": data}


def detail(conn: Connection, pid: str) -> tuple[dict[str, Any], Proposal]:
    """What an approver needs on one screen, and the proposal it was read from.

    The same answer ``core.views.proposal_detail`` plus the backup, blast radius, log and
    explanation gave (``tests/api/test_proposal_detail.py`` compares them over proposals in every
    state), read as columns in 7–8 statements on the connection's DB-API cursor, in one
    transaction (one snapshot of the proposal, its decision and its log; why: docs/performance.md,
    D11)."""
    if not conn.in_transaction():
        conn.begin()  # every read below in one transaction (SQLite: the engine's BEGIN, core.store.db)
    row = ProposalRecord.load(conn, pid)  # NotFound names the id, as before
    p = repo.proposal_from_row(row)
    first = _prepared("decision_dry_run").first(conn, {"pid": pid})
    latest = DecisionDetailView(*first) if first is not None else None
    rec = latest
    if latest is not None and latest.dry_run:  # the decision shown is the latest real one
        real = _prepared("decision").first(conn, {"pid": pid})
        rec = DecisionDetailView(*real) if real is not None else None
    approvals = [approval_public(Approval(**dict(zip(APPROVAL_COLUMNS, r, strict=True))), p.hash)
                 for r in _prepared("approvals").all(conn, {"pid": pid})]
    executions = [execution_public(_execution(r)) for r in _prepared("executions").all(conn, {"pid": pid})]
    return _compose(p, row.preview, rec, latest, approvals, executions, _backup(conn, pid),
                    blast_radius(conn, list(p.targets)), _log(conn, pid), _tr098(conn, row.preview)), p


def _execution(row: Sequence[Any]) -> Execution:
    values = dict(zip(EXECUTION_COLUMNS, row, strict=True))
    values["detail"] = values["detail"] or {}
    return Execution(**values)


def submitted_detail(sub: Submitted, read: Callable[[], AbstractContextManager[Connection]]
                     ) -> tuple[dict[str, Any], Proposal]:
    """:func:`detail` of a proposal ``submit`` just took through its gates, from what it committed
    (``core.lifecycle.Submitted``) rather than read back: the answer of ``POST /api/proposals``.

    A proposal that has only been submitted has no approvals, executions or backup (an approval
    binds to the decision, which committed with the answer's state), its decision is the one
    recorded, and its log is the events those transactions wrote. The documents go through JSON
    as the database's copy does, so the answer is the one :func:`detail` reads, byte for byte
    (``tests/api/test_submit_answer.py``). Only the blast radius of targets ``create`` did not
    read whole (a selector, many targets) is read, in one statement on ``read()`` (D11)."""
    p = sub.proposal
    rec = None
    if sub.decision is not None:
        d = orjson.loads(orjson.dumps({k: sub.decision[k] for k in ("result", "would_deny")}))
        rec = DecisionDetailView(sub.decision["id"], sub.decision["proposal_hash"], sub.decision["revision"],
                            sub.decision["engine"], d["result"], d["would_deny"], sub.decision["duration_us"],
                            sub.decision["dry_run"], sub.decision["created_at"])
    preview = orjson.loads(orjson.dumps(sub.row.preview)) if sub.row.preview is not None else None
    devices = sub.devices
    if devices is not None and all(t in devices for t in p.targets):
        blast = _blast(len(p.targets), ((devices[t].model, devices[t].firmware, devices[t].region,
                                         devices[t].subscriber) for t in p.targets))
    else:
        with read() as conn:
            blast = blast_radius(conn, list(p.targets))
    log = [_log_entry(e["seq"], e["ts"], e["actor"], e["action"], e["device_id"], e["data"])
           for e in sub.events if e["proposal_id"] == p.id][-LOG_LIMIT:]
    shown = _preview_ids(preview)
    if devices is not None and all(t in devices for t in shown):
        tr098 = {t: (devices[t].vendor, devices[t].model) for t in shown if str(devices[t].root) == IGD}
    else:
        with read() as conn:
            tr098 = _tr098(conn, preview)
    return _compose(p, preview, rec, rec, [], [], [], blast, log, tr098), p


def _compose(p: Proposal, preview: dict[str, Any] | None, rec: DecisionDetailView | None,
             latest: DecisionDetailView | None, approvals: list[dict[str, Any]], executions: list[dict[str, Any]],
             backup: list[dict[str, Any]], blast: Mapping[str, Json], log: list[dict[str, Any]],
             tr098: Mapping[str, tuple[str, str]]) -> JsonObject:
    """The detail from its parts (``rec``: the real decision shown; ``latest``: the newest record,
    a dry run perhaps, which the explanation speaks of), masked and scrubbed."""
    from policies.explain import explain

    decision = None
    if rec is not None:
        decision = decision_public(rec, p.hash)
        decision["explanation"] = explain(p, latest)
    out: dict[str, Any] = {"proposal": proposal_public(p), "preview": _mask_preview(preview, tr098),
                           "decision": decision, "approvals": approvals, "executions": executions,
                           "backup": backup, "blast_radius": blast, "log": log}
    return dict(scrub(out))
