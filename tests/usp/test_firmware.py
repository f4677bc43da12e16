"""Firmware over USP against an agent like the OB-USP-Agent (issue 37 item 6).

What the real agent did (OB-USP-Agent v11.0.4, its default build, over Mosquitto, accepted into a
Gateward home): its schema (``obuspa -c dump datamodel``) has no ``Device.DeviceInfo.FirmwareImage.``
table, hence no ``Download()`` or ``Activate()``, and no ``Device.LocalAgent.TransferComplete!``
event; its only commands are Reboot(), FactoryReset(), ScheduleTimer(), SelfTestDiagnostics() and
LocalAgent/MQTT ones, and its only firmware trace is Boot!'s ``FirmwareUpdated`` argument (true when
SoftwareVersion changed across a boot — which its DeviceInfo.SoftwareVersion, empty, never does
without a vendor hook). A governed download (``gateward propose --op download:…``, approved,
applied) sent ``Operate Device.DeviceInfo.FirmwareImage.1.Download()`` and the agent answered an
Error: ``7026 CheckPathProperties: Path (Device.DeviceInfo.FirmwareImage.1.Download()) does not
exist in the schema``; the proposal failed with nothing to roll back.

The simulated agent configured like it (``HostConfig.like_obuspa``: ``firmware_image=False``) lacks
the table the same way and answers the same Error; with the table (the default) it runs Download()
with its OperationComplete and reboots into the image (``test_commands``).

Validate against what the device has: its discovery (GetSupportedDM) lists its commands, stored with its
capabilities, so a governed download — a proposal or a firmware campaign — aimed at such an agent is
``invalid`` before anyone approves, naming the command its data model lacks, and nothing is sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from core.kernel.errors import Conflict, Invalid
from core.kernel.models import Operation, ProposalDraft, ProposalState
from core.users import get_actor
from executors.base import Fault
from executors.sim.usp_host import HostConfig
from executors.usp.executor import endpoint_for
from tests.usp.support import BrokerInfo, UspRig
from tests.usp.test_controller import rig_grant
from tests.usp.test_lifecycle_usp import governed_usp_agent

pytestmark = pytest.mark.mqtt
DOWNLOAD = "Device.DeviceInfo.FirmwareImage.1.Download()"
SW = "Device.DeviceInfo.SoftwareVersion"


def _supported_commands(rig: UspRig, ep: str) -> set[str]:
    rig.settle(rig.devices[0])
    resp = rig.ctl(rig.controller.get_supported_dm(ep, ["Device."], timeout=5))
    out: set[str] = set()
    for req in resp.req_obj_results:
        for obj in req.supported_objs:
            out |= {obj.supported_obj_path + c.command_name for c in obj.supported_commands}
    return out


def test_an_agent_like_obuspa_has_no_firmware_image_and_refuses_download_as_it_does(
    make_rig: Callable[..., UspRig],
) -> None:
    assert HostConfig.like_obuspa("mqtt://x").firmware_image is False
    rig = make_rig(firmware_image=False)
    (d,) = rig.devices
    ep = endpoint_for(d)
    commands = _supported_commands(rig, ep)
    assert "Device.Reboot()" in commands
    assert not any("FirmwareImage" in c for c in commands), commands
    before = rig.twin.state(d.id)
    version, boots = before.record.firmware, before.boot_count
    with rig_grant(rig.executor, d, "download") as g, pytest.raises(Fault) as err:
        rig.executor.operate(d, "download", {"url": "https://firmware.gateward.example/prpl/3.2.0.bin",
                                             "version": "prplOS-3.2.0"}, g)
    assert "USP 7026" in err.value.message
    assert f"CheckPathProperties: Path ({DOWNLOAD}) does not exist in the schema" in err.value.message
    after = rig.twin.state(d.id)
    assert (after.record.firmware, after.boot_count) == (version, boots)  # nothing happened
    assert rig.executor.read(d, [SW])[SW].value == version


def test_an_agent_with_the_table_lists_download(make_rig: Callable[..., UspRig]) -> None:
    rig: Any = make_rig()
    (d,) = rig.devices
    assert "Device.DeviceInfo.FirmwareImage.{i}.Download()" in _supported_commands(rig, endpoint_for(d))


# --------------------------------------------------------------------------- refused at validation
LACKS = "its own data model has no Device.DeviceInfo.FirmwareImage.{i}.Download()"
IMAGE = {"url": "https://firmware.gateward.example/prpl/3.2.0.bin", "version": "prplOS-3.2.0"}


@pytest.fixture
def discovered(request: pytest.FixtureRequest, db_url: str, usp_broker: BrokerInfo,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, Any, list[str]]]:
    """A governed USP agent, with the FirmwareImage table or without it (``request.param``: True or
    False), discovered by `gateward devices discover`; yields the runtime, the device, its twin and the
    command paths every Operate sent. A fixture, so the runtime is gone before its teardown collects it."""
    from gateward import cli

    firmware_image: bool = request.param
    with governed_usp_agent(db_url, usp_broker, controller_id=f"proto::gw-fw-{uuid.uuid4().hex[:8]}",
                            firmware_image=firmware_image) as (rt, d, host, _loop):
        with monkeypatch.context() as m:
            m.setattr(cli, "_runtime", rt)
            m.setattr(cli, "console", Console(width=300, color_system=None))
            out = CliRunner().invoke(cli.app, ["devices", "discover", d.id])
        assert out.exit_code == 0, out.output
        assert ("no download (refused at validate)" in out.output) is not firmware_image, out.output
        controller = rt.router.writer(d).controller
        sent: list[str] = []
        real = controller.operate

        def operate(ep: str, path: str, *args: Any, **kw: Any) -> Any:
            sent.append(path)
            return real(ep, path, *args, **kw)

        controller.operate = operate
        yield rt, d, host.twin, sent
        del rt  # dropped before governed_usp_agent collects it, on this thread


def _download(d: Any) -> ProposalDraft:
    return ProposalDraft(intent="upgrade to prplOS 3.2.0", targets=[d.id],
                         operations=[Operation(command="download", args=dict(IMAGE))], rationale="security fix")


@pytest.mark.slow
@pytest.mark.parametrize("discovered", [False], indirect=True, ids=["without-firmware-image"])
def test_a_download_the_agent_lacks_is_invalid_before_approval(discovered: Any) -> None:
    rt, d, twin, sent = discovered
    before = twin.state(d.id)
    p = rt.lifecycle.submit(_download(d), get_actor(rt.store, "dave"))
    assert p.state is ProposalState.INVALID, p.state
    assert p.error is not None
    assert f"download is not supported by {d.vendor} {d.model} fw {d.firmware}: {LACKS}" in p.error
    assert "`gateward devices discover` refreshes" in p.error
    with pytest.raises(Conflict):  # nobody can approve it
        rt.lifecycle.approve(p.id, get_actor(rt.store, "carol"))
    # a command its data model has still validates on the same device
    reboot = ProposalDraft(intent="reboot", targets=[d.id], operations=[Operation(command="reboot")],
                           rationale="hung")
    assert rt.lifecycle.submit(reboot, get_actor(rt.store, "dave")).state is not ProposalState.INVALID
    # a firmware campaign over it is refused when it is created, not at the agent
    from campaigns.service import Campaigns

    with pytest.raises(Invalid) as err:
        Campaigns(rt).create({"name": "prplOS 3.2.0", "target": {"devices": [d.id]}, "emergency": True,
                              "firmware": IMAGE}, get_actor(rt.store, "dave"))
    assert "campaign refused" in err.value.message and LACKS in err.value.message
    assert sent == []  # no Operate reached the agent
    after = twin.state(d.id)
    assert (after.record.firmware, after.boot_count) == (before.record.firmware, before.boot_count)


@pytest.mark.slow
@pytest.mark.parametrize("discovered", [True], indirect=True, ids=["with-firmware-image"])
def test_a_download_the_agent_has_validates_as_before(discovered: Any) -> None:
    rt, d, _twin, _sent = discovered
    p = rt.lifecycle.submit(_download(d), get_actor(rt.store, "dave"))
    assert p.state is not ProposalState.INVALID, p.error
