package gateward.rbac_test

import rego.v1

job(doc, action_type) := object.union(
	data.gateward.fixtures_test.as_actor(doc, ["automation"], "job"),
	{"proposal": {"author_kind": "job", "action_type": action_type}},
)

auto_off := data.gateward.fixtures_test.change(
	"Device.WiFi.Radio.2.AutoChannelEnable", "Device.WiFi.Radio.{i}.AutoChannelEnable", false, "boolean",
)

dns := data.gateward.fixtures_test.change(
	"Device.DNS.Client.Server.1.DNSServer", "Device.DNS.Client.Server.{i}.DNSServer", "192.0.2.53", "string",
)

test_support_agent_may_propose_radio_change if {
	data.gateward.rbac.may_propose with input as data.gateward.fixtures_test.base
	count(data.gateward.rbac.deny) == 0 with input as data.gateward.fixtures_test.base
}

test_deny_auditor if {
	inp := data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.base, ["auditor"], "human")
	data.gateward.fixtures_test.said(data.gateward.rbac.deny, "rbac.may_not_propose", "rbac: alice (roles: auditor) may not propose changes") with input as inp
}

test_deny_unknown_role if {
	inp := data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.base, ["wizard"], "human")
	data.gateward.fixtures_test.said(data.gateward.rbac.deny, "rbac.may_not_propose", "rbac: alice (roles: wizard) may not propose changes") with input as inp
}

test_deny_auditor_even_with_another_role if {
	inp := data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.base, ["auditor", "admin"], "human")
	data.gateward.fixtures_test.said(data.gateward.rbac.deny, "rbac.separation_of_duties", "rbac: holders of role auditor may not propose changes (separation of duties)") with input as inp
}

test_operation_permitted_by_any_held_role if {
	inp := data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.base, ["support_agent", "automation", "wizard"], "human")
	data.gateward.rbac.operation_permitted("reboot") with input as inp
	data.gateward.rbac.operation_permitted("download") with input as inp
	not data.gateward.rbac.operation_permitted("factory_reset") with input as inp
}

test_deny_operation_not_permitted if {
	inp := data.gateward.fixtures_test.with_operations([{"command": "factory_reset", "args": {}}])
	data.gateward.fixtures_test.said(data.gateward.rbac.deny, "rbac.operation_not_permitted", "rbac: roles (support_agent) may not run factory_reset") with input as inp
}

test_approver_may_factory_reset if {
	inp := data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.with_operations([{"command": "factory_reset", "args": {}}]), ["approver"], "human")
	count(data.gateward.rbac.deny) == 0 with input as inp
}

test_class_permitted if {
	data.gateward.rbac.class_permitted("wifi_radio") with input as data.gateward.fixtures_test.base
	not data.gateward.rbac.class_permitted("mgmt") with input as data.gateward.fixtures_test.base
	data.gateward.rbac.class_permitted("mgmt") with input as data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.base, ["support_agent", "approver"], "human")
}

test_deny_class_not_permitted if {
	acs := data.gateward.fixtures_test.change("Device.ManagementServer.URL", "Device.ManagementServer.URL", "https://acs", "string")
	inp := data.gateward.fixtures_test.with_changes([acs])
	data.gateward.fixtures_test.said(data.gateward.rbac.deny, "rbac.class_not_permitted", "rbac: roles (support_agent) may not change mgmt parameters (Device.ManagementServer.URL)") with input as inp
}

test_action_type_and_entry if {
	inp := data.gateward.rbac_test.job(data.gateward.fixtures_test.base, "wifi.channel_change")
	data.gateward.rbac.action_type == "wifi.channel_change" with input as inp
	data.gateward.rbac.entry.max_targets == 500 with input as inp
}

test_value_within if {
	data.gateward.rbac.value_within({}, "anything")
	data.gateward.rbac.value_within({"enum": [1, 6, 11]}, 6)
	not data.gateward.rbac.value_within({"enum": [1, 6, 11]}, 7)
	data.gateward.rbac.value_within({"enum": [false]}, false)
	data.gateward.rbac.value_within({"min": 25, "max": 100}, 25)
	not data.gateward.rbac.value_within({"min": 25, "max": 100}, 24)
	not data.gateward.rbac.value_within({"min": 25, "max": 100}, "50")
	data.gateward.rbac.value_within({"max_length": 5}, "abcde")
	not data.gateward.rbac.value_within({"max_length": 5}, "abcdef")
}

test_catalogue_action_within_limits_is_preapproved if {
	inp := data.gateward.rbac_test.job(data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.channel_44, auto_off]), "wifi.channel_change")
	count(data.gateward.rbac.catalogue_violations) == 0 with input as inp
	data.gateward.rbac.automation_preapproved with input as inp
	count(data.gateward.rbac.approvals) == 0 with input as inp
	count(data.gateward.rbac.deny) == 0 with input as inp
}

test_human_is_never_catalogue_preapproved if {
	not data.gateward.rbac.automation_preapproved with input as data.gateward.fixtures_test.base
	count(data.gateward.rbac.catalogue_violations) == 0 with input as data.gateward.fixtures_test.base
}

test_automation_without_action_type_needs_approver if {
	inp := data.gateward.rbac_test.job(data.gateward.fixtures_test.base, null)
	data.gateward.fixtures_test.asks(data.gateward.rbac.approvals, "approver", "approval.outside_catalogue", "automation outside its catalogue: it names no catalogue action type") with input as inp
}

test_automation_unknown_action_type if {
	inp := data.gateward.rbac_test.job(data.gateward.fixtures_test.base, "wifi.nuke")
	data.gateward.fixtures_test.said(data.gateward.rbac.catalogue_violations, "catalogue.unknown_action_type", "action type wifi.nuke is not in the catalogue") with input as inp
}

test_automation_path_outside_catalogue if {
	inp := data.gateward.rbac_test.job(data.gateward.fixtures_test.with_changes([dns]), "wifi.channel_change")
	data.gateward.fixtures_test.said(data.gateward.rbac.catalogue_violations, "catalogue.change_outside", "Device.DNS.Client.Server.{i}.DNSServer is outside catalogue action wifi.channel_change") with input as inp
	not data.gateward.rbac.automation_preapproved with input as inp
}

test_automation_value_outside_limits if {
	dfs := object.union(data.gateward.fixtures_test.channel_44, {"value": 52})
	inp := data.gateward.rbac_test.job(data.gateward.fixtures_test.with_changes([dfs]), "wifi.channel_change")
	data.gateward.fixtures_test.said(data.gateward.rbac.catalogue_violations, "catalogue.value_outside", "value 52 for Device.WiFi.Radio.2.Channel is outside the limits of catalogue action wifi.channel_change") with input as inp
}

test_automation_operation_outside_catalogue if {
	inp := data.gateward.rbac_test.job(data.gateward.fixtures_test.with_operations([{"command": "reboot", "args": {}}]), "dns.server_fix")
	data.gateward.fixtures_test.said(data.gateward.rbac.catalogue_violations, "catalogue.operation_outside", "operation reboot is outside catalogue action dns.server_fix") with input as inp
}

test_automation_too_many_targets if {
	inp := data.gateward.rbac_test.job(data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.with_operations([{"command": "reboot", "args": {}}]), 201), "device.reboot")
	data.gateward.fixtures_test.said(data.gateward.rbac.catalogue_violations, "catalogue.too_many_targets", "201 targets exceed the 200 allowed for catalogue action device.reboot") with input as inp
}

test_catalogue_reboot_within_limits if {
	inp := data.gateward.rbac_test.job(data.gateward.fixtures_test.with_operations([{"command": "reboot", "args": {}}]), "device.reboot")
	data.gateward.rbac.automation_preapproved with input as inp
}
