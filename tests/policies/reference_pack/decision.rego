# METADATA
# title: The decision
# description: >-
#   The one entry point, data.gateward.decision: assembles the rule sets' deny items (subject
#   to each rule set's rollout mode), approvals (grouped by role, items kept), the risk
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

# Every deny, warning, approval and obligation is an object {code, message, params}. The lists
# are sets here (no sort: it costs µs per decision); the engines order them by message, so that
# what people read stays sorted while code reads code and params.
enforced := {item | some [name, items] in denials; not mode_of[name] in {"warn", "dryrun"}; some item in items}

warned := {object.union(item, {"message": sprintf("%s [warn mode]", [item.message])}) |
	some [name, items] in denials
	mode_of[name] == "warn"
	some item in items
}

would_deny := {item | some [name, items] in denials; mode_of[name] == "dryrun"; some item in items}

mode_warnings := {{"code": "modes.unknown_mode", "message": msg, "params": {"rule_set": name, "mode": m}} |
	some name, m in object.get(data.gateward.data.modes, "rule_sets", {})
	not m in valid_modes
	msg := sprintf("modes: unknown mode %v for rule set %s; enforcing", [m, name])
}

all_approvals := (((data.gateward.change.approvals | data.gateward.wifi.approvals) | (data.gateward.mgmt.approvals | data.gateward.firmware.approvals)) | data.gateward.rbac.approvals) | data.gateward.risk.approvals

# One requirement per role with the items of every rule that asked for it.
approval_items(role) := {{"code": a.code, "message": a.message, "params": a.params} | some a in all_approvals; a.role == role}

approvals_required := [{"role": role, "items": data.gateward.approval_items(role)} |
	some role in {a.role | some a in all_approvals}
]

# Rollout stages and halt first, in plan order; then the other obligations.
obligations := array.concat(array.concat(data.gateward.rollout.stages, data.gateward.rollout.rehearsal_items), [o | some o in data.gateward.change.obligations])

warnings := (data.gateward.change.warn | warned) | mode_warnings

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
	"deny": data.gateward.input.deny,
	"approvals_required": [],
	"risk": 1,
	"obligations": [],
	"warnings": [],
	"would_deny": [],
}
