"""Bringing devices under management by hand, and taking them out of it.

``add`` registers one device, ``import_rows`` many (a CSV file or a JSON list), ``retire`` takes one
out of management. Why here and not in ``core.lifecycle``: none of this writes to a device; it
changes what the fleet *is*. It is still a privileged act (a registered device becomes targetable,
so a wrong one could be changed by a later campaign), so only an admin may do it and every step is
an audit event in the same transaction as the row it describes.

Rules (each refusal names the row and the reason, and registers nothing for that row):

* identity: ``OUI-ProductClass-Serial`` (the CWMP DeviceId, exactly as the ACS reports it) or, for
  the USP adapter, the agent's endpoint ID ``os::OUI-Serial`` (the only form the USP adapter can
  address today: it derives the endpoint from OUI and serial), each part in the grammar of
  :mod:`core.kernel.ids` (no ``%``, ``/`` or ``..`` — an id travels into URLs and files). The
  product class may hold inner spaces (real CPEs report e.g. ``HG8245 V5``; GenieACS escapes them
  in its ``_id``), OUI and serial may not. GenieACS's own escaped ``_id``
  (``00259E-HG8245%20V5-SN1``) is accepted too, decoded, and stored in the plain form the ACS sync
  gives the same device, so both name one device;
* display strings (vendor, model, firmware, subscriber, region, service, upstream id, tags) refuse
  control characters and bidirectional embeddings/overrides/isolates, exactly as TR-181 display
  strings do (:func:`core.kernel.values.control_problem`): they are shown to people in the console;
* a JSON import is parsed with its nesting bounded (:func:`parse_json_rows`): a row nested deeper
  than a device row can be is refused by number, the rest imported (Python's parser raised
  ``RecursionError`` on such a file);
* adapter ``sim``, ``usp`` or ``genieacs``; root ``Device.`` or ``InternetGatewayDevice.`` (USP speaks
  only ``Device.``); the protocol follows from the adapter;
* one unit, one registration: an id already registered, or the same OUI + serial under any adapter
  (the same gateway reached through the ACS and through the broker), is refused — also in another
  letter case (``A4C3F0-G240W-ab12`` beside ``A4C3F0-G240W-AB12``: one gateway to a person reading the
  id). Ids are kept exactly as the device reports them (the ACS and a USP endpoint address it so), so
  a case variant is refused as a duplicate naming the registered id rather than folded into it
  (issue 56; docs/inventory.md). An import reads the registered ids once, not per row;
* an import registers each good row in its own transaction (atomic per row) and reports each bad
  row, so one typo never loses the other 999 rows and nothing is ever half-registered.

Retiring keeps the row and its history (``status = retired``, ``retired_at``): selectors skip it
and proposals refuse it (``core.store.repo``). A device a live proposal still targets cannot be
retired until that proposal ends.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core import audit
from core.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from core.kernel.ids import oui_problem, product_class_problem, serial_problem
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import TERMINAL_STATES, Actor, Device, Protocol, Root, utcnow
from core.kernel.values import control_problem
from core.results import Aggregate, DeviceResult
from core.store import repo
from core.store.schema import DeviceLockRow, DeviceRow, ProposalDeviceRow, ProposalRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.store import Store

ADMIN_ROLE = "admin"
# What a re-imported row must repeat to count as already registered (``last_seen`` and the
# timestamps are the fleet's, not the file's).
_IDENTITY_COLUMNS = ("vendor", "model", "product_class", "oui", "serial", "firmware", "root", "protocol", "adapter",
                     "subscriber", "region", "service", "tags", "upstream_id")
MAX_IMPORT_ROWS = 10_000
PROTOCOL_OF_ADAPTER = {"usp": Protocol.USP, "genieacs": Protocol.CWMP}
_OUI = re.compile(r"^[0-9A-F]{6}$")
ENDPOINT_ID_RE = re.compile(r"^os::([0-9A-Fa-f]{6})-(.+)$")
_TOKEN = re.compile(r"^[^\s\x00-\x1f\x7f]+$")  # identity parts: printable, no spaces
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class DeviceFields(BaseModel):
    """The fields of one device to register, with only the constraints a JSON schema can say (the
    API body of ``POST /api/devices``); :class:`DeviceSpec` adds the identity rules.

    Give ``id`` (``OUI-ProductClass-Serial``) or, for ``adapter=usp``, ``endpoint_id``
    (``os::OUI-Serial``); ``oui``, ``product_class`` and ``serial`` are derived from them, and must
    agree if given too."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str | None = Field(default=None, max_length=128, description="OUI-ProductClass-Serial")
    endpoint_id: str | None = Field(default=None, max_length=128, description="USP agent endpoint ID, os::OUI-Serial")
    adapter: Literal["sim", "usp", "genieacs"]
    root: Root = Field(description="data-model root: Device. or InternetGatewayDevice.")
    vendor: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=64)
    firmware: str = Field(min_length=1, max_length=64)
    product_class: str = Field(default="", max_length=64)
    oui: str = Field(default="", max_length=6)
    serial: str = Field(default="", max_length=64)
    protocol: Protocol | None = Field(default=None, description="follows from the adapter; sim defaults to cwmp")
    region: str = Field(default="EU", min_length=1, max_length=16)
    subscriber: str | None = Field(default=None, max_length=64)
    service: str = Field(default="standard", min_length=1, max_length=32)
    tags: list[str] = Field(default_factory=list, max_length=50)
    upstream_id: str | None = Field(default=None, max_length=128)


class DeviceSpec(DeviceFields):
    """One device to register, checked: identity shape and agreement, adapter ↔ protocol ↔ root,
    no control characters. Refusals are per field, in words an operator can act on."""

    @classmethod
    def checked(cls, fields: DeviceFields | Mapping[str, Json]) -> DeviceSpec:
        """Validate, turning pydantic's error into :class:`Invalid` (a domain refusal, HTTP 422)."""
        raw = fields.model_dump(exclude_unset=True) if isinstance(fields, DeviceFields) else fields
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise Invalid(validation_message(exc)) from None

    @field_validator("vendor", "model", "firmware", "region", "subscriber", "service", "upstream_id")
    @classmethod
    def _no_control(cls, v: str | None) -> str | None:
        """People read these in the console and the CLI: the TR-181 display-string rule applies
        (no control characters, no bidirectional overrides that make text read differently)."""
        problem = None if v is None else control_problem(v, display=True)
        if problem is not None:
            raise ValueError(f"must not contain control characters or bidirectional controls ({problem})")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        for t in v:
            if not t or len(t) > 64 or not _TOKEN.match(t) or control_problem(t, display=True):
                raise ValueError(f"tag {t!r} must be 1..64 printable characters without spaces or "
                                 "bidirectional controls")
        return v

    @model_validator(mode="after")
    def _identity(self) -> DeviceSpec:
        if self.oui and (problem := oui_problem(self.oui)):
            raise ValueError(f"oui {self.oui!r} {problem}")
        if self.serial and (problem := serial_problem(self.serial)):
            raise ValueError(f"serial {self.serial!r} {problem}")
        if self.product_class and (problem := product_class_problem(self.product_class)):
            raise ValueError(f"product_class {self.product_class!r} {problem}")
        if self.oui:
            self.oui = self.oui.upper()
        if self.endpoint_id:
            self._from_endpoint(self.endpoint_id)
        if self.id:
            self._from_device_id(self.id)
        elif not self.endpoint_id:
            raise ValueError("give id (OUI-ProductClass-Serial) or, for adapter usp, endpoint_id (os::OUI-Serial)")
        else:
            # TR-369 writes the OUI of an ``os::`` endpoint ID in upper case; the USP adapter derives
            # the endpoint from OUI and serial, so the id is the canonical form of what was given.
            self.endpoint_id = f"os::{self.oui}-{self.serial}"
            self.id = f"{self.oui}-{self.product_class}-{self.serial}" if self.product_class else self.endpoint_id
        self._check_protocol()
        return self

    def _from_endpoint(self, endpoint: str) -> None:
        if self.adapter != "usp":
            raise ValueError(f"endpoint_id is a USP identity; adapter is {self.adapter!r} (use id)")
        m = ENDPOINT_ID_RE.match(endpoint)
        if m is None or not _TOKEN.match(endpoint):
            raise ValueError(f"endpoint_id {endpoint!r} is not os::OUI-Serial (e.g. os::00D09E-SN1234); the USP "
                             "adapter addresses agents by OUI and serial")
        if problem := serial_problem(m.group(2)):
            raise ValueError(f"endpoint_id {endpoint!r}: serial {m.group(2)!r} {problem}")
        self._agree("oui", m.group(1).upper())
        self._agree("serial", m.group(2))

    def _from_device_id(self, device_id: str) -> None:
        if control_problem(device_id, display=True):
            raise ValueError(f"id {device_id!r} must be printable characters")
        if device_id.startswith("os::"):
            raise ValueError(f"id {device_id!r} looks like a USP endpoint ID; give it as endpoint_id")
        decoded = _decode_acs_id(device_id)
        if decoded is not None:  # GenieACS's escaped _id: the parts it names, as the sync stores them
            self._agree("oui", decoded[0].upper())
            self._agree("product_class", decoded[1])
            self._agree("serial", decoded[2])
            self.id = f"{decoded[0]}-{decoded[1]}-{decoded[2]}"
            self._from_device_id(self.id)
            return
        parts = device_id.split("-", 2)
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"id {device_id!r} is not OUI-ProductClass-Serial (e.g. 00D09E-CGW3400-SN1234)")
        oui = parts[0].upper()
        if problem := oui_problem(oui):
            raise ValueError(f"id {device_id!r}: OUI {parts[0]!r} {problem}")
        if self.product_class and device_id.startswith(f"{parts[0]}-{self.product_class}-"):
            product_class, serial = self.product_class, device_id[len(parts[0]) + len(self.product_class) + 2:]
        else:
            product_class, serial = parts[1], parts[2]
        if problem := product_class_problem(product_class):
            raise ValueError(f"id {device_id!r} is not OUI-ProductClass-Serial: product class {product_class!r} "
                             f"{problem}")
        if problem := serial_problem(serial):
            raise ValueError(f"id {device_id!r} is not OUI-ProductClass-Serial: serial {serial!r} {problem}")
        self._agree("oui", oui)
        self._agree("product_class", product_class)
        self._agree("serial", serial)

    def _agree(self, name: str, derived: str) -> None:
        given = getattr(self, name)
        if given and given != derived:
            raise ValueError(f"{name} {given!r} does not match the identity, which says {derived!r}")
        setattr(self, name, derived)

    def _check_protocol(self) -> None:
        implied = PROTOCOL_OF_ADAPTER.get(self.adapter)
        if implied is not None and self.protocol is not None and self.protocol != implied:
            raise ValueError(f"adapter {self.adapter!r} speaks {implied}, not {self.protocol}")
        self.protocol = implied or self.protocol or Protocol.CWMP
        if self.protocol == Protocol.USP and self.root != Root.DEVICE:
            raise ValueError("USP devices speak TR-181: root must be Device.")

    def to_device(self) -> Device:
        assert self.id is not None and self.protocol is not None  # set by the validator
        return Device(id=self.id, vendor=self.vendor, model=self.model, product_class=self.product_class,
                      oui=self.oui, serial=self.serial, firmware=self.firmware, root=self.root,
                      protocol=self.protocol, adapter=self.adapter, subscriber=self.subscriber or None,
                      region=self.region, service=self.service, tags=list(self.tags),
                      upstream_id=self.upstream_id or None)


class Registration(StrEnum):
    """What the inventory did with one device of an import or a sync: the status of its
    :class:`~core.results.DeviceResult`."""

    REGISTERED = "registered"
    UNCHANGED = "unchanged"  # already registered exactly so (a re-import): neither new nor an error
    REFUSED = "refused"


RowResult = DeviceResult[Registration]


def row_result(n: int, device_id: str | None, error: str | None = None, *, unchanged: bool = False) -> RowResult:
    """Row ``n`` of an import: registered as ``device_id``, already so (``unchanged``), or refused
    with ``error`` (``device_id`` then is what the row named, if anything). The row number is
    evidence: the line of the file to fix."""
    if error is not None:
        return DeviceResult(device_id or "", Registration.REFUSED, failed=True, error=error, reason=error,
                            evidence={"row": n})
    status = Registration.UNCHANGED if unchanged else Registration.REGISTERED
    return DeviceResult(device_id or "", status, evidence={"row": n})


def row_dict(r: RowResult) -> JsonObject:
    """One row of an import as the API, the CLI's JSON and the audit event show it."""
    return {"row": r.evidence["row"], "device_id": r.device_id or None, "ok": r.status is not Registration.REFUSED,
            "error": r.error, "unchanged": r.status is Registration.UNCHANGED}


@dataclass
class ImportReport(Aggregate[Registration]):
    """Every row's result, keyed by its line (``"row 12"``): a refused row may name no device, or the
    device another row names. ``registered``, ``unchanged`` and ``refused`` are views of them."""

    results: dict[str, RowResult] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Sequence[RowResult]) -> ImportReport:
        return cls({f"row {r.evidence['row']}": r for r in rows})

    def _where(self, status: Registration) -> list[RowResult]:
        return [r for r in self.results.values() if r.status is status]

    @property
    def registered(self) -> list[str]:
        return [r.device_id for r in self._where(Registration.REGISTERED)]

    @property
    def unchanged(self) -> list[str]:
        return [r.device_id for r in self._where(Registration.UNCHANGED)]

    @property
    def refused(self) -> dict[int, RowResult]:
        """Row number → its refusal."""
        return {int(r.evidence["row"]): r for r in self._where(Registration.REFUSED)}

    def as_dict(self) -> JsonObject:
        return {"registered": len(self.registered), "unchanged": len(self.unchanged), "refused": len(self.refused),
                "rows": [row_dict(r) for r in self.results.values()]}


def _decode_acs_id(device_id: str) -> tuple[str, str, str] | None:
    """``(oui, product class, serial)`` of a GenieACS-escaped ``_id`` that has an escape in it
    (``%XX``), else None (a plain id is its own parts). Uses GenieACS's own escaping rules
    (``core.kernel.ids``), and only when re-escaping the parts gives the id back, so a
    serial that merely contains ``%`` is never misread."""
    if "%" not in device_id:
        return None
    from core.kernel.ids import escaped_device_id, is_escaped_id, split_escaped_id

    if not is_escaped_id(device_id):
        return None
    try:
        oui, pc, serial = split_escaped_id(device_id)
    except ValueError:
        return None
    if not pc or escaped_device_id(oui, pc, serial) != device_id:
        return None
    return oui, pc, serial


def validation_message(exc: ValidationError) -> str:
    """One line per problem, ``field: reason`` (pydantic's own text, without its URL noise)."""
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "__root__")
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def require_admin(actor: Actor) -> None:
    if ADMIN_ROLE not in actor.roles:
        raise Forbidden(f"{actor.id} is not an admin; only an admin may change the inventory")


class Inventory:
    """Registration and retirement over a :class:`core.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------ add
    def add(self, spec: DeviceSpec, actor: Actor, *, source: str = "manual", known: CaseKeys | None = None) -> Device:
        """Register one device (one transaction: the row and its ``device.registered`` event).
        ``known``: the registered ids and units, case-folded (an import reads them once)."""
        require_admin(actor)
        device = spec.to_device()
        try:
            with self.store.write() as s:
                register(s, device, actor.id, source, known=known)
        except IntegrityError:
            # Two registrations of the same id raced; the loser's transaction is rolled back whole.
            raise Conflict(f"device {device.id!r} is already registered") from None
        with self.store.read() as s:
            return repo.get_device(s, device.id)

    # ------------------------------------------------------------------ import
    def import_rows(self, rows: Sequence[tuple[int, Any]], actor: Actor, *, source: str = "import") -> ImportReport:
        """Register each ``(row number, fields)`` in its own transaction; a bad row is reported and
        skipped. Row numbers are what the operator sees (the CSV line, the JSON list position), so
        every error points at the line to fix. Too many rows refuse the whole import up front."""
        require_admin(actor)
        if len(rows) > MAX_IMPORT_ROWS:
            raise Invalid(f"an import takes at most {MAX_IMPORT_ROWS} rows, this one has {len(rows)}; split it")
        if not rows:
            raise Invalid("the import has no rows")
        known = CaseKeys.read(self.store)
        report = ImportReport.of([self._import_one(n, raw, actor, source, known) for n, raw in rows])
        with self.store.write() as s:
            audit.append(s, actor=actor.id, action="devices.imported", data={
                "source": source, "registered": len(report.registered), "unchanged": len(report.unchanged),
                "refused": len(report.refused),
                "errors": [row_dict(r) for r in list(report.refused.values())[:50]]})
        return report

    def _import_one(self, n: int, raw: Any, actor: Actor, source: str, known: CaseKeys) -> RowResult:
        if isinstance(raw, TooDeep):
            return row_result(n, None, f"the row is nested {raw.depth} levels deep; a device row has at most "
                                      f"{MAX_JSON_DEPTH - 1} (a list of tags is 2)")
        if not isinstance(raw, dict):
            return row_result(n, None, f"expected an object with the device's fields, got {type(raw).__name__}")
        hint = str(raw.get("id") or raw.get("endpoint_id") or "")[:128] or None
        if EXTRA_CELLS in raw:
            return row_result(n, hint, "the row has more cells than the header has columns")
        try:
            spec = DeviceSpec.model_validate(raw)
        except ValidationError as exc:
            return row_result(n, hint, validation_message(exc))
        try:
            device = self.add(spec, actor, source=source, known=known)
        except (Conflict, Invalid) as exc:
            if isinstance(exc, Conflict) and self._registered_as(spec):
                return row_result(n, spec.id, None, unchanged=True)  # importing the same file again
            return row_result(n, spec.id, exc.message)
        return row_result(n, device.id)

    def _registered_as(self, spec: DeviceSpec) -> bool:
        """Whether ``spec``'s device is registered, active, with exactly these fields — so a file
        imported twice changes nothing and reports no error; a row that differs stays refused."""
        want = repo.device_to_row(spec.to_device())
        with self.store.read() as s:
            row = s.get(DeviceRow, want.id)
            if row is None or row.status != repo.ACTIVE:
                return False
            return all(getattr(row, c) == getattr(want, c) for c in _IDENTITY_COLUMNS)

    # ------------------------------------------------------------------ retire
    def retire(self, device_id: str, actor: Actor, reason: str) -> Device:
        """Take a device out of management, keeping its row and history."""
        require_admin(actor)
        reason = reason.strip()
        if not reason:
            raise Invalid("retiring a device needs a reason (--reason TEXT)")
        with self.store.write() as s:
            row = s.get(DeviceRow, device_id)
            if row is None:
                raise NotFound(f"unknown device {device_id!r}; list devices with `gateward devices`")
            if row.status == repo.RETIRED:
                raise Conflict(f"device {device_id!r} is already retired (since {row.retired_at})")
            live = live_proposal_ids(s, device_id)
            if live:
                raise Conflict(f"device {device_id!r} is targeted by live proposal(s) {', '.join(live[:5])}; "
                               "finish, reject or cancel them first")
            if s.get(DeviceLockRow, device_id) is not None:
                raise Conflict(f"device {device_id!r} is locked by a change in progress; retry when it ends")
            row.status, row.retired_at = repo.RETIRED, utcnow()
            s.flush()
            audit.append(s, actor=actor.id, action="device.retired", device=repo.device_from_row(row),
                         data={"reason": reason[:500]})
        with self.store.read() as s:
            return repo.get_device(s, device_id)


class CaseKeys:
    """Registered ids and units (OUI + serial), case-folded: the case-blind duplicate check of an
    import, read once instead of scanned per row (no index serves a case-blind lookup)."""

    def __init__(self, ids: dict[str, str], units: dict[tuple[str, str], tuple[str, str]]) -> None:
        self.ids, self.units = ids, units

    @classmethod
    def read(cls, store: Store) -> CaseKeys:
        with store.read() as s:
            rows = s.execute(select(DeviceRow.id, DeviceRow.oui, DeviceRow.serial)).all()
        return cls({i.casefold(): i for i, _, _ in rows},
                   {((o or "").upper(), sn.casefold()): (i, sn) for i, o, sn in rows if sn})

    def add(self, device: Device) -> None:
        self.ids.setdefault(device.id.casefold(), device.id)
        if device.serial:
            self.units.setdefault((device.oui.upper(), device.serial.casefold()), (device.id, device.serial))


def register(s: Session, device: Device, actor_id: str, source: str, *, known: CaseKeys | None = None,
             **extra: Any) -> None:
    """Insert ``device`` and its ``device.registered`` event in the caller's transaction, after the
    one-unit-one-registration check (the caller has checked roles)."""
    refuse_duplicate(s, device, known)
    if known is not None:
        known.add(device)
    s.add(repo.device_to_row(device))
    s.flush()
    audit.append(s, actor=actor_id, action="device.registered", device=device, data={
        "source": source, "adapter": device.adapter, "protocol": str(device.protocol), "root": str(device.root),
        "oui": device.oui, "product_class": device.product_class, "serial": device.serial, "vendor": device.vendor,
        "model": device.model, "firmware": device.firmware, **extra})


def refuse_duplicate(s: Session, device: Device, known: CaseKeys | None = None) -> None:
    """Conflict if ``device.id`` is registered, or the same unit (OUI + serial) under any id/adapter —
    exactly or in another letter case (``known``: the registered keys an import read once; else asked)."""
    row = s.get(DeviceRow, device.id)
    if row is not None:
        state = " (retired)" if row.status == repo.RETIRED else ""
        raise Conflict(f"device {device.id!r} is already registered{state} on adapter {row.adapter!r}")
    if known is not None:
        same = known.ids.get(device.id.casefold())
    else:
        same = s.scalar(select(DeviceRow.id).where(func.lower(DeviceRow.id) == device.id.lower()).limit(1))
    if same is not None:
        raise Conflict(f"{device.id!r} is device {same!r} in another letter case: one device is registered once — "
                       f"use {same!r} (or retire it first if this is really another unit)")
    if not device.serial:
        return
    if known is not None:
        unit = known.units.get((device.oui.upper(), device.serial.casefold()))
    else:
        found = s.execute(select(DeviceRow.id, DeviceRow.serial).where(
            DeviceRow.oui == device.oui, func.lower(DeviceRow.serial) == device.serial.lower()).limit(1)).first()
        unit = None if found is None else (found[0], found[1])
    if unit is None:
        return
    other_id, other_serial = unit
    adapter = s.scalar(select(DeviceRow.adapter).where(DeviceRow.id == other_id))
    if other_serial == device.serial:
        raise Conflict(f"{device.id!r} is the same unit (OUI {device.oui}, serial {device.serial}) as "
                       f"device {other_id!r} already registered on adapter {adapter!r}; one unit is registered once")
    raise Conflict(f"{device.id!r} is the same unit as device {other_id!r} (OUI {device.oui}, serial {other_serial!r}: "
                   f"the same serial in another letter case) on adapter {adapter!r}; one unit is registered once")


def live_proposal_ids(s: Session, device_id: str) -> list[str]:
    terminal = [str(t) for t in TERMINAL_STATES]
    return list(s.scalars(select(ProposalRow.id)
                          .join(ProposalDeviceRow, ProposalDeviceRow.proposal_id == ProposalRow.id)
                          .where(ProposalDeviceRow.device_id == device_id, ProposalRow.state.not_in(terminal))
                          .order_by(ProposalRow.id)))


# ---------------------------------------------------------------------------- CSV
CSV_COLUMNS = tuple(DeviceSpec.model_fields)
EXTRA_CELLS = "__extra_cells__"


def parse_csv(text: str) -> list[tuple[int, JsonObject]]:
    """``(line number, fields)`` per data row of a CSV whose header line names :class:`DeviceSpec`
    fields. Empty cells take the default; ``tags`` are separated by ``;``. An unknown column
    refuses the whole file before any row is registered (a file problem, not a row problem)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), restkey=EXTRA_CELLS)
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not any(header):
        raise Invalid(f"the CSV has no header line; expected columns from: {', '.join(CSV_COLUMNS)}")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise Invalid(f"unknown CSV column(s) {', '.join(repr(u) for u in unknown)}; "
                      f"known: {', '.join(CSV_COLUMNS)}")
    reader.fieldnames = header
    rows: list[tuple[int, JsonObject]] = []
    for raw in reader:
        row: JsonObject = {}
        for key, value in raw.items():
            if key == EXTRA_CELLS:
                row[key] = value
            elif isinstance(value, str) and value.strip():
                row[key] = [t for t in re.split(r"[;\s]+", value.strip()) if t] if key == "tags" else value
        rows.append((reader.line_num, row))
    return rows


def number_items(items: Sequence[Any]) -> list[tuple[int, Any]]:
    """A JSON list as import rows, numbered from 1."""
    return list(enumerate(items, start=1))


# ---------------------------------------------------------------------------- JSON
# A device row is at most three levels deep (the list, the row, its tags); a file may nest a little
# more than that and still be read, but never as deep as Python's parser recurses (~1,000 levels,
# then ``RecursionError``).
MAX_JSON_DEPTH = 16
# Strings (with their escapes) as one token, so brackets inside a string are never counted.
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


@dataclass(frozen=True)
class TooDeep:
    """A JSON import row nested deeper than :data:`MAX_JSON_DEPTH`: refused by its number."""

    depth: int


def parse_json_rows(text: str) -> list[tuple[int, Any]]:
    """``(position, item)`` per item of a JSON list of devices, numbered from 1, with nesting
    bounded: an item nested deeper than :data:`MAX_JSON_DEPTH` comes back as :class:`TooDeep`
    (the import refuses that row and registers the others); a file nested that deep outside its
    items, not a list, or not JSON is one :class:`Invalid` naming the problem.

    Why scan first: ``json.loads`` recurses once per level and a hostile file of ``[[[[…`` raised
    ``RecursionError`` out of the import. The scan is one regular-expression pass (strings are
    single tokens), so an ordinary file still costs one ``json.loads``."""
    import json

    depth = deepest = 0
    bounds: list[int] = []  # the top-level list's '[', each of its commas, its ']'
    levels: list[int] = []  # the deepest level inside each item (the item itself is level 1)
    for m in _JSON_TOKENS.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if depth == 1:
                bounds.append(m.end())
                levels.append(0)
            elif levels:
                levels[-1] = max(levels[-1], depth - 1)
        elif tok in "]}":
            depth -= 1
            if depth == 0:
                bounds.append(m.start())
                if text[m.end():].strip():
                    raise Invalid("the file is not JSON: extra data after the list of devices")
                break
        elif tok == "," and depth == 1:
            bounds.append(m.start() + 1)
            levels.append(0)
    if deepest <= MAX_JSON_DEPTH:
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise Invalid(f"the file is not JSON: {exc}") from None
        if not isinstance(items, list):
            raise Invalid("the file must hold a JSON list of devices")
        return number_items(items)
    if not text.lstrip().startswith("[") or len(bounds) < 2:
        raise Invalid(f"the file is nested deeper than {MAX_JSON_DEPTH} levels and is not a JSON list of devices")
    rows: list[tuple[int, Any]] = []
    for n, (a, b, level) in enumerate(zip(bounds, bounds[1:], levels, strict=False), start=1):
        if level >= MAX_JSON_DEPTH:
            rows.append((n, TooDeep(level)))
            continue
        try:
            rows.append((n, json.loads(text[a:b].rstrip(",").strip(" \t\r\n,"))))
        except ValueError as exc:
            raise Invalid(f"the file is not JSON (item {n}): {exc}") from None
    return rows
