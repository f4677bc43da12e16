# METADATA
# title: Wi-Fi radio rules
# description: >-
#   Radio settings are regulated: channels per regulatory domain and band, DFS only where the
#   region allows it and with an approver, channel width valid for the band, transmit power
#   within the operator's limits. Setting a fixed Channel while AutoChannelEnable stays true is
#   denied: the radio would move off it again and verification would fail; the proposal must say
#   AutoChannelEnable=false itself, so that it is previewed, backed up and reversible.
package gateward.wifi

import rego.v1

# Cost notes (regorus): a call indexed in place (split(p, ".")[3]) costs several times a call
# bound to a variable first, so the radio index is parsed once per change, here; each rule below
# iterates only the changes of its own parameter, and builds its message after its conditions.

# Every radio change with its radio index: [change, index].
indexed_radio_changes := [[c, to_number(parts[3])] |
	some c in input.proposal.changes
	startswith(c.pattern, "Device.WiFi.Radio.{i}.")
	parts := split(c.path, ".")
]

# Every rule below needs a radio change, and none of them fires for a plain Channel change
# (plain_on): the decision reads this rule set only for a radio change other than a Channel
# change, or a Channel change that is not plain on some device. touched false must mean that no
# rule of this package fires for the input (the decision relies on it;
# tests/policies/test_pack_equivalence.py checks it on the corpus).
touched if {
	some x in indexed_radio_changes
	x[0].pattern != "Device.WiFi.Radio.{i}.Channel"
}

touched if {
	some x in indexed_radio_changes
	some d in input.devices
	not data.gateward.wifi.plain_on(d, x[0], x[1])
}

# A Channel change to a permitted, non-DFS channel of the band, on a device with exactly one
# radio at the index, which does not pick its own channel, in a region with a regulatory table:
# each condition negates one rule's below (a device without the radio, or with two at the index,
# is not plain: the rules look at it).
plain_on(d, c, index) if {
	c.pattern == "Device.WiFi.Radio.{i}.Channel"
	is_number(c.value)
	radios := [r | some r in d.radios; r.index == index]
	count(radios) == 1
	radios[0].auto_channel == false
	region := data.gateward.data.regulatory.regions[d.region]
	row := data.gateward.data.regulatory.plain_channels[region.domain][radios[0].band]
	row[c.value] == true
}

# Every radio change joined with each device's radio at that index: [device, change, radio].
radio_changes := [[d, c, r] |
	some [c, index] in indexed_radio_changes
	some d in input.devices
	some r in d.radios
	r.index == index
]

# The joined Channel changes: the channel rules read only these.
channel_changes := [x | some x in radio_changes; x[1].pattern == "Device.WiFi.Radio.{i}.Channel"]

# Radio indexes whose AutoChannelEnable this proposal sets to false / true.
auto_disabled := {index | some [c, index] in indexed_radio_changes; c.pattern == "Device.WiFi.Radio.{i}.AutoChannelEnable"; c.value == false}

auto_enabled := {index | some [c, index] in indexed_radio_changes; c.pattern == "Device.WiFi.Radio.{i}.AutoChannelEnable"; c.value == true}

deny contains {"code": "wifi.no_radio", "message": msg, "params": object.union(data.gateward.lib.device_params(d), {"radio": index, "path": c.path})} if {
	some [c, index] in indexed_radio_changes
	some d in input.devices
	not index in {r.index | some r in d.radios}
	msg := sprintf("wifi: %s has no radio %d; cannot check %s", [data.gateward.lib.device_label(d), index, c.path])
}

deny contains {"code": "wifi.no_regulatory_table", "message": msg, "params": {"region": d.region}} if {
	some [d, _, _] in radio_changes
	object.get(data.gateward.data.regulatory.regions, d.region, false) == false
	msg := sprintf("wifi: no regulatory table for region %s; radio changes are refused there", [d.region])
}

deny contains {"code": "wifi.channel_not_number", "message": msg, "params": {"path": c.path}} if {
	some [_, c, _] in channel_changes
	not is_number(c.value)
	msg := sprintf("wifi: %s must be a channel number", [c.path])
}

# Each Channel change with what the regulatory data says about it on the device's band:
# [device, change, radio, region entry, domain table for the band].
channel_tables := [[d, c, r, region, table] |
	some [d, c, r] in channel_changes
	region := data.gateward.data.regulatory.regions[d.region]
	domain := data.gateward.data.regulatory.domains[region.domain]
	table := domain[r.band]
	is_object(table)
]

deny contains {"code": "wifi.channel_not_permitted", "message": msg, "params": {"channel": c.value, "band": r.band, "region": d.region, "domain": region.domain}} if {
	some [d, c, r, region, table] in channel_tables
	is_number(c.value)
	not c.value in table.channels
	not c.value in table.dfs
	msg := sprintf("wifi: channel %v is not permitted on the %s band in %s (%s)", [c.value, r.band, d.region, region.domain])
}

deny contains {"code": "wifi.dfs_not_allowed", "message": msg, "params": {"channel": c.value, "region": d.region}} if {
	some [d, c, _, region, table] in channel_tables
	c.value in table.dfs
	object.get(region, "dfs_allowed", false) == false
	msg := sprintf("wifi: DFS channel %v is not allowed in %s", [c.value, d.region])
}

approvals contains {"role": "approver", "code": "approval.dfs_channel", "message": reason, "params": {"channel": c.value, "band": r.band, "region": d.region}} if {
	touched
	some [d, c, r, region, table] in channel_tables
	c.value in table.dfs
	region.dfs_allowed
	reason := sprintf("DFS channel %v on the %s band in %s (radar detection may move the radio)", [c.value, r.band, d.region])
}

deny contains {"code": "wifi.bandwidth_invalid", "message": msg, "params": {"bandwidth": c.value, "band": r.band, "allowed": allowed}} if {
	some [_, c, r] in radio_changes
	c.pattern == "Device.WiFi.Radio.{i}.OperatingChannelBandwidth"
	allowed := data.gateward.data.regulatory.bandwidths[r.band]
	is_array(allowed)
	not c.value in allowed
	msg := sprintf("wifi: channel width %v is not valid on the %s band (allowed: %s)", [c.value, r.band, concat(", ", allowed)])
}
# -1 is the TR-181 "auto" transmit power.
power_ok(value, _) if value == data.gateward.data.regulatory.transmit_power_pct.auto

power_ok(value, band) if {
	is_number(value)
	value >= data.gateward.data.regulatory.transmit_power_pct.min
	value <= data.gateward.data.regulatory.transmit_power_pct.max[band]
}

deny contains {"code": "wifi.power_out_of_range", "message": msg, "params": {"power": c.value, "band": r.band, "min": limits.min, "max": max_pct, "auto": limits.auto}} if {
	some [_, c, r] in radio_changes
	c.pattern == "Device.WiFi.Radio.{i}.TransmitPower"
	not data.gateward.wifi.power_ok(c.value, r.band)
	limits := data.gateward.data.regulatory.transmit_power_pct
	max_pct := limits.max[r.band]
	is_number(max_pct)
	msg := sprintf("wifi: transmit power %v%% is outside the limits for the %s band (%v..%v%% or %v for auto)", [
		c.value, r.band, limits.min, max_pct, limits.auto,
	])
}

deny contains {"code": "wifi.auto_channel_on", "message": msg, "params": {"radio": r.index, "channel": c.value}} if {
	some [_, c, r] in channel_changes
	r.auto_channel
	not r.index in auto_disabled
	not r.index in auto_enabled
	msg := sprintf(
		"wifi: radio %d has AutoChannelEnable=true and would move off channel %v; add Device.WiFi.Radio.%d.AutoChannelEnable=false to the proposal",
		[r.index, c.value, r.index],
	)
}

deny contains {"code": "wifi.auto_channel_conflict", "message": msg, "params": {"radio": index}} if {
	some [a, index] in indexed_radio_changes
	a.pattern == "Device.WiFi.Radio.{i}.AutoChannelEnable"
	a.value == true
	some [c, channel_index] in indexed_radio_changes
	c.pattern == "Device.WiFi.Radio.{i}.Channel"
	channel_index == index
	msg := sprintf("wifi: radio %d: a fixed Channel and AutoChannelEnable=true contradict each other", [index])
}
