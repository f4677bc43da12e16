"""Reading the fleet GenieACS knows, page by page, for the inventory sync.

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
import logging
import os
import re
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.kernel.models import Root
from executors.genieacs.document import parse_time
from executors.genieacs.ids import genieacs_device_id, is_device_id
from executors.genieacs.nbi import NbiClient, NbiError, NbiRejected

if TYPE_CHECKING:
    from core.kernel.config import Settings
    from executors.genieacs.inventory_reader import ProcessReader

#: What the inventory records of a device, and nothing more: each projected field is bytes the ACS
#: renders and this process decodes for every device of every page (``_lastBoot``, ``_registered``
#: and ``HardwareVersion`` were a third of a page and recorded nowhere; ``parse_device`` still reads
#: them when a document has them). Of each identity parameter only its ``_value``: GenieACS hands
#: the projection to MongoDB, which keeps just that attribute of the stored node, so the
#: ``_object``/``_writable``/``_timestamp``/``_type`` nobody reads (half of a document's bytes)
#: are neither rendered nor decoded.
IDENTITY_PARAMS = ("Manufacturer", "ModelName", "SoftwareVersion")
ROOTS = ("Device", "InternetGatewayDevice")
_ROOT = {r: Root(r + ".") for r in ROOTS}
PROJECTION = ("_id", "_deviceId", "_lastInform",
              *(f"{root}.DeviceInfo.{p}._value" for root in ROOTS for p in IDENTITY_PARAMS))
ORDER = {"_lastInform": 1, "_id": 1}
_PLAIN = re.compile(r"^[A-Za-z0-9_]+$")  # a DeviceId part GenieACS leaves unescaped
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the cursor of a document that never informed
DEFAULT_PAGE = 1000
MAX_PAGE = 10_000
#: Documents left to read from which a change scan reads them in a child process, where that is
#: switched on (``GATEWARD_INVENTORY_READER_PROCESS_MIN``; off by default): starting one costs
#: about half a second of CPU (an interpreter, the HTTP client), which the in-process reader's GIL
#: contention costs back only over a long scan, and only with a core free for the child.
PROCESS_MIN = 20_000
log = logging.getLogger("gateward.inventory_sync")


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

    def rewound(self, seconds: float) -> Cursor:
        """A cursor ``seconds`` earlier that takes every document of its first instant: where an
        incremental scan starts. GenieACS stamps ``_lastInform`` with a session's *start* and saves
        it at the session's *end*, so a session that was still running when the last scan passed
        lands behind the stored cursor (seen against GenieACS 1.2.16); reading the documents of the
        last ``seconds`` again finds it, and a re-read of an unchanged device writes nothing."""
        if seconds <= 0:
            return self
        return Cursor(self.last_inform - timedelta(seconds=seconds), "")


def iso_ms(dt: datetime) -> str:
    """A date as GenieACS writes it (``…T12:00:00.000Z``; MongoDB keeps milliseconds)."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AcsDevice:
    """One device as the ACS reports it: what the inventory records.

    A plain ``__slots__`` class rather than a frozen dataclass: one is built per device of every
    page (100,000 on a first sync), and a frozen dataclass's ``object.__setattr__`` per field cost
    more than reading the document. Treat it as immutable."""

    __slots__ = ("acs_id", "device_id", "firmware", "hardware", "last_boot", "last_inform", "manufacturer", "model",
                 "oui", "product_class", "registered", "root", "serial")
    _FIELDS = ("acs_id", "oui", "product_class", "serial", "root", "manufacturer", "model", "firmware", "hardware",
               "last_inform", "last_boot", "registered")  # what equality compares (device_id follows from them)

    def __init__(self, acs_id: str, oui: str, product_class: str, serial: str, root: Root, manufacturer: str,
                 model: str, firmware: str, hardware: str, last_inform: datetime | None, last_boot: datetime | None,
                 registered: datetime | None) -> None:
        self.acs_id, self.oui, self.product_class, self.serial, self.root = acs_id, oui, product_class, serial, root
        self.manufacturer, self.model, self.firmware, self.hardware = manufacturer, model, firmware, hardware
        self.last_inform, self.last_boot, self.registered = last_inform, last_boot, registered
        #: The Gateward id: ``OUI-ProductClass-Serial`` exactly as the ACS reports the parts
        #: (computed once: the sync reads it several times per device).
        self.device_id = f"{oui}-{product_class}-{serial}" if product_class else f"{oui}-{serial}"

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self._FIELDS)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its constructor's arguments (a page crosses from the reader process as one
        pickle): a third of the default ``__slots__`` pickle's cost each way."""
        return (AcsDevice, (self.acs_id, self.oui, self.product_class, self.serial, self.root, self.manufacturer,
                            self.model, self.firmware, self.hardware, self.last_inform, self.last_boot,
                            self.registered))  # _FIELDS, the constructor's order

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AcsDevice) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"AcsDevice({self.acs_id!r}, {self.manufacturer!r}, {self.model!r}, {self.firmware!r})"


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
    full: bool = False  # as many documents as asked for: there may be more after it


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


_ID3 = re.compile(r"[A-Za-z0-9_]+-[A-Za-z0-9_]+-[A-Za-z0-9_]+")  # fullmatch: OUI-ProductClass-Serial, none escaped
_ID2 = re.compile(r"[A-Za-z0-9_]+-[A-Za-z0-9_]+")  # fullmatch: OUI-Serial (no product class), none escaped


def _fast_date(value: Any) -> datetime | bool | None:
    """A date in GenieACS's own form (``…Z``), ``None`` when absent, ``False`` when the general
    path (:func:`_date`) must decide."""
    if value is None:
        return None
    if type(value) is str and value.endswith("Z"):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return False
    return False


def _fast_text(info: dict[str, Any], name: str) -> str | None:
    """:func:`_leaf` for the common shape (a leaf object with a text ``_value``); an absent leaf
    (one the projection leaves out) is ``None`` here, not an ABC ``Mapping`` check in :func:`_leaf`."""
    node = info.get(name)
    if node is None:
        return None
    if type(node) is dict:
        value = node.get("_value")
        if type(value) is str:
            return value.strip() or None
    return _leaf(info, name)


def _parse_plain(raw: dict[str, Any]) -> AcsDevice | None:
    """The common document (exact JSON types, identity parts that need no escaping, dates in
    GenieACS's form) read in one pass; ``None`` hands it to the general path, which then
    accepts it or says exactly what is wrong. Both paths yield the same device for a document
    this one accepts (``tests/inventory/test_sync_fast_paths.py``)."""
    acs_id, ident = raw.get("_id"), raw.get("_deviceId")
    if type(acs_id) is not str or type(ident) is not dict:
        return None
    oui, pc, serial = ident.get("_OUI"), ident.get("_ProductClass") or "", ident.get("_SerialNumber")
    if type(oui) is not str or type(pc) is not str or type(serial) is not str:
        return None
    # The _id is the parts joined, and (one regex over it, not one per part) each part needs no
    # escaping: two dashes exactly, so no part holds one, and each is [A-Za-z0-9_]+.
    if pc:
        if acs_id != f"{oui}-{pc}-{serial}" or _ID3.fullmatch(acs_id) is None:
            return None
    elif acs_id != f"{oui}-{serial}" or _ID2.fullmatch(acs_id) is None:
        return None
    node, root = raw.get("Device"), "Device"
    if type(node) is not dict:
        node, root = raw.get("InternetGatewayDevice"), "InternetGatewayDevice"
        if type(node) is not dict:
            return None
    last_inform = _fast_date(raw.get("_lastInform"))
    last_boot, registered = _fast_date(raw.get("_lastBoot")), _fast_date(raw.get("_registered"))
    if last_inform is False or last_boot is False or registered is False:
        return None
    info = node.get("DeviceInfo")
    if type(info) is not dict:
        return None
    manufacturer = _fast_text(info, "Manufacturer") or str(ident.get("_Manufacturer") or "").strip() or "unknown"
    model = _fast_text(info, "ModelName") or pc or "unknown"
    return AcsDevice(acs_id, oui, pc, serial, _ROOT[root], manufacturer, model,
                     _fast_text(info, "SoftwareVersion") or "unknown", _fast_text(info, "HardwareVersion") or "",
                     last_inform, last_boot, registered)  # type: ignore[arg-type]


def parse_device(raw: Any) -> AcsDevice | ItemError:
    """A device document (projected with ``PROJECTION``) → :class:`AcsDevice`, or why not.

    On the hot path of a sync (once per device; 100,000 on a first sync), so written as plain
    dictionary work: every check below is a refusal the inventory relies on (identity, ``_id``
    agreement, data-model root, dates), none of it is a pydantic model per document. The common
    document takes :func:`_parse_plain`; anything else (and every refusal) :func:`_parse_general`."""
    if type(raw) is dict:
        plain = _parse_plain(raw)
        if plain is not None:
            return plain
    return _parse_general(raw)


def _parse_general(raw: Any) -> AcsDevice | ItemError:
    """:func:`parse_device` for any document: every check, every refusal in its own words."""
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


def _cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class AcsInventorySource:
    """The GenieACS NBI as an inventory source (``core.kernel.ports.inventory.InventorySource``; ``name``
    is what the cursor is stored under, ``adapter`` what a synced device is registered on)."""

    name = "genieacs"
    adapter = "genieacs"
    #: what means the ACS stopped answering: the sync stops the run there and resumes next time
    errors: tuple[type[Exception], ...] = (SourceError,)

    def __init__(self, client: NbiClient, *, page_size: int = DEFAULT_PAGE,
                 process_min: int | None = None, process_wait_s: float = 0.0) -> None:
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page size must be 1..{MAX_PAGE}, got {page_size}")
        self.client = client
        self.page_size = page_size
        #: A change scan with at least this many documents still to read (the first page's
        #: ``total``) reads the rest in a child process (``inventory_reader``); ``None`` (the
        #: default): never, the prefetch thread reads every page.
        self.process_min = process_min
        #: How long the first page boundary waits for a starting child before reading on
        #: in-process (0: not at all; a test that must exercise the child waits for it).
        self.process_wait_s = process_wait_s
        self.reader_process: ProcessReader | Literal[False] | None = None  # the child reading the current scan, if any
        self.process_pages = 0  # pages the child read in the last scan
        self._total: int | None = None  # the last page's ``total`` header (documents matching its query)

    @staticmethod
    def cursor_at(last_inform: datetime, acs_id: str) -> Cursor:
        """The sync's stored cursor as this source's own."""
        return Cursor(last_inform, acs_id)

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
            total = resp.headers.get("total", "")
            self._total = int(total) if total.isdigit() else None
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
        yielded stay valid.

        One prefetch thread fetches, decodes and reads page N+1 while the caller applies page N
        (the next query needs only the last document of this one): the ACS's time overlaps the
        caller's database work. The queue is one page deep, so at most three pages (applying,
        parsed, in flight) are in memory whatever the fleet's size.

        Where switched on (``process_min``), a long scan (the first page's ``total`` leaves at
        least ``process_min`` documents) hands the reading to a child process
        (:mod:`executors.genieacs.inventory_reader`: in a thread the parsing competes with the
        caller's database work for the GIL). The child starts while this reader goes on; at the
        first page boundary after it is ready, it takes over from that page's cursor, one page
        ahead as well. Same pages, same errors."""
        pool = ThreadPoolExecutor(1, thread_name_prefix="acs-page")
        child: ProcessReader | Literal[False] | None = None
        self.process_pages = 0
        try:
            pending: Future[Page | None] | None = pool.submit(self._next_page, since)
            wait = self.process_wait_s
            while pending is not None:
                page = pending.result()
                if page is None:
                    return
                if child is None and page.full:
                    child = self.reader_process = self._reader_process()
                if child and page.full and child.ready(wait):
                    yield page
                    for later in child.pages(page.cursor):
                        self.process_pages += 1
                        yield later
                    return
                wait = 0.0
                pending = pool.submit(self._next_page, page.cursor) if page.full else None
                yield page
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            if child:
                child.close()
            self.reader_process = None

    def _reader_process(self) -> ProcessReader | Literal[False]:
        """A child reader for the rest of this scan, when it is long enough to repay starting one
        (``process_min``), the client can be rebuilt in a child (``NbiClient.replica_args``) and
        pages are read the stock way (a subclass that reads them differently keeps its own);
        ``False`` (never again this scan) otherwise."""
        args = self.client.replica_args()
        left = (self._total or 0) - self.page_size
        stock = type(self)._next_page is AcsInventorySource._next_page and type(self)._page is AcsInventorySource._page
        if (self.process_min is None or args is None or not stock or left < self.process_min
                or os.name != "posix" or _cores() < 2):
            return False  # (select() takes pipes on POSIX only; with one core a child only adds its own CPU)
        from executors.genieacs.inventory_reader import ProcessReader

        try:
            return ProcessReader(args, self.page_size)
        except OSError as exc:  # no interpreter to start: read in-process
            log.warning("cannot start the inventory page reader process (%s); reading in-process", exc)
            return False

    def _next_page(self, cursor: Cursor | None) -> Page | None:
        """The page after ``cursor``, read (``None`` when there is none)."""
        raw = self._page(cursor.query() if cursor else {}, PROJECTION, ORDER)
        if not raw:
            return None
        after = self._cursor_after(raw, cursor)
        return Page([parse_device(d) for d in raw], after, full=len(raw) >= self.page_size)

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

    def count(self) -> int | None:
        """How many devices the ACS holds: one ``HEAD /devices/`` (GenieACS answers it with the
        ``total`` header of ``countDocuments``, before reading any document); ``None`` when the
        answer carries no count. What a first sync's presence sweep needs instead of every id."""
        try:
            resp = self.client._request("HEAD", "/devices/", params={"query": "{}"})
        except NbiError as exc:
            raise SourceError(exc.message) from None
        if resp.status_code != 200:
            raise SourceError(f"GenieACS NBI rejected the device count with {resp.status_code}")
        total = resp.headers.get("total", "")
        return int(total) if total.isdigit() else None

    def present_ids(self) -> Iterator[list[str]]:
        """Every ``_id`` the ACS holds, in pages, in ``_id`` order (for marking absent devices)."""
        after: str | None = None
        while True:
            raw = self._page({"_id": {"$gt": after}} if after else {}, ("_id",), {"_id": 1})
            # ``type(...) is`` first: the ``Mapping`` ABC check cost more than the rest of the listing.
            ids = [d["_id"] for d in raw
                   if (type(d) is dict or isinstance(d, Mapping)) and isinstance(d.get("_id"), str)]
            if not ids:
                return
            if after is not None and ids[-1] <= after:
                raise SourceError(f"the ACS answered an _id page that does not move past {after!r}; stopped")
            after = ids[-1]
            yield ids
            if len(raw) < self.page_size:
                return


def source_from_settings(settings: Settings | None = None, *, page_size: int = DEFAULT_PAGE,
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
    reader = ReaderSettings()
    return AcsInventorySource(client, page_size=page_size, process_min=reader.reader_process_min or None)


class ReaderSettings(BaseSettings):
    """``GATEWARD_INVENTORY_READER_PROCESS_MIN``: from how many documents still to read a change
    scan reads them in a child process (0, the default: never; the in-process prefetch thread
    reads every page; ``PROCESS_MIN`` = 20000 is a sensible value where it is switched on).
    The child pays off only where a core is free for it: on the benchmark's two cores, shared with
    the NBI double (and the PostgreSQL server), its start-up and pickling cost more than it saved
    in most runs (``gateward bench inventory_sync`` measures both readers in one run)."""

    model_config = SettingsConfigDict(env_prefix="GATEWARD_INVENTORY_", extra="ignore")

    reader_process_min: int = Field(default=0, ge=0,
                                    description="documents to go from which a child process reads the scan (0: never)")


__all__ = ["PROJECTION", "AcsDevice", "AcsInventorySource", "Cursor", "ItemError", "Page", "ReaderSettings",
           "SourceError", "parse_device", "source_from_settings"]
