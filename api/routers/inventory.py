"""Inventory by hand: register one device, import many, retire one; and the USP agents
pending onboarding (``/api/onboarding``: list, accept, reject). Changes are admin only and audited.

The rules (identity, adapter, root, one unit one registration, atomic per row) live in
``core.inventory``; this router only maps HTTP onto them. An import answers 200 with one line per
row even when some rows were refused: the good rows are registered, and the refused ones say why.

A CSV import is sent as JSON (``{"csv": "<the file's text>"}``): every ``/api/`` body is JSON (the
body guard answers 415 to anything else), so a CSV needs no second parsing path at the edge.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import ActorDep, AppRuntime, RuntimeDep
from api.errors import errors_for
from api.path_ids import DeviceId
from core.compat import policy_data
from core.inventory import MAX_IMPORT_ROWS, DeviceFields, DeviceSpec, Inventory, number_items, parse_csv, require_admin
from core.kernel.models import Device
from core.onboarding import AllowList, Onboarding

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/devices", tags=["devices"], responses=errors_for(401))


class ImportList(BaseModel):
    """Devices as objects with the fields of ``POST /api/devices``."""

    model_config = ConfigDict(extra="forbid")

    devices: list[dict[str, Any]] = Field(max_length=MAX_IMPORT_ROWS)


class ImportCsv(BaseModel):
    """A CSV file's text whose header line names the fields of ``POST /api/devices`` (``tags``
    separated by ``;``). Its size is bounded by the request body limit (1 MiB); the CLI has none."""

    model_config = ConfigDict(extra="forbid")

    csv: str


class ImportRow(BaseModel):
    row: int = Field(description="CSV line number, or position in the devices list (from 1)")
    device_id: str | None
    ok: bool
    error: str | None
    unchanged: bool = Field(default=False, description="already registered exactly so (a re-import)")


class ImportOut(BaseModel):
    registered: int
    unchanged: int = 0
    refused: int
    rows: list[ImportRow]


class RetireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, pattern=r"\S")


@router.post("", status_code=201, response_model=Device, responses=errors_for(403, 409, 422))
def add_device(body: DeviceFields, rt: RuntimeDep, actor: ActorDep) -> Device:
    """Register one device (admin). Refused: a malformed identity or an adapter/root mismatch (422),
    an id or OUI + serial already registered (409)."""
    require_admin(actor)
    result: Device = Inventory(rt.store).add(DeviceSpec.checked(body), actor)
    return result


@router.post("/import", response_model=ImportOut, responses=errors_for(403, 422))
async def import_devices(body: ImportList | ImportCsv, rt: RuntimeDep, actor: ActorDep) -> ImportOut:
    """Register many devices (admin), each row in its own transaction; refused rows say why."""

    def run() -> dict[str, Any]:
        require_admin(actor)
        rows = parse_csv(body.csv) if isinstance(body, ImportCsv) else number_items(body.devices)
        return Inventory(rt.store).import_rows(rows, actor).as_dict()

    return ImportOut.model_validate(await run_in_threadpool(run))


@router.post("/{device_id}/retire", response_model=Device, responses=errors_for(403, 404, 409, 422))
def retire_device(device_id: DeviceId, body: RetireIn, rt: RuntimeDep, actor: ActorDep) -> Device:
    """Retire a device (admin): kept with its history, listed as retired, never targeted again.
    Refused while a live proposal targets it (409)."""
    result: Device = Inventory(rt.store).retire(device_id, actor, body.reason)
    return result


# ---------------------------------------------------------------------------- broker onboarding
onboarding_router = APIRouter(prefix="/api/onboarding", tags=["devices"], responses=errors_for(401))
EndpointId = DeviceId  # os::OUI-Serial, whose serial may hold a '/' like any device's


class OnboardingItem(BaseModel):
    endpoint_id: str
    oui: str
    product_class: str
    serial: str
    status: Literal["pending", "accepted", "rejected", "conflict"]
    attempts: int
    first_seen: str
    last_seen: str
    device_id: str | None
    decided_by: str | None
    decided_at: str | None
    reason: str | None


class AcceptIn(BaseModel):
    """What the agent does not say about itself (defaults: vendor and firmware ``unknown``, model =
    product class, region and service from the onboarding policy data)."""

    model_config = ConfigDict(extra="forbid")

    vendor: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=64)
    firmware: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=16)
    subscriber: str | None = Field(default=None, max_length=64)
    service: str | None = Field(default=None, max_length=32)


def _onboarding(rt: AppRuntime) -> Onboarding:
    return Onboarding(rt.store, AllowList.configured(policy_data(rt.policy), rt.settings))


@onboarding_router.get("", response_model=list[OnboardingItem])
def onboarding_requests(rt: RuntimeDep, _: ActorDep,
                        status: Annotated[Literal["pending", "accepted", "rejected", "conflict"] | None,
                                          Query(description="default: pending")] = "pending",
                        limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> list[OnboardingItem]:
    """USP agents that made first contact but were not in the fleet, one per endpoint ID."""
    return [OnboardingItem.model_validate(r) for r in _onboarding(rt).requests(status=status, limit=limit)]


@onboarding_router.post("/{endpoint_id}/accept", status_code=201, response_model=Device,
                        responses=errors_for(403, 404, 409, 422))
def accept_agent(endpoint_id: EndpointId, body: AcceptIn, rt: RuntimeDep, actor: ActorDep,
                 background: BackgroundTasks) -> Device:
    """Register a pending agent as a USP device (admin; audited ``onboarding.accepted``). Its data
    model is then discovered in the background (identity, what it has, which commands — so a command
    it lacks is refused at validate), and this process's subscription keeper sets it up on that first
    exchange: an accepted agent that connected earlier sends nothing more until it reconnects."""
    result: Device = _onboarding(rt).accept(endpoint_id, actor, **body.model_dump(exclude_none=True))
    # on a thread of its own: an agent that does not answer costs its probe there, not this request
    background.add_task(lambda: threading.Thread(target=_first_contact, args=(rt, result), daemon=True,
                                                 name=f"first-contact-{result.id}").start())
    return result


def _first_contact(rt: AppRuntime, device: Device) -> None:
    """Discover a just-accepted agent (never raises: a silent agent is discovered at its next contact)."""
    from core.capabilities import discover_if_unknown

    found = discover_if_unknown(rt.store, rt.router, device)
    if found is not None and not found.get("stored"):
        log.info("accepted agent %s not discovered yet: %s", device.id, found.get("error") or "it reported nothing")


@onboarding_router.post("/{endpoint_id}/reject", response_model=OnboardingItem,
                        responses=errors_for(403, 404, 409, 422))
def reject_agent(endpoint_id: EndpointId, body: RetireIn, rt: RuntimeDep, actor: ActorDep) -> OnboardingItem:
    """Reject a pending agent (admin; audited): its later contacts are dropped, only counted."""
    return OnboardingItem.model_validate(_onboarding(rt).reject(endpoint_id, actor, body.reason))
