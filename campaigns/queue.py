"""The job queue: procrastinate on PostgreSQL, its in-memory connector on SQLite.

Why procrastinate: PostgreSQL is already Gateward's source of truth past one machine, so the queue
adds no broker to run, back up or keep consistent — jobs live next to the campaign rows they
serve; workers wake on LISTEN/NOTIFY; a worker's heartbeat tells when it died, and its jobs are
retried (at-least-once). The campaign never trusts delivery to be exactly-once: a batch runs
through ``Lifecycle.apply_batch``, which skips devices already done and verifies — never
re-writes — devices a dead worker left mid-write.

On SQLite (the embedded default) there is no server to share jobs through: the queue is
procrastinate's in-memory connector inside one worker process, and the campaign tables are
re-read to rebuild it after a restart. Several worker processes need PostgreSQL.

The queue's tables (``procrastinate_*``) live in the same database and schema (``search_path``)
as Gateward's; :func:`ensure_queue_schema` installs them once, under an advisory lock.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit, urlunsplit

QUEUE = "campaigns"
BATCH_TASK = "gateward.campaign_batch"
ROLLBACK_TASK = "gateward.campaign_rollback"
REHEARSE_TASK = "gateward.campaign_rehearse"
HEARTBEAT_S = 1.0
STALLED_S = 5.0
_SCHEMA_LOCK = 72619

if TYPE_CHECKING:
    import procrastinate


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres"))


def conninfo(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…?options=…``) as a libpq URI for psycopg."""
    parts = urlsplit(url)
    scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def make_app(url: str, *, pool_max: int = 8) -> procrastinate.App:
    """A procrastinate App with Gateward's tasks, on the store's database (or in memory)."""
    import procrastinate
    from procrastinate.testing import InMemoryConnector

    from campaigns.tasks import register

    connector: procrastinate.PsycopgConnector | InMemoryConnector
    if is_postgres(url):
        connector = procrastinate.PsycopgConnector(conninfo=conninfo(url), min_size=1, max_size=pool_max)
    else:
        connector = InMemoryConnector()
    app = procrastinate.App(connector=connector)
    register(app)
    return app


def ensure_queue_schema(url: str) -> None:
    """Install procrastinate's tables in this database/schema if they are not there yet."""
    if not is_postgres(url):
        return
    import procrastinate
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        row = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        if row is not None and row[0] is not None:
            return
        conn.execute(procrastinate.schema.SchemaManager.get_schema())


class Queue:
    """Deferring and supervising Gateward's campaign jobs on one procrastinate App."""

    def __init__(self, app: procrastinate.App, url: str) -> None:
        self.app = app
        self.url = url
        self.distributed = is_postgres(url)
        self._lock = threading.Lock()

    @classmethod
    def for_url(cls, url: str, *, pool_max: int = 8) -> Queue:
        ensure_queue_schema(url)
        return cls(make_app(url, pool_max=pool_max), url)

    def open_sync(self) -> Queue:
        """For processes that only defer (CLI, API): a synchronous connection pool."""
        if self.distributed:
            self.app.open()
        return self

    def close(self) -> None:
        if self.distributed:
            with contextlib.suppress(Exception):  # never opened synchronously
                self.app.close()

    # ------------------------------------------------------------------ deferring
    def defer_batch(self, batch_id: str) -> int:
        from procrastinate.exceptions import AlreadyEnqueued

        try:
            return int(self.app.configure_task(BATCH_TASK, queueing_lock=f"batch:{batch_id}").defer(
                batch_id=batch_id))
        except AlreadyEnqueued:
            return self._queued_job(f"batch:{batch_id}")

    def defer_rollback(self, campaign_id: str) -> int:
        from procrastinate.exceptions import AlreadyEnqueued

        try:
            return int(self.app.configure_task(ROLLBACK_TASK, queueing_lock=f"rollback:{campaign_id}",
                                               lock=f"campaign:{campaign_id}").defer(campaign_id=campaign_id))
        except AlreadyEnqueued:
            return self._queued_job(f"rollback:{campaign_id}")

    def defer_rehearsal(self, campaign_id: str, by: str) -> int:
        """A rehearsal of 10,000+ targets (``campaigns/rehearsal.py``): one at a time per campaign."""
        from procrastinate.exceptions import AlreadyEnqueued

        try:
            return int(self.app.configure_task(REHEARSE_TASK, queueing_lock=f"rehearse:{campaign_id}").defer(
                campaign_id=campaign_id, by=by))
        except AlreadyEnqueued:
            return self._queued_job(f"rehearse:{campaign_id}")

    def _queued_job(self, queueing_lock: str) -> int:
        for job in self.app.job_manager.list_jobs(queueing_lock=queueing_lock, status="todo"):
            return int(cast("int", job.id))  # a stored job has its id (None only before it is deferred)
        return 0

    # ------------------------------------------------------------------ supervising
    def job_status(self, job_id: int) -> str | None:
        """``todo|doing|succeeded|failed|cancelled|aborted``, or None when the job is unknown."""
        try:
            return str(self.app.job_manager.get_job_status(job_id).value)
        except Exception:  # unknown id (deleted, or an in-memory queue of another process)
            return None

    def retry_stalled(self, seconds: float = STALLED_S) -> int:
        """Put jobs of workers whose heartbeat stopped back in the queue (a killed worker)."""
        if not self.distributed:
            return 0
        from procrastinate import utils

        async def go() -> int:
            jobs = await self.app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=seconds)
            n = 0
            for job in jobs:
                await self.app.job_manager.retry_job(job)
                n += 1
            return n

        return int(utils.async_to_sync(go))
