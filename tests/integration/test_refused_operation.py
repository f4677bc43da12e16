"""A proposal whose only operation the device refuses (issue 37, item 7).

Seen with a USP agent answering ``Reboot()`` with an Error: nothing was changed on any device, yet
the proposal ended ``rolled_back`` — as if something had been undone. It ends ``failed``, saying
nothing was sent to roll back; the simulator's ``command_refused`` fault makes the device refuse.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.kernel.models import Change, Operation, ProposalDraft, ProposalState
from core.store.schema import AuditEventRow
from tests.integration.test_lifecycle import ACE, pick, radio_5g, read, twin, who
from tests.integration.test_unconfirmed_operation import _approved

S = ProposalState


def _actions(rt: Any, pid: str) -> list[str]:
    with rt.store.read() as s:
        return list(s.scalars(select(AuditEventRow.action).where(AuditEventRow.proposal_id == pid)
                              .order_by(AuditEventRow.seq)))


def test_a_refused_reboot_only_proposal_is_failed_with_nothing_sent(runtime: Any) -> None:
    d = pick(runtime)
    twin(runtime).inject(d.id, "command_refused", command="reboot", code=9001, message="permission denied")
    p = _approved(runtime, ProposalDraft(intent="reboot a wedged gateway", targets=[d.id],
                                         operations=[Operation(command="reboot")], rationale="memory leak"))
    out = runtime.lifecycle.apply(p.id, who(runtime, "bob"))

    assert out.proposal.state is S.FAILED, (out.proposal.state, out.proposal.error)
    assert "permission denied" in (out.proposal.error or "") and "nothing sent" in (out.proposal.error or "")
    assert out.rolled_back == [] and d.id in out.failed
    actions = _actions(runtime, p.id)
    assert "proposal.rolled_back" not in actions and "device.rolling_back" not in actions
    assert "proposal.failed" in actions


def test_a_refused_reboot_after_a_set_still_rolls_the_set_back(runtime: Any) -> None:
    """With a parameter written before the refused command, there is something to undo: rolled back."""
    d = pick(runtime, skip=1)
    r = radio_5g(runtime, d)
    path = ACE.format(r=r)
    before = read(runtime, d, path)
    twin(runtime).inject(d.id, "command_refused", command="reboot")
    p = _approved(runtime, ProposalDraft(intent="auto channel off, then reboot", targets=[d.id],
                                         changes=[Change(path=path, value=not before)],
                                         operations=[Operation(command="reboot")], rationale="radio keeps hopping"))
    out = runtime.lifecycle.apply(p.id, who(runtime, "bob"))
    assert out.proposal.state is S.ROLLED_BACK, (out.proposal.state, out.proposal.error)
    assert read(runtime, d, path) == before
