"""The compatibility matrix from evidence: execution outcomes counted per (vendor, model, firmware,
workflow), turned into green / yellow / red by thresholds in policy data.

Why counted inside the lifecycle's own transactions: an outcome and the evidence it adds must
commit together, or a crash between them would make the matrix disagree with the executions table
(the evidence is what policy reads before the next reboot or firmware push). :func:`record` is
called by ``core.lifecycle`` and ``core.staged`` in the transaction that writes the execution row.

Workflows use the policy pack's own vocabulary (``compat.json`` → ``operation_workflows``):
``config`` for parameter Sets, and ``reboot``, ``factory_reset``, ``download`` (firmware) for
operations — so the evidence and the static matrix share one set of names and the firmware /
reboot rules read both alike.

What counts, once per device and proposal:
* success — the device verified (``verified``);
* failure — a Set or operation faulted (``failed``), the change did not hold (``verify_failed``),
  or an interrupted write had to be restored (``applying`` → rolling back);
* rollback failure — additionally, when restoring did not work (``rollback_failed``).
A device restored only because *another* device of its proposal failed is not this device's
failure and is not counted; neither is a manual rollback of a change that had verified.

Status (``compat.json`` → ``evidence``): fewer than ``min_executions`` outcomes → no evidence
status (the static matrix decides); otherwise red when rollback failures reach
``red_rollback_failures`` or the failure rate reaches ``red_failure_rate``, yellow from
``yellow_failure_rate``, else green. The status of a device for a proposal is the worst over the
workflows the proposal exercises; it reaches policy as ``devices[].compat``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypedDict

from sqlalchemy import Integer, String, Text, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.kernel.jsontypes import JsonObject
from core.kernel.models import ExecutionStatus, utcnow
from core.store.fastsql import Prepared
from core.store.records import among
from core.store.schema import Base, UTCDateTime

if TYPE_CHECKING:
    from policies.base import PolicyEngine

X = ExecutionStatus
RANK = {"green": 0, "yellow": 1, "red": 2}
DEFAULT_WORKFLOWS = {"reboot": "reboot", "factory_reset": "factory_reset", "download": "download"}


class CompatEvidenceRow(Base):
    """Outcome counts of one (vendor, model, firmware, workflow). Created by migration 0006."""

    __tablename__ = "compat_evidence"

    vendor: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    firmware: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(32), primary_key=True)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    rollback_failed: Mapped[int] = mapped_column(Integer, default=0)
    last_outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class _DeviceLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def vendor(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def firmware(self) -> str: ...


@dataclass(frozen=True)
class Thresholds:
    min_executions: int = 20
    yellow_failure_rate: float = 0.02
    red_failure_rate: float = 0.10
    red_rollback_failures: int = 1

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Thresholds:
        ev = (data.get("compat") or {}).get("evidence") or {}
        return cls(min_executions=int(ev.get("min_executions", cls.min_executions)),
                   yellow_failure_rate=float(ev.get("yellow_failure_rate", cls.yellow_failure_rate)),
                   red_failure_rate=float(ev.get("red_failure_rate", cls.red_failure_rate)),
                   red_rollback_failures=int(ev.get("red_rollback_failures", cls.red_rollback_failures)))


def policy_data(engine: PolicyEngine | None) -> JsonObject:
    """The ``data.gateward.data`` tree of a policy engine (the pack on disk if it exposes none)."""
    data = getattr(engine, "policy_data", None)
    if isinstance(data, dict) and data:
        return data
    from policies.loader import load_sources

    return load_sources().data


def operation_workflows(data: dict[str, Any]) -> dict[str, str]:
    return dict((data.get("compat") or {}).get("operation_workflows") or DEFAULT_WORKFLOWS)


def workflows_for(changes: Iterable[Any], operations: Iterable[Any], data: dict[str, Any] | None = None) -> list[str]:
    """Workflows a proposal exercises: ``config`` if it sets parameters, plus each operation's.
    ``operations`` are :class:`~core.kernel.models.Operation` objects or their JSON (``{"command": ...}``)."""
    mapping = operation_workflows(data or {})
    out: list[str] = ["config"] if list(changes) else []
    for op in operations:
        cmd = op.get("command") if isinstance(op, dict) else getattr(op, "command", None)
        wf = mapping.get(str(cmd))
        if wf and wf not in out:
            out.append(wf)
    return out


# ---------------------------------------------------------------------------- recording
def outcome_of(old: str | None, new: ExecutionStatus | str) -> tuple[int, int, int]:
    """(succeeded, failed, rollback_failed) increments for one execution status transition."""
    new_s = str(new)
    old_s = str(old) if old is not None else None
    if new_s == old_s:
        return 0, 0, 0
    if new_s == X.VERIFIED:
        return 1, 0, 0
    if new_s in (X.FAILED, X.VERIFY_FAILED):
        return 0, 1, 0
    failed = 1 if old_s == X.APPLYING and new_s in (X.ROLLING_BACK, X.ROLLED_BACK, X.ROLLBACK_FAILED) else 0
    if new_s == X.ROLLBACK_FAILED:
        return 0, failed, 1
    return 0, failed, 0


def record(s: Session, device: _DeviceLike, workflows: Sequence[str], old: str | None,
           new: ExecutionStatus | str, error: str | None = None) -> None:
    """Count one execution transition (call it in the transaction that writes the execution row)."""
    inc = outcome_of(old, new)
    if not any(inc) or not workflows:
        return
    record_many(s, [((device.vendor, device.model, device.firmware, wf), inc, error) for wf in workflows])


Increment = tuple[tuple[str, str, str, str], tuple[int, int, int], str | None]


def record_many(s: Session, items: Sequence[Increment]) -> None:
    """Upsert increments. Keys are aggregated and written in sorted order, so two transactions
    counting overlapping classes never wait on each other in opposite orders (no deadlock)."""
    agg: dict[tuple[str, str, str, str], list[Any]] = {}
    for key, (ok, bad, rb), err in items:
        cur = agg.setdefault(key, [0, 0, 0, None])
        cur[0] += ok
        cur[1] += bad
        cur[2] += rb
        if err and (bad or rb):
            cur[3] = err[:500]
    if not agg:
        return
    now = utcnow()
    dialect = s.get_bind().dialect.name
    for key in sorted(agg):
        ok, bad, rb, err = agg[key]
        if not (ok or bad or rb):
            continue
        _upsert(dialect, bool(err)).run(s, {"vendor": key[0], "model": key[1], "firmware": key[2], "workflow": key[3],
                                            "succeeded": ok, "failed": bad, "rollback_failed": rb,
                                            "last_outcome_at": now, "last_error": err})


_UPSERTS: dict[tuple[str, bool], Prepared] = {}


def _upsert(dialect: str, with_error: bool) -> Prepared:
    """The counting upsert for ``dialect``, built once (every verified device runs it)."""
    stmt = _UPSERTS.get((dialect, with_error))
    if stmt is None:
        ins: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = CompatEvidenceRow.__table__
        values = {c: bindparam(c, type_=table.c[c].type) for c in (
            "vendor", "model", "firmware", "workflow", "succeeded", "failed", "rollback_failed", "last_outcome_at",
            "last_error")}
        base = ins(table).values(values)
        ex = base.excluded
        set_: dict[str, Any] = {"succeeded": table.c.succeeded + ex.succeeded, "failed": table.c.failed + ex.failed,
                                "rollback_failed": table.c.rollback_failed + ex.rollback_failed,
                                "last_outcome_at": ex.last_outcome_at}
        if with_error:
            set_["last_error"] = ex.last_error
        stmt = _UPSERTS[(dialect, with_error)] = Prepared(base.on_conflict_do_update(
            index_elements=["vendor", "model", "firmware", "workflow"], set_=set_))
    return stmt


# ---------------------------------------------------------------------------- reading
def status_of(succeeded: int, failed: int, rollback_failed: int, t: Thresholds) -> str | None:
    n = succeeded + failed
    if n < t.min_executions:
        return None
    rate = failed / n if n else 0.0
    if rollback_failed >= t.red_rollback_failures or rate >= t.red_failure_rate:
        return "red"
    if rate >= t.yellow_failure_rate:
        return "yellow"
    return "green"


def worst(statuses: Iterable[str | None]) -> str | None:
    found = [x for x in statuses if x is not None]
    return max(found, key=lambda x: RANK[x]) if found else None


class Evidence(NamedTuple):
    """One ``compat_evidence`` row as read (the columns of :class:`CompatEvidenceRow`)."""

    vendor: str
    model: str
    firmware: str
    workflow: str
    succeeded: int
    failed: int
    rollback_failed: int
    last_outcome_at: datetime | None
    last_error: str | None


def evidence_for(s: Session, classes: Iterable[tuple[str, str, str]],
                 workflows: Sequence[str]) -> dict[tuple[str, str, str, str], Evidence]:
    keys = set(classes)
    if not keys or not workflows:
        return {}
    models = sorted({m for _, m, _ in keys})
    global _EVIDENCE
    if _EVIDENCE is None:
        t = CompatEvidenceRow.__table__
        _EVIDENCE = Prepared(select(*(t.c[n] for n in Evidence._fields))
                             .where(among(t.c.model, "models"), among(t.c.workflow, "workflows")))
    rows = [Evidence(*r) for r in _EVIDENCE.all(s, {"models": models, "workflows": list(workflows)})]
    return {(r.vendor, r.model, r.firmware, r.workflow): r for r in rows if (r.vendor, r.model, r.firmware) in keys}


_EVIDENCE: Prepared | None = None


def statuses_for(s: Session, devices: Sequence[_DeviceLike], workflows: Sequence[str],
                 data: dict[str, Any]) -> dict[str, str | None]:
    """``{device_id: green|yellow|red|None}`` for a proposal exercising ``workflows``: the worst
    evidence status over those workflows; None where no workflow has enough evidence. Constant
    within a (vendor, model, firmware) class, so the fleet path may compute it per class."""
    t = Thresholds.from_data(data)
    classes = {(d.vendor, d.model, d.firmware) for d in devices}
    rows = evidence_for(s, classes, workflows)
    by_class: dict[tuple[str, str, str], str | None] = {}
    for c in classes:
        by_class[c] = worst(status_of(r.succeeded, r.failed, r.rollback_failed, t)
                            for wf in workflows if (r := rows.get((*c, wf))) is not None)
    return {d.id: by_class[(d.vendor, d.model, d.firmware)] for d in devices}


def static_status(data: dict[str, Any], vendor: str, model: str, firmware: str, workflow: str) -> tuple[str, str]:
    """The data matrix's status and where it came from (exactly as ``gateward.lib.compat``)."""
    compat = data.get("compat") or {}
    by_model = ((compat.get("matrix") or {}).get(vendor) or {}).get(model) or {}
    for fw, src in ((firmware, f"{vendor}/{model}/{firmware}"), ("*", f"{vendor}/{model}/*")):
        st = (by_model.get(fw) or {}).get(workflow)
        if st in RANK:
            return str(st), f"matrix {src}"
    return str(compat.get("default_status", "yellow")), "matrix default"


def matrix(s: Session, data: dict[str, Any], *, vendor: str | None = None, model: str | None = None
           ) -> list[dict[str, Any]]:
    """Every (vendor, model, firmware, workflow) with evidence, plus the static entries of the
    classes in the fleet: counts, failure rate, evidence status, static status, and the status
    policy uses (evidence when there is enough, else the matrix)."""
    from core.store.schema import DeviceRow

    t = Thresholds.from_data(data)
    q = select(CompatEvidenceRow)
    if vendor:
        q = q.where(CompatEvidenceRow.vendor == vendor)
    if model:
        q = q.where(CompatEvidenceRow.model == model)
    rows = {(r.vendor, r.model, r.firmware, r.workflow): r for r in s.scalars(q)}
    # Grouped in the order of ``ix_devices_status_groups`` (migration 0036), which answers it alone:
    # a ``DISTINCT`` of three of its columns read the table's rows (the fleet page asks on every visit).
    fq = select(DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware).group_by(
        DeviceRow.status, DeviceRow.region, DeviceRow.model, DeviceRow.firmware, DeviceRow.vendor)
    if vendor:
        fq = fq.where(DeviceRow.vendor == vendor)
    if model:
        fq = fq.where(DeviceRow.model == model)
    fleet = {tuple(r) for r in s.execute(fq)}
    workflows = ["config", *dict.fromkeys(operation_workflows(data).values())]
    keys = set(rows) | {(v, m, f, wf) for v, m, f in fleet for wf in workflows}
    out = []
    for key in sorted(keys):
        r = rows.get(key)
        ok, bad, rb = (r.succeeded, r.failed, r.rollback_failed) if r is not None else (0, 0, 0)
        ev = status_of(ok, bad, rb, t)
        st, src = static_status(data, *key)
        n = ok + bad
        out.append({"vendor": key[0], "model": key[1], "firmware": key[2], "workflow": key[3],
                    "succeeded": ok, "failed": bad, "rollback_failed": rb, "executions": n,
                    "failure_rate": round(bad / n, 4) if n else None, "evidence_status": ev,
                    "static_status": st, "static_source": src, "status": ev or st,
                    "source": "evidence" if ev else src,
                    "last_outcome_at": r.last_outcome_at.isoformat() if r is not None and r.last_outcome_at else None,
                    "last_error": r.last_error if r is not None else None})
    return out


# ---------------------------------------------------------------------------- firmware drift
_CHUNK = re.compile(r"(\d+)")
SAME_PATH_NOTE = ("same TR-181 path, different default behaviour: an unchanged tree does not prove unchanged "
                  "behaviour; the evidence above decides")


def firmware_key(firmware: str) -> tuple[tuple[int, Any], ...]:
    """Natural order of firmware strings (``7.2.6`` < ``7.10.0``; ``S105`` < ``S120``)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in _CHUNK.split(firmware) if p)


class TreeDrift(TypedDict):
    added: list[str]
    removed: list[str]
    writability_changed: list[dict[str, str | bool | None]]
    not_comparable: list[str]


def tree_drift(old: dict[str, bool | None], new: dict[str, bool | None]) -> TreeDrift:
    """Parameters added, removed and changed in writability between two discovered data models.

    A path in a table one side's discovered unit had no instances of is ``not_comparable``, not added
    or removed: that unit could not list the table's parameters (an S105 unit that lost its DNS
    servers after a reboot says nothing about S105's data model)."""
    from core.capabilities import table_of, tables_seen

    seen_old, seen_new = tables_seen(old), tables_seen(new)

    def comparable(path: str) -> bool:
        table = table_of(path)
        return table is None or (table in seen_old and table in seen_new)

    only_new, only_old = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())
    changed: list[dict[str, str | bool | None]] = [{"path": p, "from": old[p], "to": new[p]}
                                                   for p in sorted(old.keys() & new.keys())
                                                   if old[p] is not None and new[p] is not None and old[p] != new[p]]
    return {"added": [p for p in only_new if comparable(p)], "removed": [p for p in only_old if comparable(p)],
            "writability_changed": changed,
            "not_comparable": [p for p in only_new + only_old if not comparable(p)]}


def firmware_drift(s: Session, *, vendor: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
    """Parameter-tree drift between consecutive firmware versions of one model (and root), from the
    capabilities ``gateward devices discover`` stored (``core.capabilities``): evidence for the
    matrix next to the outcome counts. A model with one discovered firmware has no row."""
    from core.capabilities import stored_classes

    groups: dict[tuple[str, str, str], list[Any]] = {}
    for row in stored_classes(s, vendor, model):
        groups.setdefault((row.vendor, row.model, row.root), []).append(row)
    out: list[dict[str, Any]] = []
    for (v, m, root), rows in sorted(groups.items()):
        rows.sort(key=lambda r: firmware_key(r.firmware))
        for a, b in itertools.pairwise(rows):
            d = tree_drift(dict(a.params), dict(b.params))
            parts = [f"{len(d['added'])} added", f"{len(d['removed'])} removed",
                     f"{len(d['writability_changed'])} writability changed"]
            if d["not_comparable"]:
                parts.append(f"{len(d['not_comparable'])} not comparable (a table empty on a discovered unit)")
            drifted = bool(d["added"] or d["removed"] or d["writability_changed"])
            out.append({"vendor": v, "model": m, "root": root, "from_firmware": a.firmware, "to_firmware": b.firmware,
                        "from_data_model": a.data_model_version, "to_data_model": b.data_model_version, **d,
                        "summary": f"{a.firmware} → {b.firmware}: " + ", ".join(parts),
                        "note": "" if drifted else SAME_PATH_NOTE,
                        "discovered_at": [a.discovered_at.isoformat(), b.discovered_at.isoformat()]})
    return out
