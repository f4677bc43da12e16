# METADATA
# title: Firmware, reboot and factory reset
# description: >-
#   Disruptive operations follow the compatibility matrix for (vendor, model, firmware):
#   green runs, yellow (pilot) needs an approver, red is refused. Evidence in the input
#   (devices[].compat) overrides the matrix. A device that already rebooted the maximum number
#   of times in 24 h is not rebooted again; firmware comes only from approved servers.
package gateward.firmware

import rego.v1

# Every rule below needs an operation; the decision skips the rule set without one.
touched if count(input.proposal.operations) > 0

# [device, command, compat status] for every disruptive operation on every device.
device_workflows := [[d, op.command, status] |
	some op in input.proposal.operations
	workflow := data.gateward.data.compat.operation_workflows[op.command]
	is_string(workflow)
	some d in input.devices
	status := data.gateward.lib.compat[[d.id, workflow]]
	is_string(status)
]

deny contains {"code": "firmware.compat_red", "message": msg, "params": object.union(data.gateward.lib.device_params(d), {"operation": command})} if {
	some [d, command, status] in device_workflows
	status == "red"
	msg := sprintf("firmware: %s is red (unsupported or unsafe) on %s", [command, data.gateward.lib.device_label(d)])
}

approvals contains {"role": "approver", "code": "approval.compat_yellow", "message": reason, "params": object.union(data.gateward.lib.device_params(d), {"operation": command})} if {
	touched
	some [d, command, status] in device_workflows
	status == "yellow"
	reason := sprintf("%s is yellow (pilot only) on %s", [command, data.gateward.lib.device_label(d)])
}

deny contains {"code": "firmware.reboot_limit", "message": msg, "params": object.union(data.gateward.lib.device_params(d), {"operation": op.command, "max_per_24h": limit})} if {
	some op in input.proposal.operations
	op.command in data.gateward.data.limits.reboots.operations
	some d in input.devices
	limit := data.gateward.data.limits.reboots.max_per_24h
	d.reboots_24h >= limit
	msg := sprintf("firmware: %s refused on %s: it already rebooted %d times in 24 h (the limit)", [
		op.command, data.gateward.lib.device_label(d), data.gateward.data.limits.reboots.max_per_24h,
	])
}

# One plain URL: printable ASCII without spaces (issue 56) — a CR/LF splits the request a CPE sends, a
# NUL ends the string early in C code, a space or an invisible character hides what follows.
approved_url(url) if {
	is_string(url)
	regex.match(`^[\x21-\x7e]+$`, url)
	some prefix in data.gateward.data.limits.firmware.allowed_url_prefixes
	startswith(url, prefix)
}

deny contains {"code": "firmware.url_not_approved", "message": "firmware: download needs a firmware URL from an approved server", "params": {}} if {
	some op in input.proposal.operations
	op.command == "download"
	not data.gateward.firmware.approved_url(object.get(op.args, "url", ""))
}
