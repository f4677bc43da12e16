"""A governed change through the GenieACS adapter vs the bare task sequence.

Why: issue 12 measured a governed change at 2.9 s against 1.6 s for the bare GPV + SPV + GPV
sequence on real GenieACS, with five tasks per change. This bench runs, in the same process and
against the same NBI, a governed change through the real lifecycle and the bare sequence,
alternating sample by sample. By default the NBI is the local one (``testing.genieacs.fake_nbi``,
which keeps GenieACS 1.2's session lock and one-second refresh granularity but answers a task as
soon as its session ends); ``--url`` (or ``GATEWARD_BENCH_GENIEACS_URL``) points it at a real
GenieACS, whose NBI notices a session's start and end on a 500 ms poll — the figure the goal is
about. The governed clock runs from submit (create, validate, the live preview that reads the
device, policy decision) through the apply (gates re-checked, presence, backup, checked Set,
verify read, audit) — the preview is in it because its read is what the backup reuses (issue 12
deliverable 4); the apply alone is reported too, and each lifecycle stage's p50 (the stage
timer), so the gap can be attributed. Approvals, if policy asks for any, happen inside the clock
but are a few database writes here. The lifecycle mints its own write grant: a bench never does.
It reports p50/p99, the ratio (goal ≤ 1.25×), NBI tasks per change including the preview's read
(goal 3) and a TR-098 discover.

Read the ratio with care — the bare sequence skips: presence, the Set's pre-check, any database
or audit work, and above all a real verify: its second GPV is posted right after the Set, inside
the same refresh interval, so GenieACS answers it from its cache without asking the CPE. The
adapter waits for the interval boundary after the Set's session when it has not passed yet, so
its verify read reaches the CPE. ``bare_verified`` is the bare sequence with that one wait, for
reference.

Against a real GenieACS the bench registers the ACS's devices in a throw-away database (the
inventory sync), changes ``Device.WiFi.SSID.1.SSID`` of the TR-181 device named by ``--device``
(default: the first TR-181 device) and discovers the first TR-098 device, if any.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, percentile, print_result

NAME = "genieacs_change"
KEYS = ("governed_p50_ms", "bare_p50_ms", "tasks_per_change")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = "GenieACS: governed change (presence, backup, Set, verify) vs bare GPV+SPV+GPV; tasks per change"

SSID1 = "Device.WiFi.SSID.1.SSID"
URL_ENV = "GATEWARD_BENCH_GENIEACS_URL"
DEVICE_ENV = "GATEWARD_BENCH_GENIEACS_DEVICE"
STAGES = ("create", "validate", "preview", "decide", "gates", "presence", "backup", "apply", "verify")


def _ms(samples: list[float]) -> tuple[float, float]:
    ms = [s * 1e3 for s in samples]
    return round(percentile(ms, 50), 1), round(percentile(ms, 99), 1)


@dataclass
class _Peer:
    """Where the bench runs: a runtime whose ``tr181`` (and maybe ``tr098``) device is managed
    through ``executor`` at ``url``, and what to undo afterwards."""

    url: str
    server: str
    runtime: Any
    executor: Any
    tr181: Any
    tr098: Any | None
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for undo in reversed(self.cleanup):  # best effort: a bench's teardown must not hide its result
            with contextlib.suppress(Exception):
                undo()


def _local_peer(tmp: Path) -> _Peer:
    """The in-process NBI over a seeded fleet (its CWMP devices managed through it)."""
    from sqlalchemy import update

    from core.kernel.config import Settings
    from core.kernel.models import Root
    from core.routing import ExecutorRouter
    from core.store import repo
    from core.store.schema import DeviceRow
    from executors.genieacs.executor import GenieAcsExecutor
    from executors.sim.executor import SimExecutor
    from executors.sim.twin import Twin
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet
    from testing.genieacs.fake_nbi import FakeNbi

    url = f"sqlite:///{tmp / 'gateward.db'}"
    twin = Twin(url)
    nbi = FakeNbi(twin, tick_s=None)
    nbi.start()
    ex = GenieAcsExecutor(url=nbi.url, timeout_s=10.0)
    router = ExecutorRouter({"sim": lambda: SimExecutor(twin), "genieacs": lambda: ex})
    rt = build_runtime(Settings(database_url=url, policy_time="02:30"), router=router)
    peer = _Peer(nbi.url, "testing.genieacs.fake_nbi (in process)", rt, ex, None, None,
                 [twin.close, nbi.stop, ex.close, rt.close])
    seed_fleet(rt, homes=12, seed=11)
    with rt.store.read() as s:
        fleet, _ = repo.list_devices(s, limit=1000)
    picks = [d for d in fleet if str(d.protocol) == "cwmp" and not twin.faults(d.id)]
    ids = [next(d for d in picks if d.root is not Root.IGD).id, next(d for d in picks if d.root is Root.IGD).id]
    with rt.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id.in_(ids)).values(adapter="genieacs"))
    with rt.store.read() as s:
        got = repo.get_devices(s, ids)
    peer.tr181, peer.tr098 = got[ids[0]], got[ids[1]]
    return peer


def _remote_peer(tmp: Path, url: str, device_id: str | None) -> _Peer:
    """A real GenieACS at ``url``: its devices registered in a throw-away database."""
    from core.inventory_sync import InventorySync
    from core.kernel.config import Settings
    from core.kernel.models import Root
    from core.routing import ExecutorRouter
    from core.store import repo
    from core.users import ensure_users
    from executors.genieacs.executor import GenieAcsExecutor
    from executors.genieacs.inventory import AcsInventorySource
    from executors.genieacs.nbi import NbiClient
    from gateward.runtime import build_runtime

    db = f"sqlite:///{tmp / 'gateward.db'}"
    ex = GenieAcsExecutor(url=url, timeout_s=10.0)
    rt = build_runtime(Settings(database_url=db, policy_time="02:30"),
                       router=ExecutorRouter({"genieacs": lambda: ex}))
    peer = _Peer(url, f"GenieACS NBI at {url}", rt, ex, None, None, [ex.close, rt.close])
    ensure_users(rt.store)
    inventory = NbiClient(url, timeout_s=60.0)
    peer.cleanup.append(inventory.close)
    report = InventorySync(rt.store, AcsInventorySource(inventory)).run(sweep=False)
    with rt.store.read() as s:
        fleet, _ = repo.list_devices(s, limit=1000)
    mine = [d for d in fleet if d.adapter == "genieacs"]
    if device_id:
        found = [d for d in mine if d.id == device_id]
        if not found:
            raise SystemExit(f"{url} has no device {device_id!r} (registered: {', '.join(d.id for d in mine)}; "
                             f"refused: {report.refused})")
        peer.tr181 = found[0]
    else:
        tr181 = [d for d in mine if d.root is not Root.IGD]
        if not tr181:
            raise SystemExit(f"{url} has no TR-181 device to change (it knows {len(mine)} device(s))")
        peer.tr181 = tr181[0]
    peer.tr098 = next((d for d in mine if d.root is Root.IGD), None)
    return peer


def run(quick: bool) -> BenchResult:
    """``gateward bench genieacs_change``: the local NBI, or ``$GATEWARD_BENCH_GENIEACS_URL``."""
    return measure(quick, url=os.environ.get(URL_ENV) or None, device_id=os.environ.get(DEVICE_ENV) or None)


def measure(quick: bool, *, url: str | None = None, device_id: str | None = None,
            samples: int | None = None) -> BenchResult:
    import httpx

    from core.kernel.models import Change, ProposalDraft, ProposalState
    from core.users import get_actor
    from executors.genieacs.ids import genieacs_device_id, url_segment
    from executors.genieacs.nbi import REASON_QUEUED
    from executors.genieacs.timing import next_boundary

    n = samples or (8 if quick else 40)
    shm = Path("/dev/shm")
    tmp = Path(tempfile.mkdtemp(prefix="gateward-bench-gchange-", dir=shm if shm.is_dir() else None))
    peer = _remote_peer(tmp, url, device_id) if url else _local_peer(tmp)
    rt, ex, tr181, tr098 = peer.runtime, peer.executor, peer.tr181, peer.tr098
    posted: list[str] = []
    real_post = ex.client.post_task

    def counting(gid: str, task: Any, **kw: Any) -> Any:
        posted.append(str(task.get("name")) if isinstance(task, dict) else "?")
        return real_post(gid, task, **kw)

    ex.client.post_task = counting
    stages: dict[str, list[float]] = collections.defaultdict(list)
    rt.lifecycle.set_stage_timer(lambda stage, took: stages[stage].append(took))
    alice = get_actor(rt.store, "alice")
    gid = genieacs_device_id(tr181.oui, tr181.product_class, tr181.serial)
    seg = url_segment(gid)
    bare = httpx.Client(base_url=peer.url, timeout=30.0)

    def bare_task(task: dict[str, Any]) -> None:
        """One task with a connection request, as a bare NBI client posts it. Under load the CPE's session may not
        start within the timeout: GenieACS then answers 202 "Task queued but not processed" and keeps the task for
        the next session — a client that needs the answer now deletes it and asks again (at most three times; the
        retry is in the baseline's time, as it would be in any client's). It failed the full tier once (CI, load)."""
        for _ in range(3):
            r = bare.post(f"/devices/{seg}/tasks", params={"connection_request": "", "timeout": "10000"},
                          content=json.dumps(task))
            if r.status_code == 200:
                return
            if r.status_code != 202 or r.reason_phrase != REASON_QUEUED:
                break
            bare.delete(f"/tasks/{r.json()['_id']}")
        raise AssertionError(f"the bare client's {task['name']} was not processed: {r.status_code} {r.reason_phrase}")

    def bare_change(i: int, *, verified: bool = False) -> None:
        bare_task({"name": "getParameterValues", "parameterNames": [SSID1]})
        bare.get("/devices/", params={"query": json.dumps({"_id": gid}), "projection": SSID1})
        bare_task({"name": "setParameterValues", "parameterValues": [[SSID1, f"Bare {i}", "xsd:string"]]})
        if verified:  # leave the Set's refresh interval so the verify GPV reaches the CPE
            time.sleep(max(0.0, next_boundary(time.time(), gid) - time.time() + 0.005))
        bare_task({"name": "getParameterValues", "parameterNames": [SSID1]})
        bare.get("/devices/", params={"query": json.dumps({"_id": gid}), "projection": SSID1})

    def governed_change(i: int) -> tuple[int, float, float]:
        """Time submit (with the live preview, whose read the backup may reuse) through apply: gates,
        presence, backup, Set, verify read, audit. Returns tasks, total seconds, apply seconds."""
        draft = ProposalDraft(intent="bench: rename the home network", targets=[tr181.id],
                              changes=[Change(path=SSID1, value=f"Governed {i}")], rationale="bench")
        before = len(posted)
        start = time.perf_counter()
        p = rt.lifecycle.submit(draft, alice)
        if p.state is not ProposalState.APPROVED:
            for who in ("bob", "carol"):
                if p.state is ProposalState.AWAITING_APPROVAL:
                    p = rt.lifecycle.approve(p.id, get_actor(rt.store, who))
        assert p.state is ProposalState.APPROVED, (p.state, p.error)
        applying = time.perf_counter()
        out = rt.lifecycle.apply(p.id, alice)
        end = time.perf_counter()
        assert out.proposal.state is ProposalState.DONE, out.proposal.error
        return len(posted) - before, end - start, end - applying

    discover_s = whole_s = float("nan")
    phase = random.Random(12)
    try:
        governed_change(0)
        bare_change(0)
        stages.clear()
        t_gov: list[float] = []
        t_apply: list[float] = []
        t_bare: list[float] = []
        t_bare_v: list[float] = []
        tasks: list[int] = []
        for i in range(1, n + 1):
            order = (0, 1, 2) if i % 2 else (2, 1, 0)
            for k in order:
                # start each sequence in a fresh refresh interval, at a random phase within it, as separate
                # changes would: a fixed pause would lock every sample to the same phase of the device's
                # interval, and with it the verify's boundary wait (seen: ~0.85 s every time locally)
                time.sleep(1.05 + phase.random())
                start = time.perf_counter()
                if k == 0:
                    count, took, applying = governed_change(i)
                    tasks.append(count)
                    t_gov.append(took)
                    t_apply.append(applying)
                elif k == 1:
                    bare_change(i)
                    t_bare.append(time.perf_counter() - start)
                else:
                    bare_change(i, verified=True)
                    t_bare_v.append(time.perf_counter() - start)
        if tr098 is not None:
            time.sleep(1.05)
            start = time.perf_counter()
            ex.discover(tr098)
            discover_s = time.perf_counter() - start
            # the old way, for comparison: refresh the whole TR-098 tree, then fetch the whole document
            gid098 = genieacs_device_id(tr098.oui, tr098.product_class, tr098.serial)
            time.sleep(1.05)
            start = time.perf_counter()
            r = bare.post(f"/devices/{url_segment(gid098)}/tasks",
                          params={"connection_request": "", "timeout": "10000"},
                          content=json.dumps({"name": "refreshObject", "objectName": ""}))
            assert r.status_code == 200, r.reason_phrase
            bare.get("/devices/", params={"query": json.dumps({"_id": gid098})})
            whole_s = time.perf_counter() - start
    finally:
        bare.close()
        peer.close()
        shutil.rmtree(tmp, ignore_errors=True)

    g50, g99 = _ms(t_gov)
    a50, a99 = _ms(t_apply)
    b50, b99 = _ms(t_bare)
    v50, v99 = _ms(t_bare_v)
    ratio = round(g50 / b50, 3) if b50 else float("nan")
    per_change = max(tasks)
    stage_p50 = {st: _ms(stages[st])[0] for st in STAGES if stages.get(st)}
    metrics: dict[str, float] = {
        "governed_p50_ms": g50,
        "governed_p99_ms": g99,
        "apply_p50_ms": a50,
        "apply_p99_ms": a99,
        "bare_p50_ms": b50,
        "bare_p99_ms": b99,
        "bare_verified_p50_ms": v50,
        "bare_verified_p99_ms": v99,
        "governed_to_bare_ratio": ratio,
        "governed_to_bare_verified_ratio": round(g50 / v50, 3) if v50 else float("nan"),
        "tasks_per_change": per_change,
        "tr098_discover_ms": round(discover_s * 1e3, 1),
        "tr098_whole_tree_refresh_ms": round(whole_s * 1e3, 1),
        **{f"stage_{st}_p50_ms": v for st, v in stage_p50.items()},
    }
    rows = [
        ("governed change, submit (preview) → apply, p50 / p99", f"{g50:,.0f} / {g99:,.0f} ms"),
        ("  of which apply (backup, Set, verify) p50 / p99", f"{a50:,.0f} / {a99:,.0f} ms"),
        ("  lifecycle stages p50", ", ".join(f"{st} {v:,.0f}" for st, v in stage_p50.items()) + " ms"),
        ("bare GPV + SPV + GPV p50 / p99 (verify from cache)", f"{b50:,.0f} / {b99:,.0f} ms"),
        ("bare with a real verify (one boundary wait) p50 / p99", f"{v50:,.0f} / {v99:,.0f} ms"),
        ("ratio p50 (goal ≤ 1.25×)", f"{ratio}×"),
        ("NBI tasks per governed change incl. the preview read (goal 3)", str(per_change)),
        ("TR-098 discover (subtrees)", f"{discover_s * 1e3:,.0f} ms"),
        ("TR-098 whole-tree refresh + document (the old discover)", f"{whole_s * 1e3:,.0f} ms"),
    ]
    return BenchResult(
        name=NAME,
        metrics=metrics,
        params={"samples": n, "quick": quick, "server": peer.server, "device": tr181.id},
        rows=rows,
        notes=[
            "The bare verify GPV lands in the Set's refresh interval and is answered from GenieACS's cache "
            "(no CPE read); the adapter waits for the boundary, when it has not passed, so its verify reaches the CPE.",
            "The bare sequence also skips presence, the Set's pre-check and all database/audit work.",
            "The governed clock includes submit's live preview: the backup reuses its read when the device "
            "provably did not change since (issue 12 deliverable 4).",
            "The local NBI answers a task when its session ends; a real GenieACS polls every 500 ms, so only "
            "--url gives the ratio the goal is about.",
        ],
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.genieacs_change [--url URL] [--device ID] [--quick] [--samples N]``."""
    ap = argparse.ArgumentParser(prog="python -m bench.genieacs_change", description=DESCRIPTION)
    ap.add_argument("--url", default=os.environ.get(URL_ENV) or None,
                    help=f"a real GenieACS NBI (default: the local one; env {URL_ENV})")
    ap.add_argument("--device", default=os.environ.get(DEVICE_ENV) or None,
                    help="the TR-181 device to change (default: the first TR-181 device the ACS knows)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--samples", type=int, default=None)
    args = ap.parse_args(argv)
    print_result(measure(args.quick, url=args.url, device_id=args.device, samples=args.samples))


if __name__ == "__main__":
    main()
