"""The pack rewritten for speed decides exactly as the pack it replaced.

``reference_pack/`` is the rule files as they were before the issue-15 rewrite (indexed lookups,
rule sets evaluated only when the input names what they judge, messages built after the
conditions). Both packs decide a seeded corpus of varied inputs (policies/corpus.py) plus the
engine's self-check inputs, with the real data and with every rule set switched to warn, dryrun
or an unknown mode, and the raw ``data.gateward.decision`` documents must be identical (lists
compared as sets where the pack emits sets, obligations in order).

When a rule's behaviour changes on purpose, the reference copy is updated with it in the same
change; it is a baseline, not a second source of truth.

The embedded engine decides on regorus's bytecode VM (policies/engine.py), which evaluates some
Rego differently from the interpreter (policies/vmcheck.py): the current pack is also decided on
the VM, and must give the interpreter's (and so the reference pack's) decision for every document.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import regorus
from regorus import regorus as regorus_native

from policies import corpus, samples
from policies.loader import CHECKED_DECISION_RULE, DATA_DIR, DECISION_RULE, load_sources

REFERENCE = Path(__file__).with_name("reference_pack")
RULE_SETS = ("change", "wifi", "mgmt", "secrets", "firmware", "rbac", "precedence")


def _engine(rules: Path | None, data: Path) -> regorus.Engine:
    sources = load_sources(rules, data)
    engine = regorus.Engine()
    engine.set_rego_v0(False)
    for name, text in sources.rules:
        engine.add_policy(name, text)
    engine.add_data_json(sources.data_json())
    return engine


def _canonical(result: dict[str, Any]) -> dict[str, Any]:
    """Sets as sorted lists of canonical JSON; obligations keep their order (plan order)."""
    def dump(x: Any) -> str:
        return json.dumps(x, sort_keys=True)

    out = dict(result)
    for key in ("deny", "warnings", "would_deny"):
        out[key] = sorted(dump(x) for x in result[key])
    out["approvals_required"] = sorted(
        dump({"role": a["role"], "items": sorted(dump(i) for i in a["items"])}) for a in result["approvals_required"]
    )
    out["obligations"] = [dump(x) for x in result["obligations"]]
    return out


class _Vm:
    """The current pack compiled for the bytecode VM, as the embedded engine runs it: at
    ``checked_decision`` (every document here passes the input check, policies/validate.py)."""

    def __init__(self, data: Path, entry: str = CHECKED_DECISION_RULE) -> None:
        sources = load_sources(None, data)
        program = regorus_native.Program.compile_from_modules(sources.data_json(), list(sources.rules), [entry])
        self.vm = regorus_native.Rvm()
        self.vm.load_program(program)
        self.vm.set_data_json(sources.data_json())

    def decide(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.vm.set_input_json(orjson.dumps(doc).decode())
        return _canonical(orjson.loads(self.vm.execute()))


def _decide(engine: regorus.Engine | _Vm, doc: dict[str, Any]) -> dict[str, Any]:
    if isinstance(engine, _Vm):
        return engine.decide(doc)
    engine.set_input_json(orjson.dumps(doc).decode())
    return _canonical(orjson.loads(engine.eval_rule_as_json(DECISION_RULE)))


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = [(f"self-check {name}", doc) for name, doc in samples.self_check_inputs() if name != "malformed"]
    docs += [(f"corpus[{i}]", doc) for i, doc in enumerate(corpus.varied_inputs(400, seed=15))]
    return docs


def _modes(tmp: Path, rule_sets: dict[str, str], default: str = "enforce") -> Path:
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    for path in DATA_DIR.glob("*.json"):
        (data / path.name).write_bytes(path.read_bytes())
    (data / "modes.json").write_text(json.dumps({"default_mode": default, "rule_sets": rule_sets}))
    return data


def _no_dfs(tmp: Path) -> Path:
    """The shipped data with DFS disallowed in FR and GB (no shipped region disallows it)."""
    data = _modes(tmp, {})
    regulatory = json.loads((DATA_DIR / "regulatory.json").read_text())
    for region in ("FR", "GB"):
        regulatory["regions"][region]["dfs_allowed"] = False
    (data / "regulatory.json").write_text(json.dumps(regulatory))
    return data


MODES: dict[str, Callable[[Path], Path]] = {
    "shipped data": lambda _tmp: DATA_DIR,
    "DFS disallowed in FR and GB": _no_dfs,
    "mixed modes": lambda tmp: _modes(tmp, {"wifi": "warn", "rbac": "dryrun", "change": "enforce",
                                            "secrets": "warn", "firmware": "dryrun", "precedence": "bogus"}),
    "all warn by default": lambda tmp: _modes(tmp, {}, default="warn"),
    "all dryrun, one unknown": lambda tmp: _modes(tmp, {**{r: "dryrun" for r in RULE_SETS}, "mgmt": "Enforce"}),
}


def test_corpus_reaches_every_code(tmp_path: Path) -> None:
    """The corpus is only a proof if it makes every rule fire: collect the codes it produces."""
    engine = _engine(None, _no_dfs(tmp_path))
    codes: set[str] = set()
    for _, doc in _documents():
        result = _decide(engine, doc)
        for key in ("deny", "warnings", "obligations"):
            codes |= {json.loads(x)["code"] for x in result[key]}
        for approval in result["approvals_required"]:
            codes |= {json.loads(i)["code"] for i in json.loads(approval)["items"]}
    expected = {
        "change.preview_missing", "change.blind_bulk", "change.preview_incomplete", "change.targets_offline",
        "change.preview_stale", "change.too_many_targets", "window.closed", "change.automation_emergency",
        "change.not_restorable", "change.presence_unconfirmed", "change.blind_preview", "change.empty",
        "rbac.may_not_propose", "rbac.separation_of_duties", "rbac.operation_not_permitted",
        "rbac.class_not_permitted", "mgmt.automation_forbidden", "secrets.role_forbidden",
        "secrets.not_marked_secret", "secrets.unredacted", "secrets.no_facts", "secrets.too_short",
        "secrets.too_long", "secrets.contains_ssid", "secrets.common_password", "firmware.compat_red",
        "firmware.reboot_limit", "firmware.url_not_approved", "precedence.live_proposal", "precedence.profile",
        "precedence.duplicate_path", "wifi.no_radio", "wifi.no_regulatory_table", "wifi.channel_not_number",
        "wifi.channel_not_permitted", "wifi.dfs_not_allowed", "wifi.bandwidth_invalid",
        "wifi.power_out_of_range", "wifi.auto_channel_on", "wifi.auto_channel_conflict",
        "approval.emergency_outside_window", "approval.secret_change", "approval.rollback_request",
        "approval.mgmt_change",
        "approval.compat_yellow", "approval.dfs_channel", "approval.risk", "approval.outside_catalogue",
        "obligation.stage", "obligation.halt", "obligation.window", "obligation.presence",
    }
    assert expected - codes == set()


# The fast tier (make test) keeps one data variant of each sweep and the mixed modes; every other
# variant runs in the full tier (make test-all, CI): each is 10-20 s of regorus on 2 cores.
FAST = ("shipped data", "mixed modes")


def _variants(names: list[str], fast: tuple[str, ...] = FAST) -> list[Any]:
    return [pytest.param(n, marks=() if n in fast else pytest.mark.slow) for n in names]


@pytest.mark.parametrize("modes", _variants(list(MODES)))
def test_rewritten_pack_decides_like_the_reference(modes: str, tmp_path: Path) -> None:
    data = MODES[modes](tmp_path)
    reference, current, vm = _engine(REFERENCE, data), _engine(None, data), _Vm(data)
    differing = []
    for name, doc in _documents():
        want = _decide(reference, doc)
        for engine, label in ((current, "interpreter"), (vm, "VM")):
            got = _decide(engine, doc)
            if want != got:
                fields = sorted(k for k in want if want[k] != got.get(k))
                differing.append(f"{name} ({label}): {fields}")
    assert differing == []


def test_malformed_input_decides_like_the_reference() -> None:
    reference, current, vm = _engine(REFERENCE, DATA_DIR), _engine(None, DATA_DIR), _Vm(DATA_DIR, DECISION_RULE)
    malformed: list[dict[str, Any]] = [
        {"proposal": 1}, {}, {"proposal": {}, "actor": {}, "context": {}, "devices": {}},
        {"proposal": {"targets": [], "changes": [], "operations": [], "preview": 1, "target_count": "x"},
         "actor": {}, "context": {}, "devices": []},
    ]
    for doc in malformed:
        assert _decide(reference, doc) == _decide(current, doc) == _decide(vm, doc)
        assert _decide(current, doc)["allow"] is False


@pytest.mark.parametrize("variant", _variants(["shipped data", "DFS disallowed in FR and GB", "mixed modes"],
                                              fast=("shipped data",)))
def test_vm_decides_like_the_interpreter_on_a_wider_corpus(variant: str, tmp_path: Path) -> None:
    """The bytecode VM against the interpreter (the semantics OPA and the Rego tests use) on 1,500
    more documents from other seeds: the VM's known divergences are checked statically
    (policies/vmcheck.py), and this sweep is what would show an unknown one."""
    data = MODES[variant](tmp_path)
    interpreter, vm = _engine(None, data), _Vm(data)
    differing = []
    for seed in (101, 202, 303):
        for i, doc in enumerate(corpus.varied_inputs(500, seed=seed)):
            want, got = _decide(interpreter, doc), _decide(vm, doc)
            if want != got:
                differing.append(f"seed {seed} [{i}]: {sorted(k for k in want if want[k] != got.get(k))}")
    assert differing == []


# Rule sets the decision reads only when their `touched` rule holds (decision.rego): touched false
# must mean that no rule of the set fires. wifi's touched is the narrowest (a radio change that is
# not a plain Channel change), so this is checked rule set by rule set on the interpreter, over
# the corpus and under the data variants, not only through the decisions above; and so is
# change.rego's gate of its preview denials (preview_sound).
GATED = ("wifi", "secrets", "firmware", "precedence")


@pytest.mark.parametrize("modes", ["shipped data", "DFS disallowed in FR and GB"])
def test_untouched_rule_sets_have_nothing_to_say(modes: str, tmp_path: Path) -> None:
    engine = _engine(None, MODES[modes](tmp_path))
    wrong = []
    touched = dict.fromkeys(GATED, 0)
    for name, doc in _documents():
        engine.set_input_json(orjson.dumps(doc).decode())
        for rule_set in GATED:
            if orjson.loads(engine.eval_rule_as_json(f"data.gateward.{rule_set}.touched")) is True:
                touched[rule_set] += 1
                continue
            for part in ("deny", "approvals"):
                raw = orjson.loads(engine.eval_query_as_json(f"data.gateward.{rule_set}.{part}"))
                values = [e["value"] for row in raw.get("result", []) for e in row["expressions"]]
                if any(values):
                    wrong.append(f"{name}: {rule_set}.{part} = {values} while not touched")
        # change.rego's preview gate: a sound preview leaves no preview denial out.
        if orjson.loads(engine.eval_rule_as_json("data.gateward.change.preview_sound")) is True:
            raw = orjson.loads(engine.eval_query_as_json("data.gateward.change.preview_deny"))
            if any(e["value"] for row in raw.get("result", []) for e in row["expressions"]):
                wrong.append(f"{name}: change.preview_deny while preview_sound")
    assert wrong == []
    assert all(n > 20 for n in touched.values()), touched  # the corpus reaches every set


def test_the_input_check_implies_the_packs_shape_check() -> None:
    """The engine evaluates checked_decision, which skips gateward.input.ok, only for documents
    that passed check_input: every document that passes it must be one input.ok accepts."""
    from policies.validate import InputError, check_input

    engine = _engine(None, DATA_DIR)
    docs = [doc for _, doc in _documents()]
    docs += [{**doc, section: value} for doc in docs[:20] for section in ("proposal", "actor", "context", "devices")
             for value in (None, 1, [], {})]
    fields = ("targets", "changes", "operations", "preview", "target_count")
    docs += [{**doc, "proposal": {**doc["proposal"], key: value}} for doc in docs[:20]
             for key in fields for value in (None, "1", {}, [])]
    passed = 0
    for doc in docs:
        try:
            check_input(doc)
        except InputError:
            continue
        passed += 1
        engine.set_input_json(orjson.dumps(doc).decode())
        assert engine.eval_rule_as_json("data.gateward.input.ok") == "true"
    assert passed >= 400
