# METADATA
# title: Staged rollout
# description: >-
#   Large changes roll out in stages (canary, then widening rings) with a halt-and-rollback gate.
#   The plan with the highest min_targets the proposal reaches applies; firmware downloads have
#   their own, stricter plans.
package gateward.rollout

import rego.v1

plans := data.gateward.data.rollout.firmware_plans if {
	"download" in data.gateward.lib.commands
} else := data.gateward.data.rollout.plans

reached := {p.min_targets | some p in plans; input.proposal.target_count >= p.min_targets}

# Ordered: the stages run in the order the plan lists them.
stages := p.obligations if {
	some p in plans
	p.min_targets == max(reached)
} else := []
