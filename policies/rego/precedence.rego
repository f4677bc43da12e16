# METADATA
# title: Precedence between proposals and profiles
# description: >-
#   Two live proposals, or a proposal and a provisioning profile, setting the same parameter on
#   overlapping devices to different values would fight: whichever lands last wins and the other
#   "fails" verification. Such a proposal is denied, naming both sides, until one is withdrawn or
#   the profile changes. Messages name proposals and profiles, never devices.
package gateward.precedence

import rego.v1

# Every rule below needs another live proposal, a profile or a second change of this proposal;
# the decision skips the rule set without one.
touched if count(input.context.live_proposals) + count(input.context.profiles) > 0

touched if count(input.proposal.changes) > 1

target_set := {t | some t in input.proposal.targets}

overlaps(targets) if {
	some t in targets
	t in target_set
}

deny contains {"code": "precedence.live_proposal", "message": msg, "params": {"path": c.path, "proposal": input.proposal.id, "value": c.value, "other_proposal": lp.id, "other_author": lp.author, "other_value": lc.value}} if {
	some c in input.proposal.changes
	some lp in input.context.live_proposals
	lp.id != input.proposal.id
	some lc in lp.changes
	lc.path == c.path
	lc.value != c.value
	data.gateward.precedence.overlaps(lp.targets)
	msg := sprintf("precedence: %s: proposal %s sets %v but live proposal %s (by %s) sets %v on overlapping devices", [
		c.path, input.proposal.id, c.value, lp.id, lp.author, lc.value,
	])
}

deny contains {"code": "precedence.profile", "message": msg, "params": {"path": c.path, "proposal": input.proposal.id, "value": c.value, "profile": p.id, "profile_version": p.version, "profile_value": pc.value}} if {
	some c in input.proposal.changes
	some p in input.context.profiles
	some pc in p.changes
	pc.path == c.path
	pc.value != c.value
	data.gateward.precedence.overlaps(p.targets)
	msg := sprintf("precedence: %s: proposal %s sets %v but profile %s v%v sets %v on overlapping devices", [
		c.path, input.proposal.id, c.value, p.id, p.version, pc.value,
	])
}

deny contains {"code": "precedence.duplicate_path", "message": msg, "params": {"path": a.path, "proposal": input.proposal.id}} if {
	some i, a in input.proposal.changes
	some j, b in input.proposal.changes
	i < j
	a.path == b.path
	a.value != b.value
	msg := sprintf("precedence: %s is set twice in proposal %s with different values", [a.path, input.proposal.id])
}
