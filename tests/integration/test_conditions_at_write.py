"""What a condition reads when the write starts (issue 55, items 1 and 5), on SQLite and PostgreSQL.

The lifecycle reads a precondition again after it holds the device lock. Every such read goes
through the adapter's TR-181 view, so a TR-098 gateway answers it as the planner's own read did: a
DNS "only if it is empty" change on the TR-098 model with the DNS-loss firmware used to fail every
apply with "backup read failed … invalid parameter name(s)", because its empty DNS table was read as
an unknown name."""

from __future__ import annotations

from typing import Any

import pytest

from core.kernel.models import Change, Precondition, ProposalDraft, ProposalState, Root
from core.lifecycle.schedule import PreconditionFailed
from tests.integration.test_lifecycle import pick, read, twin, who

S = ProposalState
DNS = "Device.DNS.Client.Server.1.DNSServer"
HIDE = "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"
EMPTY_DNS = Precondition(fact="dns_servers", expect="empty", paths=["Device.DNS.Client.Server."],
                         text="only if no DNS server is set")


def _empty_wan_dns(rt: Any, d: Any) -> None:
    native = twin(rt).params(d.id)
    wan = [k for k in native if k.endswith(".DNSServers") and ".WANDevice." in k]
    assert wan, f"{d.id} has no WAN DNSServers"
    twin(rt).device_change(d.id, dict.fromkeys(wan, ""))


def test_an_only_if_empty_dns_change_applies_on_a_tr098_gateway_that_lost_its_dns(runtime: Any) -> None:
    d = pick(runtime, root=Root.IGD)
    _empty_wan_dns(runtime, d)
    draft = ProposalDraft(intent="restore the DNS server the firmware dropped", targets=[d.id], source="chat",
                          changes=[Change(path=DNS, value="192.0.2.53")], preconditions=[EMPTY_DNS])
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    assert p.state is S.APPROVED, p.error
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    assert read(runtime, d, DNS) == "192.0.2.53"


def test_the_same_condition_refuses_once_a_server_is_back_on_a_tr098_gateway(runtime: Any) -> None:
    d = pick(runtime, root=Root.IGD, skip=1)
    _empty_wan_dns(runtime, d)
    draft = ProposalDraft(intent="restore the DNS server the firmware dropped", targets=[d.id], source="chat",
                          changes=[Change(path=DNS, value="192.0.2.53")], preconditions=[EMPTY_DNS])
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    native = twin(runtime).params(d.id)
    wan = [k for k in native if k.endswith(".DNSServers") and ".WANDevice." in k]
    twin(runtime).device_change(d.id, dict.fromkeys(wan, "203.0.113.9"))  # the subscriber set one meanwhile
    with pytest.raises(PreconditionFailed, match=r"203\.0\.113\.9"):  # the write does not go ahead
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert read(runtime, d, DNS) == "203.0.113.9"


# ----------------------------------------------------------------------------- neighbours, read live (item 5)
def _neighbour_pair(rt: Any) -> tuple[Any, Any, int]:
    """A gateway, one of our gateways it hears on 5 GHz, and the radio index of that band on the neighbour."""
    from sqlalchemy import select

    from core.store import repo
    from core.store.schema import WifiNeighborRow
    from tests.integration.test_lifecycle import radio_5g

    with rt.store.read() as s:
        rows = list(s.scalars(select(WifiNeighborRow).where(WifiNeighborRow.neighbor_device_id.is_not(None),
                                                          WifiNeighborRow.band == "5GHz",
                                                          WifiNeighborRow.rssi_dbm >= -80)))
        for r in rows:
            a, b = repo.get_device(s, r.device_id), repo.get_device(s, str(r.neighbor_device_id))
            if a.root is Root.DEVICE and b.root is Root.DEVICE and str(b.protocol) == "cwmp":
                return a, b, radio_5g(rt, b)
    raise AssertionError("the seeded fleet has no managed 5 GHz neighbour pair")


def _unless_neighbour_on(channel: int) -> Precondition:
    return Precondition(fact="neighbour_on_channel", expect="empty", value=channel, band="5GHz",
                        text=f"unless a neighbour already uses channel {channel}")


def test_a_neighbour_gateward_moved_counts_on_its_new_channel(runtime: Any) -> None:
    """The scan a gateway keeps is as old as its last scan; a neighbour of ours that Gateward moved since
    is read on the channel Gateward wrote. The stored seed-time scan used to decide it."""
    a, b, r = _neighbour_pair(runtime)
    channel = next(c for c in (36, 40, 44) if c != read(runtime, b, f"Device.WiFi.Radio.{r}.Channel"))
    move = ProposalDraft(intent="move the neighbour", targets=[b.id], source="api", changes=[
        Change(path=f"Device.WiFi.Radio.{r}.AutoChannelEnable", value=False),
        Change(path=f"Device.WiFi.Radio.{r}.Channel", value=channel)])
    moved = runtime.lifecycle.submit(move, who(runtime, "alice"))
    assert runtime.lifecycle.apply(moved.id, who(runtime, "alice")).proposal.state is S.DONE

    hide = ProposalDraft(intent="hide the SSID", targets=[a.id], source="chat",
                         preconditions=[_unless_neighbour_on(channel)], changes=[Change(path=HIDE, value=False)])
    p = runtime.lifecycle.submit(hide, who(runtime, "alice"))
    with pytest.raises(PreconditionFailed, match=rf"channel {channel}: .* dBm"):  # not the scan before the move
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))


def test_only_a_neighbour_heard_at_minus_80_dbm_or_louder_is_nearby(runtime: Any) -> None:
    a, _, _ = _neighbour_pair(runtime)
    native = twin(runtime).params(a.id)
    scan = "Device.WiFi.NeighboringWiFiDiagnostic.Result."
    rows = sorted({int(k.split(".")[4]) for k in native if k.startswith(scan)})
    heard = {native[k] for k in native if k.startswith("Device.WiFi.NeighboringWiFiDiagnostic.Result.")
             and k.endswith(".Channel")}
    free = next(c for c in (100, 104, 108, 112, 116, 132, 136, 140) if c not in heard)
    faint = f"Device.WiFi.NeighboringWiFiDiagnostic.Result.{rows[0]}."
    twin(runtime).device_change(a.id, {faint + "Channel": free, faint + "SignalStrength": -88,
                                       faint + "OperatingFrequencyBand": "5GHz"})
    hide = ProposalDraft(intent="hide the SSID", targets=[a.id], source="chat",
                         preconditions=[_unless_neighbour_on(free)], changes=[Change(path=HIDE, value=False)])
    p = runtime.lifecycle.submit(hide, who(runtime, "alice"))
    assert runtime.lifecycle.apply(p.id, who(runtime, "alice")).proposal.state is S.DONE  # -88 dBm: not nearby
    twin(runtime).device_change(a.id, {faint + "SignalStrength": -70})
    again = runtime.lifecycle.submit(hide.model_copy(update={"changes": [
        Change(path=HIDE, value=True)]}), who(runtime, "alice"))
    with pytest.raises(PreconditionFailed, match="-70 dBm"):
        runtime.lifecycle.apply(again.id, who(runtime, "alice"))
