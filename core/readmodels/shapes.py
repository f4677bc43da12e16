"""Which shapes each aggregate's rows take, stated once as their differences from the table.

A proposal is read in several shapes — the lifecycle's record (``core.store.records``), the CLI's
view on the DB-API (``core.store.lite``), the API's queue row and detail (``api.proposal_views``)
— and their field lists used to be kept equal by hand. Here each shape says only what
it does *not* carry of its table (and why), which columns it types more narrowly than the ORM, and
which it puts last; :mod:`core.readmodels.gen` derives the field lists from ``core.store.schema``
and writes them into one generated module per aggregate. A column added to a table therefore
reaches every shape on regeneration, or fails ``tests/unit/test_read_model_drift.py`` until each
shape carries it or names it here.

Plain data only (no SQLAlchemy): the generator reads it, nothing on a hot path does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["columns", "fields", "dataclass", "namedtuple"]


@dataclass(frozen=True)
class Shape:
    """One shape of one table's rows.

    ``kind``: ``columns`` a tuple of column names; ``fields`` an annotation-only base class (typed
    attributes and no slots of its own) that a :class:`core.store.records.Record` inherits;
    ``dataclass`` a frozen slotted dataclass; ``namedtuple`` a ``typing.NamedTuple``. ``name`` is
    the generated constant or class, ``doc`` its docstring."""

    name: str
    table: str
    kind: Kind
    doc: str
    leaves_out: dict[str, str] = field(default_factory=dict)  # column -> why this shape lacks it
    types: dict[str, str] = field(default_factory=dict)  # column -> the type this shape gives it
    last: tuple[str, ...] = ()  # columns placed after the others (the kernel model's order first)
    bases: tuple[str, ...] = ()  # hand-written classes (no fields, no slots) that give it methods


@dataclass(frozen=True)
class Aggregate:
    """The shapes of one aggregate, generated into ``core/readmodels/<module>.py``."""

    module: str
    doc: str
    shapes: tuple[Shape, ...]
    imports: tuple[str, ...] = ()  # extra import lines the shapes' types need


_RECORD = "The columns of a ``{table}`` row as attributes: what ``core.store.records.{record}`` holds"

AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate(
        module="proposal",
        doc="A proposal and what hangs off it: its policy decisions, approvals and executions.",
        imports=("from core.readmodels.parts import ChangeView, ProposalViewMethods",),
        shapes=(
            Shape("PROPOSAL_COLUMNS", "proposals", "columns", "Every ``proposals`` column, in the table's order."),
            Shape("ProposalFields", "proposals", "fields", _RECORD.format(table="proposals", record="ProposalRecord")),
            Shape("ProposalView", "proposals", "dataclass",
                  "The fields of ``core.kernel.models.Proposal`` as ``repo.proposal_from_row`` fills them, plus the\n"
                  "stored preview: what the read-only CLI commands show (``core.store.lite``). Operations and\n"
                  "evidence stay the stored dicts (only shown, never acted on).",
                  leaves_out={"version": "optimistic concurrency of the writers; nothing shows it"},
                  types={"targets": "list[str]", "changes": "list[ChangeView]"},
                  last=("preview",), bases=("ProposalViewMethods",)),
            Shape("PROPOSAL_SUMMARY_COLUMNS", "proposals", "columns",
                  "The columns of a queue row (``GET /api/proposals``, ``api.schemas.ProposalSummary``);\n"
                  "``version`` is read beside them as the summary cache's key.",
                  leaves_out={"author_kind": "the detail shows it", "rationale": "long text: the detail shows it",
                              "evidence": "large: the detail shows it", "emergency": "the detail shows it",
                              "action_type": "the detail shows it", "staged": "the detail shows it",
                              "preview": "large: the detail shows it", "version": "the cache key, read apart",
                              "preconditions": "the detail shows them", "readback": "long text: the detail shows it",
                              "start_requested_by": "the detail shows it",
                              "start_retry_at": "the scheduler's bookkeeping: the detail shows it",
                              "start_deferrals": "the scheduler's bookkeeping: the detail shows it"}),
            Shape("DECISION_COLUMNS", "policy_decisions", "columns",
                  "Every ``policy_decisions`` column, in the table's order."),
            Shape("DecisionFields", "policy_decisions", "fields",
                  _RECORD.format(table="policy_decisions", record="DecisionRowRecord")),
            Shape("DecisionDetailView", "policy_decisions", "namedtuple",
                  "A decision as the proposal detail shows it (``api.proposal_views``), in this order.",
                  leaves_out={"proposal_id": "the detail is of one proposal",
                              "allow": "``result`` carries it", "input": "large: ``/decision`` shows it"}),
            Shape("APPROVAL_COLUMNS", "approvals", "columns",
                  "Every ``approvals`` column, in the table's order: the fields of ``core.kernel.models.Approval``."),
            Shape("EXECUTION_COLUMNS", "executions", "columns",
                  "Every ``executions`` column, in the table's order: the fields of ``core.kernel.models.Execution``."),
            Shape("ExecutionFields", "executions", "fields",
                  _RECORD.format(table="executions", record="ExecutionRecord")),
        ),
    ),
    Aggregate(
        module="device",
        doc="A device of the fleet.",
        shapes=(
            Shape("DEVICE_COLUMNS", "devices", "columns", "Every ``devices`` column, in the table's order."),
            Shape("DeviceView", "devices", "namedtuple",
                  "The fields of ``core.kernel.models.Device``, filled as ``repo.device_from_row`` fills them\n"
                  "(``Device(**view._asdict())`` is that model): the CLI's and the fleet steps' device.",
                  leaves_out={"created_at": "not part of the device model",
                              "acs_seen_at": "the inventory sync's bookkeeping",
                              "absent_since": "the inventory sync's bookkeeping"}),
        ),
    ),
)
