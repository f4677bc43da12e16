package gateward.input_test

import rego.v1

test_base_is_well_formed if {
	count(data.gateward.input.deny) == 0 with input as data.gateward.fixtures_test.base
}

test_deny_missing_sections if {
	msgs := data.gateward.input.deny with input as {}
	data.gateward.fixtures_test.codes(msgs) == {"input.section_invalid", "input.devices_invalid"}
	{i.params.section | some i in msgs; i.code == "input.section_invalid"} == {"proposal", "actor", "context"}
	data.gateward.fixtures_test.messages(msgs) == {
		"input: proposal is missing or not an object",
		"input: actor is missing or not an object",
		"input: context is missing or not an object",
		"input: devices is missing or not an array",
	}
}

test_deny_devices_not_a_list if {
	data.gateward.fixtures_test.said(data.gateward.input.deny, "input.devices_invalid", "input: devices is missing or not an array") with input as object.union(data.gateward.fixtures_test.base, {"devices": {}})
}

test_deny_proposal_lists if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"changes": "all of them"}})
	data.gateward.fixtures_test.said(data.gateward.input.deny, "input.proposal_field_invalid", "input: proposal.changes is missing or not an array") with input as inp
}

test_deny_preview_not_object if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": true}})
	data.gateward.fixtures_test.said(data.gateward.input.deny, "input.proposal_field_invalid", "input: proposal.preview is missing or not an object") with input as inp
}

test_deny_target_count_not_number if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"target_count": "1"}})
	data.gateward.fixtures_test.said(data.gateward.input.deny, "input.proposal_field_invalid", "input: proposal.target_count is missing or not a number") with input as inp
}

# ok is the one-body form of "deny is empty": the decision reads it instead of deny.
test_ok_exactly_when_deny_is_empty if {
	data.gateward.input.ok with input as data.gateward.fixtures_test.base
	not data.gateward.input.ok with input as {}
	not data.gateward.input.ok with input as object.union(data.gateward.fixtures_test.base, {"devices": {}})
	not data.gateward.input.ok with input as object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": true}})
	not data.gateward.input.ok with input as object.union(data.gateward.fixtures_test.base, {"proposal": {"target_count": "1"}})
}
