# METADATA
# title: Staged rollout
# description: >-
#   Large changes roll out in stages (canary, then widening rings) with a halt-and-rollback gate.
#   The plan with the highest min_targets the proposal reaches applies; firmware downloads have
#   their own, stricter plans. Each stage is an obligation.stage item (kind, percent), in plan
#   order, then one obligation.halt item (failure_rate_pct): campaigns read these params.
package gateward.rollout

import rego.v1

plans := data.gateward.data.rollout.firmware_plans if {
	"download" in data.gateward.lib.commands
} else := data.gateward.data.rollout.plans

reached := {p.min_targets | some p in plans; input.proposal.target_count >= p.min_targets}

plan := p if {
	some p in plans
	p.min_targets == max(reached)
}

# Ordered: the stages run in the order the plan lists them; the halt gate comes last.
stage_items := [{"code": "obligation.stage", "message": msg, "params": {"kind": s.kind, "percent": s.percent}} |
	some s in plan.stages
	msg := sprintf("stage: %s %v%%", [s.kind, s.percent])
]

halt_item := {"code": "obligation.halt", "message": msg, "params": {"failure_rate_pct": plan.halt_failure_rate_pct}} if {
	msg := sprintf("halt: failure rate above %v%% stops and rolls back", [plan.halt_failure_rate_pct])
}

stages := array.concat(stage_items, [halt_item]) if {
	plan
} else := []

rehearsal_items := [item] if {
	least := data.gateward.data.rollout.rehearsal_min_targets
	is_number(least)
	input.proposal.target_count >= least
	msg := sprintf("rehearsal: %v targets or more start only after a clean rehearsal", [least])
	item := {"code": "obligation.rehearsal", "message": msg, "params": {"min_targets": least, "target_count": input.proposal.target_count}}
} else := []
