"""The grant verifier is passed in, not installed process-wide (issue 35 item 4).

Each lifecycle owns its grant authority; the composition root binds its router's adapters to that
lifecycle's verifier. So two runtimes in one process — two stores — each accept their own grants
only; an adapter nobody bound refuses every write; a bound one cannot be re-bound to a permissive
verifier. That in product code only the composition root binds one is checked on the source
(``tests/sanity/test_grant_binding_source.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.kernel.config import Settings
from core.kernel.models import Change, Device, Scalar
from core.routing import ExecutorRouter
from core.store import repo
from core.users import get_actor
from executors.base import OperateResult, WriteGrant, WriteRefused
from executors.sim.executor import SimExecutor
from gateward.runtime import build_runtime
from gateward.seed import twin_for
from testing.grants import grant
from tests.conftest import seeded_db_url

PING = {"host": "192.0.2.1", "repetitions": 1}
CH = "Device.WiFi.Radio.1.Channel"


class Probing(SimExecutor):
    """The simulator, calling ``probe`` with every grant it is given, while that grant is live."""

    probe: Callable[[Device, WriteGrant], None] | None = None

    def operate(self, device: Device, command: str, args: dict[str, Scalar],
                grant: WriteGrant | None = None) -> OperateResult:
        if self.probe is not None and grant is not None:
            self.probe(device, grant)
        return super().operate(device, command, args, grant)


def _runtime(url: str) -> Any:
    return build_runtime(Settings(database_url=url),
                         router=ExecutorRouter({"sim": lambda: Probing(database_url=url)}))


@pytest.fixture
def two_runtimes(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    url_a, _ = seeded_db_url("sqlite", tmp_path / "a")
    url_b, _ = seeded_db_url("sqlite", tmp_path / "b")
    a, b = _runtime(url_a), _runtime(url_b)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def _online_device(rt: Any) -> Device:
    with rt.store.read() as s:
        devs, _ = repo.list_devices(s, limit=1000)
    d = next(d for d in devs if d.adapter == "sim" and str(d.protocol) == "cwmp")
    twin_for(rt).clear(d.id)
    return d


def test_two_runtimes_in_one_process_each_accept_only_their_own_grants(two_runtimes: tuple[Any, Any]) -> None:
    a, b = two_runtimes
    d = _online_device(a)
    assert d.id == _online_device(b).id  # the same seeded fleet in two stores
    writer_a, writer_b = a.router.writer(d), b.router.writer(d)
    refused: list[str] = []

    def try_on_b(device: Device, live: WriteGrant) -> None:
        """Present A's live grant — signed by A's authority, not yet revoked — to B's adapter."""
        with pytest.raises(WriteRefused) as err:
            writer_b.operate(device, "ipping", dict(PING), live)
        refused.append(str(err.value))

    writer_a.probe = try_on_b
    out = a.lifecycle.diagnose(d.id, "ipping", dict(PING), get_actor(a.store, "alice"))
    assert out["status"] == "done"  # A's own grant is accepted by A's adapter
    assert len(refused) == 1 and "signature invalid" in refused[0]
    writer_a.probe = None

    assert b.lifecycle.diagnose(d.id, "ipping", dict(PING), get_actor(b.store, "alice"))["status"] == "done"
    assert a.lifecycle.grant_verifier != b.lifecycle.grant_verifier


def test_a_bound_adapter_cannot_be_rebound(two_runtimes: tuple[Any, Any]) -> None:
    a, b = two_runtimes
    d = _online_device(a)
    writer = a.router.writer(d)
    writer.bind_grant_verifier(a.lifecycle.grant_verifier)  # the same verifier again: a no-op
    with pytest.raises(WriteRefused, match="cannot be replaced"):
        writer.bind_grant_verifier(lambda _g: None)
    with pytest.raises(WriteRefused, match="cannot be replaced"):
        writer.bind_grant_verifier(b.lifecycle.grant_verifier)
    with pytest.raises(WriteRefused, match="cannot be replaced"):
        a.router.bind_grant_verifier(lambda _g: None)
    with pytest.raises(WriteRefused, match="cannot be replaced"):  # nor a router to a second lifecycle
        build_runtime(Settings(database_url=a.store.url), router=a.router)
    # the refusals swapped nothing: a grant of no authority is still refused
    with pytest.raises(WriteRefused, match="signature invalid"):
        writer.apply(d, [Change(path=CH, value=6)], "k", WriteGrant(
            proposal_id="p", proposal_hash="h", device_id=d.id, purpose="apply", paths=frozenset({CH}),
            nonce="n", mac="0" * 64))


def test_an_adapter_nobody_bound_refuses_every_write(tmp_path: Path) -> None:
    ex = SimExecutor(database_url=f"sqlite:///{tmp_path / 'twin.db'}")
    d = ex.twin.add_device("lumenet-g240w-3.2", "LMNT00000091")
    bound = ex.with_timeout(None)  # a clone starts unbound; bind a test authority to it only
    with grant(bound, d, paths=[CH]) as g:
        with pytest.raises(WriteRefused, match="no grant verifier is bound"):
            ex.apply(d, [Change(path=CH, value=6)], "k", g)
        assert bound.apply(d, [Change(path=CH, value=6)], "k", g).applied == [CH]
    with grant(bound, d, commands=["reboot"]) as g, pytest.raises(WriteRefused, match="no grant verifier"):
        ex.operate(d, "reboot", {}, g)
    assert not ex.grant_verifier_bound and bound.grant_verifier_bound
