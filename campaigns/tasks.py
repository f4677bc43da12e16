"""The queue's tasks: run one batch of a campaign, roll an aborted campaign back, or rehearse a
campaign of 10,000+ targets.

Tasks are thin: they find the worker's :class:`~campaigns.orchestrator.Orchestrator` in the job
context and call it. Transient failures (the database restarting, a lock race, an adapter's
retryable contract error such as ``Busy``) are raised so procrastinate retries the job with
exponential back-off; anything else is turned into a *safe pause* of the campaign by the
orchestrator, never a silent partial rollout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import procrastinate
from procrastinate import JobContext

from campaigns.queue import BATCH_TASK, QUEUE, REHEARSE_TASK, ROLLBACK_TASK
from core.kernel.errors import Conflict, ShuttingDown

if TYPE_CHECKING:
    from campaigns.orchestrator import Orchestrator


def _transient() -> tuple[type[Exception], ...]:
    from sqlalchemy.exc import DBAPIError, OperationalError

    from executors.base import RETRYABLE_ERRORS

    # ShuttingDown: this worker began to stop after it took the job; another, or this
    # one after its restart, runs it.
    return (Conflict, ShuttingDown, OperationalError, DBAPIError, *RETRYABLE_ERRORS, ConnectionError, TimeoutError)


RETRY = procrastinate.RetryStrategy(max_attempts=8, wait=1, exponential_wait=2, retry_exceptions=set(_transient()))


def _orchestrator(context: JobContext) -> Orchestrator:
    env = (context.additional_context or {}).get("gateward")
    if env is None:
        raise RuntimeError("campaign tasks run only in a Gateward worker (`gateward worker`)")
    return cast("Orchestrator", env)


def campaign_batch(context: JobContext, batch_id: str) -> None:
    _orchestrator(context).run_batch(batch_id, attempt=int(context.job.attempts or 0) + 1)


def campaign_rollback(context: JobContext, campaign_id: str) -> None:
    _orchestrator(context).run_rollback(campaign_id)


def campaign_rehearse(context: JobContext, campaign_id: str, by: str) -> None:
    _orchestrator(context).run_rehearsal(campaign_id, by)


def register(app: procrastinate.App) -> None:
    """Declare the tasks on ``app``. A function rather than a module-level blueprint: a
    procrastinate blueprint binds its tasks to the one app it is added to, and a process may
    hold several apps (tests, a CLI that defers while an embedded worker runs)."""
    for fn, name in ((campaign_batch, BATCH_TASK), (campaign_rollback, ROLLBACK_TASK),
                     (campaign_rehearse, REHEARSE_TASK)):
        app.task(name=name, queue=QUEUE, pass_context=True, retry=RETRY)(fn)
