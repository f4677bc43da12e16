package data.gateward.decision_test

import rego.v1

outside := object.union(data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 2), {"context": {"now_ns": data.gateward.fixtures_test.out_of_window_ns}})

test_base_decision if {
	data.gateward.decision == {
		"allow": true, "deny": set(), "approvals_required": [], "risk": 0.1,
		"obligations": [], "warnings": set(), "would_deny": set(),
	} with input as data.gateward.fixtures_test.base
}

test_malformed_input_short_circuits if {
	d := data.gateward.decision with input as {"proposal": 1}
	d.allow == false
	d.risk == 1
	data.gateward.fixtures_test.said(d.deny, "input.section_invalid", "input: proposal is missing or not an object")
}

test_deny_makes_allow_false if {
	d := data.gateward.decision with input as outside
	d.allow == false
	count(d.deny) == 1
	count(data.gateward.enforced) == 1 with input as outside
}

# One data override per test: regorus keeps a rule value cached across `with data...`
# statements of the same query.
test_valid_modes if {
	data.gateward.valid_modes == {"enforce", "warn", "dryrun"}
	data.gateward.default_mode == "enforce"
}

test_invalid_default_mode_enforces if {
	data.gateward.default_mode == "enforce" with data.gateward.data.modes.default_mode as "bogus"
}

test_default_mode_from_data if {
	data.gateward.default_mode == "warn" with data.gateward.data.modes.default_mode as "warn"
}

test_mode_of_drops_invalid_modes if {
	modes := data.gateward.mode_of with data.gateward.data.modes.rule_sets.change as "enforse"
	not modes.change
	modes.wifi == "enforce"
}

test_warn_mode_moves_denials_to_warnings if {
	d := data.gateward.decision with input as outside with data.gateward.data.modes.rule_sets.change as "warn"
	d.allow == true
	d.deny == set()
	count(d.warnings) == 1
	some w in d.warnings
	w.code == "window.closed"
	endswith(w.message, "[warn mode]")
	count(data.gateward.warned) == 1 with input as outside with data.gateward.data.modes.rule_sets.change as "warn"
}

test_dryrun_mode_moves_denials_to_would_deny if {
	d := data.gateward.decision with input as outside with data.gateward.data.modes.rule_sets.change as "dryrun"
	d.allow == true
	count(d.would_deny) == 1
	data.gateward.fixtures_test.codes(d.would_deny) == {"window.closed"}
	data.gateward.would_deny == d.would_deny with input as outside with data.gateward.data.modes.rule_sets.change as "dryrun"
}

test_unknown_mode_enforces_and_warns if {
	d := data.gateward.decision with input as outside with data.gateward.data.modes.rule_sets.change as "off"
	d.allow == false
	{"code": "modes.unknown_mode", "message": "modes: unknown mode off for rule set change; enforcing", "params": {"rule_set": "change", "mode": "off"}} in d.warnings
	count(data.gateward.mode_warnings) == 1 with data.gateward.data.modes.rule_sets.change as "off"
}

test_denials_cover_every_rule_set if {
	names := {name | some [name, _] in data.gateward.denials} with input as data.gateward.fixtures_test.base
	names == {"change", "wifi", "mgmt", "secrets", "firmware", "rbac", "precedence"}
}

# DFS needs an approver (wifi) and the yellow device pushes risk over the threshold (risk): one
# requirement for the role, both reasons kept.
dedup_input := object.union(data.gateward.fixtures_test.with_changes([object.union(data.gateward.fixtures_test.channel_44, {"value": 100})]), {
	"devices": [object.union(data.gateward.fixtures_test.device, {"compat": "yellow", "failed_changes_7d": 3})],
})

test_approvals_deduplicated_by_role if {
	required := data.gateward.approvals_required with input as dedup_input
	count(required) == 1
	required[0].role == "approver"
	data.gateward.fixtures_test.codes(required[0].items) == {"approval.dfs_channel", "approval.risk"}
	count(data.gateward.all_approvals) == 2 with input as dedup_input
	data.gateward.fixtures_test.messages(data.gateward.approval_items("approver")) == {
		"DFS channel 100 on the 5GHz band in DE (radar detection may move the radio)", "risk 0.45 above 0.4",
	} with input as dedup_input
}

test_obligations_put_stages_first_in_plan_order if {
	inp := object.union(data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 60), ["approver"], "human"), {"proposal": {"preview": {"devices_present": 59}}})
	obligations := data.gateward.obligations with input as inp
	[o.code | some o in obligations] == [
		"obligation.stage", "obligation.stage", "obligation.stage", "obligation.halt",
		"obligation.presence", "obligation.window",
	]
	[o.params.percent | some o in obligations; o.code == "obligation.stage"] == [5, 25, 100]
	[o.message | some o in obligations] == [
		"stage: canary 5%", "stage: ring 25%", "stage: ring 100%", "halt: failure rate above 2% stops and rolls back",
		"presence: apply only to devices with confirmed presence",
		"window: DE 1-5 local, UTC offset 1 h",
	]
}

test_warnings_sorted_union if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"blind": true}}})
	data.gateward.warnings == {{"code": "change.blind_preview", "message": "change: the preview is blind (current values unread); the backup is taken at apply time", "params": {}}} with input as inp
}

# The embedded engine evaluates checked_decision (the input already checked in Python): for a
# well-formed document it is the decision.
test_checked_decision_is_the_decision_of_a_well_formed_input if {
	data.gateward.checked_decision == data.gateward.decision with input as data.gateward.fixtures_test.base
	data.gateward.checked_decision == data.gateward.decision with input as outside
}

test_every_rule_set_enforces_with_shipped_modes if {
	data.gateward.every_rule_set_enforces
}

test_not_every_rule_set_enforces_with_another_mode if {
	not data.gateward.every_rule_set_enforces with data.gateward.data.modes.rule_sets.rbac as "warn"
}

test_not_every_rule_set_enforces_without_the_rule_set_list if {
	not data.gateward.every_rule_set_enforces with data.gateward.data.modes as {"default_mode": "enforce"}
}

# With every rule set enforcing (the shipped data) nothing is lenient and the mode rules stop early.
test_all_enforce_with_shipped_modes if {
	data.gateward.all_enforce
	data.gateward.configured_modes == {"enforce"}
	count(data.gateward.lenient) == 0 with input as data.gateward.fixtures_test.base
}

test_lenient_names_warn_and_dryrun_rule_sets if {
	data.gateward.lenient == {"wifi"} with input as data.gateward.fixtures_test.base with data.gateward.data.modes.rule_sets.wifi as "dryrun"
}

test_lenient_by_default_mode if {
	lenient := data.gateward.lenient with input as data.gateward.fixtures_test.base with data.gateward.data.modes as {"default_mode": "warn", "rule_sets": {"change": "enforce"}}
	lenient == {"wifi", "mgmt", "secrets", "firmware", "rbac", "precedence"}
}

test_not_all_enforce_when_a_mode_is_lenient if {
	not data.gateward.all_enforce with data.gateward.data.modes.rule_sets.rbac as "warn"
}

# A rule set the input does not touch is not evaluated: its deny and approvals are empty.
test_untouched_rule_sets_are_skipped if {
	data.gateward.wifi_deny == set() with input as data.gateward.fixtures_test.with_operations([{"command": "reboot", "args": {}}])
	data.gateward.wifi.approvals == set() with input as data.gateward.fixtures_test.with_operations([{"command": "reboot", "args": {}}])
	data.gateward.secrets_deny == set() with input as data.gateward.fixtures_test.base
	data.gateward.firmware_deny == set() with input as data.gateward.fixtures_test.base
	data.gateward.firmware.approvals == set() with input as data.gateward.fixtures_test.base
	data.gateward.precedence_deny == set() with input as data.gateward.fixtures_test.base
}

test_touched_rule_sets_are_evaluated if {
	inp := data.gateward.wifi_test.in_region(data.gateward.fixtures_test.base, "ZZ")
	data.gateward.fixtures_test.codes(data.gateward.wifi_deny) == {"wifi.no_regulatory_table"} with input as inp
	count(data.gateward.secrets_deny) == 1 with input as data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.passphrase(5, false, data.gateward.fixtures_test.good_sha)])
	count(data.gateward.firmware_deny) == 1 with input as data.gateward.fixtures_test.with_operations([{"command": "download", "args": {}}])
	count(data.gateward.firmware.approvals) == 0 with input as data.gateward.fixtures_test.with_operations([{"command": "reboot", "args": {}}])
	count(data.gateward.precedence_deny) == 1 with input as data.gateward.precedence_test.live(["dev-1"], 36)
	dfs := data.gateward.fixtures_test.with_changes([object.union(data.gateward.fixtures_test.channel_44, {"value": 100})])
	data.gateward.fixtures_test.codes(data.gateward.wifi.approvals) == {"approval.dfs_channel"} with input as dfs
}

test_all_denied_is_every_rule_sets_deny if {
	data.gateward.fixtures_test.codes(data.gateward.all_denied) == {"window.closed"} with input as outside
	devinfo := data.gateward.fixtures_test.change("Device.DeviceInfo.X", "Device.DeviceInfo.X", 1, "int")
	inp := object.union(outside, {"proposal": {"changes": [devinfo]}})
	data.gateward.fixtures_test.codes(data.gateward.all_denied) == {"window.closed", "rbac.class_not_permitted"} with input as inp
}

# The gated rule sets are read only when one of them is touched; untouched, they have nothing.
test_all_denied_reads_the_gated_rule_sets_when_touched if {
	data.gateward.none_gated_touched with input as data.gateward.fixtures_test.base
	inp := data.gateward.wifi_test.in_region(data.gateward.fixtures_test.base, "ZZ")
	not data.gateward.none_gated_touched with input as inp
	data.gateward.fixtures_test.codes(data.gateward.all_denied) == {"wifi.no_regulatory_table"} with input as inp
}

# With a rule set in warn mode, the others still enforce item by item.
test_enforced_with_a_lenient_rule_set if {
	enforced := data.gateward.enforced with input as outside with data.gateward.data.modes.rule_sets.wifi as "warn"
	data.gateward.fixtures_test.codes(enforced) == {"window.closed"}
}
