"""Every write exactly as asked and approved, hunted by a stateful explorer (issue 54; docs/safety.md §8).

The full tier runs a fixed budget (``GATEWARD_EXPLORER_EXAMPLES`` examples of up to
``GATEWARD_EXPLORER_STEPS`` steps, seeded so a CI run is repeatable); ``make explore`` runs the long
mode for nightly use (many more examples, a new seed each time: Hypothesis prints the seed and the
shortest failing sequence). A violation it finds becomes a regression test of its own
(``tests/campaigns/test_one_gate.py``, ``tests/integration/test_schedule_truth.py`` …).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.explorer.machine import Explorer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

EXAMPLES = int(os.environ.get("GATEWARD_EXPLORER_EXAMPLES", "12"))
STEPS = int(os.environ.get("GATEWARD_EXPLORER_STEPS", "30"))
SEED = os.environ.get("GATEWARD_EXPLORER_SEED", "fixed")  # "random": new choices each run (nightly)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The 60-home fleet, seeded once for the module; each example copies it."""
    from tests.conftest import seeded_db_url

    url, _ = seeded_db_url("sqlite", tmp_path_factory.mktemp("explorer-fleet"), homes=60, snapshots=False)
    return url.removeprefix("sqlite:///")


def test_every_write_reaches_a_device_only_as_asked_and_approved(fleet: str) -> None:
    from core.kernel.config import get_settings
    from policies.engine import load_engine

    engine: Any = load_engine(get_settings())

    class Run(Explorer):
        template = fleet

    Run.engine = engine
    # No shrinking: a device's presence and the twin's clock are real, so a replay may differ and
    # Hypothesis would report a flaky test instead of the violation. Each violation is kept as it was
    # first seen (Explorer.found), with its case, and printed below.
    config = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=SEED != "random",
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
                      database=None, report_multiple_bugs=False)
    Explorer.totals.clear()
    Explorer.found.clear()
    try:
        run_state_machine_as_test(Run, settings=config)
    except (AssertionError, hypothesis.errors.HypothesisException):
        if not Explorer.found:
            raise
    finally:
        print("explorer:", ", ".join(f"{k} {v}" for k, v in sorted(Explorer.totals.items())))
        for kind, case in sorted(Explorer.found.items()):
            print(f"explorer violation {kind}: {case}")
    assert not Explorer.found, f"{len(Explorer.found)} kind(s) of violation: {sorted(Explorer.found)}"
    assert Explorer.totals["device writes"] > 0, "the explorer wrote nothing: its rules no longer reach a device"
    assert Path(fleet).exists()
