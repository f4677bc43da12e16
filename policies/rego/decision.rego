# METADATA
# title: The decision
# description: >-
#   The one entry point, data.gateward.decision: assembles the rule sets' deny messages (subject
#   to each rule set's rollout mode), approvals (deduplicated by role, reasons kept), the risk
#   score, obligations and warnings. allow is exactly "no enforced deny". A malformed input
#   document short-circuits to a deny naming the bad part before any rule set runs.
package gateward

import rego.v1

valid_modes := {"enforce", "warn", "dryrun"}

default_mode := data.gateward.data.modes.default_mode if {
	data.gateward.data.modes.default_mode in valid_modes
} else := "enforce"

# Rule set -> configured mode. A rule set whose mode is not valid is absent and so enforces:
# a typo in data must not switch a rule set off.
mode_of := {name: m |
	some name, m in object.union({"change": default_mode, "wifi": default_mode, "mgmt": default_mode,
		"secrets": default_mode, "firmware": default_mode, "rbac": default_mode,
		"precedence": default_mode}, object.get(data.gateward.data.modes, "rule_sets", {}))
	m in valid_modes
}

denials := [
	["change", data.gateward.change.deny],
	["wifi", data.gateward.wifi.deny],
	["mgmt", data.gateward.mgmt.deny],
	["secrets", data.gateward.secrets.deny],
	["firmware", data.gateward.firmware.deny],
	["rbac", data.gateward.rbac.deny],
	["precedence", data.gateward.precedence.deny],
]

enforced := sort([msg | some [name, msgs] in denials; not mode_of[name] in {"warn", "dryrun"}; some msg in msgs])

warned := {sprintf("%s [warn mode]", [msg]) | some [name, msgs] in denials; mode_of[name] == "warn"; some msg in msgs}

would_deny := sort([msg | some [name, msgs] in denials; mode_of[name] == "dryrun"; some msg in msgs])

mode_warnings := {sprintf("modes: unknown mode %v for rule set %s; enforcing", [m, name]) |
	some name, m in object.get(data.gateward.data.modes, "rule_sets", {})
	not m in valid_modes
}

all_approvals := (((data.gateward.change.approvals | data.gateward.wifi.approvals) | (data.gateward.mgmt.approvals | data.gateward.firmware.approvals)) | data.gateward.rbac.approvals) | data.gateward.risk.approvals

# One requirement per role; the reasons of every rule that asked for it, sorted and joined.
approval_reasons(role) := concat("; ", sort([a.reason | some a in all_approvals; a.role == role]))

approvals_required := [{"role": role, "reason": data.gateward.approval_reasons(role)} |
	some role in sort({a.role | some a in all_approvals})
]

# Rollout stages first, in plan order; then the other obligations, sorted.
obligations := array.concat(data.gateward.rollout.stages, sort(data.gateward.change.obligations))

warnings := sort((data.gateward.change.warn | warned) | mode_warnings)

decision := {
	"allow": count(enforced) == 0,
	"deny": enforced,
	"approvals_required": approvals_required,
	"risk": data.gateward.risk.score,
	"obligations": obligations,
	"warnings": warnings,
	"would_deny": would_deny,
} if {
	count(data.gateward.input.deny) == 0
} else := {
	"allow": false,
	"deny": sort(data.gateward.input.deny),
	"approvals_required": [],
	"risk": 1,
	"obligations": [],
	"warnings": [],
	"would_deny": [],
}
