"""Provisioning profiles: versioned baseline configuration selected by model, region and service.

Why conflicts are reported and never merged by order: two profiles that both match a device and
set one parameter differently mean two teams disagree about that device; picking one by file
order would silently undo the other's intent on every re-provisioning. The devices they share are
not provisioned until the profiles agree, and ``check`` names both profiles, the parameter, the
values and how many devices of the fleet are caught.

Files: ``policies/data/profiles/*.json`` (see the README there). A bad file is refused at load with
the file and field named.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.kernel.errors import Invalid, NotFound
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Scalar
from core.kernel.secrets import is_secret_path

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

PROFILES_DIR = Path(__file__).resolve().parents[2] / "policies" / "data" / "profiles"


class DeviceClass(Protocol):
    """What a profile is chosen by: a device, or one (vendor, model, region, service) class of them."""

    @property
    def vendor(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def service(self) -> str: ...


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vendors: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)

    def matches(self, d: DeviceClass) -> bool:
        return all(not allowed or str(getattr(d, attr, "")) in allowed
                   for attr, allowed in (("vendor", self.vendors), ("model", self.models),
                                         ("region", self.regions), ("service", self.services)))

    def may_overlap(self, other: Match) -> bool:
        """Could one device match both (every dimension either open or sharing a value)?"""
        return all(not a or not b or bool(set(a) & set(b))
                   for a, b in ((self.vendors, other.vendors), (self.models, other.models),
                                (self.regions, other.regions), (self.services, other.services)))

    def describe(self) -> str:
        parts = [f"{k}={','.join(v)}" for k, v in (("vendor", self.vendors), ("model", self.models),
                                                    ("region", self.regions), ("service", self.services)) if v]
        return " ".join(parts) or "every device"


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    version: int = Field(ge=1)
    description: str = ""
    match: Match = Field(default_factory=Match)
    parameters: dict[str, Scalar] = Field(min_length=1)

    @field_validator("parameters")
    @classmethod
    def _paths(cls, v: dict[str, Scalar]) -> dict[str, Scalar]:
        from core.kernel.datamodel.registry import get_registry

        cwmp, usp = get_registry("Device.", "cwmp"), get_registry("Device.", "usp")
        for path in v:
            if not path.startswith("Device.") or path.endswith("."):
                raise ValueError(f"{path!r} is not a TR-181 parameter path (Device.X.Y)")
            if is_secret_path(path):
                raise ValueError(f"{path} is a secret: passphrases are per subscriber, never profile data")
            if cwmp.find(path) is None and usp.find(path) is None:
                raise ValueError(f"{path} is not in the TR-181 data model")
        return v

    def evidence(self) -> JsonObject:
        """What a zero-touch proposal carries (and policy's precedence rule reads)."""
        return {"id": self.id, "version": self.version,
                "changes": [{"path": p, "value": v} for p, v in sorted(self.parameters.items())]}


@dataclass(frozen=True)
class Conflict:
    path: str
    values: dict[str, Scalar]  # profile id -> value

    def describe(self) -> str:
        return f"{self.path}: " + " vs ".join(f"{pid} sets {v!r}" for pid, v in sorted(self.values.items()))


@dataclass
class Baseline:
    """The merged baseline of one device: parameters, which profile set each, and conflicts."""

    profiles: list[Profile]
    parameters: dict[str, Scalar] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.conflicts


class ProfileSet:
    """Every loaded profile; selection and merging for devices."""

    def __init__(self, profiles: Iterable[Profile], source: str = "") -> None:
        self.profiles = sorted(profiles, key=lambda p: p.id)
        self.source = source
        ids = [p.id for p in self.profiles]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise Invalid(f"profiles: id {dupes[0]!r} is defined twice; profile ids must be unique")
        self._cache: dict[tuple[str, str, str, str], Baseline] = {}

    def get(self, profile_id: str) -> Profile:
        for p in self.profiles:
            if p.id == profile_id:
                return p
        raise NotFound(f"no profile {profile_id!r}; `gateward profiles list` shows them")

    def matching(self, device: DeviceClass) -> list[Profile]:
        return [p for p in self.profiles if p.match.matches(device)]

    def baseline(self, device: DeviceClass) -> Baseline:
        key = (str(device.vendor), str(device.model), str(device.region), str(getattr(device, "service", "")))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        chosen = self.matching(device)
        out = Baseline(profiles=chosen)
        values: dict[str, dict[str, Scalar]] = {}
        for p in chosen:
            for path, v in p.parameters.items():
                values.setdefault(path, {})[p.id] = v
        for path, by in sorted(values.items()):
            distinct = {orjson.dumps(v) for v in by.values()}
            if len(distinct) > 1:
                out.conflicts.append(Conflict(path, by))
                continue
            pid, v = next(iter(by.items()))
            out.parameters[path] = v
            out.source[path] = pid
        self._cache[key] = out
        return out

    def expected(self, device: DeviceClass, path: str) -> Scalar | None:
        """The baseline value of ``path`` for ``device`` (None: no profile sets it, or in conflict)."""
        return self.baseline(device).parameters.get(path)

    def potential_conflicts(self) -> list[tuple[Profile, Profile, Conflict]]:
        """Pairs of profiles that could both match one device and disagree on a parameter."""
        out = []
        for i, a in enumerate(self.profiles):
            for b in self.profiles[i + 1:]:
                if not a.match.may_overlap(b.match):
                    continue
                for path in sorted(set(a.parameters) & set(b.parameters)):
                    if orjson.dumps(a.parameters[path]) != orjson.dumps(b.parameters[path]):
                        out.append((a, b, Conflict(path, {a.id: a.parameters[path], b.id: b.parameters[path]})))
        return out


def load_profiles(directory: Path | str | None = None) -> ProfileSet:
    """Every ``*.json`` in ``directory`` (default ``policies/data/profiles``)."""
    d = Path(directory) if directory is not None else PROFILES_DIR
    if not d.is_dir():
        raise Invalid(f"profiles directory {d} does not exist")
    out = []
    for path in sorted(d.glob("*.json")):
        try:
            raw = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise Invalid(f"profile {path.name}: malformed JSON: {exc}") from exc
        try:
            out.append(Profile.model_validate(raw))
        except ValidationError as exc:
            e = exc.errors()[0]
            loc = ".".join(str(x) for x in e.get("loc", ()))
            msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
            raise Invalid(f"profile {path.name}: {loc + ': ' if loc else ''}{msg}") from exc
    return ProfileSet(out, str(d))


def fleet_conflicts(profiles: ProfileSet, session: Session) -> list[dict[str, Any]]:
    """Actual conflicts in the fleet: per (vendor, model, region, service) class with conflicting
    baselines, the conflicts and how many devices they hold back from provisioning."""
    from sqlalchemy import func, select

    from core.store.schema import DeviceRow

    q = (select(DeviceRow.vendor, DeviceRow.model, DeviceRow.region, DeviceRow.service, func.count())
         .group_by(DeviceRow.vendor, DeviceRow.model, DeviceRow.region, DeviceRow.service))
    out = []
    for vendor, model, region, service, n in session.execute(q):
        cls = _Cls(vendor, model, region, service)
        b = profiles.baseline(cls)
        if b.conflicts:
            out.append({"vendor": vendor, "model": model, "region": region, "service": service, "devices": int(n),
                        "profiles": [p.id for p in b.profiles],
                        "conflicts": [{"path": c.path, "values": c.values, "text": c.describe()} for c in b.conflicts]})
    return out


@dataclass(frozen=True)
class _Cls:
    vendor: str
    model: str
    region: str
    service: str
