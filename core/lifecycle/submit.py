"""``submit``: create → validate → preview → decide in two write transactions instead of four,
with the same states and audit events as the four calls; ``resubmit``: an edit and the gates again.

Either records a create intent with its first transaction and deletes it with the decision
(``core.lifecycle.create_intents``): whatever stops the call in between — a kill, a lost database, a
bug — leaves a proposal recovery finishes, never one that stays ``validated`` and holds its devices.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core import audit
from core.failpoints import failpoint
from core.kernel.errors import (
    Conflict,
    DatabaseUnavailable,
    GatewardError,
    Invalid,
    cause_text,
    database_unavailable_cause,
    storage_full_cause,
)
from core.kernel.models import Actor, Device, Proposal, ProposalDraft
from core.lifecycle.authoring import Authoring
from core.lifecycle.context import LifecycleContext, S
from core.lifecycle.create_intents import RESUBMIT, SUBMIT, CreateIntents
from core.lifecycle.decide import Decisions
from core.lifecycle.live_instances import refresh_before_validate
from core.lifecycle.preview import Previews
from core.store import repo
from core.store.records import ProposalRecord


@dataclass(frozen=True)
class Submitted:
    """What :meth:`Lifecycle.submit_detailed` committed, as it committed it: for an answer built
    without reading it back (``POST /api/proposals`` read 7–8 statements for what the call had just
    written).

    ``row``: the proposal's row as its last transaction saved it (state, preview, risk).
    ``decision``: the ``policy_decisions`` row recorded (its column values), or None when
    validation stopped it. ``devices``: every target's device row when ``create`` read them whole
    (a few named targets), else None. ``events``: the audit rows those transactions wrote, in
    chain order (``core.audit.COLLECT``)."""

    proposal: Proposal
    row: ProposalRecord
    decision: dict[str, Any] | None
    devices: dict[str, Device] | None
    events: list[dict[str, Any]]


#: Called in a create's first transaction with the new proposal's id: what the caller records with it
#: (the idempotency key's proposal, ``core.idempotency``), committed or lost together with the proposal.
OnRecord = Callable[[Session, str], None]


class Submission:
    """The whole submit, over the authoring, preview and decision phases."""

    def __init__(self, ctx: LifecycleContext, authoring: Authoring, previews: Previews,
                 decisions: Decisions, intents: CreateIntents) -> None:
        self.ctx, self.authoring, self.previews, self.decisions = ctx, authoring, previews, decisions
        self.intents = intents
        #: told of a proposal whose submit stopped after it was recorded (the database went away, or an
        #: error), to be finished (preview, decision) by this process (``Recovery.note_cut_submit``)
        self.on_cut: Callable[[str, Actor], None] | None = None

    def finish(self, pid: str, actor: Actor) -> str:
        """What a submit (or a resubmit) stopped after its first commit left: validate, preview and
        decide now, from the state it was recorded in (``draft``, ``validated`` or ``previewed``);
        anything further along is left as it is."""
        p = self.ctx.get(pid)
        if p.state is S.DRAFT:
            with contextlib.suppress(Invalid):  # invalid is an end like any other: recorded, audited
                p = self.authoring.validate(pid, actor)
            p = self.ctx.get(pid)
        if p.state is S.VALIDATED:
            p = self.previews.preview(pid, actor)
        if p.state is S.PREVIEWED:
            self.decisions.decide(pid, actor)
        return str(self.ctx.get(pid).state)

    def resubmit(self, pid: str, draft: ProposalDraft, actor: Actor) -> Proposal:
        """Edit (author only) and run the gates again: validate, preview, decide. The edit's
        transaction records the intent, so a process that stops before the decision leaves a
        proposal recovery finishes (an edited proposal left ``draft`` held its devices as any)."""
        self.authoring.edit(pid, draft, actor, intent=RESUBMIT)
        try:
            failpoint("lifecycle.after_edit")
            return self._gates_again(pid, actor)
        except BaseException as exc:
            if isinstance(exc, Exception):
                self._left(pid, actor)
            raise
        finally:
            self.intents.release(pid)

    def _gates_again(self, pid: str, actor: Actor) -> Proposal:
        try:
            self.authoring.validate(pid, actor)
        except Invalid:
            pass  # recorded ``invalid`` (an end): its intent goes below
        else:
            self.previews.preview(pid, actor)
            self.decisions.decide(pid, actor)
        with self.ctx.store.write() as s:
            self.intents.end_in(s, pid)
        return self.ctx.get(pid)

    def _left(self, pid: str, actor: Actor) -> None:
        """A call stopped after the proposal was recorded: this process finishes it (or, failing that,
        cancels it with the reason) in the background, once the database takes it."""
        if self.on_cut is not None:
            self.on_cut(pid, actor)

    def submit(self, draft: ProposalDraft, actor: Actor) -> Proposal:
        """create → validate → preview → decide. Stops at the first gate that says no and
        returns the proposal in that state (``invalid``/``denied``) rather than raising.

        The same steps as calling the four methods, with the same states and audit events, in
        two write transactions instead of four: create and validate commit together
        (a proposal that fails validation is still recorded, ``invalid``), the devices are read
        with no transaction open, and the preview is recorded together with the decision made on
        it — only if the proposal is still exactly the content previewed and decided on."""
        return self.submit_detailed(draft, actor).proposal

    def submit_detailed(self, draft: ProposalDraft, actor: Actor, *, on_record: OnRecord | None = None) -> Submitted:
        """:meth:`submit`, answering also what it committed (:class:`Submitted`). ``on_record``: run in
        the transaction that records the proposal."""
        # Whatever ends the call — an answer, or an error that may name the proposal — is durable.
        made: list[str] = []
        try:
            out = self._submit(draft, actor, made, on_record)
        except BaseException as exc:
            with contextlib.suppress(Exception):  # the original error is the one to report
                self.ctx.store.ensure_durable()
            if made and isinstance(exc, Exception):
                # Recorded, not decided: finished by this process, never left to hold its devices.
                self._left(made[0], actor)
                if not isinstance(exc, GatewardError) and (
                        database_unavailable_cause(exc) is not None or storage_full_cause(exc) is not None):
                    raise self._cut(made[0], exc) from exc
            raise
        finally:
            if made:
                self.intents.release(made[0])
        self.ctx.store.ensure_durable()
        return out

    @staticmethod
    def _cut(pid: str, exc: Exception) -> DatabaseUnavailable:
        """The database went away after the proposal was recorded, before its decision: this process
        finishes it when the database answers (a proposal left undecided would hold its devices
        against every later one), and the answer says so — sending the create again without an
        idempotency key would make a second proposal."""
        cause = cause_text(storage_full_cause(exc) or database_unavailable_cause(exc) or exc)
        return DatabaseUnavailable(
            f"the database stopped answering while proposal {pid} was submitted ({cause}): it was recorded but "
            "not yet previewed and decided (or, if its first commit was cut, not recorded at all); a running server "
            f"finishes it as soon as the database answers — then read GET /api/proposals/{pid} (404: nothing was "
            "recorded, submit again), or send the create again with the same Idempotency-Key, instead of "
            "creating it again", proposal_id=pid)

    def _submit(self, draft: ProposalDraft, actor: Actor, made: list[str], on_record: OnRecord | None) -> Submitted:
        # a path into an instance the stored model lacks is asked of the device first (never in a transaction)
        refresh_before_validate(self.ctx.store, self.previews.io, draft)
        t0 = time.perf_counter()
        events: list[dict[str, Any]] = []  # the audit rows each transaction below writes
        # Prepares the next step only (``Store.write(durable=False)``): when validation passes, the
        # decision's commit below is synchronous and flushes this one with it; ``submit`` makes it
        # durable itself when the call ends here. Each store step runs in the process's lane
        # (``core.store.lane``); the device reads between them do not.
        with self.ctx.store.write(durable=False, laned=True) as s:
            s.info[audit.COLLECT] = events
            row, p, targeted = self.authoring.create_in(s, draft, actor, defer=True)
            self.ctx.time("create", t0)
            t0 = time.perf_counter()
            # A few named targets: the row is written once, in the state validation leaves it in.
            problems, loaded = self.authoring.validate_in(s, row, p, actor, targeted, save=targeted is None)
            if targeted is not None:
                self.authoring.insert_new(s, row, p.targets)
            if not problems:  # decided by the second transaction below, or by recovery if this call stops
                self.intents.begin_in(s, p.id, SUBMIT, actor.id)
            if on_record is not None:
                on_record(s, p.id)
            made.append(p.id)  # from its commit on, the proposal exists (or may: a commit cut mid-way)
        self.ctx.time("validate", t0)
        failpoint("lifecycle.after_create")
        if problems:
            return Submitted(repo.proposal_from_row(row), row, None, targeted, events)
        t0 = time.perf_counter()
        preview = self.previews.take(p, devices=loaded)
        self.ctx.time("preview", t0)
        t0 = time.perf_counter()
        if self.ctx.store.dialect == "postgresql":
            # One transaction: no lock is held while policy runs (the proposal's row is locked only
            # by the save that records preview and decision), so a separate read transaction only
            # cost a BEGIN and a COMMIT round trip.
            with self.ctx.store.write(laned=True) as s:
                s.info[audit.COLLECT] = events
                decided = self.decisions.decide_in(s, p, preview)
                row = self.previews.store_in(s, p, preview, actor, save=False, row=row)
                recorded = self.decisions.record_in(s, row, p, decided, actor)
                self._end(s, p.id)
            self.ctx.time("decide", t0)
            return Submitted(repo.proposal_from_row(row), row, recorded, targeted, events)
        # Decided outside the write transaction: a SQLite writer holds the database's one write lock
        # for the whole transaction, so policy work inside it would queue every other writer
        # behind it. The hash is checked again under the row lock when the decision is recorded.
        with self.ctx.store.read(laned=True) as s:
            decided = self.decisions.decide_in(s, p, preview)
        with self.ctx.store.write(laned=True) as s:
            s.info[audit.COLLECT] = events
            row = self.previews.store_in(s, p, preview, actor, save=False, row=row)
            recorded = self.decisions.record_in(s, row, p, decided, actor)
            self._end(s, p.id)
        self.ctx.time("decide", t0)
        return Submitted(repo.proposal_from_row(row), row, recorded, targeted, events)

    def _end(self, s: Session, pid: str) -> None:
        """The decision's transaction ends the intent; gone already, recovery took this process for
        dead (another host, past its expiry) and finished the proposal: this decision is not recorded."""
        if not self.intents.end_in(s, pid):
            raise Conflict(f"proposal {pid} was finished by recovery while this submit ran (its process was "
                           "taken for gone); read it")
