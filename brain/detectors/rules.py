"""Detector rules as data: what to look at, over which window, against which threshold, and the
problem it reports.

Why data and not code: thresholds are operator knowledge that changes more often than the engine
(a noisier firmware, a stricter SLA); a rule file is reviewed like policy data and a bad one is
refused at load with the rule and field named, never half-applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.kernel.errors import Invalid

if TYPE_CHECKING:
    from core.kernel.models import Device

RULES_FILE = Path(__file__).with_name("rules.json")
Kind = Literal["event_count", "metric_sum", "metric_mean", "metric_sustained", "param_drift"]


class Where(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vendor: list[str] = Field(default_factory=list)
    model: list[str] = Field(default_factory=list)
    firmware: list[str] = Field(default_factory=list)
    region: list[str] = Field(default_factory=list)

    def matches(self, d: Device) -> bool:
        return all(not allowed or getattr(d, f) in allowed
                   for f, allowed in (("vendor", self.vendor), ("model", self.model),
                                      ("firmware", self.firmware), ("region", self.region)))

    @property
    def empty(self) -> bool:
        return not (self.vendor or self.model or self.firmware or self.region)


class Problem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: str | None = Field(description="the planner's job trigger; null: escalate, no automated remedy")
    plan_scope: Literal["device", "class"] = "device"
    cooldown_h: float = Field(default=24, ge=0, le=24 * 90)
    summary: str = ""


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    problem: str
    kind: Kind
    window_h: float = Field(default=24, gt=0, le=24 * 30)
    event: str | None = None
    metric: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    min: float | None = None
    above: float | None = None
    below: float | None = None
    min_samples: int = Field(default=1, ge=1)
    for_minutes: float | None = Field(default=None, gt=0)
    sample_minutes: float = Field(default=15, gt=0)
    path: str | None = None
    expected: str | int | float | bool | None = None
    where: Where = Field(default_factory=Where)

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        need: dict[str, tuple[str, ...]] = {
            "event_count": ("event", "min"), "metric_sum": ("metric", "min"),
            "metric_mean": ("metric",), "metric_sustained": ("metric", "above", "for_minutes"),
            "param_drift": ("path",),
        }
        missing = [f for f in need[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} rule needs {', '.join(missing)}")
        if self.kind == "metric_mean" and (self.above is None) == (self.below is None):
            raise ValueError("a metric_mean rule needs exactly one of above / below")
        return self

    def threshold_text(self) -> str:
        if self.kind == "event_count":
            return f"≥ {self.min:g} {self.event} event(s) in {self.window_h:g} h"
        if self.kind == "metric_sum":
            return f"sum of {self.metric} ≥ {self.min:g} in {self.window_h:g} h"
        if self.kind == "metric_mean":
            op, v = ("<", self.below) if self.below is not None else (">", self.above)
            return f"mean {self.metric} {op} {v:g} over {self.window_h:g} h (≥ {self.min_samples} samples)"
        if self.kind == "metric_sustained":
            return f"{self.metric} > {self.above:g} for ≥ {self.for_minutes:g} min in {self.window_h:g} h"
        return f"{self.path} differs from the baseline profile"


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | str = 1
    description: str = ""
    problems: dict[str, Problem]
    rules: list[Rule]

    @model_validator(mode="after")
    def _refs(self) -> RuleSet:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique: {', '.join(dupes)}")
        unknown = sorted({r.problem for r in self.rules} - set(self.problems))
        if unknown:
            raise ValueError(f"rules report undeclared problem(s): {', '.join(unknown)} (declare them under problems)")
        return self

    def problem(self, name: str) -> Problem:
        try:
            return self.problems[name]
        except KeyError:
            raise Invalid(f"unknown problem {name!r}; known: {', '.join(sorted(self.problems))}") from None


def parse_rules(data: dict[str, Any], source: str = "rules") -> RuleSet:
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors()[:5]:
            loc = ".".join(str(x) for x in e.get("loc", ()))
            if loc.startswith("rules.") and loc.split(".")[1].isdigit():
                i = int(loc.split(".")[1])
                rid = (data.get("rules") or [{}])[i].get("id", f"#{i}") if isinstance(data.get("rules"), list) else i
                loc = f"rule {rid}" + ("." + ".".join(loc.split(".")[2:]) if loc.count(".") > 1 else "")
            msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{loc}: {msg}" if loc else msg)
        raise Invalid(f"{source}: invalid detector rules: " + "; ".join(problems), errors=problems) from exc


def load_rules(path: Path | str | None = None) -> RuleSet:
    """The rule file (``brain/detectors/rules.json`` unless given); a bad file raises :class:`Invalid`."""
    p = Path(path) if path is not None else RULES_FILE
    try:
        raw = orjson.loads(p.read_bytes())
    except FileNotFoundError:
        raise Invalid(f"detector rules file {p} does not exist") from None
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"{p.name}: malformed JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise Invalid(f"{p.name}: expected a JSON object with problems and rules")
    return parse_rules(raw, p.name)
