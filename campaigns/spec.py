"""What a person writes to define a campaign, validated before anything is stored.

Why strict: a rollout plan that does not add up, a threshold given as ``5`` meaning 5 %, or a
selector that silently matches the whole fleet are exactly the mistakes that turn into a fleet
outage. Each is refused here with a message that names the field and what to write instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.kernel.errors import Invalid
from core.kernel.jsontypes import Json
from core.kernel.models import Change, Operation, Selector

MAX_LISTED_DEVICES = 10_000


class Target(BaseModel):
    """Which devices: every given field must match (model, vendor, firmware, region, all tags).

    ``devices`` lists the devices explicitly ("campaign from selection" in the console, ``--device``
    on the CLI). The list *is* the selection; any other field given beside it is an intersection
    that must hold for every listed device, so a listed device it would leave out is refused by
    name (422) rather than dropped without a word. Each id must exist and not be retired."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    vendor: str | None = None
    firmware: str | None = None
    region: str | None = None
    tags: list[str] = Field(default_factory=list)
    devices: list[str] | None = Field(default=None, min_length=1, max_length=MAX_LISTED_DEVICES,
                                      description="exactly these device ids (at most 10,000)")
    all_fleet: bool = Field(default=False, description="confirm that matching the whole fleet is intended")

    @field_validator("devices")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        ids = [i.strip() for i in v]
        if any(not i for i in ids):
            raise ValueError("devices holds an empty id")
        dup = sorted(i for i, n in Counter(ids).items() if n > 1)
        if dup:
            raise ValueError(f"devices lists {', '.join(dup[:5])} more than once")
        return ids

    def selector(self) -> Selector:
        return Selector(model=self.model, vendor=self.vendor, firmware=self.firmware, region=self.region,
                        tags=list(self.tags))

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in (("model", self.model), ("vendor", self.vendor),
                                          ("firmware", self.firmware), ("region", self.region)) if v]
        parts += [f"tag={t}" for t in self.tags]
        if self.devices is not None:
            parts.insert(0, f"{len(self.devices)} listed device{'' if len(self.devices) == 1 else 's'}")
        return ", ".join(parts) or "the whole fleet"


class Firmware(BaseModel):
    """A firmware campaign: one ``download`` operation; verified by presence and version."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=500)
    version: str = Field(min_length=1, max_length=64)

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("firmware url must be an http(s) URL of an approved firmware server")
        return v


class KpiGate(BaseModel):
    """One KPI the gate measures: the changed devices' change against the control cohort's over
    the same windows (difference in differences, ``campaigns/effects.py``). A ring halts when the
    changed devices do measurably worse (the whole interval on the worse side) by more than the
    tolerance: ``margin`` in the KPI's unit, or ``max_degradation`` of their level before the
    change, whichever is larger (the relative part not for a signal in dBm, where a share of the
    level means nothing)."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=64,
                        description="wifi.channel_utilization_pct, wifi.client_rssi_dbm, wifi.retransmissions_pct, "
                                    "dns.failures, reboots, offline_minutes, or any telemetry metric")
    higher_is_worse: bool | None = Field(default=None, description="left out: the KPI's own (signal: lower is worse)")
    labels: dict[str, str] = Field(default_factory=dict, description='only these series, e.g. {"band": "2.4GHz"}')
    max_degradation: float = Field(default=0.2, ge=0, le=1,
                                   description="relative: 0.2 tolerates up to 20 % of the level before the change")
    margin: float = Field(default=0.0, ge=0, description="absolute tolerance, in the KPI's unit")
    min_samples: int = Field(default=20, ge=1, description="samples per group before the KPI may judge a ring")
    min_devices: int = Field(default=5, ge=2, le=100_000,
                             description="devices with data before and after, per group")
    window_h: float = Field(default=6.0, gt=0, le=24, description="hours measured after each change (and before it)")
    before: Literal["same_hours_day_before", "hours_before"] = Field(
        default="same_hours_day_before",
        description="what 'before' is: the same hours the day before (diurnal KPIs compare like with like) "
                    "or the hours just before the change")
    confidence: float = Field(default=0.95, ge=0.5, le=0.999)


class Gate(BaseModel):
    """The analysis gate of every ring. Fractions are 0..1 (0.02 = 2 %)."""

    model_config = ConfigDict(extra="forbid")

    failure_threshold: float = Field(default=0.02, ge=0, le=1)
    min_executed: int = Field(default=20, ge=1, le=1_000_000)
    on_breach: Literal["abort", "pause"] = "abort"
    max_unreached: float = Field(default=0.1, ge=0, le=1,
                                 description="devices that stayed offline through the ring's sweeps")
    min_reregistered: float = Field(default=0.98, ge=0, le=1,
                                    description="firmware/reboot: share of changed devices present again")
    reregister_sample: int = Field(default=200, ge=1, le=100_000)
    kpis: list[KpiGate] = Field(default_factory=list)
    observe_s: float | None = Field(
        default=None, ge=0, le=14 * 86400,
        description="after a ring drains, observe its KPIs this long (left out: each KPI's window_h); looks are "
                    "planned hourly over it and a ring whose KPIs still lack data at the end waits for a person")


class Rate(BaseModel):
    """Exponential rate limit: batch size and in-flight batches start small and grow by
    ``factor`` after every clean batch, up to the caps; a batch with failures resets them."""

    model_config = ConfigDict(extra="forbid")

    initial_batch: int = Field(default=10, ge=1, le=10_000)
    max_batch: int = Field(default=200, ge=1, le=10_000)
    initial_window: int = Field(default=1, ge=1, le=1000)
    max_window: int = Field(default=8, ge=1, le=1000)
    factor: float = Field(default=2.0, ge=1.0, le=16.0)

    @model_validator(mode="after")
    def _caps(self) -> Rate:
        if self.initial_batch > self.max_batch:
            raise ValueError(f"rate.initial_batch ({self.initial_batch}) is above rate.max_batch ({self.max_batch})")
        if self.initial_window > self.max_window:
            raise ValueError(f"rate.initial_window ({self.initial_window}) is above rate.max_window "
                             f"({self.max_window})")
        return self


class Promotion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["manual", "auto"] = "manual"
    pause_s: float = Field(default=60.0, ge=0, le=7 * 86400,
                           description="auto: wait this long after a passing analysis before widening")


class CampaignSpec(BaseModel):
    """A campaign definition. ``rings`` are cumulative percentages after the canary, e.g.
    canary 1 and rings [10, 50, 100]; left out, the plan policy asks for is used."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    intent: str = Field(default="", max_length=300)
    rationale: str = ""
    target: Target = Field(default_factory=Target)
    changes: list[Change] = Field(default_factory=list)
    operations: list[Operation] = Field(default_factory=list)
    firmware: Firmware | None = None
    canary_pct: float | None = Field(default=None, gt=0, le=50)
    rings: list[float] | None = None
    control_pct: float = Field(default=0.0, ge=0, le=50, description="held back as the matched control cohort")
    gate: Gate = Field(default_factory=Gate)
    promotion: Promotion = Field(default_factory=Promotion)
    rate: Rate = Field(default_factory=Rate)
    emergency: bool = Field(default=False, description="outside a change window: needs a senior approver")
    retry_unreached: int = Field(default=1, ge=0, le=5)
    sweep_delay_s: float = Field(default=30.0, ge=0, le=86400)

    @model_validator(mode="after")
    def _shape(self) -> CampaignSpec:
        if not self.changes and not self.operations and self.firmware is None:
            raise ValueError("a campaign needs changes, operations or firmware (nothing to roll out)")
        if self.firmware is not None and any(o.command == "download" for o in self.operations):
            raise ValueError("give the firmware once: either firmware={url, version} or a download operation")
        if self.rings is not None:
            check_stages(self.canary_pct, self.rings, self.control_pct)
        if self.gate.kpis and not self.control_pct:
            raise ValueError("gate.kpis are measured against a matched control cohort: set control_pct (e.g. 10); "
                             "without one no KPI could ever be judged and every ring would wait for a person")
        return self

    def warnings(self) -> list[str]:
        """What is allowed but an approver should know before trusting the gate."""
        out = []
        if self.gate.kpis and self.gate.observe_s == 0:
            out.append("gate.observe_s is 0: the KPIs are judged at the drain, before any sample after the change "
                       "can exist — each ring will wait for a person (leave it out to observe each KPI's window)")
        return out

    def all_operations(self) -> list[Operation]:
        ops = list(self.operations)
        if self.firmware is not None:
            ops.append(Operation(command="download", args={"url": self.firmware.url,
                                                           "version": self.firmware.version}))
        return ops

    @property
    def kind(self) -> str:
        if self.firmware is not None or any(o.command == "download" for o in self.operations):
            return "firmware"
        return "operation" if self.operations and not self.changes else "config"


def check_stages(canary: float | None, rings: list[float], control_pct: float = 0.0) -> list[float]:
    """Cumulative stage percentages [canary, *rings]; raises ValueError with the exact problem."""
    if not rings:
        raise ValueError("rings must list at least one cumulative percentage ending at 100, e.g. [10, 50, 100]")
    stages = ([canary] if canary is not None else []) + list(rings)
    for x in stages:
        if not 0 < x <= 100:
            raise ValueError(f"ring percentages must be within (0, 100]; got {x:g}")
    for a, b in pairwise(stages):
        if b <= a:
            raise ValueError(f"rings must grow: {b:g}% follows {a:g}% (they are cumulative shares of the "
                             "selection, e.g. canary 1 then rings [10, 50, 100])")
    if stages[-1] != 100:
        raise ValueError(f"the last ring must reach 100% of the selection (it is {stages[-1]:g}%); "
                         "rings are cumulative, so they must end at 100 to add up to the whole")
    if control_pct and len(stages) > 1 and stages[-2] > 100 - control_pct:
        raise ValueError(f"the control cohort ({control_pct:g}%) must wait for the last ring, but the ring "
                         f"before it already covers {stages[-2]:g}%; lower it to at most {100 - control_pct:g}%")
    return stages


def parse_spec(data: Mapping[str, Json] | CampaignSpec) -> CampaignSpec:
    """Validate a definition; pydantic's errors become one clear :class:`Invalid`."""
    if isinstance(data, CampaignSpec):
        return data
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()))
            msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
            if e.get("type") in ("less_than_equal", "greater_than_equal", "greater_than", "less_than") and \
                    loc.split(".")[-1] in _FRACTIONS:
                msg += " (a fraction: 0.02 means 2 %)"
            problems.append(f"{loc}: {msg}" if loc else msg)
        raise Invalid("invalid campaign: " + "; ".join(problems[:5]), errors=problems) from exc


_FRACTIONS = {"failure_threshold", "max_unreached", "min_reregistered", "max_degradation"}
