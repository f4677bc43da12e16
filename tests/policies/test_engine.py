"""Engine contract: fail closed on every kind of failure, strict result shape, revision, threads."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
import regorus

from core.kernel.models import Decision
from policies import samples
from policies.engine import (
    EmbeddedRegoEngine,
    MalformedDecision,
    OpaServerEngine,
    PolicyLoadError,
    load_engine,
    parse_decision,
)
from policies.loader import CHECKED_DECISION_RULE, DECISION_RULE, load_sources

GOOD = {"allow": True, "deny": [], "approvals_required": [], "risk": 0.1, "obligations": [], "warnings": []}


def _pack(tmp_path: Path, rego: str, data: dict | None = None) -> tuple[Path, Path]:
    rules, data_dir = tmp_path / "rego", tmp_path / "data"
    rules.mkdir()
    data_dir.mkdir()
    (rules / "decision.rego").write_text(rego)
    for name, value in (data or {}).items():
        (data_dir / f"{name}.json").write_text(json.dumps(value))
    return rules, data_dir


def test_syntax_error_is_a_load_error_naming_the_file(pack_copy) -> None:
    rules, data = pack_copy()
    (rules / "wifi.rego").write_text((rules / "wifi.rego").read_text() + "\ndeny contains msg if {\n")
    with pytest.raises(PolicyLoadError) as err:
        EmbeddedRegoEngine(rules, data)
    assert err.value.file == "wifi.rego"
    assert "Stack backtrace" not in str(err.value)


def test_malformed_data_is_a_load_error_naming_the_file(pack_copy) -> None:
    rules, data = pack_copy()
    (data / "limits.json").write_text('{"reboots": ')
    with pytest.raises(PolicyLoadError) as err:
        EmbeddedRegoEngine(rules, data)
    assert err.value.file == "limits.json"
    assert "malformed JSON" in err.value.message


def test_missing_function_surfaces_at_load_via_self_check(pack_copy) -> None:
    rules, data = pack_copy()
    text = (
        (rules / "change.rego")
        .read_text()
        .replace("data.gateward.lib.window_text(region)", "data.gateward.lib.nope(region)")
    )
    (rules / "change.rego").write_text(text)
    with pytest.raises(PolicyLoadError) as err:
        EmbeddedRegoEngine(rules, data)
    assert err.value.file == "self-check"


def test_missing_rules_dir_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError):
        EmbeddedRegoEngine(tmp_path / "nope")


def test_undefined_decision_denies(tmp_path: Path) -> None:
    rules, data = _pack(tmp_path, "package gateward\n\nimport rego.v1\n\ndecision := {} if false\n")
    engine = EmbeddedRegoEngine(rules, data, self_check=False)
    decision = engine.decide(samples.policy_input())
    assert not decision.allow
    assert decision.deny[0].startswith("policy undefined")


def test_undefined_decision_refuses_to_start(tmp_path: Path) -> None:
    rules, data = _pack(tmp_path, "package gateward\n\nimport rego.v1\n\ndecision := {} if false\n")
    with pytest.raises(PolicyLoadError):
        EmbeddedRegoEngine(rules, data)


@pytest.mark.parametrize(
    ("result", "field"),
    [
        ({k: v for k, v in GOOD.items() if k != "risk"}, "'risk' is missing"),
        ({**GOOD, "allow": "yes"}, "'allow' must be a boolean"),
        ({**GOOD, "deny": "no"}, "'deny' must be a list"),
        ({**GOOD, "deny": [1]}, "'deny'[0] must be an object"),
        ({**GOOD, "deny": ["x"]}, "'deny'[0] must be an object"),  # the old message-only shape
        ({**GOOD, "allow": False, "deny": [{"message": "m", "params": {}}]}, "'deny'[0].code must be a non-empty"),
        ({**GOOD, "allow": False, "deny": [{"code": "c", "message": 1}]}, "'deny'[0].message must be a string"),
        ({**GOOD, "allow": False, "deny": [{"code": "c", "message": "m", "params": []}]},
         "'deny'[0].params must be an"),
        ({**GOOD, "approvals_required": [{"role": "approver", "items": [{"code": "c"}]}]},
         "'approvals_required'[0]: field 'items'[0].message must be a string"),
        ({**GOOD, "risk": True}, "'risk' must be a number"),
        ({**GOOD, "risk": 1.5}, "'risk' must be within 0..1"),
        ({**GOOD, "approvals_required": [{"role": "approver"}]}, "field 'items' is missing"),
        ({**GOOD, "obligations": None}, "'obligations' must be a list"),
        ({**GOOD, "deny": [{"code": "c", "message": "m", "params": {}}]}, "'allow' is true while 'deny' lists reasons"),
        ([], "expected an object"),
    ],
)
def test_parse_decision_is_strict(result: object, field: str) -> None:
    with pytest.raises(MalformedDecision, match=field.replace("(", r"\(").replace("[", r"\[")):
        parse_decision(result)


def test_malformed_decision_from_rules_denies_naming_the_field(tmp_path: Path) -> None:
    rego = (
        "package gateward\n\nimport rego.v1\n\n"
        'decision := {"allow": true, "deny": [], "approvals_required": [],'
        ' "obligations": [], "warnings": []}\n'
    )
    rules, data = _pack(tmp_path, rego)
    engine = EmbeddedRegoEngine(rules, data, self_check=False)
    decision = engine.decide(samples.policy_input())
    assert decision == Decision.fail_closed("policy returned a malformed decision: field 'risk' is missing",
                                            "policy.malformed")


def test_evaluation_error_denies(tmp_path: Path) -> None:
    rego = (
        "package gateward\n\nimport rego.v1\n\n"
        'decision := {"allow": startswith(input.proposal.target_count, "x")}\n'
    )
    rules, data = _pack(tmp_path, rego)
    engine = EmbeddedRegoEngine(rules, data, self_check=False)
    decision = engine.decide(samples.policy_input())
    assert not decision.allow and decision.deny[0].startswith("policy error")


def test_timeout_denies(tmp_path: Path) -> None:
    rego = (
        "package gateward\n\nimport rego.v1\n\n"
        "spin := count([x | some x in numbers.range(1, 300000); x > 0])\n"
        'decision := {"allow": spin > 0, "deny": [], "approvals_required": [], "risk": 0, '
        '"obligations": [], "warnings": []}\n'
    )
    rules, data = _pack(tmp_path, rego)
    slow = EmbeddedRegoEngine(rules, data, timeout_ms=1, self_check=False)
    decision = slow.decide(samples.policy_input())
    assert not decision.allow and decision.deny[0].startswith("policy timeout")
    relaxed = EmbeddedRegoEngine(rules, data, timeout_ms=60_000, self_check=False)
    assert relaxed.decide(samples.policy_input()).allow


def test_invalid_input_denies_naming_the_field(engine: EmbeddedRegoEngine) -> None:
    doc = samples.policy_input()
    del doc["proposal"]["target_count"]
    decision = engine.decide(doc)
    assert decision.deny == ["policy input invalid: proposal.target_count is missing"]
    doc = samples.policy_input()
    doc["devices"][0]["present"] = 1
    assert engine.decide(doc).deny == ["policy input invalid: devices[0].present must be a boolean"]


def test_non_json_input_denies(engine: EmbeddedRegoEngine) -> None:
    doc = samples.policy_input()
    doc["proposal"]["changes"][0]["value"] = object()
    assert not engine.decide(doc).allow


def test_bool_input_stays_bool(engine: EmbeddedRegoEngine) -> None:
    """Regression for the celine-regorus set_input(dict) bug: False became 0.0."""
    device = samples.device(
        radios=[{"index": 2, "band": "5GHz", "channel": 36, "auto_channel": True, "bandwidth": "80MHz"}]
    )
    doc = samples.policy_input(
        devices=[device],
        changes=[
            samples.change("Device.WiFi.Radio.2.Channel", 44),
            samples.change("Device.WiFi.Radio.2.AutoChannelEnable", False, "boolean"),
        ],
    )
    assert engine.decide(doc).allow
    assert engine.evaluate("data.gateward.wifi.auto_disabled", orjson.dumps(doc).decode()) == [2]
    # The bug the JSON path avoids: through set_input(dict) the same false is no longer false.
    raw = regorus.Engine()
    raw.add_policy("p.rego", "package p\n\nimport rego.v1\n\nr if input.v == false\n")
    raw.set_input({"v": False})
    buggy = raw.eval_rule("data.p.r")
    raw.set_input_json('{"v": false}')
    assert raw.eval_rule("data.p.r") is True
    assert buggy in (None, True)  # documents the binding's behaviour without depending on its fix


def test_revision_is_stable_and_tracks_rules_and_data(pack_copy) -> None:
    rules, data = pack_copy()
    first = load_sources(rules, data).revision
    assert first == load_sources(rules, data).revision
    (data / "limits.json").write_text(
        (data / "limits.json").read_text().replace('"max_per_24h": 2', '"max_per_24h": 3')
    )
    second = load_sources(rules, data).revision
    assert second != first
    with (rules / "rollout.rego").open("a") as fh:
        fh.write("\n# comment\n")
    assert load_sources(rules, data).revision not in (first, second)
    # Test files are not part of the revision.
    third = load_sources(rules, data).revision
    (rules / "rollout_test.rego").write_text((rules / "rollout_test.rego").read_text() + "\n")
    assert load_sources(rules, data).revision == third


def test_data_change_needs_no_code_change(pack_copy) -> None:
    rules, data = pack_copy()
    doc = samples.policy_input(changes=[samples.change("Device.WiFi.Radio.1.Channel", 13)])
    assert EmbeddedRegoEngine(rules, data).decide(doc).allow
    reg = json.loads((data / "regulatory.json").read_text())
    reg["regions"]["DE"] = {"domain": "FCC", "dfs_allowed": True}
    (data / "regulatory.json").write_text(json.dumps(reg))
    decision = EmbeddedRegoEngine(rules, data).decide(doc)
    assert decision.deny == ["wifi: channel 13 is not permitted on the 2.4GHz band in DE (FCC)"]


def test_threads_get_their_own_engine(engine: EmbeddedRegoEngine) -> None:
    doc = samples.policy_input()
    expected = engine.decide(doc)
    results: list[Decision] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(engine.decide(doc))
        except BaseException as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [expected] * 20


def test_load_engine_picks_opa_when_configured() -> None:
    assert isinstance(load_engine(SimpleNamespace(opa_url=None, policy_timeout_ms=500)), EmbeddedRegoEngine)
    opa = load_engine(SimpleNamespace(opa_url="http://127.0.0.1:8181", policy_timeout_ms=250))
    assert isinstance(opa, OpaServerEngine) and opa.timeout_ms == 250
    assert opa.revision == EmbeddedRegoEngine().revision


def test_opa_url_must_be_a_base_url() -> None:
    with pytest.raises(ValueError):
        OpaServerEngine("http://127.0.0.1:8181/v1/data")
    with pytest.raises(ValueError):
        OpaServerEngine("opa:8181")


def test_decide_accepts_a_policy_input_model(engine: EmbeddedRegoEngine) -> None:
    from policies.schema import PolicyInput

    model = PolicyInput.model_validate(samples.policy_input())
    assert engine.decide_detailed(model) == engine.decide_detailed(samples.policy_input())


def test_fast_construct_builds_what_model_construct_builds() -> None:
    """policies.items.construct skips model_construct's per-field loop on the hot path; the
    models it builds must be indistinguishable (equality, repr, fields set, dump)."""
    from core.kernel.models import ApprovalRequirement, PolicyItem
    from policies.items import construct

    item = {"code": "c", "message": "m", "params": {"a": 1}}
    cases = [
        (PolicyItem, item),
        (PolicyItem, {"message": "m", "params": {}, "code": "c"}),  # another order
        (ApprovalRequirement, {"role": "approver", "reason": "m", "items": [PolicyItem(**item)]}),
        (Decision, {"allow": True, "deny": [], "approvals_required": [], "risk": 0.1, "obligations": [],
                    "warnings": [], "deny_items": [], "obligation_items": [], "warning_items": []}),
        (Decision, {"allow": False, "deny": ["x"]}),  # not every field: model_construct's defaults
    ]
    for cls, values in cases:
        fast, slow = construct(cls, **dict(values)), cls.model_construct(**dict(values))
        assert fast == slow and repr(fast) == repr(slow)
        assert fast.model_fields_set == slow.model_fields_set
        assert fast.model_dump() == slow.model_dump()


def test_the_shipped_pack_decides_on_the_vm_like_the_interpreter() -> None:
    from policies import corpus

    vm, interpreter = EmbeddedRegoEngine(), EmbeddedRegoEngine(evaluator="interpreter")
    assert (vm.evaluator, interpreter.evaluator) == ("vm", "interpreter")
    for doc in [samples.policy_input(), *corpus.varied_inputs(60, seed=7)]:
        assert vm.decide_detailed(doc) == interpreter.decide_detailed(doc)


def test_a_large_document_is_decided_by_the_interpreter() -> None:
    """Past VM_MAX_INPUT_BYTES the VM's fixed instruction budget would run out: same decision."""
    from policies.engine import VM_MAX_INPUT_BYTES

    devices = [samples.device(f"d{i}", region=("DE", "FR")[i % 2]) for i in range(80)]
    doc = samples.policy_input(devices=devices, roles=["approver"])
    assert len(orjson.dumps(doc)) > VM_MAX_INPUT_BYTES
    vm, interpreter = EmbeddedRegoEngine(), EmbeddedRegoEngine(evaluator="interpreter")
    assert vm.decide_detailed(doc) == interpreter.decide_detailed(doc)


def test_a_vm_failure_falls_back_to_the_interpreter(tmp_path: Path) -> None:
    """The VM stops after 25,000 instructions; the interpreter, which has no such budget, decides."""
    rego = (
        "package gateward\n\nimport rego.v1\n\n"
        "spin := count([x | some x in numbers.range(1, 30000); x > 0])\n"
        'decision := {"allow": spin > 0, "deny": [], "approvals_required": [], "risk": 0, '
        '"obligations": [], "warnings": []}\n'
    )
    rules, data = _pack(tmp_path, rego)
    engine = EmbeddedRegoEngine(rules, data, timeout_ms=60_000, self_check=False)
    assert engine.evaluator == "vm"
    assert engine.decide(samples.policy_input()).allow


def test_a_pack_the_vm_cannot_compile_runs_on_the_interpreter(tmp_path: Path) -> None:
    rego = (
        "package gateward\n\nimport rego.v1\n\n"
        "default fallback := 7\n"
        'decision := {"allow": fallback == 7, "deny": [], "approvals_required": [], "risk": 0, '
        '"obligations": [], "warnings": []}\n'
    )
    rules, data = _pack(tmp_path, rego)
    engine = EmbeddedRegoEngine(rules, data, self_check=False)
    assert engine.evaluator == "interpreter"  # the 0.9.1 VM compiler refuses default-only rules
    assert engine.decide(samples.policy_input()).allow


def test_load_engine_evaluator(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = SimpleNamespace(opa_url=None, policy_timeout_ms=500)
    assert load_engine(settings).evaluator == "vm"
    monkeypatch.setenv("GATEWARD_POLICY_EVALUATOR", "interpreter")
    assert load_engine(settings).evaluator == "interpreter"
    monkeypatch.setenv("GATEWARD_POLICY_EVALUATOR", "fast")
    with pytest.raises(ValueError):
        load_engine(settings)


def test_an_undefined_element_from_the_vm_is_decided_by_the_interpreter(tmp_path: Path) -> None:
    """A head reading something undefined: the regorus 0.9.1 VM adds an "<undefined>" element
    (a malformed decision), the interpreter adds nothing. The engine takes the interpreter's."""
    rego = (
        "package gateward\n\nimport rego.v1\n\n"
        'odd contains {"code": "x", "message": "m", "params": {"p": input.missing}} if true\n'
        'decision := {"allow": true, "deny": odd, "approvals_required": [], "risk": 0, '
        '"obligations": [], "warnings": []}\n'
    )
    rules, data = _pack(tmp_path, rego)
    engine = EmbeddedRegoEngine(rules, data, self_check=False)
    assert engine.evaluator == "vm"
    assert engine._vm_decision(orjson.dumps(samples.policy_input()).decode())["deny"] == ["<undefined>"]
    assert engine.decide(samples.policy_input()).allow


def test_the_vm_evaluates_the_checked_decision(engine: EmbeddedRegoEngine) -> None:
    """The input check runs in Python before every evaluation, so the VM evaluates
    checked_decision (no second, coarse shape check in Rego)."""
    assert (engine.evaluator, engine.vm_entry_point) == ("vm", CHECKED_DECISION_RULE)
    payload = orjson.dumps(samples.policy_input()).decode()
    assert engine._vm_decision(payload) == engine.evaluate(DECISION_RULE, payload)


def test_a_pack_without_checked_decision_runs_its_decision_on_the_vm(tmp_path: Path) -> None:
    rego = (
        "package gateward\n\nimport rego.v1\n\n"
        'decision := {"allow": input.actor.kind == "human", "deny": [], "approvals_required": [], "risk": 0, '
        '"obligations": [], "warnings": []}\n'
    )
    rules, data = _pack(tmp_path, rego)
    engine = EmbeddedRegoEngine(rules, data, self_check=False)
    assert (engine.evaluator, engine.vm_entry_point) == ("vm", DECISION_RULE)
    assert engine.decide(samples.policy_input()).allow


def test_the_vm_never_sees_a_document_the_input_check_refuses(engine: EmbeddedRegoEngine) -> None:
    """checked_decision skips the pack's shape check: a malformed document must be denied by the
    input check before it (and the malformed self-check input is not compared on the VM)."""
    calls: list[str] = []
    original = engine._vm_decision
    engine._vm_decision = lambda payload: calls.append(payload) or original(payload)  # type: ignore[method-assign]
    try:
        decision = engine.decide({"proposal": 1})
    finally:
        del engine._vm_decision
    assert calls == [] and not decision.allow
    assert [i.code for i in decision.deny_items] == ["policy.input_invalid"]


def test_a_plain_allow_parses_like_the_general_parse() -> None:
    from policies.engine import _parse_decision, _plain_allow

    plain = {**GOOD, "would_deny": []}
    for result in (plain, {**plain, "risk": 0}, {**plain, "risk": 1}, {**plain, "extra": 1}):
        assert _plain_allow(result) == _parse_decision(result)
    item = {"code": "c", "message": "m", "params": {}}
    for other in (GOOD, {**plain, "risk": float("nan")}, {**plain, "risk": 1.5}, {**plain, "risk": True},
                  {**plain, "risk": "0.1"}, {**plain, "allow": False}, {**plain, "allow": 1},
                  {**plain, "warnings": [item]}, {**plain, "deny": ()}, {**plain, "approvals_required": None}, []):
        assert _plain_allow(other) is None


def test_an_engine_collected_on_another_thread_frees_each_thread_s_objects_on_that_thread(
        engine: EmbeddedRegoEngine) -> None:
    """regorus objects may be freed only on the thread that made them. An engine used on a
    long-lived worker thread, then dropped and collected on this one: nothing is freed here (pyo3
    would leak it and report "unsendable, but is being dropped on another thread"); the worker's
    objects go the next time that thread decides, there."""
    import gc
    import queue
    import sys
    import weakref

    from policies import engine as engine_module

    doc = samples.policy_input()
    expected = engine.decide(doc)
    unraisable: list[object] = []
    jobs: queue.Queue[Callable[[], object] | None] = queue.Queue()
    answers: queue.Queue[object] = queue.Queue()

    def worker() -> None:  # a web server's thread: it outlives the engines it used
        while (job := jobs.get()) is not None:
            answers.put(job())

    def on_worker(fn: Callable[[], object]) -> object:
        jobs.put(fn)
        return answers.get(timeout=120)

    t = threading.Thread(target=worker)
    t.start()
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: unraisable.append(u.exc_value)
    try:
        doomed = [EmbeddedRegoEngine()]
        assert on_worker(lambda: doomed[0].decide(doc)) == expected
        token = getattr(doomed[0], "_token", None)
        gone = weakref.ref(doomed[0])
        doomed.clear()
        gc.collect()
        assert gone() is None
        assert unraisable == [], unraisable
        assert token not in engine_module._LIVE
        # the worker still holds its objects until it next looks: then they are freed there
        assert on_worker(lambda: token in engine_module._PER_THREAD.slots) is True
        assert on_worker(lambda: engine.decide(doc)) == expected
        assert on_worker(lambda: token in engine_module._PER_THREAD.slots) is False
        assert unraisable == [], unraisable
    finally:
        sys.unraisablehook = old_hook
        jobs.put(None)
        t.join()
