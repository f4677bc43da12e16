# METADATA
# title: Roles and the automation catalogue
# description: >-
#   Who may propose what. Permissions are the union over the actor's roles, except that a held
#   role with may_propose=false (auditor) forbids proposing outright. Automation runs the
#   catalogue: a catalogue action within its limits carries a standing approval; anything else
#   from automation needs an approver.
package gateward.rbac

import rego.v1

may_propose if {
	some spec in data.gateward.lib.role_specs
	spec.may_propose
}

deny contains {"code": "rbac.may_not_propose", "message": msg, "params": {"actor": input.actor.id, "roles": sort(input.actor.roles)}} if {
	not may_propose
	msg := sprintf("rbac: %s (roles: %s) may not propose changes", [input.actor.id, data.gateward.lib.roles_text])
}

deny contains {"code": "rbac.separation_of_duties", "message": msg, "params": {"role": r}} if {
	some r, spec in data.gateward.lib.role_specs
	spec.may_propose == false
	may_propose
	msg := sprintf("rbac: holders of role %s may not propose changes (separation of duties)", [r])
}

# Whether some held role may run an operation / change a parameter class: a membership test per
# role instead of building the union of every role's lists first.
operation_permitted(cmd) if {
	some spec in data.gateward.lib.role_specs
	cmd in spec.operations
}

class_permitted(class) if {
	some spec in data.gateward.lib.role_specs
	class in spec.param_classes
}

deny contains {"code": "rbac.operation_not_permitted", "message": msg, "params": {"roles": sort(input.actor.roles), "operation": cmd}} if {
	may_propose
	some cmd in data.gateward.lib.commands
	not data.gateward.rbac.operation_permitted(cmd)
	msg := sprintf("rbac: roles (%s) may not run %s", [data.gateward.lib.roles_text, cmd])
}

deny contains {"code": "rbac.class_not_permitted", "message": msg, "params": {"roles": sort(input.actor.roles), "class": class, "path": path}} if {
	may_propose
	some path, class in data.gateward.lib.change_class
	not data.gateward.rbac.class_permitted(class)
	msg := sprintf("rbac: roles (%s) may not change %s parameters (%s)", [data.gateward.lib.roles_text, class, path])
}

# --- automation catalogue ------------------------------------------------------------------

action_type := input.proposal.action_type

entry := data.gateward.data.catalogue.types[action_type]

# A pattern with no limits admits any value; enum, min/max and max_length each constrain.
# (object.get(spec, k, false) == false is "not spec[k]" in a form the regorus VM evaluates
# right when spec[k] is not a boolean: policies/vmcheck.py.)
value_within(spec, _) if {
	object.get(spec, "enum", false) == false
	object.get(spec, "min", false) == false
	object.get(spec, "max", false) == false
	object.get(spec, "max_length", false) == false
}

value_within(spec, value) if value in spec.enum

value_within(spec, value) if {
	object.get(spec, "enum", false) == false
	is_number(value)
	value >= object.get(spec, "min", value)
	value <= object.get(spec, "max", value)
	object.get(spec, "max_length", false) == false
}

value_within(spec, value) if {
	object.get(spec, "enum", false) == false
	is_string(value)
	spec.max_length
	count(value) <= spec.max_length
}

# Each violation is an object like a denial; the approval below carries its code as params.violation.
catalogue_violations contains {"code": "catalogue.no_action_type", "message": "it names no catalogue action type", "params": {}} if {
	data.gateward.lib.is_automation
	action_type == null
}

catalogue_violations contains {"code": "catalogue.unknown_action_type", "message": msg, "params": {"action_type": action_type}} if {
	data.gateward.lib.is_automation
	is_string(action_type)
	object.get(data.gateward.data.catalogue.types, action_type, false) == false
	msg := sprintf("action type %s is not in the catalogue", [action_type])
}

catalogue_violations contains {"code": "catalogue.change_outside", "message": msg, "params": {"pattern": c.pattern, "action_type": action_type}} if {
	data.gateward.lib.is_automation
	entry
	some c in input.proposal.changes
	object.get(entry.changes, c.pattern, false) == false
	msg := sprintf("%s is outside catalogue action %s", [c.pattern, action_type])
}

catalogue_violations contains {"code": "catalogue.value_outside", "message": msg, "params": {"value": c.value, "path": c.path, "action_type": action_type}} if {
	data.gateward.lib.is_automation
	some c in input.proposal.changes
	spec := object.get(entry.changes, c.pattern, null)
	spec != null
	not data.gateward.rbac.value_within(spec, c.value)
	msg := sprintf("value %v for %s is outside the limits of catalogue action %s", [c.value, c.path, action_type])
}

catalogue_violations contains {"code": "catalogue.operation_outside", "message": msg, "params": {"operation": cmd, "action_type": action_type}} if {
	data.gateward.lib.is_automation
	entry
	some cmd in data.gateward.lib.commands
	not cmd in entry.operations
	msg := sprintf("operation %s is outside catalogue action %s", [cmd, action_type])
}

catalogue_violations contains {"code": "catalogue.too_many_targets", "message": msg, "params": {"target_count": input.proposal.target_count, "max_targets": entry.max_targets, "action_type": action_type}} if {
	data.gateward.lib.is_automation
	input.proposal.target_count > entry.max_targets
	msg := sprintf("%d targets exceed the %d allowed for catalogue action %s", [input.proposal.target_count, entry.max_targets, action_type])
}

# The catalogue entry is the standing approval of a routine remediation.
automation_preapproved if {
	data.gateward.lib.is_automation
	entry
	count(catalogue_violations) == 0
}

approvals contains {"role": "approver", "code": "approval.outside_catalogue", "message": reason, "params": object.union(v.params, {"violation": v.code})} if {
	data.gateward.lib.is_automation
	some v in catalogue_violations
	reason := sprintf("automation outside its catalogue: %s", [v.message])
}
