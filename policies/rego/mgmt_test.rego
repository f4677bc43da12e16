package gateward.mgmt_test

import rego.v1

acs_url := data.gateward.fixtures_test.change("Device.ManagementServer.URL", "Device.ManagementServer.URL", "https://acs.example", "string")

controller := data.gateward.fixtures_test.change(
	"Device.LocalAgent.Controller.1.EndpointID", "Device.LocalAgent.Controller.{i}.EndpointID", "ctrl", "string",
)

test_mgmt_change_needs_senior_approver if {
	inp := data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.with_changes([acs_url]), ["approver"], "human")
	count(data.gateward.mgmt.deny) == 0 with input as inp
	data.gateward.fixtures_test.asks(data.gateward.mgmt.approvals, "senior_approver", "approval.mgmt_change", "management-plane change to Device.ManagementServer.URL") with input as inp
}

test_local_agent_is_mgmt_too if {
	inp := data.gateward.fixtures_test.with_changes([controller])
	data.gateward.fixtures_test.asks(data.gateward.mgmt.approvals, "senior_approver", "approval.mgmt_change", "management-plane change to Device.LocalAgent.Controller.1.EndpointID") with input as inp
}

mqtt_client := data.gateward.fixtures_test.change("Device.MQTT.Client.1.Enable", "Device.MQTT.Client.{i}.Enable", false, "boolean")

test_the_agents_mqtt_client_is_mgmt_too if {
	inp := data.gateward.fixtures_test.with_changes([mqtt_client])
	data.gateward.fixtures_test.asks(data.gateward.mgmt.approvals, "senior_approver", "approval.mgmt_change", "management-plane change to Device.MQTT.Client.1.Enable") with input as inp
}

test_deny_mgmt_change_by_automation if {
	inp := data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.with_changes([acs_url]), ["automation"], "job")
	data.gateward.fixtures_test.said(data.gateward.mgmt.deny, "mgmt.automation_forbidden", "mgmt: Device.ManagementServer.URL is a management-plane parameter; automation may never change it") with input as inp
	count(data.gateward.mgmt.approvals) == 0 with input as inp
}

test_non_mgmt_change_untouched if {
	count(data.gateward.mgmt.deny) == 0 with input as data.gateward.fixtures_test.base
	count(data.gateward.mgmt.approvals) == 0 with input as data.gateward.fixtures_test.base
}
