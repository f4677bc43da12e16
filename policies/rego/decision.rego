# METADATA
# title: The decision
# description: >-
#   The one entry point, data.gateward.decision: assembles the rule sets' deny items (subject
#   to each rule set's rollout mode), approvals (grouped by role, items kept), the risk
#   score, obligations and warnings. allow is exactly "no enforced deny". A malformed input
#   document short-circuits to a deny naming the bad part before any rule set runs;
#   checked_decision is the decision of a well-formed one (what the embedded engine evaluates,
#   after its own, stricter input check).
#   Cost: a decision evaluates only the rule sets the input touches (X.touched) and, with the
#   shipped modes (every_rule_set_enforces), none of the per-mode rules (policies/README.md,
#   "Keeping a decision cheap"); tests/policies/test_pack_equivalence.py proves the decisions
#   unchanged.
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

# No rule set's deny items are lenient (mode warn or dryrun; an unknown mode enforces): then the
# general form below sends the denials straight to deny. (The configured default read directly:
# it is lenient exactly when default_mode is.)
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

# The rule sets gated by a touched rule: whether the input touches none of them (the usual
# one-change proposal). Then their deny and approvals are empty, and the decision does not read
# them, nor ask each gate again.
none_gated_touched if {
	not data.gateward.wifi.touched
	not data.gateward.secrets.touched
	not data.gateward.firmware.touched
	not data.gateward.precedence.touched
}

# Every rule set's deny items: what enforced is when every rule set enforces.
all_denied contains item if {
	some items in [data.gateward.change.deny, data.gateward.mgmt.deny, data.gateward.rbac.deny]
	some item in items
}

all_denied contains item if {
	not none_gated_touched
	some items in [wifi_deny, secrets_deny, firmware_deny, precedence_deny]
	some item in items
}

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

all_approvals contains a if {
	some items in [
		data.gateward.change.approvals, data.gateward.mgmt.approvals, data.gateward.rbac.approvals,
		data.gateward.risk.approvals,
	]
	some a in items
}

# (wifi and firmware approvals test their rule set's touched themselves.)
all_approvals contains a if {
	not none_gated_touched
	some items in [data.gateward.wifi.approvals, data.gateward.firmware.approvals]
	some a in items
}

# One requirement per role with the items of every rule that asked for it.
approval_items(role) := {{"code": a.code, "message": a.message, "params": a.params} | some a in all_approvals; a.role == role}

approvals_required := [{"role": role, "items": data.gateward.approval_items(role)} |
	some role in {a.role | some a in all_approvals}
]

# Rollout stages and halt first, in plan order; then the rehearsal; then the other obligations.
obligations := array.concat(array.concat(data.gateward.rollout.stages, data.gateward.rollout.rehearsal_items), [o | some o in data.gateward.change.obligations])

warnings := (data.gateward.change.warn | warned) | mode_warnings

# The shipped modes, every rule set enforcing and named one by one: then no per-mode rule is
# needed (one comparison instead of a look at each rule set's mode). Any other modes document,
# an entry missing, added or set to something else, takes the general form below.
every_rule_set_enforces if {
	data.gateward.data.modes.rule_sets == {
		"change": "enforce", "wifi": "enforce", "mgmt": "enforce", "secrets": "enforce",
		"firmware": "enforce", "rbac": "enforce", "precedence": "enforce",
	}
	data.gateward.data.modes.default_mode == "enforce"
}

# The entry point. A malformed document is denied, naming the bad part, before any rule set runs.
decision := checked_decision if {
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

# The decision for a well-formed document (input.ok). The embedded engine evaluates this rule
# directly: it checks every document against the full schema before evaluating
# (policies/validate.py), which implies input.ok, so the coarse check would be paid twice.
checked_decision := {
	"allow": count(all_denied) == 0,
	"deny": all_denied,
	"approvals_required": approvals_required,
	"risk": data.gateward.risk.score,
	"obligations": obligations,
	"warnings": data.gateward.change.warn,
	"would_deny": set(),
} if {
	every_rule_set_enforces
} else := {
	"allow": count(enforced) == 0,
	"deny": enforced,
	"approvals_required": approvals_required,
	"risk": data.gateward.risk.score,
	"obligations": obligations,
	"warnings": warnings,
	"would_deny": would_deny,
}
