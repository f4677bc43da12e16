"""The pydantic input models and the fast validator agree, and the samples match both."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from policies import samples as S
from policies.schema import PolicyInput
from policies.validate import InputError, check_input


def test_samples_round_trip_through_the_models() -> None:
    for _, doc in S.self_check_inputs():
        if not isinstance(doc.get("proposal"), dict):
            continue
        assert S.validated(doc) == doc
        check_input(doc)


def test_to_doc_drops_secret_facts_only_when_absent() -> None:
    doc = S.policy_input(
        changes=[S.change("Device.WiFi.Radio.2.Channel", 44), S.passphrase_change("orange-kettle-x")]
    )
    out = PolicyInput.model_validate(doc).to_doc()
    assert "secret_facts" not in out["proposal"]["changes"][0]
    assert out["proposal"]["changes"][1]["secret_facts"]["length"] == 15


def test_values_keep_their_json_type() -> None:
    doc = S.policy_input(
        changes=[
            S.change("Device.WiFi.Radio.2.AutoChannelEnable", False, "boolean"),
            S.change("Device.WiFi.Radio.2.Channel", 44),
        ]
    )
    values = [c["value"] for c in PolicyInput.model_validate(doc).to_doc()["proposal"]["changes"]]
    assert values == [False, 44] and type(values[0]) is bool and type(values[1]) is int


MUTATIONS = [
    ("proposal", "target_count", None),
    ("proposal", "author_kind", "robot"),
    ("actor", "kind", "robot"),
    ("context", "now_ns", "soon"),
    ("device", "present", "yes"),
    ("device", "compat", "purple"),
    ("device", "root", "Gateway."),
    ("change", "secret", "no"),
    ("preview", "blind", 0),
]


@pytest.mark.parametrize(("where", "key", "value"), MUTATIONS)
def test_validator_and_models_reject_the_same_documents(where: str, key: str, value: object) -> None:
    doc = copy.deepcopy(S.policy_input())
    target = {
        "proposal": doc["proposal"],
        "actor": doc["actor"],
        "context": doc["context"],
        "device": doc["devices"][0],
        "change": doc["proposal"]["changes"][0],
        "preview": doc["proposal"]["preview"],
    }[where]
    if value is None:
        del target[key]
    else:
        target[key] = value
    with pytest.raises(InputError):
        check_input(doc)
    with pytest.raises(ValidationError):
        PolicyInput.model_validate(doc)


def test_validator_names_the_field() -> None:
    doc = S.policy_input()
    doc["devices"][0]["radios"][0]["band"] = "60GHz"
    with pytest.raises(InputError, match=r"devices\[0\]\.radios\[0\]\.band must be 2.4GHz, 5GHz or 6GHz"):
        check_input(doc)
    doc = S.policy_input()
    doc["proposal"]["targets"].append("ghost")
    doc["proposal"]["target_count"] = 2
    with pytest.raises(InputError, match="no device facts for 1 target"):
        check_input(doc)


def _leaves(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    if isinstance(node, dict):
        return [path] + [p for k, v in node.items() for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [path] + [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


def test_fast_path_agrees_with_the_full_check() -> None:
    """check_input answers from a message-free fast walk when it passes; for every field of varied
    documents, removed or given a wrong type, the fast walk never passes what the full one refuses."""
    from policies import corpus
    from policies.validate import _fast_ok, _slow_check

    docs = [S.policy_input(), *corpus.varied_inputs(30, seed=3)]
    for doc in docs:
        assert _fast_ok(doc)
        _slow_check(doc)
        for path in _leaves(doc)[1:]:
            for bad in (None, "x", -1, True, 1.5, [], {}):
                mutated = copy.deepcopy(doc)
                parent = mutated
                for key in path[:-1]:
                    parent = parent[key]
                if bad is None and isinstance(parent, dict):
                    del parent[path[-1]]
                else:
                    parent[path[-1]] = bad
                try:
                    _slow_check(mutated)
                    slow_ok = True
                except InputError:
                    slow_ok = False
                if _fast_ok(mutated):
                    assert slow_ok, (path, bad)


def test_fast_path_never_passes_look_alike_types_the_full_check_refuses() -> None:
    """The compiled fast path (pydantic-core, strict) next to the walk on values of nearby types:
    subclasses and big integers the walk accepts, tuples, mappings, floats and bools in integer
    fields it refuses. The fast path may refuse more (the walk then decides), never pass more."""
    import types

    from policies.validate import _fast_ok, _slow_check

    class Text(str):
        pass

    class Count(int):
        pass

    class Doc(dict):  # type: ignore[type-arg]
        pass

    def variant(path: tuple, value: object) -> dict:
        doc = S.policy_input(changes=[S.passphrase_change("correct horse battery")])
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
        return doc

    preview = S.policy_input()["proposal"]["preview"]
    cases = [
        (("proposal", "id"), Text("p")), (("proposal", "target_count"), Count(1)),
        (("devices", 0, "reboots_24h"), 2**70), (("proposal", "preview"), Doc(preview)),
        (("proposal", "targets"), ("dev-1",)), (("proposal", "preview"), types.MappingProxyType(preview)),
        (("proposal", "emergency"), 0), (("proposal", "target_count"), 1.0), (("proposal", "target_count"), True),
        (("proposal", "changes", 0, "value"), None), (("proposal", "changes", 0, "secret_facts"), None),
        (("proposal", "changes", 0, "secret_facts", "length"), True), (("devices", 0, "compat"), Text("red")),
        (("devices", 0, "radios", 0, "band"), "2.4GHZ"), (("actor", "roles"), ["support_agent", 1]),
        (("context", "now_ns"), 1.5), (("proposal", "target_count"), 0),
    ]
    for path, value in cases:
        doc = variant(path, value)
        try:
            _slow_check(doc)
            slow_ok = True
        except InputError:
            slow_ok = False
        if _fast_ok(doc):
            assert slow_ok, (path, value)
        try:
            check_input(doc)
            assert slow_ok, (path, value)
        except InputError:
            assert not slow_ok, (path, value)
