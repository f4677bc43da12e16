"""The lifecycle, end to end, with CWMP devices managed through GenieACS.

A seeded fleet, two of its CWMP devices (one TR-181, one TR-098) switched to the ``genieacs``
adapter, and the fake NBI running over the very twin the fleet was loaded into: proposals are
submitted, gated, backed up, applied through the NBI, verified by read-back through the NBI —
and rolled back through it when the change does not hold.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from core.audit import verify_chain
from core.kernel.errors import DeviceUnavailable
from core.kernel.models import Change, Device, ProposalDraft, ProposalState, Root
from core.store import repo
from core.store.schema import DeviceRow
from core.users import get_actor

S = ProposalState
CH = "Device.WiFi.Radio.{r}.Channel"
ACE = "Device.WiFi.Radio.{r}.AutoChannelEnable"
SSID1 = "Device.WiFi.SSID.1.SSID"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    from core.kernel.config import Settings
    from core.routing import ExecutorRouter
    from executors.genieacs.executor import GenieAcsExecutor
    from executors.sim.executor import SimExecutor
    from executors.sim.twin import Twin
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet
    from testing.genieacs.fake_nbi import FakeNbi

    url = f"sqlite:///{tmp_path / 'gateward.db'}"
    twin = Twin(url)
    nbi = FakeNbi(twin, tick_s=None)
    nbi.start()
    genieacs = GenieAcsExecutor(url=nbi.url, timeout_s=5.0, inform_wait_s=0.0)  # no NAT waits (test_nat.py)
    router = ExecutorRouter({"sim": lambda: SimExecutor(twin), "genieacs": lambda: genieacs})
    rt = build_runtime(Settings(database_url=url), router=router)
    seed_fleet(rt, homes=12, seed=11)
    with rt.store.read() as s:
        fleet, _ = repo.list_devices(s, limit=1000)
    chosen: dict[str, Device] = {}
    for d in fleet:
        if str(d.protocol) != "cwmp":
            continue
        kind = "tr098" if d.root is Root.IGD else "tr181"
        if kind not in chosen and not twin.faults(d.id):
            chosen[kind] = d
    if len(chosen) < 2:
        pytest.fail(f"the seeded fleet lacks a healthy TR-181 or TR-098 CWMP device (found {sorted(chosen)})")
    with rt.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id.in_([d.id for d in chosen.values()])).values(adapter="genieacs"))
    with rt.store.read() as s:
        switched = repo.get_devices(s, [d.id for d in chosen.values()])
    yield {"rt": rt, "twin": twin, "nbi": nbi, **{k: switched[d.id] for k, d in chosen.items()}}
    rt.close()
    del rt
    gc.collect()  # drop the (thread-bound) regorus engine here, not in one of the fake's threads
    genieacs.close()
    nbi.stop()
    twin.close()


def _radio_5g(rt: Any, d: Device) -> int:
    for path, v in rt.router.reader(d).read(d, ["Device.WiFi.Radio."]).items():
        if path.endswith(".OperatingFrequencyBand") and v.value == "5GHz":
            return int(path.split(".")[3])
    pytest.fail(f"{d.id} has no 5 GHz radio; the seeded TR-181 CWMP devices must have one")
    return 0


def _channel_proposal(rt: Any, d: Device) -> tuple[Any, int, int]:
    r = _radio_5g(rt, d)
    current = rt.router.reader(d).read(d, [CH.format(r=r)])[CH.format(r=r)].value
    target = next(c for c in (36, 40, 44, 48) if c != current)
    draft = ProposalDraft(
        intent="move 5 GHz off a busy channel",
        targets=[d.id],
        changes=[Change(path=ACE.format(r=r), value=False), Change(path=CH.format(r=r), value=target)],
        rationale="neighbours crowd the current channel",
    )
    return rt.lifecycle.submit(draft, get_actor(rt.store, "alice")), r, target


@pytest.mark.parametrize("kind", ["tr181", "tr098"])
def test_change_applies_and_verifies_through_genieacs(world: dict[str, Any], kind: str) -> None:
    rt, twin, nbi, d = world["rt"], world["twin"], world["nbi"], world[kind]
    assert d.adapter == "genieacs"
    p, r, target = _channel_proposal(rt, d)
    assert p.state is S.APPROVED, p.error
    out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    assert rt.router.reader(d).read(d, [CH.format(r=r)])[CH.format(r=r)].value == target
    native = twin.params(d.id)
    assert target in {v for k, v in native.items() if k.endswith(".Channel")}
    sent = [e for e in nbi.rpc_log(d.id) if e["rpc"] == "SetParameterValues" and e.get("parameterList")]
    assert sent, "the change must have gone through the NBI"
    with rt.store.read() as s:
        assert verify_chain(s).ok


def test_change_that_does_not_hold_is_rolled_back_through_genieacs(world: dict[str, Any]) -> None:
    rt, twin, d = world["rt"], world["twin"], world["tr181"]
    p, r, _target = _channel_proposal(rt, d)
    before = twin.params(d.id)[CH.format(r=r)]
    twin.inject(d.id, "not_sticky", path=CH.format(r=r))  # the firmware accepts, then reverts
    out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state is S.ROLLED_BACK, out.proposal.error
    assert twin.params(d.id)[CH.format(r=r)] == before
    assert twin.params(d.id)[ACE.format(r=r)] == rt.router.reader(d).read(d, [ACE.format(r=r)])[ACE.format(r=r)].value


def test_unreachable_device_is_deferred_and_nothing_lands_later(world: dict[str, Any]) -> None:
    rt, twin, nbi, d = world["rt"], world["twin"], world["nbi"], world["tr098"]
    p, _r, _target = _channel_proposal(rt, d)
    channels = {k: v for k, v in twin.params(d.id).items() if k.endswith(".Channel")}
    twin.inject(d.id, "unreachable")
    # presence sends no probe; the backup read's own connection request fails and nothing is written
    with pytest.raises(DeviceUnavailable, match="cannot be reached"):
        rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert rt.lifecycle.get(p.id).state is S.APPROVED  # nothing was changed; apply again later
    twin.clear(d.id)
    nbi.inform(d.id)  # its next inform: nothing was left queued to land behind the lifecycle's back
    assert {k: v for k, v in twin.params(d.id).items() if k.endswith(".Channel")} == channels
    out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error


# --------------------------------------------------------------------------- issue 12 d4: backup from the preview

def _ssid_proposal(rt: Any, d: Device) -> Any:
    """Submit (validate, live preview — which reads the device —, decide) a rename of SSID 1."""
    from core.kernel.models import ProposalDraft
    from core.users import get_actor

    draft = ProposalDraft(intent="rename the home network", targets=[d.id],
                          changes=[Change(path=SSID1, value=f"Home-{d.serial[-4:]}-new")],
                          rationale="the customer asked for a new network name")
    return rt.lifecycle.submit(draft, get_actor(rt.store, "alice"))


def _count_tasks(nbi: Any) -> list[str]:
    """The names of the tasks posted to the NBI from now on."""
    names: list[str] = []
    real = nbi.post_task

    def counting(g: str, raw: Any, **kw: Any) -> Any:
        names.append(raw.get("name"))
        return real(g, raw, **kw)

    nbi.post_task = counting
    return names


def _backups(rt: Any, pid: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from core.store.schema import BackupRow

    with rt.store.read() as s:
        return [b.params for b in s.scalars(select(BackupRow).where(BackupRow.proposal_id == pid))]


@pytest.mark.parametrize("kind", ["tr181", "tr098"])
def test_an_apply_right_after_submit_backs_up_from_the_preview(world: dict[str, Any], kind: str) -> None:
    from core.kernel.models import ProposalState
    from core.users import get_actor

    rt, nbi, d = world["rt"], world["nbi"], world[kind]
    p = _ssid_proposal(rt, d)
    assert p.state is ProposalState.APPROVED, p.error
    names = _count_tasks(nbi)
    out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state is ProposalState.DONE, out.proposal.error
    assert names == ["setParameterValues", "getParameterValues"]  # no backup task, one Set, one verify
    [params] = _backups(rt, p.id)
    assert all("preview read at" in v["source"] and "untouched since" in v["source"] for v in params.values())


def test_an_inform_between_preview_and_apply_makes_the_backup_read_the_device(world: dict[str, Any]) -> None:
    from core.kernel.models import ProposalState
    from core.users import get_actor

    rt, nbi, d = world["rt"], world["nbi"], world["tr181"]
    p = _ssid_proposal(rt, d)
    assert p.state is ProposalState.APPROVED, p.error
    nbi.inform(d.id)  # a periodic inform between the preview and the apply
    names = _count_tasks(nbi)
    out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state is ProposalState.DONE, out.proposal.error
    assert names == ["getParameterValues", "setParameterValues", "getParameterValues"]
    [params] = _backups(rt, p.id)
    assert not any("source" in v for v in params.values())
