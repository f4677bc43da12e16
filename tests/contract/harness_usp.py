"""The USP adapter under the executor contract suite.

The fleet is the simulator harness's fleet (a TR-181 ONT, a TR-098 ONT, a USP-native gateway, a
spare), each device fronted by a simulated USP agent (``executors.sim.usp_host``) on the test
broker, and driven through ``UspExecutor`` — real MQTT, real protobuf, the twin behind the agents.
TR-181 and TR-098 CWMP-era models behave as dual-stack devices running a USP agent next to their
CWMP client, so ``Device.ManagementServer.ParameterKey`` reflects the key the USP Set stored.
Faults are injected into the twin and applied to the agent at once (``AgentHost.sync``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import Harness, _sim_fleet, register_harness
from tests.usp.support import usp_rig


def _forget_subscriptions(rig: Any, device: Any) -> None:
    """The agent as an OB-USP-Agent ships (no ``LocalAgent.Subscription``), and the executor's
    memory of it gone: as for an agent added by hand while it was connected (issue 37)."""
    agent = rig.host.agent(device.id)
    assert agent.sim is not None
    agent.sim.subscriptions.clear()
    rig.executor._info.pop(agent.endpoint_id, None)


def usp_harness_over(name: str, rig_factory: Callable[..., Any], tmp_path: Path) -> Iterator[Harness]:
    """The USP harness on a rig of either MTP (MQTT here, WebSocket in ``harness_usp_ws``): the same
    fleet, faults and extras, so both run the one contract suite alike."""
    fleet: dict[str, object] = {}

    def make(twin: object) -> list[object]:
        fleet.update(_sim_fleet(twin))
        return list(fleet.values())

    with rig_factory(tmp_path, make) as rig:
        twin = rig.twin
        yield Harness(
            name=name,
            executor=rig.executor,
            tr181_device=fleet["tr181"],  # type: ignore[arg-type]
            tr098_device=fleet["tr098"],  # type: ignore[arg-type]
            usp_device=fleet["usp"],  # type: ignore[arg-type]
            usp_capable=True,
            inject=rig.inject,
            clear=rig.clear,
            make_slow_executor=rig.executor.with_timeout,
            native=lambda device: twin.params(device.id),
            extras={"twin": twin, "rig": rig, "spare": fleet["spare"], "full_schema": True,
                    "forget_subscriptions": lambda device: _forget_subscriptions(rig, device)},
        )


@register_harness("usp", marks=[pytest.mark.mqtt])
@contextmanager
def usp_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from usp_harness_over("usp", usp_rig, tmp_path)
