# METADATA
# title: Test fixtures
# description: >-
#   Well-formed input documents the rule tests start from and vary with object.union (which
#   merges objects deeply and replaces arrays). base is a support agent moving one present
#   AVM FRITZ!Box 7590 in DE from channel 36 to 44 on its 5 GHz radio, inside the DE window.
package gateward.fixtures_test

import rego.v1

# 2025-03-04T02:30:00Z: 03:30 in DE (UTC+1), inside the 01:00-05:00 window.
in_window_ns := 1741055400000000000

# 2025-03-04T13:00:00Z: 14:00 in DE, outside the window.
out_of_window_ns := 1741093200000000000

device := {
	"id": "dev-1", "vendor": "AVM", "model": "FRITZ!Box 7590", "firmware": "7.57", "region": "DE",
	"root": "Device.", "protocol": "cwmp", "compat": null, "present": true, "reboots_24h": 0,
	"failed_changes_7d": 0,
	"radios": [
		{"index": 1, "band": "2.4GHz", "channel": 6, "auto_channel": false, "bandwidth": "20MHz"},
		{"index": 2, "band": "5GHz", "channel": 36, "auto_channel": false, "bandwidth": "80MHz"},
	],
	"ssids": [{"index": 1, "ssid": "FlatFourB"}],
}

channel_44 := {
	"path": "Device.WiFi.Radio.2.Channel", "pattern": "Device.WiFi.Radio.{i}.Channel",
	"value": 44, "type": "unsignedInt", "secret": false,
}

base := {
	"proposal": {
		"id": "prop-1", "hash": "h", "author": "alice", "author_kind": "human",
		"intent": "move the 5 GHz radio off a crowded channel", "emergency": false, "action_type": null,
		"source": "test", "target_count": 1, "targets": ["dev-1"], "changes": [channel_44],
		"operations": [],
		"preview": {"exists": true, "devices_total": 1, "devices_present": 1, "blind": false},
	},
	"devices": [device],
	"actor": {"id": "alice", "roles": ["support_agent"], "kind": "human"},
	"context": {
		"now": "2025-03-04T02:30:00Z", "now_ns": in_window_ns, "fleet_size": 1000,
		"live_proposals": [], "profiles": [],
	},
}

# A change document the way the TR-181 registry writes it.
change(path, pattern, value, type) := {"path": path, "pattern": pattern, "value": value, "type": type, "secret": false}

with_changes(changes) := object.union(base, {"proposal": {"changes": changes}})

with_operations(operations) := object.union(base, {"proposal": {"changes": [], "operations": operations}})

as_actor(doc, roles, kind) := object.union(doc, {"actor": {"roles": roles, "kind": kind}})

# n devices dev-1..dev-n, all like device, as targets.
fleet(doc, n) := object.union(doc, {
	"proposal": {
		"target_count": n, "targets": [sprintf("dev-%d", [i]) | some i in numbers.range(1, n)],
		"preview": {"devices_total": n, "devices_present": n},
	},
	"devices": [object.union(device, {"id": sprintf("dev-%d", [i])}) | some i in numbers.range(1, n)],
})

passphrase(length, contains_ssid, sha) := {
	"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase",
	"pattern": "Device.WiFi.AccessPoint.{i}.Security.KeyPassphrase",
	"value": "********", "type": "string", "secret": true,
	"secret_facts": {"length": length, "sha256_lower": sha, "contains_ssid": contains_ssid},
}

# sha256 of a lowercase passphrase that is not on the common list ("flatfourb-sunny-42" is not).
good_sha := "9028ea0d15decaa35b2da21c0290af3b1a5ba0a30a591906f89b5074e209ea72"

# sha256("password1234"), which is on the common-password list.
common_sha := "b9c950640e1b3740e98acb93e669c65766f6670dd1609ba91ff41052ba48c6f3"

test_fixture_base_is_allowed if {
	data.gateward.decision.allow with input as base
}

# Items are {code, message, params}: a test names the code it expects and the message people read.
said(items, code, message) if {
	some i in items
	i.code == code
	i.message == message
}

# An approval item for role with code and message.
asks(approvals, role, code, message) if {
	some a in approvals
	a.role == role
	a.code == code
	a.message == message
}

codes(items) := {i.code | some i in items}

messages(items) := {i.message | some i in items}
