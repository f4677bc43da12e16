"""Creates under way: a proposal recorded whose create has not reached its last step.

Why: a submit records its proposal (created, validated) before it reads the devices and asks policy,
and a campaign's create makes its proposal before the campaign row — steps that talk to devices and
policy cannot share one transaction. A process that died in between left a proposal nothing moved on,
and precedence counts every live proposal, so it blocked each later change of the same parameter on
those devices. So the first transaction records an intent row beside the proposal (its kind, who asked,
this process as ``owner``), the last one deletes it, and an intent whose owner is gone is settled by
recovery: a submit is finished (validated, previewed, decided — what it would have done), a campaign's
proposal without its campaign is cancelled with the reason (``Recovery.settle_intents``).

Owners are told alive or dead as device locks' holders are (``core.execution.lock_is_live``: this host
asks the kernel for the pid, another host's intent lives until ``expires_at``). This process's own
intents are live while a call of it works on them (:attr:`CreateIntents.working`); one it left (a
request that failed half-way) is settled by its own next round.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, Table, delete, insert, select, update
from sqlalchemy.orm import Session

from core.execution import lock_is_live, owner
from core.kernel.models import utcnow
from core.lifecycle.context import LifecycleContext
from core.store.schema import CreateIntentRow

INTENTS = cast(Table, CreateIntentRow.__table__)
SUBMIT, RESUBMIT, CAMPAIGN = "submit", "resubmit", "campaign"


@dataclass(frozen=True)
class Intent:
    proposal_id: str
    kind: str
    actor: str
    owner: str
    started_at: datetime
    expires_at: datetime


class CreateIntents:
    """Recording, ending and finding the creates under way."""

    def __init__(self, ctx: LifecycleContext) -> None:
        self.ctx = ctx
        self._working: set[str] = set()
        self._guard = threading.Lock()

    def begin_in(self, s: Session, pid: str, kind: str, actor_id: str, *, replace: bool = False) -> None:
        """Record, in the caller's transaction (the one that inserts the proposal), that this process
        is creating ``pid``; live until :meth:`end_in` deletes it or :meth:`release` says this
        process stopped working on it. ``replace``: an edit starts the proposal's gates again, so an
        earlier intent of it (a resubmit cut before) gives way to this one."""
        now = utcnow()
        if replace:
            s.execute(delete(INTENTS).where(INTENTS.c.proposal_id == pid))
        s.execute(insert(INTENTS).values(proposal_id=pid, kind=kind, actor=actor_id, owner=owner(),
                                         started_at=now, expires_at=now + self._ttl()))
        with self._guard:
            self._working.add(pid)

    def end_in(self, s: Session, pid: str) -> bool:
        """Delete ``pid``'s intent in the caller's transaction (the create's last step). False when it
        was gone: recovery settled it meanwhile (this process was taken for dead), so the step must
        not go on."""
        return _count(s.execute(delete(INTENTS).where(INTENTS.c.proposal_id == pid))) > 0

    def release(self, pid: str) -> None:
        """This process no longer works on ``pid`` (its call ended, however): an intent of it still
        recorded is left to recovery — this process's next round settles it."""
        with self._guard:
            self._working.discard(pid)

    def working(self, pid: str) -> bool:
        with self._guard:
            return pid in self._working

    def get(self, pid: str) -> Intent | None:
        with self.ctx.store.read() as s:
            row = s.execute(select(INTENTS).where(INTENTS.c.proposal_id == pid)).first()
        return None if row is None else Intent(*row)

    def live(self, it: Intent, *, own_are_dead: bool = False) -> bool:
        """Is a process still working on this create? Another process: its pid (same host) or its
        expiry (another host). This one: while a call of it holds the proposal — except for
        ``own_are_dead`` (recovery at start: an intent naming this pid was left by a predecessor)."""
        if it.owner == owner():
            return not own_are_dead and self.working(it.proposal_id)
        return lock_is_live(it.owner, it.expires_at)

    def abandoned(self, *, own_are_dead: bool = False) -> list[Intent]:
        """Every intent no live process works on, oldest first."""
        with self.ctx.store.read() as s:
            rows = [Intent(*r) for r in s.execute(select(INTENTS).order_by(INTENTS.c.started_at))]
        return [it for it in rows if not self.live(it, own_are_dead=own_are_dead)]

    def take_over(self, it: Intent) -> bool:
        """Make this process the owner of an abandoned intent, if nobody took it first (two
        recoverers: one settles it). While taken, :meth:`live` says so to everyone else."""
        now = utcnow()
        with self.ctx.store.write() as s:
            taken = _count(s.execute(update(INTENTS).where(INTENTS.c.proposal_id == it.proposal_id,
                                                           INTENTS.c.owner == it.owner)
                                     .values(owner=owner(), started_at=now, expires_at=now + self._ttl())))
        if taken:
            with self._guard:
                self._working.add(it.proposal_id)
        return bool(taken)

    def _ttl(self) -> timedelta:
        """How long another host takes an intent of this one for live (as a device lock)."""
        return timedelta(seconds=self.ctx.settings.lock_ttl_s)


def _count(result: Result[Any]) -> int:
    """Rows a DELETE or UPDATE matched."""
    return int(cast("CursorResult[Any]", result).rowcount or 0)
