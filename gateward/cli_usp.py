"""``gateward usp …`` — run simulated USP agents, and look at USP devices through the controller.

Why these commands: to try the USP path on a laptop an operator needs agents (``agents`` runs the
simulator over the twin on ``GATEWARD_MQTT_URL``), and to trust it they need to see presence the way
the lifecycle sees it (``devices``), the raw values an agent reports (``get``) and the live event
stream (``events``: mqtt_connect, Boot!, OnBoardRequest, ValueChange, OperationComplete). Nothing
here writes device configuration: writes go through ``gateward apply`` and the lifecycle. The one
exception is the agent's own notification plumbing: ``subscriptions`` lists an agent's
``LocalAgent.Subscription`` table, ``subscribe``/``unsubscribe`` add or remove entries, and ``topics``
shows where each agent listens (learnt from its records and stored, so this short-lived process
addresses an agent on ``/usp/agent`` as well as the long-running controller does).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from gateward.cli_text import SafeConsole

console = SafeConsole()  # agents' text stays inert (gateward/cli_text.py)
err = SafeConsole(stderr=True)
usp_app = typer.Typer(no_args_is_help=True, help="USP (TR-369): simulated agents, presence, reads, events.")


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _mqtt_url(url: str | None) -> str:
    if url:
        return url
    from core.kernel.config import get_settings

    return get_settings().mqtt_url


def _shown(url: str) -> str:
    """The URL as this command prints it: without a password."""
    from executors.usp.mqtt_tls import redact_url

    return redact_url(url)


def _check_broker(url: str) -> None:
    from executors.usp.mqtt import broker_reachable

    try:
        from executors.usp.mqtt import BrokerAddress

        BrokerAddress.parse(url)
    except ValueError as exc:
        _fail(str(exc))
    if not broker_reachable(url):
        _fail(f"no MQTT broker answers at {_shown(url)}: start Mosquitto (set_tcp_nodelay true) or set "
              "GATEWARD_MQTT_URL")


def _executor(url: str | None, timeout_s: float) -> Any:
    """A controller for this process, using (and adding to) the stored agent topics; it creates no
    subscriptions by itself (that is the long-running controller's job on first contact). What a
    command makes on an agent goes to its keeper's ``on_created`` (``keeper.tell_created``), and what
    it deletes to ``on_deleted`` (``keeper.tell_deleted``), wired as the composition root wires every
    adapter's (``gateward.runtime.usp_adapter``): the device's stored model follows at once."""
    from core.usp_topics import TopicBook
    from executors.usp import UspExecutor, controller_options, usp_options
    from gateward.agent_setup import created_hook, deleted_hook
    from gateward.cli import rt

    try:
        opts = usp_options()
        copts = controller_options()
    except ValueError as exc:
        _fail(str(exc))
    opts.update(timeout_s=timeout_s, probe_timeout_s=min(timeout_s, opts["probe_timeout_s"]))
    target = _mqtt_url(url)
    _check_broker(target)
    store = rt().store
    try:
        ex = UspExecutor(url=target, topics=TopicBook(store), controller_topic=copts["controller_topic"],
                         watch=copts["watch"], **opts)
    except (ConnectionError, OSError) as exc:
        _fail(str(exc))
    ex.keeper.on_created = created_hook(store)
    ex.keeper.on_deleted = deleted_hook(store)
    return ex


def _usp_devices(ids: list[str], all_usp: bool) -> list[Any]:
    from core.kernel.errors import GatewardError
    from core.store import repo
    from gateward.cli import rt

    try:
        with rt().store.read() as s:
            if ids:
                return [repo.get_device(s, i) for i in ids]
            devices, _ = repo.list_devices(s, limit=100000)
    except GatewardError as exc:
        _fail(f"{exc.message} (`gateward devices` lists them)")
    return [d for d in devices if d.adapter == "usp" or (all_usp and str(d.protocol) == "usp")]


@usp_app.command("agents")
def agents(
    count: Annotated[int, typer.Option(help="twin devices to host (0 = every selected device)")] = 0,
    protocol: Annotated[str, typer.Option(help="usp (USP-native models), cwmp, or all")] = "usp",
    url: Annotated[str | None, typer.Option(help="MQTT broker (default GATEWARD_MQTT_URL)")] = None,
    mqtt: Annotated[int, typer.Option(help="MQTT version: 5 or 3 (3.1.1)")] = 5,
    per_connection: Annotated[int, typer.Option(help="agents sharing one MQTT connection")] = 500,
    dedicated: Annotated[bool, typer.Option(help="one connection per agent, with a real MQTT will")] = False,
    persist: Annotated[str, typer.Option(help="sync (commit before answering) or batched")] = "sync",
    boot: Annotated[bool, typer.Option(help="send Boot! on start, as after power-on")] = False,
    onboard: Annotated[bool, typer.Option(help="send OnBoardRequest on first connect")] = False,
    report_every: Annotated[float, typer.Option(help="seconds between status lines")] = 10.0,
    agent_topic: Annotated[str | None, typer.Option(
        help="agents' topic, {endpoint}=endpoint ID (default usp/agent/{endpoint}; OB-USP-Agent: /usp/agent)")] = None,
    wifi: Annotated[bool, typer.Option(help="agents have WiFi. objects (--no-wifi: like a device without)")] = True,
    factory_subscriptions: Annotated[bool, typer.Option(
        help="agents ship a Boot! subscription (--no-factory-subscriptions: like the OB-USP-Agent)")] = True,
) -> None:
    """Run simulated USP agents for twin devices until Ctrl-C (one process, shared connections)."""
    from executors.sim.twin import Twin
    from executors.sim.usp_host import AgentHost, HostConfig, _select_devices, serve
    from executors.usp import usp_options

    if mqtt not in (3, 5):
        _fail("--mqtt must be 5 or 3")
    if persist not in ("sync", "batched"):
        _fail("--persist must be sync or batched")
    target = _mqtt_url(url)
    _check_broker(target)
    from gateward.cli import rt

    runtime = rt()
    twin = Twin(runtime.settings.sim_database_url or runtime.store.url)
    ids = _select_devices(twin, protocol=None if protocol == "all" else protocol, limit=count or None)
    if not ids:
        _fail(f"the twin holds no {protocol} devices: seed a fleet first (`gateward seed`) or pass --protocol all")
    cfg = HostConfig(url=target, controller_id=usp_options()["endpoint_id"], mqtt_version=mqtt,
                     agents_per_connection=per_connection, dedicated=dedicated, persist=persist,  # type: ignore[arg-type]
                     boot_on_start=boot, onboard=onboard, agent_topic=agent_topic, wifi=wifi,
                     factory_subscriptions=factory_subscriptions)
    host = AgentHost(cfg, twin)
    try:
        for device_id in ids:
            host.add_device(device_id)
    except ValueError as exc:  # e.g. two agents on one fixed --agent-topic
        twin.close()
        _fail(f"{exc} (or pass --count 1)")

    import asyncio
    import contextlib
    import signal

    async def main() -> None:
        await host.start()
        console.print(f"{len(host.agents)} USP agents on {host.connections} MQTT connection(s) at {_shown(target)} "
                      f"(MQTT {'5' if mqtt == 5 else '3.1.1'}), controller {cfg.controller_id}; Ctrl-C stops")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(host, report_every_s=report_every, report=console.print, stop=stop)

    from executors.usp.mqtt import MqttError

    try:
        asyncio.run(main())
    except MqttError as exc:  # refused, TLS failed: the reason in one line, not a traceback
        _fail(exc.message)
    finally:
        twin.close()
    console.print("agents stopped")


@usp_app.command("devices")
def devices(
    device_ids: Annotated[list[str] | None, typer.Argument(help="devices (default: every usp-adapter device)")] = None,
    all_usp: Annotated[bool, typer.Option("--all-usp", help="also USP-model devices on other adapters")] = False,
    url: Annotated[str | None, typer.Option(help="MQTT broker (default GATEWARD_MQTT_URL)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each agent's answer")] = 2.0,
) -> None:
    """Presence of USP devices as the lifecycle sees it: connected, and answering a probe now."""
    from executors.usp import endpoint_for

    found = _usp_devices(list(device_ids or []), all_usp)
    if not found:
        _fail("no USP devices: none has adapter 'usp' (try --all-usp, or name devices)")
    import asyncio

    ex = _executor(url, timeout)
    try:
        async def probe_all() -> list[Any]:
            return list(await asyncio.gather(*(ex.apresence(d) for d in found)))

        results = ex.runner.run(probe_all(), timeout=timeout * 3 + 30)
    finally:
        ex.close()
    table = Table(title=f"USP devices ({len(found)})")
    for col in ("device", "endpoint", "online", "reachable", "detail"):
        table.add_column(col)
    for d, p in zip(found, results, strict=True):
        table.add_row(d.id, endpoint_for(d), "yes" if p.online else "[red]no[/red]",
                      "yes" if p.reachable else "[red]no[/red]", p.detail)
    console.print(table)


def _warn_mismatch(device: Any) -> None:
    """An endpoint-ID mismatch another process saw (``core.usp_topics``), named as ``gateward
    device`` names it: this process may never hear the agent's records, which name
    another controller and so go to that controller's topic."""
    from core.usp_topics import device_mismatch
    from gateward.cli import rt

    mm = device_mismatch(rt().store, device)
    if mm is not None:
        console.print(f"[yellow]warning:[/] {mm.message()}", highlight=False, soft_wrap=True)


@usp_app.command("get")
def get(
    device_id: str,
    paths: Annotated[list[str], typer.Argument(help="TR-181 paths (partial paths end with '.')")],
    url: Annotated[str | None, typer.Option(help="MQTT broker (default GATEWARD_MQTT_URL)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the agent")] = 5.0,
) -> None:
    """Read parameters from a device's USP agent (secrets read back empty)."""
    from core.kernel.secrets import mask_value
    from executors.base import ExecutorError

    (device,) = _usp_devices([device_id], True)
    _warn_mismatch(device)
    ex = _executor(url, timeout)
    try:
        values = ex.read(device, paths)
    except ExecutorError as exc:
        _fail(exc.message)
    finally:
        ex.close()
    table = Table(title=f"{device.id} over USP")
    for col in ("path", "value", "type", "writable"):
        table.add_column(col)
    for path, v in sorted(values.items()):
        table.add_row(path, str(mask_value(path, v.value)), v.type, "" if v.writable is None else str(v.writable))
    console.print(table)


@usp_app.command("discover")
def discover(
    endpoint_id: Annotated[list[str], typer.Option("--endpoint-id", help="agent endpoint ID (repeatable)")],
    agent_topic: Annotated[str | None, typer.Option(
        help="where the agents listen; {endpoint} stands for the endpoint ID as one topic level "
             "(default: the stored topic, else usp/agent/<endpoint>)")] = None,
    url: Annotated[str | None, typer.Option(help="MQTT broker (default GATEWARD_MQTT_URL)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each agent")] = 5.0,
) -> None:
    """Bring in agents that connected before the controller's first start: ask each one
    (GetSupportedProtocol on its stored topic, else on every conventional one, then its DeviceInfo
    identity) and hand its answer to onboarding as a first contact — pending, or registered if the
    allow list names it — exactly as its connect Record would have been; changes nothing on it. An
    agent already registered is set up instead: discovered, and given the subscriptions the
    controller relies on. Exits 1 if any agent did not answer."""
    from datetime import UTC, datetime

    from brain.remediation.ingest import Ingestor, Signal
    from core.kernel.ports.topics import topic_problem
    from executors.usp.controller import AgentOffline, UspTimeout
    from executors.usp.errors import UspError
    from executors.usp.topics import topic_level
    from gateward.agent_setup import device_for_endpoint
    from gateward.cli import rt

    ex = _executor(url, timeout)
    ctl = ex.controller
    signals: list[Any] = []
    silent: list[str] = []
    registered: list[Any] = []
    try:
        for ep in endpoint_id:
            if agent_topic is not None:
                topic = agent_topic.replace("{endpoint}", topic_level(ep))
                problem = topic_problem(topic)
                if problem:
                    _fail(f"--agent-topic gives {topic!r} for {ep}: {problem}")
                assert ctl.topics is not None
                ctl.topics.note(ep, topic, ctl.mqtt_version, "manual")
            known = device_for_endpoint(rt().store, ep)
            if known is not None:  # registered already: set it up, never "hand it to onboarding"
                registered.append(known)
                continue

            async def ask(ep: str = ep) -> dict[str, str] | None:
                if not await ctl.probe(ep, timeout):
                    return None
                paths = [f"{r}DeviceInfo.{leaf}" for r in ("Device.", "InternetGatewayDevice.")
                         for leaf in ("ManufacturerOUI", "ProductClass", "SerialNumber")]
                try:
                    values, _ = await ctl.get(ep, paths, timeout=timeout)
                except (UspError, UspTimeout, AgentOffline):
                    values = {}
                ident = {leaf: v for p, v in values.items() for leaf in ("ManufacturerOUI", "ProductClass",
                                                                          "SerialNumber") if p.endswith(leaf)}
                return ident

            ident = ex.runner.run(ask(), timeout=timeout * 3 + 10)
            st = ctl.agent(ep)
            where = f"{st.topic} ({st.topic_source})" if st is not None else "?"
            if ident is None:
                why = ctl.mismatch(ep)
                console.print(f"{ep}: no answer on {where} within {timeout:g}s" + (f" — {why}" if why else ""),
                              highlight=False, soft_wrap=True)
                silent.append(ep)
                continue
            console.print(f"{ep}: answered on {where}: OUI {ident.get('ManufacturerOUI', '?')}, product class "
                          f"{ident.get('ProductClass', '?')}, serial {ident.get('SerialNumber', '?')}",
                          highlight=False, soft_wrap=True)
            body = ep.split("::", 1)[-1]
            oui, _, serial = body.partition("-")
            identity = {"endpoint_id": ep, "oui": ident.get("ManufacturerOUI") or oui,
                        "serial": ident.get("SerialNumber") or serial,
                        "product_class": ident.get("ProductClass", "")}
            signals.append(Signal("connect", datetime.now(UTC), identity=identity,
                                  data={"endpoint_id": ep, "topic": st.topic if st is not None else "",
                                        "discovered": True}, source="usp"))
    finally:
        ex.close()
    if signals:
        Ingestor(rt().remediation).ingest(signals)
        console.print(f"{len(signals)} agent(s) handed to onboarding: see `gateward devices pending`")
    silent += _set_up_registered(registered, timeout)
    if silent:
        raise typer.Exit(1)


def _set_up_registered(devices: list[Any], timeout: float) -> list[str]:
    """``usp discover`` of agents already registered (it said "handed to onboarding" and
    nothing happened): each is set up — reached, discovered, subscribed — through the runtime's own
    controller. Returns the endpoints that did not answer."""
    from gateward.agent_setup import set_up
    from gateward.cli import rt
    from gateward.cli_devices import _print_setup

    silent: list[str] = []
    for d in devices:
        res = set_up(rt(), d, timeout)
        if not res.reached:
            console.print(f"{res.endpoint_id}: registered as {d.id}, not reached: {res.detail}; next: "
                          f"{res.next_step()}", highlight=False, soft_wrap=True)
            silent.append(res.endpoint_id)
            continue
        console.print(f"{res.endpoint_id}: registered as {d.id}, set up", highlight=False, soft_wrap=True)
        _print_setup(res)
    return silent


@usp_app.command("events")
def events(
    seconds: Annotated[float, typer.Option(help="how long to listen (0 = until Ctrl-C)")] = 30.0,
    url: Annotated[str | None, typer.Option(help="MQTT broker (default GATEWARD_MQTT_URL)")] = None,
) -> None:
    """Print USP events as they arrive: connect/disconnect, Boot!, OnBoardRequest, ValueChange, ..."""
    import asyncio
    import contextlib

    from executors.usp import UspController, usp_options

    target = _mqtt_url(url)
    _check_broker(target)
    opts = usp_options()

    async def main() -> None:
        ctl = UspController(target, endpoint_id=opts["endpoint_id"], mqtt_version=opts["mqtt_version"])
        await ctl.start()
        console.print(f"listening as {ctl.endpoint_id} on {ctl.topic} (NotifyResp answered here unless a gateward "
                      "run/worker of this controller holds its group's session: then that one answers)")
        end = time.monotonic() + seconds if seconds > 0 else None
        try:
            async for e in ctl.events():
                stamp = time.strftime("%H:%M:%S", time.localtime(e.ts))
                console.print(f"{stamp} {e.kind:<18} {e.endpoint_id} {e.data}", highlight=False)
                if end is not None and time.monotonic() > end:
                    break
        finally:
            await ctl.stop()

    async def bounded() -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(main(), seconds)
        else:
            await main()

    from executors.usp.mqtt import MqttError

    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(bounded())
        except MqttError as exc:  # refused, TLS failed: the reason in one line, not a traceback
            _fail(exc.message)


def _agent_call(ex: Any, device: Any, coro: Any, timeout: float) -> Any:
    """Run one controller exchange for ``device``; a failure becomes a clear error (exit 2)."""
    from executors.usp.controller import AgentOffline, UspTimeout
    from executors.usp.errors import UspError, describe

    try:
        return ex.runner.run(coro, timeout=timeout * 4 + 10)
    except UspTimeout as exc:
        _fail(f"{device.id}: {exc}")
    except AgentOffline as exc:
        _fail(f"{device.id}: {exc}")
    except UspError as exc:
        _fail(f"{device.id}: the agent refused: USP {exc.code} {describe(exc.code)}: {exc}")
    except KeyError as exc:
        _fail(f"{device.id}: {exc.args[0]}")
    except (ValueError, ConnectionError, TimeoutError) as exc:
        _fail(f"{device.id}: {exc}")


@usp_app.command("subscriptions")
def subscriptions(
    device_id: str,
    url: Annotated[str | None, typer.Option(help="MQTT broker (default GATEWARD_MQTT_URL)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the agent")] = 5.0,
) -> None:
    """An agent's LocalAgent.Subscription table, and which subscriptions Gateward relies on are missing."""
    from executors.usp import endpoint_for
    from executors.usp import subscriptions as subs

    (device,) = _usp_devices([device_id], True)
    ex = _executor(url, timeout)
    ep = endpoint_for(device)
    try:
        plan = _agent_call(ex, device, subs.plan(ex.controller, ep, watch=ex.watch, timeout=timeout), timeout)
    finally:
        ex.close()
    table = Table(title=f"{device.id} ({ep}) subscriptions — {len(plan.rows)}")
    for col in ("path", "id", "type", "references", "enabled", "for us"):
        table.add_column(col)
    for r in plan.rows:
        table.add_row(r.path, r.id, r.notif_type, r.reference_list, "yes" if r.enable else "no",
                      "yes" if subs.addressed_to_us(r, plan.ours) else f"no ({r.recipient})")
    console.print(table)
    for w in plan.missing:
        console.print(f"missing: {w.notif_type} {w.reference} (created on first contact, or: "
                      f"gateward usp subscribe {device.id} --ensure)", highlight=False)
    if plan.unsupported:
        console.print(f"not watched (not in this device's data model): {', '.join(plan.unsupported)}",
                      highlight=False)


@usp_app.command("subscribe")
def subscribe(
    device_id: str,
    notif_type: Annotated[str | None, typer.Option("--type", help="Event, ValueChange, OperationComplete, ...")] = None,
    reference: Annotated[str | None, typer.Option("--ref", help="ReferenceList: paths, comma-separated")] = None,
    subscription_id: Annotated[str, typer.Option("--id", help="subscription ID (default: derived)")] = "",
    retry: Annotated[bool, typer.Option(help="NotifRetry: the agent retries until answered")] = False,
    ensure: Annotated[bool, typer.Option(help="create every subscription Gateward relies on that is missing")] = False,
    url: Annotated[str | None, typer.Option(help="MQTT broker (default GATEWARD_MQTT_URL)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the agent")] = 5.0,
) -> None:
    """Add a subscription on a device's agent (or, with --ensure, those Gateward relies on)."""
    from executors.usp import endpoint_for
    from executors.usp import subscriptions as subs

    if ensure == bool(notif_type or reference):
        _fail("give either --ensure, or --type and --ref")
    if not ensure and not (notif_type and reference):
        _fail("give both --type and --ref")
    (device,) = _usp_devices([device_id], True)
    ex = _executor(url, timeout)
    ep = endpoint_for(device)
    try:
        if ensure:
            report = _agent_call(ex, device, subs.ensure(ex.controller, ep, watch=ex.watch, timeout=timeout), timeout)
            _agent_call(ex, device, ex.keeper.tell_created(ep, report.instances), timeout)  # in the stored model
            console.print(f"{device.id}: created {', '.join(report.created) or 'nothing'}; already there "
                          f"{', '.join(report.existing) or 'nothing'}"
                          + (f"; not in its data model: {', '.join(report.unsupported)}" if report.unsupported else ""),
                          highlight=False)
            return
        path = _agent_call(ex, device, subs.subscribe(ex.controller, ep, str(notif_type), str(reference),
                                                      subscription_id=subscription_id, notif_retry=retry,
                                                      timeout=timeout), timeout)
        _agent_call(ex, device, ex.keeper.tell_created(ep, [path]), timeout)  # in the stored model at once
    finally:
        ex.close()
    console.print(f"{device.id}: created {path}", highlight=False)


@usp_app.command("unsubscribe")
def unsubscribe(
    device_id: str,
    subscription_ids: Annotated[list[str], typer.Argument(help="subscription IDs (see `gateward usp subscriptions`)")],
    url: Annotated[str | None, typer.Option(help="MQTT broker (default GATEWARD_MQTT_URL)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the agent")] = 5.0,
) -> None:
    """Delete subscriptions from a device's agent by ID (an unknown ID deletes nothing)."""
    from executors.usp import endpoint_for
    from executors.usp import subscriptions as subs

    (device,) = _usp_devices([device_id], True)
    ex = _executor(url, timeout)
    ep = endpoint_for(device)
    try:
        paths = _agent_call(ex, device, subs.unsubscribe(ex.controller, ep, subscription_ids, timeout=timeout),
                            timeout)
        _agent_call(ex, device, ex.keeper.tell_deleted(ep, paths), timeout)  # gone from the stored model too
    finally:
        ex.close()
    console.print(f"{device.id}: deleted {', '.join(paths) or 'nothing'}", highlight=False)


@usp_app.command("topics")
def topics(
    device_ids: Annotated[list[str] | None, typer.Argument(help="devices (default: every stored topic)")] = None,
) -> None:
    """Where agents listen, as learnt from their records (mqtt_connect, Response Topic, reply-to)."""
    from core.usp_topics import TopicBook
    from executors.usp import endpoint_for
    from gateward.cli import rt

    eps = [endpoint_for(d) for d in _usp_devices(list(device_ids), True)] if device_ids else None
    book = TopicBook(rt().store)
    known = book.all(eps)
    table = Table(title=f"USP agent topics ({len(known)})")
    for col in ("endpoint", "topic", "mqtt", "learnt from"):
        table.add_column(col)
    for ep, k in sorted(known.items()):
        table.add_row(ep, k.topic, str(k.mqtt_version), k.source)
    console.print(table)
    for mm in sorted(book.mismatches(eps).values(), key=lambda m: m.endpoint_id):  # seen by any process
        console.print(f"[yellow]warning:[/] {mm.message()}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(usp_app, name="usp")
