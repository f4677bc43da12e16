"""Issue 58 item 2: behind NAT a change costs two informs, also the first one.

A first change to a device GenieACS held nothing recent of cost three informs: the preview's read,
the Set, the read-back. With Gateward's refresh presets installed (``gateward genieacs
refresh-preset --install``) every periodic inform reads the previewed subtrees, and what the
device's last inform gave is all GenieACS can know until its next one — so the preview and the
backup are that, said on the card, and the change costs the Set's inform and the read-back's.
Run against the local NBI, whose presets run GenieACS's own ``refresh`` as GenieACS 1.2.16 did by
hand (docs/genieacs.md).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.store.schema import AuditEventRow, BackupRow
from core.users import get_actor
from executors.genieacs import refresh_preset as rp
from tests.genieacs.test_nat import SSID, Informer, _cli_env, _posting, _proposal, _world

RADIO = "Device.WiFi.Radio.1.Channel"


@pytest.fixture
def nat(tmp_path: Path) -> Iterator[dict[str, Any]]:
    yield from _world(tmp_path, inform_wait_s=20.0)


@pytest.fixture
def nat_old(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A NAT world where no cached value is young enough for the age rule (a millisecond): only
    what the device's last inform gave can stand in for a read."""
    yield from _world(tmp_path, inform_wait_s=20.0, preview_cache_s=0.001, backup_reuse_s=0.001)


def _install(nbi: Any) -> None:
    for name, doc in rp.presets().items():
        nbi.store.named["presets"][name] = {**doc, "_id": name}


def _waits(rt: Any, device_id: str) -> list[str]:
    """The steps that waited for an inform of the device (``device.waiting_for_inform``), in order."""
    with rt.store.read() as s:
        rows = s.scalars(select(AuditEventRow).where(AuditEventRow.action == "device.waiting_for_inform")
                         .order_by(AuditEventRow.seq)).all()
    return [r.data["step"] for r in rows if r.device_id == device_id]


def _withdrawals(acs: Any) -> list[str]:
    """The tasks the adapter deletes from GenieACS's queue from here on."""
    deleted: list[str] = []
    real = acs.client.delete_task

    def deleting(task_id: str) -> bool:
        deleted.append(task_id)
        return bool(real(task_id))

    acs.client.delete_task = deleting
    return deleted


def _informed(informer: Informer, times: int) -> None:
    seen = informer.count
    while informer.count < seen + times:
        threading.Event().wait(0.05)


# ---------------------------------------------------------------------------- the presets
def test_a_preset_per_root_refreshes_what_a_wifi_preview_reads_at_periodic_informs_only() -> None:
    docs = rp.presets()
    assert set(docs) == {"gateward-refresh-tr181", "gateward-refresh-tr098"}
    tr181 = docs["gateward-refresh-tr181"]
    assert tr181["events"] == {"2 PERIODIC": True}  # a connection request's session or a boot pays nothing
    assert tr181["precondition"] == "Device.DeviceInfo.SoftwareVersion IS NOT NULL"
    assert tr181["channel"] == "gateward-refresh" and tr181["weight"] == 0
    assert tr181["configurations"] == [{"type": "provision", "name": "refresh", "args": [p, 1]}
                                       for p in ("Device.WiFi.Radio", "Device.WiFi.SSID", "Device.WiFi.AccessPoint")]
    tr098 = docs["gateward-refresh-tr098"]
    assert tr098["precondition"] == "InternetGatewayDevice.DeviceInfo.SoftwareVersion IS NOT NULL"
    assert tr098["configurations"] == [{"type": "provision", "name": "refresh",
                                        "args": ["InternetGatewayDevice.LANDevice.*.WLANConfiguration", 1]}]


def test_another_subtree_joins_its_roots_preset_once() -> None:
    got = rp.subtrees(["Device.DNS.Client.Server.", "InternetGatewayDevice.WANDevice.*.WANConnectionDevice",
                       "Device.WiFi.Radio.1", "Device.DNS.Client.Server"])
    assert got["Device."] == ["Device.WiFi.Radio", "Device.WiFi.SSID", "Device.WiFi.AccessPoint",
                              "Device.DNS.Client.Server"]  # Radio.1 is inside Radio; the DNS servers once
    assert got["InternetGatewayDevice."][-1] == "InternetGatewayDevice.WANDevice.*.WANConnectionDevice"
    assert rp.subtrees() == {r: list(p) for r, p in rp.DEFAULT_SUBTREES.items()}  # the defaults untouched
    # any instance at the end, and a vendor object whose name ends in a letter a strip could eat
    assert rp.subtrees(["Device.Hosts.Host.*", " Device.X_ACME_COM_MAX. "])["Device."][3:] == [
        "Device.Hosts.Host.*", "Device.X_ACME_COM_MAX"]


@pytest.mark.parametrize(("bad", "said"), [
    ("", "an empty subtree"), ("  ", "an empty subtree"),
    ("Foo.Bar", "'Foo.Bar': not a TR-069 object path (Device.… or InternetGatewayDevice.…, '*' for any instance)"),
    ("Device", "'Device': the whole tree, every inform"), ("Device.", "'Device.': the whole tree"),
    ("InternetGatewayDevice.", "the whole tree"), ("Device.Wi Fi", "not a TR-069 object path"),
    ("Device.WiFi.**", "not a TR-069 object path"), ("device.WiFi.Radio", "not a TR-069 object path"),
    ("Device.*", "'Device.*': the whole tree"), ("InternetGatewayDevice.*", "the whole tree"),
])
def test_a_subtree_that_is_no_object_path_or_the_whole_tree_is_refused(bad: str, said: str) -> None:
    with pytest.raises(rp.PresetPathError) as refused:
        rp.presets([bad])
    assert said in str(refused.value)


def test_the_cli_prints_installs_and_removes_the_presets(nat: dict[str, Any], tmp_path: Path) -> None:
    from testing.cli import run_cli

    nbi = nat["nbi"]
    env = _cli_env(nat["rt"], nbi, tmp_path)
    shown = run_cli("genieacs", "refresh-preset", env=env, columns=400)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert json.loads(shown.stdout) == rp.presets()
    assert nbi.store.named["presets"] == {}  # printing installs nothing
    put = run_cli("genieacs", "refresh-preset", "--install", "--path", "Device.DNS.Client.Server", env=env, columns=400)
    assert put.returncode == 0, put.stdout + put.stderr
    stored = {k: {f: v for f, v in d.items() if f != "_id"} for k, d in nbi.store.named["presets"].items()}
    assert stored == rp.presets(["Device.DNS.Client.Server"])
    assert "every periodic inform refreshes Device.WiFi.Radio, Device.WiFi.SSID, Device.WiFi.AccessPoint, " \
           "Device.DNS.Client.Server" in put.stdout
    bad = run_cli("genieacs", "refresh-preset", "--install", "--path", "Device.", env=env, columns=400)
    assert bad.returncode == 2 and "the whole tree" in bad.stdout + bad.stderr
    both = run_cli("genieacs", "refresh-preset", "--install", "--remove", env=env, columns=400)
    assert both.returncode == 2 and "not both" in both.stdout + both.stderr
    nowhere = run_cli("genieacs", "refresh-preset", "--install", "--url", "http://127.0.0.1:9", env=env, columns=400)
    assert nowhere.returncode != 0 and "Traceback" not in nowhere.stdout + nowhere.stderr
    assert "127.0.0.1:9" in nowhere.stdout + nowhere.stderr  # says which NBI did not answer
    gone = run_cli("genieacs", "refresh-preset", "--remove", env=env, columns=400)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert nbi.store.named["presets"] == {}
    assert "removed preset gateward-refresh-tr181" in gone.stdout


def test_the_local_nbi_runs_the_presets_at_periodic_informs_as_genieacs_did(nat: dict[str, Any]) -> None:
    nbi, d = nat["nbi"], nat["d"]
    gid = nbi.genie_id(d.id)
    _install(nbi)
    nbi.inform(d.id, ["1 BOOT"])  # not a periodic inform: nothing refreshed
    rec = nbi.store.devices[gid]
    assert RADIO not in rec.params or rec.params[RADIO].ts < nbi.last_inform(rec)
    nbi.inform(d.id)
    wifi = {p: leaf for p, leaf in rec.params.items() if p.startswith(("Device.WiFi.Radio.", "Device.WiFi.SSID."))}
    assert RADIO in wifi and SSID in wifi
    assert all(leaf.ts >= nbi.last_inform(rec) for leaf in wifi.values())  # this session gave every one
    nbi.store.named["presets"]["gateward-refresh-tr181"]["precondition"] = "Device.NoSuch.Thing IS NOT NULL"
    nbi.inform(d.id)
    assert rec.params[RADIO].ts < nbi.last_inform(rec)  # its precondition failed: not run


def test_the_local_nbi_runs_a_queued_set_before_the_presets(nat: dict[str, Any]) -> None:
    """As GenieACS 1.2.16 did by hand: the Set first, then the preset's refresh (GenieACS left the value
    just set alone in that session; this double reads the subtree again — the value just set)."""
    nbi, d, acs = nat["nbi"], nat["d"], nat["genieacs"]
    gid = nbi.genie_id(d.id)
    _install(nbi)
    queued = acs.client.post_task(gid, {"name": "setParameterValues",
                                        "parameterValues": [[SSID, "Set Then Refresh", "xsd:string"]]},
                                  connection_request=False)
    assert queued.status_code == 202
    start = len(nbi.rpc_log(d.id))
    nbi.inform(d.id)
    log = nbi.rpc_log(d.id)[start:]
    rpcs = [e["rpc"] for e in log]
    assert rpcs.index("SetParameterValues") < rpcs.index("GetParameterValues"), rpcs
    rec = nbi.store.devices[gid]
    assert rec.params[SSID].value == "Set Then Refresh"


# ---------------------------------------------------------------------------- two informs
def test_behind_nat_a_first_change_costs_two_informs_through_the_api_and_the_cli(
        nat_old: dict[str, Any], tmp_path: Path) -> None:
    from testing.cli import run_cli

    rt, twin, nbi, d = nat_old["rt"], nat_old["twin"], nat_old["nbi"], nat_old["d"]
    twin.inject(d.id, "unreachable")
    _install(nbi)
    env = {**_cli_env(rt, nbi, tmp_path), "GATEWARD_GENIEACS_PREVIEW_CACHE_S": "0.001",
           "GATEWARD_GENIEACS_BACKUP_REUSE_S": "0.001"}
    withdrawn = _withdrawals(nat_old["genieacs"])
    with Informer(nbi, d) as informer:
        _informed(informer, 1)  # GenieACS holds the values the last periodic inform gave, and nothing newer
        p = _proposal(rt, d, "First Of Two")
        assert len(withdrawn) == 1  # the preview's probe: its read withdrawn unrun, then the last inform's
        warned = [w for w in rt.lifecycle.preview_of(p.id)["warnings"] if "last inform gave it" in w]
        out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
        assert out.proposal.state.value == "done", out.proposal.error
        api_waits = _waits(rt, d.id)
        assert api_waits == ["apply", "verify"], api_waits  # the Set's inform and the read-back's
        assert warned and d.id in warned[0]  # said on the card the approver reads
        _informed(informer, 1)
        proposed = run_cli("propose", "-d", d.id, "--set", f"{SSID}=Second Of Two", "--reason", "hand check",
                           "--as", "alice", env=env, columns=400)
        assert proposed.returncode == 0, proposed.stdout + proposed.stderr
        assert "last inform gave it" in proposed.stdout, proposed.stdout
        pid = re.findall(r"\bp-[0-9a-f]{12}\b", proposed.stdout)[0]
        applied = run_cli("apply", pid, "--as", "alice", env=env, columns=400)
        assert applied.returncode == 0, applied.stdout + applied.stderr
    assert twin.params(d.id)[SSID] == "Second Of Two"
    assert _waits(rt, d.id)[len(api_waits):] == ["apply", "verify"]
    with rt.store.read() as s:
        backup = s.scalars(select(BackupRow.params).where(BackupRow.proposal_id == pid)).one()
    assert "last inform gave it" in backup[SSID]["source"] and backup[SSID]["value"] == "First Of Two"


def test_without_the_presets_the_first_change_still_reads_at_an_inform(nat_old: dict[str, Any]) -> None:
    rt, twin, nbi, d, acs = nat_old["rt"], nat_old["twin"], nat_old["nbi"], nat_old["d"], nat_old["genieacs"]
    twin.inject(d.id, "unreachable")
    withdrawn = _withdrawals(acs)
    with Informer(nbi, d) as informer:
        _informed(informer, 1)  # periodic informs that give the Wi-Fi values nothing anew
        p = _proposal(rt, d, "Three Without")
        out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state.value == "done", out.proposal.error
    assert withdrawn == []  # no probe: the cache would not do, so the first read simply waited as before
    assert _waits(rt, d.id)[0] == "preview"  # the values predate the last inform: read at the next one
    assert not [w for w in rt.lifecycle.preview_of(p.id)["warnings"] if "last inform gave it" in w]


def test_an_overdue_inform_is_no_last_inform_to_go_by(nat_old: dict[str, Any]) -> None:
    """The device's next inform is overdue (its own interval plus the session budget): it may have
    gone, or its informs changed — the preview reads, and says the device is offline."""
    from core.kernel.errors import DeviceUnavailable
    from core.store import repo
    from executors.base import DeviceOffline

    rt, twin, nbi, d, acs = nat_old["rt"], nat_old["twin"], nat_old["nbi"], nat_old["d"], nat_old["genieacs"]
    twin.inject(d.id, "unreachable")
    _install(nbi)
    nbi.inform(d.id)
    interval = nbi.store.devices[nbi.genie_id(d.id)].params["Device.ManagementServer.PeriodicInformInterval"].value
    later = [nbi.clock() + interval + acs.session_budget_s + 5]
    acs.clock = lambda: later[0]
    acs.inform_wait_s = 1.0  # (the read then waits for an inform that does not come: not 20 s of it)
    with rt.store.read() as s:
        dev = repo.get_devices(s, [d.id])[d.id]
    with pytest.raises((DeviceOffline, DeviceUnavailable)) as late:
        acs.read_for_preview(dev, [SSID])
    assert "did not inform within 1s" in str(late.value), late.value  # read at an inform, not its last one's values


def test_a_device_that_answers_is_read_not_taken_from_its_last_inform(nat_old: dict[str, Any]) -> None:
    rt, nbi, d = nat_old["rt"], nat_old["nbi"], nat_old["d"]
    _install(nbi)
    nbi.inform(d.id)
    start = len(nbi.rpc_log(d.id))
    got = rt.router.reader(d).read_for_preview(d, [SSID])
    assert got.source != "cache" and not got.detail  # read now, over a connection request (a second)
    log = [e["rpc"] for e in nbi.rpc_log(d.id)[start:]]
    assert "ConnectionRequest" in log and "GetParameterValues" in log, log


def test_a_session_after_the_last_refresh_makes_the_preview_read(nat_old: dict[str, Any]) -> None:
    """A VALUE CHANGE inform (the CPE's own change, reported) is a session that gave only the changed
    value: the Wi-Fi values now predate ``_lastInform``, so the last inform did not give them."""
    rt, twin, nbi, d, acs = nat_old["rt"], nat_old["twin"], nat_old["nbi"], nat_old["d"], nat_old["genieacs"]
    twin.inject(d.id, "unreachable")
    _install(nbi)
    with Informer(nbi, d, every=0.3) as informer:
        rt.router.reader(d).read(d, [SSID])  # learns: behind NAT
        _informed(informer, 1)
    nbi.inform(d.id, ["4 VALUE CHANGE"])
    posted = _posting(nbi)
    with Informer(nbi, d):
        got = acs.read_for_preview(d, [SSID])
    assert got.source != "cache" and posted and set(posted) == {"getParameterValues"}


# ---------------------------------------------------------------------------- the rule's edges
@pytest.fixture
def rule(nat_old: dict[str, Any]) -> dict[str, Any]:
    """The adapter on a device behind NAT whose last inform ran the presets, its clock held still;
    ``last`` that inform, ``gid``, ``doc`` its document as the NBI gives it."""
    import time

    from executors.genieacs.document import DeviceDoc
    from executors.genieacs.executor import _Reach

    nbi, d, acs = nat_old["nbi"], nat_old["d"], nat_old["genieacs"]
    _install(nbi)
    nbi.inform(d.id)
    gid = nbi.genie_id(d.id)
    doc = DeviceDoc.parse(acs.client.device(gid, ["_lastInform"]))
    acs._reach[gid] = _Reach(False, "Device is offline", time.monotonic(), time.time(), informs=True)
    acs._interval[gid] = 300
    now = [doc.last_inform.timestamp() + 5]
    acs.clock = lambda: now[0]
    return {**nat_old, "gid": gid, "doc": doc, "last": doc.last_inform, "now": now}


def _start(r: dict[str, Any]) -> Any:
    """The start of the last session's refresh interval (GenieACS's ``scheduling.interval``)."""
    from datetime import UTC, datetime

    from executors.genieacs.timing import interval_start

    return datetime.fromtimestamp(interval_start(r["last"].timestamp(), r["gid"]), UTC)


def test_a_value_from_the_last_sessions_refresh_second_counts_one_from_before_it_does_not(rule: dict[str, Any]) -> None:
    from datetime import timedelta

    acs, gid, doc = rule["genieacs"], rule["gid"], rule["doc"]
    start = _start(rule)
    assert acs._given_at_last_inform(gid, doc, start) == (rule["last"], rule["last"] + timedelta(seconds=300))
    assert acs._given_at_last_inform(gid, doc, start - timedelta(milliseconds=1)) is None


def test_the_next_inform_may_be_a_session_budget_late_and_no_more(rule: dict[str, Any]) -> None:
    acs, gid, doc, last, now = rule["genieacs"], rule["gid"], rule["doc"], rule["last"], rule["now"]
    budget = acs.session_budget_s
    now[0] = last.timestamp() + 300 + budget
    assert acs._given_at_last_inform(gid, doc, last) is not None
    now[0] += 0.001
    assert acs._given_at_last_inform(gid, doc, last) is None


@pytest.mark.parametrize(("interval", "kept"), [(1, True), (0, False), (-30, False), (True, False), ("300", False)])
def test_an_interval_that_is_no_positive_number_is_nothing_to_go_by(rule: dict[str, Any], interval: Any,
                                                                     kept: bool) -> None:
    acs, gid, doc, last = rule["genieacs"], rule["gid"], rule["doc"], rule["last"]
    acs._interval[gid] = interval
    assert (acs._given_at_last_inform(gid, doc, last) is not None) is kept


def test_an_interval_not_learnt_here_is_the_one_genieacs_holds(rule: dict[str, Any]) -> None:
    from datetime import timedelta

    from executors.genieacs.document import DeviceDoc

    acs, nbi, gid, doc, last = rule["genieacs"], rule["nbi"], rule["gid"], rule["doc"], rule["last"]
    del acs._interval[gid]
    held = DeviceDoc.parse(acs.client.device(gid, ["Device.ManagementServer.PeriodicInformInterval"]))
    interval = held.value("Device.ManagementServer.PeriodicInformInterval")
    assert isinstance(interval, int) and interval > 0
    assert acs._given_at_last_inform(gid, doc, last) == (last, last + timedelta(seconds=interval))
    assert gid not in acs._interval  # for this bound only: the waits go by one read from the device
    nbi.stop()  # the NBI gone: nothing to go by
    assert acs._given_at_last_inform(gid, doc, last) is None


def test_only_behind_nat_and_a_probe_hears_when_it_would_do(rule: dict[str, Any]) -> None:
    import time

    from executors.genieacs.executor import _Reach

    acs, gid, doc, last = rule["genieacs"], rule["gid"], rule["doc"], rule["last"]
    acs._reach[gid] = _Reach(True, "", time.monotonic(), time.time())
    assert acs._given_at_last_inform(gid, doc, last) is None  # it answers: read it
    del acs._reach[gid]
    assert acs._given_at_last_inform(gid, doc, last) is None and gid not in acs._probing
    acs._probing[gid] = False
    assert acs._given_at_last_inform(gid, doc, last) is None and acs._probing[gid] is True
    acs._probing[gid] = False
    assert acs._given_at_last_inform(gid, doc, _start(rule).replace(year=2000)) is None
    assert acs._probing[gid] is False  # not given at the last inform: no probe, the read waits as before
