"""What each test costs — wall time and CPU — recorded in ``tests/durations.json``, and the rule that
derives ``slow`` from it.

Why CPU beside wall: the fast tier runs more workers than cores, so a test that mostly waits (a
server's timeout, a poll) costs the run little, while one that computes for seconds holds a core
the other workers need. Wall time alone cannot tell them apart, and on a loaded machine it grows
for every test. CPU time — the worker's own and that of the child processes it waited for — does
not. ``make durations`` records both (``--record-costs``); a test whose recorded wall time reaches
:data:`SLOW_S` or whose CPU reaches :data:`SLOW_CPU_S` runs in the full tier only
(docs/decisions/0005-slow-from-durations.md has the figures both were chosen from).

The file: ``{"recorded": {...machine...}, "tests": {node id: {"wall": s, "cpu": s}}}``. Recording
merges: a test not run this time (one already in the full tier, say) keeps its entry, so a test
moved out of the fast tier stays out until a recording that includes it says otherwise.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TypedDict

import pytest

DURATIONS = Path(__file__).with_name("durations.json")
SLOW_S = 6.0
"""Recorded wall time (setup, call, teardown) from which a test is ``slow``."""
SLOW_CPU_S = 2.0
"""Recorded CPU time (the worker's and its waited-for children's) from which a test is ``slow``."""
_OUTPUT_KEY = "gateward_costs"


class Cost(TypedDict):
    wall: float
    cpu: float


def strip_group(nodeid: str) -> str:
    """The node id without the ``@group`` xdist appends on a worker under ``--dist loadgroup``
    (its own test: an ``@`` after the last ``]``, since a parameter may hold one)."""
    return nodeid[: nodeid.rfind("@")] if group_suffixed(nodeid) else nodeid


def group_suffixed(nodeid: str) -> bool:
    return nodeid.rfind("@") > nodeid.rfind("]")


def recorded(path: Path = DURATIONS) -> dict[str, Cost]:
    """The recorded costs by node id; empty when the file is missing or unreadable."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    tests = loaded.get("tests") if isinstance(loaded, dict) else None
    if not isinstance(tests, dict):
        return {}
    out: dict[str, Cost] = {}
    for nodeid, cost in tests.items():
        if isinstance(cost, dict):
            out[strip_group(nodeid)] = Cost(wall=float(cost.get("wall", 0.0)), cpu=float(cost.get("cpu", 0.0)))
    return out


def is_slow(cost: Cost | None) -> bool:
    return cost is not None and (cost["wall"] >= SLOW_S or cost["cpu"] >= SLOW_CPU_S)


def _cpu_now() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class CostRecorder:
    """Measures every test it sees; a worker hands its figures to the controller (xdist's
    ``workeroutput``), and the process that owns the session merges them into the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.costs: dict[str, Cost] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, None, None]:
        wall, cpu = time.monotonic(), _cpu_now()
        yield
        self.costs[strip_group(item.nodeid)] = Cost(wall=round(time.monotonic() - wall, 3),
                                                    cpu=round(_cpu_now() - cpu, 3))

    @pytest.hookimpl(optionalhook=True)  # an xdist hook: absent without xdist
    def pytest_testnodedown(self, node: object, error: object) -> None:
        output = getattr(node, "workeroutput", None)
        if isinstance(output, Mapping) and _OUTPUT_KEY in output:
            self.costs.update(json.loads(output[_OUTPUT_KEY]))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # a worker: the controller writes the file
            workeroutput[_OUTPUT_KEY] = json.dumps(self.costs)
            return
        if not self.costs:
            return
        merged = {**recorded(self.path), **self.costs}
        load1, load5, _ = os.getloadavg()
        document = {"recorded": {"cores": os.cpu_count(), "load_at_end": [round(load1, 1), round(load5, 1)],
                                 "note": "record on a quiet machine: make durations"},
                    "tests": {k: merged[k] for k in sorted(merged)}}
        self.path.write_text(json.dumps(document, indent=0, sort_keys=False) + "\n")


def add_option(parser: pytest.Parser) -> None:
    parser.addoption("--record-costs", metavar="PATH", default=None,
                     help="record each test's wall and CPU time into PATH (merged; tests/durations.json)")


def configure(config: pytest.Config) -> None:
    path = config.getoption("--record-costs")
    if path:
        config.pluginmanager.register(CostRecorder(Path(path)), "gateward-cost-recorder")
