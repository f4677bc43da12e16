"""Devices: list with filters, detail (parameters, compat, live state), history, topology
neighbourhood, and the read-only IPPing diagnostic.

Reads go through ``rt.router.reader`` (the read-only executor facade) and the store; the one
action here, IPPing, goes through ``Lifecycle.diagnose`` which checks the role and audits it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api import device_list
from api import device_page as page_views
from api import device_views as views
from api.deps import ActorDep, AppRuntime, RuntimeDep
from api.errors import errors_for
from api.native_paths import is_tr098, native_name
from api.path_ids import DeviceId
from api.presence import ask_many, state_of, state_of_json
from api.schemas import DeviceItem, DeviceList, Facets, IPPingIn
from core.device_overview import OVERVIEW_OBJECTS, read_overview
from core.kernel.errors import Invalid
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Device, utcnow
from core.store import repo
from executors.base import ExecutorError

if TYPE_CHECKING:
    from core.kernel.ports.executor import Presence

router = APIRouter(prefix="/api/devices", tags=["devices"], responses=errors_for(401))

DeviceState = Literal["online", "offline", "unreachable", "busy", "idle"]
PRESENCE_SCAN_LIMIT = 2000
LIVE_PREFIXES = OVERVIEW_OBJECTS  # each optional: a device without Wi-Fi still shows the rest


def _presence(rt: AppRuntime, d: Device) -> JsonObject:
    try:
        return dict(rt.router.reader(d).presence(d).model_dump(mode="json"))
    except (ExecutorError, LookupError) as exc:
        return {"device_id": d.id, "online": False, "reachable": False, "detail": f"presence unknown: {exc}"}


def _last_heard(device: dict[str, Any], presence: Mapping[str, Json]) -> dict[str, Any]:
    """``device`` with ``last_seen`` the newest contact either record knows: the stored one (an
    inform, a USP notification, an ACS sync) or the one the live presence answer just gave. A page
    never says "online" beside a "last seen" older than what said so."""
    def at(t: str) -> datetime:
        d = datetime.fromisoformat(t.replace("Z", "+00:00"))
        return d if d.tzinfo else d.replace(tzinfo=UTC)

    times = [str(t) for t in (device.get("last_seen"), presence.get("last_seen")) if t]
    if times:
        device["last_seen"] = at(max(times, key=at)).isoformat()
    return device


def _matches(state: str, found: Mapping[str, Json] | None, busy: bool) -> bool:
    if state == "busy":
        return busy
    if state == "idle":
        return not busy
    return state_of_json(found) == state


@router.get("", response_model=DeviceList)
def list_devices(rt: RuntimeDep, _: ActorDep,
                 subscriber: Annotated[str | None, Query(max_length=64)] = None,
                 model: Annotated[str | None, Query(max_length=64)] = None,
                 firmware: Annotated[str | None, Query(max_length=64)] = None,
                 region: Annotated[str | None, Query(max_length=16)] = None,
                 state: Annotated[DeviceState | None, Query(description="online | offline | unreachable "
                                                             "(live presence) | busy | idle (live proposals)")] = None,
                 q: Annotated[str | None, Query(max_length=100, description="id, subscriber or model contains")] = None,
                 status: Annotated[Literal["active", "absent", "retired"] | None,
                                   Query(description="inventory status: active, absent (the ACS no longer lists "
                                                     "it) or retired (kept, never targeted)")]
                 = None,
                 presence: Annotated[bool, Query(description="include live presence per device")] = False,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> DeviceList:
    """Filter by subscriber, model, firmware, region and state. A presence state is asked of
    each candidate device live, so narrow the other filters first on a large fleet."""
    with rt.store.read() as s:
        if state is None:
            items, total = repo.list_devices(s, subscriber=subscriber, model=model, firmware=firmware, region=region,
                                             q=q, limit=limit, offset=offset, status=status)
            busy = views.busy_device_ids(s)
        else:
            items, total = repo.list_devices(s, subscriber=subscriber, model=model, firmware=firmware, region=region,
                                             q=q, limit=PRESENCE_SCAN_LIMIT + 1, offset=0, status=status)
            busy = views.busy_device_ids(s)
    if state is not None:
        if state not in ("busy", "idle") and len(items) > PRESENCE_SCAN_LIMIT:
            raise Invalid(f"state={state} asks every matching device live; {total} match, the limit is "
                          f"{PRESENCE_SCAN_LIMIT} — narrow with model, firmware, region or subscriber")
        kept = []
        for d in items:
            pres = _presence(rt, d) if state not in ("busy", "idle") else None
            if _matches(state, pres, d.id in busy):
                kept.append((d, pres))
        total = len(kept)
        window = kept[offset:offset + limit]
        out = [DeviceItem(**d.model_dump(), busy=d.id in busy, presence=pres if presence else None)
               for d, pres in window]
        if presence:
            out = [o if o.presence is not None else o.model_copy(update={"presence": _presence(rt, o)})
                   for o in out]
        return DeviceList(items=out, total=total)
    result = [DeviceItem(**d.model_dump(), busy=d.id in busy, presence=_presence(rt, d) if presence else None)
              for d in items]
    return DeviceList(items=result, total=total)


class DeviceBadge(BaseModel):
    kind: Literal["case", "outage", "offline", "unreachable", "silent"] = Field(
        description="offline / unreachable: what the device's presence says now (api.presence, the one definition); "
                    "silent: no contact for an hour or more, a fact of its own")
    label: str = Field(description="what the badge says, in words (never a colour alone)")
    problem: str | None = None
    count: int | None = None
    upstream_id: str | None = None
    degraded: int | None = None
    devices: int | None = None
    hours: int | None = None


class DevicePageItem(Device):
    busy: bool = Field(default=False, description="a live (non-terminal) proposal targets this device")
    presence: Literal["online", "unreachable", "offline"] = Field(
        default="offline", description="asked now, by the definition every surface uses (unknown is offline)")
    badges: list[DeviceBadge] = Field(default_factory=list)


class DevicePage(BaseModel):
    items: list[DevicePageItem]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last page")
    total: int | None = Field(description="devices matching, counted on the first page only (null after)")
    total_exact: bool = Field(description="false: more than 10,000 match and total is the cap or, for the "
                                          "whole fleet, the database's estimate")
    sort: str
    desc: bool


@router.get("/page", response_model=DevicePage, responses=errors_for(422))
def device_page(rt: RuntimeDep, _: ActorDep,
                sort: Annotated[device_list.SortKey, Query(description="column to sort by; problems: devices with "
                                                           "an open case, an upstream outage or silent for an hour "
                                                           "first (the console's default), each part by id")] = "id",
                desc: Annotated[bool, Query(description="descending")] = False,
                cursor: Annotated[str | None, Query(max_length=600, description="next_cursor of the page before")]
                = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                subscriber: Annotated[str | None, Query(max_length=64)] = None,
                model: Annotated[str | None, Query(max_length=64)] = None,
                firmware: Annotated[str | None, Query(max_length=64)] = None,
                region: Annotated[str | None, Query(max_length=16)] = None,
                status: Annotated[Literal["active", "absent", "retired"] | None, Query()] = None,
                upstream: Annotated[str | None, Query(max_length=128, description="upstream node id")] = None,
                q: Annotated[str | None, Query(max_length=100, description="id, subscriber or model contains")] = None,
                param: Annotated[str | None, Query(max_length=256, pattern=r"^(Device|InternetGatewayDevice)\.",
                                                   description="a parameter path whose stored value to match")]
                = None,
                value: Annotated[str | None, Query(max_length=256, description="the value param must have")] = None,
                offline_hours: Annotated[float | None, Query(ge=0, le=24 * 365,
                                                             description="not heard from for this many hours")]
                = None) -> DevicePage:
    """The fleet list, keyset-paged in any sort order (any depth costs one index seek), with a
    last-contact column, a search by a parameter's stored value and problem badges."""
    f = device_list.Filters(subscriber=subscriber, model=model, firmware=firmware, region=region, status=status,
                            q=q, param=param, value=value, offline_hours=offline_hours, upstream_id=upstream)
    with rt.store.read() as s:
        page = device_list.read_page(s, f, sort=sort, desc=desc, limit=limit, cursor=cursor)
    devices = [repo.device_from_row(r) for r in page.rows]
    asked = ask_many(rt, devices)
    items = [_page_item(d, asked.get(d.id), d.id in page.busy, page.badges.get(d.id, [])) for d in devices]
    return DevicePage(items=items, next_cursor=page.next_cursor, total=page.total, total_exact=page.total_exact,
                      sort=sort, desc=desc)


def _page_item(d: Device, pres: Presence | None, busy: bool, stored: list[JsonObject]) -> DevicePageItem:
    """A list row: its presence asked now, and its badges — offline or unreachable when presence says
    so (the one definition), then the problems the list is ordered by (an open case, an upstream
    outage, silence as the store knows it)."""
    state = state_of(pres)
    badges = ([{"kind": state, "label": "offline now" if state == "offline" else "online, not reachable now"}]
              if state != "online" else []) + stored
    return DevicePageItem(**d.model_dump(), busy=busy, presence=state,
                          badges=[DeviceBadge.model_validate(b) for b in badges])


@router.get("/facets", response_model=Facets)
def device_facets(rt: RuntimeDep, _: ActorDep) -> Facets:
    """Distinct vendors, models, firmwares and regions with counts (for filter menus)."""
    with rt.store.read() as s:
        f = views.facets(s)
    return Facets(**f, states=["online", "offline", "unreachable", "busy", "idle"])


@router.get("/{device_id}", responses=errors_for(404))
def get_device(device_id: DeviceId, rt: RuntimeDep, _: ActorDep,
               live: Annotated[bool, Query(description="also read parameters from the device now")] = False
               ) -> dict[str, Any]:
    """Inventory, live presence, compatibility status, the latest stored parameter snapshot
    (secrets masked), live proposals touching it and, with ``live=true``, a live read."""
    with rt.store.read() as s:
        d = repo.get_device(s, device_id)
        snapshot = repo.latest_snapshot(s, device_id) or {}
        proposals = repo.list_proposals(s, device_id=device_id, limit=20)
        live_props = views.live_proposals(s, [device_id]).get(device_id, [])
        lock = views.lock_of(s, device_id)
    presence = _presence(rt, d)
    # when presence was asked (now): a page says "online, checked 14:02:11" beside the older last
    # inform, never one "last contact" that reads as if the device had been silent since
    presence["checked_at"] = utcnow().isoformat()
    out: JsonObject = {
        "device": _last_heard(d.model_dump(mode="json"), presence),
        "presence": presence,
        "compat": views.compat_status(d),
        "busy": bool(live_props),
        "lock": lock,
        "live_proposals": live_props,
        "recent_proposals": [{"id": p.id, "state": str(p.state), "intent": p.intent, "author": p.author,
                              "updated_at": p.updated_at.isoformat()} for p in proposals],
        "parameters": views.masked_params(snapshot, d),
        "usp_mismatch": _usp_mismatch(rt, d),
    }
    if live:
        out.update(_live_read(rt, d, list(LIVE_PREFIXES)))
    return out


def _usp_mismatch(rt: AppRuntime, d: Device) -> str | None:
    """A USP agent's controller endpoint-ID mismatch, as any process stored it."""
    if str(d.protocol) != "usp":
        return None
    from core.usp_topics import device_mismatch

    mm = device_mismatch(rt.store, d)
    return mm.message() if mm is not None else None


def _live_read(rt: AppRuntime, d: Device, prefixes: list[str]) -> dict[str, Any]:
    """What the device has under ``prefixes`` (DeviceInfo first); objects it lacks are listed in
    ``live_absent`` instead of failing the whole read (devices without Wi-Fi)."""
    pres = _presence(rt, d)
    if not pres.get("online"):
        return {"live": None, "live_error": f"device is offline ({pres.get('detail') or 'no recent contact'})",
                "live_absent": []}
    try:
        ov = read_overview(rt.router.reader(d), d, prefixes)
    except LookupError as exc:
        return {"live": None, "live_error": str(exc), "live_absent": []}
    if ov.error is not None and not ov.values:
        return {"live": None, "live_error": ov.error, "live_absent": ov.absent}
    error = ov.error or (f"the device has no {', '.join(ov.absent)}" if not ov.values and ov.absent else None)
    rows = [{k: r[k] for k in ("path", "value", "type", "writable", "device_path")} for r in ov.rows()]
    if is_tr098(str(d.root)):  # what the device calls each (the read named it)
        for r in rows:
            r["native"] = native_name(str(r["path"]), read_as=str(r["device_path"]), vendor=d.vendor, model=d.model)
    return {"live": rows, "live_error": error, "live_absent": ov.absent}


@router.get("/{device_id}/parameters", responses=errors_for(404, 422))
def parameters(device_id: DeviceId, rt: RuntimeDep, _: ActorDep,
               prefix: Annotated[str, Query(min_length=1, max_length=256, pattern=r"^(Device|InternetGatewayDevice)\.")]
               = "Device.",
               live: bool = False) -> dict[str, Any]:
    """Parameters under ``prefix``: from the stored snapshot, or read live with ``live=true``."""
    with rt.store.read() as s:
        d = repo.get_device(s, device_id)
        snapshot = repo.latest_snapshot(s, device_id) or {}
    if live:
        return {"device_id": device_id, "source": "live", **_live_read(rt, d, [prefix])}
    params = {k: v for k, v in snapshot.items() if k.startswith(prefix)}
    return {"device_id": device_id, "source": "snapshot", "parameters": views.masked_params(params, d)}


@router.get("/{device_id}/tree", responses=errors_for(404, 422))
def tree(device_id: DeviceId, rt: RuntimeDep, _: ActorDep,
         prefix: Annotated[str, Query(min_length=1, max_length=256, pattern=r"^(Device|InternetGatewayDevice)\.")]
         = "Device.",
         live: Annotated[bool, Query(description="read this subtree from the device now")] = False
         ) -> dict[str, Any]:
    """One level of the parameter tree under ``prefix``: objects (with how many parameters they
    hold) and parameters (value, type, writable, allowed values), from the stored snapshot or,
    with ``live=true``, read from the device for this subtree only."""
    with rt.store.read() as s:
        d = repo.get_device(s, device_id)
        snapshot = {} if live else (repo.latest_snapshot(s, device_id) or {})
    prefix = prefix if prefix.endswith(".") else prefix + "."
    if live:
        res = _live_read(rt, d, [prefix])
        if res["live"] is None:
            return {"device_id": device_id, "prefix": prefix, "source": "live", "nodes": [],
                    "error": res["live_error"]}
        rows: list[dict[str, Any]] = res["live"]
    else:
        rows = page_views.snapshot_rows({k: v for k, v in snapshot.items() if k.startswith(prefix)})
    return {"device_id": device_id, "prefix": prefix, "source": "live" if live else "snapshot",
            "nodes": page_views.tree_level(d, prefix, rows, live=live), "error": None}


@router.get("/{device_id}/history", responses=errors_for(404))
def history(device_id: DeviceId, rt: RuntimeDep, _: ActorDep,
            hours: Annotated[int, Query(ge=1, le=24 * 90)] = 48,
            metric: Annotated[list[str] | None, Query(max_length=20)] = None) -> dict[str, Any]:
    """Telemetry series for plots (downsampled), device events and the changes that ended on the
    device (applied, rolled back, failed: markers on the charts) over the last ``hours``."""
    from datetime import datetime

    with rt.store.read() as s:
        repo.get_device(s, device_id)
        out = views.history(s, device_id, hours, metric)
        out["changes"] = page_views.applied_changes(s, device_id, datetime.fromisoformat(out["since"]))
        return out


@router.get("/{device_id}/topology", responses=errors_for(404))
def topology(device_id: DeviceId, rt: RuntimeDep, _: ActorDep) -> dict[str, Any]:
    """Upstream chain, siblings on the same upstream (with their trouble in the last 24 h),
    the building and the Wi-Fi neighbours this device hears."""
    with rt.store.read() as s:
        d = repo.get_device(s, device_id)
        return views.topology(s, d)


@router.post("/{device_id}/diagnostics/ipping",
             responses=errors_for(403, 404, 409, 422))
async def ipping(device_id: DeviceId, body: IPPingIn, rt: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    """Run an IPPing from the device (read-only, audited; needs a diagnosing role)."""
    return dict(await run_in_threadpool(rt.lifecycle.diagnose, device_id, "ipping",
                                        {"host": body.host, "repetitions": body.repetitions}, actor))
