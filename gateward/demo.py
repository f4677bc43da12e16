"""``gateward demo``: a scripted walk through every gate on a fresh simulated fleet.

No network, no LLM. Four proposals: one allowed, applied and verified; one denied with its
reasons; one that needs approval, is approved by a second person and applied; one whose change
does not stick, so verification fails and it is rolled back. Then the audit chain is verified.
The last line is exactly ``demo: <a> applied, <d> denied, <r> rolled back, audit chain OK``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from core.kernel.config import Settings, get_settings
from core.kernel.models import Change, Device, ProposalDraft, ProposalState, Root
from core.store import repo
from core.users import get_actor

if TYPE_CHECKING:
    from gateward.runtime import Runtime

S = ProposalState


def _radio(rt: Runtime, d: Device, band: str) -> tuple[int, int]:
    values = rt.router.reader(d).read(d, ["Device.WiFi.Radio."])
    for path, v in values.items():
        if path.endswith(".OperatingFrequencyBand") and v.value == band:
            idx = int(path.split(".")[3])
            return idx, int(values[f"Device.WiFi.Radio.{idx}.Channel"].value)
    raise LookupError(f"{d.id} has no {band} radio")


def _candidates(rt: Runtime) -> list[Device]:
    with rt.store.read() as s:
        devs, _ = repo.list_devices(s, region="DE", limit=1000)
    return [d for d in devs if d.root is Root.DEVICE and str(d.protocol) == "cwmp"]


def _step(console: Console, n: int, title: str) -> None:
    console.rule(f"[bold]{n}. {title}")


def _show(console: Console, rt: Runtime, pid: str) -> None:
    with rt.store.read() as s:
        row = repo.get_proposal_row(s, pid)
        rec = repo.latest_decision(s, pid)
    p = repo.proposal_from_row(row)
    console.print(f"  {p.id}: [bold]{p.state}[/bold]  risk={p.risk}")
    for d in (row.preview or {}).get("devices", []):
        for ln in d["lines"]:
            console.print(f"    {d['device_id']}  {ln['path']}: {ln['before']} → {ln['after']}")
    if rec is not None:
        for reason in rec.result.get("deny", []):
            console.print(f"    [red]denied:[/red] {reason}")
        for req in rec.result.get("approvals_required", []):
            console.print(f"    [cyan]needs {req['role']}:[/cyan] {req['reason']}")
    if p.error and p.state is not S.DENIED:
        console.print(f"    {p.error}")


def run_demo(console: Console, home: Path | None = None, homes: int = 40) -> int:
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet, twin_for

    home = home or (get_settings().home / "demo")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(home=home, database_url=f"sqlite:///{(home / 'demo.db').resolve()}")
    rt = build_runtime(settings)
    try:
        n = seed_fleet(rt, homes=homes, seed=7)
        console.print(f"fleet: {n} simulated homes in {home}/demo.db · policy {rt.policy.name} "
                      f"revision {rt.policy.revision[:12]}")
        alice, bob = get_actor(rt.store, "alice"), get_actor(rt.store, "bob")
        devs = _candidates(rt)
        if len(devs) < 4:
            console.print("demo: not enough TR-181 devices in DE in the seeded fleet")
            return 1
        applied = denied = rolled_back = 0

        _step(console, 1, "support agent moves a 5 GHz radio to a clear channel (allowed, applied, verified)")
        d1 = devs[0]
        r, cur = _radio(rt, d1, "5GHz")
        target = 36 if cur != 36 else 40
        p = rt.lifecycle.submit(ProposalDraft(
            intent="Wi-Fi drops every evening: move 5 GHz off a crowded channel", targets=[d1.id],
            changes=[Change(path=f"Device.WiFi.Radio.{r}.AutoChannelEnable", value=False),
                     Change(path=f"Device.WiFi.Radio.{r}.Channel", value=target)],
            rationale="neighbours crowd the current channel; channel is clear"), alice)
        _show(console, rt, p.id)
        if p.state is S.APPROVED:
            out = rt.lifecycle.apply(p.id, alice)
            _show(console, rt, p.id)
            applied += out.proposal.state is S.DONE

        _step(console, 2, "support agent points the device at another ACS (management plane: denied with reasons)")
        d2 = devs[1]
        p = rt.lifecycle.submit(ProposalDraft(
            intent="move the device to the new ACS", targets=[d2.id],
            changes=[Change(path="Device.ManagementServer.URL", value="https://acs.example.net/cwmp")],
            rationale="the subscriber was told a new ACS is faster"), alice)
        _show(console, rt, p.id)
        denied += p.state is S.DENIED

        _step(console, 3, "new Wi-Fi passphrase: needs an approver, approved by a second person, applied")
        d3 = devs[2]
        p = rt.lifecycle.submit(ProposalDraft(
            intent="subscriber asked for a new Wi-Fi passphrase", targets=[d3.id],
            changes=[Change(path="Device.WiFi.AccessPoint.1.Security.KeyPassphrase", value="Harbour-Lantern-7731")],
            rationale="subscriber verified on the call"), alice)
        _show(console, rt, p.id)
        if p.state is S.AWAITING_APPROVAL:
            p = rt.lifecycle.approve(p.id, bob, comment="caller verified")
            console.print(f"  approved by bob → {p.state}")
        if p.state is S.APPROVED:
            out = rt.lifecycle.apply(p.id, alice)
            _show(console, rt, p.id)
            applied += out.proposal.state is S.DONE

        _step(console, 4, "a change that silently does not stick (verification fails, rolled back)")
        d4 = devs[3]
        r4, cur4 = _radio(rt, d4, "5GHz")
        twin_for(rt).inject(d4.id, "not_sticky", path=f"Device.WiFi.Radio.{r4}.Channel")
        p = rt.lifecycle.submit(ProposalDraft(
            intent="move 5 GHz to a clear channel", targets=[d4.id],
            changes=[Change(path=f"Device.WiFi.Radio.{r4}.AutoChannelEnable", value=False),
                     Change(path=f"Device.WiFi.Radio.{r4}.Channel", value=44 if cur4 != 44 else 48)],
            rationale="channel congestion"), alice)
        if p.state is S.APPROVED:
            out = rt.lifecycle.apply(p.id, alice)
            _show(console, rt, p.id)
            rolled_back += out.proposal.state is S.ROLLED_BACK
            now = _radio(rt, d4, "5GHz")[1]
            console.print(f"  device channel after rollback: {now} (was {cur4})")

        _step(console, 5, "audit chain")
        from core.audit import verify_chain

        with rt.store.read() as s:
            report = verify_chain(s)
        console.print(f"  {report.message()}")
        ok = report.ok and applied == 2 and denied == 1 and rolled_back == 1
        chain = "audit chain OK" if report.ok else "audit chain BROKEN"
        print(f"demo: {applied} applied, {denied} denied, {rolled_back} rolled back, {chain}", flush=True)
        return 0 if ok else 1
    finally:
        rt.close()
