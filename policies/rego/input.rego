# METADATA
# title: Input document shape
# description: >-
#   The rule sets assume a well-formed input document. The engines check the full schema in
#   Python before evaluating (policies/validate.py: fast, with messages naming the field); this
#   package keeps the pack safe when it is queried directly (an OPA sidecar called by another
#   client): with a section missing, the decision is a deny naming it and no rule set runs.
#   Kept to a handful of checks because every statement here is paid on every decision.
package gateward.input

import rego.v1

deny contains {"code": "input.section_invalid", "message": msg, "params": {"section": section}} if {
	some section in ["proposal", "actor", "context"]
	not is_object(input[section])
	msg := sprintf("input: %s is missing or not an object", [section])
}

deny contains {"code": "input.devices_invalid", "message": "input: devices is missing or not an array", "params": {}} if {
	not is_array(input.devices)
}

deny contains {"code": "input.proposal_field_invalid", "message": msg, "params": {"field": field}} if {
	is_object(input.proposal)
	some field in ["targets", "changes", "operations"]
	not is_array(input.proposal[field])
	msg := sprintf("input: proposal.%s is missing or not an array", [field])
}

deny contains {"code": "input.proposal_field_invalid", "message": "input: proposal.preview is missing or not an object", "params": {"field": "preview"}} if {
	is_object(input.proposal)
	not is_object(input.proposal.preview)
}

deny contains {"code": "input.proposal_field_invalid", "message": "input: proposal.target_count is missing or not a number", "params": {"field": "target_count"}} if {
	is_object(input.proposal)
	not is_number(input.proposal.target_count)
}

# The whole shape in one body: true exactly when deny is empty. The decision reads this and
# evaluates the deny rules (which name what is wrong) only for a malformed document.
ok if {
	is_object(input.proposal)
	is_object(input.actor)
	is_object(input.context)
	is_array(input.devices)
	is_array(input.proposal.targets)
	is_array(input.proposal.changes)
	is_array(input.proposal.operations)
	is_object(input.proposal.preview)
	is_number(input.proposal.target_count)
}
