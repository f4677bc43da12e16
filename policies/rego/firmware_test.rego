package gateward.firmware_test

import rego.v1

reboot := data.gateward.fixtures_test.with_operations([{"command": "reboot", "args": {}}])

on(doc, changes) := object.union(doc, {"devices": [object.union(data.gateward.fixtures_test.device, changes)]})

test_device_workflows_use_the_matrix if {
	[[d, "reboot", "green"]] := data.gateward.firmware.device_workflows with input as reboot
	d.id == "dev-1"
}

test_green_reboot_runs if {
	count(data.gateward.firmware.deny) == 0 with input as reboot
	count(data.gateward.firmware.approvals) == 0 with input as reboot
}

test_yellow_needs_approver if {
	inp := data.gateward.fixtures_test.with_operations([{"command": "factory_reset", "args": {}}])
	inp2 := data.gateward.firmware_test.on(inp, {"firmware": "7.29"})
	data.gateward.fixtures_test.asks(data.gateward.firmware.approvals, "approver", "approval.compat_yellow", "factory_reset is yellow (pilot only) on AVM FRITZ!Box 7590 fw 7.29 in DE") with input as inp2
}

test_model_wildcard_row if {
	inp := data.gateward.firmware_test.on(reboot, {"vendor": "Technicolor", "model": "CGA4233", "firmware": "99"})
	data.gateward.fixtures_test.asks(data.gateward.firmware.approvals, "approver", "approval.compat_yellow", "reboot is yellow (pilot only) on Technicolor CGA4233 fw 99 in DE") with input as inp
}

test_unknown_device_gets_default_status if {
	inp := data.gateward.firmware_test.on(reboot, {"vendor": "Nobody", "model": "X1"})
	[[_, "reboot", "yellow"]] := data.gateward.firmware.device_workflows with input as inp
}

test_deny_red if {
	inp := data.gateward.fixtures_test.with_operations([{"command": "factory_reset", "args": {}}])
	inp2 := data.gateward.firmware_test.on(inp, {"vendor": "Sagemcom", "model": "F@st 5866T", "firmware": "SG5866T-4.2.1"})
	data.gateward.fixtures_test.said(data.gateward.firmware.deny, "firmware.compat_red", "firmware: factory_reset is red (unsupported or unsafe) on Sagemcom F@st 5866T fw SG5866T-4.2.1 in DE") with input as inp2
}

test_evidence_overrides_matrix if {
	inp := data.gateward.firmware_test.on(reboot, {"compat": "red"})
	data.gateward.fixtures_test.said(data.gateward.firmware.deny, "firmware.compat_red", "firmware: reboot is red (unsupported or unsafe) on AVM FRITZ!Box 7590 fw 7.57 in DE") with input as inp
}

test_deny_reboot_over_limit if {
	inp := data.gateward.firmware_test.on(reboot, {"reboots_24h": 2})
	data.gateward.fixtures_test.said(data.gateward.firmware.deny, "firmware.reboot_limit", "firmware: reboot refused on AVM FRITZ!Box 7590 fw 7.57 in DE: it already rebooted 2 times in 24 h (the limit)") with input as inp
}

test_reboot_under_limit if {
	count(data.gateward.firmware.deny) == 0 with input as data.gateward.firmware_test.on(reboot, {"reboots_24h": 1})
}

test_approved_url if {
	data.gateward.firmware.approved_url("https://firmware.gateward.example/avm/7590/7.59.image")
	not data.gateward.firmware.approved_url("http://evil.example/fw.bin")
	not data.gateward.firmware.approved_url(42)
}

# issue 56: CR/LF, NUL, spaces and other control characters inside an approved prefix
test_approved_url_is_one_plain_url if {
	not data.gateward.firmware.approved_url("https://firmware.gateward.example/fw.bin\r\nHost: evil.example")
	not data.gateward.firmware.approved_url("https://firmware.gateward.example/fw.bin\u0000.evil")
	not data.gateward.firmware.approved_url("https://firmware.gateward.example/fw bin")
	not data.gateward.firmware.approved_url("https://firmware.gateward.example/fw.bin\t")
	not data.gateward.firmware.approved_url("https://firmware.gateward.example/\u00a0fw.bin")
	not data.gateward.firmware.approved_url("https://firmware.gateward.example/\u202efw.bin")
	data.gateward.firmware.approved_url("https://firmware.gateward.example/fw.bin?v=1&sig=a%20b")
}

test_deny_download_with_a_line_break_in_an_approved_url if {
	inp := data.gateward.fixtures_test.with_operations([{"command": "download", "args": {"url": "https://firmware.gateward.example/fw.bin\r\nX: 1"}}])
	data.gateward.fixtures_test.said(data.gateward.firmware.deny, "firmware.url_not_approved", "firmware: download needs a firmware URL from an approved server") with input as inp
}

test_deny_download_from_unapproved_server if {
	inp := data.gateward.fixtures_test.with_operations([{"command": "download", "args": {"url": "http://evil.example/fw.bin"}}])
	data.gateward.fixtures_test.said(data.gateward.firmware.deny, "firmware.url_not_approved", "firmware: download needs a firmware URL from an approved server") with input as inp
}

test_download_from_approved_server if {
	inp := data.gateward.fixtures_test.with_operations([{"command": "download", "args": {"url": "https://firmware.gateward.example/avm/7.59.image"}}])
	count(data.gateward.firmware.deny) == 0 with input as inp
}

test_touched_only_by_operations if {
	data.gateward.firmware.touched with input as data.gateward.fixtures_test.with_operations([{"command": "reboot", "args": {}}])
	not data.gateward.firmware.touched with input as data.gateward.fixtures_test.base
}
