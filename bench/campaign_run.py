"""campaign_run: a fleet through canary + 3 rings on 4 worker processes, then a KPI breach.

Phase 1 rolls one change out to every simulated device (policy's plan for ≥ 1,000 targets: canary
1 %, rings 10 / 50 / 100 %) with four ``gateward worker`` processes sharing the procrastinate
queue on PostgreSQL: devices/s, per ring. Phase 2 rolls the change back out with SetParameterValues
faults injected into a slice of ring 2; the analysis gate sees the failure rate cross policy's
threshold and aborts. Reported: halt latency (breach visible in the store → halt committed), device
writes admitted after the halt (must be 0: every write re-reads the campaign state first), writes
still landing after it (the ones in flight), and the rollback of every changed device.

PostgreSQL from ``GATEWARD_BENCH_DATABASE_URL`` or ``GATEWARD_TEST_DATABASE_URL`` (a fresh schema,
dropped afterwards); without one it runs on SQLite with one in-process worker and says so.
``GATEWARD_BENCH_DEVICES`` overrides the fleet size (quick: 1,000; full: 100,000);
a fleet at policy's ``rehearsal_min_targets`` or above (1,000 in the shipped pack) is rehearsed before each
phase starts, as the obligation requires, and the rehearsal is timed apart from the rollout;
``GATEWARD_BENCH_WORKERS`` / ``GATEWARD_BENCH_CONCURRENCY`` the worker processes (4; PostgreSQL
only) and threads per worker (2).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.accounting import CP_APP, SIM_APP, BackendCpu, named, proc_cpu_s
from bench.framework import BenchResult

NAME = "campaign_run"
# metrics every --quick run reports (tests/bench_smoke)
KEYS = ("devices_per_s", "control_plane_devices_per_s", "verified", "rehearsal_required", "halt_latency_ms",
        "changed_after_halt_beyond_in_flight")
KEYS_POSTGRES = ("db_control_plane_cpu_ms_per_device",)  # ... and these with a PostgreSQL configured
DESCRIPTION = "100,000 devices through canary + 3 rings on 4 workers; halt latency after a KPI breach"
PATH = "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- fleet
def load_fleet(rt: Any, homes: int, seed: int = 5) -> int:
    """Bulk-load a generated fleet: inventory rows, twin states and one full parameter snapshot per
    device (no telemetry or history — a campaign needs neither, and they dominate ``seed_fleet`` at
    this size).

    The snapshots are not optional: a fleet-scale proposal is previewed from each target's latest
    stored snapshot, and a target with none (and not in the live sample) leaves the preview
    incomplete, which policy denies (docs/safety.md, "the preview read every target"). A real
    fleet has them from inventory sync and discovery; here they are read through the simulator's
    read path, as ``gateward.seed`` does."""
    from sqlalchemy import insert

    from core.kernel.models import utcnow
    from core.store.schema import DeviceRow
    from core.users import ensure_users
    from executors.sim.fleet import iter_fleet
    from gateward.seed import take_snapshots, twin_for

    twin = twin_for(rt)
    now = utcnow()
    n = 0
    for chunk in iter_fleet(homes, seed, batch_homes=5000, telemetry=False):
        rows = [{"id": d.id, "vendor": d.vendor, "model": d.model, "product_class": d.product_class, "oui": d.oui,
                 "serial": d.serial, "firmware": d.firmware, "root": str(d.root), "protocol": str(d.protocol),
                 "adapter": d.adapter, "subscriber": None, "region": d.region, "service": d.service,
                 "tags": list(d.tags), "upstream_id": None, "last_seen": now, "created_at": now}
                for d in chunk.devices]
        with rt.store.write() as s:
            for i in range(0, len(rows), 2000):
                s.execute(insert(DeviceRow), rows[i:i + 2000])
        # Snapshots are what inventory read while every device was still online; the seed's offline
        # devices go offline after that (the campaign then skips them as unreachable).
        faulted = {ts.device_id: ts.faults for ts in chunk.twin_states if ts.faults}
        chunk.twin_states = [ts.model_copy(update={"faults": {}}) if ts.faults else ts for ts in chunk.twin_states]
        twin.load_seed(chunk, reset=False, events=False)
        take_snapshots(rt, [d.id for d in chunk.devices])
        for device_id, faults in faulted.items():
            for kind, params in faults.items():
                twin.inject(device_id, kind, **params)
        n += len(rows)
    twin.close()
    ensure_users(rt.store)
    return n


# ---------------------------------------------------------------------------- helpers
def _approve(rt: Any, pid: str) -> None:
    from core.kernel.models import ProposalState
    from core.users import get_actor

    for name in ("carol", "bob"):
        if rt.lifecycle.get(pid).state is ProposalState.AWAITING_APPROVAL:
            rt.lifecycle.approve(pid, get_actor(rt.store, name))
    p = rt.lifecycle.get(pid)
    if p.state is not ProposalState.APPROVED:
        raise RuntimeError(f"bench campaign not approved: {p.state} {p.error}")


def _wait(svc: Any, cid: str, until: Callable[[str], bool], timeout: float) -> dict[str, Any]:
    """Poll the campaign's state (one primary-key read) until ``until(state)``; then the full
    status, once. ``Campaigns.status`` counts executions per ring — polling *that* four times a
    second would put the observer's load on the database the workers are measured on."""
    from campaigns.schema import CampaignRow

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with svc.store.read() as s:
            c = s.get(CampaignRow, cid)
            state = c.state if c is not None else ""
        if until(state):
            return dict(svc.status(cid))
        time.sleep(0.25)
    raise RuntimeError(f"campaign {cid} did not settle in {timeout:.0f}s: {svc.status(cid)['state']}")


def _rehearse_if_required(svc: Any, rt: Any, cid: str) -> dict[str, Any]:
    """Policy's ``obligation.rehearsal`` (a blast radius of ``rehearsal_min_targets`` or more, 1,000 in
    the shipped pack) lets the campaign start only after a clean rehearsal of its exact proposal:
    rehearsed here, as an operator would (``gateward campaign rehearse``), and timed apart from the
    rollout. A rehearsal that is not clean stops the bench with what it predicted."""
    from core.users import get_actor

    required = svc.rehearsal_of(cid)["required"]
    if required is None:
        return {"required": None, "seconds": 0.0, "clean": None}
    t0 = time.perf_counter()
    report = svc.rehearse(cid, get_actor(rt.store, "dave"))
    seconds = time.perf_counter() - t0
    if not report["clean"]:
        raise RuntimeError(f"the bench campaign's rehearsal is not clean: {report['counts']}")
    return {"required": required, "seconds": seconds, "clean": True, "counts": report["counts"]}


def _settled(state: str) -> bool:
    from campaigns.orchestrator import PAUSED, TERMINAL

    return state in TERMINAL or state == PAUSED


def _spawn_workers(url: str, sim_url: str, n: int, concurrency: int, logdir: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "GATEWARD_SIM_DATABASE_URL": sim_url}
    env.pop("GATEWARD_FAILPOINTS", None)
    return [subprocess.Popen([sys.executable, "-m", "gateward.cli", "worker", "--concurrency", str(concurrency),
                              "--name", f"bench-{i}"], env=env, cwd=ROOT,
                             stdout=(logdir / f"worker-{i}.log").open("wb"), stderr=subprocess.STDOUT)
            for i in range(n)]


def _wait_for_workers(rt: Any, n: int, procs: list[subprocess.Popen[bytes]], timeout: float = 180.0) -> None:
    """Until ``n`` workers have registered with the queue (procrastinate's heartbeat table): a
    worker process spends seconds importing and connecting, and a rollout started before then
    would time their start-up, not the rollout."""
    from sqlalchemy import text

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a bench worker exited during start-up; see its log")
        try:
            with rt.store.read() as s:
                if int(s.scalar(text("SELECT count(*) FROM procrastinate_workers")) or 0) >= n:
                    return
        except Exception:  # the queue's tables appear with the first worker
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{n} bench workers did not start within {timeout:.0f}s")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


# ---------------------------------------------------------------------------- accounting
class CpuMeter:
    """CPU seconds of the workers and of the database backends serving the bench, per role.

    The workers are this bench's own processes (or this process, for the in-process SQLite
    worker). The backends are found by ``application_name`` (``bench.accounting``): the control
    plane's connections carry ``CP_APP``, the simulator's twin database connections ``SIM_APP`` —
    the simulator is the "device", so its database work is device cost, not control-plane cost.
    Backends are visible only for a PostgreSQL on this host; elsewhere those figures are None."""

    def __init__(self, rt: Any, worker_pids: list[int], distributed: bool) -> None:
        self.rt, self.pids, self.distributed = rt, worker_pids, distributed
        self._w0 = self._workers()
        self._db = BackendCpu(rt.store.engine) if distributed else None

    def _workers(self) -> float:
        if not self.distributed:
            return time.process_time()
        return sum(c for c in (proc_cpu_s(p) for p in self.pids) if c is not None)

    def stop(self) -> dict[str, float | None]:
        worker = self._workers() - self._w0
        db = self._db.stop() if self._db is not None else {}
        return {"worker_s": worker, "db_cp_s": db.get(CP_APP), "db_sim_s": db.get(SIM_APP)}


def _batch_times(rt: Any, cid: str) -> dict[str, float]:
    """The rollout's batches: their summed duration and time in device calls (wall and CPU)."""
    from sqlalchemy import select

    from campaigns.schema import CampaignBatchRow

    with rt.store.read() as s:
        rows = s.execute(select(CampaignBatchRow.duration_s, CampaignBatchRow.outcome).where(
            CampaignBatchRow.campaign_id == cid, CampaignBatchRow.finished_at.is_not(None))).all()
    return {"batches": float(len(rows)), "busy_s": sum(float(d or 0.0) for d, _ in rows),
            "device_s": sum(float((o or {}).get("device_s", 0.0)) for _, o in rows),
            "device_cpu_s": sum(float((o or {}).get("device_cpu_s", 0.0)) for _, o in rows),
            "batch_cpu_s": sum(float((o or {}).get("cpu_s", 0.0)) for _, o in rows)}


def _spec(name: str, value: bool, batch: tuple[int, int, int], **extra: Any) -> dict[str, Any]:
    first, biggest, window = batch
    return {"name": name, "target": {"all_fleet": True}, "emergency": True, "changes": [{"path": PATH, "value": value}],
            "promotion": {"mode": "auto", "pause_s": 0}, "sweep_delay_s": 0, "retry_unreached": 0,
            "gate": {"max_unreached": 0.5, **extra.pop("gate", {})},
            "rate": {"initial_batch": first, "max_batch": biggest, "initial_window": 2, "max_window": window},
            **extra}


# ---------------------------------------------------------------------------- phases
def _phase_rollout(svc: Any, rt: Any, batch: tuple[int, int, int], meter: Callable[[], CpuMeter]) -> dict[str, Any]:
    from core.users import get_actor

    t0 = time.perf_counter()
    st = svc.create(_spec("bench rollout", False, batch), get_actor(rt.store, "dave"))
    create_s = time.perf_counter() - t0
    _approve(rt, st["proposal"]["id"])
    rehearsal = _rehearse_if_required(svc, rt, st["id"])
    load0 = os.getloadavg()
    cpu = meter()
    t0 = time.perf_counter()
    svc.start(st["id"], get_actor(rt.store, "dave"))
    done = _wait(svc, st["id"], _settled, 4 * 3600)
    wall = time.perf_counter() - t0
    used = cpu.stop()
    return {"status": done, "wall": wall, "create_s": create_s, "cpu": used, "times": _batch_times(rt, st["id"]),
            "load": (load0, os.getloadavg()), "rehearsal": rehearsal}


def _phase_breach(svc: Any, rt: Any, batch: tuple[int, int, int], min_executed: int) -> dict[str, Any]:
    from sqlalchemy import select

    from campaigns.schema import CampaignBatchRow, CampaignDeviceRow, CampaignRow
    from core.users import get_actor
    from executors.sim.twin import sim_events
    from gateward.seed import twin_for

    st = svc.create(_spec("bench breach", True, batch, gate={"min_executed": min_executed}),
                    get_actor(rt.store, "dave"))
    cid, pid = st["id"], st["proposal"]["id"]
    _approve(rt, pid)
    _rehearse_if_required(svc, rt, cid)  # before the faults: they are the breach, not a device the rehearsal sees
    size2 = st["plan"]["sizes"][2]
    with rt.store.read() as s:
        bad = list(s.scalars(select(CampaignDeviceRow.device_id).where(
            CampaignDeviceRow.campaign_id == cid, CampaignDeviceRow.ring == 2,
            CampaignDeviceRow.pos >= int(size2 * 0.3),
            CampaignDeviceRow.pos < int(size2 * 0.3) + max(40, size2 // 20))))
    twin = twin_for(rt)
    for d in bad:  # every SetParameterValues on these devices faults: the ring's failure rate climbs
        twin.inject(d, "fault_on_set", code=9002, message="injected KPI breach")
    t0 = time.perf_counter()
    svc.start(cid, get_actor(rt.store, "dave"))
    out = _wait(svc, cid, _settled, 4 * 3600)
    wall = time.perf_counter() - t0
    with rt.store.read() as s:
        c = s.get(CampaignRow, cid)
        assert c is not None
        threshold = float(c.spec["gate"]["failure_threshold"])
        batches = list(s.execute(select(CampaignBatchRow.ring, CampaignBatchRow.finished_at,
                                        CampaignBatchRow.n_verified, CampaignBatchRow.n_failed,
                                        CampaignBatchRow.late_admissions, CampaignBatchRow.n_halted).where(
            CampaignBatchRow.campaign_id == cid, CampaignBatchRow.finished_at.is_not(None))
            .order_by(CampaignBatchRow.finished_at)).all())
    halted_at = c.halted_at
    breach_at = None
    ver = fail = 0
    for ring, fin, v, f, _late, _h in batches:  # when the crossing became visible in the store
        if ring != 2:
            continue
        ver, fail = ver + v, fail + f
        if ver + fail >= min_executed and fail / (ver + fail) > threshold:
            breach_at = fin
            break
    with twin.engine.connect() as conn:
        import orjson

        sets = [(r.ts, r.device_id) for r in conn.execute(select(sim_events.c.ts, sim_events.c.device_id,
                                                                 sim_events.c.data).where(sim_events.c.kind == "set"))
                if orjson.loads(r.data).get("key") == pid]
    twin.close()
    after = [ts for ts, _ in sets if halted_at is not None and ts > halted_at.timestamp()]
    return {"status": out, "wall": wall, "threshold": threshold, "faulted": len(bad), "halted_at": halted_at,
            "breach_at": breach_at, "late": sum(int(b[4]) for b in batches), "halted": sum(int(b[5]) for b in batches),
            "writes_after_halt": len(after), "changed": len({d for _, d in sets}),
            "finished_at": c.finished_at}


# ---------------------------------------------------------------------------- run
def _run(url: str, devices: int, workers: int, concurrency: int, batch: tuple[int, int, int],
         min_executed: int, distributed: bool) -> dict[str, Any]:
    from campaigns.queue import Queue
    from campaigns.service import Campaigns
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime
    from gateward.worker import EmbeddedWorker

    sim_url = url
    if distributed:  # name the connections, so the database's CPU can be split by role (CpuMeter)
        url, sim_url = named(url, CP_APP), named(url, SIM_APP)
    rt = build_runtime(Settings(database_url=url, sim_database_url=sim_url))
    t0 = time.perf_counter()
    n = load_fleet(rt, devices)
    load_s = time.perf_counter() - t0
    queue = Queue.for_url(url).open_sync() if distributed else None
    svc = Campaigns(rt, queue)
    with tempfile.TemporaryDirectory() as logdir:
        procs = _spawn_workers(url, sim_url, workers, concurrency, Path(logdir)) if distributed else []
        embedded = None if distributed else EmbeddedWorker(rt, concurrency=concurrency).start()
        try:
            if distributed:
                _wait_for_workers(rt, workers, procs)
            time.sleep(0.5)
            roll = _phase_rollout(svc, rt, batch, lambda: CpuMeter(rt, [p.pid for p in procs], distributed))
            breach = _phase_breach(svc, rt, batch, min_executed)
        finally:
            _stop(procs)
            if embedded is not None:
                embedded.stop()
            if queue is not None:
                queue.close()
    rt.close()
    return {"devices": n, "load_s": load_s, "rollout": roll, "breach": breach}


def _schema_url(base: str) -> tuple[str, Callable[[], None]]:
    from sqlalchemy import create_engine, text

    from core.store.db import normalise_url

    base = normalise_url(base)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", drop


def _control_plane(roll: dict[str, Any], verified: int) -> dict[str, Any]:
    """The rollout's figures with the simulator's time taken out (see the notes in ``run``)."""
    t, cpu = roll["times"], roll["cpu"]
    n = max(1, verified)
    share = t["device_s"] / t["busy_s"] if t["busy_s"] else 0.0
    cp_wall = roll["wall"] * (1.0 - share)
    worker_ms = 1e3 * cpu["worker_s"] / n
    sim_ms = 1e3 * t["device_cpu_s"] / n
    cp_ms = max(0.0, worker_ms - sim_ms)
    batch_ms = max(0.0, 1e3 * (t.get("batch_cpu_s", 0.0) - t["device_cpu_s"]) / n)  # in apply_batch
    db_cp = None if cpu["db_cp_s"] is None else 1e3 * cpu["db_cp_s"] / n
    db_sim = None if cpu["db_sim_s"] is None else 1e3 * cpu["db_sim_s"] / n
    per_cpu_s = 1e3 / (cp_ms + (db_cp or 0.0)) if cp_ms + (db_cp or 0.0) else 0.0
    return {"devices_per_s": verified / cp_wall if cp_wall > 0 else 0.0, "device_share": share,
            "worker_ms": worker_ms, "sim_ms": sim_ms, "cp_ms": cp_ms, "batch_ms": batch_ms,
            "outside_ms": max(0.0, cp_ms - batch_ms), "db_cp_ms": db_cp, "db_sim_ms": db_sim,
            "per_cpu_s": per_cpu_s}


def run(quick: bool) -> BenchResult:
    devices = int(os.environ.get("GATEWARD_BENCH_DEVICES") or (1000 if quick else 100_000))
    workers = int(os.environ.get("GATEWARD_BENCH_WORKERS") or 4)
    concurrency = int(os.environ.get("GATEWARD_BENCH_CONCURRENCY") or 2)
    # Rate limit: first batch, largest batch, batches in flight. The largest batch is 1 % of the
    # full fleet: each batch pays a fixed price (gates re-checked, a queue job, a campaign step).
    batch = (20, 250, 8) if quick else (50, 1000, 8)
    min_executed = 30 if quick else 200
    pg = os.environ.get("GATEWARD_BENCH_DATABASE_URL") or os.environ.get("GATEWARD_TEST_DATABASE_URL")
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        if pg:
            url, drop = _schema_url(pg)
            backend = "postgres"
        else:
            url, drop = f"sqlite:///{Path(tmp) / 'bench.db'}", (lambda: None)
            backend = "sqlite"
            workers = 1
            notes.append("no PostgreSQL configured: SQLite with ONE in-process worker (procrastinate in-memory "
                         "queue); set GATEWARD_BENCH_DATABASE_URL for 4 distributed workers")
        try:
            res = _run(url, devices, workers, concurrency, batch, min_executed, backend == "postgres")
        finally:
            drop()
    roll, br = res["rollout"], res["breach"]
    st = roll["status"]
    verified = int(st["progress"].get("verified", 0))
    rate = verified / roll["wall"] if roll["wall"] else 0.0
    halt_ms = ((br["halted_at"] - br["breach_at"]).total_seconds() * 1e3
               if br["halted_at"] is not None and br["breach_at"] is not None else float("nan"))
    rollback_s = ((br["finished_at"] - br["halted_at"]).total_seconds()
                  if br["finished_at"] is not None and br["halted_at"] is not None else float("nan"))
    cp = _control_plane(roll, verified)
    metrics = {
        "devices": float(res["devices"]),
        "devices_per_s": round(rate, 1),
        "control_plane_devices_per_s": round(cp["devices_per_s"], 1),
        "device_time_share": round(cp["device_share"], 3),
        "worker_cpu_ms_per_device": round(cp["worker_ms"], 3),
        "simulator_cpu_ms_per_device": round(cp["sim_ms"], 3),
        "control_plane_cpu_ms_per_device": round(cp["cp_ms"], 3),
        "apply_batch_cpu_ms_per_device": round(cp["batch_ms"], 3),
        "orchestration_cpu_ms_per_device": round(cp["outside_ms"], 3),
        "rollout_wall_s": round(roll["wall"], 1),
        "verified": float(verified),
        "load_fleet_s": round(res["load_s"], 1),
        "create_campaign_s": round(roll["create_s"], 1),
        "rehearsal_required": 1.0 if roll["rehearsal"]["required"] else 0.0,
        "rehearse_s": round(roll["rehearsal"]["seconds"], 1),
        "halt_latency_ms": round(halt_ms, 1),
        "changed_after_halt_beyond_in_flight": float(br["late"]),
        "writes_landing_after_halt": float(br["writes_after_halt"]),
        "devices_changed_before_abort": float(br["changed"]),
        "rollback_s": round(rollback_s, 1),
        "load_avg_1m_start": round(roll["load"][0][0], 2),
        "load_avg_1m_end": round(roll["load"][1][0], 2),
    }
    if cp["db_cp_ms"] is not None:
        metrics["db_control_plane_cpu_ms_per_device"] = round(cp["db_cp_ms"], 3)
        metrics["db_simulator_cpu_ms_per_device"] = round(cp["db_sim_ms"], 3)
    metrics["control_plane_devices_per_cpu_s"] = round(cp["per_cpu_s"], 1)
    rows = [("backend / workers", f"{backend} / {workers} × concurrency {concurrency}"),
            ("fleet loaded", f"{res['devices']:,} devices in {res['load_s']:.1f} s"),
            ("campaign created (validate, preview, policy, plan)", f"{roll['create_s']:.1f} s"),
            ("rehearsal (not in the rollout's time)",
             f"required ({roll['rehearsal']['required']}): clean in {roll['rehearsal']['seconds']:.1f} s"
             if roll["rehearsal"]["required"] else "not required by policy for this fleet size"),
            ("rollout", f"{st['state']}: {verified:,} verified in {roll['wall']:.1f} s = {rate:,.1f} devices/s"),
            ("  control plane (device calls' time removed)",
             f"{cp['devices_per_s']:,.1f} devices/s ({cp['device_share']:.0%} of batch time was in device calls)"),
            ("  CPU per device: workers = simulator + control plane",
             f"{cp['worker_ms']:.2f} = {cp['sim_ms']:.2f} + {cp['cp_ms']:.2f} ms"),
            ("    control plane: apply_batch + the rest (steps, records, queue, watchdog)",
             f"{cp['batch_ms']:.2f} + {cp['outside_ms']:.2f} ms"),
            ("  CPU per device: database (control plane / simulator)",
             "n/a (not a local PostgreSQL)" if cp["db_cp_ms"] is None
             else f"{cp['db_cp_ms']:.2f} / {cp['db_sim_ms']:.2f} ms"),
            ("  control plane devices per CPU-second", f"{cp['per_cpu_s']:,.0f} (workers' own + their database's)"),
            ("  load average (1 min) at start → end", f"{roll['load'][0][0]:.2f} → {roll['load'][1][0]:.2f}")]
    for r in st["rings_detail"]:
        rows.append((f"  {r['name']} ({r['stage_pct']:g}%)", f"{r['size']:,} devices, {r['batches']} batches"))
    rows += [("breach: devices faulted in ring 2", f"{br['faulted']} (threshold {br['threshold']:.2%})"),
             ("breach: outcome", f"{br['status']['state']}: {br['status']['halt_reason'] or ''}"[:110]),
             ("halt latency (breach visible → halt committed)", f"{halt_ms:.1f} ms (goal ≤ 1000)"),
             ("changed after the halt beyond in-flight", f"{br['late']} (goal 0)"),
             ("writes landing after the halt (in flight)", f"{br['writes_after_halt']} (≤ {workers * concurrency} "
                                                           "worker threads)"),
             ("devices halted before their write", f"{br['halted']}"),
             ("rollback of the aborted campaign", f"{br['changed']:,} devices restored in {rollback_s:.1f} s")]
    notes.append("devices/s is the rollout's wall time including ring analyses and promotions; "
                 "each device is presence-checked, backed up, written, read back and verified")
    notes.append("control plane devices/s = verified ÷ (wall × (1 − share of batch time spent in device calls: "
                 "presence, backup read, write, read-back, restore)); the simulator is the device, so its time "
                 "is not the control plane's. CPU figures: the workers' processes (minus the CPU inside device "
                 "calls) and, for a local PostgreSQL, the backends of the control plane's connections")
    params = {"devices": res["devices"], "workers": workers, "concurrency": concurrency, "backend": backend,
              "batch": {"initial": batch[0], "max": batch[1], "window": batch[2]}, "min_executed": min_executed,
              "stages": st["plan"]["stages"]}
    return BenchResult(NAME, metrics, params, rows, notes)
