"""``gateward devices`` (list, add, import, retire, pending, accept, reject).

``gateward devices`` with no subcommand lists the fleet as before; the subcommands change the
inventory (admin only, audited; rules in ``core.inventory``, broker onboarding in
``core.onboarding``). Other areas add their own ``devices`` subcommands to ``devices_app``.
``gateward device ID`` lives in :mod:`gateward.cli_device`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from core.kernel.jsontypes import JsonObject
from gateward.cli_actor import As
from gateward.cli_face import cli as _cli
from gateward.cli_text import inert, plain

if TYPE_CHECKING:
    from core.inventory import Inventory
    from core.kernel.models import Device
    from core.store.lite import DeviceView

devices_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                          help="List the fleet; add, import or retire devices; accept or reject agents pending "
                               "onboarding (admin).")



def _inventory() -> Inventory:
    from core.inventory import Inventory

    return Inventory(_cli().rt().store)


@devices_app.callback()
def devices(ctx: typer.Context, model: str | None = None, region: str | None = None, subscriber: str | None = None,
            q: Annotated[str | None, typer.Option(help="search id/subscriber/model")] = None,
            status: Annotated[str | None, typer.Option(help="active | absent | retired (default: all)")] = None,
            limit: int = 50) -> None:
    """List devices in the fleet (retired ones are shown as retired)."""
    if ctx.invoked_subcommand is not None:
        return
    cli = _cli()
    if status not in (None, "active", "absent", "retired"):
        cli.fail(f"--status is active, absent or retired (got {status!r})")
    reader = cli.lean()  # the DB-API path (core/store/lite.py), else the store of the built runtime
    items: Sequence[DeviceView | Device]
    if reader is not None:
        items, total = reader.list_devices(model=model, region=region, subscriber=subscriber, q=q, limit=limit,
                                           status=status)
    else:
        from core.store import repo

        with cli.reads().store.read() as s:
            items, total = repo.list_devices(s, model=model, region=region, subscriber=subscriber, q=q,
                                             limit=limit, status=status)
    t = Table(title=f"devices ({len(items)} of {total})")
    for col in ("id", "vendor", "model", "firmware", "root", "proto", "adapter", "region", "subscriber", "status"):
        t.add_column(col)
    for d in items:  # each field is a person's, an import's or the ACS's text: never markup (gateward/cli_text.py)
        t.add_row(*(plain(x) for x in (d.id, d.vendor, d.model, d.firmware, d.root, d.protocol, d.adapter, d.region,
                                       d.subscriber or "")),
                  plain("retired", "dim") if d.status == "retired" else plain(d.status))
    cli.console.print(t)


@devices_app.command("add")
def add(adapter: Annotated[str, typer.Option(help="sim | usp | genieacs")],
        root: Annotated[str | None, typer.Option(help="Device. | InternetGatewayDevice. (usp: Device.)")] = None,
        vendor: Annotated[str | None, typer.Option(help="usp: learnt by discovery (unknown until then)")] = None,
        model: Annotated[str | None, typer.Option(help="usp: learnt by discovery (unknown until then)")] = None,
        firmware: Annotated[str | None, typer.Option(help="usp: learnt by discovery (unknown until then)")] = None,
        device_id: Annotated[str | None, typer.Option("--id", help="OUI-ProductClass-Serial")] = None,
        endpoint_id: Annotated[str | None, typer.Option(help="USP endpoint ID os::OUI-Serial")] = None,
        product_class: Annotated[str | None, typer.Option()] = None,
        oui: Annotated[str | None, typer.Option()] = None,
        serial: Annotated[str | None, typer.Option()] = None,
        protocol: Annotated[str | None, typer.Option(help="cwmp | usp (follows from the adapter)")] = None,
        region: Annotated[str | None, typer.Option()] = None,
        subscriber: Annotated[str | None, typer.Option()] = None,
        service: Annotated[str | None, typer.Option()] = None,
        tag: Annotated[list[str] | None, typer.Option("--tag", help="repeatable")] = None,
        upstream: Annotated[str | None, typer.Option(help="upstream node id (PON port, CMTS)")] = None,
        agent_topic: Annotated[str | None, typer.Option(
            help="usp: the topic the agent listens on (default: learnt from its records, else usp/agent/<endpoint>)")]
        = None,
        timeout: Annotated[float, typer.Option(help="usp: seconds to wait for the agent's first answer")] = 5.0,
        who: As = "") -> None:
    """Register one device (admin; audited). A USP agent needs only --endpoint-id: as with
    `devices accept`, root defaults to Device. and vendor, model and firmware to "unknown" until
    discovery; the agent is then asked at once (its identity discovered, the Boot!/OperationComplete/
    ValueChange subscriptions created)."""
    from core.inventory import DeviceSpec

    cli = _cli()
    if adapter == "usp":  # as `devices accept` (core.onboarding): what discovery learns need not be typed
        from core.onboarding import UNKNOWN

        root, vendor, model, firmware = root or "Device.", vendor or UNKNOWN, model or UNKNOWN, firmware or UNKNOWN
    elif agent_topic is not None:
        cli.fail("--agent-topic is for adapter usp")
    missing = [f"--{n}" for n, v in (("root", root), ("vendor", vendor), ("model", model), ("firmware", firmware))
               if v is None]
    if missing:
        cli.fail(f"adapter {adapter} needs {', '.join(missing)}")
    if agent_topic is not None:
        from core.kernel.ports.topics import topic_problem

        problem = topic_problem(agent_topic)
        if problem:
            cli.fail(f"--agent-topic {agent_topic!r} is not a topic: {problem}")
    fields: JsonObject = {
        "id": device_id, "endpoint_id": endpoint_id, "adapter": adapter, "root": root, "vendor": vendor,
        "model": model, "firmware": firmware, "product_class": product_class, "oui": oui, "serial": serial,
        "protocol": protocol, "region": region, "subscriber": subscriber, "service": service, "tags": tag,
        "upstream_id": upstream}
    spec = cli.guarded(lambda: DeviceSpec.checked({k: v for k, v in fields.items() if v is not None}))
    d = cli.guarded(lambda: _inventory().add(spec, cli.actor(who)))
    cli.console.print(f"registered {inert(d.id)} ({inert(d.vendor)} {inert(d.model)} fw {inert(d.firmware)}, adapter "
                      f"{inert(d.adapter)}, {d.protocol}, root {d.root})", highlight=False)
    if d.adapter == "usp":
        _first_contact(d, agent_topic, timeout)


def _first_contact(device: Any, agent_topic: str | None, timeout: float) -> None:
    """A hand-added USP agent, asked at once: its topic stored for every process, its
    identity discovered, the subscriptions the controller relies on created and stored with its
    instances (``gateward.agent_setup``). Why now: an agent that is already connected sends nothing
    until it reconnects. Without a topic, every conventional one is tried (``usp/agent/<endpoint>``,
    OB-USP-Agent's ``/usp/agent``, ``GATEWARD_USP_AGENT_TOPICS``). An agent that does not answer stays
    registered — `gateward run` retries it with back-off — and the command exits 1 with the next step
    (it exited 0 promising a "next contact" a connected agent never makes)."""
    from core.kernel.ports.topics import endpoint_for
    from core.usp_topics import TopicBook
    from executors.usp.mqtt import broker_reachable
    from gateward.agent_setup import set_up

    cli = _cli()
    rt = cli.rt()
    ep = endpoint_for(device)
    if agent_topic is not None:
        book = TopicBook(rt.store)
        book.note(ep, agent_topic, 5, "manual")
        book.close()  # written now: every process addresses the agent there
        cli.console.print(f"agent {ep} listens on {agent_topic}", highlight=False)
    if not broker_reachable(rt.settings.mqtt_url):
        cli.err.print(f"not contacted: no MQTT broker answers at {rt.settings.mqtt_url}; start the broker (or set "
                      "GATEWARD_MQTT_URL), then `gateward run` sets the agent up when it answers",
                      highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    res = set_up(rt, device, timeout)
    if not res.reached:
        cli.err.print(f"not contacted: {res.detail}. Registered all the same; next: {res.next_step()}",
                      highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    _print_setup(res)


def _print_setup(res: Any) -> None:
    """What setting an agent up found, one line each (``devices add``, ``usp discover``)."""
    cli = _cli()
    found = res.discovered or {}
    cli.console.print(f"reached on {res.topic}", highlight=False, soft_wrap=True)
    if found.get("stored"):
        cli.console.print(f"discovered: {inert(found['vendor'])} {inert(found['model'])} fw {inert(found['firmware'])} "
                          f"{inert(found['root'])}, {found['parameters']} parameters", highlight=False, soft_wrap=True)
    if res.created or res.kept:
        made = ", ".join(res.created) or "none needed"
        cli.console.print(f"subscriptions: created {made}; kept {', '.join(res.kept) or 'none'}"
                          + (f"; stored instances {', '.join(res.instances)}" if res.instances else ""),
                          highlight=False, soft_wrap=True)
    if res.error:
        cli.err.print(f"[yellow]incomplete:[/] {res.error}; `gateward run` completes it at the agent's next contact",
                      highlight=False, soft_wrap=True)


@devices_app.command("import")
def import_(file: Annotated[Path, typer.Argument(help="CSV with a header line, or a JSON list of devices")],
            who: As = "") -> None:
    """Register every good row of FILE, each in its own transaction; print why each bad row was
    refused. Exits 1 if any row was refused (the good ones stay registered)."""
    from core.inventory import parse_csv, parse_json_rows
    from core.kernel.errors import Invalid

    cli = _cli()
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        cli.fail(f"cannot read {file}: {exc}")
    if file.suffix.lower() == ".json":
        # Nesting is bounded there: a row nested too deep is refused by number, not a RecursionError.
        try:
            rows = parse_json_rows(text)
        except Invalid as exc:
            cli.fail(f"{file}: {exc.message}")
    else:
        rows = cli.guarded(lambda: parse_csv(text))
    report = cli.guarded(lambda: _inventory().import_rows(rows, cli.actor(who)))
    for n, r in report.refused.items():
        cli.err.print(f"[red]row {n}[/red] {inert(r.device_id)}: {inert(r.error)}", highlight=False, soft_wrap=True)
    same = f", {len(report.unchanged)} already registered as given" if report.unchanged else ""
    cli.console.print(f"imported {file}: {len(report.registered)} registered{same}, {len(report.refused)} refused")
    if report.refused:
        raise typer.Exit(1)


@devices_app.command("retire")
def retire(device_id: str, reason: Annotated[str, typer.Option(help="why (kept in the audit trail)")],
           who: As = "") -> None:
    """Retire a device (admin; audited): kept with its history, never targeted again."""
    cli = _cli()
    d = cli.guarded(lambda: _inventory().retire(device_id, cli.actor(who), reason))
    cli.console.print(f"retired {d.id} at {d.retired_at:%Y-%m-%d %H:%M:%S} UTC")


@devices_app.command("discover")
def discover(device_id: Annotated[str | None, typer.Argument(help="one device; or select with --model/--firmware")]
             = None,
             model: Annotated[str | None, typer.Option(help="every active device of this model …")] = None,
             firmware: Annotated[str | None, typer.Option(help="… and this firmware")] = None,
             vendor: Annotated[str | None, typer.Option()] = None,
             limit: Annotated[int, typer.Option(help="devices to discover per (vendor, model, firmware, root): one "
                                                     "tells the class; instance numbers are per device")] = 1) -> None:
    """Discover what devices really have (parameters, writability, instances, commands) and store it per
    (vendor, model, firmware, root): validation then refuses paths the device lacks or cannot write,
    and operations it lacks (a USP agent's download without a FirmwareImage table)."""
    from core import capabilities
    from core.kernel.models import Selector
    from core.store import repo

    cli = _cli()
    if device_id is None and model is None:
        cli.fail("give a device ID or --model (with --firmware, --vendor to narrow it)")
    if limit < 1:
        cli.fail(f"--limit must be at least 1 (got {limit})")
    rt = cli.rt()
    with rt.store.read() as s:
        if device_id is not None:
            devices = [cli.guarded(lambda: repo.get_device(s, device_id))]
        else:
            per_class: dict[tuple[str, str, str, str], list[Any]] = {}
            for chunk in _chunks(repo.select_devices(s, Selector(model=model, firmware=firmware, vendor=vendor))):
                for d in repo.get_devices(s, chunk).values():
                    group = per_class.setdefault((d.vendor, d.model, d.firmware, str(d.root)), [])
                    if len(group) < limit:
                        group.append(d)
            devices = [d for _, group in sorted(per_class.items()) for d in sorted(group, key=lambda x: x.id)]
    if not devices:
        cli.fail(f"no active device matches model {model!r}" + (f" firmware {firmware!r}" if firmware else ""))
    results = capabilities.discover(rt.store, rt.router, devices)
    for r in results:
        if not r["stored"]:
            why = r.get("error") or "the adapter reports no parameters"
            cli.console.print(f"{inert(r['device_id'])}: [red]not stored[/]: {inert(why)}", highlight=False,
                              soft_wrap=True)
            continue
        moved = " [yellow](the device reports a firmware its record does not have)[/]" if r["firmware_differs"] else ""
        lacks = r.get("lacks_commands")
        commands = f"; no {', '.join(lacks)} (refused at validate)" if lacks else ""
        cli.console.print(f"{inert(r['device_id'])}: {inert(r['vendor'])} {inert(r['model'])} fw "
                          f"{inert(r['firmware'])} {inert(r['root'])}: "
                          f"{r['parameters']} parameters ({r['read_only']} read-only), {r['tables']} tables"
                          f"{commands}{moved}", highlight=False, soft_wrap=True)
    if not any(r["stored"] for r in results):
        raise typer.Exit(1)


def _chunks(ids: list[str], size: int = 2000) -> list[list[str]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def register(app: typer.Typer) -> None:
    app.add_typer(devices_app, name="devices")


# ---------------------------------------------------------------------------- broker onboarding
def _onboarding() -> Any:
    from core.compat import policy_data
    from core.onboarding import AllowList, Onboarding

    rt = _cli().rt()
    return Onboarding(rt.store, AllowList.configured(policy_data(rt.policy), rt.settings))


@devices_app.command("pending")
def pending(all_: Annotated[bool, typer.Option("--all", help="also accepted, rejected and conflicting agents")]
            = False) -> None:
    """USP agents that made first contact but are not in the fleet (pending onboarding)."""
    cli = _cli()
    items = _onboarding().requests(status=None if all_ else "pending")
    t = Table(title=f"onboarding requests ({len(items)})")
    for col in ("endpoint id", "oui", "product class", "serial", "status", "attempts", "first seen", "last seen",
                "device / reason"):
        t.add_column(col)
    for r in items:
        t.add_row(*(plain(x) for x in (r["endpoint_id"], r["oui"], r["product_class"], r["serial"], r["status"],
                                       r["attempts"], r["first_seen"][:19], r["last_seen"][:19],
                                       r["device_id"] or r["reason"] or "")))
    cli.console.print(t)


@devices_app.command("accept")
def accept(endpoint_id: str,
           vendor: Annotated[str | None, typer.Option(help="default: unknown until discovery")] = None,
           model: Annotated[str | None, typer.Option(help="default: the product class")] = None,
           firmware: Annotated[str | None, typer.Option(help="default: unknown until discovery")] = None,
           region: Annotated[str | None, typer.Option()] = None,
           subscriber: Annotated[str | None, typer.Option()] = None,
           service: Annotated[str | None, typer.Option()] = None,
           timeout: Annotated[float, typer.Option(help="seconds to wait for the agent's first answer")] = 5.0,
           who: As = "") -> None:
    """Accept a pending agent (admin; audited): it is registered as a USP device and asked at once,
    as `devices add` does — its identity and data model discovered (so a command it lacks is refused
    at validate), the Boot!/OperationComplete/ValueChange subscriptions created."""
    cli = _cli()
    d = cli.guarded(lambda: _onboarding().accept(endpoint_id, cli.actor(who), vendor=vendor, model=model,
                                                 firmware=firmware, region=region, subscriber=subscriber,
                                                 service=service))
    cli.console.print(f"accepted {inert(endpoint_id)}: registered {inert(d.id)} ({inert(d.vendor)} {inert(d.model)} fw "
                      f"{inert(d.firmware)}, region {inert(d.region)})", highlight=False)
    _first_contact(d, None, timeout)


@devices_app.command("reject")
def reject(endpoint_id: str, reason: Annotated[str, typer.Option(help="why (kept in the audit trail)")],
           who: As = "") -> None:
    """Reject a pending agent (admin; audited): its later contacts are dropped, only counted."""
    cli = _cli()
    cli.guarded(lambda: _onboarding().reject(endpoint_id, cli.actor(who), reason))
    cli.console.print(f"rejected {endpoint_id}")


# ---------------------------------------------------------------------------- inventory from the ACS
@devices_app.command("sync")
def sync(source: Annotated[str, typer.Option(help="where the inventory comes from: genieacs")] = "genieacs",
         full: Annotated[bool, typer.Option("--full", help="re-read every device, not only those that informed "
                                                           "since the last run")] = False,
         sweep: Annotated[bool, typer.Option("--sweep/--no-sweep", help="mark devices the ACS no longer lists "
                                                                       "absent")] = True,
         page_size: Annotated[int, typer.Option(help="devices per NBI page (1..10000)")] = 1000,
         status: Annotated[bool, typer.Option("--status", help="show the stored cursor and last run; sync "
                                                               "nothing")] = False) -> None:
    """Bring the devices the ACS knows into the fleet (incremental by _lastInform; resumes where a
    failed run stopped). Exits 1 if the source failed or any device was refused."""
    import json

    from core.inventory_sync import InventorySync

    cli = _cli()
    if source != "genieacs":
        cli.fail(f"--source {source!r} is not supported; the only inventory source is genieacs")
    rt = cli.rt()
    try:
        from executors.genieacs.inventory import source_from_settings

        src = source_from_settings(rt.settings, page_size=page_size)
    except (LookupError, ValueError) as exc:
        cli.fail(str(exc))
    runner = InventorySync(rt.store, src)
    if status:
        cli.console.print_json(json.dumps(runner.state()))
        return
    report = runner.run(sweep=sweep, full=full)
    for r in report.refused:
        cli.err.print(f"[red]refused[/red] {inert(r['device_id'] or r['acs_id'] or '?')}: {inert(r['error'])}",
                      highlight=False,
                      soft_wrap=True)
    if report.refused_count > len(report.refused):
        cli.err.print(f"… and {report.refused_count - len(report.refused)} more refused (audit: inventory.synced)")
    sweep_note = (f", {report.listed} listed, {report.absent} marked absent, {report.reactivated} back"
                  if report.swept else "")
    cli.console.print(f"synced from {source}: {report.seen} read in {report.pages} page(s), {report.registered} "
                      f"registered, {report.updated} updated, {report.refused_count} refused{sweep_note} "
                      f"({report.seconds:.1f}s)", highlight=False)
    if report.error:
        cli.err.print(f"[red]error:[/red] {report.error}", highlight=False, soft_wrap=True)
    if report.error or report.refused_count:
        raise typer.Exit(1)
