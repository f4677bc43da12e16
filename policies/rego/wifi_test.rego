package gateward.wifi_test

import rego.v1

channel(index, value) := data.gateward.fixtures_test.change(
	sprintf("Device.WiFi.Radio.%d.Channel", [index]), "Device.WiFi.Radio.{i}.Channel", value, "unsignedInt",
)

auto(index, value) := data.gateward.fixtures_test.change(
	sprintf("Device.WiFi.Radio.%d.AutoChannelEnable", [index]), "Device.WiFi.Radio.{i}.AutoChannelEnable", value, "boolean",
)

in_region(doc, region) := object.union(doc, {"devices": [object.union(data.gateward.fixtures_test.device, {"region": region})]})

test_radio_changes_join_device_radio if {
	[[d, c, r]] := data.gateward.wifi.radio_changes with input as data.gateward.fixtures_test.base
	d.id == "dev-1"
	c.value == 44
	r.band == "5GHz"
}

test_allowed_channel_in_de if {
	count(data.gateward.wifi.deny) == 0 with input as data.gateward.fixtures_test.base
	count(data.gateward.wifi.approvals) == 0 with input as data.gateward.fixtures_test.base
}

test_deny_missing_radio if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(3, 36)])
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.no_radio", "wifi: AVM FRITZ!Box 7590 fw 7.57 in DE has no radio 3; cannot check Device.WiFi.Radio.3.Channel") with input as inp
}

test_deny_unknown_region if {
	inp := data.gateward.wifi_test.in_region(data.gateward.fixtures_test.base, "ZZ")
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.no_regulatory_table", "wifi: no regulatory table for region ZZ; radio changes are refused there") with input as inp
}

test_deny_non_numeric_channel if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(2, "44")])
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.channel_not_number", "wifi: Device.WiFi.Radio.2.Channel must be a channel number") with input as inp
}

test_deny_channel_13_in_us if {
	inp := data.gateward.wifi_test.in_region(data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(1, 13)]), "US")
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.channel_not_permitted", "wifi: channel 13 is not permitted on the 2.4GHz band in US (FCC)") with input as inp
}

test_channel_13_allowed_in_de if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(1, 13)])
	count(data.gateward.wifi.deny) == 0 with input as inp
}

test_deny_channel_149_in_de_but_not_gb if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(2, 149)])
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.channel_not_permitted", "wifi: channel 149 is not permitted on the 5GHz band in DE (ETSI)") with input as inp
	count(data.gateward.wifi.deny) == 0 with input as data.gateward.wifi_test.in_region(inp, "GB")
	count(data.gateward.wifi.deny) == 0 with input as data.gateward.wifi_test.in_region(inp, "US")
}

test_dfs_channel_needs_approver if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(2, 100)])
	count(data.gateward.wifi.deny) == 0 with input as inp
	data.gateward.fixtures_test.asks(data.gateward.wifi.approvals, "approver", "approval.dfs_channel", "DFS channel 100 on the 5GHz band in DE (radar detection may move the radio)") with input as inp
}

test_deny_dfs_where_region_disallows if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(2, 52)])
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.dfs_not_allowed", "wifi: DFS channel 52 is not allowed in DE") with input as inp with data.gateward.data.regulatory.regions.DE.dfs_allowed as false
}

test_deny_channel_144_in_etsi_allowed_dfs_in_us if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(2, 144)])
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.channel_not_permitted", "wifi: channel 144 is not permitted on the 5GHz band in DE (ETSI)") with input as inp
	count(data.gateward.wifi.deny) == 0 with input as data.gateward.wifi_test.in_region(inp, "US")
}

test_6ghz_channels_per_domain if {
	six := object.union(data.gateward.fixtures_test.device, {"radios": [{"index": 3, "band": "6GHz", "channel": 5, "auto_channel": false, "bandwidth": "160MHz"}]})
	inp := object.union(data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(3, 97)]), {"devices": [six]})
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.channel_not_permitted", "wifi: channel 97 is not permitted on the 6GHz band in DE (ETSI)") with input as inp
	us := object.union(inp, {"devices": [object.union(six, {"region": "US"})]})
	count(data.gateward.wifi.deny) == 0 with input as us
}

test_deny_invalid_width_for_band if {
	width := data.gateward.fixtures_test.change("Device.WiFi.Radio.1.OperatingChannelBandwidth", "Device.WiFi.Radio.{i}.OperatingChannelBandwidth", "80MHz", "string")
	inp := data.gateward.fixtures_test.with_changes([width])
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.bandwidth_invalid", "wifi: channel width 80MHz is not valid on the 2.4GHz band (allowed: 20MHz, 40MHz, Auto)") with input as inp
}

test_valid_width_for_band if {
	width := data.gateward.fixtures_test.change("Device.WiFi.Radio.2.OperatingChannelBandwidth", "Device.WiFi.Radio.{i}.OperatingChannelBandwidth", "160MHz", "string")
	count(data.gateward.wifi.deny) == 0 with input as data.gateward.fixtures_test.with_changes([width])
}

power(index, value) := data.gateward.fixtures_test.change(
	sprintf("Device.WiFi.Radio.%d.TransmitPower", [index]), "Device.WiFi.Radio.{i}.TransmitPower", value, "int",
)

test_power_ok if {
	data.gateward.wifi.power_ok(-1, "2.4GHz")
	data.gateward.wifi.power_ok(80, "2.4GHz")
	data.gateward.wifi.power_ok(100, "5GHz")
	not data.gateward.wifi.power_ok(81, "2.4GHz")
	not data.gateward.wifi.power_ok(5, "5GHz")
}

test_deny_transmit_power_over_band_limit if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.power(1, 90)])
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.power_out_of_range", "wifi: transmit power 90% is outside the limits for the 2.4GHz band (10..80% or -1 for auto)") with input as inp
}

test_transmit_power_within_limits_and_auto if {
	count(data.gateward.wifi.deny) == 0 with input as data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.power(2, 100)])
	count(data.gateward.wifi.deny) == 0 with input as data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.power(1, -1)])
}

auto_radio := object.union(data.gateward.fixtures_test.device, {"radios": [{"index": 2, "band": "5GHz", "channel": 36, "auto_channel": true, "bandwidth": "80MHz"}]})

test_deny_fixed_channel_while_auto_channel_stays_on if {
	inp := object.union(data.gateward.fixtures_test.base, {"devices": [auto_radio]})
	msg := "wifi: radio 2 has AutoChannelEnable=true and would move off channel 44; add Device.WiFi.Radio.2.AutoChannelEnable=false to the proposal"
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.auto_channel_on", msg) with input as inp
	{"code": "wifi.auto_channel_on", "message": msg, "params": {"radio": 2, "channel": 44}} in data.gateward.wifi.deny with input as inp
}

test_fixed_channel_with_auto_disabled_in_same_proposal if {
	inp := object.union(
		data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.channel_44, data.gateward.wifi_test.auto(2, false)]),
		{"devices": [auto_radio]},
	)
	count(data.gateward.wifi.deny) == 0 with input as inp
	data.gateward.wifi.auto_disabled == {2} with input as inp
}

test_deny_fixed_channel_with_auto_enabled if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.channel_44, data.gateward.wifi_test.auto(2, true)])
	data.gateward.wifi.auto_enabled == {2} with input as inp
	data.gateward.fixtures_test.said(data.gateward.wifi.deny, "wifi.auto_channel_conflict", "wifi: radio 2: a fixed Channel and AutoChannelEnable=true contradict each other") with input as inp
}

test_bool_false_reaches_rego_as_false if {
	# The regression the JSON input path exists for: false must stay a boolean, not 0.0.
	inp := data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.auto(2, false)])
	data.gateward.wifi.auto_disabled == {2} with input as inp
}

# The radio index is parsed once per radio change; the channel rules read only Channel changes
# joined with the radio and the regulatory table of its band.
test_indexed_and_channel_changes if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.channel_44, data.gateward.wifi_test.auto(2, false)])
	[[c, 2], [_, 2]] := data.gateward.wifi.indexed_radio_changes with input as inp
	c.pattern == "Device.WiFi.Radio.{i}.Channel"
	[[_, channel, _]] := data.gateward.wifi.channel_changes with input as inp
	channel.value == 44
	[[_, _, radio, region, table]] := data.gateward.wifi.channel_tables with input as inp
	radio.band == "5GHz"
	region.domain == "ETSI"
	44 in table.channels
}

test_channel_tables_empty_without_a_table if {
	count(data.gateward.wifi.channel_tables) == 0 with input as data.gateward.wifi_test.in_region(data.gateward.fixtures_test.base, "ZZ")
}

# touched: a radio change some rule of the package has something to say about. A plain Channel
# change (a permitted, non-DFS channel on the device's one radio at the index, auto channel off,
# in a region with a table) and a proposal without radio changes leave the package out.
test_touched_only_by_radio_changes_the_rules_look_at if {
	not data.gateward.wifi.touched with input as data.gateward.fixtures_test.base
	not data.gateward.wifi.touched with input as data.gateward.fixtures_test.with_operations([{"command": "reboot", "args": {}}])
	data.gateward.wifi.touched with input as data.gateward.wifi_test.in_region(data.gateward.fixtures_test.base, "ZZ")
	data.gateward.wifi.touched with input as data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(2, 100)])
	data.gateward.wifi.touched with input as data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(2, 149)])
	data.gateward.wifi.touched with input as data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(2, "44")])
	data.gateward.wifi.touched with input as data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.channel(3, 36)])
	data.gateward.wifi.touched with input as data.gateward.fixtures_test.with_changes([data.gateward.wifi_test.power(2, 100)])
	data.gateward.wifi.touched with input as object.union(data.gateward.fixtures_test.base, {"devices": [data.gateward.wifi_test.auto_radio]})
}

# Every rule of the package fires only for a touched input: a radio change with no device still
# reaches the rules that need no device (AutoChannelEnable=true against a fixed Channel).
test_touched_without_devices if {
	inp := object.union(data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.channel_44, data.gateward.wifi_test.auto(2, true)]), {"devices": []})
	data.gateward.wifi.touched with input as inp
	data.gateward.fixtures_test.codes(data.gateward.wifi.deny) == {"wifi.auto_channel_conflict"} with input as inp
}

test_plain_on if {
	d := data.gateward.fixtures_test.device
	data.gateward.wifi.plain_on(d, data.gateward.fixtures_test.channel_44, 2)
	not data.gateward.wifi.plain_on(d, data.gateward.fixtures_test.channel_44, 3)
	not data.gateward.wifi.plain_on(d, data.gateward.wifi_test.channel(2, 52), 2)
	not data.gateward.wifi.plain_on(object.union(d, {"region": "ZZ"}), data.gateward.fixtures_test.channel_44, 2)
	twice := object.union(d, {"radios": array.concat(d.radios, [{"index": 2, "band": "5GHz", "auto_channel": false}])})
	not data.gateward.wifi.plain_on(twice, data.gateward.fixtures_test.channel_44, 2)
}
