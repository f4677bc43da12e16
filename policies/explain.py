"""Explain a stored policy decision in plain words (``gateward policy why PROPOSAL``).

Why a separate module: approvers and support agents read the verdict, not the Rego. This turns
one decision record (a ``PolicyDecisionRow`` or a ``core.kernel.models.DecisionRecord``) into a few
lines: what was decided, why, who must still sign, what the rollout must do, and under which
rule revision. It reads only the record, so it works for decisions made by either engine.
"""

from __future__ import annotations

from typing import Any

from core.kernel.models import Decision


def _decision_of(record: Any) -> Decision:
    decision = getattr(record, "decision", None)
    if isinstance(decision, Decision):
        return decision
    result = getattr(record, "result", None)
    if isinstance(result, dict):
        return Decision.model_validate(result)
    return Decision.fail_closed("no readable decision in the record")


def explain(proposal: Any, record: Any) -> str:
    """Plain-words explanation of ``record`` for ``proposal`` (anything with ``id``/``intent``)."""
    decision = _decision_of(record)
    would_deny = list(getattr(record, "would_deny", None) or [])
    pid = getattr(proposal, "id", "?")
    intent = getattr(proposal, "intent", "")
    kind = "dry run" if getattr(record, "dry_run", False) else "decision"
    lines = [f"Proposal {pid}: {intent}".rstrip(": ")]
    if not decision.allow:
        lines.append(f"Policy DENIED it ({kind}). Reasons:")
        lines += [f"  - {reason}" for reason in decision.deny]
    elif decision.approvals_required:
        lines.append(
            f"Policy ALLOWED it ({kind}), once these approvals are given by people other than the author:"
        )
        lines += [f"  - {a.role}: {a.reason}" for a in decision.approvals_required]
    else:
        lines.append(f"Policy ALLOWED it ({kind}) with no approval required.")
    lines.append(f"Risk score: {decision.risk:.2f} (0 = routine, 1 = highest)")
    if decision.obligations:
        lines.append("The rollout must:")
        lines += [f"  - {o}" for o in decision.obligations]
    if decision.warnings:
        lines.append("Warnings:")
        lines += [f"  - {w}" for w in decision.warnings]
    if would_deny:
        lines.append("Rules in dry-run mode would have denied it for:")
        lines += [f"  - {w}" for w in would_deny]
    revision = str(getattr(record, "revision", "") or "")
    engine = str(getattr(record, "engine", "") or "")
    if revision or engine:
        lines.append(
            f"Decided by the {engine or 'policy'} engine under rules revision {revision[:12] or '?'}."
        )
    return "\n".join(lines)
