package gateward.change_test

import rego.v1

test_base_has_no_change_denials if {
	count(data.gateward.change.deny) == 0 with input as data.gateward.fixtures_test.base
}

test_deny_without_preview if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"exists": false}}})
	data.gateward.fixtures_test.said(data.gateward.change.deny, "change.preview_missing", "change: no preview of the exact change exists; preview it before asking policy") with input as inp
}

# preview_sound: none of the preview denials applies; deny reads preview_deny only without it.
test_preview_sound if {
	data.gateward.change.preview_sound with input as data.gateward.fixtures_test.base
	count(data.gateward.change.preview_deny) == 0 with input as data.gateward.fixtures_test.base
	not data.gateward.change.preview_sound with input as object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"exists": false}}})
	not data.gateward.change.preview_sound with input as object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"blind": true}}})
	not data.gateward.change.preview_sound with input as object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"failed": 1}}})
	not data.gateward.change.preview_sound with input as object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"offline": 1}}})
	not data.gateward.change.preview_sound with input as object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"age_s": 4000}}})
	data.gateward.change.preview_sound with input as object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"failed": 0, "offline": 0, "age_s": 60}}})
}

test_deny_blind_bulk_set if {
	inp := object.union(data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 3), {"proposal": {"preview": {"blind": true}}})
	msgs := data.gateward.change.deny with input as inp
	some msg in msgs
	msg.code == "change.blind_bulk"
	msg.params == {"target_count": 3, "max_targets": 1}
	startswith(msg.message, "change: blind bulk Set refused")
}

test_blind_single_device_only_warns if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"blind": true}}})
	count(data.gateward.change.deny) == 0 with input as inp
	data.gateward.fixtures_test.said(data.gateward.change.warn, "change.blind_preview", "change: the preview is blind (current values unread); the backup is taken at apply time") with input as inp
}

test_deny_empty_proposal if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"changes": [], "operations": []}})
	data.gateward.fixtures_test.said(data.gateward.change.deny, "change.empty", "change: the proposal changes nothing and runs no operation") with input as inp
}

test_deny_no_targets if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"target_count": 0, "targets": []}, "devices": []})
	data.gateward.fixtures_test.said(data.gateward.change.deny, "change.no_targets", "change: the proposal has no target device") with input as inp
}

test_within_target_limit if {
	data.gateward.change.within_target_limit with input as data.gateward.fixtures_test.base
	not data.gateward.change.within_target_limit with input as data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 6)
	data.gateward.fixtures_test.codes(data.gateward.change.deny) == {"change.too_many_targets"} with input as data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 6)
}

test_max_targets_is_the_most_generous_role if {
	data.gateward.change.max_targets == 500 with input as data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.base, ["support_agent", "approver"], "human")
}

test_deny_over_role_target_limit if {
	inp := data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 6)
	data.gateward.fixtures_test.said(data.gateward.change.deny, "change.too_many_targets", "change: roles (support_agent) may target at most 5 devices; this proposal targets 6") with input as inp
}

test_within_role_target_limit if {
	inp := data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 5)
	count(data.gateward.change.deny) == 0 with input as inp
}

test_deny_fleet_change_outside_window if {
	inp := object.union(data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 2), {"context": {"now_ns": data.gateward.fixtures_test.out_of_window_ns}})
	msgs := data.gateward.change.deny with input as inp
	some msg in msgs
	msg.code == "window.closed"
	msg.params == {"region": "DE", "local_hour": 14, "start_hour": 1, "end_hour": 5, "utc_offset_hours": 1}
	startswith(msg.message, "change: outside the change window for DE (local hour 14")
}

test_fleet_change_inside_window_allowed if {
	inp := data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 2)
	count(data.gateward.change.deny) == 0 with input as inp
}

test_fleet_change_carries_window_obligation if {
	inp := data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 2)
	data.gateward.fixtures_test.said(data.gateward.change.obligations, "obligation.window", "window: DE 1-5 local, UTC offset 1 h") with input as inp
	{"code": "obligation.window", "message": "window: DE 1-5 local, UTC offset 1 h", "params": {"region": "DE", "start_hour": 1, "end_hour": 5, "utc_offset_hours": 1}} in data.gateward.change.obligations with input as inp
}

test_emergency_carries_no_window_obligation if {
	inp := object.union(data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 2), {"proposal": {"emergency": true}})
	obs := data.gateward.change.obligations with input as inp
	every ob in obs {
		ob.code != "obligation.window"
	}
}

test_single_device_fix_ignores_window if {
	inp := object.union(data.gateward.fixtures_test.base, {"context": {"now_ns": data.gateward.fixtures_test.out_of_window_ns}})
	count(data.gateward.change.deny) == 0 with input as inp
}

test_emergency_outside_window_needs_senior if {
	inp := object.union(data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 2), {
		"proposal": {"emergency": true},
		"context": {"now_ns": data.gateward.fixtures_test.out_of_window_ns},
	})
	count(data.gateward.change.deny) == 0 with input as inp
	data.gateward.fixtures_test.asks(data.gateward.change.approvals, "senior_approver", "approval.emergency_outside_window", "emergency change outside the change window for DE") with input as inp
}

test_deny_automation_emergency if {
	inp := object.union(data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.base, ["automation"], "job"), {"proposal": {"emergency": true}})
	data.gateward.fixtures_test.said(data.gateward.change.deny, "change.automation_emergency", "change: automation may not declare an emergency") with input as inp
}

test_secret_change_needs_approver if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.passphrase(20, false, data.gateward.fixtures_test.good_sha)])
	data.gateward.fixtures_test.asks(data.gateward.change.approvals, "approver", "approval.secret_change", "secret change to Device.WiFi.AccessPoint.1.Security.KeyPassphrase") with input as inp
}

test_rollback_request_needs_approver if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"source": "rollback_request"}})
	data.gateward.fixtures_test.asks(data.gateward.change.approvals, "approver", "approval.rollback_request", "a rollback a support agent requested: an approver decides") with input as inp
}

test_no_approvals_for_plain_change if {
	count(data.gateward.change.approvals) == 0 with input as data.gateward.fixtures_test.base
}

test_warn_and_obligation_when_devices_absent if {
	inp := object.union(data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 4), {"proposal": {"preview": {"devices_present": 3}}})
	data.gateward.fixtures_test.said(data.gateward.change.warn, "change.presence_unconfirmed", "change: 1 of 4 target devices lack confirmed presence; they wait until they check in") with input as inp
	data.gateward.fixtures_test.said(data.gateward.change.obligations, "obligation.presence", "presence: apply only to devices with confirmed presence") with input as inp
}

test_no_presence_obligation_when_all_present if {
	count(data.gateward.change.obligations) == 0 with input as data.gateward.fixtures_test.base
}

test_deny_failed_preview if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"failed": 1, "complete": false}}})
	msgs := data.gateward.change.deny with input as inp
	data.gateward.fixtures_test.said(msgs, "change.preview_incomplete", "change: the preview could not read 1 of 1 target devices, so what would change there is unknown; preview again when they can be read")
}

test_complete_preview_is_not_denied if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"failed": 0, "offline": 0, "age_s": 5, "complete": true}}})
	count(data.gateward.change.deny) == 0 with input as inp
}

test_deny_offline_at_preview if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"offline": 1, "complete": false}}})
	msgs := data.gateward.change.deny with input as inp
	data.gateward.fixtures_test.said(msgs, "change.targets_offline", "change: 1 of 1 target devices were offline at preview, so what would change there is unknown; preview again when they are back")
}

test_staged_rollout_holds_offline_devices_instead if {
	inp := object.union(data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 4), {"proposal": {"staged": true, "preview": {"offline": 1, "devices_present": 3}}})
	count(data.gateward.change.deny) == 0 with input as inp
	data.gateward.fixtures_test.said(data.gateward.change.obligations, "obligation.presence", "presence: apply only to devices with confirmed presence") with input as inp
}

test_deny_stale_preview if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"age_s": 7200}}})
	msgs := data.gateward.change.deny with input as inp
	data.gateward.fixtures_test.said(msgs, "change.preview_stale", "change: the preview is stale (taken 7200 s ago; at most 3600 s); preview again before asking policy")
}

test_warn_secret_not_restorable if {
	inp := object.union(data.gateward.fixtures_test.base, {"proposal": {"preview": {"not_restorable": ["Device.WiFi.AccessPoint.1.Security.KeyPassphrase"]}}})
	msgs := data.gateward.change.warn with input as inp
	data.gateward.fixtures_test.said(msgs, "change.not_restorable", "change: a rollback cannot restore Device.WiFi.AccessPoint.1.Security.KeyPassphrase (a secret reads back empty): if this change is rolled back, the new value stays")
}
