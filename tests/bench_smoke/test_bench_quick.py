"""Every benchmark's ``--quick`` run, as an operator types it: it finishes and its last line is the
JSON object with the metric keys the benchmark promises (``KEYS``; ``KEYS_POSTGRES`` too when a
PostgreSQL is configured).

Why: a benchmark is run by hand, now and then, so a policy, schema or default change that breaks one
went unseen until the next person needed its figure (issue 60: ``campaign_run`` failed on main for
days once policy required a rehearsal at 1,000 targets). Here each one runs in the full tier, so such
a change fails CI the same day. No figure is judged: a timing is a bench row, never a test's
verdict (docs/decisions/0006-timings-are-bench-rows.md).

They run one after another on one worker (``xdist_group``): each starts servers, workers or brokers
of its own and would measure the others. The group is the one of the PostgreSQL tests that start
many processes (``pg_processes``): the campaign bench's four workers beside the soak could pass
PostgreSQL's connection limit.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bench.framework import discover

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("GATEWARD_TEST_DATABASE_URL")
REQUIRE = os.environ.get("GATEWARD_REQUIRE_SERVICES") == "1"
BENCHES = discover()
RUN_TIMEOUT_S = 900  # the slowest --quick took 332 s at load 20 (api_latency): a hang fails in 15 min



def _promised(mod: ModuleType) -> list[str]:
    keys = list(getattr(mod, "KEYS", ()))
    if PG_URL:
        keys += list(getattr(mod, "KEYS_POSTGRES", ()))
    return keys


def _last_json(out: str) -> dict[str, object]:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert lines, "the benchmark printed nothing"
    try:
        doc = json.loads(lines[-1])
    except ValueError:
        raise AssertionError(f"the last line is not JSON: {lines[-1][:300]!r}") from None
    assert isinstance(doc, dict), doc
    return doc


def test_every_benchmark_promises_its_keys() -> None:
    """A benchmark without ``KEYS`` would pass its smoke run printing any metrics at all."""
    assert [n for n, mod in BENCHES.items() if not getattr(mod, "KEYS", ()) and not getattr(mod, "KEYS_POSTGRES", ())
            ] == []


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
@pytest.mark.xdist_group("pg_processes")
@pytest.mark.parametrize("name", sorted(BENCHES))
def test_quick_run_prints_its_json_line(name: str, tmp_path: Path) -> None:
    if not PG_URL and not getattr(BENCHES[name], "KEYS", ()):  # it measures PostgreSQL only
        if REQUIRE:
            pytest.fail(f"{name} needs PostgreSQL: GATEWARD_TEST_DATABASE_URL is not set")
        pytest.skip(f"{name} measures PostgreSQL only (GATEWARD_TEST_DATABASE_URL is not set)")
    if "chromium" in getattr(BENCHES[name], "NEEDS", ()):
        from tests.browser.conftest import _ensure_browser

        _ensure_browser()  # installed as the browser tests install it; skipped (CI: failed) where it cannot be
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if PG_URL:  # the PostgreSQL rows run too (each bench makes and drops its own schema)
        env["GATEWARD_BENCH_DATABASE_URL"] = PG_URL
    # Two distributed workers, not the bench's four: each holds about ten PostgreSQL connections (its
    # store, the job queue's pool, the checkpoints), and four of them beside the other tests' came within
    # a few of the server's 100 (a sampler here: 49 for this bench alone)
    env.setdefault("GATEWARD_BENCH_WORKERS", "2")
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        try:
            rc = subprocess.run([sys.executable, "-m", "gateward.cli", "bench", name, "--quick"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_S, check=False).returncode
        except subprocess.TimeoutExpired:
            pytest.fail(f"`gateward bench {name} --quick` did not finish in {RUN_TIMEOUT_S} s; its output ends:\n"
                        + log.read_text(errors="replace")[-3000:])
    text = log.read_text(errors="replace")
    assert rc == 0, f"`gateward bench {name} --quick` exited {rc}; its output ends:\n{text[-4000:]}"
    doc = _last_json(text)
    assert doc.get("bench") == name
    metrics, params = doc.get("metrics"), doc.get("params")
    assert isinstance(metrics, dict) and metrics, doc
    assert isinstance(params, dict) and "reference_loop_ms" in params, doc
    not_numbers = {k: v for k, v in metrics.items() if isinstance(v, bool) or not isinstance(v, int | float)}
    assert not not_numbers, f"metrics that are not numbers: {not_numbers}"
    missing = [k for k in _promised(BENCHES[name]) if k not in metrics]
    assert not missing, f"{name} did not report {missing}; it reported {sorted(metrics)}"
    nan = [k for k in _promised(BENCHES[name]) if isinstance(metrics[k], float) and math.isnan(metrics[k])]
    assert not nan, f"{name} reported no value (NaN) for {nan}"
