# METADATA
# title: Staged rollout
# description: >-
#   Large changes roll out in stages (canary, then widening rings) with a halt-and-rollback gate.
#   The plan with the highest min_targets the proposal reaches applies; firmware downloads have
#   their own, stricter plans. Each stage is an obligation.stage item (kind, percent), in plan
#   order, then one obligation.halt item (failure_rate_pct): campaigns read these params.
#   A blast radius of rehearsal_min_targets or more adds obligation.rehearsal (min_targets,
#   target_count): the campaign starts only after a clean rehearsal of this exact proposal.
package gateward.rollout

import rego.v1

plans := data.gateward.data.rollout.firmware_plans if {
	"download" in data.gateward.lib.commands
} else := data.gateward.data.rollout.plans

reached := {p.min_targets | target_count := input.proposal.target_count; some p in plans; target_count >= p.min_targets}

plan := p if {
	some p in plans
	p.min_targets == max(reached)
}

# Ordered: the stages run in the order the plan lists them; the halt gate comes last.
stage_items := [{"code": "obligation.stage", "message": msg, "params": {"kind": s.kind, "percent": s.percent}} |
	some s in plan.stages
	msg := sprintf("stage: %s %v%%", [s.kind, s.percent])
]

halt_item := {"code": "obligation.halt", "message": msg, "params": {"failure_rate_pct": pct}} if {
	pct := plan.halt_failure_rate_pct
	is_number(pct)
	msg := sprintf("halt: failure rate above %v%% stops and rolls back", [pct])
}

# Below every plan (fewest_targets, derived by the loader) there is nothing to look up: one
# comparison instead of collecting the plans reached.
stages := [] if {
	input.proposal.target_count < data.gateward.data.rollout.fewest_targets
} else := array.concat(stage_items, [halt_item]) if {
	count(reached) > 0
	plan
} else := []

# A change this wide is rehearsed on twin copies of its targets first, and starts only when the
# rehearsal predicts no failure (campaigns/rehearsal.py; checked when the campaign starts).
rehearsal_items := [item] if {
	least := data.gateward.data.rollout.rehearsal_min_targets
	is_number(least)
	input.proposal.target_count >= least
	msg := sprintf("rehearsal: %v targets or more start only after a clean rehearsal", [least])
	item := {"code": "obligation.rehearsal", "message": msg, "params": {"min_targets": least, "target_count": input.proposal.target_count}}
} else := []
