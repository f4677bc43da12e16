"""Broker onboarding: USP agents that make first contact and are not in
the fleet.

Why it is gated: a device in the fleet can be targeted by campaigns and remediation, so an agent
that merely reaches the broker must not become one by itself. Policy data decides
(``policies/data/onboarding.json``, loaded with the policy pack, or the operator's own file named by
``GATEWARD_ONBOARDING_FILE``: :meth:`AllowList.configured`): an agent whose endpoint ID or OUI
is on the allow list is registered the moment its OnBoardRequest or Boot! is ingested (and so gets
its baseline profile through the existing zero-touch path, in the same ingest round); any other
agent is recorded once as *pending onboarding* (one row per endpoint ID, ``attempts`` counting its
reconnects) until an admin accepts or rejects it. An agent whose endpoint ID is bound to a device
but whose OnBoardRequest claims another identity (OUI, product class or serial) is refused: its
events are not stored against that device, nothing is triggered, and it is reported (audit
``onboarding.refused``, once per endpoint, and a ``conflict`` row). So is an agent that names a unit
already registered through the ACS (a CWMP device with the same OUI + serial): one unit is
registered once, never twice silently and never shadowed silently.

Hooked into ``brain.remediation.ingest.Ingestor.ingest`` through :func:`screen_first_contacts`;
the admin side is :class:`Onboarding` (``gateward devices pending|accept|reject``, ``/api/onboarding``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit
from core.inventory import ENDPOINT_ID_RE, DeviceSpec, register, require_admin, validation_message
from core.kernel.config import Settings
from core.kernel.errors import Conflict, Invalid, NotFound
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Actor, Device, utcnow
from core.store import Store, repo
from core.store.schema import DeviceRow, OnboardingRow

log = logging.getLogger("gateward.onboarding")

SYSTEM_ACTOR = "onboarding"  # who the audit trail names for an allow-list onboarding
# ``connect``: an agent's MQTT connect Record. The OB-USP-Agent sends no OnBoardRequest unless told to and no
# Boot! without a subscription, so on a factory-fresh agent the connect Record is the only first contact.
FIRST_CONTACT_KINDS = frozenset({"onboard", "boot", "bootstrap", "connect"})
PENDING, ACCEPTED, REJECTED, CONFLICT = "pending", "accepted", "rejected", "conflict"
UNKNOWN = "unknown"
_NOT_TOKEN = re.compile(r"[\s\x00-\x1f\x7f]")  # what an agent's product class may not hold to name its device


class _AllowIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    endpoint_ids: list[str] = Field(default_factory=list)
    ouis: list[str] = Field(default_factory=list)


class _OnboardingData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    allow: _AllowIn = Field(default_factory=_AllowIn)
    defaults: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class AllowList:
    """Endpoint IDs and OUIs onboarded without an admin, and the region/service they get."""

    endpoint_ids: frozenset[str] = frozenset()
    ouis: frozenset[str] = frozenset()
    region: str = "EU"
    service: str = "standard"

    @classmethod
    def from_policy_data(cls, data: Mapping[str, Json] | None) -> AllowList:
        """From the policy pack's ``onboarding`` document. A malformed one allows nothing (fail
        closed: every agent then waits for an admin) and says so in the log."""
        return cls._from_document((data or {}).get("onboarding") or {}, "policies/data/onboarding.json")

    @classmethod
    def from_file(cls, path: Path) -> AllowList:
        """From an operator's own allow-list file (``GATEWARD_ONBOARDING_FILE``), so the list can be
        changed without editing the repository's policy data. Same schema as
        ``policies/data/onboarding.json``; a file that cannot be read, is not JSON or does not fit the
        schema allows nothing (fail closed, logged). Re-read when the file changes (mtime or size),
        so an edit takes effect at the next ingest round without a restart."""
        try:
            st = path.stat()
            key = (str(path), st.st_mtime_ns, st.st_size)
            cached = _FILE_CACHE.get(str(path))
            if cached is not None and cached[0] == key:
                return cached[1]
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.error("onboarding allow list %s cannot be read, nothing is allow-listed: %s", path, exc)
            return cls()
        allow = cls._from_document(doc, str(path))
        _FILE_CACHE[str(path)] = (key, allow)
        return allow

    @classmethod
    def configured(cls, policy_data: Mapping[str, Json] | None, settings: Settings | None = None) -> AllowList:
        """The allow list in force: the file ``settings.onboarding_file`` names when set, else the
        policy pack's. Every caller (ingest, CLI, API) asks here, so they agree."""
        path = settings.onboarding_file if settings is not None else None
        return cls.from_file(Path(path)) if path else cls.from_policy_data(policy_data)

    @classmethod
    def _from_document(cls, raw: Any, where: str) -> AllowList:
        try:
            doc = _OnboardingData.model_validate(raw)
        except ValidationError as exc:
            log.error("%s is malformed, nothing is allow-listed: %s", where, exc)
            return cls()
        return cls(endpoint_ids=frozenset(doc.allow.endpoint_ids), ouis=frozenset(o.upper() for o in doc.allow.ouis),
                   region=doc.defaults.get("region", "EU"), service=doc.defaults.get("service", "standard"))

    def why(self, endpoint_id: str, oui: str) -> str | None:
        if endpoint_id in self.endpoint_ids:
            return f"endpoint ID {endpoint_id} is on the onboarding allow list"
        if oui and oui.upper() in self.ouis:
            return f"OUI {oui.upper()} is on the onboarding allow list"
        return None


#: path → ((path, mtime_ns, size), the allow list read from it): ingest asks every round
_FILE_CACHE: dict[str, tuple[tuple[str, int, int], AllowList]] = {}


class SignalLike(Protocol):
    """What this module reads of an ingest signal (``brain.remediation.ingest.Signal``, a frozen
    dataclass: core does not import brain)."""

    @property
    def kind(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def device_id(self) -> str | None: ...
    @property
    def identity(self) -> dict[str, str]: ...
    @property
    def data(self) -> JsonObject: ...


S = TypeVar("S", bound=SignalLike)


@dataclass(frozen=True)
class Claim:
    """What an agent says it is: its endpoint ID, and the OnBoardRequest's OUI/product class/serial
    (for a Boot!, what the ``os::`` endpoint ID says)."""

    endpoint_id: str
    oui: str
    product_class: str
    serial: str

    @classmethod
    def of(cls, sig: SignalLike) -> Claim | None:
        endpoint = str(sig.identity.get("endpoint_id") or sig.data.get("endpoint_id") or "")
        if not endpoint:
            return None
        m = ENDPOINT_ID_RE.match(endpoint)
        oui = str(sig.identity.get("oui") or (m.group(1) if m else "")).upper()
        serial = str(sig.identity.get("serial") or (m.group(2) if m else ""))
        return cls(endpoint, oui, str(sig.identity.get("product_class") or ""), serial)

    def bound_key(self) -> tuple[str, str] | None:
        """The (OUI, serial) the endpoint ID itself names: the device it is bound to."""
        m = ENDPOINT_ID_RE.match(self.endpoint_id)
        return (m.group(1).upper(), m.group(2)) if m else None

    def as_dict(self) -> dict[str, str]:
        return {"endpoint_id": self.endpoint_id, "oui": self.oui, "product_class": self.product_class,
                "serial": self.serial}


def mismatch(claim: Claim, dev: DeviceRow) -> list[str]:
    """The identity fields an agent claims differently from the device its endpoint is bound to."""
    out = []
    if claim.oui and claim.oui != (dev.oui or "").upper():
        out.append(f"OUI {claim.oui} (device: {dev.oui})")
    if claim.serial and claim.serial != dev.serial:
        out.append(f"serial {claim.serial} (device: {dev.serial})")
    if claim.product_class and dev.product_class and claim.product_class != dev.product_class:
        out.append(f"product class {claim.product_class} (device: {dev.product_class})")
    return out


# ============================================================================ ingest side
def screen_first_contacts(store: Store, signals: list[S], allow: AllowList) -> list[S]:
    """Decide every USP first contact (OnBoardRequest, Boot!) from an agent the fleet does not
    know yet; return the signals ingestion should go on with.

    Known and consistent → unchanged. Bound to a device but claiming another identity → dropped,
    reported. Unknown and allow-listed → registered now; the signal comes back with its device id
    (so its zero-touch trigger fires). Unknown otherwise → recorded pending (the signal goes on
    unknown, as before). Rejected before → dropped. Each decision commits on its own, so a race
    with another process (both heard the same notification) settles on the unique keys.

    A connect wave (many first contacts in one round: a firmware push, a head-end restart) takes
    the batched path for the plain case — allow-listed, never seen, nothing bound, valid identity:
    :data:`BATCH` agents per transaction, the same rows and audit events as one by one. A batch
    that loses a race is rolled back whole and its agents are decided one by one."""
    picks = [(i, sig, claim) for i, sig in enumerate(signals)
             if sig.source == "usp" and sig.kind in FIRST_CONTACT_KINDS and sig.device_id is None
             and (claim := Claim.of(sig)) is not None]
    if not picks:
        return signals
    bound = _bound_devices(store, [c for _, _, c in picks])
    drop: set[int] = set()
    out = list(signals)
    batched = _onboard_batches(store, picks, bound, allow) if len(picks) >= BATCH_MIN else {}
    registered: set[str] = set(batched.values())  # devices registered in this round (a connect gets their ZTP)
    # A flapping agent's later contact in the same round (its Boot! after its OnBoardRequest) goes
    # on as the device just registered, as the one-by-one path would decide — without a
    # transaction each.
    just: dict[str, tuple[Claim, str]] = {c.endpoint_id: (c, batched[i]) for i, _, c in picks if i in batched}
    for i, sig, claim in picks:
        again = just.get(claim.endpoint_id)
        if i not in batched and again is not None and _same_unit(claim, again[0]):
            batched[i] = again[1]
        if i in batched:
            out[i] = _go_on_as(sig, batched[i], registered)
            continue
        try:
            verdict = _decide(store, sig, claim, bound.get(claim.bound_key() or ("", "")), allow, registered)
        except (IntegrityError, Conflict):  # another process decided the same agent at the same moment
            verdict = _resolved_elsewhere(store, claim)
        if verdict is None:
            drop.add(i)
        elif verdict != "":
            out[i] = _go_on_as(sig, verdict, registered)
    return [s for i, s in enumerate(out) if i not in drop]


def _go_on_as(sig: S, device_id: str, registered: set[str]) -> S:
    """The signal as the device it belongs to. A connect Record that just got its agent registered
    opens zero-touch provisioning (``onboard``), as an OnBoardRequest would: allow-listed agents get
    their baseline even when, like the OB-USP-Agent, they send neither OnBoardRequest nor Boot!."""
    if sig.kind == "connect" and device_id in registered:
        return dataclasses.replace(sig, device_id=device_id, ztp="onboard")  # type: ignore[type-var]
    return dataclasses.replace(sig, device_id=device_id)  # type: ignore[type-var]


BATCH = 500  # allow-listed first contacts registered per transaction in a connect wave
BATCH_MIN = 20  # fewer first contacts in one round go one by one


def _onboard_batches(store: Store, picks: Sequence[tuple[int, SignalLike, Claim]],
                     bound: dict[tuple[str, str], DeviceRow], allow: AllowList) -> dict[int, str]:
    """Register the plain allow-listed first contacts in batches; ``{signal index: device id}``
    for those registered. Anything else (seen before, bound, invalid, a duplicate unit, a lost
    race) is left to the one-by-one path, which decides and reports it."""
    plain: list[tuple[int, SignalLike, Claim, Device, str]] = []
    seen: set[str] = set()
    for i, sig, claim in picks:
        reason = allow.why(claim.endpoint_id, claim.oui)
        if reason is None or claim.endpoint_id in seen or bound.get(claim.bound_key() or ("", "")) is not None:
            continue
        device = _device_for(claim, allow, {})
        if isinstance(device, Device):
            seen.add(claim.endpoint_id)
            plain.append((i, sig, claim, device, reason))
    done: dict[int, str] = {}
    for start in range(0, len(plain), BATCH):
        chunk = plain[start:start + BATCH]
        try:
            done.update(_onboard_chunk(store, chunk))
        except (IntegrityError, Conflict):  # raced another process: those agents go one by one
            log.info("onboarding batch of %d raced another process; deciding them one by one", len(chunk))
    return done


def _onboard_chunk(store: Store, chunk: list[tuple[int, SignalLike, Claim, Device, str]]) -> dict[int, str]:
    now = utcnow()
    with store.write() as s:
        endpoints = [c.endpoint_id for _, _, c, _, _ in chunk]
        known = set(s.scalars(select(OnboardingRow.endpoint_id).where(OnboardingRow.endpoint_id.in_(endpoints))))
        ids = [d.id for _, _, _, d, _ in chunk]
        taken = set(s.scalars(select(DeviceRow.id).where(DeviceRow.id.in_(ids))))
        serials = sorted({d.serial for _, _, _, d, _ in chunk})
        units = {((o or "").upper(), sn) for o, sn in s.execute(units_by_serial(serials))}
        fresh = [x for x in chunk if x[2].endpoint_id not in known and x[3].id not in taken
                 and (x[3].oui.upper(), x[3].serial) not in units]
        events: list[audit.EventArgs] = []
        for _, sig, claim, device, reason in fresh:
            s.add(repo.device_to_row(device))
            s.add(OnboardingRow(endpoint_id=claim.endpoint_id, oui=claim.oui[:6],
                                product_class=claim.product_class[:64], serial=claim.serial[:64], status=ACCEPTED,
                                attempts=1, first_seen=now, last_seen=now, data=_contact_data(sig),
                                device_id=device.id, decided_by=SYSTEM_ACTOR, decided_at=now, reason=reason))
            events.append({"actor": SYSTEM_ACTOR, "action": "device.registered", "device": device,
                           "data": _registered_data(device, "onboarding", endpoint_id=claim.endpoint_id,
                                                    reason=reason)})
            events.append({"actor": SYSTEM_ACTOR, "action": "onboarding.accepted", "device": device,
                           "data": {**claim.as_dict(), "reason": reason, "automatic": True}})
        s.flush()
        audit.append_many(s, events)
    return {i: device.id for i, _, _, device, _ in fresh}


def units_by_serial(serials: Sequence[str]) -> Any:
    """``(oui, serial)`` of the devices with these serials. By serial alone, because an ``os::``
    endpoint may spell the OUI in another case than the row: ``ix_devices_serial`` (migration 0016)
    answers it; the ``(oui, serial)`` index cannot without the OUI, and the table was scanned once
    per batch (``tests/inventory/test_onboarding.py`` checks the plan)."""
    return select(DeviceRow.oui, DeviceRow.serial).where(DeviceRow.serial.in_(list(serials)))


def _same_unit(claim: Claim, registered: Claim) -> bool:
    """Whether a later contact claims nothing different from the one that registered the device."""
    return ((not claim.oui or claim.oui == registered.oui) and (not claim.serial or claim.serial == registered.serial)
            and (not claim.product_class or not registered.product_class
                 or claim.product_class == registered.product_class))


def _contact_data(sig: SignalLike) -> JsonObject:
    return {"last_kind": sig.kind, **{k: v for k, v in sig.data.items()
                                      if k in ("agent_supported_protocol_versions", "Cause", "msg_id", "mtp", "peer")}}


def _registered_data(device: Device, source: str, **extra: Any) -> JsonObject:
    """The ``device.registered`` event's data, as ``core.inventory.register`` writes it."""
    return {"source": source, "adapter": device.adapter, "protocol": str(device.protocol), "root": str(device.root),
            "oui": device.oui, "product_class": device.product_class, "serial": device.serial,
            "vendor": device.vendor, "model": device.model, "firmware": device.firmware, **extra}


def _bound_devices(store: Store, claims: Sequence[Claim]) -> dict[tuple[str, str], DeviceRow]:
    keys = {k for c in claims if (k := c.bound_key()) is not None}
    if not keys:
        return {}
    out: dict[tuple[str, str], DeviceRow] = {}
    serials = sorted({serial for _, serial in keys})
    with store.read() as s:
        for start in range(0, len(serials), 900):
            for row in s.scalars(select(DeviceRow).where(DeviceRow.serial.in_(serials[start:start + 900]))):
                key = ((row.oui or "").upper(), row.serial)
                if key in keys:
                    s.expunge(row)
                    out[key] = row
    return out


def _decide(store: Store, sig: SignalLike, claim: Claim, dev: DeviceRow | None, allow: AllowList,
            registered: set[str] | None = None) -> str | None:
    """``""`` = go on unchanged, a device id = go on as that device, ``None`` = drop the signal.
    A device registered here is added to ``registered``."""
    now = utcnow()
    if dev is not None and dev.protocol != "usp":
        # Its endpoint names a unit registered through the ACS: one unit is registered once, so
        # the agent is refused and reported rather than silently shadowing (or doubling) it.
        with store.write() as s:
            _refuse_other_adapter(s, sig, claim, dev.id, dev.adapter, now)
        return None
    if dev is not None:
        wrong = mismatch(claim, dev)
        if not wrong:
            return ""
        with store.write() as s:
            first = _touch(s, claim, CONFLICT, now, sig, reason=f"bound to device {dev.id}")
            if first:
                audit.append(s, actor=SYSTEM_ACTOR, action="onboarding.refused", device_id=dev.id, data={
                    **claim.as_dict(), "kind": sig.kind, "bound_device": dev.id, "claimed_differently": wrong,
                    "reason": f"endpoint ID {claim.endpoint_id} is bound to device {dev.id}"})
        log.warning("refused agent %s: it claims %s but its endpoint ID is bound to device %s",
                    claim.endpoint_id, ", ".join(wrong), dev.id)
        return None
    with store.write() as s:
        row = s.get(OnboardingRow, claim.endpoint_id)
        if row is not None and (row.status == REJECTED or (row.status == CONFLICT and row.device_id is None)):
            # Rejected, or refused as a unit registered through the ACS: a reconnect is not news
            # (a contact that names nothing must not turn the conflict back into a pending request).
            _touch(s, claim, row.status, now, sig)
            return None
        if row is not None and row.status == ACCEPTED and row.device_id and s.get(DeviceRow, row.device_id):
            return row.device_id
        owner = _cwmp_owner(s, None, claim.oui, claim.serial)
        if owner is not None:  # its OnBoardRequest names a unit registered through the ACS
            _refuse_other_adapter(s, sig, claim, owner.id, owner.adapter, now)
            return None
        reason = allow.why(claim.endpoint_id, claim.oui)
        if reason is not None:
            device = _device_for(claim, allow, {})
            if isinstance(device, Device):
                owner = _cwmp_owner(s, device.id, device.oui, device.serial)
                if owner is not None:
                    _refuse_other_adapter(s, sig, claim, owner.id, owner.adapter, now)
                    return None
                register(s, device, SYSTEM_ACTOR, "onboarding", endpoint_id=claim.endpoint_id, reason=reason)
                _touch(s, claim, ACCEPTED, now, sig, reason=reason, device_id=device.id, decided_by=SYSTEM_ACTOR)
                audit.append(s, actor=SYSTEM_ACTOR, action="onboarding.accepted", device=device,
                             data={**claim.as_dict(), "reason": reason, "automatic": True})
                if registered is not None:
                    registered.add(device.id)
                return device.id
            reason = f"on the allow list but cannot be registered: {device}"
        if _touch(s, claim, PENDING, now, sig, reason=reason):
            audit.append(s, actor=SYSTEM_ACTOR, action="onboarding.pending",
                         data={**claim.as_dict(), "kind": sig.kind, **({"reason": reason} if reason else {})})
    return ""


def _cwmp_owner(s: Session, device_id: str | None, oui: str, serial: str) -> DeviceRow | None:
    """The CWMP device already registered as the same unit (same id, or same OUI + serial), if any.
    A USP one is not returned: that is the same agent decided by another process (a race)."""
    row: DeviceRow | None = s.get(DeviceRow, device_id) if device_id else None
    if row is None and oui and serial:
        for cand in s.scalars(select(DeviceRow).where(DeviceRow.serial == serial)):  # ix_devices_serial
            if (cand.oui or "").upper() == oui.upper():
                row = cand
                break
    return row if row is not None and row.protocol != "usp" else None


def _refuse_other_adapter(s: Session, sig: SignalLike, claim: Claim, owner_id: str, owner_adapter: str,
                          now: datetime) -> None:
    """Record the agent as a ``conflict`` and report it (once: a reconnecting agent is not news)."""
    reason = (f"the same unit (OUI {claim.oui}, serial {claim.serial}) is registered as {owner_id!r} on adapter "
              f"{owner_adapter!r}; one unit is registered once (retire it there first)")
    if _touch(s, claim, CONFLICT, now, sig, reason=reason):
        audit.append(s, actor=SYSTEM_ACTOR, action="onboarding.refused", device_id=owner_id, data={
            **claim.as_dict(), "kind": sig.kind, "registered_as": owner_id, "registered_adapter": owner_adapter,
            "reason": reason})
        log.warning("refused agent %s: %s", claim.endpoint_id, reason)


def _resolved_elsewhere(store: Store, claim: Claim) -> str | None:
    with store.read() as s:
        row = s.get(OnboardingRow, claim.endpoint_id)
        if row is None or row.status == PENDING:
            return ""
        if row.status == ACCEPTED and row.device_id:
            return row.device_id
    return None


def pending_limits(env: dict[str, str] | None = None) -> tuple[int, timedelta]:
    """``GATEWARD_ONBOARDING_PENDING_MAX`` (10000) pending rows at most, and
    ``GATEWARD_ONBOARDING_PENDING_TTL_S`` (7 days): a pending agent not heard from for that long is
    forgotten. Why bounded: a pending row is written for anyone whose USP Record reaches the
    controller, so without a bound a peer cycling endpoint IDs grows the table without end."""
    e = os.environ if env is None else env
    try:
        most = int(e.get("GATEWARD_ONBOARDING_PENDING_MAX") or 10000)
        ttl = float(e.get("GATEWARD_ONBOARDING_PENDING_TTL_S") or 7 * 86400)
    except ValueError:
        raise ValueError("GATEWARD_ONBOARDING_PENDING_MAX and _TTL_S must be numbers") from None
    if most < 1 or ttl <= 0:
        raise ValueError("GATEWARD_ONBOARDING_PENDING_MAX must be at least 1 and _TTL_S positive")
    return most, timedelta(seconds=ttl)


_full_warned = [0.0]  # when the "pending list full" warning was last logged (a flood logs once a minute)


def _room_for_pending(s: Session, now: datetime) -> bool:
    """Expire stale pending rows, then say whether one more fits under the bound."""
    most, ttl = pending_limits()
    s.execute(delete(OnboardingRow).where(OnboardingRow.status == PENDING, OnboardingRow.last_seen < now - ttl))
    count = s.scalar(select(func.count()).select_from(OnboardingRow).where(OnboardingRow.status == PENDING)) or 0
    if count < most:
        return True
    if now.timestamp() - _full_warned[0] > 60:
        _full_warned[0] = now.timestamp()
        log.warning("onboarding: %d agents are pending (GATEWARD_ONBOARDING_PENDING_MAX): new ones are not recorded "
                    "until an admin decides or they expire", count)
    return False


def _touch(s: Session, claim: Claim, status: str, now: datetime, sig: SignalLike, *, reason: str | None = None,
           device_id: str | None = None, decided_by: str | None = None) -> bool:
    """Create or update the endpoint's row; True when this is news (a new row or a new status),
    so the audit trail gets one event per decision, not one per reconnect of a flapping agent. A new
    pending row is written only while the pending list has room (:func:`pending_limits`)."""
    row = s.get(OnboardingRow, claim.endpoint_id)
    data = _contact_data(sig)
    if row is None and status == PENDING and not _room_for_pending(s, now):
        return False
    if row is None:
        s.add(OnboardingRow(endpoint_id=claim.endpoint_id, oui=claim.oui[:6], product_class=claim.product_class[:64],
                            serial=claim.serial[:64], status=status, attempts=1, first_seen=now, last_seen=now,
                            data=data, device_id=device_id, decided_by=decided_by,
                            decided_at=now if decided_by else None, reason=reason))
        s.flush()
        return True
    news = row.status != status
    row.attempts, row.last_seen, row.data = row.attempts + 1, now, data
    # A connect Record or Boot! names no product class; the OnBoardRequest that may follow does.
    # Fill what the row lacks (never overwrite: a claim that changes is the conflict path's business).
    row.oui = row.oui or claim.oui[:6]
    row.product_class = row.product_class or claim.product_class[:64]
    row.serial = row.serial or claim.serial[:64]
    if news:
        row.status, row.reason = status, reason
        row.device_id, row.decided_by, row.decided_at = device_id, decided_by, now if decided_by else None
    return news


def _device_for(claim: Claim, allow: AllowList, fields: Mapping[str, Json]) -> Device | str:
    """The device record an onboarded agent gets: identity from its claim; vendor, model and
    firmware from the admin (accept) or ``unknown`` until its first discovery learns them from the
    agent's own DeviceInfo (``core.capabilities.learn_identity``, audited ``device.updated``). Until
    then the device shares no capability class with anyone (``core.capabilities.class_key``)."""
    raw: JsonObject = {"endpoint_id": claim.endpoint_id, "adapter": "usp", "root": "Device.",
                           "vendor": UNKNOWN, "model": claim.product_class or UNKNOWN, "firmware": UNKNOWN,
                           "region": allow.region, "service": allow.service}
    if claim.product_class and not _NOT_TOKEN.search(claim.product_class):
        raw["product_class"] = claim.product_class
    # else: a product class with a space (the OB-USP-Agent's default "USP Agent" is no real product
    # class) stays the model; the device is then known by its endpoint ID, OUI and serial, which the
    # USP adapter matches (``core.inventory`` accepts such product classes for CWMP devices).
    if claim.bound_key() is not None and claim.serial and claim.bound_key() != (claim.oui, claim.serial):
        return (f"its OnBoardRequest (OUI {claim.oui}, serial {claim.serial}) does not match its endpoint ID "
                f"{claim.endpoint_id}")
    raw.update({k: v for k, v in fields.items() if v is not None})
    try:
        return DeviceSpec.model_validate(raw).to_device()
    except ValidationError as exc:
        return validation_message(exc)


# ============================================================================ admin side
class Onboarding:
    """The pending list and the admin's decisions (admin only, audited)."""

    def __init__(self, store: Store, allow: AllowList | None = None) -> None:
        self.store = store
        self.allow = allow or AllowList()

    def requests(self, status: str | None = PENDING, limit: int = 500) -> list[JsonObject]:
        _, ttl = pending_limits()
        with self.store.read() as s:
            q = select(OnboardingRow)
            if status:
                q = q.where(OnboardingRow.status == status)
            # an expired pending agent is not offered (its row goes at the next pending contact)
            q = q.where((OnboardingRow.status != PENDING) | (OnboardingRow.last_seen >= utcnow() - ttl))
            rows = s.scalars(q.order_by(OnboardingRow.first_seen, OnboardingRow.endpoint_id).limit(limit))
            return [_public(r) for r in rows]

    def accept(self, endpoint_id: str, actor: Actor, **fields: Any) -> Device:
        """Register the pending agent as a USP device (``fields``: vendor, model, firmware, region,
        subscriber, service, tags, upstream_id) and mark the request accepted, in one transaction."""
        require_admin(actor)
        try:
            with self.store.write() as s:
                row = self._pending(s, endpoint_id)
                claim = Claim(row.endpoint_id, row.oui, row.product_class, row.serial)
                device = _device_for(claim, self.allow, fields)
                if not isinstance(device, Device):
                    raise Invalid(f"cannot register {endpoint_id}: {device}")
                register(s, device, actor.id, "onboarding", endpoint_id=endpoint_id)
                row.status, row.device_id, row.decided_by, row.decided_at = ACCEPTED, device.id, actor.id, utcnow()
                audit.append(s, actor=actor.id, action="onboarding.accepted", device=device,
                             data={**claim.as_dict(), "automatic": False})
        except IntegrityError:
            raise Conflict(f"{endpoint_id} was decided by someone else at the same moment; reload") from None
        with self.store.read() as s:
            return repo.get_device(s, device.id)

    def reject(self, endpoint_id: str, actor: Actor, reason: str) -> JsonObject:
        """Refuse the agent: its later contacts are dropped (counted, not stored)."""
        require_admin(actor)
        if not reason.strip():
            raise Invalid("rejecting an agent needs a reason (--reason TEXT)")
        with self.store.write() as s:
            row = self._pending(s, endpoint_id)
            row.status, row.decided_by, row.decided_at, row.reason = REJECTED, actor.id, utcnow(), reason.strip()[:500]
            audit.append(s, actor=actor.id, action="onboarding.rejected",
                         data={"endpoint_id": endpoint_id, "oui": row.oui, "serial": row.serial,
                               "reason": row.reason})
            return _public(row)

    @staticmethod
    def _pending(s: Session, endpoint_id: str) -> OnboardingRow:
        row: OnboardingRow | None = s.get(OnboardingRow, endpoint_id)
        if row is None:
            raise NotFound(f"no onboarding request from {endpoint_id!r}; list them with `gateward devices pending`")
        if row.status != PENDING:
            raise Conflict(f"the onboarding request from {endpoint_id!r} is {row.status}, not pending")
        return row


def _public(r: OnboardingRow) -> JsonObject:
    return {"endpoint_id": r.endpoint_id, "oui": r.oui, "product_class": r.product_class, "serial": r.serial,
            "status": r.status, "attempts": r.attempts, "first_seen": r.first_seen.isoformat(),
            "last_seen": r.last_seen.isoformat(), "device_id": r.device_id, "decided_by": r.decided_by,
            "decided_at": r.decided_at.isoformat() if r.decided_at else None, "reason": r.reason}
