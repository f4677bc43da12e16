"""SetParameterValues Status 1 ("committed, takes effect after reboot") is never reported verified
without the reboot (issue 12 deliverable 5, issue 10 defect 11).

The simulator's ``reboot_required`` fault makes the CPE answer Status 1 while its tree already holds
the new values, exactly the case where a read-back "verifies" a change the running device does not use
yet. (GenieACS drops the Status, so this is a sim/USP path; see docs/genieacs.md.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.kernel.models import Change, Operation, ProposalDraft, ProposalState
from core.store import repo
from core.store.schema import AuditEventRow
from tests.integration.test_lifecycle import ACE, CH, first_not, pick, radio_5g, read, twin, who

S = ProposalState


def _execution(rt: Any, pid: str, device_id: str) -> Any:
    with rt.store.read() as s:
        return next(e for e in repo.executions_for(s, pid) if e.device_id == device_id)


def _actions(rt: Any, pid: str) -> list[str]:
    with rt.store.read() as s:
        return list(s.scalars(select(AuditEventRow.action).where(AuditEventRow.proposal_id == pid)))


def _draft(rt: Any, d: Any, *, reboot: bool) -> tuple[ProposalDraft, int, int]:
    r = radio_5g(rt, d)
    target = first_not(rt, d, r, 36, 40, 44, 48)
    draft = ProposalDraft(intent="move 5 GHz off a busy channel", targets=[d.id],
                          changes=[Change(path=ACE.format(r=r), value=False),
                                   Change(path=CH.format(r=r), value=target)],
                          operations=[Operation(command="reboot")] if reboot else [],
                          rationale="neighbours crowd the current channel")
    return draft, r, target


def test_status_1_without_reboot_is_rolled_back_never_verified(runtime: Any) -> None:
    d = pick(runtime)
    draft, r, _target = _draft(runtime, d, reboot=False)
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    assert p.state is S.APPROVED, p.error
    before = read(runtime, d, CH.format(r=r))
    twin(runtime).inject(d.id, "reboot_required")
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.ROLLED_BACK, out.proposal.error
    assert "takes effect after reboot" in (out.proposal.error or "")
    assert "reboot operation" in (out.proposal.error or "")
    assert d.id in out.failed
    actions = _actions(runtime, p.id)
    assert "device.applied" in actions and "device.verified" not in actions
    ex = _execution(runtime, p.id, d.id)
    assert ex.status == "rolled_back"
    twin(runtime).clear(d.id, "reboot_required")
    assert read(runtime, d, CH.format(r=r)) == before


def test_status_1_with_reboot_in_the_proposal_verifies_after_the_reboot(runtime: Any) -> None:
    d = pick(runtime)
    draft, r, target = _draft(runtime, d, reboot=True)
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    if p.state is S.AWAITING_APPROVAL:
        p = runtime.lifecycle.approve(p.id, who(runtime, "bob"))
    assert p.state is S.APPROVED, p.error
    twin(runtime).inject(d.id, "reboot_required")
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    ex = _execution(runtime, p.id, d.id)
    assert ex.status == "verified" and (ex.detail or {}).get("status") == 1
    assert read(runtime, d, CH.format(r=r)) == target
