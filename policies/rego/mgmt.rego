# METADATA
# title: Management plane
# description: >-
#   Device.ManagementServer. and Device.LocalAgent. decide who manages the device: a wrong ACS
#   URL or controller endpoint orphans it and only a truck roll brings it back. So do the MQTT
#   clients and STOMP connections a USP agent's MTPs ride on (Device.MQTT.Client.{i}: its Enable
#   false cut a real agent off its controller, seen by hand). A senior approver signs every such
#   change, and automation never makes one.
package gateward.mgmt

import rego.v1

deny contains {"code": "mgmt.automation_forbidden", "message": msg, "params": {"path": path}} if {
	some path, class in data.gateward.lib.change_class
	class == "mgmt"
	data.gateward.lib.is_automation
	msg := sprintf("mgmt: %s is a management-plane parameter; automation may never change it", [path])
}

approvals contains {"role": "senior_approver", "code": "approval.mgmt_change", "message": reason, "params": {"path": path}} if {
	some path, class in data.gateward.lib.change_class
	class == "mgmt"
	not data.gateward.lib.is_automation
	reason := sprintf("management-plane change to %s", [path])
}
