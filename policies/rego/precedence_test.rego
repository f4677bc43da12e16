package gateward.precedence_test

import rego.v1

live(targets, value) := object.union(data.gateward.fixtures_test.base, {"context": {"live_proposals": [{
	"id": "prop-2", "author": "bob", "targets": targets,
	"changes": [{"path": "Device.WiFi.Radio.2.Channel", "value": value}],
}]}})

profile(targets, value) := object.union(data.gateward.fixtures_test.base, {"context": {"profiles": [{
	"id": "wifi-defaults", "version": 7, "targets": targets,
	"changes": [{"path": "Device.WiFi.Radio.2.Channel", "value": value}],
}]}})

test_target_set if {
	data.gateward.precedence.target_set == {"dev-1"} with input as data.gateward.fixtures_test.base
}

test_overlaps if {
	data.gateward.precedence.overlaps(["dev-9", "dev-1"]) with input as data.gateward.fixtures_test.base
	not data.gateward.precedence.overlaps(["dev-9"]) with input as data.gateward.fixtures_test.base
}

test_deny_conflicting_live_proposal if {
	msg := "precedence: Device.WiFi.Radio.2.Channel: proposal prop-1 sets 44 but live proposal prop-2 (by bob) sets 36 on overlapping devices"
	data.gateward.fixtures_test.said(data.gateward.precedence.deny, "precedence.live_proposal", msg) with input as data.gateward.precedence_test.live(["dev-1"], 36)
	some item in data.gateward.precedence.deny with input as data.gateward.precedence_test.live(["dev-1"], 36)
	item.params == {"path": "Device.WiFi.Radio.2.Channel", "proposal": "prop-1", "value": 44, "other_proposal": "prop-2", "other_author": "bob", "other_value": 36}
}

test_same_value_is_no_conflict if {
	count(data.gateward.precedence.deny) == 0 with input as data.gateward.precedence_test.live(["dev-1"], 44)
}

test_disjoint_devices_is_no_conflict if {
	count(data.gateward.precedence.deny) == 0 with input as data.gateward.precedence_test.live(["dev-2"], 36)
}

test_own_live_entry_is_no_conflict if {
	inp := object.union(data.gateward.precedence_test.live(["dev-1"], 36), {"context": {"live_proposals": [{
		"id": "prop-1", "author": "alice", "targets": ["dev-1"],
		"changes": [{"path": "Device.WiFi.Radio.2.Channel", "value": 36}],
	}]}})
	count(data.gateward.precedence.deny) == 0 with input as inp
}

test_deny_conflicting_profile if {
	msg := "precedence: Device.WiFi.Radio.2.Channel: proposal prop-1 sets 44 but profile wifi-defaults v7 sets 40 on overlapping devices"
	data.gateward.fixtures_test.said(data.gateward.precedence.deny, "precedence.profile", msg) with input as data.gateward.precedence_test.profile(["dev-1", "dev-2"], 40)
}

test_profile_on_other_devices_is_no_conflict if {
	count(data.gateward.precedence.deny) == 0 with input as data.gateward.precedence_test.profile(["dev-7"], 40)
}

test_deny_path_set_twice_differently if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.channel_44, object.union(data.gateward.fixtures_test.channel_44, {"value": 48})])
	data.gateward.fixtures_test.said(data.gateward.precedence.deny, "precedence.duplicate_path", "precedence: Device.WiFi.Radio.2.Channel is set twice in proposal prop-1 with different values") with input as inp
}

test_touched_by_others_or_a_second_change if {
	data.gateward.precedence.touched with input as data.gateward.precedence_test.live(["dev-9"], 36)
	data.gateward.precedence.touched with input as data.gateward.precedence_test.profile(["dev-9"], 40)
	data.gateward.precedence.touched with input as data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.channel_44, data.gateward.fixtures_test.channel_44])
	not data.gateward.precedence.touched with input as data.gateward.fixtures_test.base
}
