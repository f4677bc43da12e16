"""The "before" values of a fleet preview over very many targets, read for a random sample of them.

Why: a fleet preview's per-class diff shows, for each changed path, the values the
targets hold now, read from each target's stored snapshot document. Reading every document made
the preview's cost grow with the documents' size, not only with the fleet: a simulated gateway's
snapshot is ~15 KB (a real one's larger), and at a million targets those reads alone took ~16 s
on two cores (SQLite, measured; docs/campaigns.md). The distributions are for the approver's eye — policy never
reads them, and each device's own before value is read live and backed up when its batch is
applied. What the gate must know exactly (how many targets each class has, which have no
snapshot, which are stale) still comes from a pass over every target that reads no document.

So above ``VALUES_EXACT_UP_TO`` targets the values come from ``SAMPLE_SIZE`` targets drawn at
random, seeded by the proposal id (a preview taken again draws the same targets), and each class
says how many of its targets were read (``values_read``) and that its counts are a sample
(``sampled``). A class the draw barely touched (fewer than ``CLASS_MIN_VALUES`` of its targets)
is read whole, smallest first, while ``WHOLE_BUDGET`` more documents allow: an approver sees a
rare model's exact values rather than a handful.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, literal, select
from sqlalchemy.orm import Session

from core.snapshot_values import split_row, value_columns
from core.store.fastsql import Prepared
from core.store.records import among
from core.store.schema import DeviceRow, ParameterSnapshotRow, ProposalDeviceRow, SnapshotHeadRow

# Sizes, measured on two cores with ~15 KB snapshots (docs/campaigns.md): a drawn target's read
# costs ~25-35 µs (three key lookups and the document's parse), a whole pass without documents ~1 µs
# a target. 400 values put a class's shares within about ±5 points (95 %).
VALUES_EXACT_UP_TO = 50_000  # targets: up to this many, every target's document is read
SAMPLE_SIZE = 20_000  # above it, this many targets drawn (plus thin classes read whole)
CLASS_MIN_VALUES = 400  # a class with fewer of its targets in the draw is read whole ...
WHOLE_BUDGET = 20_000  # ... while its documents fit in this many more reads, smallest classes first

ClassKey = tuple[str, str, str]  # (vendor, model, firmware): the preview's class


@dataclass
class SampledValues:
    """Per class: how many read targets hold each combination of values (one ``repr`` per readable
    path, as the whole pass keys them), and how many targets were read (all of a class read whole)."""

    counts: dict[ClassKey, Counter[tuple[str, ...]]] = field(default_factory=dict)
    read: dict[ClassKey, int] = field(default_factory=dict)


def draw(pid: str, target_ids: Sequence[str], size: int) -> list[str]:
    """``size`` of ``target_ids`` drawn at random without replacement, the same for the same
    proposal (seeded by its id), in id order. All of them when there are no more than ``size``."""
    if len(target_ids) <= size:
        return list(target_ids)
    return sorted(random.Random(pid).sample(list(target_ids), size))


def sampled_values(s: Session, pid: str, target_ids: Sequence[str], readable: list[str],
                   class_sizes: dict[ClassKey, int], *, size: int | None = None,
                   class_min: int | None = None, budget: int | None = None) -> SampledValues:
    """The values of ``readable`` paths held by a draw of ``pid``'s targets, counted per class, and
    classes too thinly drawn read whole. ``class_sizes``: every class's exact target count (from
    the pass that read no document). The sizes default to the module's (read at call time)."""
    size = SAMPLE_SIZE if size is None else size
    class_min = CLASS_MIN_VALUES if class_min is None else class_min
    budget = WHOLE_BUDGET if budget is None else budget
    out = SampledValues()
    _count(s, readable, among(DeviceRow.__table__.c.id, "ids"), {"ids": draw(pid, target_ids, size)}, out)
    thin = sorted((n, key) for key, n in class_sizes.items() if out.read.get(key, 0) < min(class_min, n))
    spent = 0
    for n, key in thin:
        if spent + n > budget:
            break  # the rest are larger still: they keep what the draw read
        vendor, model, firmware = key
        one_target = (select(literal(1)).where(ProposalDeviceRow.proposal_id == pid,
                                               ProposalDeviceRow.device_id == DeviceRow.id).exists())
        whole = SampledValues()  # the class's devices by the (model, firmware) index, each checked a target
        _count(s, readable, and_(DeviceRow.model == model, DeviceRow.firmware == firmware,
                                 DeviceRow.vendor == vendor, one_target), {}, whole)
        out.counts[key] = whole.counts.get(key, Counter())
        out.read[key] = whole.read.get(key, 0)
        spent += n
    return out


def _count(s: Session, readable: list[str], where: ColumnElement[bool], params: dict[str, Any],
           into: SampledValues) -> None:
    """Count the values of the devices ``where`` selects into ``into``, per class: a device with no
    full snapshot holds ``None`` for every path, as in the whole pass."""
    cols = value_columns(s, ParameterSnapshotRow.params, readable)
    q = (select(DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware, *cols).select_from(DeviceRow)
         .outerjoin(SnapshotHeadRow, SnapshotHeadRow.device_id == DeviceRow.id)
         .outerjoin(ParameterSnapshotRow, ParameterSnapshotRow.id == SnapshotHeadRow.snapshot_id)
         .where(where))
    n = len(readable)
    # On the session's own cursor (core.store.fastsql), compiled once for this call: through
    # SQLAlchemy's result machinery the draw's 20,000 rows cost ~0.25 s of CPU.
    for row in Prepared(q).all(s, params):
        key = (row[0], row[1], row[2])
        counts = into.counts.get(key)
        if counts is None:
            counts = into.counts[key] = Counter()
        counts[tuple(repr(v) for v in split_row(list(row[3:]), n))] += 1
        into.read[key] = into.read.get(key, 0) + 1
