"""Reading the fleet GenieACS knows, page by page, for the inventory sync (issue 11).

Why a keyset scan and not ``skip``: GenieACS hands ``skip``/``limit`` to MongoDB, which walks and
discards every skipped document, so page *n* costs *n* pages; and devices that inform while the
scan runs move in a ``_lastInform`` order and would be skipped or read twice. Each page here asks
for what comes strictly *after* the last document already read, in the order
``{"_lastInform": 1, "_id": 1}``::

    {"$or": [{"_lastInform": {"$gt": T}}, {"_lastInform": T, "_id": {"$gt": ID}}]}

so a page costs the same wherever it is, a device that informs mid-scan simply comes again later,
and the position after any page is a :class:`Cursor` the caller stores: a scan that stops (the ACS
went down, a page timed out) resumes from there on the next run. Only what Gateward needs is
projected (``PROJECTION``); one page is in memory at a time.

Presence is a second, lighter scan (:meth:`AcsInventorySource.present_ids`): every ``_id`` in
``_id`` order, nothing else, for marking devices the ACS no longer has.

Identity is GenieACS's own: ``_deviceId`` ``_OUI``, ``_ProductClass``, ``_SerialNumber`` exactly as
the CPE reported them; the Gateward device id is ``OUI-ProductClass-Serial`` of those (unescaped),
and the document's ``_id`` must be their escaped form (``ids.genieacs_device_id``) or the document
is refused as malformed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from core.models import Root
from executors.genieacs.document import parse_time
from executors.genieacs.ids import genieacs_device_id, is_device_id
from executors.genieacs.nbi import NbiClient, NbiError, NbiRejected

IDENTITY_PARAMS = ("Manufacturer", "ModelName", "SoftwareVersion", "HardwareVersion")
ROOTS = ("Device", "InternetGatewayDevice")
_ROOT = {r: Root(r + ".") for r in ROOTS}
PROJECTION = ("_id", "_deviceId", "_lastInform", "_lastBoot", "_registered",
              *(f"{root}.DeviceInfo.{p}" for root in ROOTS for p in IDENTITY_PARAMS))
ORDER = {"_lastInform": 1, "_id": 1}
_PLAIN = re.compile(r"^[A-Za-z0-9_]+$")  # a DeviceId part GenieACS leaves unescaped
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the cursor of a document that never informed
DEFAULT_PAGE = 1000
MAX_PAGE = 10_000


@dataclass(frozen=True)
class Cursor:
    """The last document fully applied, in scan order: ``(_lastInform, _id)``."""

    last_inform: datetime
    acs_id: str

    def query(self) -> dict[str, Any]:
        at = iso_ms(self.last_inform)
        return {"$or": [{"_lastInform": {"$gt": at}}, {"_lastInform": at, "_id": {"$gt": self.acs_id}}]}

    def key(self) -> tuple[datetime, str]:
        return self.last_inform, self.acs_id


def iso_ms(dt: datetime) -> str:
    """A date as GenieACS writes it (``…T12:00:00.000Z``; MongoDB keeps milliseconds)."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class AcsDevice:
    """One device as the ACS reports it: what the inventory records."""

    acs_id: str
    oui: str
    product_class: str
    serial: str
    root: Root
    manufacturer: str
    model: str
    firmware: str
    hardware: str
    last_inform: datetime | None
    last_boot: datetime | None
    registered: datetime | None
    #: The Gateward id: ``OUI-ProductClass-Serial`` exactly as the ACS reports the parts (computed
    #: once: the sync reads it several times per device).
    device_id: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pc = self.product_class
        object.__setattr__(self, "device_id", f"{self.oui}-{pc}-{self.serial}" if pc else f"{self.oui}-{self.serial}")


@dataclass(frozen=True)
class ItemError:
    """A document that could not be read: its ``_id`` (if any) and why."""

    acs_id: str | None
    error: str


@dataclass
class Page:
    """One page of the scan and the cursor just after it (malformed documents included: they are
    reported, not retried forever; they come back when the device informs again)."""

    items: list[AcsDevice | ItemError] = field(default_factory=list)
    cursor: Cursor | None = None


class SourceError(Exception):
    """The ACS could not be read (down, slow, refused the query, answered nonsense)."""


def _is_map(node: Any) -> bool:
    """``Mapping``, with the common case (a ``dict`` from the JSON parser) first: the ABC check
    costs more than the rest of a document's parse."""
    return isinstance(node, (dict, Mapping))  # dict first: an exact type check


def _leaf(info: Any, name: str) -> str | None:
    """``<root>.DeviceInfo.<name>`` as text: its ``_value`` (or a bare scalar), stripped, or ``None``."""
    if not _is_map(info):
        return None
    node = info.get(name)
    if _is_map(node):
        node = node.get("_value")
    if node is None or _is_map(node) or isinstance(node, list):
        return None
    text = node if isinstance(node, str) else str(node)
    return text.strip() or None


def _date(raw: Mapping[str, Any], key: str) -> datetime | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.endswith("Z"):  # GenieACS's own form: the fast path
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # parse_time decides (and this raises below if it cannot)
    dt = parse_time(value)
    if dt is None:
        raise ValueError(f"{key} {str(value)[:40]!r} is not a date")
    return dt


def _expected_id(oui: str, pc: str, serial: str) -> str:
    """``ids.genieacs_device_id``, without escaping parts that need none (nearly all of them)."""
    parts = (oui, pc, serial) if pc else (oui, serial)
    if all(_PLAIN.match(p) for p in parts):
        return "-".join(parts)
    return genieacs_device_id(oui, pc, serial)


def parse_device(raw: Any) -> AcsDevice | ItemError:
    """A device document (projected with ``PROJECTION``) → :class:`AcsDevice`, or why not.

    On the hot path of a sync (once per device; 100,000 on a first sync), so written as plain
    dictionary work: every check below is a refusal the inventory relies on (identity, ``_id``
    agreement, data-model root, dates), none of it is a pydantic model per document."""
    if not _is_map(raw):
        return ItemError(None, f"expected a device document, got {type(raw).__name__}")
    acs_id = raw.get("_id")
    if not isinstance(acs_id, str) or not acs_id:
        return ItemError(None, "the document has no _id")
    if not is_device_id(acs_id):
        return ItemError(acs_id[:256], "its _id holds characters a GenieACS device id cannot hold")
    ident = raw.get("_deviceId")
    if not _is_map(ident):
        return ItemError(acs_id, "the document has no _deviceId")
    oui, pc, serial = (str(ident.get(k) or "").strip() for k in ("_OUI", "_ProductClass", "_SerialNumber"))
    if not oui or not serial:
        return ItemError(acs_id, "_deviceId lacks _OUI or _SerialNumber")
    if _expected_id(oui, pc, serial) != acs_id:
        return ItemError(acs_id, f"_id does not match _deviceId (OUI {oui!r}, product class {pc!r}, serial "
                                 f"{serial!r} would be {genieacs_device_id(oui, pc, serial)!r})")
    root = next((r for r in ROOTS if _is_map(raw.get(r))), None)
    if root is None:
        return ItemError(acs_id, "no DeviceInfo under Device. or InternetGatewayDevice. (data-model root unknown: "
                                 "has the ACS read the device yet?)")
    try:
        last_inform, last_boot = _date(raw, "_lastInform"), _date(raw, "_lastBoot")
        registered = _date(raw, "_registered")
    except ValueError as exc:
        return ItemError(acs_id, str(exc))
    info = raw[root].get("DeviceInfo")
    manufacturer = _leaf(info, "Manufacturer") or str(ident.get("_Manufacturer") or "").strip() or "unknown"
    return AcsDevice(acs_id=acs_id, oui=oui, product_class=pc, serial=serial, root=_ROOT[root],
                     manufacturer=manufacturer, model=_leaf(info, "ModelName") or pc or "unknown",
                     firmware=_leaf(info, "SoftwareVersion") or "unknown",
                     hardware=_leaf(info, "HardwareVersion") or "", last_inform=last_inform,
                     last_boot=last_boot, registered=registered)


class AcsInventorySource:
    """The GenieACS NBI as an inventory source (``name`` is what the cursor is stored under)."""

    name = "genieacs"

    def __init__(self, client: NbiClient, *, page_size: int = DEFAULT_PAGE) -> None:
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page size must be 1..{MAX_PAGE}, got {page_size}")
        self.client = client
        self.page_size = page_size

    def _page(self, query: Mapping[str, Any], projection: tuple[str, ...], sort: Mapping[str, int]) -> list[Any]:
        """One ``GET /devices/`` (the client's transport, errors and auth; the body parsed with
        orjson: a 1,000-device page is ~1 MB of JSON, and parsing is most of a page's cost)."""
        params = {"query": json.dumps(query, separators=(",", ":")), "projection": ",".join(projection),
                  "sort": json.dumps(dict(sort), separators=(",", ":")), "limit": str(self.page_size)}
        try:
            resp = self.client._request("GET", "/devices/", params=params)
            if resp.status_code != 200:
                raise NbiRejected(f"GenieACS NBI rejected the devices query with {resp.status_code}: "
                                  f"{resp.text[:200]!r}", status=resp.status_code)
            items = orjson.loads(resp.content)
        except NbiError as exc:
            raise SourceError(exc.message) from None
        except orjson.JSONDecodeError as exc:
            raise SourceError(f"the ACS answered a devices page that is not JSON ({exc}); stopped") from None
        if not isinstance(items, list):
            raise SourceError(f"the ACS answered a devices page with {type(items).__name__}, not a list; stopped")
        return items

    def changed(self, since: Cursor | None) -> Iterator[Page]:
        """Pages of devices whose ``_lastInform`` is after ``since`` (all of them when ``None``),
        oldest first. Raises :class:`SourceError` mid-way when the ACS fails; pages already
        yielded stay valid. The next page is requested while the caller applies this one (its
        query needs only this page's last document), so the ACS's time overlaps Gateward's; at
        most two pages are in memory."""
        pool = ThreadPoolExecutor(1, thread_name_prefix="acs-page")
        try:
            cursor = since
            pending: Future[list[Any]] | None = pool.submit(self._page, cursor.query() if cursor else {},
                                                            PROJECTION, ORDER)
            while pending is not None:
                raw = pending.result()
                if not raw:
                    return
                after = self._cursor_after(raw, cursor)
                pending = (pool.submit(self._page, after.query(), PROJECTION, ORDER)
                           if len(raw) >= self.page_size else None)
                yield Page([parse_device(d) for d in raw], after)
                cursor = after
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _cursor_after(raw: list[Any], cursor: Cursor | None) -> Cursor:
        last = raw[-1]
        last_id = last.get("_id") if isinstance(last, Mapping) else None
        if not isinstance(last_id, str):
            raise SourceError("the ACS answered a page whose last document has no _id; cannot go on from it")
        try:
            li = _date(last, "_lastInform") or EPOCH
        except ValueError as exc:
            raise SourceError(f"cannot go on after {last_id!r}: {exc}") from None
        after = Cursor(li, last_id)
        if cursor is not None and after.key() <= cursor.key():
            raise SourceError(f"the ACS answered a page that does not move past {cursor.acs_id!r} "
                              f"(sort or query not honoured); stopped")
        return after

    def present_ids(self) -> Iterator[list[str]]:
        """Every ``_id`` the ACS holds, in pages, in ``_id`` order (for marking absent devices)."""
        after: str | None = None
        while True:
            raw = self._page({"_id": {"$gt": after}} if after else {}, ("_id",), {"_id": 1})
            ids = [d["_id"] for d in raw if isinstance(d, Mapping) and isinstance(d.get("_id"), str)]
            if not ids:
                return
            if after is not None and ids[-1] <= after:
                raise SourceError(f"the ACS answered an _id page that does not move past {after!r}; stopped")
            after = ids[-1]
            yield ids
            if len(raw) < self.page_size:
                return


def source_from_settings(settings: Any = None, *, page_size: int = DEFAULT_PAGE,
                         timeout_s: float = 30.0) -> AcsInventorySource:
    """The source for ``GATEWARD_GENIEACS_URL`` (with the adapter's TLS, proxy and auth settings)."""
    from executors.genieacs.settings import GenieAcsSettings

    own = GenieAcsSettings()
    url = getattr(settings, "genieacs_url", None) or own.url
    if not url:
        raise LookupError("an inventory sync from GenieACS needs GATEWARD_GENIEACS_URL (the NBI, e.g. http://acs:7557)")
    verify: bool | str = False if own.insecure else (own.ca_file or True)
    client = NbiClient(url, auth_header=getattr(settings, "genieacs_auth_header", None) or own.auth_header,
                       verify=verify, client_cert=own.client_cert, client_key=own.client_key, proxy=own.proxy,
                       timeout_s=timeout_s)
    return AcsInventorySource(client, page_size=page_size)


__all__ = ["PROJECTION", "AcsDevice", "AcsInventorySource", "Cursor", "ItemError", "Page", "SourceError",
           "parse_device", "source_from_settings"]
