# METADATA
# title: Shared helpers
# description: >-
#   Facts every rule set derives the same way: the actor's roles, parameter classes, change
#   windows, compatibility status, step scores. Kept in one package so that a rule set reads as
#   what it decides, not how it looks facts up.
#   regorus quirk: a function is called by its full path (data.gateward.lib.f(x)) because
#   regorus does not resolve function calls through an import alias; rules read fine through it.
#   Cost note: in regorus every rule evaluated costs a few µs, so helpers are few and coarse.
#   Every deny, warning, approval and obligation of the pack is an object {code, message, params}
#   (policies/README.md lists the codes): Python branches on code and params, people read message.
package gateward.lib

import rego.v1

# The actor's roles the data knows, with their permissions (role -> spec); unknown role names
# grant nothing. Read straight from the input's roles: one comprehension serves rbac, change
# and secrets.
role_specs := {r: spec |
	some r in input.actor.roles
	spec := data.gateward.data.roles.roles[r]
	is_object(spec)
}

roles_text := concat(", ", sort(input.actor.roles)) if {
	count(input.actor.roles) > 0
} else := "none"

# A job, or anything acting with the automation role, is automation: the catalogue governs it.
is_automation if "job" in {input.actor.kind, input.proposal.author_kind}

is_automation if "automation" in input.actor.roles

commands := {op.command | some op in input.proposal.operations}

# Human-readable device class: vendor, model, firmware, region. Never the device id, so that a
# message is the same for every device of an equivalence class (policies/classes.py).
device_label(d) := sprintf("%s %s fw %s in %s", [d.vendor, d.model, d.firmware, d.region])

# The same class as message params: what device_label prints, typed, and never the device id.
device_params(d) := {"vendor": d.vendor, "model": d.model, "firmware": d.firmware, "region": d.region}

# Parameter class per changed path: the longest configured prefix wins, found by looking up the
# path's first 4, 3 and 2 segments in prefix_index (derived by the loader from
# param_classes.classes); no match is the default class. Lookups, not a scan over the prefixes:
# every loop iteration costs µs in regorus.
change_class := {c.path: class |
	some c in input.proposal.changes
	class := data.gateward.lib.path_class(split(c.path, "."))
	class == class # defined (the positive use policies/vmcheck.py asks for)
}

# The class of a path split into segments. An else chain: each shorter prefix is looked up only
# when the longer one is not configured. Most paths match at 3 segments under a prefix no
# 4-segment prefix extends (final_prefix_3, derived by the loader): that is tried first, one
# lookup instead of two. `class == class` is
# the positive use the bytecode VM needs to fail a body whose lookup is undefined.
path_class(parts) := class if {
	class := data.gateward.data.param_classes.final_prefix_3[concat(".", array.slice(parts, 0, 3))]
	class == class
} else := class if {
	class := data.gateward.data.param_classes.prefix_index[concat(".", array.slice(parts, 0, 4))]
	class == class
} else := class if {
	class := data.gateward.data.param_classes.prefix_index[concat(".", array.slice(parts, 0, 3))]
	class == class
} else := class if {
	class := data.gateward.data.param_classes.prefix_index[concat(".", array.slice(parts, 0, 2))]
	class == class
} else := data.gateward.data.param_classes.default_class

window_for(region) := object.get(data.gateward.data.windows.regions, region, data.gateward.data.windows.fallback)

utc_hour := floor(input.context.now_ns / 3600000000000) % 24

local_hour(region) := ((data.gateward.lib.utc_hour + data.gateward.lib.window_for(region).utc_offset_hours) + 24) % 24

# Whether a region's change window is open now: true or false. Start inclusive, end exclusive; a
# window may wrap midnight: hours are taken relative to the start, so 23->04 is "less than 5
# hours past 23:00". The one place the window arithmetic lives.
window_open(region) := open if {
	open := data.gateward.data.windows.open_by_utc_hour[region][utc_hour]
	open == open
} else := open if {
	not region in object.keys(data.gateward.data.windows.regions)
	open := data.gateward.data.windows.fallback_open_by_utc_hour[utc_hour]
	open == open
} else := open if {
	w := object.get(data.gateward.data.windows.regions, region, data.gateward.data.windows.fallback)
	h := ((utc_hour + w.utc_offset_hours) + 24) % 24
	open := (((h - w.start_hour) + 24) % 24) < (((w.end_hour - w.start_hour) + 24) % 24)
}

# Region -> inside its window now, for every region of the proposal's devices.
region_in_window := {region: open |
	some region in {d.region | some d in input.devices}
	open := data.gateward.lib.window_open(region)
	open == open # defined (the positive use policies/vmcheck.py asks for)
}

outside_window_regions := {region | some region, inside in region_in_window; inside == false}

window_text(region) := sprintf("local hour %02d, window %02d:00-%02d:00 at UTC offset %v h", [
	data.gateward.lib.local_hour(region),
	data.gateward.lib.window_for(region).start_hour,
	data.gateward.lib.window_for(region).end_hour,
	data.gateward.lib.window_for(region).utc_offset_hours,
])

# A region's window as params: what window_text prints, typed.
window_params(region) := object.union(
	{"region": region, "local_hour": data.gateward.lib.local_hour(region)},
	object.filter(data.gateward.lib.window_for(region), ["start_hour", "end_hour", "utc_offset_hours"]),
)

# Windows bind fleet changes and disruptive operations, not a one-device support fix.
window_applies if input.proposal.target_count >= data.gateward.data.windows.applies_when.min_targets

window_applies if {
	some op in input.proposal.operations
	op.command in data.gateward.data.windows.applies_when.operations
}

# Workflows this proposal exercises: "config" always (risk), plus each operation's workflow.
workflows := {"config"} | {wf | some op in input.proposal.operations; wf := data.gateward.data.compat.operation_workflows[op.command]; is_string(wf)}

# A device's status for a workflow: green | yellow | red. Evidence (a non-null devices[].compat)
# overrides the matrix; then the exact firmware row, then the model's "*" row, then the default.
# Written as a chain of lookups (each tried only when the one before found nothing) rather than
# nested object.get calls, which build every fallback first. `status == status` is the positive
# use the bytecode VM needs to fail the body when the lookup is undefined (policies/vmcheck.py);
# any value the matrix holds passes it, as object.get would return it.
compat_status(d, wf) := d.compat if {
	d.compat in {"green", "yellow", "red"}
} else := status if {
	status := data.gateward.data.compat.matrix[d.vendor][d.model][d.firmware][wf]
	status == status
} else := status if {
	status := data.gateward.data.compat.matrix[d.vendor][d.model]["*"][wf]
	status == status
} else := data.gateward.data.compat.default_status

# [device id, workflow] -> compat_status, for every device and every workflow of the proposal.
compat := {[d.id, wf]: data.gateward.lib.compat_status(d, wf) |
	some d in input.devices
	some wf in workflows
}
