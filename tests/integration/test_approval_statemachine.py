"""Issue 10, defect 3: no reachable state leaves nobody able to act.

Approving content A, editing it to B and back to A used to revive A's approvals: the approver got
409 "already approved", the senior approver 403 "it needs " (nothing), and the proposal waited
forever. Approvals are now bound to the decision they answered, so an edit voids them for good.

The stateful test drives one proposal per example through submit / edit / approve / reject /
cancel / apply by several users, on the simulator and SQLite, and checks after every step that a
non-terminal proposal has someone who can move it forward (``Lifecycle.who_can_act``) — and, with
the ``progress`` rule, that what that answer promises the server really allows — and that no
device lock outlives an apply.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from core.kernel.errors import Conflict, DeviceUnavailable, Forbidden, Invalid, Locked
from core.kernel.models import TERMINAL_STATES, Change, ProposalDraft, ProposalState
from core.lifecycle import EDITABLE
from core.store.schema import DeviceLockRow
from tests.integration.test_lifecycle import pick, who

S = ProposalState
AUTHOR = "dave"  # an admin may propose management-plane changes; a support agent may not
PP = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"
INFORM = "Device.ManagementServer.PeriodicInformInterval"
CONTENTS = {  # approvals policy asks for, with the shipped pack
    "A": [Change(path=PP, value="Orchard-Lantern-4417")],  # approver
    "B": [Change(path=INFORM, value=600), Change(path=PP, value="Copper-Meadow-5521")],  # approver + senior
    "C": [Change(path=INFORM, value=900)],  # approver + senior
}
REFUSALS = (Conflict, Forbidden, Invalid, Locked, DeviceUnavailable)


def _draft(content: str, device_id: str) -> ProposalDraft:
    return ProposalDraft(intent=f"content {content}", targets=[device_id], changes=CONTENTS[content])


def test_edit_back_to_approved_content_needs_a_fresh_approval(sqlite_runtime: Any) -> None:
    rt = sqlite_runtime
    d = pick(rt)
    lc = rt.lifecycle
    p = lc.submit(_draft("A", d.id), who(rt, AUTHOR))
    assert lc.approve(p.id, who(rt, "bob")).state is S.APPROVED
    for content in ("B", "A"):
        lc.edit(p.id, _draft(content, d.id), who(rt, AUTHOR))
        lc.validate(p.id)
        lc.preview(p.id)
        lc.decide(p.id)
    back = lc.get(p.id)
    assert back.hash == p.hash and back.state is S.AWAITING_APPROVAL
    assert lc.approve(p.id, who(rt, "bob")).state is S.APPROVED  # used to be 409 "already approved"
    assert lc.apply(p.id, who(rt, "alice")).proposal.state is S.DONE


def test_second_approval_by_the_same_person_says_who_is_still_needed(sqlite_runtime: Any) -> None:
    rt = sqlite_runtime
    p = rt.lifecycle.submit(_draft("C", pick(rt).id), who(rt, AUTHOR))
    rt.lifecycle.approve(p.id, who(rt, "bob"))
    try:
        rt.lifecycle.approve(p.id, who(rt, "bob"))
    except Conflict as exc:
        assert "already approved" in str(exc) and "senior_approver" in str(exc)
    else:
        raise AssertionError("a second approval by bob was accepted")


class ApprovalMachine(RuleBasedStateMachine):
    rt: Any = None
    device_id: str = ""

    @initialize(content=st.sampled_from(sorted(CONTENTS)))
    def submit(self, content: str) -> None:
        self.pid = self.rt.lifecycle.submit(_draft(content, self.device_id), who(self.rt, AUTHOR)).id

    @rule(content=st.sampled_from(sorted(CONTENTS)))
    def next_proposal(self, content: str) -> None:
        """Keep exploring after an end state. (Rules return early where they do not apply rather
        than use preconditions: the store outlives examples, so replays must not depend on it.)"""
        if self.state not in TERMINAL_STATES:
            return
        self.submit(content)

    def _try(self, action: Any) -> None:
        try:
            action()
        except REFUSALS as exc:
            text = str(exc)
            assert text and not text.rstrip().endswith(("needs", "needs:")), text  # always says what is missing

    @property
    def state(self) -> ProposalState:
        return self.rt.lifecycle.get(self.pid).state

    @rule(content=st.sampled_from(sorted(CONTENTS)), then_submit=st.booleans())
    def edit(self, content: str, then_submit: bool) -> None:
        """The author edits (back to draft), and usually submits again as the console does."""
        if self.state not in EDITABLE:
            return
        self._try(lambda: self.rt.lifecycle.edit(self.pid, _draft(content, self.device_id), who(self.rt, AUTHOR)))
        if then_submit:
            self._try(self._advance)

    @rule()
    def resubmit(self) -> None:
        if self.state not in (S.DRAFT, S.VALIDATED, S.PREVIEWED):
            return
        self._try(self._advance)

    def _advance(self) -> None:
        lc = self.rt.lifecycle
        if self.state is S.DRAFT:
            lc.validate(self.pid)
        if self.state is S.VALIDATED:
            lc.preview(self.pid)
        if self.state is S.PREVIEWED:
            lc.decide(self.pid)

    @rule(user=st.sampled_from(["alice", "bob", "carol", "dave"]))
    def approve(self, user: str) -> None:
        if self.state is not S.AWAITING_APPROVAL:
            return
        self._try(lambda: self.rt.lifecycle.approve(self.pid, who(self.rt, user)))

    @rule(user=st.sampled_from(["bob", "carol", "dave"]))
    def reject(self, user: str) -> None:
        if not (self.state not in TERMINAL_STATES):
            return
        self._try(lambda: self.rt.lifecycle.reject(self.pid, who(self.rt, user), "not like this"))

    @rule(user=st.sampled_from(["alice", "bob", "dave"]))
    def cancel(self, user: str) -> None:
        if not (self.state not in TERMINAL_STATES):
            return
        self._try(lambda: self.rt.lifecycle.cancel(self.pid, who(self.rt, user), "withdrawn"))

    @rule(user=st.sampled_from(["alice", "bob", "erin"]))
    def apply(self, user: str) -> None:
        if self.state is not S.APPROVED:
            return
        self._try(lambda: self.rt.lifecycle.apply(self.pid, who(self.rt, user)))

    @rule()
    def progress(self) -> None:
        """Do what ``who_can_act`` says moves the proposal forward: it must be allowed."""
        if not (self.state not in TERMINAL_STATES):
            return
        lc = self.rt.lifecycle
        acts = lc.who_can_act(self.pid)
        if "approve" in acts:
            lc.approve(self.pid, who(self.rt, acts["approve"][0]))
        elif "apply" in acts:
            lc.apply(self.pid, who(self.rt, acts["apply"][0]))
        elif "submit" in acts:
            self._advance()

    @invariant()
    def someone_can_move_it(self) -> None:
        state = self.state
        acts = self.rt.lifecycle.who_can_act(self.pid)
        forward = {S.AWAITING_APPROVAL: "approve", S.APPROVED: "apply", S.DRAFT: "submit", S.VALIDATED: "submit",
                   S.PREVIEWED: "submit"}
        if state in TERMINAL_STATES:
            assert acts == {}, acts
        else:
            assert acts.get(forward[state]), f"{state}: nobody can move it forward ({acts})"

    @invariant()
    def no_lock_outlives_an_apply(self) -> None:
        with self.rt.store.read() as s:
            assert list(s.scalars(select(DeviceLockRow.device_id))) == []


def test_no_reachable_state_leaves_nobody_able_to_act(sqlite_runtime: Any) -> None:
    machine = type("Machine", (ApprovalMachine,), {"rt": sqlite_runtime, "device_id": pick(sqlite_runtime).id})
    run_state_machine_as_test(machine, settings=settings(
        max_examples=20, stateful_step_count=25, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
