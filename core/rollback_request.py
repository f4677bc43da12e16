"""A rollback a support agent asks for: a new proposal that puts an applied change's backed-up
values back, submitted through every gate like any other change and routed to an approver.

Why a proposal and not ``Lifecycle.rollback``: rolling a ``done`` proposal back is an approver's
call (``POST /api/proposals/{id}/rollback`` is theirs). A support agent on the phone with a
subscriber whose Wi-Fi got worse after a fix asks for it instead: the request is the restore as a
change of its own (the values from the applied proposal's backup), with ``source``
``rollback_request``, which policy sends to an approver (``approval.rollback_request``). It lands in
the approvers' queue with the reason and a link to the proposal it undoes, and nothing touches the
device until an approver has said yes.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select

from core.kernel.errors import Conflict, Invalid, NotFound
from core.kernel.jsontypes import Json
from core.kernel.models import Actor, Change, Evidence, Proposal, ProposalDraft, ProposalState
from core.kernel.secrets import is_secret_path
from core.services import CoreServices
from core.store import repo
from core.store.schema import BackupRow

SOURCE = "rollback_request"


def restore_changes(backup: Mapping[str, Json], paths: list[str]) -> tuple[list[Change], list[str]]:
    """The changes that put ``paths`` back to the backup, and the paths that cannot be (a secret,
    whose old value is never kept readable; a parameter the backup does not hold a value for)."""
    out: list[Change] = []
    skipped: list[str] = []
    for path in paths:
        held = backup.get(path)
        if is_secret_path(path) or not isinstance(held, dict) or held.get("absent") or held.get("value") is None \
                or held.get("restorable") is False:
            skipped.append(path)
            continue
        out.append(Change(path=path, value=held["value"]))
    return out, skipped


def request_rollback(rt: CoreServices, proposal_id: str, device_id: str, reason: str, actor: Actor) -> Proposal:
    """Submit the restore of ``proposal_id`` on ``device_id`` as a new proposal by ``actor``.
    Conflict when the proposal is not applied (``done``) or did not target the device; Invalid
    when nothing it changed can be put back from its backup (a passphrase: propose a new one)."""
    reason = reason.strip()
    if not reason:
        raise Invalid("say why the change should be rolled back (reason)")
    with rt.store.read() as s:
        p = repo.proposal_from_row(repo.get_proposal_row(s, proposal_id))
        repo.get_device(s, device_id)
        backup = s.scalars(select(BackupRow.params).where(BackupRow.proposal_id == proposal_id,
                                                          BackupRow.device_id == device_id)
                           .order_by(BackupRow.created_at.desc()).limit(1)).first()
    if p.state is not ProposalState.DONE:
        raise Conflict(f"proposal {proposal_id} is {p.state}; only an applied (done) change is rolled back")
    if device_id not in p.targets:
        raise NotFound(f"proposal {proposal_id} did not change {device_id}")
    if backup is None:
        raise Conflict(f"proposal {proposal_id} kept no backup of {device_id}: there is nothing to put back")
    changes, skipped = restore_changes(dict(backup), [c.path for c in p.changes])
    if not changes:
        raise Invalid(f"nothing {proposal_id} changed can be put back from its backup ({', '.join(skipped)}); "
                      "propose the value you want instead")
    note = f" ({', '.join(skipped)} cannot be put back)" if skipped else ""
    draft = ProposalDraft(
        intent=f"roll back {proposal_id} on {device_id}: {reason}"[:300], targets=[device_id], changes=changes,
        rationale=f"{actor.id} asks to undo {proposal_id} ({p.intent}){note}. Reason: {reason}"[:4000],
        evidence=[Evidence(kind="rollback_request", summary=reason[:500], data={"proposal_id": proposal_id})],
        source=SOURCE)
    return rt.lifecycle.submit(draft, actor)
