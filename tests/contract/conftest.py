"""The executor contract suite's fixtures: one ``harness`` per registered adapter.

Every adapter (the simulator now; the USP controller and the GenieACS adapter later) must pass
the same tests (NAPALM's lesson: one driver contract, one shared conformance suite). To add an
adapter, register a factory::

    @register_harness("genieacs", marks=[pytest.mark.genieacs])
    @contextmanager
    def genieacs_harness(request, tmp_path):
        ... yield Harness(...)

A factory yields a :class:`Harness` over a small fleet holding at least one TR-181 device and
one TR-098 (``InternetGatewayDevice.``) device whose 5 GHz radio carries two
WLANConfigurations, and a way to inject faults into those devices (the sim-backed CWMP/USP
device simulators share the twin, so ``Twin.inject`` works for them too).

With ``GATEWARD_TEST_DATABASE_URL`` set, the simulator also runs against PostgreSQL, in a schema
of its own that is dropped at the end of the session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.kernel.models import Device, Scalar
from executors.base import Executor, GrantPurpose, WriteGrant
from testing.grants import grant

PG_URL = os.environ.get("GATEWARD_TEST_DATABASE_URL")

HarnessFactory = Callable[[pytest.FixtureRequest, Path], AbstractContextManager["Harness"]]


@dataclass
class Harness:
    """What the contract tests need from an adapter under test."""

    name: str
    executor: Executor
    tr181_device: Device
    tr098_device: Device
    usp_capable: bool
    inject: Callable[..., None]  # inject(device, kind, **params)
    clear: Callable[..., None]  # clear(device, kind=None)
    make_slow_executor: Callable[[float], Executor]  # same fleet, per-call timeout_s
    usp_device: Device | None = None
    # The device's own (native) parameter values, when the harness can see them without the
    # adapter (e.g. the twin behind a simulator); None when it cannot.
    native: Callable[[Device], dict[str, Scalar]] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def grant(
        self,
        device: Device,
        *,
        paths: list[str] | tuple[str, ...] = (),
        commands: list[str] | tuple[str, ...] = (),
        purpose: GrantPurpose = "apply",
        proposal_id: str = "p-contract",
    ) -> Iterator[WriteGrant]:
        """A real grant from the test authority bound to this harness's executor, revoked when the
        block ends."""
        with grant(self.executor, device, paths=paths, commands=commands, purpose=purpose,
                   proposal_id=proposal_id) as g:
            yield g


HARNESS_FACTORIES: dict[str, tuple[HarnessFactory, list[Any]]] = {}


def register_harness(name: str, marks: list[Any] | None = None) -> Callable[[HarnessFactory], HarnessFactory]:
    def deco(factory: HarnessFactory) -> HarnessFactory:
        HARNESS_FACTORIES[name] = (factory, list(marks or []))
        return factory

    return deco


# --------------------------------------------------------------------------- the simulator

TR181_MODEL = "lumenet-g240w-3.2"
TR098_MODEL = "sinotel-hg8020-s105"
USP_MODEL = "prplnet-px7000-1.3"


def _sim_fleet(twin: Any) -> dict[str, Device]:
    return {
        "tr181": twin.add_device(TR181_MODEL, "LMNT90000001", region="GB", subscriber="sub-contract-1"),
        "tr098": twin.add_device(TR098_MODEL, "4857544390000001", region="DE", subscriber="sub-contract-2"),
        "usp": twin.add_device(USP_MODEL, "PX7K90000001", region="DE", subscriber="sub-contract-3"),
        "spare": twin.add_device(TR181_MODEL, "LMNT90000002", region="DE", subscriber="sub-contract-4"),
    }


def _sim_harness(name: str, twin: Any) -> Harness:
    from executors.sim.executor import SimExecutor

    devices = _sim_fleet(twin)
    executor = SimExecutor(twin)
    return Harness(
        name=name,
        executor=executor,
        tr181_device=devices["tr181"],
        tr098_device=devices["tr098"],
        usp_device=devices["usp"],
        usp_capable=True,
        inject=lambda device, kind, **params: twin.inject(device.id, kind, **params),
        clear=lambda device, kind=None: twin.clear(device.id, kind),
        make_slow_executor=lambda timeout_s: SimExecutor(twin, timeout_s=timeout_s),
        native=lambda device: twin.params(device.id),
        extras={"twin": twin, "spare": devices["spare"]},
    )


@register_harness("sim-sqlite")
@contextmanager
def sim_sqlite_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    from executors.sim.twin import Twin

    twin = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    try:
        yield _sim_harness("sim-sqlite", twin)
    finally:
        twin.close()


@pytest.fixture(scope="session")
def sim_pg_twin() -> Iterator[Any]:
    from executors.sim.twin import Twin

    assert PG_URL
    twin = Twin(PG_URL, schema=f"sim_contract_{uuid.uuid4().hex[:10]}")
    yield twin
    twin.drop()
    twin.close()


if PG_URL:

    @register_harness("sim-postgres", marks=[pytest.mark.postgres])
    @contextmanager
    def sim_postgres_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
        twin = request.getfixturevalue("sim_pg_twin")
        twin.reset()
        yield _sim_harness("sim-postgres", twin)


from tests.contract import harness_genieacs  # noqa: E402, F401, I001  (registers the "genieacs" harness)
from tests.contract import harness_usp  # noqa: E402, F401  (registers the "usp" harness)
from tests.contract import harness_usp_ws  # noqa: E402, F401  (registers the "usp-websocket" harness)


def _params() -> list[Any]:
    return [pytest.param(name, marks=marks, id=name) for name, (_, marks) in HARNESS_FACTORIES.items()]


@pytest.fixture(params=_params())
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    factory, _ = HARNESS_FACTORIES[request.param]
    with factory(request, tmp_path) as h:
        yield h
