"""Faults GenieACS keeps, and what the adapter must do when it cannot clear one.

Found against GenieACS 1.2.16 (recorded: ``tests/contract/recorded/genieacs_fault_left_*.json``): a
faulted task stays queued with its fault; without an ``expiry`` it waits for ``cwmp.retryDelay``
(300 s, doubling per retry) or ``POST /tasks/<id>/retry``; with an ``expiry`` still ahead, the
next session of the device deletes the fault and runs the task again — every session until it
expires. ``DELETE /faults/<id>`` deletes the task with it.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.kernel.models import Change
from executors.base import Timeout
from tests.genieacs.conftest import SSID1, apply, read


def test_a_faulted_set_that_cannot_be_cleared_may_still_land_and_is_no_refusal(
    executor: Any, nbi: Any, twin: Any, devices: Any
) -> None:
    """Found against GenieACS 1.2.16 (recorded: tests/contract/recorded/genieacs_fault_left_expiry.json):
    a faulted task whose ``expiry`` is still ahead is run again at the device's next session — the
    fault is deleted when the session starts. Every task of ours carries an expiry, so a faulted Set
    whose fault and task could not be deleted may land later, once the CPE accepts it: that is an
    unknown outcome (``Timeout``, rolled back by the lifecycle), never a plain refusal."""
    from executors.genieacs.nbi import NbiUnavailable

    d = devices["tr181"]
    before = read(executor, d, SSID1)
    twin.inject(d.id, "fault_on_set", code=9002, message="internal error")

    def unavailable(*args: Any) -> Any:
        raise NbiUnavailable("GenieACS NBI failed with 503 Device is in session")

    executor.client.delete_fault = unavailable
    executor.client.delete_task = unavailable
    with pytest.raises(Timeout, match=r"could not be cleared .* may still land"):
        apply(executor, d, [Change(path=SSID1, value="Lands Later")])
    assert twin.params(d.id)[SSID1] == before
    twin.clear(d.id, "fault_on_set")
    nbi.inform(d.id)  # the device's next session: GenieACS runs the faulted Set again
    assert twin.params(d.id)[SSID1] == "Lands Later"
