"""Writing a proposal: create (targets frozen, content hashed), edit, cancel, and validation
against each target's data model and discovered capabilities.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from core import audit, fleet_pass
from core.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from core.kernel.ids import new_id
from core.kernel.models import Actor, Device, Proposal, ProposalDraft, check_draft, check_targeted, utcnow
from core.lifecycle.context import EDITABLE, LifecycleContext, S
from core.lifecycle.create_intents import CreateIntents
from core.lifecycle.locking import DeviceLocks
from core.states import require_state, set_state
from core.store import repo
from core.store.records import ProposalRecord
from core.store.schema import ProposalDeviceRow
from core.validation import normalise, per_target_issues, validate_changes, validate_operation

# Up to this many devices named one by one (no selector), ``create`` reads them whole and validation
# picks each class's representative from them: for a support agent's one-device change that is one
# statement instead of three (existence, classes, devices).
FEW_TARGETS = 64


def latest_start(not_before: datetime | None, not_after: datetime | None, default_s: int) -> datetime | None:
    """A schedule's latest start: the one asked for, else ``default_s`` after its not-before (a change
    "at 3" is not run at 10 because the gateway was away at 3). Refused when it is not after the
    not-before: such a schedule could never start."""
    if not_after is not None and not_before is not None and not_after <= not_before:
        raise Invalid(f"the latest start ({not_after.isoformat()}) must be after the not-before "
                      f"({not_before.isoformat()})")
    if not_after is not None:
        return not_after
    return None if not_before is None else not_before + timedelta(seconds=default_s)


class _Discard(Exception):
    """Rolls :meth:`Authoring.check`'s transaction back."""


class Authoring:
    """create → validate, edit, cancel."""

    def __init__(self, ctx: LifecycleContext, locks: DeviceLocks, intents: CreateIntents) -> None:
        self.ctx, self.locks, self.intents = ctx, locks, intents

    def create(self, draft: ProposalDraft, actor: Actor, *, intent: str | None = None,
               on_record: Callable[[Session, str], None] | None = None) -> Proposal:
        """Record a draft. Targets are frozen here (a selector is resolved now), so that what is
        approved is the device list the approver saw. ``intent``: the kind of create this begins
        (``core.lifecycle.create_intents``), recorded with the proposal — the caller ends it with its
        last step, or recovery settles it; ``on_record``: run in the same transaction."""
        t0 = time.perf_counter()
        with self.ctx.store.write() as s:
            _, p, _ = self.create_in(s, draft, actor)
            if intent is not None:
                self.intents.begin_in(s, p.id, intent, actor.id)
            if on_record is not None:
                on_record(s, p.id)
        self.ctx.time("create", t0)
        return p

    def create_in(self, s: Session, draft: ProposalDraft, actor: Actor, *, defer: bool = False
                  ) -> tuple[ProposalRecord, Proposal, dict[str, Device] | None]:
        """:meth:`create`'s work in the caller's transaction (``submit`` validates in the same one).
        Also answers the targets' devices when it read them whole (a few named, no selector).

        ``defer``: when it read them whole, the row and its targets are not written yet — the
        caller writes them with :meth:`insert_new` in this transaction once validation has moved
        the row, one INSERT instead of an INSERT and an UPDATE (validation of a few targets reads
        neither). With a selector or many targets they are written here as always."""
        if "auditor" in actor.roles and len(actor.roles) == 1:
            raise Forbidden(f"{actor.id} is an auditor; auditors cannot propose changes")
        if not draft.changes and not draft.operations:
            raise Invalid("a proposal needs at least one change (--set PATH=VALUE) or operation")
        named = list(dict.fromkeys(draft.targets))
        targets = named
        if draft.selector is not None:
            chosen = repo.select_devices(s, draft.selector)  # unique ids: the devices' primary key
            targets = list(dict.fromkeys(named + chosen)) if named else chosen
        if not targets:
            raise Invalid("the proposal targets no device (the selector matched nothing)")
        check_draft(draft, len(targets))  # size limits and canonical-JSON content, before anything is stored
        check_targeted(draft.changes, targets)  # per-target values: each for a target, each target served
        # The selector's devices were just read as existing and active in this transaction; the
        # devices named one by one are checked (unknown or retired is refused). A few named alone
        # are read whole, for validation to use (``validate_in``): one statement, not three.
        few = draft.selector is None and len(named) <= FEW_TARGETS
        loaded = repo.targetable_devices(s, named) if few else None
        known = loaded if loaded is not None else repo.existing_ids(s, named)
        missing = [t for t in named if t not in known]
        if missing:
            raise NotFound(f"unknown device {missing[0]!r}"
                           + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        now = utcnow()
        not_after = latest_start(draft.not_before, draft.not_after, self.ctx.settings.schedule_latest_s)
        p = Proposal(
            id=new_id("p"), author=actor.id, author_kind=actor.kind, intent=draft.intent, targets=targets,
            changes=normalise(draft.changes), operations=list(draft.operations), rationale=draft.rationale,
            evidence=list(draft.evidence), emergency=draft.emergency, action_type=draft.action_type,
            staged=draft.staged, source=draft.source, state=S.DRAFT, created_at=now, updated_at=now,
            not_before=draft.not_before, not_after=not_after, preconditions=list(draft.preconditions),
            readback=draft.readback,
        )
        p.hash = p.compute_hash()
        row = ProposalRecord(**repo.proposal_values(p))
        if not (defer and loaded is not None):
            self.insert_new(s, row, targets)
        audit.append(s, actor=actor.id, action="proposal.created", proposal_id=p.id, data={
            "hash": p.hash, "intent": p.intent, "targets": targets[:50], "target_count": len(targets),
            "changes": row.changes, "operations": row.operations, "source": p.source,
        })
        return row, p, loaded

    def check(self, draft: ProposalDraft, actor: Actor) -> list[str]:
        """What :meth:`create` and :meth:`validate` would refuse in ``draft``, recording nothing:
        the problems (``[]`` when it validates). For a person's form (an inline value, a campaign
        definition): a typo is answered on the page and leaves no ``invalid`` proposal behind. The
        same steps run in a transaction that is rolled back, so their rows and audit events go."""
        found: list[str] = []
        try:
            with self.ctx.store.write() as s:
                row, p, targeted = self.create_in(s, draft, actor, defer=True)
                found, _ = self.validate_in(s, row, p, actor, targeted, save=False)
                raise _Discard
        except _Discard:
            pass
        return found

    @staticmethod
    def insert_new(s: Session, row: ProposalRecord, targets: list[str]) -> None:
        """Write a new proposal's row and its targets (``proposal_devices``), in that order."""
        row.insert(s)
        repo.add_targets(s, row.id, targets)

    def edit(self, pid: str, draft: ProposalDraft, actor: Actor, *, intent: str | None = None) -> Proposal:
        """Replace the content. The hash changes, so every earlier decision and approval is void
        (they are bound to the old hash) and the proposal starts again from draft. ``intent``: the
        gates follow at once (a resubmit), recorded as for :meth:`create`."""
        with self.ctx.store.write() as s:
            row, p = self.ctx.load(s, pid)
            if actor.id != p.author:
                raise Forbidden(f"only the author ({p.author}) may edit proposal {pid}")
            require_state(p, *EDITABLE, doing="edit")
            self.locks.refuse_if_executing(s, p, actor.id, doing="edit")
            old_hash = p.hash
            targets = list(dict.fromkeys(draft.targets)) or list(p.targets)
            check_draft(draft, len(targets))
            check_targeted(draft.changes, targets)
            devices = repo.get_devices(s, targets)
            missing = [t for t in targets if t not in devices]
            if missing:
                raise NotFound(f"unknown device {missing[0]!r}")
            stages = self.ctx.stages
            campaign = stages is not None and stages.governs(s, pid)
            if campaign and set(targets) != set(p.targets):
                raise Conflict(f"proposal {pid} is a campaign's: its targets are the campaign's ring plan and "
                               "cannot be edited; create a new campaign for other devices")
            p.intent, p.targets, p.changes = draft.intent, targets, normalise(draft.changes)
            p.operations, p.rationale, p.evidence = list(draft.operations), draft.rationale, list(draft.evidence)
            # A staged proposal never becomes a plain one (invariant 8): an edit that leaves the flag out
            # (the API's form has none) keeps it, or an approved campaign change would be applied whole.
            p.emergency, p.action_type, p.staged = draft.emergency, draft.action_type, p.staged or draft.staged
            # The schedule and conditions are content the approvers sign: an edit replaces them too.
            p.not_before, p.preconditions, p.readback = draft.not_before, list(draft.preconditions), draft.readback
            p.not_after = latest_start(draft.not_before, draft.not_after, self.ctx.settings.schedule_latest_s)
            p.hash = p.compute_hash()
            row.intent, row.targets = p.intent, p.targets
            row.changes = [c.model_dump(mode="json") for c in p.changes]
            row.operations = [o.model_dump(mode="json") for o in p.operations]
            row.rationale, row.evidence = p.rationale, [e.model_dump(mode="json") for e in p.evidence]
            row.emergency, row.action_type, row.staged, row.hash, row.preview, row.risk = (
                p.emergency, p.action_type, p.staged, p.hash, None, None)
            row.not_before, row.not_after, row.readback = p.not_before, p.not_after, p.readback or None
            row.preconditions = [c.model_dump(mode="json") for c in p.preconditions] or None
            row.start_requested_by, row.start_retry_at, row.start_deferrals = None, None, None
            s.execute(delete(ProposalDeviceRow).where(ProposalDeviceRow.proposal_id == pid))
            s.add_all([ProposalDeviceRow(proposal_id=pid, device_id=t) for t in targets])
            set_state(s, row, S.DRAFT, actor.id, "proposal.edited",
                      {"old_hash": old_hash, "new_hash": p.hash,
                             "changes": [c.model_dump(mode="json") for c in p.changes],
                             "note": "earlier decisions and approvals are void"})
            if campaign and stages is not None:
                stages.edited(s, p, old_hash, actor.id)
            if intent is not None:
                self.intents.begin_in(s, pid, intent, actor.id, replace=True)
        return self.ctx.get(pid)

    def cancel(self, pid: str, actor: Actor, reason: str = "") -> Proposal:
        with self.ctx.store.write() as s:
            row, p = self.ctx.load(s, pid)
            if actor.id != p.author and "admin" not in actor.roles:
                raise Forbidden(f"only the author ({p.author}) or an admin may cancel proposal {pid}")
            require_state(p, *EDITABLE, doing="cancel")
            self.locks.refuse_if_executing(s, p, actor.id, doing="cancel")
            set_state(s, row, S.CANCELLED, actor.id, "proposal.cancelled", {"reason": reason})
        return self.ctx.get(pid)

    def validate(self, pid: str, actor: Actor | None = None) -> Proposal:
        t0 = time.perf_counter()
        with self.ctx.store.write() as s:
            row, p = self.ctx.load(s, pid)
            problems, _ = self.validate_in(s, row, p, actor)
        self.ctx.time("validate", t0)
        result = repo.proposal_from_row(row)
        if problems:
            raise Invalid("; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""),
                          proposal_id=pid, errors=problems)
        return result

    @staticmethod
    def _class_reps(s: Session, p: Proposal) -> list[str]:
        """One target per (vendor, model, firmware, protocol, root): a fleet's from the gate's shared
        pass over its targets (``core.fleet_pass``: the preview and the decision group the same pass)."""
        if len(p.targets) > fleet_pass.FLEET_MIN:
            return fleet_pass.validation_reps(fleet_pass.take(s, p.id, p.hash, p.targets))
        return repo.target_classes(s, p.id, len(p.targets))

    def validate_in(self, s: Session, row: ProposalRecord, p: Proposal, actor: Actor | None,
                    targeted: dict[str, Device] | None = None, *, save: bool = True
                    ) -> tuple[list[str], dict[str, Device]]:
        """:meth:`validate`'s work in the caller's transaction: the proposal moves to ``validated``
        or ``invalid`` (audited); returns the problems found and the devices it loaded (one per
        class of targets, or every target of a per-target proposal). ``targeted``: every target's
        device, read in this transaction by ``create_in``. ``save=False``: the row is not written
        (the caller inserts it next, ``create_in(defer=True)``)."""
        require_state(p, S.DRAFT, S.VALIDATED, S.INVALID, doing="validate")
        problems: list[str] = []
        for op in p.operations:
            problems += [i.message for i in validate_operation(op)]
        # Devices of one (vendor, model, firmware, protocol, root) validate identically: one
        # representative per class, found by the database, not by loading every device. Not so
        # with per-target values (two devices of a class get different values): every device.
        if targeted is not None and all(t in targeted for t in p.targets):
            reps = dict(targeted) if p.per_target else {i: targeted[i] for i in repo.class_representatives(targeted)}
        else:
            reps = repo.get_devices(s, list(p.targets) if p.per_target else self._class_reps(s, p))
        # What each class's devices said about themselves: their discovered data model (a path it
        # lacks or marks read-only is refused here, before anyone approves) and the values they
        # list as supported (stored snapshot). Neither stored: the registry alone decides.
        from core.capabilities import for_devices, unidentified

        if not p.per_target and any(unidentified(d) for d in reps.values()):
            # "unknown unknown fw unknown" is no class: two such agents may be different products,
            # so each validates against its own data model, never against another's.
            every = targeted if targeted is not None else repo.get_devices(s, list(p.targets))
            reps.update({i: d for i, d in every.items() if unidentified(d)})

        caps = for_devices(s, reps.values()) if p.changes or p.operations else {}
        known = repo.latest_snapshots(s, list(reps)) if p.changes else {}
        # An operation the device's own data model lacks (the OB-USP-Agent has no FirmwareImage table,
        # so no Download()) is refused here, not by the agent after approval.
        problems += [refused[1] for op in p.operations for d in reps.values()
                     if (c := caps.get(d.id)) is not None and (refused := c.command_problem(op.command)) is not None]
        if p.per_target:
            problems += per_target_issues(reps, p.changes, known, caps)
        else:
            for d in reps.values():
                label = ((f"{d.id}: " if unidentified(d) else f"{d.vendor} {d.model} fw {d.firmware}: ")
                         if len(p.targets) > 1 else "")
                problems += [f"{'' if i.rule.startswith('device_model') else label}{i.message}"
                             for i in validate_changes(d, p.changes, known.get(d.id), caps.get(d.id))]
        problems = list(dict.fromkeys(problems))
        who = actor.id if actor else p.author
        if problems:
            set_state(s, row, S.INVALID, who, "proposal.invalid", {"errors": problems[:50]},
                      error="; ".join(problems[:5]), save=save)
        else:
            set_state(s, row, S.VALIDATED, who, "proposal.validated", save=save)
        p.state = S(row.state)
        return problems, reps
