"""Fleet scale: class evaluation equals per-device evaluation (hypothesis), and the key is complete."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import samples as S
from policies.classes import Buckets, class_doc, decide_fleet, device_key, merge_decisions
from policies.engine import EmbeddedRegoEngine
from policies.loader import RULES_DIR, rule_files

# What is compared is what policy says, not how fast: a machine stalled for half a second under
# other load (seen once in CI: a 1,994 ms evaluation) would turn one side into a timeout deny.
_engine = EmbeddedRegoEngine(timeout_ms=60_000)
_buckets = Buckets.from_data(_engine.policy_data)

radio_sets = st.sampled_from(
    [
        [
            {"index": 1, "band": "2.4GHz", "channel": 6, "auto_channel": False, "bandwidth": "20MHz"},
            {"index": 2, "band": "5GHz", "channel": 36, "auto_channel": False, "bandwidth": "80MHz"},
        ],
        [
            {"index": 1, "band": "2.4GHz", "channel": 1, "auto_channel": True, "bandwidth": "40MHz"},
            {"index": 2, "band": "5GHz", "channel": 100, "auto_channel": True, "bandwidth": "160MHz"},
        ],
        [{"index": 1, "band": "2.4GHz", "channel": 11, "auto_channel": False, "bandwidth": "20MHz"}],
    ]
)

device_facts = st.fixed_dictionaries(
    {
        "vendor_model": st.sampled_from(
            [("AVM", "FRITZ!Box 7590"), ("Sagemcom", "F@st 5866T"), ("Technicolor", "CGA4233")]
        ),
        "firmware": st.sampled_from(["7.57", "7.29", "SG5866T-4.2.1", "20.3.c.0317"]),
        "region": st.sampled_from(["DE", "GB", "US", "ZZ"]),
        "compat": st.sampled_from([None, None, "green", "yellow", "red"]),
        "present": st.booleans(),
        "reboots_24h": st.integers(0, 4),
        "failed_changes_7d": st.integers(0, 6),
        "radios": radio_sets,
        "ssid": st.sampled_from(["A", "B", "FlatFourB"]),
    }
)

proposals = st.sampled_from(["channel", "dfs", "reboot", "reset", "mgmt", "passphrase", "conflict"])


def _doc(kind: str, facts: list[dict], roles: list[str], outside: bool, count_factor: int) -> dict:
    devices = []
    for i, f in enumerate(facts):
        vendor, model = f["vendor_model"]
        devices.append(
            S.device(
                f"dev-{i}",
                vendor=vendor,
                model=model,
                firmware=f["firmware"],
                region=f["region"],
                compat=f["compat"],
                present=f["present"],
                reboots_24h=f["reboots_24h"],
                failed_changes_7d=f["failed_changes_7d"],
                radios=f["radios"],
                ssids=[{"index": 1, "ssid": f["ssid"]}],
            )
        )
    changes: list[dict] = []
    ops: list[dict] = []
    live: list[dict] = []
    if kind in ("channel", "conflict"):
        changes = [S.change("Device.WiFi.Radio.2.Channel", 44)]
    elif kind == "dfs":
        changes = [S.change("Device.WiFi.Radio.2.Channel", 100)]
    elif kind == "reboot":
        ops = [{"command": "reboot", "args": {}}]
    elif kind == "reset":
        ops = [{"command": "factory_reset", "args": {}}]
    elif kind == "mgmt":
        changes = [S.change("Device.ManagementServer.URL", "https://acs", "string")]
    else:
        changes = [S.passphrase_change("orange-kettle-harbour")]
    if kind == "conflict":
        live = [
            {
                "id": "p2",
                "author": "bob",
                "targets": [d["id"] for d in devices[::2]],
                "changes": [{"path": "Device.WiFi.Radio.2.Channel", "value": 36}],
            }
        ]
    return S.policy_input(
        devices=devices,
        changes=changes,
        operations=ops,
        roles=roles,
        now=S.OUT_OF_WINDOW_NOW if outside else S.IN_WINDOW_NOW,
        target_count=len(devices) * count_factor,
        live_proposals=live,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=proposals,
    facts=st.lists(device_facts, min_size=1, max_size=12),
    roles=st.sampled_from([["support_agent"], ["approver"], ["senior_approver"]]),
    outside=st.booleans(),
    count_factor=st.sampled_from([1, 100]),
)
def test_class_results_equal_per_device_results(kind, facts, roles, outside, count_factor) -> None:
    doc = _doc(kind, facts, roles, outside, count_factor)
    fleet = decide_fleet(_engine, doc)
    per_device = {d["id"]: _engine.decide_detailed(class_doc(doc, d)) for d in doc["devices"]}
    for device_id, (decision, would) in per_device.items():
        cls = fleet.classes[fleet.by_device[device_id]]
        assert cls.decision == decision, device_id
        assert cls.would_deny == would
    merged, _ = merge_decisions([d for d, _ in per_device.values()])
    assert fleet.decision == merged
    assert fleet.evaluations <= len(doc["devices"])


def test_classes_collapse_a_uniform_fleet() -> None:
    devices = [S.device(f"d{i}", ssids=[{"index": 1, "ssid": f"home-{i}"}]) for i in range(500)]
    fleet = decide_fleet(_engine, S.policy_input(devices=devices, roles=["senior_approver"]))
    assert fleet.evaluations == 1
    assert fleet.for_device("d499") == fleet.decision


def test_fleet_decision_matches_whole_document_decision_on_allow_and_risk() -> None:
    devices = [
        S.device(f"d{i}", firmware=["7.57", "7.29"][i % 2], failed_changes_7d=i % 4) for i in range(40)
    ]
    doc = S.policy_input(
        devices=devices, roles=["approver"], changes=[], operations=[{"command": "factory_reset", "args": {}}]
    )
    whole = _engine.decide(doc)
    fleet = decide_fleet(_engine, doc)
    assert fleet.decision.allow == whole.allow
    assert fleet.decision.risk == whole.risk
    assert fleet.decision.deny == whole.deny
    assert {a.role for a in fleet.decision.approvals_required} == {a.role for a in whole.approvals_required}


def test_invalid_document_is_one_fail_closed_decision() -> None:
    doc = S.policy_input()
    del doc["proposal"]["preview"]
    fleet = decide_fleet(_engine, doc)
    assert not fleet.decision.allow and fleet.decision.deny[0].startswith("policy input invalid")
    assert not fleet.for_device("dev-1").allow


def test_buckets_follow_the_data() -> None:
    assert _buckets.max_reboots_24h == 2
    assert [_buckets.failed_bucket(n) for n in (0, 1, 2, 3, 9)] == [0, 1, 1, 2, 2]
    a = S.device("a", reboots_24h=2)
    b = S.device("b", reboots_24h=4, ssids=[])
    doc = S.policy_input(devices=[a, b])
    assert device_key(a, doc, _buckets) == device_key(b, doc, _buckets)


# Device facts the key covers (device_key) or that are ids; a rule reading anything else would
# make two devices of one class decide differently.
KEY_FACTS = {
    "vendor",
    "model",
    "firmware",
    "region",
    "root",
    "protocol",
    "compat",
    "present",
    "reboots_24h",
    "failed_changes_7d",
    "radios",
    "id",
}
RADIO_FACTS = {"index", "band", "auto_channel"}


def test_rules_read_only_device_facts_in_the_class_key() -> None:
    text = "\n".join(p.read_text() for p in rule_files(RULES_DIR))
    device_vars = set(re.findall(r"some (?:\[)?(?:[a-z_]+, )*\b(d)\b", text)) | {"d"}
    read = {m for v in device_vars for m in re.findall(rf"\b{v}\.([a-z_0-9]+)", text)}
    assert read <= KEY_FACTS, read - KEY_FACTS
    radio_read = set(re.findall(r"\br\.([a-z_0-9]+)", text))
    assert radio_read <= RADIO_FACTS, radio_read - RADIO_FACTS
    assert "ssids" not in text


def test_merge_keeps_the_words_of_a_decision_built_without_items() -> None:
    """A Decision made by hand (or stored before codes) carries only messages: the merge keeps
    them, coded policy.uncoded, and still denies."""
    from core.kernel.models import ApprovalRequirement, Decision
    from policies.classes import merge_decisions

    legacy = Decision(allow=False, deny=["old words"], warnings=["careful"],
                      approvals_required=[ApprovalRequirement(role="approver", reason="because")])
    merged, _ = merge_decisions([legacy, Decision(allow=True)])
    assert not merged.allow and merged.deny == ["old words"] and merged.warnings == ["careful"]
    assert [i.code for i in merged.deny_items] == ["policy.uncoded"]
    assert [(a.role, a.reason) for a in merged.approvals_required] == [("approver", "because")]
