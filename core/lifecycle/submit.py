"""``submit``: create → validate → preview → decide in two write transactions instead of four
(issue 15), with the same states and audit events as the four calls.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from core import audit
from core.lifecycle.authoring import Authoring
from core.lifecycle.context import LifecycleContext
from core.lifecycle.decide import Decisions
from core.lifecycle.preview import Previews
from core.models import Actor, Device, Proposal, ProposalDraft
from core.store import repo
from core.store.records import ProposalRecord


@dataclass(frozen=True)
class Submitted:
    """What :meth:`Lifecycle.submit_detailed` committed, as it committed it: for an answer built
    without reading it back (``POST /api/proposals`` read 7–8 statements for what the call had just
    written; issue 15).

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


class Submission:
    """The whole submit, over the authoring, preview and decision phases."""

    def __init__(self, ctx: LifecycleContext, authoring: Authoring, previews: Previews,
                 decisions: Decisions) -> None:
        self.ctx, self.authoring, self.previews, self.decisions = ctx, authoring, previews, decisions

    def submit(self, draft: ProposalDraft, actor: Actor) -> Proposal:
        """create → validate → preview → decide. Stops at the first gate that says no and
        returns the proposal in that state (``invalid``/``denied``) rather than raising.

        The same steps as calling the four methods, with the same states and audit events, in
        two write transactions instead of four (issue 15): create and validate commit together
        (a proposal that fails validation is still recorded, ``invalid``), the devices are read
        with no transaction open, and the preview is recorded together with the decision made on
        it — only if the proposal is still exactly the content previewed and decided on."""
        return self.submit_detailed(draft, actor).proposal

    def submit_detailed(self, draft: ProposalDraft, actor: Actor) -> Submitted:
        """:meth:`submit`, answering also what it committed (:class:`Submitted`)."""
        # Whatever ends the call — an answer, or an error that may name the proposal — is durable.
        try:
            out = self._submit(draft, actor)
        except BaseException:
            with contextlib.suppress(Exception):  # the original error is the one to report
                self.ctx.store.ensure_durable()
            raise
        self.ctx.store.ensure_durable()
        return out

    def _submit(self, draft: ProposalDraft, actor: Actor) -> Submitted:
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
        self.ctx.time("validate", t0)
        if problems:
            return Submitted(repo.proposal_from_row(row), row, None, targeted, events)
        t0 = time.perf_counter()
        preview = self.previews.take(p, devices=loaded)
        self.ctx.time("preview", t0)
        t0 = time.perf_counter()
        if self.ctx.store.dialect == "postgresql":
            # One transaction: no lock is held while policy runs (the proposal's row is locked only
            # by the save that records preview and decision), so a separate read transaction only
            # cost a BEGIN and a COMMIT round trip (issue 15).
            with self.ctx.store.write(laned=True) as s:
                s.info[audit.COLLECT] = events
                decided = self.decisions.decide_in(s, p, preview)
                row = self.previews.store_in(s, p, preview, actor, save=False, row=row)
                recorded = self.decisions.record_in(s, row, p, decided, actor)
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
        self.ctx.time("decide", t0)
        return Submitted(repo.proposal_from_row(row), row, recorded, targeted, events)
