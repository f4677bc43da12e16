"""Fixtures for the USP suite: a broker (see ``tests.usp.support``) and rigs of simulated agents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, module_runtime
from tests.usp.support import BrokerInfo, UspRig, broker, usp_rig

PRPL = "prplnet-px7000-1.3"
LUMENET = "lumenet-g240w-3.2"
SINOTEL = "sinotel-hg8020-s105"


@pytest.fixture(scope="module", params=BACKENDS)
def rt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A seeded runtime per backend per module (onboarding and real-agent parity tests)."""
    yield from module_runtime(request, tmp_path_factory, "usp", homes=4)


@pytest.fixture
def allow(rt: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The onboarding allow list of ``rt``'s policy data, empty; a test adds what it allows."""
    doc: dict[str, Any] = {"allow": {"endpoint_ids": [], "ouis": []}, "defaults": {"region": "DE"}}
    monkeypatch.setitem(rt.policy.policy_data, "onboarding", doc)
    return doc["allow"]


@pytest.fixture(scope="session")
def usp_broker() -> BrokerInfo:
    return broker()


@pytest.fixture
def make_rig(tmp_path: Path, usp_broker: BrokerInfo) -> Iterator[Callable[..., UspRig]]:
    """``make_rig(models=[(model_key, serial, region)...], **host_options)`` → a started rig."""
    with ExitStack() as stack:

        def make(models: list[tuple[str, str, str]] | None = None, **options: Any) -> UspRig:
            wanted = models or [(PRPL, "PX7K10000001", "DE")]

            def devices(twin: Any) -> list[Any]:
                return [twin.add_device(m, serial, region=region) for m, serial, region in wanted]

            return stack.enter_context(usp_rig(tmp_path, devices, **options))

        yield make


@pytest.fixture
def rig(make_rig: Callable[..., UspRig]) -> UspRig:
    """One USP-native gateway (Prplnet PX-7000) behind a simulated agent."""
    return make_rig()
