package gateward.rollout_test

import rego.v1

big(doc, n) := object.union(doc, {"proposal": {"target_count": n}})

test_small_change_has_no_stages if {
	data.gateward.rollout.stages == [] with input as data.gateward.fixtures_test.base
	data.gateward.rollout.reached == set() with input as data.gateward.fixtures_test.base
}

test_plans_for_config_changes if {
	data.gateward.rollout.plans == data.gateward.data.rollout.plans with input as data.gateward.fixtures_test.base
}

test_plans_for_firmware if {
	inp := data.gateward.fixtures_test.with_operations([{"command": "download", "args": {}}])
	data.gateward.rollout.plans == data.gateward.data.rollout.firmware_plans with input as inp
}

test_canary_5_from_50_targets if {
	stages := data.gateward.rollout.stages with input as data.gateward.rollout_test.big(data.gateward.fixtures_test.base, 50)
	stages[0] == {"code": "obligation.stage", "message": "stage: canary 5%", "params": {"kind": "canary", "percent": 5}}
}

test_canary_1_from_1000_targets if {
	stages := data.gateward.rollout.stages with input as data.gateward.rollout_test.big(data.gateward.fixtures_test.base, 250000)
	[s.message | some s in stages] == ["stage: canary 1%", "stage: ring 10%", "stage: ring 50%", "stage: ring 100%", "halt: failure rate above 1% stops and rolls back"]
	[s.params | some s in data.gateward.rollout.stage_items] == [
		{"kind": "canary", "percent": 1}, {"kind": "ring", "percent": 10}, {"kind": "ring", "percent": 50}, {"kind": "ring", "percent": 100},
	] with input as data.gateward.rollout_test.big(data.gateward.fixtures_test.base, 250000)
	data.gateward.rollout.halt_item.params == {"failure_rate_pct": 1} with input as data.gateward.rollout_test.big(data.gateward.fixtures_test.base, 250000)
	data.gateward.rollout.plan.min_targets == 1000 with input as data.gateward.rollout_test.big(data.gateward.fixtures_test.base, 250000)
}

test_firmware_canary_from_10_targets if {
	inp := data.gateward.rollout_test.big(data.gateward.fixtures_test.with_operations([{"command": "download", "args": {}}]), 10)
	data.gateward.rollout.stages[0].params == {"kind": "canary", "percent": 10} with input as inp
	data.gateward.rollout.halt_item == {"code": "obligation.halt", "message": "halt: failure rate above 1% stops and rolls back", "params": {"failure_rate_pct": 1}} with input as inp
}

test_no_rehearsal_below_its_blast_radius if {
	data.gateward.rollout.rehearsal_items == [] with input as data.gateward.rollout_test.big(data.gateward.fixtures_test.base, 999)
}

test_a_wide_change_must_be_rehearsed_clean_first if {
	items := data.gateward.rollout.rehearsal_items with input as data.gateward.rollout_test.big(data.gateward.fixtures_test.base, 1000)
	items == [{"code": "obligation.rehearsal", "message": "rehearsal: 1000 targets or more start only after a clean rehearsal", "params": {"min_targets": 1000, "target_count": 1000}}]
}

test_the_decision_carries_the_rehearsal_obligation if {
	obs := data.gateward.obligations with input as data.gateward.rollout_test.big(data.gateward.fixtures_test.base, 5000)
	"obligation.rehearsal" in {o.code | some o in obs}
}
