# METADATA
# title: Change basics
# description: >-
#   What every change must satisfy whoever proposes it: the exact change was previewed (no blind
#   bulk Set), it does something, it stays within the proposer's target limit, it runs inside the
#   region's change window (or is an emergency a senior approver signs), and secrets are approved.
package gateward.change

import rego.v1

deny contains {"code": "change.preview_missing", "message": "change: no preview of the exact change exists; preview it before asking policy", "params": {}} if {
	not input.proposal.preview.exists
}

deny contains {"code": "change.blind_bulk", "message": msg, "params": {"target_count": input.proposal.target_count, "max_targets": limit}} if {
	input.proposal.preview.exists
	input.proposal.preview.blind
	limit := data.gateward.data.limits.blind_bulk_max_targets
	input.proposal.target_count > limit
	msg := sprintf(
		"change: blind bulk Set refused: the preview read no current values for a %d-device change; preview against reachable devices first",
		[input.proposal.target_count],
	)
}

# A preview that did not read every target is no preview of what will change there (issue 10,
# defect 8: a proposal whose only preview row was "device is offline" was allowed). A snapshot
# preview fails for targets with neither a stored snapshot nor a live read in its sample.
deny contains {"code": "change.preview_incomplete", "message": msg, "params": {"failed": input.proposal.preview.failed, "target_count": input.proposal.target_count}} if {
	input.proposal.preview.exists
	input.proposal.preview.failed > 0
	msg := sprintf("change: the preview could not read %d of %d target devices, so what would change there is unknown; preview again when they can be read", [
		input.proposal.preview.failed, input.proposal.target_count,
	])
}

# Offline at a live preview: unknown current values. A staged rollout (campaign) instead holds
# those devices until they check in (presence obligation, re-checked per batch).
deny contains {"code": "change.targets_offline", "message": msg, "params": {"offline": input.proposal.preview.offline, "target_count": input.proposal.target_count}} if {
	input.proposal.preview.exists
	input.proposal.preview.offline > 0
	not input.proposal.staged
	msg := sprintf("change: %d of %d target devices were offline at preview, so what would change there is unknown; preview again when they are back", [
		input.proposal.preview.offline, input.proposal.target_count,
	])
}

deny contains {"code": "change.preview_stale", "message": msg, "params": {"age_s": input.proposal.preview.age_s, "max_age_s": limit}} if {
	input.proposal.preview.exists
	limit := data.gateward.data.limits.preview_max_age_s
	input.proposal.preview.age_s > limit
	msg := sprintf("change: the preview is stale (taken %d s ago; at most %d s); preview again before asking policy", [
		input.proposal.preview.age_s, limit,
	])
}

# What a rollback cannot undo is said before approval (DESIGN.md §2, invariant 7).
warn contains {"code": "change.not_restorable", "message": msg, "params": {"path": path}} if {
	some path in input.proposal.preview.not_restorable
	msg := sprintf("change: a rollback cannot restore %s (a secret reads back empty): if this change is rolled back, the new value stays", [path])
}

deny contains {"code": "change.empty", "message": "change: the proposal changes nothing and runs no operation", "params": {}} if {
	count(input.proposal.changes) == 0
	count(input.proposal.operations) == 0
}

deny contains {"code": "change.no_targets", "message": "change: the proposal has no target device", "params": {}} if {
	input.proposal.target_count == 0
}

# The most generous of the actor's roles sets the limit (automation also has its catalogue's).
max_targets := max(array.concat([0], [data.gateward.data.roles.roles[r].max_targets | some r in data.gateward.lib.known_roles]))

deny contains {"code": "change.too_many_targets", "message": msg, "params": {"roles": sort(input.actor.roles), "max_targets": max_targets, "target_count": input.proposal.target_count}} if {
	input.proposal.target_count > max_targets
	msg := sprintf("change: roles (%s) may target at most %d devices; this proposal targets %d", [
		data.gateward.lib.roles_text, max_targets, input.proposal.target_count,
	])
}

deny contains {"code": "window.closed", "message": msg, "params": data.gateward.lib.window_params(region)} if {
	data.gateward.lib.window_applies
	not input.proposal.emergency
	some region in data.gateward.lib.outside_window_regions
	msg := sprintf("change: outside the change window for %s (%s); only an emergency with a senior approver may proceed", [
		region, data.gateward.lib.window_text(region),
	])
}

deny contains {"code": "change.automation_emergency", "message": "change: automation may not declare an emergency", "params": {}} if {
	input.proposal.emergency
	data.gateward.lib.is_automation
}

approvals contains {"role": "senior_approver", "code": "approval.emergency_outside_window", "message": reason, "params": {"region": region}} if {
	input.proposal.emergency
	data.gateward.lib.window_applies
	some region in data.gateward.lib.outside_window_regions
	reason := sprintf("emergency change outside the change window for %s", [region])
}

approvals contains {"role": "approver", "code": "approval.secret_change", "message": reason, "params": {"path": c.path}} if {
	some c in input.proposal.changes
	c.secret
	reason := sprintf("secret change to %s", [c.path])
}

# A support agent's request to roll back an applied change is decided by an approver, never
# applied on the requester's say-so (issue 39): the console's "request rollback" submits it so.
approvals contains {"role": "approver", "code": "approval.rollback_request", "message": reason, "params": {}} if {
	input.proposal.source == "rollback_request"
	reason := "a rollback a support agent requested: an approver decides"
}

warn contains {"code": "change.presence_unconfirmed", "message": msg, "params": {"unconfirmed": unconfirmed, "devices_total": input.proposal.preview.devices_total}} if {
	input.proposal.preview.exists
	input.proposal.preview.devices_present < input.proposal.preview.devices_total
	unconfirmed := input.proposal.preview.devices_total - input.proposal.preview.devices_present
	msg := sprintf("change: %d of %d target devices lack confirmed presence; they wait until they check in", [
		unconfirmed, input.proposal.preview.devices_total,
	])
}

warn contains {"code": "change.blind_preview", "message": "change: the preview is blind (current values unread); the backup is taken at apply time", "params": {}} if {
	input.proposal.preview.exists
	input.proposal.preview.blind
	input.proposal.target_count <= data.gateward.data.limits.blind_bulk_max_targets
}

# A staged change runs for hours: every later batch must still fall inside the window it was
# approved for. The campaign engine reads these (code obligation.window, its params) and holds
# new batches while a window is closed.
obligations contains {"code": "obligation.window", "message": msg, "params": params} if {
	data.gateward.lib.window_applies
	not input.proposal.emergency
	some region in {d.region | some d in input.devices}
	w := data.gateward.lib.window_for(region)
	params := {"region": region, "start_hour": w.start_hour, "end_hour": w.end_hour, "utc_offset_hours": w.utc_offset_hours}
	msg := sprintf("window: %s %d-%d local, UTC offset %v h", [region, w.start_hour, w.end_hour, w.utc_offset_hours])
}

obligations contains {"code": "obligation.presence", "message": "presence: apply only to devices with confirmed presence", "params": {}} if {
	input.proposal.preview.devices_present < input.proposal.preview.devices_total
}
