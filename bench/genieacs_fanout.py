"""One proposal over 50 devices through the GenieACS adapter: one device at a time vs fanned out.

Why (issue 37, item 4): a multi-device proposal read and wrote its devices one after another — on a
real GenieACS 5 devices took 10.3 s, 50 devices 81.5 s (of which propose, the live preview's reads,
28.6 s). The lifecycle now runs a proposal's device I/O ``GATEWARD_APPLY_CONCURRENCY`` at a time
(``core/fanout.py``). This bench changes ``Device.WiFi.SSID.1.SSID`` on the same devices twice in one
run, first with a limit of 1 (the serial apply, statement for statement) and then with the setting's
limit (default 16), and reports propose (submit: create, validate, the live preview, decide; plus the
approval) and apply (gates, presence, backup, writes, read-back, audit) for each; goal: ≤ 10 s for 50.

By default the NBI is the local one (``testing.genieacs.fake_nbi``) with ``poll_s=0.5``: GenieACS's
NBI notices a task's session start and end by polling every 500 ms, so a task there takes at least
one poll even on a CPE that answers at once, and the local NBI answers at that poll too. ``--url``
(or ``GATEWARD_BENCH_GENIEACS_URL``) points it at a real GenieACS: its devices (at most 50, TR-181
ones first; a TR-098 one gets the path the executor translates) are registered in a throw-away
database and changed the same way.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, print_result
from bench.genieacs_change import URL_ENV, _Peer

NAME = "genieacs_fanout"
KEYS = ("serial_total_s", "fanned_total_s", "devices")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = "GenieACS: one proposal over 50 devices, propose + apply, one at a time vs fanned out (≤ 10 s)"

SSID1 = "Device.WiFi.SSID.1.SSID"
POLL_S = 0.5
STAGES = ("preview", "presence", "backup", "apply", "verify")  # "apply": the writes


def _local_peer(tmp: Path, devices: int) -> tuple[_Peer, list[Any]]:
    """The in-process NBI (polling like GenieACS) over a seeded fleet, ``devices`` of its TR-181
    CWMP devices managed through it."""
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
    nbi = FakeNbi(twin, tick_s=None, poll_s=POLL_S)
    nbi.start()
    ex = GenieAcsExecutor(url=nbi.url, timeout_s=10.0)
    router = ExecutorRouter({"sim": lambda: SimExecutor(twin), "genieacs": lambda: ex})
    rt = build_runtime(Settings(database_url=url, policy_time="02:30"), router=router)
    peer = _Peer(nbi.url, f"testing.genieacs.fake_nbi (in process, {POLL_S * 1e3:.0f} ms session polls)", rt, ex,
                 None, None, [twin.close, nbi.stop, ex.close, rt.close])
    seed_fleet(rt, homes=max(12, devices * 3), seed=11)
    with rt.store.read() as s:
        fleet, _ = repo.list_devices(s, limit=100_000)
    # regions whose change window holds 02:30 UTC (the bench's policy time): the US window is 04:00-09:00 UTC
    picks = [d.id for d in fleet if str(d.protocol) == "cwmp" and d.root is Root.DEVICE and not twin.faults(d.id)
             and d.region != "US"
             and twin.params(d.id).get(SSID1) is not None][:devices]
    if len(picks) < devices:
        raise SystemExit(f"the seeded fleet has only {len(picks)} fault-free TR-181 CWMP devices")
    with rt.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id.in_(picks)).values(adapter="genieacs"))
    with rt.store.read() as s:
        got = repo.get_devices(s, picks)
    return peer, [got[i] for i in picks]


def _remote_peer(tmp: Path, url: str) -> _Peer:
    """A real GenieACS at ``url``: its devices registered in a throw-away database (the inventory sync)."""
    from core.inventory_sync import InventorySync
    from core.kernel.config import Settings
    from core.routing import ExecutorRouter
    from core.users import ensure_users
    from executors.genieacs.executor import GenieAcsExecutor
    from executors.genieacs.inventory import AcsInventorySource
    from executors.genieacs.nbi import NbiClient
    from gateward.runtime import build_runtime

    ex = GenieAcsExecutor(url=url, timeout_s=10.0)
    rt = build_runtime(Settings(database_url=f"sqlite:///{tmp / 'gateward.db'}", policy_time="02:30"),
                       router=ExecutorRouter({"genieacs": lambda: ex}))
    peer = _Peer(url, f"GenieACS NBI at {url}", rt, ex, None, None, [ex.close, rt.close])
    ensure_users(rt.store)
    inventory = NbiClient(url, timeout_s=60.0)
    peer.cleanup.append(inventory.close)
    InventorySync(rt.store, AcsInventorySource(inventory)).run(sweep=False)
    return peer


def _remote_devices(peer: _Peer, devices: int) -> list[Any]:
    from core.kernel.models import Root
    from core.store import repo

    with peer.runtime.store.read() as s:
        fleet, _ = repo.list_devices(s, limit=100_000)
    mine = [d for d in fleet if d.adapter == "genieacs"]  # TR-181 first; TR-098 ones get the translated path
    return sorted(mine, key=lambda d: (d.root is not Root.DEVICE, d.id))[:devices]


def run(quick: bool) -> BenchResult:
    """``gateward bench genieacs_fanout``: the local NBI, or ``$GATEWARD_BENCH_GENIEACS_URL``."""
    return measure(quick, url=os.environ.get(URL_ENV) or None)


def measure(quick: bool, *, url: str | None = None, devices: int | None = None,
            limit: int | None = None) -> BenchResult:
    from core.kernel.models import Change, ProposalDraft, ProposalState
    from core.users import get_actor

    n = devices or (10 if quick else 50)
    shm = Path("/dev/shm")
    tmp = Path(tempfile.mkdtemp(prefix="gateward-bench-gfan-", dir=shm if shm.is_dir() else None))
    if url:
        peer = _remote_peer(tmp, url)
        targets = _remote_devices(peer, n)
    else:
        peer, targets = _local_peer(tmp, n)
    rt = peer.runtime
    fanned = limit or rt.settings.apply_concurrency
    if fanned <= 1:
        fanned = 16  # the comparison needs a limit above one: the setting's default
    stages: dict[str, list[float]] = collections.defaultdict(list)
    rt.lifecycle.set_stage_timer(lambda stage, took: stages[stage].append(took))
    # an approver may target 500 devices (a support agent 5); never approved by its author
    author, applier = get_actor(rt.store, "bob"), get_actor(rt.store, "alice")
    approvers = [get_actor(rt.store, who) for who in ("carol", "dave")]
    runs: dict[int, dict[str, float]] = {}
    try:
        # Untimed warm-up: the adapter's first read of a device learns its tree (a TR-098 device's instance
        # map: subtree refreshes), which would otherwise fall on whichever run came first.
        from core.fanout import map_bounded

        for done in map_bounded(lambda d: rt.router.reader(d).read(d, [SSID1]), targets, 4):
            done.get()
        for k, concurrency in enumerate((1, fanned)):
            rt.settings.apply_concurrency = concurrency
            stages.clear()
            time.sleep(1.05)  # a fresh refresh interval on every device (GenieACS's 1 s granularity)
            draft = ProposalDraft(intent="bench: rename 50 home networks", targets=[d.id for d in targets],
                                  changes=[Change(path=SSID1, value=f"Fan-out {k} {int(time.time())}")],
                                  rationale="bench")
            start = time.perf_counter()
            p = rt.lifecycle.submit(draft, author)
            for who in approvers:
                if p.state is ProposalState.AWAITING_APPROVAL:
                    p = rt.lifecycle.approve(p.id, who)
            assert p.state is ProposalState.APPROVED, (p.state, p.error)
            applying = time.perf_counter()
            out = rt.lifecycle.apply(p.id, applier)
            end = time.perf_counter()
            assert out.proposal.state is ProposalState.DONE, (out.proposal.state, out.failed)
            runs[concurrency] = {"propose_s": applying - start, "apply_s": end - applying, "total_s": end - start,
                                 **{f"stage_{st}_s": sum(stages[st]) for st in STAGES if stages.get(st)}}
    finally:
        with contextlib.suppress(Exception):
            rt.settings.apply_concurrency = fanned
        peer.close()
        shutil.rmtree(tmp, ignore_errors=True)

    serial, fan = runs[1], runs[fanned]
    metrics: dict[str, float] = {}
    for label, r in (("serial", serial), ("fanned", fan)):
        metrics.update({f"{label}_{key}": round(v, 2) for key, v in r.items()})
    metrics["speedup_total"] = round(serial["total_s"] / fan["total_s"], 2)
    metrics["concurrency"] = fanned
    metrics["devices"] = len(targets)

    def row(r: dict[str, float]) -> str:
        parts = ", ".join(f"{st} {r[f'stage_{st}_s']:.1f}" for st in STAGES if f"stage_{st}_s" in r)
        return (f"{r['total_s']:.1f} s = propose {r['propose_s']:.1f} + apply {r['apply_s']:.1f} s "
                f"(stages: {parts} s)")

    rows = [
        (f"{len(targets)} devices, one at a time (concurrency 1)", row(serial)),
        (f"{len(targets)} devices, {fanned} at a time", row(fan)),
        ("speed-up, propose + apply", f"{metrics['speedup_total']}×"),
        ("goal: 50 devices, propose + apply", "≤ 10 s"),
    ]
    return BenchResult(
        name=NAME, metrics=metrics,
        params={"quick": quick, "server": peer.server, "devices": len(targets), "concurrency": fanned},
        rows=rows,
        notes=["Both runs change the same devices in the same process, one after the other (serial first).",
               "The local NBI answers each task at GenieACS's next 500 ms session poll, as a real NBI does; "
               "--url measures a real GenieACS."],
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.genieacs_fanout [--url URL] [--devices N] [--limit N] [--quick]``."""
    ap = argparse.ArgumentParser(prog="python -m bench.genieacs_fanout", description=DESCRIPTION)
    ap.add_argument("--url", default=os.environ.get(URL_ENV) or None,
                    help=f"a real GenieACS NBI (default: the local one; env {URL_ENV})")
    ap.add_argument("--devices", type=int, default=None, help="devices in the proposal (default 50, quick 10)")
    ap.add_argument("--limit", type=int, default=None, help="the fanned-out run's concurrency (default: the setting)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    print_result(measure(args.quick, url=args.url, devices=args.devices, limit=args.limit))


if __name__ == "__main__":
    main()
