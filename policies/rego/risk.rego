# METADATA
# title: Risk score
# description: >-
#   A number in 0..1 computed, not claimed: target count, the riskiest parameter class and
#   operation, and the worst device (compat status, recent failed changes, outside its change
#   window). Each step list scores the highest step whose min the value reaches. Thresholds in
#   data route the proposal to an approver or a senior approver, except a catalogue action within
#   its limits, whose catalogue entry is its standing approval.
package gateward.risk

import rego.v1

# Per device: compat status for configuration changes + failed-changes step + outside window.
device_scores := [score |
	some d in input.devices
	compat := data.gateward.data.risk.compat_scores[data.gateward.lib.compat_status(d, "config")]
	is_number(compat)
	failed := max([s.score | some s in data.gateward.data.risk.failed_changes_steps_from_zero; d.failed_changes_7d >= s.min])
	window := {true: 0, false: data.gateward.data.risk.outside_window_score}[data.gateward.lib.window_open(d.region)]
	window == window # defined (the positive use policies/vmcheck.py asks for)
	score := (compat + failed) + window
]

components := {
	"targets": max([s.score |
		target_count := input.proposal.target_count
		some s in data.gateward.data.risk.target_steps_from_zero
		target_count >= s.min
	]),
	"class": max(array.concat([0], [risk |
		some class in data.gateward.lib.change_class
		risk := data.gateward.data.param_classes.classes[class].risk
		is_number(risk)
	])),
	"operation": max(array.concat([0], [object.get(data.gateward.data.risk.operation_scores, cmd, data.gateward.data.risk.unknown_operation_score) |
		some cmd in data.gateward.lib.commands
	])),
	"device": max(array.concat([0], device_scores)),
}

score := min([1, round((((components.targets + components["class"]) + components.operation) + components.device) * 100) / 100])

approvals contains {"role": "approver", "code": "approval.risk", "message": reason, "params": {"risk": score, "threshold": data.gateward.data.risk.thresholds.approver}} if {
	score > data.gateward.data.risk.thresholds.approver
	not data.gateward.rbac.automation_preapproved
	reason := sprintf("risk %v above %v", [score, data.gateward.data.risk.thresholds.approver])
}

approvals contains {"role": "senior_approver", "code": "approval.risk", "message": reason, "params": {"risk": score, "threshold": data.gateward.data.risk.thresholds.senior_approver}} if {
	score > data.gateward.data.risk.thresholds.senior_approver
	not data.gateward.rbac.automation_preapproved
	reason := sprintf("risk %v above %v", [score, data.gateward.data.risk.thresholds.senior_approver])
}
