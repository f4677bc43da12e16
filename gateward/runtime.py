"""Build the process's parts once: store, policy engine, executor router, lifecycle, and the
services over them (campaigns, remediation, chat) — and the event sources a long-running process
listens to (:func:`start_event_sources`).

This is the composition root. ``api`` and the CLI receive a :class:`Runtime`; nothing below
this layer imports it. Why every service is built here, once: a service holds state that must not
be duplicated per caller — the campaign service's queue connection pool on PostgreSQL, the
remediation service's rule/limit files, the chat service's checkpointer — and one place that
builds them is one place that closes them. The API reads them through ``api.deps`` (typed by the
``api.deps.AppRuntime`` protocol, which this class satisfies: the API may not import this layer).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.kernel.config import Settings, get_settings
from core.kernel.jsontypes import JsonObject
from core.routing import ExecutorRouter
from core.store import Store
from executors.base import Executor
from policies.base import PolicyEngine

if TYPE_CHECKING:  # imported where a runtime is built: a read command needs only the router
    from brain.remediation.service import Remediation
    from brain.service import ChatService
    from campaigns.queue import Queue
    from campaigns.service import Campaigns
    from core.inventory_sync import PeriodicSync
    from core.lifecycle import Lifecycle

log = logging.getLogger("gateward.runtime")


class SharedAdapter:
    """One lazily built adapter instance, shared by the router (device calls) and by event listeners.

    Why: the USP controller that answers requests is the one that receives the agents'
    notifications (one MQTT connection, one endpoint ID); an event source must listen on that very
    instance, not build a second controller."""

    def __init__(self, factory: Callable[[], Executor]) -> None:
        self._factory = factory
        self._instance: Executor | None = None
        self._lock = threading.Lock()

    def get(self) -> Executor:
        with self._lock:
            if self._instance is None:
                self._instance = self._factory()
            return self._instance

    def close(self) -> None:
        with self._lock:
            inst, self._instance = self._instance, None
        if inst is not None:
            inst.close()


@dataclass
class Runtime:
    """The process's parts. The core ones are built by :func:`build_runtime`; the services over them
    on first use (each costs imports and file loads a read command never needs), once per runtime,
    under a lock (API requests run on a thread pool)."""

    settings: Settings
    store: Store
    policy: PolicyEngine
    router: ExecutorRouter
    lifecycle: Lifecycle
    usp: SharedAdapter | None = None  # the router's USP adapter (None when a caller brought its own router)
    _campaigns: Campaigns | None = field(default=None, init=False, repr=False)
    _queue: Queue | None = field(default=None, init=False, repr=False)
    _remediation: Remediation | None = field(default=None, init=False, repr=False)
    _chat: ChatService | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def campaigns(self) -> Campaigns:
        """The campaign service; on PostgreSQL it holds a queue connection pool that hands new
        batches to the workers at once (on SQLite the workers' watchdog picks them up)."""
        with self._lock:
            if self._campaigns is None:
                from campaigns.queue import Queue, is_postgres
                from campaigns.service import Campaigns

                if is_postgres(self.store.url):
                    self._queue = Queue.for_url(self.store.url).open_sync()
                self._campaigns = Campaigns(self, self._queue)
            return self._campaigns

    @property
    def remediation(self) -> Remediation:
        """The remediation service (rules, profiles and limits loaded once)."""
        with self._lock:
            if self._remediation is None:
                from brain.remediation.service import Remediation

                self._remediation = Remediation(self)
            return self._remediation

    @property
    def chat(self) -> ChatService:
        """The planner's chat service (offline playbooks, or the LLM when ``OPENAI_*`` is set).
        Raises ImportError in a build without the planner; the API answers 503 for chat alone."""
        with self._lock:
            if self._chat is None:
                from brain.service import ChatService

                self._chat = ChatService(self)
            return self._chat

    def close(self) -> None:
        with self._lock:
            chat, self._chat = self._chat, None
            queue, self._queue = self._queue, None
            self._campaigns = self._remediation = None
        if chat is not None:
            chat.close()
        if queue is not None:
            queue.close()
        self.router.close()
        if self.usp is not None:
            self.usp.close()
        self.policy.close()
        self.store.dispose()


def build_runtime(settings: Settings | None = None, *, database_url: str | None = None,
                  policy: PolicyEngine | None = None, router: ExecutorRouter | None = None) -> Runtime:
    from core.lifecycle import Lifecycle
    from policies.engine import load_engine

    settings = settings or get_settings()
    store = Store(database_url or settings.resolved_database_url())
    engine = policy or load_engine(settings)
    usp: SharedAdapter | None = None
    if router is None:
        usp = usp_adapter(settings, store)
        router = default_router(settings, store, usp=usp)
    lifecycle = Lifecycle(store, engine, router, settings)
    # The one gate admits a staged batch only as the campaign holding its proposal allows (its rings,
    # batches and rehearsal): bound once, here, like the grant verifier below.
    from campaigns.admission import CampaignAdmission

    lifecycle.bind_stage_authority(CampaignAdmission())
    # The router's adapters accept this lifecycle's write grants only (nothing process-wide: two
    # runtimes in one process never accept each other's); one-shot, so a router already bound to
    # another lifecycle raises here instead of writing under either.
    router.bind_grant_verifier(lifecycle.grant_verifier)
    return Runtime(settings, store, engine, router, lifecycle, usp)


def usp_adapter(settings: Settings, store: Store | None = None) -> SharedAdapter:
    """The USP adapter, built on first use. With ``store``: agents' topics are kept there for every
    process, and every instance this process's controller makes on an agent (the keeper's
    subscriptions, the Boot! subscription before a reboot, the OperationComplete one before an async
    command) is added to the device's stored model at once (``gateward.agent_setup.created_hook``),
    and every instance it deletes removed from it (``deleted_hook``; ``gateward usp unsubscribe``'s
    own controller is wired the same way) — in a CLI process as in ``gateward run``, so a change to
    one it made is not refused as missing, and one to an instance it deleted is."""
    def _usp() -> Executor:
        from core.usp_topics import TopicBook
        from executors import usp

        adapter = usp.factory(settings, TopicBook(store) if store is not None else None)
        if store is not None:
            from gateward.agent_setup import created_hook, deleted_hook

            adapter.keeper.on_created = created_hook(store)
            adapter.keeper.on_deleted = deleted_hook(store)
        return adapter

    return SharedAdapter(_usp)


def default_router(settings: Settings, store: Store, *, usp: SharedAdapter | None = None) -> ExecutorRouter:
    """The simulator always; the GenieACS adapter when ``GATEWARD_GENIEACS_URL`` is set; the USP
    controller (over ``GATEWARD_MQTT_URL``) on first use by a device whose adapter is ``usp`` (or
    when :func:`start_event_sources` starts listening). Adapters are created lazily, so an
    unconfigured one costs nothing."""
    from executors.sim.executor import SimExecutor

    sim_url = settings.sim_database_url or store.url
    router = ExecutorRouter({"sim": lambda: SimExecutor(database_url=sim_url)})
    if settings.genieacs_url:
        def _genieacs() -> Executor:
            from executors import genieacs

            return genieacs.factory(settings)

        router.register("genieacs", _genieacs)

    router.register("usp", (usp or usp_adapter(settings, store)).get)
    return router


# ============================================================================ event sources
def usp_events_wanted(runtime: Runtime) -> tuple[bool, str]:
    """Whether a long-running process should listen for USP notifications, and why (or why not).

    Yes when ``GATEWARD_MQTT_URL`` is set explicitly, or any device's adapter is ``usp``. The default
    simulated fleet needs neither, so ``make run`` on a laptop without a broker dials nothing."""
    from sqlalchemy import select

    from core.store.schema import DeviceRow

    if runtime.usp is None:
        return False, "this runtime was built with its own executor router"
    if "mqtt_url" in runtime.settings.model_fields_set:
        return True, "GATEWARD_MQTT_URL is set"
    with runtime.store.read() as s:
        if s.scalar(select(DeviceRow.id).where(DeviceRow.adapter == "usp").limit(1)) is not None:
            return True, "devices use the usp adapter"
    return False, "no device uses the usp adapter and GATEWARD_MQTT_URL is not set"


def usp_fleet_endpoints(store: Store, endpoints: Sequence[str]) -> set[str]:
    """Which of ``endpoints`` are bound to an active USP device of the fleet — the predicate the USP
    controller asks before it writes subscriptions into an agent (``executors.usp.keeper``).

    Why here: the executor layer may not read the inventory, and onboarding is security-sensitive:
    an agent that merely reached the broker (pending) or that an admin rejected must not be written
    to. Bound is what onboarding's screening uses (``core.onboarding``): the OUI (case-blind) and
    serial an ``os::OUI-Serial`` endpoint ID names, on a device whose protocol is ``usp``; active is
    ``status = 'active'`` (not retired, not absent)."""
    from sqlalchemy import select

    from core.inventory import ENDPOINT_ID_RE
    from core.store.schema import DeviceRow

    wanted: dict[tuple[str, str], str] = {}
    for ep in endpoints:
        m = ENDPOINT_ID_RE.match(ep)
        if m is not None:
            wanted[(m.group(1).upper(), m.group(2))] = ep
    out: set[str] = set()
    serials = sorted({serial for _, serial in wanted})
    with store.read() as s:
        for start in range(0, len(serials), 900):  # bound parameters per statement (SQLite: 999)
            rows = s.execute(select(DeviceRow.oui, DeviceRow.serial).where(
                DeviceRow.serial.in_(serials[start:start + 900]), DeviceRow.status == "active",
                DeviceRow.protocol == "usp"))
            for oui, serial in rows:
                bound = wanted.get(((oui or "").upper(), serial))
                if bound is not None:
                    out.add(bound)
    return out


class UspEvents:
    """The USP controller's notifications, recorded: ``Boot!``, OnBoardRequest and ValueChange become
    ``device_events`` rows (once each, see ``brain.remediation.ingest``), move ``last_seen``, open
    zero-touch provisioning after a factory reset or first contact, and feed the detectors.

    Runs on its own thread (:class:`~brain.remediation.ingest.IngestPump`). Starting never waits for
    the broker: while it is away a warning says so (once, then every ``warn_every_s``) and the
    controller is retried in the background with back-off up to ``retry_max_s``."""

    def __init__(self, runtime: Runtime, *, interval_s: float = 0.25, retry_max_s: float = 30.0,
                 warn_every_s: float = 300.0, on_connect: Callable[[str], None] | None = None) -> None:
        from brain.remediation.ingest import Ingestor, IngestPump, UspSource

        if runtime.usp is None:
            raise ValueError("USP events need the runtime's own USP adapter (build_runtime without a router)")
        self.runtime, self._adapter = runtime, runtime.usp
        self.retry_max_s, self.warn_every_s, self.on_connect = retry_max_s, warn_every_s, on_connect
        self.source = UspSource()
        self.connected = False
        self.error: str | None = None  # a configuration error: nothing to retry until it is fixed
        self._executor: Any = None
        self._next_try = 0.0
        self._backoff = 1.0
        self._warned_at: float | None = None
        self.never_reached: Any = None  # gateward.agent_setup.NeverReached, once connected
        self.pump = IngestPump(Ingestor(runtime.remediation), self.source, interval_s=interval_s,
                               prepare=self._prepare, name="usp-events")

    @property
    def url(self) -> str:
        """The broker's URL as it may be shown: without its password."""
        from executors.usp.mqtt_tls import redact_url

        return redact_url(self.runtime.settings.mqtt_url)

    def start(self) -> UspEvents:
        self.pump.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.never_reached is not None:
            self.never_reached.stop(timeout)
        self.pump.stop(timeout)

    def _prepare(self) -> bool:
        """Called by the pump before each round: build and attach the adapter, connect it."""
        if self.error is not None:
            return False
        if self._executor is None:
            from executors.usp.mqtt import MqttError

            try:
                self._executor = self._adapter.get()
            except (ValueError, MqttError) as exc:  # GATEWARD_USP_* out of range, a TLS file that is not
                # one: say so once, keep serving (retrying a configuration error only repeats it)
                self.error = str(exc)
                log.error("USP events are off: %s", exc)
                return False
            self.source.attach(self._executor)
            self._keep_subscriptions(self._executor)
            self._serve_websocket(self._executor)
        if self._executor.controller.started:
            return self._connected()
        now = time.monotonic()
        if now < self._next_try:
            return False
        if self._executor.connect():
            return self._connected()
        self._next_try = now + self._backoff
        if self._warned_at is None or now - self._warned_at >= self.warn_every_s:
            self._warned_at = now
            log.warning("USP events: no MQTT broker answers at %s (%s); retrying in the background every "
                        "%gs at most — Boot!, OnBoardRequest and ValueChange are not recorded until it does",
                        self.url, self._executor.last_connect_error or "refused", self.retry_max_s)
        self._backoff = min(self._backoff * 2, self.retry_max_s)
        return False

    def _keep_subscriptions(self, executor: Any) -> None:
        """This is the long-running controller: it keeps the subscriptions it relies on in place on
        the fleet's agents — only those bound to an active device (:func:`usp_fleet_endpoints`), never
        on a pending or rejected one — unless ``GATEWARD_USP_AUTO_SUBSCRIBE=0``."""
        from executors.usp import controller_options

        try:
            wanted = controller_options()["auto_subscribe"]
        except ValueError as exc:
            log.error("USP subscriptions are not kept: %s", exc)
            return
        if wanted:  # what it creates is stored by the hook the adapter was built with (usp_adapter)
            store = self.runtime.store
            executor.enable_auto_subscribe(lambda endpoints: usp_fleet_endpoints(store, endpoints))

    def _serve_websocket(self, executor: Any) -> None:
        """``GATEWARD_USP_WS_LISTEN``: agents connect to this process over WebSocket too (TR-369's
        WebSocket MTP, ``executors.usp.websocket``); ``GATEWARD_USP_WS_CONNECT``: this process opens
        WebSockets to agents' own servers and keeps them open. Started once, on the controller's loop,
        whether or not the broker answers yet."""
        from executors.usp.websocket import WsSettings, connect_urls_from_env

        try:
            settings, urls = WsSettings.from_env(), connect_urls_from_env()
        except ValueError as exc:
            log.error("USP WebSocket MTP is off: %s", exc)
            return
        if settings is not None:
            try:
                server = executor.runner.run(executor.controller.serve_websocket(settings), timeout=10)
            except OSError as exc:
                log.error("USP WebSocket MTP: cannot listen on %s:%s (%s)", settings.host, settings.port, exc)
            else:
                log.info("USP WebSocket MTP: agents connect to %s", server.url)
        for url in urls:
            executor.runner.submit(executor.controller.keep_websocket(url))

    def _connected(self) -> bool:
        if not self.connected:
            self.connected = True
            self._backoff = 1.0
            if self._executor.auto_subscribe and self.never_reached is None:
                # registered agents that never answered are retried until they do (gateward.agent_setup)
                from gateward.agent_setup import NeverReached

                self.never_reached = NeverReached(self.runtime).start()
            what = f"USP events: listening on {self.url} as {self._executor.controller.endpoint_id}"
            log.info(what)
            if self.on_connect is not None:
                self.on_connect(what)
        return True


def start_event_sources(runtime: Runtime, *, usp: bool | None = None,
                        on_connect: Callable[[str], None] | None = None) -> tuple[UspEvents | None, str]:
    """Start what a long-running process (``gateward run``, ``gateward worker``) listens to: today the
    USP controller's notifications. ``usp=None`` decides by :func:`usp_events_wanted`; returns the
    started source (or None) and a line saying what was decided, for the operator."""
    if usp is False:
        return None, "USP events: off (asked to be)"
    wanted, why = usp_events_wanted(runtime)
    if usp and runtime.usp is not None:
        wanted, why = True, "asked to be"
    if not wanted:
        return None, f"USP events: off ({why})"
    events = UspEvents(runtime, on_connect=on_connect).start()
    return events, f"USP events: on ({why}); connecting to {events.url} in the background"


# ============================================================================ inventory from the ACS
def start_inventory_sync(runtime: Runtime) -> tuple[PeriodicSync | None, str]:
    """Start the periodic inventory sync from GenieACS (``core.inventory_sync.PeriodicSync``) for a
    long-running process; off when ``GATEWARD_GENIEACS_URL`` is unset or
    ``GATEWARD_INVENTORY_SYNC_S`` is 0. Returns the started sync (or None) and a line for the operator."""
    from core.inventory_sync import InventorySync, InventorySyncSettings, PeriodicSync

    own = InventorySyncSettings()
    if not runtime.settings.genieacs_url:
        return None, "inventory sync: off (GATEWARD_GENIEACS_URL is not set)"
    if own.sync_s <= 0:
        return None, "inventory sync: off (GATEWARD_INVENTORY_SYNC_S is 0)"
    from executors.genieacs.inventory import source_from_settings

    try:
        source = source_from_settings(runtime.settings, page_size=own.page_size)
    except (LookupError, ValueError) as exc:
        return None, f"inventory sync: off ({exc})"
    periodic = PeriodicSync(lambda: InventorySync(runtime.store, source, region=own.region, service=own.service),
                            own.sync_s).start()
    return periodic, f"inventory sync: from {source.client.base_url} every {own.sync_s:g}s"


# ============================================================================ scheduled detectors
class DetectorSettings(BaseSettings):
    """``GATEWARD_DETECT_*``: the detector schedule of ``gateward run``."""

    model_config = SettingsConfigDict(env_prefix="GATEWARD_DETECT_", extra="ignore")

    interval_s: float = Field(default=300.0, ge=0, le=7 * 86400,
                              description="seconds between detector runs in `gateward run` (0: off)")


class PeriodicDetect:
    """The remediation detectors every ``interval_s`` in a daemon thread; the first run after one
    interval (a server that just started has not heard from its devices yet, and "detect now" in
    the console or ``POST /api/remediation/detect`` runs them at once).

    Why a schedule in the serving process: detectors are what turns telemetry into cases; when only
    `gateward remediation detect` ran them, a fleet served by `gateward run` never opened a case
    on its own. A run is idempotent (cases are deduplicated per device and problem, with cooldowns),
    so two serving processes on one database only repeat work; a failing run is logged and retried
    at the next tick, never kills the thread."""

    def __init__(self, runtime: Runtime, interval_s: float) -> None:
        self.runtime, self.interval_s = runtime, interval_s
        self.last: JsonObject | None = None
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PeriodicDetect:
        self._thread = threading.Thread(target=self._loop, name="remediation-detect", daemon=True)
        self._thread.start()
        return self

    def run_once(self) -> JsonObject:
        self.last = self.runtime.remediation.detect()
        self.runs += 1
        return self.last

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # a database restart or a bad rule file must not end the schedule
                log.exception("scheduled detector run failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def start_detectors(runtime: Runtime, interval_s: float | None = None) -> tuple[PeriodicDetect | None, str]:
    """Start the detector schedule for ``gateward run`` (``GATEWARD_DETECT_INTERVAL_S``, default 300;
    0 turns it off). Returns the started schedule (or None) and a line for the operator."""
    every = DetectorSettings().interval_s if interval_s is None else interval_s
    if every <= 0:
        return None, "detectors: off (GATEWARD_DETECT_INTERVAL_S is 0); `gateward remediation detect` runs them"
    return PeriodicDetect(runtime, every).start(), f"detectors: every {every:g}s (GATEWARD_DETECT_INTERVAL_S)"


# ============================================================================ HTTP serving
HTTP_IMPLS = ("auto", "httptools", "h11")
LOOP_IMPLS = ("auto", "uvloop", "asyncio")
MAX_WORKERS = 16


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def server_impls(http: str = "auto", loop: str = "auto") -> tuple[str, str]:
    """The HTTP parser and event loop ``gateward run`` serves with: ``auto`` is httptools and uvloop
    when installed (``pip install 'uvicorn[standard]'``, a dependency of the project) — C
    implementations, several times cheaper per request than uvicorn's pure-Python h11 parser and
    the stdlib asyncio loop — else h11 and asyncio. A named one that is missing is a clear error."""
    if http not in HTTP_IMPLS:
        raise ValueError(f"--http is one of {', '.join(HTTP_IMPLS)} (got {http!r})")
    if loop not in LOOP_IMPLS:
        raise ValueError(f"--loop is one of {', '.join(LOOP_IMPLS)} (got {loop!r})")
    for name in (http, loop):
        if name in ("httptools", "uvloop") and not _importable(name):
            raise ValueError(f"{name} is not installed (pip install 'uvicorn[standard]')")
    if http == "auto":
        http = "httptools" if _importable("httptools") else "h11"
    if loop == "auto":
        loop = "uvloop" if _importable("uvloop") else "asyncio"
    return http, loop


def api_worker_app() -> Any:
    """The app of one extra ``gateward run --workers N`` process (a uvicorn factory).

    Why this is safe: each worker builds its own runtime over the same database, and everything
    the processes share lives there — the simulated fleet's state, the live-feed bus (PostgreSQL
    ``LISTEN`` or a per-process SQLite watcher), chat thread leases, the proposal list's render
    cache (keyed by row version). Per process and not shared: the token cache (so a revocation on
    one worker reaches the others within ``GATEWARD_TOKEN_CACHE_S``), the load-shedding slots,
    and the ``/metrics`` counters (a scrape reads the worker it reaches). The background parts
    (campaign worker, event sources, inventory sync, detectors, crash recovery) run once, in the
    supervising process."""
    from api.app import create_app
    from gateward.heap import freeze_start_up_heap

    app = create_app(build_runtime())
    freeze_start_up_heap()  # this process's start-up heap lives as long as it does (gateward.heap)
    return app
