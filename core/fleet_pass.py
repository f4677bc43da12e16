"""One grouping pass over a fleet proposal's targets, shared by validation, the preview and the decision.

Why (issue 60: the 1M campaign gate): validation (one device per model class), the snapshot preview
(per model: how many targets, how many without a stored snapshot, how many stale) and the decision
(the policy classes) each walked every target joined to its device row, its ``snapshot_heads`` row
and its recent history — three passes over a million rows for three groupings of the same facts.
Each of those groupings is a coarsening of one key: the decision's (vendor, model, firmware, region,
root, protocol, presence, reboots, failed changes, stored radios) plus whether the device has a full
stored snapshot. So the first step that needs any of them takes this one pass — counted and keyed by
the database (``core.fleet_group``), a few hundred rows back, no per-device Python object — and the
later steps coarsen it in Python over those rows.

A pass is kept in this process, per database, with the proposal's id and content hash, and reused
for at most ``MAX_AGE_S``: a gate (create → validate → preview → decide, or ``submit``) takes one pass
where it took three, and a step that finds no pass (another process, an older one, another content)
takes its own, as before. The facts are then as the database held them when the pass was taken — at
most a minute before the decision, which records when (``facts_read_at``), as it already decides on
the preview's live sample as the preview read it; every device is validated again and read live
when it is written (``core.lifecycle.gates``, the batch's presence and backup reads).

The preview's live sample (``sample_ids``) is decided on its devices' own live facts, not their
stored ones: the pass keys each of those few devices apart (its id in the key), in the same
statement, so the decision leaves exactly them out of the classes without a second read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from core import fleet_group
from core.kernel.models import ExecutionStatus, utcnow
from core.store.schema import DeviceEventRow, DeviceRow, ExecutionRow, ProposalDeviceRow, SnapshotHeadRow

STALE_AFTER = timedelta(hours=24)
MAX_AGE_S = 60.0
"""How long a pass taken by one step of a gate may serve the next ones (seconds, this process)."""
FLEET_MIN = 1000
"""From this many targets validation's classes come from a pass (a few targets' classes cost less
alone); the decision groups by the database above the same count (``core.lifecycle.FLEET_SQL_MIN``)."""
SAMPLE_MAX = 20
"""Devices of a fleet preview read live (the approver's spot check); decided on those live facts."""

# The fields of a pass's key, in order: the decision's facts with history as raw counts, the radios
# as ``snapshot_heads`` stores them, whether a full snapshot is stored, and the device's id when it
# is one of the preview's live sample (else None).
VENDOR, MODEL, FIRMWARE, REGION, ROOT, PROTOCOL, PRESENT, BOOTS, FAILS, RADIOS, NO_HEAD, SAMPLED = range(12)


def sample_ids(targets: Sequence[str]) -> list[str]:
    """The targets a fleet preview reads live: evenly spaced through the frozen (sorted) list."""
    return list(targets[:: max(1, len(targets) // SAMPLE_MAX)][:SAMPLE_MAX])


@dataclass(frozen=True)
class FleetPass:
    """One pass: every distinct key (the fields above) with its device count and smallest device id."""

    pid: str
    hash: str
    taken: float  # time.monotonic() when taken
    taken_at: datetime
    rows: tuple[tuple[tuple[Any, ...], int, str], ...]
    sampled: frozenset[str]

    def fresh(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) - self.taken <= MAX_AGE_S


def grouped_rows(s: Session, pid: str, *, targets: int | None = None, exclude: Iterable[str] = (),
                 flagged: Sequence[str] = (), now: datetime | None = None) -> list[tuple[tuple[Any, ...], int, str]]:
    """The pass itself: (key, count, smallest id) for every distinct key among ``pid``'s targets, less
    ``exclude``; a device of ``flagged`` carries its id in the key (its own row). ``targets``: how many
    ``pid`` has, if the caller knows (a large pass may use every core on SQLite)."""
    now = now or utcnow()
    boot_since, fail_since = now - timedelta(hours=24), now - timedelta(days=7)
    bad = [str(x) for x in (ExecutionStatus.FAILED, ExecutionStatus.ROLLED_BACK, ExecutionStatus.ROLLBACK_FAILED,
                            ExecutionStatus.VERIFY_FAILED)]
    is_bad = or_(*(ExecutionRow.status == b for b in bad))  # no expanding IN: the statement runs on the cursor
    present = case((DeviceRow.last_seen >= now - STALE_AFTER, 1), else_=0)
    no_head = case((SnapshotHeadRow.snapshot_id.is_(None), 1), else_=0)
    # A device of the live sample keys apart by its id: joined to the few sampled ids (one hash probe a
    # target, not a comparison with each id); no column at all without one.
    sampled = (union_all(*(select(literal(f, String).label("id")) for f in flagged)).subquery("gw_sampled")
               if flagged else None)
    flag: list[ColumnElement[Any]] = [sampled.c.id] if sampled is not None else []
    pad = () if flagged else (None,)
    facts = (DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware, DeviceRow.region, DeviceRow.root,
             DeviceRow.protocol, present)
    joined = (select().select_from(ProposalDeviceRow)
              .join(DeviceRow, DeviceRow.id == ProposalDeviceRow.device_id)
              .outerjoin(SnapshotHeadRow, SnapshotHeadRow.device_id == DeviceRow.id)
              .where(ProposalDeviceRow.proposal_id == pid))
    if sampled is not None:
        joined = joined.outerjoin(sampled, sampled.c.id == DeviceRow.id)
    skip = set(exclude)
    if s.get_bind().dialect.name == "sqlite":
        # Per-target index probes: a device with no history costs one empty lookup each.
        boots = (select(func.count()).select_from(DeviceEventRow)
                 .where(DeviceEventRow.device_id == DeviceRow.id, DeviceEventRow.kind == "boot",
                        DeviceEventRow.ts >= boot_since).scalar_subquery())
        fails = (select(func.count()).select_from(ExecutionRow)
                 .where(ExecutionRow.device_id == DeviceRow.id, is_bad, ExecutionRow.started_at >= fail_since)
                 .scalar_subquery())
        key = fleet_group.json_key(*facts, boots, fails, SnapshotHeadRow.radios, no_head, *flag)
        return [((*k, *pad), n, rep) for k, n, rep in fleet_group.count_keys_with_min(
            s, joined.add_columns(key, DeviceRow.id), skip=skip,
            split=fleet_group.TargetSplit(pid, targets) if targets is not None else None)]
    # PostgreSQL: grouped history joined in, the database hash-aggregates
    boots_q = (select(DeviceEventRow.device_id, func.count().label("n"))
               .join(ProposalDeviceRow, ProposalDeviceRow.device_id == DeviceEventRow.device_id)
               .where(ProposalDeviceRow.proposal_id == pid, DeviceEventRow.kind == "boot",
                      DeviceEventRow.ts >= boot_since)
               .group_by(DeviceEventRow.device_id).subquery())
    fails_q = (select(ExecutionRow.device_id, func.count().label("n"))
               .join(ProposalDeviceRow, ProposalDeviceRow.device_id == ExecutionRow.device_id)
               .where(ProposalDeviceRow.proposal_id == pid, is_bad, ExecutionRow.started_at >= fail_since)
               .group_by(ExecutionRow.device_id).subquery())
    keys = [*facts, func.coalesce(boots_q.c.n, 0), func.coalesce(fails_q.c.n, 0), SnapshotHeadRow.radios, no_head,
            *flag]
    q = (joined.add_columns(*keys, func.count(), func.min(DeviceRow.id))
         .outerjoin(boots_q, boots_q.c.device_id == DeviceRow.id)
         .outerjoin(fails_q, fails_q.c.device_id == DeviceRow.id))
    if skip:
        q = q.where(DeviceRow.id.not_in(sorted(skip)))
    with fleet_group.hash_grouping(s):
        width = len(keys)
        return [((*r[:width], *pad), int(r[width]), r[width + 1]) for r in s.execute(q.group_by(*keys))]


# ---------------------------------------------------------------------------- kept per database
# By the database's URL: a store reads through two engines (its writes and its reads), and a pass
# taken in a write transaction serves the reads that follow.
_KEPT: dict[str, dict[str, FleetPass]] = {}
_GUARD = threading.Lock()
_KEEP = 8  # passes kept per database: the gates of this process under way at once


def _database(s: Session) -> str:
    return s.get_bind().engine.url.render_as_string(hide_password=True)


def recall(s: Session, pid: str, content_hash: str) -> FleetPass | None:
    """The pass this process took of ``pid`` at exactly this content, if it is fresh enough."""
    with _GUARD:
        fp = _KEPT.get(_database(s), {}).get(pid)
    return fp if fp is not None and fp.hash == content_hash and fp.fresh() else None


def take(s: Session, pid: str, content_hash: str, targets: Sequence[str]) -> FleetPass:
    """The pass of ``pid`` (``targets``: its frozen list), recalled or taken now and kept."""
    found = recall(s, pid, content_hash)
    if found is not None:
        return found
    sampled = sample_ids(targets)
    taken_at, taken = utcnow(), time.monotonic()
    rows = grouped_rows(s, pid, targets=len(targets), flagged=sampled, now=taken_at)
    fp = FleetPass(pid, content_hash, taken, taken_at, tuple(rows), frozenset(sampled))
    with _GUARD:
        now = time.monotonic()
        for db in list(_KEPT):  # what is no longer fresh serves nobody, whichever database it was of
            _KEPT[db] = {k: v for k, v in _KEPT[db].items() if v.fresh(now)}
            if not _KEPT[db]:
                del _KEPT[db]
        kept = _KEPT.setdefault(_database(s), {})
        kept[pid] = fp
        for old in list(kept)[:-_KEEP]:
            del kept[old]
    return fp


# ---------------------------------------------------------------------------- coarser groupings
def validation_reps(fp: FleetPass) -> list[str]:
    """One device per (vendor, model, firmware, protocol, root) — the smallest id — in class order,
    as ``core.store.repo.target_classes`` answers them."""
    first: dict[tuple[Any, ...], str] = {}
    for key, _, rep in fp.rows:
        cls = tuple((v is not None, v) for v in (key[VENDOR], key[MODEL], key[FIRMWARE], key[PROTOCOL], key[ROOT]))
        cur = first.get(cls)
        if cur is None or rep < cur:
            first[cls] = rep
    return [first[k] for k in sorted(first)]


def model_counts(fp: FleetPass) -> list[tuple[Any, Any, Any, int, int, int]]:
    """Per (vendor, model, firmware): targets, of them without a full stored snapshot, of them stale."""
    out: dict[tuple[Any, Any, Any], list[int]] = {}
    for key, n, _ in fp.rows:
        cur = out.setdefault((key[VENDOR], key[MODEL], key[FIRMWARE]), [0, 0, 0])
        cur[0] += n
        cur[1] += n if key[NO_HEAD] else 0
        cur[2] += 0 if key[PRESENT] else n
    return [(k[0], k[1], k[2], v[0], v[1], v[2]) for k, v in out.items()]


def decision_rows(fp: FleetPass, individual: set[str]) -> list[tuple[tuple[Any, ...], int, str]] | None:
    """The pass's rows for the decision's classes, leaving out the devices decided on their own facts
    (``individual``); None when those are not exactly devices the pass keyed apart (a device shared
    with another live proposal, say): the decision then takes its own pass."""
    if not individual <= fp.sampled:
        return None
    return [(key[:NO_HEAD], n, rep) for key, n, rep in fp.rows
            if key[SAMPLED] is None or key[SAMPLED] not in individual]
