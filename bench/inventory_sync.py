"""Inventory sync (issue 11): 100,000 devices from the local GenieACS NBI, and a 10,000-agent USP
connect wave onboarded from an allow list.

Why: an operator's first ``gateward devices sync --source genieacs`` reads the whole ACS; later
runs read only what informed since. It must be fast enough to run every few minutes and must not
hold the fleet in memory (peak memory flat in the device count: a bounded number of pages at a
time). A broker restart brings every agent back at once; onboarding must keep up and lose none.

Set up: the local NBI (``testing.genieacs.fake_nbi``) in a child process — GenieACS is a separate
service, and this keeps its rendering off the measured process — bulk-loaded with N device listings
(``FakeNbi.load_devices``: no twin session per device); the sync in a second, freshly spawned child
(its peak RSS is the sync's, nothing of this process's), against a fresh store per size (a SQLite
file, or a fresh schema of the PostgreSQL ``GATEWARD_BENCH_DATABASE_URL`` names); the
real HTTP client, paging (keyset by ``_lastInform``, 1,000 per page), parsing, validation, inserts
and audit. Per size:

* *baseline*: a bare client (HTTP + ``orjson.loads``, nothing else) pages the same NBI the way the
  change scan does: what the NBI double alone can serve on this machine, and its CPU per device;
* *first sync*: N devices registered (change scan + presence sweep);
* *re-sync, nothing changed*: the change scan finds nothing new and reads the documents of its
  look-back again (the fleet informs over an hour, the look-back is 10 min: N/6, written nothing),
  the sweep lists all N;
* *re-sync, 1% changed*: 1% of the devices informed with a new firmware (N/100 updates, audited),
  plus the look-back;
* *re-sync, all informed, 1% changed*: every device informed again (periodic informs), 1% with a
  new firmware: the change scan re-reads all N and writes only what moved;
* *peak RSS* of the syncing process (``VmHWM``) after its first sync, at two sizes (flat = bounded).

devices/s of a re-sync is N over its time (the devices it covered). CPU per device is the syncing
process's (all its threads) and the NBI child's, read from ``/proc``. The connect wave drives
``UspSource.on_event`` (OnBoardRequest, and a Boot! from every tenth agent: flapping) and
``core.onboarding.screen_first_contacts`` with an OUI allow list; lost = agents without a device
and an accepted request afterwards.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.accounting import proc_cpu_s
from bench.framework import BenchResult

NAME = "inventory_sync"
KEYS = ("devices_per_s", "baseline_devices_per_s", "wave_lost")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = ("ACS inventory sync of 100k devices (first sync, re-syncs, NBI baseline, peak RSS flat) "
               "+ 10k-agent onboarding wave")
OUI, PC = "00D09E", "CGW3400"
PAGE = 1000
T0 = 1.7e9  # the fleet's first inform
#: The fleet's informs spread over an hour, as periodic informs are: an incremental re-sync reads
#: the devices of its look-back again (``GATEWARD_INVENTORY_OVERLAP_S``, 10 min: a sixth of them).
SPAN_S = 3600.0


# ---------------------------------------------------------------------------- the NBI, in a child
def _record(i: int, at: float, models: list[Any], model: int) -> Any:
    from executors.genieacs.ids import genieacs_device_id
    from testing.genieacs.fake_store import listing_record

    sn = f"SN{i:08d}"
    return listing_record(genieacs_device_id(OUI, PC, sn),
                          {"Manufacturer": "Vantec", "OUI": OUI, "ProductClass": PC, "SerialNumber": sn},
                          at, *models[model])


def _serve(n: int, conn: Any) -> None:
    """The NBI child: ``n`` listings, then commands from the pipe until ``stop``: ``("inform",
    every, changed_every, at, release)`` makes every ``every``-th device inform at ``at`` (+1 ms
    each), every ``changed_every``-th of all devices with its model's firmware ``release``."""
    from executors.sim.twin import Twin
    from testing.genieacs.fake_nbi import FakeNbi
    from testing.genieacs.fake_store import listing_template

    tmp = tempfile.mkdtemp(prefix="gw-bench-nbi-")
    twin = Twin(f"sqlite:///{tmp}/twin.db")
    nbi = FakeNbi(twin, tick_s=None)
    models = [listing_template("Device", "Vantec", "CGW-3400", fw, "B1", T0) for fw in ("7.2", "7.4")]
    models.append(listing_template("InternetGatewayDevice", "Sinotel", "HG8020", "S105", "", T0))
    nbi.load_devices(_record(i, T0 + i * SPAN_S / n, models, i % 3) for i in range(n))
    conn.send(nbi.start())
    while (cmd := conn.recv()) != "stop":
        _, every, changed_every, at, release = cmd
        models[3:] = [listing_template("Device", "Vantec", "CGW-3400", f"7.{release}", "B1", at),
                      listing_template("Device", "Vantec", "CGW-3400", f"7.{release}", "B1", at),
                      listing_template("InternetGatewayDevice", "Sinotel", "HG8020", f"S1{release}", "", at)]
        nbi.load_devices(_record(i, at + k * 0.001, models, i % 3 + (3 if i % changed_every == 0 else 0))
                         for k, i in enumerate(range(0, n, every)))
        conn.send("done")
    nbi.stop()
    twin.close()


class _Acs:
    def __init__(self, n: int) -> None:
        ctx = mp.get_context("fork")
        self.n = n
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(n, child), daemon=True)
        self.proc.start()
        self.url: str = self.conn.recv()
        self.informed_at = T0 + SPAN_S + 60.0
        self.release = 10
        self.warm()

    def warm(self) -> None:
        """One 1-document page: the NBI double sorts its index once after a change (MongoDB keeps
        its index up to date as devices inform), so that sort is not billed to the next reader."""
        import httpx

        httpx.get(f"{self.url}/devices/", params={"query": "{}", "sort": '{"_lastInform":1,"_id":1}',
                                                  "projection": "_id", "limit": "1"}, timeout=600).raise_for_status()

    def inform(self, every: int, changed_every: int) -> None:
        """Every ``every``-th device informs again (later than anything listed so far), every
        ``changed_every``-th with a new firmware release of its model."""
        self.release += 1
        self.conn.send(("inform", every, changed_every, self.informed_at, self.release))
        self.conn.recv()
        self.informed_at += self.n * 0.001 + 60.0
        self.warm()

    def cpu_s(self) -> float:
        """CPU seconds the NBI child has used (Linux ``/proc``; 0 elsewhere): what the ACS side
        costs, reported next to Gateward's own CPU so a wall figure on a busy machine can be read."""
        return proc_cpu_s(self.proc.pid or 0) or 0.0

    def close(self) -> None:
        self.conn.send("stop")
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.terminate()


def _status_kb(key: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process in kB (Linux; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _sqlite_memory_peak() -> int:
    """SQLite's own allocation high-water mark in bytes (its page cache, mostly: sized by
    ``core.store.db``'s ``cache_size``), read from the libsqlite3 the ``sqlite3`` module uses
    (Linux; 0 where it cannot be loaded). Peak RSS less this is Gateward's own."""
    import ctypes
    import ctypes.util

    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        lib.sqlite3_memory_highwater.restype = ctypes.c_int64
        return int(lib.sqlite3_memory_highwater(0))
    except (OSError, AttributeError):
        return 0


# ---------------------------------------------------------------------------- the syncing child
def _children_cpu_s() -> float:
    """CPU seconds of this process's ended children (the page reader child, reaped when its scan ends)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children_hwm_kb() -> int:
    """Peak RSS (kB) of the largest ended child of this process (the page reader), 0 if none."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def _syncer(url: str, db_url: str, conn: Any, reader: str = "default") -> None:
    """A fresh process that syncs on each ``"sync"`` and answers the run's figures; its peak RSS
    is the sync's own (spawned: nothing inherited from the bench process). ``reader``: ``default``
    (the product's: ``GATEWARD_INVENTORY_READER_PROCESS_MIN``, off unless set), ``child`` (a child
    reads a scan of at least ``PROCESS_MIN`` documents), ``thread``
    (always in-process) or ``process`` (a child for every multi-page scan)."""
    from core.inventory_sync import InventorySync
    from core.store.db import Store
    from executors.genieacs.inventory import PROCESS_MIN, AcsInventorySource, ReaderSettings
    from executors.genieacs.nbi import NbiClient

    store = Store(db_url)
    source = AcsInventorySource(NbiClient(url, timeout_s=600), page_size=PAGE,
                                process_min={"default": ReaderSettings().reader_process_min or None,
                                             "child": PROCESS_MIN, "thread": None}[reader])
    conn.send({"rss_kb": _status_kb("VmRSS"), "file_kb": _status_kb("RssFile")})
    while conn.recv() == "sync":
        start, cpu = time.perf_counter(), time.process_time()  # process_time: every thread of the process
        main = time.thread_time()  # this thread alone: the database work; the rest is the prefetch thread
        child = _children_cpu_s()  # the page reader child, once it has ended (reaped at the scan's end)
        report = InventorySync(store, source).run()
        elapsed, cpu, main = time.perf_counter() - start, time.process_time() - cpu, time.thread_time() - main
        conn.send({"report": report.as_dict(), "seconds": elapsed, "cpu_s": cpu, "main_cpu_s": main,
                   "reader_cpu_s": _children_cpu_s() - child, "reader_pages": source.process_pages,
                   "reader_hwm_kb": _children_hwm_kb() if source.process_pages else 0,
                   "hwm_kb": _status_kb("VmHWM"),
                   "rss_kb": _status_kb("VmRSS"), "file_kb": _status_kb("RssFile"),
                   "sqlite_peak": _sqlite_memory_peak()})
    store.engine.dispose()
    source.client.close()


class _Syncer:
    def __init__(self, url: str, db_url: str, reader: str = "default") -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_syncer, args=(url, db_url, child, reader), daemon=True)
        self.proc.start()
        started = self.conn.recv()
        self.rss_kb: int = started["rss_kb"]
        self.file_kb: int = started["file_kb"]  # file-backed before the sync: code, libraries

    def sync(self, acs: _Acs) -> dict[str, Any]:
        load, nbi = os.getloadavg()[0], acs.cpu_s()
        self.conn.send("sync")
        out: dict[str, Any] = self.conn.recv()
        out["nbi_cpu_s"], out["load"] = acs.cpu_s() - nbi, load
        if out["report"]["error"]:
            raise RuntimeError(f"inventory sync failed: {out['report']}")
        return out

    def close(self) -> None:
        self.conn.send("stop")
        self.proc.join(timeout=30)
        if self.proc.is_alive():
            self.proc.terminate()


# ---------------------------------------------------------------------------- the baseline
def _baseline(acs: _Acs) -> dict[str, Any]:
    """A bare client pages the NBI exactly as the change scan does (same query, projection, sort,
    page size, keyset), decoding each page and nothing else: the NBI double's own serving rate."""
    import httpx
    import orjson

    from executors.genieacs.inventory import ORDER, PROJECTION

    nbi, cpu, start = acs.cpu_s(), time.process_time(), time.perf_counter()
    seen, after = 0, None
    with httpx.Client(base_url=acs.url, timeout=600) as http:
        while True:
            query: dict[str, Any] = ({"$or": [{"_lastInform": {"$gt": after[0]}},
                                              {"_lastInform": after[0], "_id": {"$gt": after[1]}}]}
                     if after else {})
            resp = http.get("/devices/", params={"query": json.dumps(query), "projection": ",".join(PROJECTION),
                                                 "sort": json.dumps(ORDER), "limit": str(PAGE)})
            resp.raise_for_status()
            docs = orjson.loads(resp.content)
            seen += len(docs)
            if len(docs) < PAGE:
                break
            after = (docs[-1]["_lastInform"], docs[-1]["_id"])
    elapsed = time.perf_counter() - start
    if seen != acs.n:
        raise RuntimeError(f"the baseline read {seen} documents, not {acs.n}")
    return {"seconds": elapsed, "per_s": acs.n / elapsed, "client_cpu_us": 1e6 * (time.process_time() - cpu) / acs.n,
            "nbi_cpu_us": 1e6 * (acs.cpu_s() - nbi) / acs.n}


# ---------------------------------------------------------------------------- connect wave
def _wave(n: int, tmp: Path) -> dict[str, Any]:
    from sqlalchemy import func, select

    from brain.remediation.ingest import UspSource
    from core.onboarding import AllowList, screen_first_contacts
    from core.store.db import Store
    from core.store.schema import DeviceRow, OnboardingRow
    from executors.usp.controller import UspEvent

    store = Store(f"sqlite:///{tmp / 'wave.db'}")
    allow = AllowList(ouis=frozenset({"C0FFEE"}), region="DE")
    src = UspSource()
    agents = [(f"os::C0FFEE-W{i:07d}", f"W{i:07d}") for i in range(n)]
    for ep, sn in agents:
        src.on_event(UspEvent("onboard", ep, time.time(), {"oui": "C0FFEE", "product_class": "PX9",
                                                           "serial_number": sn}, "sub", uuid.uuid4().hex[:8]))
    for ep, _ in agents[::10]:  # every tenth agent flaps: its Boot! lands in the same round
        src.on_event(UspEvent("boot", ep, time.time(), {"Cause": "LocalReboot"}, "sub",
                              uuid.uuid4().hex[:8]))
    signals, _ = src.poll(None)
    start = time.perf_counter()
    out = screen_first_contacts(store, signals, allow)
    elapsed = time.perf_counter() - start
    with store.read() as s:
        devices = s.scalar(select(func.count()).select_from(DeviceRow).where(DeviceRow.adapter == "usp")) or 0
        accepted = s.scalar(select(func.count()).select_from(OnboardingRow)
                            .where(OnboardingRow.status == "accepted")) or 0
    store.engine.dispose()
    return {"agents": n, "signals": len(signals), "seconds": round(elapsed, 3),
            "agents_per_s": round(n / elapsed, 1), "lost": n - min(devices, accepted),
            "went_on_known": sum(1 for sg in out if sg.device_id)}


# ---------------------------------------------------------------------------- run
def _figures(n: int, run: dict[str, Any]) -> dict[str, Any]:
    """One run's rate and where its CPU went: the syncing process's main thread (the database
    work), its other threads (the in-process page reader), the reader child, the NBI; and the rate
    the machine's cores could give at that CPU a device if nothing else ran (``cpu_bound_per_s``)."""
    gateward = run["cpu_s"] + run["reader_cpu_s"]
    total = gateward + run["nbi_cpu_s"]
    return {"seconds": round(run["seconds"], 2), "per_s": round(n / run["seconds"], 1),
            "cpu_us": round(1e6 * gateward / n, 1), "nbi_cpu_us": round(1e6 * run["nbi_cpu_s"] / n, 1),
            "main_cpu_us": round(1e6 * run["main_cpu_s"] / n, 1),
            "other_cpu_us": round(1e6 * (run["cpu_s"] - run["main_cpu_s"]) / n, 1),
            "reader_cpu_us": round(1e6 * run["reader_cpu_s"] / n, 1), "reader_pages": run["reader_pages"],
            "cpu_bound_per_s": round((os.cpu_count() or 1) * n / total, 1) if total else float("nan"),
            "load": round(run["load"], 1), "report": run["report"]}


def _database(n: int, tmp: Path) -> tuple[str, Any]:
    """(url, cleanup) of a fresh store for one size: a SQLite file, or a fresh schema in the
    PostgreSQL ``GATEWARD_BENCH_DATABASE_URL`` names (dropped afterwards)."""
    base = os.environ.get("GATEWARD_BENCH_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp / f'sync-{n}.db'}", lambda: None
    from sqlalchemy import text

    from testing.databases import pg_schema_url

    url, admin, schema = pg_schema_url(base)

    def cleanup() -> None:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url, cleanup


def _other_first_sync(acs: _Acs, tmp: Path, reader: str) -> dict[str, Any]:
    """A first sync of the same fleet with the other page reader (``child`` or ``thread``) into its
    own fresh store: the same run's comparison for the product's default reader."""
    (tmp / reader).mkdir(exist_ok=True)
    db_url, drop = _database(acs.n, tmp / reader)
    try:
        syncer = _Syncer(acs.url, db_url, reader=reader)
        try:
            return syncer.sync(acs)
        finally:
            syncer.close()
    finally:
        drop()


def _size(n: int, tmp: Path) -> dict[str, Any]:
    """Every measure at one fleet size (module docstring)."""
    from executors.genieacs.inventory import PROCESS_MIN, ReaderSettings

    default_min = ReaderSettings().reader_process_min
    other_reader = "child" if not default_min else "thread"  # the one the product does not use by default
    acs = _Acs(n)
    db_url, drop = _database(n, tmp)
    try:
        baseline = _baseline(acs)
        other = _other_first_sync(acs, tmp, other_reader) if n - PAGE >= PROCESS_MIN else None
        syncer = _Syncer(acs.url, db_url)
        try:
            first = syncer.sync(acs)
            if first["report"]["registered"] != n:
                raise RuntimeError(f"the first sync registered {first['report']['registered']} of {n} devices")
            same = syncer.sync(acs)
            acs.inform(every=100, changed_every=1)  # 1% inform, each with a new firmware
            some = syncer.sync(acs)
            acs.inform(every=1, changed_every=100)  # all inform, 1% with a new firmware
            every = syncer.sync(acs)
        finally:
            syncer.close()
    finally:
        acs.close()
        drop()
    for label, run, updated in (("1%", some, n // 100), ("all informed", every, n // 100)):
        if run["report"]["updated"] != updated:
            raise RuntimeError(f"re-sync ({label}) updated {run['report']['updated']} devices, not {updated}")
    mapped_mb = max(0, first["file_kb"] - syncer.file_kb) / 1024  # the database pages SQLite's mmap touched
    return {"n": n, "baseline": baseline, "first": _figures(n, first), "same": _figures(n, same),
            "some": _figures(n, some), "every": _figures(n, every), "rss_start_mb": syncer.rss_kb / 1024,
            "other": _figures(n, other) if other else None, "other_reader": other_reader,
            "peak_rss_mb": first["hwm_kb"] / 1024, "sqlite_peak_mb": first["sqlite_peak"] / 2**20,
            "file_mb": first["file_kb"] / 1024, "mapped_mb": mapped_mb,
            "own_peak_mb": first["hwm_kb"] / 1024 - first["sqlite_peak"] / 2**20 - mapped_mb,
            "reader_peak_mb": first["reader_hwm_kb"] / 1024, "pages": first["report"]["pages"]}


def run(quick: bool) -> BenchResult:
    sizes = [2_000, 10_000] if quick else [10_000, 100_000]
    wave_n = 2_000 if quick else 10_000
    os.environ.setdefault("GATEWARD_HOME", tempfile.mkdtemp(prefix="gw-bench-home-"))
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-inventory-"))
    results = [_size(n, tmp) for n in sizes]
    wave = _wave(wave_n, tmp)
    small, big = results[0], results[-1]
    k_small, k_big = f"{small['n'] // 1000}k", f"{big['n'] // 1000}k"
    metrics: dict[str, float] = {
        "devices": float(big["n"]),
        "devices_per_s": big["first"]["per_s"],
        "sync_s": big["first"]["seconds"],
        "cpu_us_per_device": big["first"]["cpu_us"],
        "main_thread_cpu_us_per_device": big["first"]["main_cpu_us"],
        "other_threads_cpu_us_per_device": big["first"]["other_cpu_us"],
        "reader_process_cpu_us_per_device": big["first"]["reader_cpu_us"],
        "reader_process_pages": float(big["first"]["reader_pages"]),
        "nbi_cpu_us_per_device": big["first"]["nbi_cpu_us"],
        "cpu_bound_devices_per_s": big["first"]["cpu_bound_per_s"],
        "baseline_devices_per_s": round(big["baseline"]["per_s"], 1),
        "baseline_nbi_cpu_us_per_device": round(big["baseline"]["nbi_cpu_us"], 1),
        "baseline_client_cpu_us_per_device": round(big["baseline"]["client_cpu_us"], 1),
        "resync_unchanged_devices_per_s": big["same"]["per_s"],
        "resync_1pct_devices_per_s": big["some"]["per_s"],
        "resync_all_informed_devices_per_s": big["every"]["per_s"],
        "resync_all_informed_cpu_us_per_device": big["every"]["cpu_us"],
        "load_avg": big["first"]["load"],
        f"peak_rss_less_sqlite_and_mapped_db_mb_{k_small}": round(small["own_peak_mb"], 1),
        f"peak_rss_less_sqlite_and_mapped_db_mb_{k_big}": round(big["own_peak_mb"], 1),
        "own_peak_rss_ratio": round(big["own_peak_mb"] / small["own_peak_mb"], 2) if small["own_peak_mb"] > 0
        else float("nan"),
        f"reader_process_peak_rss_mb_{k_big}": round(big["reader_peak_mb"], 1),
        f"peak_rss_mb_{k_small}": round(small["peak_rss_mb"], 1),
        f"peak_rss_mb_{k_big}": round(big["peak_rss_mb"], 1),
        "peak_rss_ratio": round(big["peak_rss_mb"] / small["peak_rss_mb"], 2) if small["peak_rss_mb"] else float("nan"),
        f"sqlite_peak_mb_{k_small}": round(small["sqlite_peak_mb"], 1),
        f"sqlite_peak_mb_{k_big}": round(big["sqlite_peak_mb"], 1),
        f"peak_rss_less_sqlite_mb_{k_small}": round(small["peak_rss_mb"] - small["sqlite_peak_mb"], 1),
        f"peak_rss_less_sqlite_mb_{k_big}": round(big["peak_rss_mb"] - big["sqlite_peak_mb"], 1),
        "wave_agents": float(wave["agents"]),
        "wave_agents_per_s": float(wave["agents_per_s"]),
        "wave_lost": float(wave["lost"]),
    }
    if big["other"]:
        name = "reader_child" if big["other_reader"] == "child" else "in_process_reader"
        metrics[f"first_sync_{name}_devices_per_s"] = big["other"]["per_s"]
        metrics[f"first_sync_{name}_cpu_us_per_device"] = big["other"]["cpu_us"]
        metrics[f"first_sync_{name}_vs_default_reader"] = round(big["other"]["per_s"] / big["first"]["per_s"], 2)
    rows: list[tuple[str, str]] = []
    for r in results:
        b, n = r["baseline"], r["n"]
        rows.append((f"baseline: a bare client pages the NBI, {n:,} devices",
                     f"{b['per_s']:,.0f} devices/s ({b['seconds']:.2f} s): NBI {b['nbi_cpu_us']:.1f} µs CPU a "
                     f"device, HTTP + JSON decode {b['client_cpu_us']:.1f} µs"))
        other_label = ("the reader child (GATEWARD_INVENTORY_READER_PROCESS_MIN=20000)" if r["other_reader"] == "child"
                       else "the in-process page reader")
        for key, label in (("other", f"first sync of {n:,} devices with {other_label}, same run"),
                           ("first", f"first sync of {n:,} devices ({r['pages']} pages)"),
                           ("same", "re-sync, nothing changed"),
                           ("some", f"re-sync, 1% changed ({n // 100:,} informed, new firmware)"),
                           ("every", f"re-sync, all {n:,} informed, 1% changed")):
            f = r[key]
            if f is None:
                continue
            child = (f", reader process {f['reader_cpu_us']} ({f['reader_pages']} pages)" if f["reader_pages"]
                     else "")
            rows.append((label, f"{f['per_s']:,.0f} devices/s ({f['seconds']} s, load {f['load']}): Gateward "
                                f"{f['cpu_us']} µs CPU a device (main thread {f['main_cpu_us']}, other threads "
                                f"{f['other_cpu_us']}{child}), NBI {f['nbi_cpu_us']} µs; the cores could give "
                                f"{f['cpu_bound_per_s']:,.0f}/s at that CPU"))
        rows.append((f"peak RSS of the syncing process, {n:,} devices",
                     f"{r['peak_rss_mb']:.1f} MB ({r['rss_start_mb']:.1f} MB before its first sync; SQLite's own "
                     f"peak {r['sqlite_peak_mb']:.1f} MB of it, the database pages its mmap touched "
                     f"{r['mapped_mb']:.1f} MB, the rest {r['own_peak_mb']:.1f} MB)"
                     + (f"; the reader process's peak {r['reader_peak_mb']:.1f} MB" if r["reader_peak_mb"] else "")))
    rest_small, rest_big = (metrics[f"peak_rss_less_sqlite_mb_{k}"] for k in (k_small, k_big))
    rows.append((f"peak RSS {big['n']:,} vs {small['n']:,} devices",
                 f"x{metrics['peak_rss_ratio']}; less SQLite's page cache x{rest_big / rest_small:.2f}; less it "
                 f"and the mapped database x{metrics['own_peak_rss_ratio']} (flat = bounded)"
                 if rest_small else f"x{metrics['peak_rss_ratio']}"))
    rows.append((f"connect wave: {wave['agents']:,} agents ({wave['signals']:,} signals, 10% flapping)",
                 f"{wave['agents_per_s']:,.0f} agents/s ({wave['seconds']} s), lost {wave['lost']}"))
    notes = [
        "a first sync: HTTP pages from the local NBI (a child process), parse, validate, duplicate checks, "
        "inserts, one audit event per page, then the presence sweep (a first sync counts the ACS: one HEAD); "
        "the next page is fetched and parsed while this one is written: in a prefetch thread, or (where "
        "GATEWARD_INVENTORY_READER_PROCESS_MIN is set; off by default) from that many documents on in a reader "
        "child process (executors.genieacs.inventory_reader) once it has started; the other reader's first "
        "sync of the same fleet, into its own store, is the same run's comparison",
        "the baseline is the NBI double alone (a client that only decodes): a sync cannot beat it on this "
        "machine; Gateward's CPU a device is the syncing process's, every thread included, plus its reader "
        "child's (start-up included); 'the cores could give' = cores / (Gateward + NBI CPU a device)",
        "SQLite's page cache grows with the database up to core.store.db's cache_size (256 MiB): peak RSS "
        "is shown with and without it",
        "the NBI double re-sorts its index after informs (warmed before each run: MongoDB keeps its index "
        "current as devices inform), and renders each listing's shared model tree once",
        "the connect wave registers allow-listed agents in batches of core.onboarding.BATCH per transaction "
        "(device row, accepted request, device.registered + onboarding.accepted audit events per agent)",
        ("PostgreSQL (GATEWARD_BENCH_DATABASE_URL, a fresh schema per size)" if os.environ.get(
            "GATEWARD_BENCH_DATABASE_URL") else "SQLite") + "; the NBI, the syncing process and the bench share "
        "the machine's cores with whatever else runs",
    ]
    params = {"sizes": sizes, "page": PAGE, "wave_agents": wave_n}
    return BenchResult(NAME, metrics, params, rows, notes)
