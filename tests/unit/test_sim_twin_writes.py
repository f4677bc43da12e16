"""The twin's fast write path gives the same results as the slow one.

A write starts from the cached state and lets the optimistic ``UPDATE … WHERE version = ?``
prove it current; a value change of a parameter the tree already holds updates the cached tree
instead of rebuilding it; on PostgreSQL the update and its events are one statement. Each test
here pins that the outcome is what the rebuild / the fresh read / the two-statement commit gave.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from core.kernel.models import Change, Device
from executors.base import DeviceOffline, Fault
from executors.sim.executor import SimExecutor
from executors.sim.twin import DeviceState, Twin, sim_events
from testing.grants import grant

TR181 = "lumenet-g240w-3.2"
TR098 = "sinotel-hg8020-s105"
SSID = "Device.WiFi.SSID.1.SSID"
HIDE = "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"


def _elsewhere(url: str) -> str:
    """The same database under another URL spelling: a Twin on it has its own state cache, as a
    Twin in another process would."""
    return url + ("&" if "?" in url else "?") + ("application_name=elsewhere" if url.startswith("postgresql")
                                                 else "timeout=31")


@pytest.fixture
def twins(db_url: str) -> Iterator[tuple[Twin, Twin]]:
    # ``fresh_s=0``: no trust window, so every outcome must come from the stored state (the
    # executor's 50 ms window allows that much staleness by design, fast path or not).
    here, there = Twin(db_url, fresh_s=0.0), Twin(_elsewhere(db_url))
    assert here._cache is not there._cache
    yield here, there
    here.close()
    there.close()


def _apply(ex: SimExecutor, d: Device, changes: dict[str, Any], key: str = "k1") -> Any:
    cs = [Change(path=p, value=v) for p, v in changes.items()]
    with grant(ex, d, paths=[c.path for c in cs]) as g:
        return ex.apply(d, cs, key, g)


def _rebuilt(s: DeviceState) -> DeviceState:
    clone = s.fork()
    clone._tree = clone._imap = clone._view = None
    return clone


@pytest.mark.parametrize("model", [TR181, TR098])
def test_a_value_change_updates_the_tree_exactly_as_a_rebuild(twins: tuple[Twin, Twin], model: str) -> None:
    here, _ = twins
    d = here.add_device(model, "SER00000001")
    work = here.state(d.id).fork()
    tree = work.tree()
    leaves = [p for p in tree if p.endswith((".SSID", ".Channel", ".Enable", ".SSIDAdvertisementEnabled"))][:4]
    assert leaves, "the model has values to change"
    work.set_values({p: ("renamed" if p.endswith(".SSID") else tree[p]) for p in leaves})
    assert work._tree is not None  # updated in place, not dropped
    assert work.tree() == _rebuilt(work).tree()
    if work.model.is_tr098:
        assert work.view() == _rebuilt(work).view()
    assert here.state(d.id).tree() == tree  # the cached state it was forked from is untouched


def test_a_structural_change_still_rebuilds(twins: tuple[Twin, Twin]) -> None:
    here, _ = twins
    d = here.add_device(TR181, "SER00000002")
    work = here.state(d.id).fork()
    work.tree()
    work.set_values({"Device.DNS.Client.Server.": None})  # a whole table goes: counts change
    assert work._tree is None
    assert not any(p.startswith("Device.DNS.Client.Server.") for p in work.tree())
    assert work.tree() == _rebuilt(work).tree()


def _scan(s: DeviceState, prefix: str) -> list[str]:
    return [k for k in s.tree() if k.startswith(prefix)]


def test_names_under_a_prefix_follow_the_tree_through_every_kind_of_change(twins: tuple[Twin, Twin]) -> None:
    """``keys_under`` remembers each prefix's names: a value change keeps them, a row that goes or
    comes drops them, and a fork's change never reaches the state it was forked from."""
    here, _ = twins
    d = here.add_device(TR181, "SER00000012")
    cached = here.state(d.id)
    dns, radio = "Device.DNS.Client.Server.", "Device.WiFi.Radio.1."
    before_dns, before_radio = cached.keys_under(dns), cached.keys_under(radio)
    assert before_dns == _scan(cached, dns) and before_radio == _scan(cached, radio)
    assert before_dns and before_radio, "the model has both objects"
    assert cached.keys_under("Device.NoSuchObject.") == []

    work = cached.fork()
    work.set_values({radio + "Channel": 44})  # a value: same names, in the same order
    assert work.keys_under(radio) == _scan(work, radio) == before_radio
    work.set_values({dns: None})  # the whole table goes
    assert work.keys_under(dns) == _scan(work, dns) == []
    assert cached.keys_under(dns) == before_dns == _scan(cached, dns)  # the original is untouched
    work.restore_paths([dns])  # and comes back
    assert work.keys_under(dns) == _scan(work, dns) == before_dns


def test_a_read_of_an_object_answers_every_parameter_under_it(twins: tuple[Twin, Twin]) -> None:
    here, _ = twins
    ex = SimExecutor(here)
    d = here.add_device(TR181, "SER00000013")
    got = ex.read(d, ["Device.WiFi.Radio.1."])
    assert list(got) == _scan(here.state(d.id), "Device.WiFi.Radio.1.")
    assert all(v.path == p and v.device_path == p for p, v in got.items())


def test_a_write_is_decided_on_the_stored_state_not_on_a_stale_copy(twins: tuple[Twin, Twin]) -> None:
    here, there = twins
    ex = SimExecutor(here)
    d = here.add_device(TR181, "SER00000003")
    assert ex.presence(d).online  # cached here
    there.inject(d.id, "offline")  # "another process": this cache does not know
    with pytest.raises(DeviceOffline):
        _apply(ex, d, {HIDE: False})
    there.clear(d.id)
    there.inject(d.id, "fault_on_set", code=9002, message="boom")
    with pytest.raises(Fault, match="boom"):
        _apply(ex, d, {HIDE: False})
    there.clear(d.id)
    assert _apply(ex, d, {HIDE: False}).status == 0
    assert there.params(d.id)[HIDE] is False


def test_a_cached_offline_copy_does_not_refuse_a_device_that_came_back(twins: tuple[Twin, Twin]) -> None:
    here, there = twins
    ex = SimExecutor(here)
    d = here.add_device(TR181, "SER00000004")
    here.inject(d.id, "offline")  # cached here as offline
    there.clear(d.id)
    assert _apply(ex, d, {HIDE: False}).status == 0


def test_a_repeated_key_is_a_no_op_only_if_the_device_still_holds_the_values(twins: tuple[Twin, Twin]) -> None:
    here, there = twins
    ex = SimExecutor(here)
    d = here.add_device(TR181, "SER00000005")
    assert _apply(ex, d, {SSID: "governed"}).idempotent_skip is False
    assert _apply(ex, d, {SSID: "governed"}).idempotent_skip is True
    there.device_change(d.id, {SSID: "changed at home"})  # the cached copy here still says "governed"
    res = _apply(ex, d, {SSID: "governed"})
    assert res.idempotent_skip is False
    assert there.params(d.id)[SSID] == "governed"


def test_a_write_that_loses_the_race_logs_nothing_and_is_retried(twins: tuple[Twin, Twin]) -> None:
    here, there = twins
    d = here.add_device(TR181, "SER00000006")
    calls: list[int] = []

    def fn(s: DeviceState) -> str:
        calls.append(s.version)
        if len(calls) == 1:
            there.inject(d.id, "reboot_required")  # commits between this read and this write
        s.set_values({SSID: "mine"})
        s.event("set", key="k")
        return "ok"

    assert here.transact(d.id, fn) == "ok"
    assert len(calls) == 2
    with here.engine.connect() as conn:
        sets = conn.execute(select(func.count()).select_from(sim_events).where(
            sim_events.c.device_id == d.id, sim_events.c.kind == "set")).scalar()
    assert sets == 1  # the lost attempt left no event behind
    assert there.params(d.id)[SSID] == "mine" and "reboot_required" in there.faults(d.id)
