package gateward.secrets_test

import rego.v1

path := "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"

good := data.gateward.fixtures_test.passphrase(18, false, data.gateward.fixtures_test.good_sha)

test_passphrase_changes_found if {
	[c] := data.gateward.secrets.passphrase_changes with input as data.gateward.fixtures_test.with_changes([good])
	c.path == path
}

test_good_passphrase_allowed if {
	count(data.gateward.secrets.deny) == 0 with input as data.gateward.fixtures_test.with_changes([good])
}

test_may_set_passphrase_by_role if {
	data.gateward.secrets.may_set_passphrase with input as data.gateward.fixtures_test.base
	not data.gateward.secrets.may_set_passphrase with input as data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.base, ["automation"], "job")
}

test_deny_role_that_may_not_set_passphrase if {
	inp := data.gateward.fixtures_test.as_actor(data.gateward.fixtures_test.with_changes([good]), ["automation"], "job")
	data.gateward.fixtures_test.said(data.gateward.secrets.deny, "secrets.role_forbidden", "secrets: roles (automation) may not set a Wi-Fi passphrase") with input as inp
}

test_deny_passphrase_not_marked_secret if {
	inp := data.gateward.fixtures_test.with_changes([object.union(good, {"secret": false})])
	data.gateward.fixtures_test.said(data.gateward.secrets.deny, "secrets.not_marked_secret", sprintf("secrets: %s must be marked secret", [path])) with input as inp
}

test_deny_unredacted_secret if {
	inp := data.gateward.fixtures_test.with_changes([object.union(good, {"value": "hunter2hunter2"})])
	data.gateward.fixtures_test.said(data.gateward.secrets.deny, "secrets.unredacted", sprintf("secrets: the value of %s reached policy unredacted", [path])) with input as inp
}

test_deny_missing_secret_facts if {
	inp := data.gateward.fixtures_test.with_changes([object.remove(good, ["secret_facts"])])
	data.gateward.fixtures_test.said(data.gateward.secrets.deny, "secrets.no_facts", sprintf("secrets: no secret facts for %s; the passphrase cannot be checked", [path])) with input as inp
}

test_deny_short_passphrase if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.passphrase(11, false, data.gateward.fixtures_test.good_sha)])
	data.gateward.fixtures_test.said(data.gateward.secrets.deny, "secrets.too_short", sprintf("secrets: the passphrase for %s is shorter than 12 characters", [path])) with input as inp
}

test_twelve_characters_is_enough if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.passphrase(12, false, data.gateward.fixtures_test.good_sha)])
	count(data.gateward.secrets.deny) == 0 with input as inp
}

test_deny_overlong_passphrase if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.passphrase(65, false, data.gateward.fixtures_test.good_sha)])
	data.gateward.fixtures_test.said(data.gateward.secrets.deny, "secrets.too_long", sprintf("secrets: the passphrase for %s is longer than 64 characters", [path])) with input as inp
}

test_deny_passphrase_containing_ssid if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.passphrase(20, true, data.gateward.fixtures_test.good_sha)])
	data.gateward.fixtures_test.said(data.gateward.secrets.deny, "secrets.contains_ssid", sprintf("secrets: the passphrase for %s contains the network name (SSID)", [path])) with input as inp
}

test_deny_common_passphrase if {
	inp := data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.passphrase(12, false, data.gateward.fixtures_test.common_sha)])
	data.gateward.fixtures_test.said(data.gateward.secrets.deny, "secrets.common_password", sprintf("secrets: the passphrase for %s is on the common-password list", [path])) with input as inp
}

test_touched_by_a_passphrase_or_a_secret if {
	data.gateward.secrets.touched with input as data.gateward.fixtures_test.with_changes([data.gateward.fixtures_test.passphrase(20, false, data.gateward.fixtures_test.good_sha)])
	secret_ssid := object.union(data.gateward.fixtures_test.change("Device.WiFi.SSID.1.SSID", "Device.WiFi.SSID.{i}.SSID", "********", "string"), {"secret": true})
	data.gateward.secrets.touched with input as data.gateward.fixtures_test.with_changes([secret_ssid])
	not data.gateward.secrets.touched with input as data.gateward.fixtures_test.base
}
