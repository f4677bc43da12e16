"""The executor router knows only the adapters it is given (issue 14: no silent simulator default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.kernel.models import Device
from core.routing import ExecutorRouter
from executors.base import ExecutorError, UnknownAdapter
from executors.sim.executor import SimExecutor
from executors.sim.twin import Twin


def _device(adapter: str) -> Device:
    return Device(id="cpe-1", vendor="v", model="m", firmware="1", adapter=adapter)


@pytest.mark.parametrize("adapter", ["sim", "usp", "genieacs", "acme"])
def test_a_bare_router_knows_no_adapter_and_names_the_missing_one(adapter: str) -> None:
    router = ExecutorRouter()
    for lookup in (router.reader, router.writer):
        with pytest.raises(UnknownAdapter) as info:
            lookup(_device(adapter))
        err = info.value
        assert isinstance(err, ExecutorError) and isinstance(err, LookupError) and not err.retryable
        assert err.device_id == "cpe-1" and repr(adapter) in err.message and "known: none" in err.message


def test_registered_adapters_are_routed_and_others_still_refused(tmp_path: Path) -> None:
    twin = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    try:
        d = twin.add_device("sinotel-hg8020-s105", "4857544300000001", region="DE")
        router = ExecutorRouter({"sim": lambda: SimExecutor(twin)})
        assert router.writer(d) is router.writer(d)  # created once, shared
        assert router.reader(d).presence(d).online
        with pytest.raises(UnknownAdapter, match=r"'usp'.*known: sim"):
            router.reader(d.model_copy(update={"adapter": "usp"}))
    finally:
        twin.close()


def test_the_composition_root_registers_the_simulator_explicitly(tmp_path: Path) -> None:
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    rt = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'g.db'}"))
    try:
        assert isinstance(rt.router.writer(_device("sim")), SimExecutor)
        with pytest.raises(UnknownAdapter, match="'acme'"):
            rt.router.reader(_device("acme"))
    finally:
        rt.close()
