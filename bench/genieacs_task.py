"""GenieACS adapter overhead per task, against the local NBI server, with a bare-protocol baseline.

Why these figures: every read the lifecycle makes through GenieACS (backup, preview, verify,
rollback check) is one ``getParameterValues`` task with a connection request plus one document
query, and every change is a refresh, a checked ``setParameterValues`` task and a tag. The
baseline does the same HTTP exchanges with a bare ``httpx`` loop (no id encoding, validation,
typing, TR-098 translation or outcome mapping) in the same process against the same server, so
``adapter - bare`` is what the adapter itself costs per task and the ratio says how much of a
task's time that is. The absolute numbers are dominated by the fake's simulated CWMP session and
its SQLite twin, not by GenieACS (which polls every 500 ms and would add that instead).
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, percentile

NAME = "genieacs_task"
# metrics every --quick run reports (tests/bench_smoke)
KEYS = ("read_adapter_to_bare_ratio", "set_client_to_bare_ratio")
DESCRIPTION = "GenieACS adapter: per-task overhead vs a bare NBI loop (read, Set, presence, TR-098 read)"

SSID1 = "Device.WiFi.SSID.1.SSID"


def _samples(fn: Callable[[int], Any], n: int, warm: int = 3) -> list[float]:
    for i in range(warm):
        fn(i)
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return out


def _paired(
    a: Callable[[int], Any], b: Callable[[int], Any], n: int, warm: int = 3
) -> tuple[list[float], list[float], float, float]:
    """Alternate the two loops sample by sample, so drift (WAL checkpoints, GC, the other core) hits
    both. Also returns each loop's mean CPU time in the calling thread: the client side alone (the
    server runs in other threads), which is the adapter's own cost free of server noise."""
    for i in range(warm):
        a(i)
        b(i)
    sa: list[float] = []
    sb: list[float] = []
    cpu = {0: 0.0, 1: 0.0}
    for i in range(n):
        order = ((a, sa, 0), (b, sb, 1)) if i % 2 == 0 else ((b, sb, 1), (a, sa, 0))
        for fn, out, k in order:
            c0 = time.thread_time()
            start = time.perf_counter()
            fn(2 * i + k)
            out.append(time.perf_counter() - start)
            cpu[k] += time.thread_time() - c0
    return sa, sb, cpu[0] / n, cpu[1] / n


def _scratch() -> Path:
    """A RAM-backed directory when there is one: the twin's SQLite fsyncs are not what we measure."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() else None
    return Path(tempfile.mkdtemp(prefix="gateward-bench-genieacs-", dir=base))


def _us(samples: list[float]) -> tuple[float, float]:
    us = [s * 1e6 for s in samples]
    return round(percentile(us, 50), 1), round(percentile(us, 99), 1)


def run(quick: bool) -> BenchResult:
    import httpx

    from executors.genieacs import tasks as T
    from executors.genieacs.executor import GenieAcsExecutor
    from executors.genieacs.ids import genieacs_device_id, url_segment
    from executors.genieacs.nbi import NbiClient
    from executors.sim.twin import Twin
    from testing.genieacs.fake_nbi import FakeNbi

    n = 60 if quick else 600
    tmp = _scratch()
    twin = Twin(f"sqlite:///{tmp / 'twin.db'}")
    tr181 = twin.add_device("lumenet-g240w-3.2", "LMNT93000001", region="GB")
    tr098 = twin.add_device("sinotel-hg8020-s105", "4857544393000001", region="DE")
    nbi = FakeNbi(twin, tick_s=None)
    url = nbi.start()
    ex = GenieAcsExecutor(url=url, timeout_s=10.0)
    client = NbiClient(url)
    gid = genieacs_device_id(tr181.oui, tr181.product_class, tr181.serial)
    seg = url_segment(gid)
    bare = httpx.Client(base_url=url, timeout=30.0)
    try:
        # -- read: one refresh task + one projected document query
        def bare_read(_: int) -> Any:
            task = json.dumps({"name": "getParameterValues", "parameterNames": [SSID1]})
            r = bare.post(f"/devices/{seg}/tasks", params={"connection_request": "", "timeout": "10000"}, content=task)
            assert r.status_code == 200, r.reason_phrase
            doc = bare.get("/devices/", params={"query": json.dumps({"_id": gid}), "projection": SSID1}).json()
            return doc[0]["Device"]["WiFi"]["SSID"]["1"]["SSID"]["_value"]

        def adapter_read(_: int) -> Any:
            return ex.read(tr181, [SSID1])[SSID1].value

        assert bare_read(0) == adapter_read(0)
        read_bare, read_adapter, read_bare_cpu, read_adapter_cpu = _paired(bare_read, adapter_read, n)

        # -- Set task (alternating values so every Set reaches the CPE)
        def bare_set(i: int) -> None:
            task = json.dumps({"name": "setParameterValues", "parameterValues": [[SSID1, f"Bench {i}", "xsd:string"]]})
            r = bare.post(f"/devices/{seg}/tasks", params={"connection_request": "", "timeout": "10000"}, content=task)
            assert r.status_code == 200, r.reason_phrase

        def client_set(i: int) -> None:
            out = client.post_task(
                gid,
                T.set_values([(SSID1, f"Bench {i}", "xsd:string")], expiry_s=300, unique_key=f"gateward-set-bench-{i}"),
            )
            assert out.kind == "done", out.reason

        set_bare, set_client, set_bare_cpu, set_client_cpu = _paired(bare_set, client_set, n)

        # -- presence (one document query; no connection request) and a TR-098 read (full document + translation)
        presence = _samples(lambda _: ex.presence(tr181), max(10, n // 2))
        tr098_read = _samples(lambda _: ex.read(tr098, ["Device.WiFi.Radio.2.Channel"]), max(10, n // 2))
    finally:
        bare.close()
        client.close()
        ex.close()
        nbi.stop()
        twin.close()
        shutil.rmtree(tmp, ignore_errors=True)

    rb50, rb99 = _us(read_bare)
    ra50, ra99 = _us(read_adapter)
    sb50, sb99 = _us(set_bare)
    sc50, sc99 = _us(set_client)
    p50, p99 = _us(presence)
    t50, t99 = _us(tr098_read)
    metrics = {
        "read_bare_p50_us": rb50,
        "read_bare_p99_us": rb99,
        "read_adapter_p50_us": ra50,
        "read_adapter_p99_us": ra99,
        "read_overhead_p50_us": round(ra50 - rb50, 1),
        "read_adapter_to_bare_ratio": round(ra50 / rb50, 3) if rb50 else float("nan"),
        "set_bare_p50_us": sb50,
        "set_bare_p99_us": sb99,
        "set_client_p50_us": sc50,
        "set_client_p99_us": sc99,
        "set_overhead_p50_us": round(sc50 - sb50, 1),
        "set_client_to_bare_ratio": round(sc50 / sb50, 3) if sb50 else float("nan"),
        "read_client_cpu_bare_us": round(read_bare_cpu * 1e6, 1),
        "read_client_cpu_adapter_us": round(read_adapter_cpu * 1e6, 1),
        "set_client_cpu_bare_us": round(set_bare_cpu * 1e6, 1),
        "set_client_cpu_adapter_us": round(set_client_cpu * 1e6, 1),
        "presence_p50_us": p50,
        "presence_p99_us": p99,
        "tr098_read_p50_us": t50,
        "tr098_read_p99_us": t99,
        "adapter_reads_per_s": round(1.0 / statistics.fmean(read_adapter), 1),
    }
    rows = [
        ("read, bare NBI loop p50 / p99", f"{rb50:,.0f} / {rb99:,.0f} µs"),
        ("read, adapter p50 / p99", f"{ra50:,.0f} / {ra99:,.0f} µs"),
        ("read overhead p50 (ratio)", f"{ra50 - rb50:,.0f} µs ({metrics['read_adapter_to_bare_ratio']}×)"),
        ("Set task, bare p50 / p99", f"{sb50:,.0f} / {sb99:,.0f} µs"),
        ("Set task, NBI client p50 / p99", f"{sc50:,.0f} / {sc99:,.0f} µs"),
        ("Set overhead p50 (ratio)", f"{sc50 - sb50:,.0f} µs ({metrics['set_client_to_bare_ratio']}×)"),
        ("client CPU per read: bare / adapter", f"{read_bare_cpu * 1e6:,.0f} / {read_adapter_cpu * 1e6:,.0f} µs"),
        ("client CPU per Set: bare / client", f"{set_bare_cpu * 1e6:,.0f} / {set_client_cpu * 1e6:,.0f} µs"),
        ("presence (one document query, no probe) p50 / p99", f"{p50:,.0f} / {p99:,.0f} µs"),
        ("TR-098 read (full doc + translation) p50 / p99", f"{t50:,.0f} / {t99:,.0f} µs"),
        ("adapter reads/s (one thread)", f"{metrics['adapter_reads_per_s']:,}"),
    ]
    return BenchResult(
        name=NAME,
        metrics=metrics,
        params={
            "samples": n,
            "quick": quick,
            "server": "testing.genieacs.fake_nbi (in process)",
            "twin": f"SQLite file in {tmp.parent}",
        },
        rows=rows,
        notes=[
            "bare = the same HTTP exchanges with plain httpx; adapter = GenieAcsExecutor / NbiClient.",
            "A full adapter apply is refresh + checked Set + tag = about read + Set + 2 small requests.",
        ],
    )
