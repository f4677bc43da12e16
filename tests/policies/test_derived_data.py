"""The tables the loader derives from the data (policies/loader.py) answer exactly what the rules
computed from the plain data before: they are a partial evaluation of the pack on its static
data, done once at load instead of on every decision, and must not change a single answer.

* ``windows.open_by_utc_hour`` / ``fallback_open_by_utc_hour``: ``lib.window_open(region)`` for
  every region (listed, unknown, and one whose hours are fractional, which the table leaves out)
  at every UTC hour, with the tables and with them removed (the formula alone);
* ``regulatory.plain_channels``: true exactly for the channels a band permits without DFS;
* ``risk.*_from_zero``: the step score over a range of values, against the formula it replaces,
  on the interpreter and on the bytecode VM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import regorus
from regorus import regorus as regorus_native

from policies.loader import DATA_DIR, PolicyLoadError, load_sources

HOUR_NS = 3_600_000_000_000
DAY0_NS = 1_741_046_400_000_000_000  # 2025-03-04T00:00:00Z


def _interpreter(data: dict[str, Any]) -> regorus.Engine:
    sources = load_sources()
    engine = regorus.Engine()
    engine.set_rego_v0(False)
    for name, text in sources.rules:
        engine.add_policy(name, text)
    engine.add_data_json(orjson.dumps({"gateward": {"data": data}}).decode())
    return engine


def _window_open(engine: regorus.Engine, region: str, hour: int) -> Any:
    engine.set_input_json(orjson.dumps({"context": {"now_ns": DAY0_NS + hour * HOUR_NS + 17}}).decode())
    try:
        return orjson.loads(engine.eval_query_as_json(f'data.gateward.lib.window_open("{region}")'))["result"][0][
            "expressions"][0]["value"]
    except Exception as exc:  # the formula refuses fractional hours (Rego's % on a float)
        return f"error: {type(exc).__name__}"


def _data_dir_with(tmp_path: Path, name: str, content: dict[str, Any]) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for path in DATA_DIR.glob("*.json"):
        (data / path.name).write_bytes(path.read_bytes())
    (data / f"{name}.json").write_text(json.dumps(content))
    return data


def test_window_tables_answer_as_the_formula(tmp_path: Path) -> None:
    windows = json.loads((DATA_DIR / "windows.json").read_text())
    windows["regions"]["IN"] = {"utc_offset_hours": 5.5, "start_hour": 1, "end_hour": 5}
    windows["regions"]["WR"] = {"utc_offset_hours": -3, "start_hour": 22, "end_hour": 2}  # wraps midnight
    data = load_sources(None, _data_dir_with(tmp_path, "windows", windows)).data
    assert "IN" not in data["windows"]["open_by_utc_hour"]  # fractional: left to the formula
    assert set(data["windows"]["open_by_utc_hour"]) == set(windows["regions"]) - {"IN"}
    plain = {**data, "windows": {k: v for k, v in data["windows"].items()
                                 if k not in ("open_by_utc_hour", "fallback_open_by_utc_hour")}}
    with_tables, formula_only = _interpreter(data), _interpreter(plain)
    regions = [*windows["regions"], "XX"]
    for region in regions:
        for hour in range(24):
            want = _window_open(formula_only, region, hour)
            assert _window_open(with_tables, region, hour) == want, (region, hour)
            if region != "IN":
                assert isinstance(want, bool)
    assert _window_open(with_tables, "IN", 3).startswith("error")
    # Hours exactly as the data says: DE (UTC+1) opens 01:00-05:00 local = 00:00-04:00 UTC.
    assert [h for h in range(24) if _window_open(with_tables, "DE", h)] == [0, 1, 2, 3]
    assert [h for h in range(24) if _window_open(with_tables, "WR", h)] == [1, 2, 3, 4]


def test_plain_channels_are_the_permitted_non_dfs_channels() -> None:
    data = load_sources().data["regulatory"]
    for domain, bands in data["domains"].items():
        for band, table in bands.items():
            row = data["plain_channels"][domain][band]
            for channel in range(0, 300):
                want = channel in table["channels"] and channel not in table.get("dfs", [])
                assert (channel < len(row) and row[channel]) == want, (domain, band, channel)


def test_plain_channels_leave_out_what_is_not_a_channel_number(tmp_path: Path) -> None:
    regulatory = json.loads((DATA_DIR / "regulatory.json").read_text())
    regulatory["domains"]["ETSI"]["5GHz"] = {"channels": [36, "40", 44.0, -1, 48], "dfs": [48.0]}
    data = load_sources(None, _data_dir_with(tmp_path, "regulatory", regulatory)).data
    row = data["regulatory"]["plain_channels"]["ETSI"]["5GHz"]
    assert [ch for ch, plain in enumerate(row) if plain] == [36]  # 48 is DFS as 48.0 too


@pytest.mark.parametrize("steps", ["target_steps", "failed_changes_steps"])
def test_zero_based_steps_score_as_before(steps: str) -> None:
    sources = load_sources()
    risk = sources.data["risk"]
    assert risk[f"{steps}_from_zero"] == [{"min": None, "score": 0}, *risk[steps]]
    module = f"""package probe
import rego.v1
old := max(array.concat([0], [s.score | some s in data.gateward.data.risk.{steps}; input.v >= s.min]))
new := max([s.score | some s in data.gateward.data.risk.{steps}_from_zero; input.v >= s.min])
"""
    engine = regorus.Engine()
    engine.set_rego_v0(False)
    engine.add_policy("probe.rego", module)
    engine.add_data_json(sources.data_json())
    vms = []
    for rule in ("old", "new"):
        vm = regorus_native.Rvm()
        vm.load_program(regorus_native.Program.compile_from_modules(
            sources.data_json(), [("probe.rego", module)], [f"data.probe.{rule}"]))
        vm.set_data_json(sources.data_json())
        vms.append(vm)
    for value in [-5, 0, 1, 2, 3, 9, 10, 11, 99, 100, 999, 1000, 10**6, 2.5, "x", None, True]:
        payload = orjson.dumps({"v": value}).decode()
        engine.set_input_json(payload)
        old = engine.eval_rule_as_json("data.probe.old")
        assert engine.eval_rule_as_json("data.probe.new") == old, value
        for vm in vms:
            vm.set_input_json(payload)
            assert orjson.loads(vm.execute()) == orjson.loads(old), value


def test_a_derived_name_in_the_data_files_is_refused(tmp_path: Path) -> None:
    """An operator's own ``open_by_utc_hour`` would be overwritten silently: refused instead."""
    windows = json.loads((DATA_DIR / "windows.json").read_text())
    windows["open_by_utc_hour"] = {}
    with pytest.raises(PolicyLoadError, match=r"windows\.json"):
        load_sources(None, _data_dir_with(tmp_path, "windows", windows))


def test_final_three_segment_prefixes_classify_as_the_longest_prefix() -> None:
    """``param_classes.final_prefix_3`` (tried first by ``lib.path_class``) gives every path the
    class of its longest configured prefix, as the lookups by 4, 3 and 2 segments did."""
    data = load_sources().data
    index = data["param_classes"]["prefix_index"]
    plain = {**data, "param_classes": {k: v for k, v in data["param_classes"].items() if k != "final_prefix_3"}}
    with_table, without = _interpreter(data), _interpreter(plain)
    paths = {"Device", "Device.X", "X.Y.Z.W", "Device.WiFi.Radio", "Device.WiFi.Radio.2.Channel"}
    for key in index:
        paths |= {key, f"{key}.1", f"{key}.1.Enable", key.rsplit(".", 1)[0] + ".Other.1"}
    for path in sorted(paths):
        query = f'data.gateward.lib.path_class(split("{path}", "."))'
        got = orjson.loads(with_table.eval_query_as_json(query))["result"][0]["expressions"][0]["value"]
        want = orjson.loads(without.eval_query_as_json(query))["result"][0]["expressions"][0]["value"]
        assert got == want, path


@pytest.mark.parametrize("operations", [[], [{"command": "download", "args": {}}]])
def test_fewest_targets_stages_as_the_plans_do(operations: list[dict[str, Any]]) -> None:
    """``rollout.fewest_targets`` (a proposal below it has no stage) gives every target count the
    stages the plans give without it, for the normal and the firmware plans."""
    data = load_sources().data
    assert data["rollout"]["fewest_targets"] == min(
        p["min_targets"] for key in ("plans", "firmware_plans") for p in data["rollout"][key])
    plain = {**data, "rollout": {k: v for k, v in data["rollout"].items() if k != "fewest_targets"}}
    with_table, without = _interpreter(data), _interpreter(plain)
    for count in [0, 1, 2, 9, 10, 11, 49, 50, 51, 199, 200, 999, 1000, 10**6]:
        payload = orjson.dumps({"proposal": {"target_count": count, "operations": operations}}).decode()
        with_table.set_input_json(payload)
        without.set_input_json(payload)
        rule = "data.gateward.rollout.stages"
        assert with_table.eval_rule_as_json(rule) == without.eval_rule_as_json(rule), count


def test_fewest_targets_is_not_derived_from_a_plan_without_a_number(tmp_path: Path) -> None:
    rollout = json.loads((DATA_DIR / "rollout.json").read_text())
    rollout["plans"][0]["min_targets"] = None  # below every number in Rego: reached by any count
    data = load_sources(None, _data_dir_with(tmp_path, "rollout", rollout)).data
    assert "fewest_targets" not in data["rollout"]
