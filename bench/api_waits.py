"""api_waits: ``POST /api/proposals`` on PostgreSQL with one and with two server processes, and where the
database's backends wait meanwhile (issue 60.3: a second API process added almost nothing).

Why sample the backends: a process's own profile shows its threads waiting, not on what; the server's
``pg_stat_activity`` says for every busy backend whether it runs, waits for a lock (and which: the audit
chain's advisory lock, a row), flushes WAL at a commit, or sits *idle in transaction* — its client holds
the transaction open between two statements, doing Python work or waiting in Python (for the audit turn
of its process, ``core.audit._TURNS``, the store lane, the GIL). Each sample is every busy backend's
(state, wait, last statement); the shares over the run are reported with the throughput and the
server's CPU a request. Load: the api_latency bench's (one-device proposals, 8 raw keep-alive clients).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.framework import BenchResult

NAME = "api_waits"
KEYS_POSTGRES = ("one_process_post_per_s", "two_processes_post_per_s", "two_processes_chain_wait_share",
                 "two_processes_idle_in_transaction_share", "after_one_process_post_per_s",
                 "after_two_processes_post_per_s", "after_two_processes_idle_in_transaction_share")
# the metrics every --quick run reports (PostgreSQL); after_*: GATEWARD_AUDIT_CHAIN=after, same run
DESCRIPTION = ("POST /api/proposals on PostgreSQL, 1 and 2 server processes: req/s and where the backends wait "
               "(pg_stat_activity sampled every 5 ms)")
_SAMPLE = ("SELECT state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 60) "
           "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
           "AND state <> 'idle' AND query NOT LIKE '%pg_stat_activity%'")


def _sample(url: str, stop: threading.Event, into: Counter[tuple[str, str, str, str]]) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.connect() as c:
        while not stop.is_set():
            for state, wtype, wevent, query in c.execute(text(_SAMPLE)):
                into[(str(state), str(wtype or ""), str(wevent or ""), str(query or ""))] += 1
            c.commit()
            time.sleep(0.005)
    eng.dispose()


def _shares(counts: Counter[tuple[str, str, str, str]]) -> dict[str, float]:
    total = sum(counts.values()) or 1
    chain = sum(n for (_, wt, we, _), n in counts.items() if wt == "Lock" and we == "advisory")
    idle = sum(n for (st, _, _, _), n in counts.items() if st == "idle in transaction")
    flush = sum(n for (_, wt, we, _), n in counts.items() if wt == "IO" and we == "WALSync")
    return {"chain_wait_share": chain / total, "idle_in_transaction_share": idle / total,
            "wal_flush_share": flush / total}


def _variants(url: str, base: str, tmp: Path, token: str, post: Any, n: int, prefix: str,
              metrics: dict[str, float], rows: list[tuple[str, str]]) -> None:
    """One and two server processes under the load, with the chaining ``GATEWARD_AUDIT_CHAIN`` says
    (``prefix``: the metrics' prefix, empty for the default)."""
    from bench import api_latency as al

    for label, extra in (("one_process", ()), ("two_processes", ("--workers", "2"))):
        with al._server(url, tmp, 20, extra) as (server, pid):
            asyncio.run(al._load(server, token, post, 40, 8))  # warm-up
            counts: Counter[tuple[str, str, str, str]] = Counter()
            stop = threading.Event()
            sampler = threading.Thread(target=_sample, args=(base, stop, counts), daemon=True)
            sampler.start()
            c0, load0 = al._cpu_s(pid), os.getloadavg()[0]
            _, wall, statuses = asyncio.run(al._load(server, token, post, n, 8))
            stop.set()
            sampler.join()
            cpu_ms = (al._cpu_s(pid) - c0) / n * 1e3
        shares = _shares(counts)
        title = f"{label.replace('_', ' ')}, chained {'after' if prefix else 'at'} commit"
        metrics[f"{prefix}{label}_post_per_s"] = round(n / wall, 1)
        metrics[f"{prefix}{label}_server_cpu_ms_per_post"] = round(cpu_ms, 2)
        metrics.update({f"{prefix}{label}_{k}": round(v, 3) for k, v in shares.items()})
        metrics[f"{prefix}{label}_load_avg"] = round(load0, 2)
        top = ", ".join(f"{c / max(1, sum(counts.values())):.0%} {st}{f' {we}' if we else ''} after "
                        f"{q[:32]!r}" for (st, _, we, q), c in counts.most_common(4))
        rows.append((f"{title}: POST /api/proposals",
                     f"{n / wall:.1f}/s, server CPU {cpu_ms:.2f} ms a POST, statuses {statuses}, "
                     f"load {load0:.1f}"))
        rows.append((f"{title}: busy backends",
                     f"chain lock {shares['chain_wait_share']:.1%}, idle in transaction "
                     f"{shares['idle_in_transaction_share']:.1%}, WAL flush {shares['wal_flush_share']:.1%}; "
                     f"most: {top}"))


def run(quick: bool) -> BenchResult:
    from bench import api_latency as al

    base = os.environ.get("GATEWARD_BENCH_DATABASE_URL")
    if not base:
        raise SystemExit("api_waits needs PostgreSQL: set GATEWARD_BENCH_DATABASE_URL")
    n = 240 if quick else 1200
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="gw-bench-waits-") as tmpdir:
        tmp = Path(tmpdir)
        with al._database("postgres", tmp) as url:
            token, targets, _ = al._prepare(url, 20, 30)

            def post(i: int) -> tuple[str, str, Any]:
                return "POST", "/api/proposals", {"intent": f"bench {i}", "targets": [targets[i % len(targets)]],
                                                  "changes": [{"path": "Device.WiFi.Radio.1.Channel",
                                                               "value": 1 + (i % 3) * 5}]}

            saved = os.environ.get("GATEWARD_AUDIT_CHAIN")
            try:
                for mode, prefix in (("commit", ""), ("after", "after_")):
                    os.environ["GATEWARD_AUDIT_CHAIN"] = mode  # the servers inherit it
                    _variants(url, base, tmp, token, post, n, prefix, metrics, rows)
            finally:
                if saved is None:
                    os.environ.pop("GATEWARD_AUDIT_CHAIN", None)
                else:
                    os.environ["GATEWARD_AUDIT_CHAIN"] = saved
    notes = ["each sample: every busy client backend's state, wait and last statement (pg_stat_activity, every 5 ms); "
             "idle in transaction = the client holds its transaction open between two statements"]
    return BenchResult(NAME, metrics, {"posts": n, "clients": 8, "quick": quick}, rows, notes)
