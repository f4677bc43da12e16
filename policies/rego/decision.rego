# METADATA
# title: The decision
# description: >-
#   The one entry point, data.gateward.decision: assembles the rule sets' deny items (subject
#   to each rule set's rollout mode), approvals (grouped by role, items kept), the risk
#   score, obligations and warnings. allow is exactly "no enforced deny". A malformed input
#   document short-circuits to a deny naming the bad part before any rule set runs.
#   Cost: a decision evaluates only the rule sets the input touches (X.touched) and, when every
#   rule set enforces (all_enforce), none of the per-mode rules (policies/README.md, "Keeping a
#   decision cheap"); tests/policies/test_pack_equivalence.py proves the decisions unchanged.
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

# A rule set whose every rule needs something the input does not have (a radio change, a
# passphrase or secret, an operation, another proposal, profile or a second change) is not
# evaluated at all: its deny set is empty, and skipping it saves its rules' per-body cost.
denials := [
	["change", data.gateward.change.deny],
	["wifi", wifi_deny],
	["mgmt", data.gateward.mgmt.deny],
	["secrets", secrets_deny],
	["firmware", firmware_deny],
	["rbac", data.gateward.rbac.deny],
	["precedence", precedence_deny],
]

wifi_deny := data.gateward.wifi.deny if data.gateward.wifi.touched else := set()

secrets_deny := data.gateward.secrets.deny if data.gateward.secrets.touched else := set()

firmware_deny := data.gateward.firmware.deny if data.gateward.firmware.touched else := set()

precedence_deny := data.gateward.precedence.deny if data.gateward.precedence.touched else := set()

# The modes configured per rule set, as a set: with the shipped data just {"enforce"}, which
# settles lenient and mode_warnings without looking at each rule set.
configured_modes := {m | some m in object.get(data.gateward.data.modes, "rule_sets", {})}

# Rule sets whose deny items do not enforce (mode warn or dryrun; an unknown mode enforces).
# Empty with the shipped data: then the denials go straight to deny and nothing else is looked at.
# (The configured default read directly: it is lenient exactly when default_mode is.)
all_enforce if {
	not data.gateward.data.modes.default_mode in {"warn", "dryrun"}
	count(configured_modes & {"warn", "dryrun"}) == 0
}

lenient contains name if {
	not all_enforce
	some [name, _] in denials
	mode_of[name] in {"warn", "dryrun"}
}

# Every deny, warning, approval and obligation is an object {code, message, params}. The lists
# are sets here (no sort: it costs µs per decision); the engines order them by message, so that
# what people read stays sorted while code reads code and params.
enforced contains item if {
	all_enforce
	some item in all_denied
}

enforced contains item if {
	not all_enforce
	some [name, items] in denials
	not name in lenient
	some item in items
}

# Every rule set's deny items: what enforced is when every rule set enforces.
all_denied := (((data.gateward.change.deny | wifi_deny) | (data.gateward.mgmt.deny | secrets_deny)) | (firmware_deny | data.gateward.rbac.deny)) | precedence_deny

warned contains object.union(item, {"message": sprintf("%s [warn mode]", [item.message])}) if {
	not all_enforce
	some [name, items] in denials
	mode_of[name] == "warn"
	some item in items
}

would_deny contains item if {
	not all_enforce
	some [name, items] in denials
	mode_of[name] == "dryrun"
	some item in items
}

mode_warnings contains {"code": "modes.unknown_mode", "message": msg, "params": {"rule_set": name, "mode": m}} if {
	count(configured_modes - {"enforce", "warn", "dryrun"}) > 0
	some name, m in object.get(data.gateward.data.modes, "rule_sets", {})
	not m in valid_modes
	msg := sprintf("modes: unknown mode %v for rule set %s; enforcing", [m, name])
}

wifi_approvals := data.gateward.wifi.approvals if data.gateward.wifi.touched else := set()

firmware_approvals := data.gateward.firmware.approvals if data.gateward.firmware.touched else := set()

all_approvals := (((data.gateward.change.approvals | wifi_approvals) | (data.gateward.mgmt.approvals | firmware_approvals)) | data.gateward.rbac.approvals) | data.gateward.risk.approvals

# One requirement per role with the items of every rule that asked for it.
approval_items(role) := {{"code": a.code, "message": a.message, "params": a.params} | some a in all_approvals; a.role == role}

approvals_required := [{"role": role, "items": data.gateward.approval_items(role)} |
	some role in {a.role | some a in all_approvals}
]

# Rollout stages and halt first, in plan order; then the other obligations.
obligations := array.concat(data.gateward.rollout.stages, [o | some o in data.gateward.change.obligations])

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
	data.gateward.input.ok
} else := {
	"allow": false,
	"deny": data.gateward.input.deny,
	"approvals_required": [],
	"risk": 1,
	"obligations": [],
	"warnings": [],
	"would_deny": [],
}
