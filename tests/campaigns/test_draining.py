"""Issue 36: a batch job a worker took just before its process began to drain (SIGTERM) is handed
back to the queue — retried by another worker, or this one after its restart — not failed, and the
campaign is not paused for it. The batch wrote nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.schema import CampaignBatchRow
from campaigns.tasks import RETRY
from core.kernel.errors import ShuttingDown
from core.lifecycle import draining
from tests.campaigns.helpers import approved, drive, who, writes


@pytest.fixture
def drained() -> Iterator[None]:
    draining.reset()
    yield
    draining.reset()


def test_a_batch_taken_as_the_process_drains_is_retried_not_failed(crt: Any, svc: Any, drained: None) -> None:
    st = approved(crt, svc)
    cid, pid = st["id"], st["proposal"]["id"]
    svc.start(cid, who(crt, "dave"))
    svc.orch.step(cid)
    with crt.store.read() as s:
        bid = s.scalars(select(CampaignBatchRow.id).where(CampaignBatchRow.campaign_id == cid,
                                                          CampaignBatchRow.state == "queued")).first()
    assert bid is not None
    draining.begin()
    with pytest.raises(ShuttingDown) as refused:
        svc.orch.run_batch(bid)
    assert RETRY.get_retry_decision(exception=refused.value, job=_job()) is not None  # the queue retries it
    assert svc.status(cid)["state"] == "running"
    assert not writes(crt, pid)
    draining.reset()
    svc.orch.run_batch(bid, attempt=2)  # the queue's retry, on another worker or after the restart
    assert drive(svc, cid)["state"] == "completed"
    assert set(writes(crt, pid).values()) == {1}


def _job() -> Any:
    from procrastinate import jobs

    return jobs.Job(id=1, queue="campaigns", lock=None, queueing_lock=None, task_name="x", attempts=0)
