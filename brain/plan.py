"""The planner's intermediate results: what it understood, found and decided.

Plain pydantic models that serialise to JSON, because they live in the LangGraph checkpoint of a
durable chat thread and must survive a process restart unchanged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.kernel.models import ProposalDraft

Outcome = Literal["change", "question", "escalation", "answer"]


class Intent(StrEnum):
    """What the support agent (or a telemetry trigger) is asking about."""

    WIFI = "wifi_problem"
    COVERAGE = "coverage"
    CONNECTIVITY = "connectivity"
    INFORM = "inform"
    SSID = "ssid_change"
    PASSPHRASE = "passphrase_change"
    CREDENTIALS = "ssid_and_passphrase"
    REQUEST = "explicit_request"
    STATUS = "status"
    UNSUPPORTED = "unsupported_action"
    UNKNOWN = "unknown"


class Measure(BaseModel):
    """The telemetry a finding was judged on: which stored series (metric and labels) and the
    threshold the diagnosis held it against, if one. A drafted change carries that series as the
    chart behind it (``playbooks.measured_series``)."""

    metric: str
    labels: dict[str, str] = Field(default_factory=dict)
    threshold: float | None = None
    threshold_text: str | None = None
    how: Literal["mean", "max"] = "mean"  # "max" for counts: a slice's burst, not its average


class Finding(BaseModel):
    """The diagnosis: one named condition with the numbers that support it."""

    kind: str
    summary: str
    radio: int | None = None
    band: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    measure: Measure | None = None


class Plan(BaseModel):
    """A Proposal draft, or the reason no CPE change is right (question, escalation, answer)."""

    outcome: Outcome
    text: str
    finding: str
    draft: ProposalDraft | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    # The series to chart beside the draft when its finding measured nothing: an explicit "set
    # channel 11" names a radio, not a reading, yet its approver weighs that radio's air the same.
    measure: Measure | None = None
