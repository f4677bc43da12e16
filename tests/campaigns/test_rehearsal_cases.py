"""What a rehearsal tells the NOC before ring 1, case by case (``campaigns/rehearsal.py``).

The slow suite (``test_rehearsal.py``) checks that a rehearsal predicts a real run. These cases
pin down the report itself, in the everyday tier: at which stage a change would fail on one
target and why, how targets are counted per device class, which parameters differ across the
slice's firmwares, what a rollback cannot restore, how long the rings would take at the campaign's
rate, which trees are too old or missing and what is read live instead, which targets are
offline, in a closed change window or behind a degraded upstream, and what changed since the
rehearsal a start is checked against. The pure parts are fed hand-made devices and trees; the
rest runs on the 12-home seeded fleet (SQLite), with the conditions each case needs set up by
the test itself, so no case depends on which seeded device is which.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from campaigns import rehearsal
from campaigns.schema import CampaignBatchRow, CampaignDeviceRow, CampaignRow
from campaigns.service import Campaigns
from campaigns.spec import parse_spec
from core.capabilities import class_key
from core.kernel.errors import NotFound
from core.kernel.models import Change, Device, utcnow
from core.kernel.ports.errors import InvalidParameterName
from core.kernel.ports.executor import ParamValue
from core.store import repo
from core.store.schema import (
    AuditEventRow,
    DeviceCapabilityRow,
    DeviceEventRow,
    DeviceRow,
    ParameterSnapshotRow,
)
from tests.campaigns.helpers import PATH, approved

SOFTWARE = rehearsal.SOFTWARE
POWER = "Device.WiFi.Radio.1.TransmitPower"
POWER_LIST = "Device.WiFi.Radio.1.TransmitPowerSupported"
CHANNEL = "Device.WiFi.Radio.1.Channel"
CHANNELS = "Device.WiFi.Radio.1.PossibleChannels"
PASSPHRASE = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"
GENERAL = ("faults of a device itself (a firmware bug, a value it takes and later reverts) and whether it "
           "answers at run time")


def _device(device_id: str, model: str = "CGW-3400", firmware: str = "7.4.1", vendor: str = "Vantec",
            **kw: Any) -> Device:
    return Device(id=device_id, vendor=vendor, model=model, firmware=firmware, **kw)


def _tree(**values: Any) -> dict[str, Any]:
    """A stored tree: ``{path: {"value": v}}`` (keyword names stand for the module's path constants)."""
    names = {"software": SOFTWARE, "power": POWER, "power_list": POWER_LIST, "channel": CHANNEL,
             "channels": CHANNELS, "passphrase": PASSPHRASE}
    return {names[k]: {"value": v} for k, v in values.items()}


def _changes(*pairs: tuple[str, Any]) -> list[Change]:
    return [Change(path=p, value=v) for p, v in pairs]


def _spec(**overrides: Any) -> Any:
    spec: dict[str, Any] = {"name": "case", "changes": [{"path": POWER, "value": 50}]}
    spec.update(overrides)
    return parse_spec(spec)


# ============================================================================ one target's replay
RADIO = _tree(software="7.4.1", power=100, power_list="25,50,100", channel=6, channels="1-11", passphrase="")
GW = _device("gw-a")


@pytest.mark.parametrize(("changes", "expected"), [
    ([], ("none", "ok", "")),
    ([(POWER, 50)], ("verify", "ok", "")),
    ([(CHANNEL, 11), (POWER, 25)], ("verify", "ok", "")),
    ([(PASSPHRASE, "correct-horse-9")],
     ("verify", "unverifiable", f"{PASSPHRASE} cannot be read back (secret): verified by the device's answer only")),
    # a secret is never in a stored tree (masked): its absence is not a refusal
    ([("Device.WiFi.AccessPoint.2.Security.KeyPassphrase", "correct-horse-9")],
     ("verify", "unverifiable", "Device.WiFi.AccessPoint.2.Security.KeyPassphrase cannot be read back (secret): "
                                "verified by the device's answer only")),
    ([(POWER, 50), (PASSPHRASE, "correct-horse-9"), ("Device.WiFi.AccessPoint.2.Security.KeyPassphrase", "b4ttery-st")],
     ("verify", "unverifiable", f"{PASSPHRASE}, Device.WiFi.AccessPoint.2.Security.KeyPassphrase cannot be read "
                                "back (secret): verified by the device's answer only")),
    ([("Device.WiFi.Radio.1.AutoChannelEnable", True)],
     ("land", "fail", "the device would refuse it: its tree has no Device.WiFi.Radio.1.AutoChannelEnable")),
    ([(POWER, 50), ("Device.WiFi.Radio.1.AutoChannelEnable", True)],
     ("land", "fail", "the device would refuse it: its tree has no Device.WiFi.Radio.1.AutoChannelEnable")),
    ([("Device.WiFi.SSID.1.SSID", "guest")],
     ("land", "unknown", "the stored tree does not cover Device.WiFi.SSID.1.")),
    ([("Device.ManagementServer.PeriodicInformInterval", 300)],
     ("land", "unknown", "the stored tree does not cover Device.ManagementServer.")),
], ids=["nothing", "listed", "two-listed", "secret", "secret-not-stored", "secrets-named", "absent-in-object",
        "second-absent", "object-not-held", "top-object-not-held"])
def test_a_replay_says_where_a_change_would_stop_on_one_target(changes: list[tuple[str, Any]],
                                                                expected: tuple[str, str, str]) -> None:
    """Protects the per-target verdict approvers read: nothing to do is fine; a listed value lands
    and verifies; a secret lands but can only be verified by the device's answer (named); a path
    the tree's object lacks is a refusal, while an object the tree does not hold at all is unknown
    (naming that object, not its table or the root)."""
    assert rehearsal.replay(GW, _changes(*changes), RADIO, None) == expected


def test_a_replay_fails_at_validate_or_land_with_the_rule_that_refused_it() -> None:
    """Protects the stage of a failure: a value the data model refuses fails to *validate*; a
    value the device's own list lacks would *land* and be refused; a target never snapshotted
    is unknown, not clean."""
    stage, outcome, why = rehearsal.replay(GW, _changes((CHANNEL, "abc")), RADIO, None)
    assert (stage, outcome) == ("validate", "fail") and why.startswith("it does not validate: ") and CHANNEL in why
    stage, outcome, why = rehearsal.replay(GW, _changes((SOFTWARE, "8.0")), RADIO, None)
    assert (stage, outcome) == ("validate", "fail") and why.startswith("it does not validate: ")
    stage, outcome, why = rehearsal.replay(GW, _changes((POWER, -1)), RADIO, None)
    assert (stage, outcome) == ("land", "fail")
    assert why.startswith("the device would refuse it: ") and "TransmitPowerSupported: 25,50,100" in why
    stage, outcome, why = rehearsal.replay(GW, _changes((CHANNEL, 14)), RADIO, None)
    assert (stage, outcome) == ("land", "fail") and "PossibleChannels: 1-11" in why
    assert rehearsal.replay(GW, _changes((POWER, 50)), None, None) == (
        "none", "unknown", "no stored tree: the device was never snapshotted, so nothing can be replayed")
    assert rehearsal.replay(GW, [], None, None) == ("none", "ok", "")


def test_a_replay_holds_the_change_to_the_class_s_discovered_data_model() -> None:
    """Protects the data-model check: a path the class's discovered model marks read-only fails
    to validate on the target even though TR-181 and its tree would take it."""
    from core.capabilities import CapabilitySet

    caps = CapabilitySet("Vantec CGW-3400 fw 7.4.1", {"Device.WiFi.Radio.{i}.TransmitPower": False,
                                                       "Device.WiFi.Radio.{i}.Channel": True})
    stage, outcome, why = rehearsal.replay(GW, _changes((POWER, 50)), RADIO, caps)
    assert (stage, outcome) == ("validate", "fail") and "not writable on Vantec CGW-3400 fw 7.4.1" in why
    assert rehearsal.replay(GW, _changes((CHANNEL, 11)), RADIO, caps) == ("verify", "ok", "")


@pytest.mark.parametrize(("stage", "outcome", "expected"), [
    ("none", "ok", ("ok", "ok", "ok")),  # nothing to change
    ("none", "unknown", ("unknown", "unknown", "unknown")),  # no tree, or too old to trust
    ("validate", "fail", ("fail", "not reached", "not reached")),
    ("land", "fail", ("ok", "fail", "not reached")),
    ("land", "unknown", ("ok", "unknown", "unknown")),
    ("verify", "unverifiable", ("ok", "ok", "unverifiable")),
    ("verify", "ok", ("ok", "ok", "ok")),
], ids=["none-ok", "none-unknown", "validate-fail", "land-fail", "land-unknown", "verify-unverifiable", "verify-ok"])
def test_each_stage_of_a_replay_says_what_it_saw(stage: str, outcome: str, expected: tuple[str, str, str]) -> None:
    """Protects the validate/land/verify columns: a failure passes the stages before it and leaves
    the later ones not reached; an unknown at a stage stays unknown for every later one."""
    assert tuple(rehearsal._stage_outcome(st, stage, outcome) for st in ("validate", "land", "verify")) == expected


# ============================================================================ small pieces
def test_values_firmware_and_tree_coverage_are_read_the_way_a_device_reports_them() -> None:
    """Protects grouping by the firmware a device's own tree reports (stored or read live as a
    ``ParamValue``), falling back to the inventory's when the tree says nothing, and what counts as
    a tree "holding" a changed path (the path, its object, or a secret)."""
    live = ParamValue(path=SOFTWARE, device_path=SOFTWARE, value="7.2.6")
    assert rehearsal._value({"value": 3}) == 3 and rehearsal._value(7) == 7 and rehearsal._value(live) == "7.2.6"
    assert rehearsal._value({"type": "int"}) is None
    d = _device("gw-b", firmware="7.4.1")
    assert rehearsal._firmware_of(d, {SOFTWARE: {"value": "7.2.6"}}) == "7.2.6"
    assert rehearsal._firmware_of(d, {SOFTWARE: "7.2.6"}) == "7.2.6"
    assert rehearsal._firmware_of(d, {SOFTWARE: {"value": ""}}) == "7.4.1"
    assert rehearsal._firmware_of(d, {CHANNEL: {"value": 6}}) == "7.4.1"
    assert rehearsal._firmware_of(d, {}) == "7.4.1" and rehearsal._firmware_of(d, None) == "7.4.1"

    tree = _tree(channel=6)
    assert rehearsal._covers(tree, "Device.WiFi.Radio.1.AutoChannelEnable")
    assert not rehearsal._covers(tree, "Device.WiFi.Radio.2.Channel")
    assert not rehearsal._covers({"Device.WiFi.Radio.10.Channel": {"value": 6}}, "Device.WiFi.Radio.1.Channel")
    assert rehearsal._holds(tree, CHANNEL) and rehearsal._holds(tree, "Device.WiFi.Radio.1.AutoChannelEnable")
    assert rehearsal._holds({}, PASSPHRASE)
    assert not rehearsal._holds(tree, "Device.WiFi.SSID.1.SSID") and not rehearsal._holds({}, CHANNEL)


def test_a_fingerprint_changes_with_model_firmware_tree_firmware_and_presence() -> None:
    """Protects the start's refusal after a target changed: the 10-character fingerprint differs
    when any of model, inventory firmware, tree firmware or presence differs, and is stable
    otherwise. Both forms are pinned: fingerprints stored before an upgrade must still match after
    it, and ``state_hash`` (the SHA-256 of the sorted ``id=fingerprint`` lines) can be recomputed
    from a stored ``state``, whatever order it was built in."""
    d = _device("gw-c", model="CGW-3400", firmware="7.4.1")
    base = rehearsal.fingerprint(d, "7.4.1", True)
    assert len(base) == 10 and all(ch in "0123456789abcdef" for ch in base)
    assert base == rehearsal.fingerprint(_device("gw-other", model="CGW-3400", firmware="7.4.1"), "7.4.1", True)
    others = {rehearsal.fingerprint(_device("gw-c", model="CGW-3500", firmware="7.4.1"), "7.4.1", True),
              rehearsal.fingerprint(_device("gw-c", firmware="7.2.6"), "7.4.1", True),
              rehearsal.fingerprint(d, "7.2.6", True), rehearsal.fingerprint(d, "7.4.1", False)}
    assert base not in others and len(others) == 4
    expected = hashlib.sha256(b"CGW-3400|7.4.1|7.4.1|1").hexdigest()[:10]
    assert base == expected

    one, two = {"b": "22", "a": "11"}, {"a": "11", "b": "22"}
    assert rehearsal.state_hash(one) == rehearsal.state_hash(two) == hashlib.sha256(b"a=11\nb=22").hexdigest()
    assert rehearsal.state_hash({"a": "11"}) != rehearsal.state_hash(one)
    assert rehearsal.state_hash({}) == hashlib.sha256(b"").hexdigest()


def test_what_a_rehearsal_reads_live_for_an_old_tree() -> None:
    """Protects the live read of a stale target: each changed path (never a secret, which reads
    back empty), the list that says what it may take, and the firmware — each once, sorted."""
    paths = rehearsal._paths_to_read(_changes((CHANNEL, 11), (PASSPHRASE, "correct-horse-9"),
                                              ("Device.WiFi.AccessPoint.1.Security.ModeEnabled", "WPA2-Personal"),
                                              ("Device.WiFi.Radio.2.Channel", 36)))
    assert paths == ["Device.DeviceInfo.SoftwareVersion", "Device.WiFi.AccessPoint.1.Security.ModeEnabled",
                     "Device.WiFi.AccessPoint.1.Security.ModesSupported", CHANNEL, CHANNELS,
                     "Device.WiFi.Radio.2.Channel", "Device.WiFi.Radio.2.PossibleChannels"]
    assert rehearsal._paths_to_read([]) == [SOFTWARE]


def test_stored_reports_and_states_are_read_only_when_they_are_there() -> None:
    """Protects what a start compares against: the stored report (a copy, not the plan itself) and
    its per-target state; anything else — no plan, no report, a report without a state — is none."""
    plan = {"rehearsal": {"clean": True, "state": {"gw-1": "abc"}}}
    c = SimpleNamespace(plan=plan)
    got = rehearsal.stored(c)
    assert got == {"clean": True, "state": {"gw-1": "abc"}}
    got["clean"] = False
    assert plan["rehearsal"]["clean"] is True
    assert rehearsal.stored(SimpleNamespace(plan=None)) is None
    assert rehearsal.stored(SimpleNamespace(plan={"rehearsal": "void"})) is None
    assert rehearsal.stored(SimpleNamespace(plan={})) is None
    state = rehearsal.stored_state(plan)
    assert state == {"gw-1": "abc"}
    state["gw-1"] = "changed"
    assert plan["rehearsal"]["state"] == {"gw-1": "abc"}
    assert rehearsal.stored_state({}) is None
    assert rehearsal.stored_state({"rehearsal": ["x"]}) is None
    assert rehearsal.stored_state({"rehearsal": {"clean": True}}) is None
    assert rehearsal.stored_state({"rehearsal": {"state": "x"}}) is None


# ============================================================================ counting by class
def test_targets_are_counted_per_class_of_the_firmware_their_tree_reports() -> None:
    """Protects the class table approvers read: per (model, firmware) the devices and each stage's
    outcomes, the five commonest reasons, up to five failing devices to look at; failures and
    unknowns listed per device, an unverifiable secret in neither; rows sorted by model, firmware."""
    t = rehearsal._Tally()
    prpl = [_device(f"px-{i}", model="PX-7000", vendor="Prplnet", firmware="3.1") for i in range(3)]
    t.add(prpl[0], "3.1", "land", "unknown", "not covered")
    t.add(prpl[1], "3.1", "none", "unknown", "no stored tree")
    t.add(prpl[2], "3.1", "verify", "unverifiable", "secret")
    new = [_device(f"vt-4{i}") for i in range(7)]
    for d, why in zip(new, ["r1", "r1", "r2", "r3", "r4", "r5", "r6"], strict=True):
        t.add(d, "7.4.1", "validate", "fail", why)
    old = [_device(f"vt-2{i}") for i in range(3)]
    t.add(old[0], "7.2.6", "land", "fail", "refused")
    t.add(old[1], "7.2.6", "land", "fail", "refused")
    t.add(old[2], "7.2.6", "verify", "ok", "")

    rows = t.class_rows()
    assert [(r["vendor"], r["model"], r["firmware"], r["devices"]) for r in rows] == [
        ("Vantec", "CGW-3400", "7.2.6", 3), ("Vantec", "CGW-3400", "7.4.1", 7), ("Prplnet", "PX-7000", "3.1", 3)]
    v72, v74, px = rows
    assert (v72["validate"], v72["land"], v72["verify"]) == ({"ok": 3}, {"fail": 2, "ok": 1},
                                                              {"not reached": 2, "ok": 1})
    assert v72["reasons"] == [{"reason": "refused", "devices": 2}] and v72["sample"] == ["vt-20", "vt-21"]
    assert (v74["validate"], v74["land"], v74["verify"]) == ({"fail": 7}, {"not reached": 7}, {"not reached": 7})
    assert v74["reasons"] == [{"reason": r, "devices": n} for r, n in
                              [("r1", 2), ("r2", 1), ("r3", 1), ("r4", 1), ("r5", 1)]]
    assert v74["sample"] == [d.id for d in new[:5]]
    assert (px["validate"], px["land"], px["verify"]) == ({"ok": 2, "unknown": 1}, {"unknown": 2, "ok": 1},
                                                          {"unknown": 2, "unverifiable": 1})
    assert px["sample"] == [] and [r["devices"] for r in px["reasons"]] == [1, 1, 1]
    assert t.failures == {"vt-20": "refused", "vt-21": "refused",
                          **{d.id: why for d, why in zip(new, ["r1", "r1", "r2", "r3", "r4", "r5", "r6"],
                                                         strict=True)}}
    assert t.unknown == {"px-0": "not covered", "px-1": "no stored tree"}
    assert all(isinstance(r[st], dict) and not hasattr(r[st], "most_common") for r in rows
               for st in ("validate", "land", "verify"))


def test_replaying_every_target_notes_drift_and_trees_too_old_to_trust() -> None:
    """Protects the per-target pass: a tree reporting another firmware than the inventory is
    drift (and its class is the tree's); a tree too old to trust is not replayed but said to be
    unknown, naming the age limit and how many a rehearsal reads live; with nothing to change no
    target is unknown."""
    fresh, drifted, old = _device("gw-1"), _device("gw-2"), _device("gw-3")
    sc = SimpleNamespace(proposal=SimpleNamespace(changes=_changes((POWER, 50))),
                         devices={d.id: d for d in (fresh, drifted, old)}, caps={},
                         trees={"gw-1": RADIO, "gw-2": {**RADIO, **_tree(software="7.2.6")}, "gw-3": RADIO})
    t = rehearsal._replay_all(sc, {"gw-3": "it is offline"})
    assert t.drifted == ["gw-2"] and t.failures == {}
    assert t.unknown == {"gw-3": "its stored tree is older than the 24 h a rehearsal trusts and it could not be "
                                 "read now: it is offline"}
    assert [(r["firmware"], r["devices"], r["verify"]) for r in t.class_rows()] == [
        ("7.2.6", 1, {"ok": 1}), ("7.4.1", 2, {"ok": 1, "unknown": 1})]
    sc.proposal.changes = []
    t = rehearsal._replay_all(sc, {"gw-3": "it is offline"})
    assert t.unknown == {} and t.failures == {} and t.drifted == ["gw-2"]


def test_parameters_that_differ_across_the_slice_s_firmwares_are_listed() -> None:
    """Protects the drift table: per changed path whose firmwares disagree, what each (model,
    firmware of its tree) has — absent, the values it lists as supported, or just present — sorted
    by firmware; a path every firmware agrees on is not listed; a target without a tree says nothing."""
    devices = {d.id: d for d in (_device("a"), _device("b"), _device("c"), _device("d"), _device("e"), _device("f"))}
    trees = {"a": _tree(software="7.4.1", power=100, power_list="-1,25,50,100", channel=6, channels="1-11"),
             "b": _tree(software="7.2.6", power=100, power_list="25,50,100", channel=6),
             "d": _tree(software="7.2.6", channel=1, channels="1-11"),
             "f": _tree(software="7.2.6", channel=6),
             "e": _tree(power=100, power_list="-1,25,50,100", channel=6, channels="1-11")}
    out = rehearsal._drift(devices, trees, _changes((POWER, -1), (CHANNEL, 11), (PASSPHRASE, "correct-horse-9"),
                                                    ("Device.WiFi.Radio.1.Enable", True)))
    assert out == [
        {"path": POWER, "firmwares": {"CGW-3400 7.2.6": {"TransmitPowerSupported: 25,50,100": 1, "absent": 2},
                                      "CGW-3400 7.4.1": {"TransmitPowerSupported: -1,25,50,100": 2}}},
        {"path": CHANNEL, "firmwares": {"CGW-3400 7.2.6": {"present": 2, "PossibleChannels: 1-11": 1},
                                        "CGW-3400 7.4.1": {"PossibleChannels: 1-11": 2}}},
    ]
    assert list(out[0]["firmwares"]) == ["CGW-3400 7.2.6", "CGW-3400 7.4.1"]
    two_models = {"x": _device("x", model="AW-1200"), "y": _device("y", model="PX-7000")}
    assert rehearsal._drift(two_models, {"x": _tree(channel=6), "y": {}}, _changes((CHANNEL, 11))) == [
        {"path": CHANNEL, "firmwares": {"AW-1200 7.4.1": {"present": 1}, "PX-7000 7.4.1": {"absent": 1}}}]


# ============================================================================ rollback, time, windows
def test_a_rollback_says_what_it_cannot_restore() -> None:
    """Protects the rollback section: every non-secret changed path is restorable; a secret is not
    (its old value was never known), nor is a firmware install or a factory reset; a reboot needs
    no restoring."""
    sc = SimpleNamespace(proposal=SimpleNamespace(changes=_changes((POWER, 50), (PASSPHRASE, "correct-horse-9"),
                                                                   (CHANNEL, 11))))
    out = rehearsal._rollback(sc, ["reboot", "download", "factory_reset"])
    assert out == {"restorable": [POWER, CHANNEL], "not_restorable": [
        {"path": PASSPHRASE, "restorable": False,
         "why": "a secret reads back empty, so its old value was never known: if the change is rolled back, the new "
                "value stays"},
        {"operation": "download", "restorable": False, "why": rehearsal.NOT_RESTORED["download"]},
        {"operation": "factory_reset", "restorable": False, "why": rehearsal.NOT_RESTORED["factory_reset"]}]}
    assert rehearsal._rollback(SimpleNamespace(proposal=SimpleNamespace(changes=[])), []) == {
        "restorable": [], "not_restorable": []}


def test_a_ring_s_time_follows_the_campaign_s_rate_limit() -> None:
    """Protects the time estimate: batches start at the rate's initial size and window and grow by
    its factor up to the caps, a wave of batches in flight takes one batch's time, a partial
    batch still counts as a batch; without a measured device time only the waits count."""
    spec = _spec(rate={"initial_batch": 2, "max_batch": 8, "initial_window": 1, "max_window": 4, "factor": 2},
                 retry_unreached=0, promotion={"mode": "manual"})
    # 20 devices: a wave of 1×2, then 2×4, then 10 of 4×8 (two batches): 2 + 4 + 8 device times
    assert rehearsal.timing(spec, [20], 0.5, {}) == [
        {"ring": 1, "devices": 20, "batches": 5, "seconds": 7.0, "waits": []}]
    assert rehearsal.timing(spec, [20], None, {}) == [
        {"ring": 1, "devices": 20, "batches": 5, "seconds": 0.0, "waits": []}]
    assert rehearsal.timing(spec, [1], 0.123, {}) == [
        {"ring": 1, "devices": 1, "batches": 1, "seconds": 0.1, "waits": []}]
    flat = _spec(rate={"initial_batch": 3, "max_batch": 3, "initial_window": 2, "max_window": 2, "factor": 1})
    assert rehearsal.timing(flat, [7], 1.0, {}) == [  # waves of 2×3: 6 then 1
        {"ring": 1, "devices": 7, "batches": 3, "seconds": 4.0, "waits": []}]
    assert rehearsal.timing(spec, [0], 0.5, {}) == [{"ring": 1, "devices": 0, "batches": 0, "seconds": 0.0,
                                                     "waits": []}]


def test_a_ring_s_time_adds_sweeps_observation_and_promotion() -> None:
    """Protects the waits the estimate names: the sweeps for a ring's offline targets, the KPI
    observation (its ``observe_s``, else the longest KPI window), and between rings either the
    automatic pause or a person promoting — never after the last ring."""
    kpis = [{"metric": "wifi.client_rssi_dbm", "window_h": 1}, {"metric": "dns.failures", "window_h": 2}]
    spec = _spec(retry_unreached=2, sweep_delay_s=45, control_pct=10, gate={"kpis": kpis},
                 promotion={"mode": "auto", "pause_s": 120})
    rings = rehearsal.timing(spec, [3, 5, 4], None, {0: 2, 1: 0})
    assert rings == [
        {"ring": 1, "devices": 3, "batches": 1, "seconds": 7410.0,
         "waits": ["2 sweep(s) of 45 s for 2 offline device(s)", "KPI observation 7200 s"]},
        {"ring": 2, "devices": 5, "batches": 1, "seconds": 7320.0, "waits": ["KPI observation 7200 s"]},
        {"ring": 3, "devices": 4, "batches": 1, "seconds": 7200.0, "waits": ["KPI observation 7200 s"]}]
    manual = _spec(retry_unreached=0, sweep_delay_s=45, control_pct=10, gate={"kpis": kpis, "observe_s": 600})
    assert rehearsal.timing(manual, [3, 5], None, {0: 2, 1: 1}) == [
        {"ring": 1, "devices": 3, "batches": 1, "seconds": 600.0,
         "waits": ["KPI observation 600 s", "a person promotes the next ring"]},
        {"ring": 2, "devices": 5, "batches": 1, "seconds": 600.0, "waits": ["KPI observation 600 s"]}]
    unobserved = _spec(control_pct=10, gate={"kpis": kpis, "observe_s": 0}, promotion={"mode": "auto", "pause_s": 9})
    assert rehearsal.timing(unobserved, [3, 5], None, {}) == [
        {"ring": 1, "devices": 3, "batches": 1, "seconds": 9.0, "waits": []},
        {"ring": 2, "devices": 5, "batches": 1, "seconds": 0.0, "waits": []}]
    no_kpis = _spec(gate={"observe_s": 300}, sweep_delay_s=10)
    assert rehearsal.timing(no_kpis, [3], None, {0: 1}) == [
        {"ring": 1, "devices": 3, "batches": 1, "seconds": 10.0,
         "waits": ["1 sweep(s) of 10 s for 1 offline device(s)"]}]


def test_the_timing_and_tree_sections_of_a_report() -> None:
    """Protects the report's figures: the per-device time (4 places) and where it came from, each
    ring with its offline targets' sweeps (by the ring they are placed in), the total; the trees'
    oldest and median age (2 places), how many have none, and which were read live or too old."""
    sc = SimpleNamespace(spec=_spec(sweep_delay_s=30, promotion={"mode": "auto", "pause_s": 0}),
                         plan={"sizes": [2, 3]}, device_s=0.123456, device_s_from="measured",
                         placed={"a": 0, "b": 0, "c": 1, "d": 1, "e": 1},
                         devices={k: None for k in "abcde"}, ages={"a": 0.004, "b": 30.12345, "c": 5.5512})
    part = rehearsal._timing_part(sc, ["c", "d"])
    assert part["device_s"] == 0.1235 and part["device_s_from"] == "measured"
    assert [r["waits"] for r in part["rings"]] == [[], ["1 sweep(s) of 30 s for 2 offline device(s)"]]
    assert [r["seconds"] for r in part["rings"]] == [0.2, 30.4] and part["seconds"] == 30.6
    sc.device_s = None
    assert rehearsal._timing_part(sc, [])["device_s"] is None
    assert rehearsal._timing_part(sc, [])["seconds"] == 0.0

    trees = rehearsal._trees_part(sc, {"e", "a"}, {"d", "b"})
    assert trees == {"max_age_h": 24.0, "oldest_h": 30.12, "median_h": 5.55, "missing": 2,
                     "refreshed": ["a", "e"], "too_old": ["b", "d"]}
    sc.ages = {}
    assert rehearsal._trees_part(sc, set(), set()) == {
        "max_age_h": 24.0, "oldest_h": None, "median_h": None, "missing": 5, "refreshed": [], "too_old": []}


def test_targets_in_a_region_whose_change_window_is_closed_are_named() -> None:
    """Protects the window section: policy's windows (stored with the plan) that are closed at the
    rehearsal's time, each with how many targets it holds back, and those targets."""
    def window(region: str, start: int, end: int, offset: float) -> dict[str, Any]:
        return {"code": "obligation.window", "params": {"region": region, "start_hour": start, "end_hour": end,
                                                        "utc_offset_hours": offset}}

    plan = {"policy_items": [window("DE", 22, 6, 1), window("GB", 9, 17, 0), window("NL", 0, 1, 0)]}
    devices = {d.id: d for d in (_device("de-1", region="DE"), _device("gb-1", region="GB"),
                                 _device("de-2", region="DE"), _device("fr-1", region="FR"))}
    sc = SimpleNamespace(plan=plan, devices=devices)
    noon = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    ids, rows = rehearsal._closed_windows(sc, noon)
    assert ids == ["de-1", "de-2"]
    assert rows == [{"region": "DE", "window": "DE 22:00-06:00 local (UTC+1 h)", "devices": 2},
                    {"region": "NL", "window": "NL 00:00-01:00 local (UTC+0 h)", "devices": 0}]
    assert rehearsal._closed_windows(SimpleNamespace(plan={}, devices=devices), noon) == ([], [])


# ============================================================================ live reads, presence
class _Reader:
    """A device as its adapter reads it: the values it has (``None``: it does not answer)."""

    def __init__(self, values: dict[str, Any] | None, online: bool = True) -> None:
        self.values, self.online = values, online
        self.asked: list[str] = []

    def read(self, d: Device, paths: list[str]) -> dict[str, ParamValue]:
        assert len(paths) == 1, "one path at a time"
        self.asked.extend(paths)
        if self.values is None:
            raise TimeoutError(d.id)
        if paths[0] not in self.values:
            raise InvalidParameterName(d.id, f"no {paths[0]}")
        return {paths[0]: ParamValue(path=paths[0], device_path=paths[0], value=self.values[paths[0]])}

    def presence(self, d: Device) -> Any:
        if self.values is None:
            raise ConnectionError(d.id)
        return SimpleNamespace(online=self.online)


def _rt(readers: dict[str, _Reader]) -> Any:
    return SimpleNamespace(router=SimpleNamespace(reader=lambda d: readers[d.id]))


def test_presence_is_what_the_adapters_say_and_an_adapter_that_cannot_say_is_offline() -> None:
    """Protects the offline list: online as the adapter reports; an adapter that raises counts as
    offline (never as present)."""
    devices = {d.id: d for d in (_device("up"), _device("down"), _device("mute"))}
    rt = _rt({"up": _Reader({}), "down": _Reader({}, online=False), "mute": _Reader(None)})
    assert rehearsal._presence(rt, devices) == {"up": True, "down": False, "mute": False}


def test_stale_trees_are_read_live_path_by_path_within_the_limit() -> None:
    """Protects the live refresh: only online stale targets, at most ``limit`` of them in order (an
    offline one does not count against the limit), each path read on its own (a path the device lacks
    does not hide the others), the values laid over the stored tree as plain values; a target that
    answered nothing is not refreshed."""
    devices = {d.id: d for d in (_device("a"), _device("b"), _device("c"), _device("d"), _device("e"))}
    readers = {"a": _Reader({SOFTWARE: "7.4.1", CHANNEL: 6}), "b": _Reader({}), "c": _Reader({CHANNEL: 1}, False),
               "d": _Reader(None), "e": _Reader({CHANNEL: 3})}
    trees: dict[str, dict[str, Any]] = {"a": {"Device.WiFi.Radio.1.Enable": {"value": True}, CHANNEL: {"value": 1}}}
    done = rehearsal._refresh(_rt(readers), devices, ["a", "b", "c", "d", "e"], _changes((CHANNEL, 11)), trees,
                              {"a": True, "b": True, "c": False, "d": True, "e": True}, 3)
    assert done == ["a"]
    assert trees == {"a": {"Device.WiFi.Radio.1.Enable": {"value": True}, CHANNEL: {"value": 6},
                           SOFTWARE: {"value": "7.4.1"}}}
    assert readers["a"].asked == [SOFTWARE, CHANNEL, CHANNELS] and readers["b"].asked == readers["a"].asked
    assert readers["c"].asked == [] and readers["e"].asked == []  # offline; beyond the limit
    done = rehearsal._refresh(_rt(readers), devices, ["e"], _changes((CHANNEL, 11)), trees, {"e": True}, 1)
    assert done == ["e"] and trees["e"] == {CHANNEL: {"value": 3}}
    assert rehearsal._firmware_of(devices["a"], trees["a"]) == "7.4.1"


def test_which_trees_are_refreshed_and_which_are_too_old_to_trust() -> None:
    """Protects the staleness rule: a tree is stale when missing, older than 24 h (24 h itself is
    still trusted) or silent about a changed path's object (a secret never is); stale online
    targets are read live; a stale tree that could not be read is too old to trust; a target with
    no tree that could not be read is left to the replay (no stored tree)."""
    devices = {d.id: d for d in (_device("fresh"), _device("edge"), _device("old"), _device("old-off"),
                                 _device("silent"), _device("none-off"))}
    online = {"fresh": True, "edge": True, "old": True, "old-off": False, "silent": True, "none-off": False}
    readers = {k: _Reader({SOFTWARE: "7.4.1", POWER: 100}) for k in devices}

    def scene(*changes: tuple[str, Any]) -> Any:
        return SimpleNamespace(proposal=SimpleNamespace(changes=_changes(*changes)), devices=devices,
                               trees={"fresh": RADIO, "edge": RADIO, "old": RADIO, "old-off": RADIO,
                                      "silent": _tree(software="7.4.1")},
                               ages={"fresh": 1.0, "edge": 24.0, "old": 30.0, "old-off": 72.0, "silent": 0.5})

    sc = scene((POWER, 50), (PASSPHRASE, "correct-horse-9"))
    refreshed, too_old = rehearsal._refresh_stale(_rt(readers), sc, online, 100)
    assert refreshed == {"old", "silent"} and too_old == {"old-off": "it is offline"}
    assert readers["fresh"].asked == readers["edge"].asked == readers["old-off"].asked == []
    assert sc.trees["silent"][POWER] == {"value": 100}
    # a fresh tree silent about the path and not read is not too old: the replay says what it does not cover
    refreshed, too_old = rehearsal._refresh_stale(_rt(readers), scene((POWER, 50)), online, 0)
    assert refreshed == set() and too_old == {"old": "it is beyond the 0 targets a rehearsal reads live",
                                              "old-off": "it is offline"}
    refreshed, too_old = rehearsal._refresh_stale(_rt(readers), scene(), online, 100)
    assert refreshed == set() and set(too_old) == {"old", "old-off"}
    readers["old"] = _Reader(None)  # online, within the budget, and it answers nothing
    refreshed, too_old = rehearsal._refresh_stale(_rt(readers), scene((POWER, 50)), online, 100)
    assert refreshed == {"silent"} and too_old == {"old": "it did not answer the read", "old-off": "it is offline"}


def test_an_offline_target_does_not_use_up_the_live_read_budget() -> None:
    """Found reviewing the rehearsal: with the budget counted over every stale target, offline ones
    (never read) used it up, and online targets past them were reported too old to trust. Three old
    trees, the first two offline, a budget of one: the online one is read."""
    devices = {d.id: d for d in (_device("a-off"), _device("b-off"), _device("c-on"))}
    online = {"a-off": False, "b-off": False, "c-on": True}
    readers = {k: _Reader({SOFTWARE: "7.4.1", POWER: 100}) for k in devices}
    sc = SimpleNamespace(proposal=SimpleNamespace(changes=_changes((POWER, 50))), devices=devices,
                         trees={k: RADIO for k in devices}, ages={k: 48.0 for k in devices})
    refreshed, too_old = rehearsal._refresh_stale(_rt(readers), sc, online, 1)
    assert refreshed == {"c-on"} and too_old == {"a-off": "it is offline", "b-off": "it is offline"}


def test_a_fresh_tree_silent_about_the_path_is_not_called_too_old() -> None:
    """Found reviewing the rehearsal: a tree taken an hour ago that does not cover the changed object,
    on a target that could not be read now, was reported as "older than the 24 h a rehearsal trusts". It
    is unknown for what it is: its tree does not cover the object."""
    d = _device("gw-9")
    sc = SimpleNamespace(proposal=SimpleNamespace(changes=_changes((POWER, 50))), devices={d.id: d}, caps={},
                         trees={d.id: _tree(software="7.4.1")}, ages={d.id: 1.0})
    refreshed, too_old = rehearsal._refresh_stale(_rt({d.id: _Reader(None)}), sc, {d.id: False}, 100)
    assert refreshed == set() and too_old == {}
    t = rehearsal._replay_all(sc, too_old)
    assert t.unknown == {d.id: f"the stored tree does not cover {POWER.rsplit('.', 1)[0]}."}


# ============================================================================ a whole rehearsal (SQLite)
def _fleet(rt: Any) -> dict[str, Device]:
    with rt.store.read() as s:
        return repo.get_devices(s, sorted(s.scalars(select(DeviceRow.id))))


def _trees(rt: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    with rt.store.read() as s:
        return repo.latest_snapshots(s, ids)


def _new_snapshot(rt: Any, device_id: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """The device's next full snapshot: its latest, edited (what a later read of the device stored)."""
    params = dict(_trees(rt, [device_id])[device_id])
    edit(params)
    with rt.store.write() as s:
        s.add(ParameterSnapshotRow(device_id=device_id, taken_at=utcnow(), source="seed", params=params))


def _take_offline(rt: Any, *device_ids: str) -> None:
    from gateward.seed import twin_for

    for d in device_ids:
        twin_for(rt).inject(d, "offline")


def _campaign(rt: Any, **overrides: Any) -> dict[str, Any]:
    """An approved campaign over the whole seeded fleet (every target rehearsed)."""
    return approved(rt, Campaigns(rt), name="rehearsed", target={"all_fleet": True}, **overrides)


def _placed(rt: Any, cid: str) -> dict[str, int]:
    with rt.store.read() as s:
        return dict(s.execute(select(CampaignDeviceRow.device_id, CampaignDeviceRow.ring).where(
            CampaignDeviceRow.campaign_id == cid)).all())


def test_a_rehearsal_reports_failures_drift_and_offline_targets_and_is_stored(runtime: Any) -> None:
    """Protects the whole report on a slice whose world moved after approval: a target whose
    latest tree lacks the changed parameter would refuse it; a class whose discovered data model
    now marks it read-only fails to validate; a target whose tree reports another firmware is
    grouped by it and counted as drift; an offline target is listed and its ring gets a sweep.
    The report carries the proposal's hash, a fingerprint per target, the rollback and what a
    twin cannot know; stored, it is the campaign's and is audited."""
    fleet = _fleet(runtime)
    ids = sorted(fleet)
    st = _campaign(runtime, sweep_delay_s=30, operations=[{"command": "reboot"}, {"command": "factory_reset"}])
    cid = st["id"]
    trees = _trees(runtime, ids)
    assert all(PATH in trees[d] for d in ids), "the seeded slice holds the changed parameter"
    locked = class_key(fleet[ids[0]])  # its class's discovered model now says read-only
    in_locked = [d for d in ids if class_key(fleet[d]) == locked]
    rest = [d for d in ids if d not in in_locked]
    lacking, drifted, offline = rest[0], rest[1], rest[2]
    assert any(k.startswith("Device.WiFi.AccessPoint.1.") and k != PATH for k in trees[lacking])
    _new_snapshot(runtime, lacking, lambda p: p.pop(PATH))
    _new_snapshot(runtime, drifted, lambda p: p.update({SOFTWARE: {"value": "9.9.9-tree"}}))
    _take_offline(runtime, offline)
    with runtime.store.write() as s:
        s.add(DeviceCapabilityRow(vendor=locked[0], model=locked[1], firmware=locked[2], root=locked[3],
                                  protocol=str(fleet[ids[0]].protocol), data_model_version="",
                                  params={"Device.WiFi.AccessPoint.{i}.SSIDAdvertisementEnabled": False,
                                          "Device.WiFi.AccessPoint.{i}.Enable": True},
                                  source_device_id=ids[0], discovered_at=utcnow()))

    r = rehearsal.rehearse(runtime, cid)

    proposal = runtime.lifecycle.get(st["proposal"]["id"])
    assert r["hash"] == proposal.hash and r["devices"] == len(ids) and not r["clean"]
    assert datetime.fromisoformat(r["taken_at"]).tzinfo is not None
    assert set(r["failures"]) == {lacking, *in_locked}
    assert r["failures"][lacking] == f"the device would refuse it: its tree has no {PATH}"
    assert all(r["failures"][d].startswith("it does not validate: ") and "not writable" in r["failures"][d]
               for d in in_locked)
    assert r["unknown"] == {} and r["offline"] == [offline] and r["inventory_drift"] == [drifted]
    assert r["counts"] == {"fail": 1 + len(in_locked), "unknown": 0, "offline": 1, "closed_window": 0,
                           "degraded_upstream": 0, "inventory_drift": 1, "changed_since_last": 0, "refreshed": 0,
                           "tree_too_old": 0}
    assert r["changed_since_last"] == [] and r["closed_windows"] == []
    assert r["degraded_upstream"] == {"upstreams": {}, "devices": []}

    rows = {(c["model"], c["firmware"]): c for c in r["classes"]}
    assert sum(c["devices"] for c in r["classes"]) == len(ids)
    assert rows[(fleet[drifted].model, "9.9.9-tree")]["devices"] == 1
    own = rows[(fleet[lacking].model, fleet[lacking].firmware)]
    assert own["land"]["fail"] == 1 and own["verify"]["not reached"] == 1 and lacking in own["sample"]
    assert {"reason": r["failures"][lacking], "devices": 1} in own["reasons"]
    locked_row = rows[(locked[1], locked[2])]
    assert locked_row["validate"] == {"fail": len(in_locked)} and locked_row["sample"] == in_locked[:5]

    seen = {d: rehearsal._firmware_of(fleet[d], t) for d, t in _trees(runtime, ids).items()}
    assert r["state"] == {d: rehearsal.fingerprint(fleet[d], seen[d], d != offline) for d in ids}
    assert r["state_hash"] == rehearsal.state_hash(r["state"])
    assert r["trees"]["missing"] == 0 and r["trees"]["refreshed"] == [] and r["trees"]["too_old"] == []
    assert 0.0 <= r["trees"]["median_h"] <= r["trees"]["oldest_h"] < rehearsal.MAX_TREE_AGE_H

    [drift] = r["drift"]
    lacking_fw = f"{fleet[lacking].model} {fleet[lacking].firmware}"
    assert drift["path"] == PATH and drift["firmwares"][lacking_fw]["absent"] == 1
    assert sum(n for counts in drift["firmwares"].values() for n in counts.values()) == len(ids)
    assert r["rollback"] == {"restorable": [PATH], "not_restorable": [
        {"operation": "factory_reset", "restorable": False, "why": rehearsal.NOT_RESTORED["factory_reset"]}]}
    assert r["cannot_know"] == [GENERAL, rehearsal.CANNOT_KNOW["reboot"], rehearsal.CANNOT_KNOW["factory_reset"]]

    timing = r["timing"]
    assert timing["device_s"] == rehearsal.SIM_DEVICE_S
    assert timing["device_s_from"] == ("no batch has run here yet: 5.5 ms a simulated device, as "
                                       "`gateward bench campaign_run` measured")
    assert [ring["devices"] for ring in timing["rings"]] == st["plan"]["sizes"]
    ring = _placed(runtime, cid)[offline]
    assert timing["rings"][ring]["waits"] == ["1 sweep(s) of 30 s for 1 offline device(s)"]
    assert timing["rings"][ring]["seconds"] >= 30 and timing["seconds"] >= 30
    assert all(not x["waits"] for i, x in enumerate(timing["rings"]) if i != ring)

    rehearsal.store(runtime, cid, r, "bob")
    with runtime.store.read() as s:
        c = s.get(CampaignRow, cid)
        assert c is not None
        kept = rehearsal.stored(c)
        audited = s.execute(select(AuditEventRow.actor, AuditEventRow.proposal_id, AuditEventRow.data).where(
            AuditEventRow.action == "campaign.rehearsed")).all()
    assert kept is not None and kept["by"] == "bob" and kept["failures"] == r["failures"]
    assert kept["state_hash"] == r["state_hash"]
    assert [(a, p) for a, p, _ in audited] == [("bob", proposal.id)]
    assert {k: v for k, v in audited[0][2].items() if k != "via"} == {
        "campaign": cid, "clean": False, "counts": r["counts"], "hash": proposal.hash}


def test_missing_and_old_trees_are_read_live_or_reported_unknown(runtime: Any) -> None:
    """Protects the fresh-tree rule end to end: a target with no stored tree, or one days old, is
    read live when online (and then grouped by the firmware it reports, not counted as drift);
    offline, an old one is too old to trust and one with none has nothing to replay. The report
    gives the trees' ages; a smaller live-read budget leaves the rest too old."""
    fleet = _fleet(runtime)
    ids = sorted(fleet)
    st = _campaign(runtime)
    cid = st["id"]
    none_on, none_off, old_on, old_off = ids[0], ids[1], ids[2], ids[3]
    with runtime.store.write() as s:
        s.execute(delete(ParameterSnapshotRow).where(ParameterSnapshotRow.device_id.in_([none_on, none_off])))
        s.execute(update(ParameterSnapshotRow).where(ParameterSnapshotRow.device_id.in_([old_on, old_off]))
                  .values(taken_at=utcnow() - timedelta(hours=72)))
    _take_offline(runtime, none_off, old_off)

    r = rehearsal.rehearse(runtime, cid)

    assert r["trees"]["refreshed"] == [none_on, old_on] and r["trees"]["too_old"] == [old_off]
    assert r["trees"]["missing"] == 2 and 72 <= r["trees"]["oldest_h"] < 73
    assert r["trees"]["median_h"] < rehearsal.MAX_TREE_AGE_H
    assert r["unknown"] == {
        none_off: "no stored tree: the device was never snapshotted, so nothing can be replayed",
        old_off: "its stored tree is older than the 24 h a rehearsal trusts and it could not be read now: "
                 "it is offline"}
    assert r["failures"] == {} and not r["clean"]
    assert (r["counts"]["refreshed"], r["counts"]["tree_too_old"], r["counts"]["unknown"]) == (2, 1, 2)
    assert none_on not in r["inventory_drift"] and old_on not in r["inventory_drift"]
    row = next(c for c in r["classes"]
               if (c["model"], c["firmware"]) == (fleet[none_on].model, fleet[none_on].firmware))
    assert row["verify"].get("ok", 0) >= 1
    assert all("path=" not in c["firmware"] for c in r["classes"])  # a live read's value, not its repr
    assert r["offline"] == sorted([none_off, old_off])

    few = rehearsal.rehearse(runtime, cid, refresh_max=1)
    assert few["trees"]["refreshed"] == [none_on] and few["trees"]["too_old"] == [old_on, old_off]
    assert few["unknown"][old_on].endswith("could not be read now: it is beyond the 1 targets a rehearsal reads live")
    assert few["unknown"][old_off].endswith("could not be read now: it is offline")


def test_degraded_upstreams_measured_batch_times_and_closed_windows(runtime: Any) -> None:
    """Protects three sections fed by the store: an upstream where at least half of its gateways
    (with three siblings or more) reported the WAN down in the last day, its share and the targets
    behind it; a device's time in a batch as the median of the last 200 finished batches (before
    any: unknown for real devices); the targets in a region whose change window is closed now.
    At fleet scale (the store asked in chunks) no upstream or tree age is lost."""
    fleet = _fleet(runtime)
    ids = sorted(fleet)
    assert len(ids) == 12
    st = _campaign(runtime)
    cid = st["id"]
    now = datetime.now(UTC)
    runtime.lifecycle.clock = lambda: now
    half, most, few = ids[0:4], ids[4:10], ids[10:12]  # upstreams of 4, 6 and 2 gateways
    with runtime.store.write() as s:
        s.execute(delete(DeviceEventRow))
        for group, name in ((half, "pon-a"), (most, "pon-b"), (few, "pon-c")):
            s.execute(update(DeviceRow).where(DeviceRow.id.in_(group)).values(upstream_id=name))

        def event(device_id: str, kind: str, hours_ago: float) -> None:
            s.add(DeviceEventRow(device_id=device_id, kind=kind, ts=now - timedelta(hours=hours_ago), data={}))

        event(half[0], "wan_down", 1)
        event(half[0], "los", 2)  # one device, counted once
        event(half[1], "offline", 23.5)
        event(half[2], "wan_degraded", 24.5)  # older than a day
        event(half[3], "reboot", 1)  # not a WAN problem
        for d in most[:4]:
            event(d, "wan_degraded", 3)
        event(most[4], "wan_down", 24)  # exactly a day before the rehearsal's now: still the last day
        for d in few:
            event(d, "los", 3)  # all of them, but too few siblings to suspect the upstream
        s.execute(update(DeviceRow).where(DeviceRow.id == ids[5]).values(adapter="genieacs"))
    region = fleet[ids[0]].region
    in_region = [d for d in ids if fleet[d].region == region]
    h = now.hour
    closed = {"code": "obligation.window", "params": {"region": region, "start_hour": (h + 2) % 24,
                                                      "end_hour": (h + 3) % 24, "utc_offset_hours": 0}}
    open_ = {"code": "obligation.window", "params": {"region": "ZZ", "start_hour": h, "end_hour": (h + 1) % 24,
                                                     "utc_offset_hours": 0}}
    with runtime.store.write() as s:
        c = s.get(CampaignRow, cid)
        assert c is not None
        c.plan = {**c.plan, "policy_items": [*c.plan.get("policy_items", []), closed, open_]}

    r = rehearsal.rehearse(runtime, cid)

    assert r["degraded_upstream"] == {"upstreams": {"pon-a": 0.5, "pon-b": 0.83},
                                      "devices": sorted(half + most)}
    assert r["counts"]["degraded_upstream"] == len(half + most)
    assert r["timing"]["device_s"] is None
    assert r["timing"]["device_s_from"] == ("no batch has run here yet: the devices' own time is unknown (only the "
                                            "waits are counted)")
    assert r["counts"]["closed_window"] == len(in_region) and r["closed_windows"] == [
        {"region": region, "window": f"{region} {(h + 2) % 24:02d}:00-{(h + 3) % 24:02d}:00 local (UTC+0 h)",
         "devices": len(in_region)}]

    def batch(n: int, seconds: float | None, devices: int, state: str, finished: datetime) -> dict[str, Any]:
        return {"id": f"B{n:05d}", "campaign_id": cid, "ring": 0, "seq": n, "kind": "ring", "state": state,
                "device_ids": [f"dev-{i}" for i in range(devices)], "duration_s": seconds, "finished_at": finished}

    old = now - timedelta(days=2)
    rows = [batch(i, 50.0, 10, "done", old + timedelta(seconds=i)) for i in range(150)]  # 5 s a device, long ago
    rows += [batch(1000 + i, 1.0, 4 if i % 2 else 2, "done", now - timedelta(minutes=200 - i)) for i in range(200)]
    rows += [batch(5000, 900.0, 1, "running", now), batch(5001, None, 1, "done", now),
             batch(5002, 7.0, 0, "done", now)]
    with runtime.store.write() as s:
        s.execute(CampaignBatchRow.__table__.insert(), rows)
    r = rehearsal.rehearse(runtime, cid)
    # the newest 200 finished: the empty one (skipped), then 100 at 0.25 s a device and 99 at 0.5 s
    assert r["timing"]["device_s"] == 0.25
    assert r["timing"]["device_s_from"] == "the median of the last 199 batches run here"

    # At fleet scale the store is asked in chunks: every upstream and every tree is still found,
    # whatever its place among 1,101 asked about.
    with runtime.store.write() as s:
        for group, name in ((ids[0:4], "up-0000"), (ids[4:8], "up-0500"), (ids[8:12], "up-1100")):
            s.execute(update(DeviceRow).where(DeviceRow.id.in_(group)).values(upstream_id=name))
    with runtime.store.read() as s:
        ups = rehearsal._degraded_upstreams(s, {f"up-{i:04d}" for i in range(1101)}, now)
        asked = [ids[0], *(f"absent-{i}" for i in range(499)), ids[5], *(f"absent-{i}" for i in range(599)), ids[11]]
        ages = rehearsal._tree_ages(s, asked, now)
    assert ups == {"up-0000": 0.5, "up-0500": 1.0, "up-1100": 0.75}
    assert sorted(ages) == sorted([ids[0], ids[5], ids[11]]) and all(0.0 <= a < 1.0 for a in ages.values())
    with runtime.store.write() as s:  # one gateway of four in trouble is not an upstream's outage
        s.execute(update(DeviceRow).where(DeviceRow.id.in_([ids[0], ids[2], ids[3], most[5]]))
                  .values(upstream_id="up-low"))
    with runtime.store.read() as s:
        assert rehearsal._degraded_upstreams(s, {"up-low"}, now) == {}


def test_a_start_is_checked_against_the_targets_as_the_rehearsal_saw_them(runtime: Any) -> None:
    """Protects the refusal of a stale rehearsal: after it is stored, a target whose inventory
    firmware changed, that went offline or that left the inventory is named (and no other), its
    fingerprint now is what a fresh rehearsal would take (a target never snapshotted: by its
    inventory firmware), and the next rehearsal lists it as changed since the last; a queued
    rehearsal is noted on the campaign until its report replaces the note; an unknown campaign is
    refused by name."""
    fleet = _fleet(runtime)
    ids = sorted(fleet)
    st = _campaign(runtime)
    cid = st["id"]
    with runtime.store.write() as s:  # one target never snapshotted: its inventory firmware stands
        s.execute(delete(ParameterSnapshotRow).where(ParameterSnapshotRow.device_id == ids[0]))

    def row() -> CampaignRow:
        with runtime.store.read() as s:
            c = s.get(CampaignRow, cid)
            assert c is not None
            s.expunge(c)
            return c

    assert rehearsal.changed_targets(runtime, row()) == []  # nothing rehearsed yet
    rehearsal.note_job(runtime, cid, 7, "bob")
    job = row().plan["rehearsal_job"]
    assert {k: job[k] for k in ("job", "by", "state")} == {"job": 7, "by": "bob", "state": "queued"}
    assert datetime.fromisoformat(job["queued_at"]).tzinfo is not None
    first = rehearsal.rehearse(runtime, cid)
    rehearsal.store(runtime, cid, first, "bob")
    c = row()
    assert "rehearsal_job" not in c.plan and rehearsal.stored_state(c.plan) == first["state"]
    assert rehearsal.current_state(runtime, cid) == first["state"]
    assert rehearsal.changed_targets(runtime, c) == []

    upgraded, gone = ids[3], ids[7]
    with runtime.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id == upgraded).values(firmware="9.9.9-acs"))
    _take_offline(runtime, gone)
    assert rehearsal.changed_targets(runtime, c) == sorted([upgraded, gone])
    now = rehearsal.current_state(runtime, cid)
    fleet = _fleet(runtime)
    seen = _trees(runtime, [upgraded, gone])
    assert now[upgraded] == rehearsal.fingerprint(fleet[upgraded], rehearsal._firmware_of(fleet[upgraded],
                                                                                            seen[upgraded]), True)
    assert now[gone] == rehearsal.fingerprint(fleet[gone], rehearsal._firmware_of(fleet[gone], seen[gone]), False)
    assert {d: v for d, v in now.items() if d not in (upgraded, gone)} == {
        d: v for d, v in first["state"].items() if d not in (upgraded, gone)}

    again = rehearsal.rehearse(runtime, cid)
    assert again["changed_since_last"] == sorted([upgraded, gone]) and again["counts"]["changed_since_last"] == 2
    assert again["state"] == now and upgraded in again["inventory_drift"]

    rehearsal.store(runtime, cid, again, "bob")
    with runtime.store.write() as s:  # a target the inventory no longer has is named too
        s.execute(delete(DeviceRow).where(DeviceRow.id == ids[9]))
    assert rehearsal.changed_targets(runtime, row()) == [ids[9]]

    rehearsal.note_job(runtime, "C-none", 1, "bob")  # a campaign that is gone: nothing to note or store
    rehearsal.store(runtime, "C-none", again, "bob")
    with pytest.raises(NotFound, match="unknown campaign 'C-none'; list campaigns with `gateward campaign status`"):
        rehearsal.rehearse(runtime, "C-none")
