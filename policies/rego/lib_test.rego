package gateward.lib_test

import rego.v1

test_role_specs_ignore_unknown_names if {
	specs := data.gateward.lib.role_specs with input as data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.base, ["approver", "pope"], "human")
	object.keys(specs) == {"approver"}
	specs.approver.max_targets == 500
}

test_roles_text if {
	data.gateward.lib.roles_text == "approver, support_agent" with input as data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.base, ["support_agent", "approver"], "human")
	data.gateward.lib.roles_text == "none" with input as data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.base, [], "human")
}

test_is_automation_by_kind_author_or_role if {
	not data.gateward.lib.is_automation with input as data.gateward.fixtures_test.base
	data.gateward.lib.is_automation with input as object.union(data.gateward.fixtures_test.base, {"actor": {"kind": "job"}})
	data.gateward.lib.is_automation with input as object.union(data.gateward.fixtures_test.base, {"proposal": {"author_kind": "job"}})
	data.gateward.lib.is_automation with input as object.union(data.gateward.fixtures_test.base, {"actor": {"roles": ["automation"]}})
}

test_commands if {
	inp := data.gateward.fixtures_test.with_operations([{"command": "reboot", "args": {}}, {"command": "ipping", "args": {}}])
	data.gateward.lib.commands == {"reboot", "ipping"} with input as inp
}

test_device_label_names_the_class_not_the_device if {
	data.gateward.lib.device_label(data.gateward.fixtures_test.device) == "AVM FRITZ!Box 7590 fw 7.57 in DE"
}

test_device_params_name_the_class_not_the_device if {
	data.gateward.lib.device_params(data.gateward.fixtures_test.device) == {"vendor": "AVM", "model": "FRITZ!Box 7590", "firmware": "7.57", "region": "DE"}
}

test_window_params if {
	inp := object.union(data.gateward.fixtures_test.base, {"context": {"now_ns": data.gateward.fixtures_test.out_of_window_ns}})
	data.gateward.lib.window_params("DE") == {"region": "DE", "local_hour": 14, "start_hour": 1, "end_hour": 5, "utc_offset_hours": 1} with input as inp
}

test_change_class_longest_prefix if {
	changes := [
		data.gateward.fixtures_test.change("Device.IP.Diagnostics.IPPing.Host", "Device.IP.Diagnostics.IPPing.Host", "x", "string"),
		data.gateward.fixtures_test.change("Device.IP.Interface.1.Enable", "Device.IP.Interface.{i}.Enable", true, "boolean"),
		data.gateward.fixtures_test.change("Device.ManagementServer.URL", "Device.ManagementServer.URL", "x", "string"),
		data.gateward.fixtures_test.change("Device.Time.NTPServer1", "Device.Time.NTPServer1", "x", "string"),
		data.gateward.fixtures_test.channel_44,
	]
	data.gateward.lib.change_class == {
		"Device.IP.Diagnostics.IPPing.Host": "diagnostics",
		"Device.IP.Interface.1.Enable": "lan",
		"Device.ManagementServer.URL": "mgmt",
		"Device.Time.NTPServer1": "other",
		"Device.WiFi.Radio.2.Channel": "wifi_radio",
	} with input as data.gateward.fixtures_test.with_changes(changes)
}

# The longest prefix first: 4, then 3, then 2 segments, then the default class.
# A test that replaces prefix_index replaces the table the loader derives from it too
# (final_prefix_3): the whole param_classes object, in one override.
test_path_class_tries_longer_prefixes_first if {
	classes := {"default_class": "other", "final_prefix_3": {}, "prefix_index": {"Device.WiFi.Radio.1": "radio_one", "Device.WiFi.Radio": "radio", "Device.WiFi": "wifi"}}
	data.gateward.lib.path_class(["Device", "WiFi", "Radio", "1", "Channel"]) == "radio_one" with data.gateward.data.param_classes as classes
	data.gateward.lib.path_class(["Device", "WiFi", "Radio", "2", "Channel"]) == "radio" with data.gateward.data.param_classes as classes
	data.gateward.lib.path_class(["Device", "WiFi", "SSID", "1", "SSID"]) == "wifi" with data.gateward.data.param_classes as classes
	data.gateward.lib.path_class(["Device", "Time", "NTPServer1"]) == "other" with data.gateward.data.param_classes as classes
}

test_path_class_takes_a_final_three_segment_prefix_first if {
	classes := {"default_class": "other", "final_prefix_3": {"Device.WiFi.SSID": "ssid"}, "prefix_index": {"Device.WiFi": "wifi"}}
	data.gateward.lib.path_class(["Device", "WiFi", "SSID", "1", "SSID"]) == "ssid" with data.gateward.data.param_classes as classes
}

test_window_for_region_or_fallback if {
	data.gateward.lib.window_for("US").utc_offset_hours == -5
	data.gateward.lib.window_for("XX") == data.gateward.data.windows.fallback
}

test_utc_and_local_hour if {
	data.gateward.lib.utc_hour == 2 with input as data.gateward.fixtures_test.base
	data.gateward.lib.local_hour("DE") == 3 with input as data.gateward.fixtures_test.base
	data.gateward.lib.local_hour("US") == 21 with input as data.gateward.fixtures_test.base
}

test_region_in_window_wraps_midnight if {
	# 02:30 UTC: DE 03:30 inside 01-05; US 21:30 outside 23-04.
	inp := object.union(data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 2), {"devices": [data.gateward.fixtures_test.device, object.union(data.gateward.fixtures_test.device, {"id": "dev-2", "region": "US"})]})
	data.gateward.lib.region_in_window == {"DE": true, "US": false} with input as inp
	data.gateward.lib.outside_window_regions == {"US"} with input as inp
	# 04:30 UTC: US 23:30, inside the wrapping window.
	late := object.union(inp, {"context": {"now_ns": 1741062600000000000}})
	data.gateward.lib.region_in_window.US with input as late
}

test_window_open_per_region if {
	data.gateward.lib.window_open("DE") == true with input as data.gateward.fixtures_test.base
	data.gateward.lib.window_open("US") == false with input as data.gateward.fixtures_test.base
}

test_compat_status_per_device_and_workflow if {
	data.gateward.lib.compat_status(data.gateward.fixtures_test.device, "factory_reset") == "green"
	data.gateward.lib.compat_status(object.union(data.gateward.fixtures_test.device, {"firmware": "6.0"}), "factory_reset") == "yellow"
	data.gateward.lib.compat_status(object.union(data.gateward.fixtures_test.device, {"compat": "red"}), "config") == "red"
}

test_window_text if {
	data.gateward.lib.window_text("DE") == "local hour 03, window 01:00-05:00 at UTC offset 1 h" with input as data.gateward.fixtures_test.base
}

test_window_applies_to_fleets_and_firmware if {
	not data.gateward.lib.window_applies with input as data.gateward.fixtures_test.base
	data.gateward.lib.window_applies with input as data.gateward.fixtures_test.fleet(data.gateward.fixtures_test.base, 2)
	data.gateward.lib.window_applies with input as data.gateward.fixtures_test.with_operations([{"command": "download", "args": {}}])
}

test_workflows if {
	data.gateward.lib.workflows == {"config"} with input as data.gateward.fixtures_test.base
	data.gateward.lib.workflows == {"config", "reboot"} with input as data.gateward.fixtures_test.with_operations([{"command": "reboot", "args": {}}, {"command": "ipping", "args": {}}])
}

test_compat_matrix_wildcard_default_and_evidence if {
	devices := [
		data.gateward.fixtures_test.device,
		object.union(data.gateward.fixtures_test.device, {"id": "dev-2", "firmware": "6.0"}),
		object.union(data.gateward.fixtures_test.device, {"id": "dev-3", "vendor": "Nobody"}),
		object.union(data.gateward.fixtures_test.device, {"id": "dev-4", "compat": "red"}),
	]
	inp := object.union(data.gateward.fixtures_test.with_operations([{"command": "download", "args": {}}]), {"devices": devices})
	compat := data.gateward.lib.compat with input as inp
	compat[["dev-1", "download"]] == "green"
	compat[["dev-2", "download"]] == "yellow"
	compat[["dev-3", "download"]] == "yellow"
	compat[["dev-4", "download"]] == "red"
	compat[["dev-4", "config"]] == "red"
}
