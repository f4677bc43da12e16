"""Inventory sync (issue 11): 100,000 devices from the local GenieACS NBI, and a 10,000-agent USP
connect wave onboarded from an allow list.

Why: an operator's first ``gateward devices sync --source genieacs`` reads the whole ACS; later
runs read only what informed since. It must be fast enough to run every few minutes and must not
hold the fleet in memory (peak memory flat in the device count: one page at a time). A broker
restart brings every agent back at once; onboarding must keep up and lose none.

Set up: the local NBI (``testing.genieacs.fake_nbi``) in a child process — GenieACS is a separate
service, and this keeps its rendering off the measured process — bulk-loaded with N device listings
(``FakeNbi.load_devices``: no twin session per device); a fresh SQLite store per size; the real
HTTP client, paging (keyset by ``_lastInform``, 1,000 per page), parsing, validation, inserts and
audit. *devices/s* is a first sync of N devices (change scan + presence sweep); *peak memory* is
tracemalloc's peak over a whole first sync in this process, at two sizes (flat = bounded). The
connect wave drives ``UspSource.on_event`` (OnBoardRequest, and a Boot! from every tenth agent:
flapping) and ``core.onboarding.screen_first_contacts`` with an OUI allow list; lost = agents
without a device and an accepted request afterwards.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from bench.framework import BenchResult

NAME = "inventory_sync"
DESCRIPTION = "ACS inventory sync of 100k devices (devices/s, peak memory flat) + 10k-agent onboarding wave"
OUI, PC = "00D09E", "CGW3400"
PAGE = 1000


# ---------------------------------------------------------------------------- the NBI, in a child
def _serve(n: int, conn: Any) -> None:
    from executors.genieacs.ids import genieacs_device_id
    from executors.sim.twin import Twin
    from testing.genieacs.fake_nbi import FakeNbi
    from testing.genieacs.fake_store import listing_record, listing_template

    tmp = tempfile.mkdtemp(prefix="gw-bench-nbi-")
    twin = Twin(f"sqlite:///{tmp}/twin.db")
    nbi = FakeNbi(twin, tick_s=None)
    models = [listing_template("Device", "Vantec", "CGW-3400", fw, "B1", 1.7e9) for fw in ("7.2", "7.4")]
    models.append(listing_template("InternetGatewayDevice", "Sinotel", "HG8020", "S105", "", 1.7e9))
    nbi.load_devices(
        listing_record(genieacs_device_id(OUI, PC, f"SN{i:08d}"),
                       {"Manufacturer": "Vantec", "OUI": OUI, "ProductClass": PC, "SerialNumber": f"SN{i:08d}"},
                       1.7e9 + i * 0.003, *models[i % len(models)])
        for i in range(n))
    conn.send(nbi.start())
    conn.recv()  # stop
    nbi.stop()
    twin.close()


class _Acs:
    def __init__(self, n: int) -> None:
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(n, child), daemon=True)
        self.proc.start()
        self.url: str = self.conn.recv()

    def cpu_s(self) -> float:
        """CPU seconds the NBI child has used (Linux ``/proc``; 0 elsewhere): what the ACS side
        costs, reported next to Gateward's own CPU so a wall figure on a busy machine can be read."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.conn.send("stop")
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.terminate()


def _sync(url: str, db: Path, *, trace: bool = False) -> tuple[Any, float, int, float]:
    from core.inventory_sync import InventorySync
    from core.store.db import Store
    from executors.genieacs.inventory import AcsInventorySource
    from executors.genieacs.nbi import NbiClient

    store = Store(f"sqlite:///{db}")
    source = AcsInventorySource(NbiClient(url, timeout_s=120), page_size=PAGE)
    if trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    report = InventorySync(store, source).run()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    store.engine.dispose()
    source.client.close()
    return report, elapsed, peak, cpu


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
def run(quick: bool) -> BenchResult:
    sizes = [2_000, 10_000] if quick else [10_000, 100_000]
    wave_n = 2_000 if quick else 10_000
    os.environ.setdefault("GATEWARD_HOME", tempfile.mkdtemp(prefix="gw-bench-home-"))
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-inventory-"))
    results = []
    for n in sizes:
        acs = _Acs(n)
        try:
            load, nbi_cpu = os.getloadavg()[0], acs.cpu_s()
            report, elapsed, _, cpu = _sync(acs.url, tmp / f"speed-{n}.db")
            nbi_cpu = acs.cpu_s() - nbi_cpu
            _, _, peak, _ = _sync(acs.url, tmp / f"memory-{n}.db", trace=True)
        finally:
            acs.close()
        if report.error or report.registered != n:
            raise RuntimeError(f"inventory sync of {n} devices failed: {report.as_dict()}")
        results.append({"n": n, "seconds": round(elapsed, 2), "per_s": round(n / elapsed, 1),
                        "per_cpu_s": round(n / cpu, 1) if cpu else float("nan"),
                        "peak_mb": round(peak / 1e6, 2), "pages": report.pages, "load": round(load, 1),
                        "cpu_us": round(1e6 * cpu / n, 1), "nbi_cpu_us": round(1e6 * nbi_cpu / n, 1)})
    wave = _wave(wave_n, tmp)
    small, big = results[0], results[-1]
    metrics: dict[str, float] = {
        "devices": float(big["n"]),
        "devices_per_s": float(big["per_s"]),
        "sync_s": float(big["seconds"]),
        "devices_per_cpu_s": float(big["per_cpu_s"]),
        "cpu_us_per_device": float(big["cpu_us"]),
        "nbi_cpu_us_per_device": float(big["nbi_cpu_us"]),
        "load_avg": float(big["load"]),
        f"peak_mb_{small['n'] // 1000}k": float(small["peak_mb"]),
        f"peak_mb_{big['n'] // 1000}k": float(big["peak_mb"]),
        "peak_ratio": round(big["peak_mb"] / small["peak_mb"], 2) if small["peak_mb"] else float("nan"),
        "wave_agents": float(wave["agents"]),
        "wave_agents_per_s": float(wave["agents_per_s"]),
        "wave_lost": float(wave["lost"]),
    }
    rows = [(f"first sync of {r['n']:,} devices ({r['pages']} pages)",
             f"{r['per_s']:,.0f} devices/s ({r['seconds']} s, load {r['load']}; {r['per_cpu_s']:,.0f} per "
             f"CPU-second of this process: {r['cpu_us']} µs CPU a device here, {r['nbi_cpu_us']} µs in the NBI), "
             f"tracemalloc peak {r['peak_mb']} MB") for r in results]
    rows.append((f"peak memory {big['n']:,} vs {small['n']:,} devices", f"x{metrics['peak_ratio']} (flat = bounded)"))
    rows.append((f"connect wave: {wave['agents']:,} agents ({wave['signals']:,} signals, 10% flapping)",
                 f"{wave['agents_per_s']:,.0f} agents/s ({wave['seconds']} s), lost {wave['lost']}"))
    notes = [
        "devices/s covers a first sync: HTTP pages from the local NBI (a child process), parse, validate, "
        "duplicate checks, inserts, one audit event per page, then the presence sweep of every _id",
        "peak memory is measured in a second, traced run (tracemalloc slows it; its time is not reported)",
        "the connect wave registers allow-listed agents in batches of core.onboarding.BATCH per transaction "
        "(device row, accepted request, device.registered + onboarding.accepted audit events per agent)",
        "SQLite; the NBI and this process share the machine's 2 cores with whatever else runs",
    ]
    params = {"sizes": sizes, "page": PAGE, "wave_agents": wave_n}
    return BenchResult(NAME, metrics, params, rows, notes)
