# METADATA
# title: Wi-Fi passphrases
# description: >-
#   Who may set a Wi-Fi passphrase and what a passphrase must be. Policy never sees the secret:
#   the value arrives redacted and secret_facts carry its length, whether it contains the SSID,
#   and the sha256 of its lowercase form, compared against the common-password list in data.
package gateward.secrets

import rego.v1

passphrase_changes := [c | some c in input.proposal.changes; c.pattern in data.gateward.data.secrets.passphrase_patterns]

# Every rule below needs a passphrase change or a change marked secret; the decision skips the
# rule set without one.
touched if count(passphrase_changes) > 0

touched if {
	some c in input.proposal.changes
	c.secret
}

may_set_passphrase if {
	some spec in data.gateward.lib.role_specs
	spec.may_set_wifi_passphrase
}

deny contains {"code": "secrets.role_forbidden", "message": msg, "params": {"roles": sort(input.actor.roles)}} if {
	count(passphrase_changes) > 0
	not may_set_passphrase
	msg := sprintf("secrets: roles (%s) may not set a Wi-Fi passphrase", [data.gateward.lib.roles_text])
}

deny contains {"code": "secrets.not_marked_secret", "message": msg, "params": {"path": c.path}} if {
	some c in passphrase_changes
	not c.secret
	msg := sprintf("secrets: %s must be marked secret", [c.path])
}

deny contains {"code": "secrets.unredacted", "message": msg, "params": {"path": c.path}} if {
	some c in input.proposal.changes
	c.secret
	c.value != data.gateward.data.secrets.redacted_value
	msg := sprintf("secrets: the value of %s reached policy unredacted", [c.path])
}

deny contains {"code": "secrets.no_facts", "message": msg, "params": {"path": c.path}} if {
	some c in passphrase_changes
	not is_object(c.secret_facts)
	msg := sprintf("secrets: no secret facts for %s; the passphrase cannot be checked", [c.path])
}

deny contains {"code": "secrets.too_short", "message": msg, "params": {"path": c.path, "min_length": data.gateward.data.secrets.min_length}} if {
	some c in passphrase_changes
	c.secret_facts.length < data.gateward.data.secrets.min_length
	msg := sprintf("secrets: the passphrase for %s is shorter than %d characters", [c.path, data.gateward.data.secrets.min_length])
}

deny contains {"code": "secrets.too_long", "message": msg, "params": {"path": c.path, "max_length": data.gateward.data.secrets.max_length}} if {
	some c in passphrase_changes
	c.secret_facts.length > data.gateward.data.secrets.max_length
	msg := sprintf("secrets: the passphrase for %s is longer than %d characters", [c.path, data.gateward.data.secrets.max_length])
}

deny contains {"code": "secrets.contains_ssid", "message": msg, "params": {"path": c.path}} if {
	some c in passphrase_changes
	c.secret_facts.contains_ssid
	msg := sprintf("secrets: the passphrase for %s contains the network name (SSID)", [c.path])
}

deny contains {"code": "secrets.common_password", "message": msg, "params": {"path": c.path}} if {
	some c in passphrase_changes
	data.gateward.data.common_passwords.sha256_lower[c.secret_facts.sha256_lower]
	msg := sprintf("secrets: the passphrase for %s is on the common-password list", [c.path])
}
