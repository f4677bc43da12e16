package gateward.input_test

import rego.v1

test_base_is_well_formed if {
	count(data.gateward.input.deny) == 0 with input as data.gateward.fixtures_test.base
}

test_deny_missing_sections if {
	msgs := data.gateward.input.deny with input as {}
	msgs == {
		"input: proposal is missing or not an object",
		"input: actor is missing or not an object",
		"input: context is missing or not an object",
		"input: devices is missing or not an array",
	}
}

test_deny_devices_not_a_list if {
	"input: devices is missing or not an array" in data.gateward.input.deny with input as object.union(data.gateward.fixtures_test.base, {"devices": {}})
}

test_deny_proposal_lists if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"changes": "all of them"}})
	"input: proposal.changes is missing or not an array" in data.gateward.input.deny with input as inp
}

test_deny_preview_not_object if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": true}})
	"input: proposal.preview is missing or not an object" in data.gateward.input.deny with input as inp
}

test_deny_target_count_not_number if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"target_count": "1"}})
	"input: proposal.target_count is missing or not a number" in data.gateward.input.deny with input as inp
}
