"""The job's entry point to the planner: "this device raised this problem — what would you change?"

Why through the playbooks and not a private remedy table: the support chat and the remediation
job must propose the same fix for the same evidence, and the planner's evidence-first playbooks
(``brain.playbooks``) are where that knowledge lives. A detector's problem maps to the planner's
job trigger (``[trigger:NAME]``, understood only when the actor is a job); the planner gathers
evidence with its read-only tools, diagnoses, drafts, and the compatibility gate turns a draft on
a red model into an escalation. The planner never writes; the job submits what it returns.
"""

from __future__ import annotations

from brain import playbooks
from brain.plan import Plan
from brain.tools import ToolContext, ToolResult
from brain.understanding.intent import classify
from brain.untrusted import Pseudonymizer
from core.kernel.models import Actor, Device
from core.services import CoreServices


def plan_for(rt: CoreServices, device: Device, trigger: str, actor: Actor, *, source: str = "remediation") -> Plan:
    """A :class:`~brain.plan.Plan` for one device and one trigger. A draft comes back with the
    catalogue ``action_type`` the playbook chose (or none, when no catalogue type fits) and
    ``source`` set to ``remediation``."""
    ctx = ToolContext(rt, device, actor, Pseudonymizer(f"remediation:{device.id}"))
    intent = classify(f"[trigger:{trigger}]", is_job=True)
    tools: list[ToolResult] = []
    ev = playbooks.gather(ctx, intent, tools.append)
    finding = playbooks.diagnose(ctx, intent, ev, "", {})
    plan = playbooks.compat_gate(ctx, playbooks.draft(ctx, finding, ev), ev)
    plan.data = {**plan.data, "tools": [t.summary for t in tools], "finding_summary": finding.summary}
    if plan.draft is not None:
        plan.draft = plan.draft.model_copy(update={"source": source})
    return plan
