"""One row, one definition (issue 35): every shape of a proposal's, a decision's, an approval's, an
execution's and a device's row follows the schema.

The generated read models (``core/readmodels``) are regenerated and compared; the shapes that are
not generated — the kernel's models, the API's queue row, the writer's column values, the CLI's
SQL — are held to the lists derived from the schema. A column added to (or dropped from) a table
therefore fails here until every shape carries it or ``core/readmodels/shapes.py`` says why one
does not; ``test_a_new_column_is_caught_in_every_shape`` shows that on a column that is not there.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields as dc_fields
from datetime import UTC, datetime
from typing import Any

import pytest

from api import proposal_views
from api.schemas import ProposalSummary
from core.kernel.models import Approval, Change, Device, Execution, Proposal
from core.readmodels import device as device_rm
from core.readmodels import gen
from core.readmodels import proposal as proposal_rm
from core.readmodels.shapes import AGGREGATES, Shape
from core.store import repo
from core.store.lite import device_view, proposal_view
from core.store.lite_sql import QUERIES
from core.store.records import DecisionRowRecord, ExecutionRecord, ProposalRecord

SHAPES = {s.name: s for a in AGGREGATES for s in a.shapes}


def _names(shape: str, columns: gen.Columns) -> list[str]:
    return [f for f, _ in gen.fields(SHAPES[shape], columns)]


def hand_kept_drift(columns: gen.Columns) -> list[str]:
    """Every shape that is not generated, compared with what the schema (``columns``) derives for it."""
    found: list[str] = []

    def same(what: str, have: list[str] | set[str], want: list[str] | set[str]) -> None:
        if have != want:
            extra = sorted(set(have) - set(want))
            missing = sorted(set(want) - set(have))
            found.append(f"{what}: extra {extra}, missing {missing}" if extra or missing else f"{what}: order")

    view = _names("ProposalView", columns)
    same("core.kernel.models.Proposal", list(Proposal.model_fields), [f for f in view if f != "preview"])
    same("core.kernel.models.Device", list(Device.model_fields), _names("DeviceView", columns))
    same("core.kernel.models.Approval", list(Approval.model_fields), _names("APPROVAL_COLUMNS", columns))
    same("core.kernel.models.Execution", list(Execution.model_fields), _names("EXECUTION_COLUMNS", columns))
    summary = set(_names("PROPOSAL_SUMMARY_COLUMNS", columns)) | {"target_count"}
    same("api.schemas.ProposalSummary", set(ProposalSummary.model_fields), summary)
    p = Proposal(id="p1", author="a", intent="i", targets=["d1"])
    same("repo.proposal_values (the writer's columns)", set(repo.proposal_values(p)),
         set(_names("PROPOSAL_COLUMNS", columns)))
    for query, shape in (("proposal", "PROPOSAL_COLUMNS"), ("approvals", "APPROVAL_COLUMNS"),
                         ("executions", "EXECUTION_COLUMNS"), ("decision.latest", "DECISION_COLUMNS")):
        same(f"core.store.lite_sql[{query!r}]", list(QUERIES[query]["columns"]), _names(shape, columns))
    return found


# ---------------------------------------------------------------------------- the generated modules
@pytest.mark.parametrize("agg", AGGREGATES, ids=lambda a: a.module)
def test_the_read_models_are_the_schema_derived_now(agg: Any) -> None:
    """After a schema change, ``python -m core.readmodels.gen`` and review the diff."""
    assert gen.target(agg).read_text(encoding="utf-8") == gen.render(agg)


def test_the_read_models_import_no_sqlalchemy() -> None:
    """The CLI's DB-API read path imports them (``core.store.lite``): no SQLAlchemy, no pydantic."""
    code = ("import sys, core.readmodels.proposal, core.readmodels.device, core.store.lite; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'pydantic')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_every_shape_names_only_columns_its_table_has() -> None:
    columns = gen.schema_columns()
    assert [p for s in SHAPES.values() for p in gen.problems(s, columns)] == []


def test_the_records_hold_their_tables_columns() -> None:
    for record, names in ((ProposalRecord, proposal_rm.PROPOSAL_COLUMNS),
                          (ExecutionRecord, proposal_rm.EXECUTION_COLUMNS),
                          (DecisionRowRecord, proposal_rm.DECISION_COLUMNS)):
        assert record.columns == names  # read from the Table when the class was made
        assert set(record.__slots__) == set(names)


# ---------------------------------------------------------------------------- the hand-kept shapes
def test_the_shapes_that_are_not_generated_match_the_schema() -> None:
    assert hand_kept_drift(gen.schema_columns()) == []


def test_a_new_column_is_caught_in_every_shape() -> None:
    """A ``proposals`` column that no shape knows: every generated module it belongs to changes, and
    every hand-kept shape that should carry it (or name it in shapes.py) is reported."""
    columns = gen.schema_columns()
    columns["proposals"] = [*columns["proposals"], ("escalation", "str | None")]
    proposal_agg = next(a for a in AGGREGATES if a.module == "proposal")
    text = gen.render(proposal_agg, columns)
    assert text != gen.target(proposal_agg).read_text(encoding="utf-8")
    for shape in ("PROPOSAL_COLUMNS", "ProposalFields", "ProposalView", "PROPOSAL_SUMMARY_COLUMNS"):
        assert "escalation" in _names(shape, columns), shape
    drift = hand_kept_drift(columns)
    for shape in ("core.kernel.models.Proposal", "api.schemas.ProposalSummary", "repo.proposal_values",
                  "core.store.lite_sql['proposal']"):
        assert any(d.startswith(shape) and "escalation" in d for d in drift), (shape, drift)


def test_a_dropped_column_or_a_stale_exception_is_caught() -> None:
    columns = gen.schema_columns()
    columns["approvals"] = [c for c in columns["approvals"] if c[0] != "comment"]
    assert any(d.startswith("core.kernel.models.Approval") and "comment" in d for d in hand_kept_drift(columns))
    stale = Shape("X", "proposals", "columns", "doc", leaves_out={"no_such_column": "gone"})
    assert gen.problems(stale, gen.schema_columns()) == ["X: proposals has no column 'no_such_column'"]


# ---------------------------------------------------------------------------- the views fill every field
def test_the_queue_row_renders_the_api_schema_in_its_order() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    values: dict[str, Any] = {"id": "p1", "author": "alice", "intent": "i", "targets": ["d1", "d2"],
                              "changes": [{"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": "s"}],
                              "operations": [], "source": "cli", "risk": 0.5, "state": "draft", "hash": "h",
                              "error": None, "created_at": now, "updated_at": now, "not_before": None,
                              "not_after": None}
    row = (*(values[n] for n in proposal_rm.PROPOSAL_SUMMARY_COLUMNS), 7)  # the version after them
    out = proposal_views._summary(row)
    assert list(out) == list(ProposalSummary.model_fields)
    assert out["target_count"] == 2 and out["changes"][0]["value"] != "s" and out["created_at"].endswith("Z")
    ProposalSummary.model_validate(out)


def test_the_cli_views_are_the_models_fields() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    row = {c: None for c in device_rm.DEVICE_COLUMNS} | {"id": "d1", "tags": ["a"], "status": None}
    view = device_view(row)
    assert view.tags == ["a"] and view.status == "active"
    assert list(view._asdict()) == list(Device.model_fields)
    prow = {c: None for c in proposal_rm.PROPOSAL_COLUMNS} | {
        "id": "p1", "targets": ["d1"], "changes": [{"path": " Device.X ", "value": 1}], "operations": None,
        "evidence": None, "staged": 0, "created_at": now, "updated_at": now, "preview": {"devices": []}}
    pview = proposal_view(prow)
    assert [f.name for f in dc_fields(pview)] == [*Proposal.model_fields, "preview"]
    assert pview.changes[0].path == "Device.X" and pview.staged is False and pview.operations == []
    assert [f.name for f in dc_fields(pview.changes[0])] == [n for n in Change.model_fields]
