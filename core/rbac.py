"""Roles and what they let a person do in the lifecycle itself.

Policy (``policies/``, package ``gateward.rbac``) decides what each role may *propose* and which
approvals a proposal needs. This module answers the two questions the lifecycle must answer
itself, at the moment of acting: may this actor press apply, and does this actor's role satisfy
an approval requirement? Keeping them here means a policy outage cannot grant either.
"""

from __future__ import annotations

from core.kernel.models import Actor, ActorKind

ROLES = ("support_agent", "approver", "senior_approver", "admin", "automation", "auditor")

# Which approval requirements a role can satisfy. A senior approver can stand in for an approver;
# nobody else stands in for anybody. Admins administer the platform; they do not approve changes.
SATISFIES: dict[str, frozenset[str]] = {
    "approver": frozenset({"approver"}),
    "senior_approver": frozenset({"approver", "senior_approver"}),
}

APPLY_ROLES = frozenset({"support_agent", "approver", "senior_approver", "admin", "automation"})
REVIEW_ROLES = frozenset({"approver", "senior_approver"})
DIAGNOSE_ROLES = frozenset({"support_agent", "approver", "senior_approver", "admin", "automation"})


def can_satisfy(actor: Actor, required_role: str) -> bool:
    if actor.kind is not ActorKind.HUMAN:
        return False
    return any(required_role in SATISFIES.get(r, frozenset()) for r in actor.roles)


def can_apply(actor: Actor) -> bool:
    return any(r in APPLY_ROLES for r in actor.roles)


def can_review(actor: Actor) -> bool:
    return actor.kind is ActorKind.HUMAN and any(r in REVIEW_ROLES for r in actor.roles)


def can_diagnose(actor: Actor) -> bool:
    return any(r in DIAGNOSE_ROLES for r in actor.roles)
