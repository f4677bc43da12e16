"""Firmware through GenieACS (issue 37 item 6): a governed download awaits the CPE's TransferComplete
and reads the version back; a firmware campaign ring over several CPEs.

What the real peers did (GenieACS 1.2.16 on secantusdb, genieacs-sim CPEs, an image PUT to
``/files/gw-fw-2.0.bin`` with a ``version`` header and served by genieacs-fs):

* ``POST /devices/<id>/tasks?connection_request`` ``{"name": "download", "fileType": "1 Firmware
  Upgrade Image", "fileName": …}`` was answered **200 in 0.66 s**, when the CPE answered
  DownloadResponse Status 1. The document then had ``Downloads.1`` (``Download`` = the session's
  time, ``LastDownload`` 1970-01-01); genieacs-fs logged the CPE's GET of the image at once.
* The **TransferComplete came only in the CPE's next session** (genieacs-sim keeps it for its next
  Inform: PeriodicInformInterval 300 s, or a connection request): ``LastDownload`` became the
  download's time, ``LastFileName`` the file, ``StartTime``/``CompleteTime`` filled; no fault.
* genieacs-sim **never reboots and never changes SoftwareVersion** (``methods.js`` ``Download``
  fetches the URL and queues a TransferComplete, nothing else): SoftwareVersion stayed
  ``V100R001IRQC56B017``, ``_lastBoot`` never moved.
* A file the server lacks: the task was still answered 200; at the next session a TransferComplete
  with ``9016 Unexpected response 404`` became the fault ``<id>:task_<taskId>`` (``cwmp.9016``) on
  the channel of the task that was already gone, and ``Downloads.1.Download`` went back to 1970.

The local double (``testing.genieacs``) does the same; a twin device with the
``download_not_installed`` fault is a genieacs-sim CPE, any other a CPE that reboots into the image
and informs ``1 BOOT``/``7 TRANSFER COMPLETE``/``M Download`` with its TransferComplete.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from core.kernel.models import Device, Root
from core.store import repo
from core.store.schema import DeviceRow, ExecutionRow
from executors.base import Fault, Timeout
from testing.grants import grant
from tests.campaigns.helpers import approved, drive, who

OLD, NEW = "V3R017C10S105", "V3R017C10S120"
MODEL = "HG8020-L"
# The URL names the image; GenieACS serves its own copy of that name from genieacs-fs, so the URL
# stays under the policy's approved firmware server (policies/data/limits.json).
URL = f"https://firmware.gateward.example/huawei/{NEW}.bin"
SW = "Device.DeviceInfo.SoftwareVersion"


@pytest.fixture
def fw(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A seeded fleet whose HG8020-L CPEs on the old firmware are managed through the fake GenieACS,
    and the new image uploaded to its file server as an operator would (``PUT /files/<name>``)."""
    from campaigns.service import Campaigns
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
    nbi = FakeNbi(twin, tick_s=None, boot_s=0.2)
    nbi.start()
    ex = GenieAcsExecutor(url=nbi.url, timeout_s=5.0, reboot_timeout_s=20.0)
    ex.transfer_nudge_s = 0.5
    rt = build_runtime(Settings(database_url=url), router=ExecutorRouter(
        {"sim": lambda: SimExecutor(twin), "genieacs": lambda: ex}))
    seed_fleet(rt, homes=40, seed=11, snapshots=False)
    with rt.store.read() as s:
        devs, _ = repo.list_devices(s, model=MODEL, firmware=OLD, limit=500)
    devs = [d for d in devs if str(d.protocol) == "cwmp" and not twin.faults(d.id)]
    if len(devs) < 3:
        pytest.fail(f"the seeded fleet has {len(devs)} healthy {MODEL} CWMP devices on {OLD}; the ring needs 3")
    ids = [d.id for d in devs]
    with rt.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.model == MODEL).values(adapter="genieacs"))
    with rt.store.read() as s:
        switched = repo.get_devices(s, ids)
    with httpx.Client(base_url=nbi.url) as c:
        put = c.put(f"/files/{NEW}.bin", content=b"\x00" * 4096,
                    headers={"fileType": "1 Firmware Upgrade Image", "oui": devs[0].oui,
                             "productClass": devs[0].product_class, "version": NEW})
        assert put.status_code == 201
    yield {"rt": rt, "twin": twin, "nbi": nbi, "ex": ex, "devices": [switched[i] for i in ids],
           "svc": Campaigns(rt)}
    rt.close()
    del rt
    gc.collect()
    ex.close()
    nbi.stop()
    twin.close()


def _download(ex: Any, d: Device, **args: Any) -> Any:
    with grant(ex, d, commands=["download"]) as g:
        return ex.operate(d, "download", {"url": URL, "version": NEW, **args}, g)


def _rpcs(nbi: Any, d: Device, name: str) -> list[dict[str, Any]]:
    return [e for e in nbi.rpc_log(d.id) if e["rpc"] == name]


def test_a_download_is_done_when_the_cpe_reboots_into_the_image_and_reports_transfer_complete(
    fw: dict[str, Any],
) -> None:
    ex, nbi, twin, d = fw["ex"], fw["nbi"], fw["twin"], fw["devices"][0]
    assert d.root is Root.IGD  # a TR-098 CPE, as genieacs-sim's are
    res = _download(ex, d)
    assert res.status == "done", res.output
    out = res.output
    assert (out["transfer"], out["firmware"], out["previous"], out["rebooted"], out["installed"]) == (
        "complete", NEW, OLD, True, True)
    assert "detail" not in out
    assert twin.device(d.id).firmware == NEW
    informs = [e["events"] for e in _rpcs(nbi, d, "Inform")]
    assert ["1 BOOT", "7 TRANSFER COMPLETE", "M Download"] in informs
    tc = _rpcs(nbi, d, "TransferComplete")
    assert [(e["commandKey"], e["faultCode"]) for e in tc] == [(out["task"], 0)]


def test_a_cpe_that_reports_the_transfer_but_keeps_its_version_is_said_so_plainly(fw: dict[str, Any]) -> None:
    """genieacs-sim's behaviour: TransferComplete 0 only in its next session, no reboot, the same
    SoftwareVersion. The adapter nudges the CPE into a session (a connection request), sees the
    transfer recorded, and reports the version it still runs: done, ``installed: false``."""
    ex, nbi, twin, d = fw["ex"], fw["nbi"], fw["twin"], fw["devices"][0]
    twin.inject(d.id, "download_not_installed")
    res = _download(ex, d)
    out = res.output
    assert (res.status, out["transfer"], out["firmware"], out["rebooted"], out["installed"]) == (
        "done", "complete", OLD, False, False)
    assert f"runs {OLD}, not {NEW} (it did not reboot)" in out["detail"]
    assert twin.device(d.id).firmware == OLD
    assert not any("1 BOOT" in e["events"] for e in _rpcs(nbi, d, "Inform")[1:])
    # the TransferComplete rode on a session the adapter asked for
    assert any("6 CONNECTION REQUEST" in e["events"] for e in _rpcs(nbi, d, "Inform")[1:])
    assert [e["faultCode"] for e in _rpcs(nbi, d, "TransferComplete")] == [0]


def test_a_transfer_complete_fault_is_a_typed_fault_and_is_cleared_from_genieacs(fw: dict[str, Any]) -> None:
    ex, nbi, twin, d = fw["ex"], fw["nbi"], fw["twin"], fw["devices"][0]
    twin.inject(d.id, "download_fails", code=9010, message="image signature invalid")
    with pytest.raises(Fault) as err:
        _download(ex, d)
    assert err.value.code == 9010
    assert "cwmp.9010" in err.value.message and "image signature invalid" in err.value.message
    assert "still runs its old image" in err.value.message
    assert nbi.store.faults == {}  # cleared: the next download is not blocked by it
    assert twin.device(d.id).firmware == OLD


def test_no_transfer_complete_within_the_wait_is_a_timeout(fw: dict[str, Any]) -> None:
    ex, twin, d = fw["ex"], fw["twin"], fw["devices"][0]
    twin.inject(d.id, "download_bricks")  # installs, reboots, never comes back: no TransferComplete
    with pytest.raises(Timeout, match="no TransferComplete within 2s"):
        _download(ex, d, timeout_s=2)


def _campaign(fw: dict[str, Any]) -> dict[str, Any]:
    rt, svc = fw["rt"], fw["svc"]
    st = approved(rt, svc, name="firmware over genieacs", changes=[], target={"model": MODEL, "firmware": OLD},
                  gate={"min_executed": 1}, canary_pct=25, rings=[50, 100],
                  firmware={"url": URL, "version": NEW})
    assert st["kind"] == "firmware"
    svc.start(st["id"], who(rt, "dave"))
    return drive(svc, st["id"])


def test_a_firmware_campaign_ring_over_genieacs_upgrades_every_cpe(fw: dict[str, Any]) -> None:
    rt, twin, devs = fw["rt"], fw["twin"], fw["devices"]
    out = _campaign(fw)
    assert out["state"] == "completed", (out["halt_reason"], out["error"])
    assert out["progress"]["verified"] == len(devs)
    assert all(twin.device(d.id).firmware == NEW for d in devs)
    with rt.store.read() as s:
        after = repo.get_devices(s, [d.id for d in devs])
    assert {d.firmware for d in after.values()} == {NEW}  # the inventory follows verified upgrades


def test_a_firmware_campaign_over_genieacs_sim_like_cpes_halts_at_the_canary(fw: dict[str, Any]) -> None:
    """What a ring over the real genieacs-sim does: every transfer completes, no version changes, the
    canary's verify fails on SoftwareVersion and the campaign goes no further."""
    twin, devs = fw["twin"], fw["devices"]
    for d in devs:
        twin.inject(d.id, "download_not_installed")
    out = _campaign(fw)
    assert out["state"] in ("aborted", "failed", "paused"), out["state"]
    canary = out["rings_detail"][0]
    assert canary["failed"] >= 1 and canary["verified"] == 0
    assert all(r["verified"] + r["failed"] == 0 for r in out["rings_detail"][1:])  # nothing past the canary
    with fw["rt"].store.read() as s:
        rows = list(s.execute(select(ExecutionRow.status, ExecutionRow.error, ExecutionRow.detail).where(
            ExecutionRow.proposal_id == out["proposal"]["id"], ExecutionRow.error.is_not(None))))
    mismatch = {SW: {"expected": NEW, "got": OLD}}  # the read-back says why, device by device
    assert rows and all(d["mismatch"] == mismatch and "verification failed" in e for _st, e, d in rows), rows
    # a download restores nothing: the abort leaves them verify_failed, never "rolled back"
    assert {st for st, _e, _d in rows} == {"verify_failed"}, rows
    assert canary["rolled_back"] == 0 and canary["status"] != "rolled back", canary
    assert "did not install" in (out["proposal"]["error"] or ""), out["proposal"]
    assert all(twin.device(d.id).firmware == OLD for d in devs)


def _governed_download(fw: dict[str, Any], d: Device, **args: Any) -> Any:
    """``propose --op download:URL`` as a person: submit, approve as policy asks, apply."""
    from core.kernel.models import Operation, ProposalDraft, ProposalState

    rt = fw["rt"]
    p = rt.lifecycle.submit(ProposalDraft(intent="firmware", targets=[d.id], rationale="security fix",
                                          operations=[Operation(command="download", args={"url": URL, **args})]),
                            who(rt, "dave"))
    for name in ("carol", "bob"):
        if rt.lifecycle.get(p.id).state is ProposalState.AWAITING_APPROVAL:
            rt.lifecycle.approve(p.id, who(rt, name))
    rt.lifecycle.apply(p.id, who(rt, "dave"))
    with rt.store.read() as s:
        row = s.execute(select(ExecutionRow.status, ExecutionRow.error, ExecutionRow.detail).where(
            ExecutionRow.proposal_id == p.id)).one()
    return rt.lifecycle.get(p.id), row


@pytest.mark.parametrize("named", [False, True], ids=["version-from-the-image", "version-in-the-proposal"])
def test_a_single_download_that_did_not_install_is_never_verified(fw: dict[str, Any], named: bool) -> None:
    """Seen against GenieACS 1.2.16 + genieacs-sim: ``propose --op download:URL`` (no version) was
    ``verified``/``done`` although the execution's own detail said ``installed: false``. The image's
    declared version (GenieACS file metadata) is what verify compares now, named or not; a download
    restores nothing, so the device stays ``verify_failed`` and the proposal ``failed``."""
    twin, d = fw["twin"], fw["devices"][0]
    twin.inject(d.id, "download_not_installed")
    p, (status, error, detail) = _governed_download(fw, d, **({"version": NEW} if named else {}))
    assert str(p.state) == "failed", (p.state, p.error)
    assert "did not install" in (p.error or "") and "cannot be rolled back" in (p.error or "")
    assert status == "verify_failed", (status, error)
    assert detail["mismatch"] == {SW: {"expected": NEW, "got": OLD}}
    assert detail["op:download"]["output"]["installed"] is False
    assert twin.device(d.id).firmware == OLD


def test_a_single_download_that_installed_is_verified_without_a_version_in_the_proposal(fw: dict[str, Any]) -> None:
    twin, d = fw["twin"], fw["devices"][0]
    p, (status, _error, _detail) = _governed_download(fw, d)
    assert (str(p.state), status) == ("done", "verified"), p.error
    assert twin.device(d.id).firmware == NEW
