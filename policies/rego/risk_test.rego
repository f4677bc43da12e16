package gateward.risk_test

import rego.v1

test_base_components if {
	data.gateward.risk.components == {"targets": 0, "class": 0.1, "operation": 0, "device": 0} with input as data.gateward.fixtures_test.base
	data.gateward.risk.score == 0.1 with input as data.gateward.fixtures_test.base
}

test_device_scores_add_compat_failures_and_window if {
	dev := object.union(data.gateward.fixtures_test.device, {"compat": "yellow", "failed_changes_7d": 3})
	inp := object.union(data.gateward.fixtures_test.base, {"devices": [dev], "context": {"now_ns": data.gateward.fixtures_test.out_of_window_ns}})
	# yellow 0.15 + three failed changes 0.2 + outside the window 0.15
	data.gateward.risk.device_scores == [0.5] with input as inp
}

test_window_adds_to_a_device_outside_its_window if {
	us := object.union(data.gateward.fixtures_test.device, {"region": "US"})
	data.gateward.risk.device_scores == [0.15] with input as object.union(data.gateward.fixtures_test.base, {"devices": [us]})
	data.gateward.risk.device_scores == [0] with input as data.gateward.fixtures_test.base
}

test_worst_device_counts if {
	inp := object.union(data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 2), {"devices": [
		data.gateward.fixtures_test.device,
		object.union(data.gateward.fixtures_test.device, {"id": "dev-2", "compat": "red"}),
	]})
	data.gateward.risk.components.device == 0.3 with input as inp
}

test_target_and_operation_steps if {
	inp := data.gateward.fixtures_test.as_actor(
		data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.with_operations([{"command": "factory_reset", "args": {}}]), 10),
		["approver"], "human",
	)
	data.gateward.risk.components.targets == 0.2 with input as inp
	data.gateward.risk.components.operation == 0.4 with input as inp
	data.gateward.risk.score == 0.6 with input as inp
}

test_score_is_capped_at_one if {
	dev := object.union(data.gateward.fixtures_test.device, {"compat": "red", "failed_changes_7d": 9})
	acs := data.gateward.fixtures_test.change("Device.ManagementServer.URL", "Device.ManagementServer.URL", "x", "string")
	inp := object.union(data.gateward.fixtures_test.with_changes([acs]), {
		"proposal": {"target_count": 5000, "operations": [{"command": "factory_reset", "args": {}}]},
		"devices": [dev], "context": {"now_ns": data.gateward.fixtures_test.out_of_window_ns},
	})
	data.gateward.risk.score == 1 with input as inp
}

test_approver_above_threshold if {
	dev := object.union(data.gateward.fixtures_test.device, {"compat": "yellow", "failed_changes_7d": 3})
	inp := object.union(data.gateward.fixtures_test.base, {"devices": [dev]})
	data.gateward.risk.score == 0.45 with input as inp
	data.gateward.risk.approvals == {{"role": "approver", "code": "approval.risk", "message": "risk 0.45 above 0.4", "params": {"risk": 0.45, "threshold": 0.4}}} with input as inp
}

test_senior_approver_above_threshold if {
	dev := object.union(data.gateward.fixtures_test.device, {"compat": "red", "failed_changes_7d": 3})
	inp := object.union(data.gateward.fixtures_test.base, {"devices": [dev], "context": {"now_ns": data.gateward.fixtures_test.out_of_window_ns}})
	data.gateward.risk.score == 0.75 with input as inp
	data.gateward.fixtures_test.asks(data.gateward.risk.approvals, "senior_approver", "approval.risk", "risk 0.75 above 0.7") with input as inp
}

test_no_risk_approvals_for_low_risk if {
	count(data.gateward.risk.approvals) == 0 with input as data.gateward.fixtures_test.base
}

test_catalogue_action_carries_its_approval if {
	dev := object.union(data.gateward.fixtures_test.device, {"compat": "yellow", "failed_changes_7d": 3})
	auto_off := data.gateward.fixtures_test.change("Device.WiFi.Radio.2.AutoChannelEnable", "Device.WiFi.Radio.{i}.AutoChannelEnable", false, "boolean")
	inp := object.union(data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.channel_44, auto_off]), {
		"proposal": {"author_kind": "job", "action_type": "wifi.channel_change"},
		"actor": {"roles": ["automation"], "kind": "job"},
		"devices": [dev],
	})
	data.gateward.risk.score == 0.45 with input as inp
	count(data.gateward.risk.approvals) == 0 with input as inp
}
