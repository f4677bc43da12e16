"""One change over 49 GenieACS devices through the CLI (``gateward propose``, ``approve``, ``apply``) vs
the bare NBI loop and the same change in one process, in one run.

Why (issue 58 item 7): by hand, 50 devices through the three commands took 1.46–1.61× the bare NBI
loop while the in-process bench (``genieacs_fanout``) took 1.14×. This bench puts the three side by
side on the local NBI (GenieACS's 500 ms session polls) with the load average, and splits the CLI's
time into each command and a process's start-up alone (``gateward status``), so the difference can be
read: what the CLI adds is what a process costs to start, once per command. 49 devices: from 50
targets policy asks for a staged rollout (a campaign), which a plain apply refuses.

The bare loop is what a GenieACS client does without governance, 16 devices at a time: a read (task
and document), the Set, a read-back (task and document).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, print_result
from bench.genieacs_fanout import SSID1, _local_peer

NAME = "genieacs_cli"
KEYS = ("bare_s", "in_process_s", "cli_s", "cli_over_bare", "startup_s")  # every --quick run reports these
DESCRIPTION = "GenieACS: one change over 49 devices through gateward propose/approve/apply vs the bare NBI loop"
CONCURRENCY = 16


def _bare_loop(url: str, gids: list[str], value: str) -> float:
    """GPV + document, SPV, GPV + document per device, ``CONCURRENCY`` devices at a time; seconds."""
    import httpx

    from executors.genieacs.ids import url_segment

    with httpx.Client(base_url=url, timeout=60.0,
                      limits=httpx.Limits(max_connections=CONCURRENCY * 2)) as c:
        def task(gid: str, body: dict[str, Any]) -> None:
            r = c.post(f"/devices/{url_segment(gid)}/tasks", params={"connection_request": "", "timeout": "10000"},
                       content=json.dumps(body))
            assert r.status_code == 200, (gid, r.status_code, r.reason_phrase)

        def one(gid: str) -> None:
            read = {"name": "getParameterValues", "parameterNames": [SSID1]}
            task(gid, read)
            c.get("/devices/", params={"query": json.dumps({"_id": gid}), "projection": SSID1})
            task(gid, {"name": "setParameterValues", "parameterValues": [[SSID1, value, "xsd:string"]]})
            task(gid, read)
            c.get("/devices/", params={"query": json.dumps({"_id": gid}), "projection": SSID1})

        start = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(one, gids))
        return time.perf_counter() - start


def run(quick: bool) -> BenchResult:
    return measure(quick)


def measure(quick: bool, *, devices: int | None = None) -> BenchResult:
    from core.kernel.models import Change, ProposalDraft, ProposalState
    from core.users import get_actor
    from executors.genieacs.ids import genieacs_device_id

    n = devices or (10 if quick else 49)
    shm = Path("/dev/shm")
    tmp = Path(tempfile.mkdtemp(prefix="gateward-bench-gcli-", dir=shm if shm.is_dir() else None))
    peer, targets = _local_peer(tmp, n)
    rt = peer.runtime
    rt.settings.apply_concurrency = CONCURRENCY
    env = {**os.environ, "GATEWARD_DATABASE_URL": rt.store.url, "GATEWARD_GENIEACS_URL": peer.url,
           "GATEWARD_HOME": str(rt.settings.home), "GATEWARD_POLICY_TIME": "02:30",
           "GATEWARD_APPLY_CONCURRENCY": str(CONCURRENCY), "COLUMNS": "200"}
    gateward = shutil.which("gateward", path=str(Path(sys.executable).parent)) or "gateward"
    gids = [genieacs_device_id(d.oui, d.product_class, d.serial) for d in targets]
    load_before = os.getloadavg()

    def cli(*args: str) -> tuple[float, str]:
        start = time.perf_counter()
        out = subprocess.run([gateward, *args], env=env, capture_output=True, text=True, check=False)
        took = time.perf_counter() - start
        if out.returncode:
            raise RuntimeError(f"gateward {args[0]} failed: {out.stdout[-600:]} {out.stderr[-600:]}")
        return took, out.stdout

    try:
        from core.fanout import map_bounded

        for done in map_bounded(lambda d: rt.router.reader(d).read(d, [SSID1]), targets, 8):  # untimed warm-up
            done.get()
        time.sleep(1.05)  # a fresh refresh interval on every device (GenieACS's 1 s granularity)
        bare = _bare_loop(peer.url, gids, f"Bare {int(time.time())}")
        time.sleep(1.05)
        draft = ProposalDraft(intent="bench: rename the home networks", targets=[d.id for d in targets],
                              changes=[Change(path=SSID1, value=f"In process {int(time.time())}")], rationale="bench")
        start = time.perf_counter()
        p = rt.lifecycle.submit(draft, get_actor(rt.store, "bob"))
        for who in ("carol", "dave"):
            if p.state is ProposalState.AWAITING_APPROVAL:
                p = rt.lifecycle.approve(p.id, get_actor(rt.store, who))
        out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
        in_process = time.perf_counter() - start
        assert out.proposal.state is ProposalState.DONE, (out.proposal.state, out.proposal.error)
        time.sleep(1.05)
        picked = [arg for d in targets for arg in ("-d", d.id)]
        args = ["propose", *picked, "--set", f"{SSID1}=CLI {int(time.time())}", "--reason", "bench", "--as", "bob"]
        propose_s, said = cli(*args)
        pid = re.findall(r"\bp-[0-9a-f]{12}\b", said)[0]
        approve_s = 0.0
        for who in ("carol", "dave"):
            if rt.lifecycle.get(pid).state is ProposalState.AWAITING_APPROVAL:
                approve_s += cli("approve", pid, "--as", who)[0]
        apply_s, _ = cli("apply", pid, "--as", "alice")
        assert rt.lifecycle.get(pid).state is ProposalState.DONE, rt.lifecycle.get(pid).error
        startup_s = min(cli("status")[0] for _ in range(2))
    finally:
        peer.close()
        shutil.rmtree(tmp, ignore_errors=True)
    cli_total = propose_s + approve_s + apply_s
    commands = 1 + (1 if approve_s else 0) + 1  # propose, approve(s), apply
    metrics = {"devices": len(targets), "bare_s": round(bare, 2), "in_process_s": round(in_process, 2),
               "cli_s": round(cli_total, 2), "cli_propose_s": round(propose_s, 2),
               "cli_approve_s": round(approve_s, 2), "cli_apply_s": round(apply_s, 2),
               "startup_s": round(startup_s, 2), "in_process_over_bare": round(in_process / bare, 2),
               "cli_over_bare": round(cli_total / bare, 2),
               "cli_less_startups_over_bare": round(max(0.0, cli_total - commands * startup_s) / bare, 2),
               "load_before": round(load_before[0], 2), "load_after": round(os.getloadavg()[0], 2)}
    rows = [
        (f"bare NBI loop, {len(targets)} devices, {CONCURRENCY} at a time", f"{bare:.2f} s"),
        ("the same change in one process (submit, approve, apply)",
         f"{in_process:.2f} s ({metrics['in_process_over_bare']}×)"),
        ("through the CLI: propose + approve + apply",
         f"{cli_total:.2f} s = {propose_s:.2f} + {approve_s:.2f} + {apply_s:.2f} ({metrics['cli_over_bare']}×)"),
        ("a CLI process's start-up alone (gateward status, best of 2)", f"{startup_s:.2f} s"),
        ("the CLI less one start-up a command", f"{metrics['cli_less_startups_over_bare']}× the bare loop"),
        ("load average (1 min) before / after", f"{metrics['load_before']} / {metrics['load_after']}"),
    ]
    return BenchResult(name=NAME, metrics=metrics, rows=rows,
                       params={"quick": quick, "devices": len(targets), "concurrency": CONCURRENCY,
                               "server": peer.server},
                       notes=["All three in one run on the local NBI (500 ms session polls), in this order."])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.genieacs_cli", description=DESCRIPTION)
    ap.add_argument("--devices", type=int, default=None, help="devices in the change (default 49, quick 10)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    print_result(measure(args.quick, devices=args.devices))


if __name__ == "__main__":
    main()
