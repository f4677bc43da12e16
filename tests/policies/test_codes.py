"""Policy speaks in codes: rewording every message of the pack changes no behaviour.

A copy of the pack has every message rewritten (each ``sprintf`` format and each literal
``"message"``); both packs decide the same documents, and every Python consumer of a decision —
the campaign plan (stages, halt, windows), remediation's window-only check, the fleet merge —
must come out the same. If a consumer read the text, the rewording would change its answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from brain.remediation.runner import window_only
from campaigns import obligations
from core.kernel.models import Decision, PolicyItem
from policies import samples
from policies.classes import decide_fleet
from policies.engine import EmbeddedRegoEngine
from policies.loader import RULES_DIR

MARK = "REWORDED~"
_MESSAGE = re.compile(r'(sprintf\(|"message": )"((?:[^"\\]|\\.)*)"')


def _reword(text: str) -> str:
    """Same verbs, other words: a prefix, and no space or colon left for a consumer to match on."""
    def one(m: re.Match[str]) -> str:
        return f'{m.group(1)}"{MARK}{m.group(2).replace(" ", "~").replace(":", "=")}"'
    return _MESSAGE.sub(one, text)


@pytest.fixture(scope="module")
def reworded(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedRegoEngine:
    rules = tmp_path_factory.mktemp("reworded") / "rego"
    rules.mkdir()
    changed = 0
    for path in sorted(RULES_DIR.glob("*.rego")):
        text = path.read_text(encoding="utf-8")
        if not path.name.endswith("_test.rego"):
            new = _reword(text)
            changed += new != text
            text = new
        (rules / path.name).write_text(text, encoding="utf-8")
    assert changed >= 10  # every rule set has messages
    return EmbeddedRegoEngine(rules_dir=rules)


def _fleet(n: int, regions: tuple[str, ...], **kw: Any) -> dict[str, Any]:
    devices = [samples.device(f"d{i}", region=regions[i % len(regions)]) for i in range(n)]
    return samples.policy_input(devices=devices, roles=["approver"], changes=[
        samples.change("Device.WiFi.Radio.2.AutoChannelEnable", False, "boolean"),
        samples.change("Device.WiFi.Radio.2.Channel", 36)], **kw)


def _corpus() -> list[tuple[str, dict[str, Any]]]:
    docs = [(name, doc) for name, doc in samples.self_check_inputs()]
    docs.append(("campaign in window", _fleet(60, ("DE", "FR"), preview={
        "exists": True, "devices_total": 60, "devices_present": 59, "blind": False})))
    docs.append(("fleet outside window", _fleet(8, ("DE",), now=samples.OUT_OF_WINDOW_NOW)))
    docs.append(("emergency outside window", _fleet(8, ("DE",), now=samples.OUT_OF_WINDOW_NOW, emergency=True)))
    docs.append(("passphrase too short", samples.policy_input(changes=[samples.passphrase_change("short")])))
    return docs


def _coded(items: list[PolicyItem]) -> list[tuple[str, str]]:
    return sorted((i.code, repr(sorted(i.params.items()))) for i in items)


def _plan(d: Decision) -> tuple[Any, ...]:
    plan = obligations.parse(d.obligation_items)
    return plan.stages, plan.has_canary, plan.max_failure_rate, sorted(plan.windows, key=repr)


def _same_behaviour(a: Decision, b: Decision) -> None:
    assert (a.allow, a.risk) == (b.allow, b.risk)
    assert _coded(a.deny_items) == _coded(b.deny_items)
    assert _coded(a.warning_items) == _coded(b.warning_items)
    assert [(r.role, _coded(r.items)) for r in a.approvals_required] == \
        [(r.role, _coded(r.items)) for r in b.approvals_required]
    rollout = ("obligation.stage", "obligation.halt")
    assert [(i.code, i.params) for i in a.obligation_items if i.code in rollout] == \
        [(i.code, i.params) for i in b.obligation_items if i.code in rollout]
    assert _coded(a.obligation_items) == _coded(b.obligation_items)
    assert _plan(a) == _plan(b)
    assert window_only(a.model_dump(mode="json")) == window_only(b.model_dump(mode="json"))


def _messages(d: Decision) -> list[str]:
    return [*d.deny, *d.obligations, *d.warnings, *(i.message for a in d.approvals_required for i in a.items)]


@pytest.mark.parametrize(("name", "doc"), _corpus(), ids=[n for n, _ in _corpus()])
def test_rewording_every_message_changes_no_decision(
    engine: EmbeddedRegoEngine, reworded: EmbeddedRegoEngine, name: str, doc: dict[str, Any]
) -> None:
    before, after = engine.decide(doc), reworded.decide(doc)
    assert len(_messages(before)) == len(_messages(after))
    if name != "malformed":  # the malformed document is refused in Python, before any Rego runs
        assert all(MARK in m for m in _messages(after))
        assert not any(MARK in m for m in _messages(before))
    _same_behaviour(before, after)


def test_the_corpus_says_something_in_every_list(engine: EmbeddedRegoEngine) -> None:
    """The rewording test is only as good as what the corpus makes policy say."""
    said = [engine.decide(doc) for _, doc in _corpus()]
    assert sum(len(d.deny_items) for d in said) >= 10
    assert sum(len(d.obligation_items) for d in said) >= 8
    assert sum(len(a.items) for d in said for a in d.approvals_required) >= 5
    assert any(d.warning_items for d in said)


def test_consumers_see_what_the_corpus_is_for(engine: EmbeddedRegoEngine) -> None:
    """The corpus reaches the branches the rewording test compares (else equality is empty)."""
    docs = dict(_corpus())
    campaign = engine.decide(docs["campaign in window"])
    plan = obligations.parse(campaign.obligation_items)
    assert plan.stages == [5.0, 25.0, 100.0] and plan.has_canary and plan.max_failure_rate == 0.02
    assert sorted(w.region for w in plan.windows) == ["DE", "FR"]
    outside = engine.decide(docs["fleet outside window"])
    assert window_only(outside.model_dump(mode="json"))
    assert not window_only(engine.decide(docs["conflicts"]).model_dump(mode="json"))
    assert not obligations.parse(engine.decide(docs["emergency outside window"]).obligation_items).windows


@pytest.mark.parametrize(("name", "doc"), _corpus()[-4:-1], ids=[n for n, _ in _corpus()[-4:-1]])
def test_fleet_merge_is_code_for_code_the_same(
    engine: EmbeddedRegoEngine, reworded: EmbeddedRegoEngine, name: str, doc: dict[str, Any]
) -> None:
    _same_behaviour(decide_fleet(engine, doc).decision, decide_fleet(reworded, doc).decision)


def test_message_lists_are_the_items_messages(engine: EmbeddedRegoEngine) -> None:
    for _, doc in _corpus():
        d = engine.decide(doc)
        assert d.deny == [i.message for i in d.deny_items]
        assert d.deny_items or d.allow
        assert d.obligations == [i.message for i in d.obligation_items]
        assert d.warnings == [i.message for i in d.warning_items]
        for a in d.approvals_required:
            assert a.reason == "; ".join(i.message for i in a.items)


def test_every_code_the_pack_emits_is_documented() -> None:
    readme = (RULES_DIR.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("| code | meaning | params |", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+(?:\.[a-z_]+)+)` \|", table, re.MULTILINE))
    emitted: set[str] = set()
    for path in RULES_DIR.glob("*.rego"):
        if not path.name.endswith("_test.rego"):
            emitted |= set(re.findall(r'"code": "([a-z_.]+)"', path.read_text(encoding="utf-8")))
    engine_codes = set(re.findall(r'"(policy\.[a-z_]+)"', "".join(
        p.read_text(encoding="utf-8") for p in (RULES_DIR.parent / "engine.py", RULES_DIR.parent / "classes.py"))))
    assert emitted and engine_codes
    assert sorted((emitted | engine_codes) - documented) == []
    assert sorted(documented - emitted - engine_codes - {"policy.fail_closed"}) == []


def test_fail_closed_denials_carry_their_code(pack_copy: Callable[[], tuple[Path, Path]]) -> None:
    rules, data = pack_copy()
    (rules / "decision.rego").write_text(
        'package gateward\n\nimport rego.v1\n\ndecision := {"allow": true, "deny": [], "approvals_required": [],'
        ' "obligations": [], "warnings": []}\n')
    d = EmbeddedRegoEngine(rules, data, self_check=False).decide(samples.policy_input())
    assert not d.allow and [i.code for i in d.deny_items] == ["policy.malformed"]
    assert d.deny == [d.deny_items[0].message]
    invalid = EmbeddedRegoEngine().decide({"proposal": 1})
    assert [i.code for i in invalid.deny_items] == ["policy.input_invalid"]
