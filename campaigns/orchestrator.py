"""The campaign state machine: one idempotent ``step`` any process may take at any time.

Why a step function and not a long-running controller: workers come and go (and get killed), so
nothing may live only in a process's memory. Every step locks the campaign row, reads what the
store says happened, decides, and writes the decision — then, after the commit, hands new
batches to the queue. Running it twice, or in two workers at once, is harmless; running it after a
crash simply carries on. Steps are taken after every batch (so a failing batch halts the rollout
at once), by every worker's watchdog every half second (timers, dead workers), and by people's
commands (start, pause, resume, abort, promote).

    created ─start→ running ─gate fail / abort→ aborting ─rollback→ aborted (or failed)
                      │  ↑
              pause/gate│  │resume
                      ↓  │
                     paused ─abort→ aborting
    running: ring r active → analysing → waiting (manual or timed promotion) → ring r+1 …
             last ring passed → finishing → completed (or failed)

Device writes happen only in :meth:`run_batch` (``Lifecycle.apply_batch``) and :meth:`run_rollback`
(``Lifecycle.rollback_staged``); both re-check every gate of the lifecycle themselves.

Who acts: a campaign acts on behalf of a person — whoever last started, resumed or
promoted it (``campaigns.run_by``) — not as the remediation jobs' automation user. Its batches,
rollback and finish run as that person (with that person's roles as they are *now*: someone who
lost the right to apply halts the campaign, it does not go on in their name) and every event they
append says which worker carried it out (``data.via = "worker host:pid"``, ``audit.acting_via``).
An abort's rollback acts for the person who aborted; a gate's, for the person it runs for.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from campaigns import obligations
from campaigns import rate as ratelimit
from campaigns.analysis import RingStats, Verdict, evaluate
from campaigns.halt import Stopper
from campaigns.ring_effects import ring_effects
from campaigns.schema import CampaignAnalysisRow, CampaignBatchRow, CampaignDeviceRow, CampaignRow
from campaigns.spec import CampaignSpec, parse_spec

# the state names were defined here: re-exported for the modules that import them from here
from campaigns.states import ABORTED as ABORTED
from campaigns.states import ABORTING as ABORTING
from campaigns.states import COMPLETED as COMPLETED
from campaigns.states import CREATED as CREATED
from campaigns.states import DENIED as DENIED
from campaigns.states import FAILED as FAILED
from campaigns.states import PAUSED as PAUSED
from campaigns.states import REJECTED as REJECTED
from campaigns.states import RUNNING as RUNNING
from campaigns.states import TERMINAL as TERMINAL
from core import audit
from core.kernel.clock import elapsed_now
from core.kernel.errors import Conflict, GatewardError, NotFound, ShuttingDown
from core.kernel.ids import new_id
from core.kernel.models import Actor, ExecutionStatus, ProposalState, utcnow
from core.services import CoreServices
from core.store.schema import DeviceRow, ExecutionRow

if TYPE_CHECKING:
    from campaigns.queue import Queue
    from core.staged import BatchOutcome

log = logging.getLogger("gateward.campaigns")


OUTSTANDING = ("queued", "running", "halted")
MAX_ATTEMPTS = 8
WATCHDOG_FRESH_S = 0.5  # a campaign stepped this recently is not stepped again by the watchdog
STALLED_CHECK_S = 2.0  # how often a worker's watchdog looks for jobs of dead workers
OBSERVE_EVERY_S = 5.0  # a drained ring observing its KPIs (gate.observe_s) is measured at most this often
X = ExecutionStatus
DID_NOT_HOLD = frozenset({str(X.FAILED), str(X.ROLLED_BACK), str(X.ROLLBACK_FAILED), str(X.VERIFY_FAILED)})
CHANGED = frozenset({str(X.APPLYING), str(X.APPLIED), str(X.VERIFIED), str(X.VERIFY_FAILED), str(X.ROLLING_BACK)})
REBOOTING_OPS = frozenset({"download", "reboot", "factory_reset"})


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class _Post:
    """What to do after the step's transaction commits (never inside it: the lifecycle opens its
    own transactions, and on SQLite a second writer inside the first would wait for itself)."""

    dispatch: bool = False
    stamp_halt: bool = False
    analyse: int | None = None
    finish: bool = False


class Orchestrator:
    def __init__(self, runtime: CoreServices, queue: Queue | None = None) -> None:
        self.rt = runtime
        self.store = runtime.store
        self.lc = runtime.lifecycle
        self.queue = queue
        self._last_job_check = 0.0
        self._last_stalled_check = -1e9
        self._window_noted: set[str] = set()
        self._observed: dict[tuple[str, int], float] = {}  # (campaign, ring) -> when its KPIs were last measured
        self.observe_every_s = OBSERVE_EVERY_S

    # ================================================================== helpers
    def person(self, c: CampaignRow) -> Actor:
        """The person this campaign acts for (roles read now, from the user directory)."""
        from core.users import get_actor

        return get_actor(self.store, c.run_by or c.author)

    @staticmethod
    def via() -> str:
        """What the audit says carried a write out for the person: this worker process."""
        return f"worker {owner()}"

    def _lock(self, s: Session, cid: str) -> CampaignRow:
        stmt = select(CampaignRow).where(CampaignRow.id == cid)
        if self.store.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = s.scalar(stmt)
        if row is None:
            raise NotFound(f"unknown campaign {cid!r}; list campaigns with `gateward campaign status`")
        return row

    @staticmethod
    def spec_of(c: CampaignRow) -> CampaignSpec:
        return parse_spec(c.spec)

    def _event(self, s: Session, c: CampaignRow, actor: str, action: str, **data: Any) -> None:
        audit.append(s, actor=actor, action=action, proposal_id=c.proposal_id,
                     data={"campaign": c.id, "name": c.name, "ring": c.ring, **data})

    def _after(self, cid: str, post: _Post) -> None:
        if post.stamp_halt:
            self._stamp_halt(cid)
        if post.analyse is not None and self._analyse(cid, post.analyse):
            self.step(cid)  # the ring passed and promotion is due now: start the next ring at once
            return
        if post.finish:
            self._finish(cid)
        self.dispatch(cid)

    # ================================================================== the step
    def step(self, cid: str) -> None:
        post = _Post()
        with self.store.write() as s:
            c = self._lock(s, cid)
            if c.state == RUNNING:
                self._step_running(s, c, post)
            elif c.state == ABORTING:
                self._step_aborting(s, c, post)
            c.updated_at = utcnow()
        self._after(cid, post)

    def _step_running(self, s: Session, c: CampaignRow, post: _Post) -> None:
        spec = self.spec_of(c)
        if c.ring_state == "finishing":
            post.finish = True
            return
        self._apply_rate(s, c, spec)
        stats = self._live_stats(s, c)
        verdict = evaluate(stats, spec.gate, complete=False)
        if verdict.outcome in ("fail", "pause"):
            self._record_analysis(s, c, stats, verdict, final=False)
            self._halt_for(s, c, spec, verdict, post)
            return
        if c.ring_state == "analysing":
            post.analyse = c.ring
            return
        if c.ring_state == "waiting":
            if spec.promotion.mode == "auto" and c.promote_at is not None and utcnow() >= c.promote_at:
                self._promote(s, c, spec, "system:campaign")
            else:
                return
        closed = self.closed_windows(c)
        if closed:
            self._note_window(s, c, closed)
        else:
            self._window_noted.discard(c.id)
            # A batch that saw a pause that was lifted before it finished: run it again.
            s.execute(update(CampaignBatchRow).where(CampaignBatchRow.campaign_id == c.id,
                                                     CampaignBatchRow.state == "halted")
                      .values(state="queued", job_id=None))
        size = int(c.plan["sizes"][c.ring])
        outstanding = int(s.scalar(select(func.count()).select_from(CampaignBatchRow).where(
            CampaignBatchRow.campaign_id == c.id, CampaignBatchRow.ring == c.ring,
            CampaignBatchRow.state.in_(OUTSTANDING))) or 0)
        while not closed and c.cursor < size and outstanding < c.window:
            n = min(c.batch_size, size - c.cursor)
            ids = list(s.scalars(select(CampaignDeviceRow.device_id).where(
                CampaignDeviceRow.campaign_id == c.id, CampaignDeviceRow.ring == c.ring,
                CampaignDeviceRow.pos >= c.cursor, CampaignDeviceRow.pos < c.cursor + n)
                .order_by(CampaignDeviceRow.pos)))
            self._new_batch(s, c, ids, "ring")
            c.cursor += n
            outstanding += 1
            post.dispatch = True
        if c.cursor < size or outstanding:
            return
        if closed:
            return
        unreached = self._unreached(s, c, c.ring)
        if unreached and c.sweeps < spec.retry_unreached:
            now = utcnow()
            if c.sweep_at is None:
                c.sweep_at = now + timedelta(seconds=spec.sweep_delay_s)
            if now >= c.sweep_at:
                for i in range(0, len(unreached), spec.rate.max_batch):
                    self._new_batch(s, c, unreached[i:i + spec.rate.max_batch], "sweep")
                c.sweeps += 1
                c.sweep_at = None
                post.dispatch = True
            return
        c.ring_state = "analysing"
        post.analyse = c.ring

    def closed_windows(self, c: CampaignRow) -> list[obligations.Window]:
        """The regions of this campaign whose change window is closed now (by the lifecycle's
        clock, the one policy decided by). Emergencies carry no window obligation."""
        return obligations.from_plan(c.plan).closed_windows(self.lc.clock())

    def _note_window(self, s: Session, c: CampaignRow, closed: list[obligations.Window]) -> None:
        """Audit the hold once per closed spell (per process): batches in flight finish, no new
        batch starts until every window of the campaign is open again."""
        if c.id in self._window_noted:
            return
        self._window_noted.add(c.id)
        self._event(s, c, "system:campaign", "campaign.window_hold",
                    reason="change window closed: " + ", ".join(w.text() for w in closed))

    def _step_aborting(self, s: Session, c: CampaignRow, post: _Post) -> None:
        s.execute(update(CampaignBatchRow).where(CampaignBatchRow.campaign_id == c.id,
                                                 CampaignBatchRow.state == "queued").values(state="halted"))
        running = int(s.scalar(select(func.count()).select_from(CampaignBatchRow).where(
            CampaignBatchRow.campaign_id == c.id, CampaignBatchRow.state == "running")) or 0)
        if running:
            return  # in-flight devices finish (verified or restored) before the rollback starts
        if c.rollback_job is None:
            c.rollback_job = 0  # claimed; dispatch() hands it to the queue after the commit
            post.dispatch = True

    # ================================================================== batches
    def _new_batch(self, s: Session, c: CampaignRow, ids: list[str], kind: str) -> CampaignBatchRow:
        seq = int(s.scalar(select(func.count()).select_from(CampaignBatchRow).where(
            CampaignBatchRow.campaign_id == c.id)) or 0) + 1
        b = CampaignBatchRow(id=new_id("cb"), campaign_id=c.id, ring=c.ring, seq=seq, kind=kind, device_ids=ids,
                             state="queued", job_id=None, attempts=0, rated=False, n_verified=0, n_failed=0,
                             n_rolled_back=0, n_rollback_failed=0, n_skipped=0, n_halted=0, late_admissions=0,
                             outcome={})
        s.add(b)
        s.flush()
        return b

    def dispatch(self, cid: str) -> int:
        """Hand queued batches (and a claimed rollback) to the job queue. Claims each batch first
        (``job_id = 0``) so two processes do not both defer it; a lost claim is reset by
        :meth:`check_jobs`."""
        if self.queue is None:
            return 0
        with self.store.read() as s:
            ids = list(s.scalars(select(CampaignBatchRow.id).where(
                CampaignBatchRow.campaign_id == cid, CampaignBatchRow.state == "queued",
                CampaignBatchRow.job_id.is_(None)).order_by(CampaignBatchRow.seq)))
            c = s.get(CampaignRow, cid)
            rollback = c is not None and c.state == ABORTING and c.rollback_job == 0
        n = 0
        for bid in ids:
            with self.store.write() as s:
                claimed = cast("CursorResult[Any]", s.execute(update(CampaignBatchRow).where(
                    CampaignBatchRow.id == bid, CampaignBatchRow.job_id.is_(None),
                    CampaignBatchRow.state == "queued").values(job_id=0, enqueued_at=utcnow()))).rowcount
            if not claimed:
                continue
            try:
                jid = self.queue.defer_batch(bid)
            except Exception:
                with self.store.write() as s:
                    s.execute(update(CampaignBatchRow).where(CampaignBatchRow.id == bid).values(job_id=None))
                raise
            with self.store.write() as s:
                s.execute(update(CampaignBatchRow).where(CampaignBatchRow.id == bid).values(job_id=jid))
            n += 1
        if rollback:
            jid = self.queue.defer_rollback(cid)
            with self.store.write() as s:
                s.execute(update(CampaignRow).where(CampaignRow.id == cid, CampaignRow.rollback_job == 0)
                          .values(rollback_job=jid or 0))
        return n

    def run_batch(self, batch_id: str, attempt: int = 1) -> None:
        """The queue's batch task: apply the batch through the lifecycle, record, step."""
        with self.store.write() as s:
            stmt = select(CampaignBatchRow).where(CampaignBatchRow.id == batch_id)
            if self.store.dialect == "postgresql":
                stmt = stmt.with_for_update()
            b = s.scalar(stmt)
            if b is None or b.state in ("done", "failed"):
                return
            c = s.get(CampaignRow, b.campaign_id)
            assert c is not None
            cid, pid, ids, kind, for_whom = c.id, c.proposal_id, list(b.device_ids), c.kind, c.run_by or c.author
            plan = obligations.from_plan(c.plan)
            if c.state != RUNNING or plan.closed_windows(self.lc.clock()):
                if b.state in ("queued", "running"):
                    b.state = "halted"
                go = False
            else:
                b.state, b.worker, b.started_at = "running", owner(), utcnow()
                b.attempts += 1
                go = True
        if not go:
            self.step(cid)
            return
        stop = Stopper(self.store, cid, window_closed=(lambda: bool(plan.closed_windows(self.lc.clock())))
                       if plan.windows else None)
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            from core.users import get_actor

            with audit.acting_via(self.via()):
                out = self.lc.apply_batch(pid, ids, get_actor(self.store, for_whom), stop=stop)
        except Exception as exc:
            if self._transient(exc, pid) and attempt < MAX_ATTEMPTS:
                raise
            log.exception("campaign %s: batch %s failed", cid, batch_id)
            self._fail_batch(batch_id, cid, exc)
            return
        finally:
            stop.close()
        self._record_batch(batch_id, cid, pid, ids, out, stop, time.perf_counter() - t0, time.thread_time() - c0)
        if kind == "firmware" and out.verified:
            self._refresh_inventory(cid, out.verified)
        self.step(cid)

    def _transient(self, exc: Exception, pid: str) -> bool:
        from sqlalchemy.exc import DBAPIError

        from executors.base import ExecutorError

        if isinstance(exc, ExecutorError):
            return exc.retryable
        if isinstance(exc, ShuttingDown):  # this process began to stop before the batch wrote anything
            return True
        if isinstance(exc, (DBAPIError, ConnectionError, TimeoutError)):
            return True
        if isinstance(exc, Conflict):
            try:
                return self.lc.get(pid).state in (ProposalState.APPROVED, ProposalState.APPLYING)
            except Exception:
                return True
        return False

    def _fail_batch(self, batch_id: str, cid: str, exc: Exception) -> None:
        msg = exc.message if isinstance(exc, GatewardError) else f"{type(exc).__name__}: {exc}"
        post = _Post()
        with self.store.write() as s:
            b = s.get(CampaignBatchRow, batch_id)
            if b is not None:
                b.state, b.error, b.finished_at = "failed", msg[:2000], utcnow()
            c = self._lock(s, cid)
            if c.state == RUNNING:
                self._halt(s, c, PAUSED, f"batch {batch_id} could not run: {msg}", "system:campaign", post)
        self._after(cid, post)

    def _record_batch(self, batch_id: str, cid: str, pid: str, ids: list[str], out: BatchOutcome, stop: Stopper,
                      seconds: float, cpu_s: float) -> None:
        """The batch's counts and what it cost: wall ``duration_s``; in ``outcome``, time in device
        calls (``device_s``, and this thread's CPU in them, ``device_cpu_s``) and this thread's CPU in
        the whole ``apply_batch`` (``cpu_s``: device calls, gates, locks, records, halt checks). The
        rest of a worker's CPU (this record, steps, the queue, the watchdog) is not per batch."""
        with self.store.read() as s:
            statuses = dict(s.execute(select(ExecutionRow.device_id, ExecutionRow.status).where(
                ExecutionRow.proposal_id == pid, ExecutionRow.device_id.in_(ids))).all())
        verified = sum(1 for st in statuses.values() if st == str(X.VERIFIED))
        failed = sum(1 for st in statuses.values() if st in DID_NOT_HOLD)
        halted = set(out.halted)
        skipped = {d: r for d, r in out.skipped.items() if statuses.get(d) in (None, str(X.PENDING))}
        with self.store.write() as s:
            b = s.get(CampaignBatchRow, batch_id)
            c = s.get(CampaignRow, cid)
            if b is None or c is None:
                return
            b.state = "halted" if halted else "done"
            b.n_verified, b.n_failed = verified, failed
            b.n_rolled_back = sum(1 for st in statuses.values() if st == str(X.ROLLED_BACK))
            b.n_rollback_failed = sum(1 for st in statuses.values() if st == str(X.ROLLBACK_FAILED))
            b.n_skipped, b.n_halted = len(skipped), len(halted)
            b.late_admissions = stop.late_admissions(c.halted_at if c.state != RUNNING else None)
            b.outcome = {"failed": dict(list(out.failed.items())[:50]), "skipped": dict(list(skipped.items())[:50]),
                         "alarms": out.alarms[:20], "already_done": len(out.already_done),
                         "device_s": round(out.device_s, 4), "device_cpu_s": round(out.device_cpu_s, 4),
                         "cpu_s": round(cpu_s, 4)}
            b.finished_at, b.duration_s, b.error = utcnow(), round(seconds, 4), None

    def _refresh_inventory(self, cid: str, device_ids: list[str]) -> None:
        """A verified firmware upgrade changes what the inventory says the device runs."""
        with self.store.read() as s:
            c = s.get(CampaignRow, cid)
            version = (c.spec.get("firmware") or {}).get("version") if c is not None else None
        if not version:
            return
        with self.store.write() as s:
            s.execute(update(DeviceRow).where(DeviceRow.id.in_(device_ids)).values(firmware=version))

    # ================================================================== rollback and finish
    def run_rollback(self, cid: str) -> None:
        """The queue's rollback task: restore every device the campaign changed."""
        with self.store.read() as s:
            c = s.get(CampaignRow, cid)
            if c is None or c.state != ABORTING:
                return
            pid, reason, by = c.proposal_id, c.halt_reason or "aborted", c.halted_by or ""
            actor = self._halter_or_person(by, c)
        with audit.acting_via(self.via()):
            out = self.lc.rollback_staged(pid, actor, f"campaign {cid}: {reason}", batch=500)
        with self.store.read() as s:
            remaining = int(s.scalar(select(func.count()).select_from(ExecutionRow).where(
                ExecutionRow.proposal_id == pid, ExecutionRow.status.in_(list(CHANGED)))) or 0) - len(out.not_installed)
            rb_failed = int(s.scalar(select(func.count()).select_from(ExecutionRow).where(
                ExecutionRow.proposal_id == pid, ExecutionRow.status == str(X.ROLLBACK_FAILED))) or 0)
        with self.store.write() as s:
            c = self._lock(s, cid)
            if c.state != ABORTING:
                return
            if remaining:
                c.rollback_job = None
                c.error = f"{remaining} changed device(s) could not be locked for the rollback yet; retrying"
                return
            c.state = FAILED if rb_failed or out.alarms else ABORTED
            c.finished_at = utcnow()
            c.error = (f"{rb_failed} device(s) could not be rolled back: inspect and restore them by hand"
                       if rb_failed else None)
            self._event(s, c, actor.id, f"campaign.{c.state}", reason=reason, restored=len(out.rolled_back),
                        rollback_failed=rb_failed, not_installed=len(out.not_installed), via=self.via())

    def run_rehearsal(self, cid: str, by: str) -> None:
        """A queued rehearsal (10,000+ targets): replay, read old trees live, store the report."""
        from campaigns import rehearsal

        report = rehearsal.rehearse(self.rt, cid, refresh_max=rehearsal.JOB_MIN_TARGETS * 10)
        rehearsal.store(self.rt, cid, report, by)

    def _halter_or_person(self, user: str, c: CampaignRow) -> Actor:
        """Who a rollback acts for: the person who aborted, else (a gate, the system) the person
        the campaign runs for."""
        from core.users import get_actor

        if user and not user.startswith(("system:", "gate")):
            try:
                return get_actor(self.store, user)
            except NotFound:
                pass
        return self.person(c)

    def _finish(self, cid: str) -> None:
        with self.store.read() as s:
            c = s.get(CampaignRow, cid)
            if c is None or c.state != RUNNING or c.ring_state != "finishing":
                return
            pid, person = c.proposal_id, self.person(c)
        try:
            with audit.acting_via(self.via()):
                p = self.lc.finish_staged(pid, person, note=f"campaign {cid} completed")
        except Conflict:
            p = self.lc.get(pid)
        prog = self.lc.staged_progress(pid)
        unreached = prog.get("not_started", 0) + prog.get(str(X.PENDING), 0)
        with self.store.write() as s:
            c = self._lock(s, cid)
            if c.state != RUNNING or c.ring_state != "finishing":
                return
            c.state = COMPLETED if p.state is ProposalState.DONE else FAILED
            c.finished_at = utcnow()
            c.error = (f"{unreached} device(s) were never reached (offline through every sweep); "
                       "they keep their old configuration" if unreached else None)
            if p.state is not ProposalState.DONE:
                c.error = p.error or "the proposal did not finish cleanly"
            self._event(s, c, person.id, f"campaign.{c.state}", progress=prog, unreached=unreached, via=self.via())

    # ================================================================== halting and promotion
    def _halt_for(self, s: Session, c: CampaignRow, spec: CampaignSpec, verdict: Verdict, post: _Post) -> None:
        mode = ABORTING if verdict.outcome == "fail" and spec.gate.on_breach == "abort" else PAUSED
        self._halt(s, c, mode, "gate: " + "; ".join(verdict.reasons), "gate", post)

    def _halt(self, s: Session, c: CampaignRow, mode: str, reason: str, by: str, post: _Post) -> None:
        c.state = mode
        c.halted_at, c.halt_reason, c.halted_by = utcnow(), reason, by
        s.execute(update(CampaignBatchRow).where(CampaignBatchRow.campaign_id == c.id,
                                                 CampaignBatchRow.state == "queued").values(state="halted"))
        self._event(s, c, by, "campaign.paused" if mode == PAUSED else "campaign.aborting", reason=reason)
        post.stamp_halt = True
        post.dispatch = True

    def _stamp_halt(self, cid: str) -> None:
        """Record the halt time just *after* it committed: the reference for late admissions."""
        with self.store.write() as s:
            s.execute(update(CampaignRow).where(CampaignRow.id == cid).values(halted_at=utcnow()))

    def halt(self, cid: str, mode: str, reason: str, by: str) -> None:
        post = _Post()
        with self.store.write() as s:
            c = self._lock(s, cid)
            if mode == PAUSED and c.state != RUNNING:
                raise Conflict(f"campaign {cid} is {c.state}; only a running campaign can be paused")
            if mode == ABORTING and c.state not in (CREATED, RUNNING, PAUSED):
                raise Conflict(f"campaign {cid} is {c.state}; it cannot be aborted now")
            self._halt(s, c, mode, reason, by, post)
        self._after(cid, post)
        if mode == ABORTING:
            self.step(cid)

    def resume(self, cid: str, by: str) -> None:
        with self.store.write() as s:
            c = self._lock(s, cid)
            if c.state != PAUSED:
                raise Conflict(f"campaign {cid} is {c.state}; only a paused campaign can be resumed")
            acks = dict(c.plan.get("acks", {}))
            stats = self._live_stats(s, c, raw=True)
            # The person has seen the failures so far; the gate judges what happens from here on.
            acks[str(c.ring)] = {"failed": stats.failed, "executed": stats.executed,
                                 "rollback_failed": stats.rollback_failed}
            c.plan = {**c.plan, "acks": acks}
            c.state = RUNNING
            if c.ring_state == "analysing":  # the person accepts the ring the gate stopped at
                last = c.ring + 1 >= len(c.plan["sizes"])
                c.ring_state = "finishing" if last else "waiting"
                c.promote_at = utcnow()
            s.execute(update(CampaignBatchRow).where(CampaignBatchRow.campaign_id == c.id,
                                                     CampaignBatchRow.state.in_(("halted", "failed")))
                      .values(state="queued", job_id=None, error=None))
            c.run_by = by  # from here on the campaign acts for the person who resumed it
            self._event(s, c, by, "campaign.resumed", after=c.halt_reason)
        self.step(cid)

    def promote(self, cid: str, by: str) -> None:
        with self.store.write() as s:
            c = self._lock(s, cid)
            if c.state != RUNNING or c.ring_state != "waiting":
                raise Conflict(f"campaign {cid} is {c.state} (ring {c.ring + 1} {c.ring_state}); promotion "
                               "needs a running campaign whose ring passed its analysis")
            self._promote(s, c, self.spec_of(c), by)
            c.run_by = by  # a person promoted it: the next ring runs for them
        self.step(cid)

    def _promote(self, s: Session, c: CampaignRow, spec: CampaignSpec, by: str) -> None:
        c.ring += 1
        c.cursor, c.sweeps, c.sweep_at, c.promote_at, c.ring_state = 0, 0, None, None, "active"
        limits = ratelimit.initial(spec.rate)
        c.batch_size, c.window = limits.batch_size, limits.window
        self._event(s, c, by, "campaign.promoted", size=int(c.plan["sizes"][c.ring]))

    # ================================================================== analysis
    def _apply_rate(self, s: Session, c: CampaignRow, spec: CampaignSpec) -> None:
        rows = list(s.scalars(select(CampaignBatchRow).where(
            CampaignBatchRow.campaign_id == c.id, CampaignBatchRow.state == "done",
            CampaignBatchRow.rated.is_(False)).order_by(CampaignBatchRow.seq)))
        lim = ratelimit.Limits(batch_size=c.batch_size, window=c.window)
        for b in rows:
            lim = ratelimit.after_batch(spec.rate, lim, failed=b.n_failed)
            b.rated = True
        c.batch_size, c.window = lim.batch_size, lim.window

    def _live_stats(self, s: Session, c: CampaignRow, *, raw: bool = False) -> RingStats:
        """Cheap running counts (sums over the ring's batches), minus what a person acknowledged."""
        row = s.execute(select(func.coalesce(func.sum(CampaignBatchRow.n_verified), 0),
                               func.coalesce(func.sum(CampaignBatchRow.n_failed), 0),
                               func.coalesce(func.sum(CampaignBatchRow.n_rollback_failed), 0)).where(
            CampaignBatchRow.campaign_id == c.id, CampaignBatchRow.ring == c.ring)).one()
        stats = RingStats(ring=c.ring, size=int(c.plan["sizes"][c.ring]), verified=int(row[0]),
                          failed=int(row[1]), rollback_failed=int(row[2]))
        ack = (c.plan.get("acks") or {}).get(str(c.ring))
        if ack and not raw:
            stats.failed = max(0, stats.failed - int(ack["failed"]))
            stats.verified = max(0, stats.verified - (int(ack["executed"]) - int(ack["failed"])))
            stats.rollback_failed = max(0, stats.rollback_failed - int(ack.get("rollback_failed", 0)))
        return stats

    def _unreached(self, s: Session, c: CampaignRow, ring: int) -> list[str]:
        """Ring devices with no execution yet (skipped: offline, unreachable, locked elsewhere)."""
        done = select(ExecutionRow.device_id).where(ExecutionRow.proposal_id == c.proposal_id,
                                                    ExecutionRow.status != str(X.PENDING))
        return list(s.scalars(select(CampaignDeviceRow.device_id).where(
            CampaignDeviceRow.campaign_id == c.id, CampaignDeviceRow.ring == ring,
            CampaignDeviceRow.device_id.not_in(done)).order_by(CampaignDeviceRow.pos)))

    def ring_stats(self, cid: str, ring: int, *, live_checks: bool = True) -> RingStats:
        """Exact figures for one ring, from the execution records (plus live checks when asked)."""
        with self.store.read() as s:
            c = s.get(CampaignRow, cid)
            if c is None:
                raise NotFound(f"unknown campaign {cid!r}")
            spec = self.spec_of(c)
            counts = dict(s.execute(select(ExecutionRow.status, func.count()).join(
                CampaignDeviceRow, (CampaignDeviceRow.device_id == ExecutionRow.device_id)
                & (CampaignDeviceRow.campaign_id == c.id)).where(
                ExecutionRow.proposal_id == c.proposal_id, CampaignDeviceRow.ring == ring)
                .group_by(ExecutionRow.status)).all())
            size = int(c.plan["sizes"][ring])
            stats = RingStats(ring=ring, size=size, verified=int(counts.get(str(X.VERIFIED), 0)),
                              failed=sum(int(n) for st, n in counts.items() if st in DID_NOT_HOLD),
                              rollback_failed=int(counts.get(str(X.ROLLBACK_FAILED), 0)))
            ack = (c.plan.get("acks") or {}).get(str(ring))
            if ack:  # failures a person acknowledged when resuming are not judged again
                stats.failed = max(0, stats.failed - int(ack["failed"]))
                stats.verified = max(0, stats.verified - (int(ack["executed"]) - int(ack["failed"])))
                stats.rollback_failed = max(0, stats.rollback_failed - int(ack.get("rollback_failed", 0)))
            settled = sum(int(n) for st, n in counts.items() if st != str(X.PENDING))
            stats.unreached = size - settled
            stats.in_flight = sum(int(n) for st, n in counts.items() if st in CHANGED - {str(X.VERIFIED)})
            if not live_checks:
                return stats
            ops = {o.command for o in spec.all_operations()}
            if ops & REBOOTING_OPS and stats.verified:
                sample = list(s.scalars(select(ExecutionRow.device_id).join(
                    CampaignDeviceRow, (CampaignDeviceRow.device_id == ExecutionRow.device_id)
                    & (CampaignDeviceRow.campaign_id == c.id)).where(
                    ExecutionRow.proposal_id == c.proposal_id, CampaignDeviceRow.ring == ring,
                    ExecutionRow.status == str(X.VERIFIED)).order_by(ExecutionRow.device_id)
                    .limit(spec.gate.reregister_sample)))
                from core.store import repo

                devices = repo.get_devices(s, sample)
            else:
                devices = {}
            if spec.gate.kpis:
                now = elapsed_now(self.lc.clock)  # rows are stamped by the wall clock
                stats.kpis = ring_effects(s, c, ring, spec.gate, now=now)
                open_ = [k for k in stats.kpis.values() if not k.get("final")]
                if open_:
                    until = max(datetime.fromisoformat(str(k["until"])) for k in open_)
                    stats.observing = (f"observing the KPIs until {until.isoformat(timespec='seconds')} (looks "
                                       "planned hourly, gate.observe_s): " + "; ".join(k["text"] for k in open_))
        if devices:
            back = 0
            for d in devices.values():
                try:
                    pres = self.rt.router.reader(d).presence(d)
                    back += int(bool(pres.online))
                except Exception:  # an unreadable device did not re-register
                    pass
            stats.reregistered, stats.reregister_sampled = back, len(devices)
        return stats

    def _analyse(self, cid: str, ring: int) -> bool:
        """Final analysis of a drained ring: figures outside the lock, verdict inside it. True
        when the ring passed and the next one may start right away."""
        key = (cid, ring)
        if time.monotonic() - self._observed.get(key, -1e9) < self.observe_every_s:
            return False  # observing the ring's KPIs: measured again a few seconds from now
        stats = self.ring_stats(cid, ring)
        post = _Post()
        again = False
        with self.store.write() as s:
            c = self._lock(s, cid)
            if c.state != RUNNING or c.ring_state != "analysing" or c.ring != ring:
                return False
            spec = self.spec_of(c)
            verdict = evaluate(stats, spec.gate, complete=True)
            if verdict.outcome == "pending":
                self._observed[key] = time.monotonic()
                self._note_observation(s, c, stats, verdict)
                return False
            self._observed.pop(key, None)
            self._record_analysis(s, c, stats, verdict, final=True)
            if verdict.outcome == "pass":
                self._event(s, c, "gate", "campaign.ring_passed", stats=stats.as_dict())
                if ring + 1 >= len(c.plan["sizes"]):
                    c.ring_state = "finishing"
                    post.finish = True
                else:
                    c.ring_state = "waiting"
                    c.promote_at = (utcnow() + timedelta(seconds=spec.promotion.pause_s)
                                    if spec.promotion.mode == "auto" else None)
                    again = spec.promotion.mode == "auto" and spec.promotion.pause_s == 0
            else:
                self._halt_for(s, c, spec, verdict, post)
        if post.stamp_halt:
            self._stamp_halt(cid)
        if post.finish:
            self._finish(cid)
        return again

    def _note_observation(self, s: Session, c: CampaignRow, stats: RingStats, verdict: Verdict) -> None:
        """Record an observation of a drained ring's KPIs when it measured something new (more
        devices or samples, another estimate): the points of the effect chart, not one per tick."""
        last = s.scalar(select(CampaignAnalysisRow).where(CampaignAnalysisRow.campaign_id == c.id,
                                                          CampaignAnalysisRow.ring == stats.ring)
                        .order_by(CampaignAnalysisRow.id.desc()).limit(1))
        def key(v: Any) -> tuple[Any, ...]:
            return v.get("estimate"), v.get("samples"), (v.get("look") or {}).get("k")

        seen = {k: key(v) for k, v in ((last.metrics or {}).get("kpis") or {}).items()} if last is not None else None
        if seen != {k: key(v) for k, v in stats.kpis.items()}:
            self._record_analysis(s, c, stats, verdict, final=False)

    def _record_analysis(self, s: Session, c: CampaignRow, stats: RingStats, verdict: Verdict, *,
                         final: bool) -> None:
        s.add(CampaignAnalysisRow(campaign_id=c.id, ring=stats.ring, ts=utcnow(), outcome=verdict.outcome,
                                  final=final, metrics=stats.as_dict(), reasons=verdict.reasons))

    # ================================================================== supervision
    def campaigns_to_watch(self) -> list[str]:
        """Active campaigns not stepped within ``WATCHDOG_FRESH_S`` (by this clock; a step stamped
        in the future — another host's clock — counts as stale, so skew never hides a campaign)."""
        now = utcnow()
        with self.store.read() as s:
            rows = s.execute(select(CampaignRow.id, CampaignRow.updated_at).where(
                CampaignRow.state.in_((RUNNING, ABORTING)))).all()
        return [cid for cid, at in rows
                if at is None or not 0 <= (now - at).total_seconds() < WATCHDOG_FRESH_S]

    def tick(self) -> None:
        """One watchdog round: dead workers' jobs back in the queue, every active campaign
        stepped (timers, promotions, aborts waiting for in-flight batches), lost jobs found.

        A campaign some process stepped within the last ``WATCHDOG_FRESH_S`` is left alone: a
        rollout steps itself after every batch, and the step is idempotent, so stepping it again
        from every worker twice a second would only repeat that work (and queue on its row lock).
        The watchdog matters when nothing else steps — timers, dead workers — and then it does."""
        if self.queue is not None and time.monotonic() - self._last_stalled_check >= STALLED_CHECK_S:
            # A worker counts as dead only after STALLED_S without a heartbeat: asking every tick
            # would find the same answer four times over.
            self._last_stalled_check = time.monotonic()
            try:
                self.queue.retry_stalled()
            except Exception:
                log.exception("retrying stalled jobs failed")
        for cid in self.campaigns_to_watch():
            try:
                self.step(cid)
            except Exception:
                log.exception("campaign %s: step failed", cid)
        if time.monotonic() - self._last_job_check > 5.0:
            self._last_job_check = time.monotonic()
            try:
                self.check_jobs()
            except Exception:
                log.exception("checking campaign jobs failed")

    def check_jobs(self) -> None:
        """Batches whose job is gone (lost claim, cancelled, an in-memory queue that died) go back
        to the queue; a job that failed for good pauses its campaign with the reason."""
        if self.queue is None:
            return
        stale = utcnow() - timedelta(seconds=30)
        with self.store.read() as s:
            rows = list(s.execute(select(CampaignBatchRow.id, CampaignBatchRow.campaign_id, CampaignBatchRow.job_id,
                                         CampaignBatchRow.enqueued_at).join(
                CampaignRow, CampaignRow.id == CampaignBatchRow.campaign_id).where(
                CampaignRow.state.in_((RUNNING, ABORTING)), CampaignBatchRow.state.in_(("queued", "running")),
                CampaignBatchRow.job_id.is_not(None))).all())
        for bid, cid, jid, enq in rows:
            if jid == 0:
                lost = enq is None or enq < stale
                status = None
            else:
                status = self.queue.job_status(int(jid or 0))  # job_id IS NOT NULL in the query
                lost = status in (None, "cancelled", "aborted", "succeeded")
            if status == "failed":
                self._fail_batch(bid, cid, RuntimeError(f"its job {jid} failed after {MAX_ATTEMPTS} attempts "
                                                        "(database or device trouble; see the worker log)"))
            elif lost:
                with self.store.write() as s:
                    s.execute(update(CampaignBatchRow).where(CampaignBatchRow.id == bid,
                                                             CampaignBatchRow.job_id == jid,
                                                             CampaignBatchRow.state.in_(("queued", "running")))
                              .values(state="queued", job_id=None))

    def reset_local(self) -> int:
        """In-memory queue only (SQLite): jobs died with the previous worker process; queue their
        batches again from the store."""
        with self.store.write() as s:
            active = select(CampaignRow.id).where(CampaignRow.state.in_((RUNNING, ABORTING, PAUSED)))
            n = cast("CursorResult[Any]", s.execute(update(CampaignBatchRow).where(
                CampaignBatchRow.campaign_id.in_(active),
                                                         CampaignBatchRow.state.in_(("queued", "running")))
                          .values(state="queued", job_id=None))).rowcount
            s.execute(update(CampaignRow).where(CampaignRow.state == ABORTING).values(rollback_job=None))
        return int(n or 0)
