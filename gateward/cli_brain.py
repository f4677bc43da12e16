"""CLI plugin for the planner: ``gateward chat`` (``gateward eval`` is the evaluation harness's
own command, ``evals/cli.py``: the composition root imports no harness).

``chat`` is the support agent's terminal: an interactive REPL (rich output) or, with
``--message``, one non-interactive turn.

This module is also where the evaluation's simulator half lives (:class:`SimWorld`): as the
composition root, ``gateward`` may wire the digital twin to the runner; ``evals`` itself never
imports executor modules. Imports are lazy: every ``gateward`` command loads this plugin.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from core.kernel.jsontypes import Json, JsonObject
from gateward.cli_actor import ENV

if TYPE_CHECKING:
    from brain.service import ChatService
    from core.kernel.models import Actor
    from gateward.chat_remote import RemoteChat

T = TypeVar("T")

KIND_STYLE = {"tool": "dim", "step": "dim", "proposal": "bold cyan", "answer": "green", "question": "yellow",
              "escalation": "bold magenta", "outcome": "bold green", "notice": "yellow", "error": "bold red"}


# ============================================================================ the simulated world for evals


EVAL_POLICY_TIME = "02:30"


class SimWorld:
    """One seeded simulated fleet for the evaluation runner (implements ``evals.harness.World``)."""

    def __init__(self, seed: int, homes: int, *, database_url: str | None = None) -> None:
        from core.kernel.config import Settings
        from executors.sim.fleet import generate_fleet
        from gateward.runtime import build_runtime
        from gateward.seed import seed_fleet, twin_for

        self.seed, self.homes = seed, homes
        self._tmp: Path | None = None
        if database_url is None:
            import tempfile

            self._tmp = Path(tempfile.mkdtemp(prefix=f"gateward-eval-{seed}-{homes}-"))
            database_url = f"sqlite:///{self._tmp / 'eval.db'}"
        settings = Settings(database_url=database_url)
        if settings.policy_time is None:
            # A score must not depend on the hour the suite runs: scenarios are judged at 02:30 UTC,
            # inside the shipped night windows, unless GATEWARD_POLICY_TIME says otherwise.
            settings = settings.model_copy(update={"policy_time": EVAL_POLICY_TIME})
        self.runtime = build_runtime(settings)
        seed_fleet(self.runtime, homes=homes, seed=seed)
        self.conditions: dict[str, list[str]] = {k: list(v) for k, v in
                                                 generate_fleet(homes, seed, telemetry=False).conditions.items()}
        self.twin = twin_for(self.runtime)

    def snapshot(self, device_id: str) -> JsonObject:
        import copy

        st = self.twin.state(device_id)
        return {"model_key": st.model_key, "overrides": dict(st.overrides), "faults": copy.deepcopy(st.faults),
                "online": st.online, "reachable": st.reachable, "link": dict(st.link),
                "parameter_key": st.parameter_key, "boot_count": st.boot_count, "boot_ts": st.boot_ts,
                "last_inform": st.last_inform}

    def restore(self, device_id: str, snap: dict[str, Any]) -> None:
        def fn(s: Any) -> None:
            if s.model_key != snap["model_key"]:
                s.set_model(snap["model_key"])
            s.reset_overrides(snap["overrides"])
            s.faults = dict(snap["faults"])
            s.online, s.reachable, s.link = snap["online"], snap["reachable"], dict(snap["link"])
            s.parameter_key, s.boot_count = snap["parameter_key"], snap["boot_count"]
            s.boot_ts, s.last_inform = snap["boot_ts"], snap["last_inform"]
            s.touch()

        self.twin.transact(device_id, fn)

    def inject(self, device_id: str, fault: str, params: Mapping[str, Json]) -> None:
        self.twin.inject(device_id, fault, **params)

    def set_params(self, device_id: str, values: dict[str, Any]) -> None:
        from executors.sim.catalog import get_model
        from executors.sim.fleet import native_overrides

        values = dict(values)
        uptime = next((values.pop(k) for k in list(values) if k.endswith("DeviceInfo.UpTime")), None)
        if uptime is not None:  # the twin computes UpTime from its boot time: move the boot instead
            import time

            def boot(s: Any) -> None:
                s.boot_ts = time.time() - float(uptime)
                s.touch()
            self.twin.transact(device_id, boot)
        st = self.twin.state(device_id)
        native = native_overrides(get_model(st.model_key), st.region, dict(values))
        self.twin.device_change(device_id, {k: v for k, v in native.items() if v is not None}, source="eval")

    # ------------------------------------------------------------ setups beyond device values
    # Each returns its undo: the runner calls it after the run, so every scenario starts from the
    # seeded fleet (the device's twin state itself is restored from its snapshot).

    def set_presence(self, device_id: str, *, online: bool, reachable: bool, last_seen: Any) -> Any:
        """Offline/unreachable since ``last_seen`` (aware datetime): the simulator's last inform
        and the device row's last contact agree, as they would after a real silence."""
        from sqlalchemy import select, update

        from core.store.schema import DeviceRow

        def fn(s: Any) -> None:
            s.online, s.reachable, s.last_inform = online, reachable, last_seen.timestamp()
            s.touch()

        self.twin.transact(device_id, fn)
        with self.runtime.store.write() as s:
            before = s.scalar(select(DeviceRow.last_seen).where(DeviceRow.id == device_id))
            s.execute(update(DeviceRow).where(DeviceRow.id == device_id).values(last_seen=last_seen))

        def undo() -> None:
            with self.runtime.store.write() as s:
                s.execute(update(DeviceRow).where(DeviceRow.id == device_id).values(last_seen=before))
        return undo

    def add_past_change(self, device_id: str, spec: Any, at: Any, changes: dict[str, Any]) -> Any:
        """A proposal in the device's history that ran at ``at`` (created through the lifecycle,
        then given its past timestamp and final state); the device itself is not touched."""
        from sqlalchemy import delete, update

        from core.kernel.models import Change, Operation, ProposalDraft
        from core.store.schema import ProposalDeviceRow, ProposalRow
        from core.users import get_actor

        draft = ProposalDraft(intent=spec.intent, targets=[device_id], source="chat",
                              changes=[Change(path=k, value=v) for k, v in changes.items()],
                              operations=[Operation(command=o) for o in spec.operations],
                              rationale="history set up by an evaluation scenario")
        p = self.runtime.lifecycle.create(draft, get_actor(self.runtime.store, spec.author))
        with self.runtime.store.write() as s:
            s.execute(update(ProposalRow).where(ProposalRow.id == p.id).values(
                state=spec.state, created_at=at, updated_at=at))

        def undo() -> None:
            with self.runtime.store.write() as s:
                s.execute(delete(ProposalDeviceRow).where(ProposalDeviceRow.proposal_id == p.id))
        return undo

    def add_campaign(self, device_id: str, spec: Any, changes: Mapping[str, Json]) -> Any:
        """A live (created, not started) campaign whose selection is exactly this device, made by
        the campaign service itself: validated, previewed and decided by policy."""
        import contextlib

        from sqlalchemy import delete, select, update

        from campaigns.service import Campaigns
        from core.kernel.ids import new_id
        from core.store.schema import DeviceRow, ProposalDeviceRow
        from core.users import get_actor

        tag = f"eval-campaign-{new_id('t')}"
        with self.runtime.store.write() as s:
            tags = list(s.scalar(select(DeviceRow.tags).where(DeviceRow.id == device_id)) or [])
            s.execute(update(DeviceRow).where(DeviceRow.id == device_id).values(tags=[*tags, tag]))
        actor = get_actor(self.runtime.store, spec.author)
        svc = Campaigns(self.runtime)
        try:
            out = svc.create({"name": spec.name, "target": {"tags": [tag]},
                              "changes": [{"path": k, "value": v} for k, v in changes.items()],
                              "operations": [{"command": o} for o in spec.operations]}, actor)
        except Exception:
            with self.runtime.store.write() as s:
                s.execute(update(DeviceRow).where(DeviceRow.id == device_id).values(tags=tags))
            raise
        cid, pid = str(out["id"]), str(out.get("proposal_id") or "")

        def undo() -> None:
            with contextlib.suppress(Exception):
                svc.abort(cid, actor, "evaluation cleanup")
            with self.runtime.store.write() as s:
                if pid:
                    s.execute(delete(ProposalDeviceRow).where(ProposalDeviceRow.proposal_id == pid))
                s.execute(update(DeviceRow).where(DeviceRow.id == device_id).values(tags=tags))
        return undo

    def set_compat(self, device_id: str, spec: Any) -> Any:
        """Execution-outcome evidence for the device's (vendor, model, firmware, workflow) — the
        matrix from evidence that policy and the planner read — giving ``spec.status``."""
        from sqlalchemy import delete, select

        from core.compat import CompatEvidenceRow
        from core.kernel.models import utcnow
        from core.store import repo

        counts = {"red": (15, 5, 1), "yellow": (19, 1, 0), "green": (20, 0, 0)}
        ok, bad, rb = counts[spec.status] if spec.status else (spec.succeeded or 0, spec.failed or 0,
                                                                 spec.rollback_failed or 0)
        with self.runtime.store.write() as s:
            d = repo.get_device(s, device_id)
            key = (d.vendor, d.model, d.firmware, spec.workflow)
            where = [CompatEvidenceRow.vendor == key[0], CompatEvidenceRow.model == key[1],
                     CompatEvidenceRow.firmware == key[2], CompatEvidenceRow.workflow == key[3]]
            old = s.scalar(select(CompatEvidenceRow).where(*where))
            saved = None if old is None else {c: getattr(old, c) for c in ("succeeded", "failed", "rollback_failed",
                                                                           "last_outcome_at", "last_error")}
            s.execute(delete(CompatEvidenceRow).where(*where))
            s.add(CompatEvidenceRow(vendor=key[0], model=key[1], firmware=key[2], workflow=key[3], succeeded=ok,
                                    failed=bad, rollback_failed=rb, last_outcome_at=utcnow(),
                                    last_error=spec.note))

        def undo() -> None:
            with self.runtime.store.write() as s:
                s.execute(delete(CompatEvidenceRow).where(*where))
                if saved is not None:
                    s.add(CompatEvidenceRow(vendor=key[0], model=key[1], firmware=key[2], workflow=key[3], **saved))
        return undo

    def set_roots(self, device_id: str, roots: list[str]) -> Any:
        """A device exposing both ``Device.`` and ``InternetGatewayDevice.``, registered under
        ``roots[0]``. The simulator serves both trees only for TR-098 firmware (its native IGD tree
        and the TR-181 view of it), so only such a device can be made dual-root."""
        from sqlalchemy import select, update

        from core.store.schema import DeviceRow

        if not self.twin.state(device_id).model.is_tr098:
            raise ValueError(f"device {device_id} runs TR-181 firmware: the simulator serves no "
                             "InternetGatewayDevice. tree for it, so it cannot expose both roots")
        with self.runtime.store.write() as s:
            before = s.scalar(select(DeviceRow.root).where(DeviceRow.id == device_id))
            s.execute(update(DeviceRow).where(DeviceRow.id == device_id).values(root=roots[0]))

        def undo() -> None:
            with self.runtime.store.write() as s:
                s.execute(update(DeviceRow).where(DeviceRow.id == device_id).values(root=before))
        return undo

    def neighbour_values(self, device_id: str, ssid: str, bssid: str, band: str, channel: int,
                         rssi_dbm: float) -> JsonObject:
        """TR-181 values that add one access point to the device's own neighbour scan table, so the
        write's live read hears what the stored topology says it hears; none on a TR-098 device
        (it has no scan table: a neighbour condition there is never drafted)."""
        st = self.twin.state(device_id)
        if st.model.is_tr098:
            return {}
        scan = "Device.WiFi.NeighboringWiFiDiagnostic.Result."
        n = 1 + sum(1 for p in st.tree() if p.startswith(scan) and p.endswith(".BSSID"))
        bands = [r.band for r in st.model.radios]
        radio = bands.index(band) + 1 if band in bands else 1
        row = f"{scan}{n}."
        return {row + "Radio": f"Device.WiFi.Radio.{radio}", row + "SSID": ssid, row + "BSSID": bssid,
                row + "Channel": channel, row + "SignalStrength": rssi_dbm, row + "OperatingFrequencyBand": band,
                "Device.WiFi.NeighboringWiFiDiagnostic.ResultNumberOfEntries": n}

    def host_values(self, device_id: str, hosts: list[Any], radios: list[Any]) -> JsonObject:
        """TR-181 values that list ``hosts`` after the device's own: ``Device.Hosts.Host.{i}``
        with ``Layer1Interface`` the primary SSID of the host's band, and the access points'
        associated-device counts raised to match."""
        st = self.twin.state(device_id)
        tree = st.tree()
        if st.model.is_tr098 and any(h.band for h in hosts):
            raise ValueError(f"device {device_id} is TR-098: hosts with a band need a TR-181 device (the "
                             "TR-098 Layer1Interface points into WLANConfiguration, which the simulator lacks)")
        native_root = "InternetGatewayDevice.LANDevice.1." if st.model.is_tr098 else "Device."
        n = sum(1 for p in tree if p.startswith(f"{native_root}Hosts.Host.") and p.endswith(".HostName"))
        reader = self.runtime.router.reader
        from core.store import repo

        with self.runtime.store.read() as s:
            dev = repo.get_device(s, device_id)
        wifi = reader(dev).read(dev, ["Device.WiFi.SSID.", "Device.WiFi.AccessPoint."])
        ssid_of: dict[str, int] = {}
        for path, pv in sorted(wifi.items()):
            parts = path.split(".")
            if len(parts) == 5 and parts[2] == "SSID" and parts[4] == "LowerLayers":
                radio = str(pv.value).rstrip(".").rsplit(".", 1)[-1]
                band = next((r.band for r in radios if str(r.index) == radio), None)
                name = str((wifi.get(f"Device.WiFi.SSID.{parts[3]}.SSID") or pv).value)
                if band and band not in ssid_of and "guest" not in name.lower():
                    ssid_of[band] = int(parts[3])
        values: JsonObject = {}
        assoc: dict[int, int] = {}
        for k, h in enumerate(hosts, start=n + 1):
            hp = f"Device.Hosts.Host.{k}."
            mac = h.mac or f"02:00:5E:10:{k // 256:02X}:{k % 256:02X}"
            values |= {hp + "PhysAddress": mac, hp + "IPAddress": f"192.168.1.{100 + k}", hp + "HostName": h.name,
                       hp + "Active": h.active, hp + "InterfaceType": "Wi-Fi" if h.band else "Ethernet"}
            if h.band is not None:
                idx = ssid_of.get(h.band)
                if idx is None:
                    raise ValueError(f"device {device_id} has no {h.band} SSID for host {h.name!r}")
                values[hp + "Layer1Interface"] = f"Device.WiFi.SSID.{idx}"
                if h.active:
                    assoc[idx] = assoc.get(idx, 0) + 1
        for idx, extra in assoc.items():
            cur = wifi.get(f"Device.WiFi.AccessPoint.{idx}.AssociatedDeviceNumberOfEntries")
            values[f"Device.WiFi.AccessPoint.{idx}.AssociatedDeviceNumberOfEntries"] = \
                int(cur.value if cur is not None else 0) + extra
        return values

    def close(self) -> None:
        self.runtime.close()
        self.twin.close()
        if self._tmp is not None:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)


def sim_world_factory(database_url: str | None = None) -> Any:
    def make(seed: int, homes: int) -> SimWorld:
        return SimWorld(seed, homes, database_url=database_url)
    return make


# ============================================================================ chat


def _print_event(console: Any, ev: Any, verbose: bool) -> None:
    from rich.markup import escape

    if ev.kind in ("step", "tool") and not verbose:
        if ev.kind == "tool":
            console.print(f"  [dim]· {escape(ev.data.get('name', 'tool'))}: {escape(ev.text)}[/dim]")
        return
    if ev.kind == "step" and ev.data.get("role") == "user":
        return
    style = KIND_STYLE.get(ev.kind, "white")
    console.print(f"[{style}]{ev.kind}[/{style}] {escape(ev.text)}", soft_wrap=True)
    if ev.kind == "secret":  # a generated passphrase: shown this once, never stored
        console.print(f"    [bold]{escape(str(ev.data.get('value', '')))}[/bold]", soft_wrap=True)
    for x in ev.data.get("secrets", []) if ev.kind == "proposal" else []:
        net = ", ".join(str(v) for v in (x.get("ssid"), x.get("role"), x.get("band")) if v)
        console.print(f"    secret {escape(str(x['path']))} ({escape(net)}): fingerprint "
                      f"{escape(str(x.get('new_fingerprint')))}")
    if ev.kind in ("proposal", "outcome"):
        for line in ev.data.get("diff", [])[:20]:
            mark = " (unchanged)" if line.get("unchanged") else ""
            console.print(f"    {escape(str(line['path']))}: {escape(str(line['before']))} → "
                          f"{escape(str(line['after']))}{mark}")
        dec = ev.data.get("decision") or {}
        for req in dec.get("approvals_required", []):
            console.print(f"    needs [cyan]{escape(req['role'])}[/cyan]: {escape(req['reason'])}")
        for reason in dec.get("deny", []):
            console.print(f"    [red]✗ {escape(reason)}[/red]")


def chat_command(
    device: Annotated[str | None, typer.Option("--device", "-d", help="the gateway's device id")] = None,
    as_: Annotated[str, typer.Option("--as", envvar=ENV, show_default=False,
                                     help=f"who is acting (required in-process; or {ENV}); with --server the "
                                          "token says who")] = "",
    message: Annotated[str | None, typer.Option("--message", "-m", help="one turn, non-interactive")] = None,
    thread: Annotated[str | None, typer.Option("--thread", help="continue an existing thread")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="resume a thread paused for approval")] = False,
    planner: Annotated[str, typer.Option(help="auto | offline | llm (in-process only)")] = "auto",
    apply: Annotated[bool, typer.Option("--apply", help="with --message: confirm 'apply' when asked")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show every step")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print events as JSON lines")] = False,
    secret_stdin: Annotated[bool, typer.Option(
        "--secret-stdin", help="with --message: read the turn's secret field (a new Wi-Fi passphrase) from "
                               "standard input, never from the command line")] = False,
    server: Annotated[str | None, typer.Option(
        "--server", envvar="GATEWARD_SERVER_URL", show_default=False,
        help="a running Gateward server's base URL: chat through its API with the token in GATEWARD_TOKEN "
             "(or GATEWARD_TOKEN_FILE) instead of loading the planner here")] = None,
) -> None:
    """Chat with the planner about one gateway (support agents)."""
    from gateward.cli import fail
    from gateward.cli_text import SafeConsole

    console = SafeConsole()  # the planner quotes device and chat text (gateward/cli_text.py)
    if planner not in ("auto", "offline", "llm"):
        fail(f"--planner must be auto, offline or llm (got {planner!r})")
    if not device and not thread:
        fail("name the gateway with --device DEVICE (or continue a chat with --thread THREAD)")
    secret = None
    if secret_stdin:
        if message is None:
            fail("--secret-stdin goes with --message (one turn); in the chat, type /secret")
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            fail("--secret-stdin read nothing: pipe the passphrase in (e.g. from a password manager)")
    out = (lambda ev: print(ev.model_dump_json(), flush=True)) if as_json else \
        (lambda ev: _print_event(console, ev, verbose))
    if server:
        session: Any = _remote_session(server, as_.strip(), planner)
    else:
        session = _local_session(as_.strip(), planner)
    try:
        tid = thread or session.start(device)
        if not as_json:
            console.print(f"[dim]thread {tid} · planner {session.mode}[/dim]")
        _chat_loop(console, session, tid, out, message=message, resume=resume, apply=apply, as_json=as_json,
                   secret=secret)
    finally:
        session.close()


class _LocalSession:
    """The planner in this process (``brain.service.ChatService``), as the chat loop calls it."""

    def __init__(self, svc: ChatService, who: Actor) -> None:
        self.svc, self.actor, self.who, self.mode = svc, who, who.id, svc.mode

    def start(self, device: str | None) -> str:
        from gateward.cli import guarded

        return str(guarded(lambda: self.svc.start(device, self.actor)))

    def send(self, tid: str, text: str, secret: str | None = None) -> Any:
        if secret is None:
            return self.svc.send(tid, text, self.actor)
        return self.svc.send(tid, text, self.actor, secret=secret)

    def resume(self, tid: str) -> Any:
        from gateward.cli import guarded

        return guarded(lambda: list(self.svc.resume(tid)))

    def history(self, tid: str) -> Any:
        return self.svc.history(tid)

    def awaiting(self, tid: str) -> Any:
        return self.svc.awaiting(tid)

    def continue_with(self, tid: str) -> str:
        return f"gateward chat --thread {tid} --as {self.who} -m apply"

    def close(self) -> None:
        self.svc.close()


def _local_session(as_: str, planner: str) -> _LocalSession:
    from brain.llm import LLMError
    from brain.service import ChatService
    from gateward.cli import actor as get_actor
    from gateward.cli import fail, rt
    from gateward.cli_actor import MISSING

    if not as_:
        fail(MISSING)
    who = get_actor(as_)
    if "auditor" in who.roles and len(who.roles) == 1:  # the same refusal as POST /api/chat/threads
        fail(f"{who.id} is an auditor; auditors read threads but do not chat with the planner")
    try:
        svc = ChatService(rt(), planner=planner)  # type: ignore[arg-type]
    except LLMError as exc:
        fail(exc.message)
    return _LocalSession(svc, who)


class _RemoteSession:
    """A running server's chat API (``gateward/chat_remote.py``); failures are one line and an exit."""

    def __init__(self, chat: RemoteChat, who: str) -> None:
        self.chat, self.who, self.mode = chat, who, f"server {chat.base}"

    def _guard(self, fn: Callable[[], T]) -> T:
        from gateward.chat_remote import RemoteError
        from gateward.cli import fail

        try:
            return fn()
        except RemoteError as exc:
            fail(exc.message, exc.code)

    def start(self, device: str | None) -> str:
        return str(self._guard(lambda: self.chat.start(device)))

    def _events(self, make: Callable[[], Iterable[T]]) -> Iterator[T]:
        """The turn's events as they arrive (printed while the server works), a failure as one line."""
        from gateward.chat_remote import RemoteError
        from gateward.cli import fail

        try:
            yield from make()
        except RemoteError as exc:
            fail(exc.message, exc.code)

    def send(self, tid: str, text: str, secret: str | None = None) -> Any:
        return self._events(lambda: self.chat.send(tid, text, secret))

    def resume(self, tid: str) -> Any:
        return self._events(lambda: self.chat.resume(tid))

    def continue_with(self, tid: str) -> str:
        return f"gateward chat --server {self.chat.base} --thread {tid} -m apply"

    def history(self, tid: str) -> Any:
        return self._guard(lambda: self.chat.history(tid))

    def awaiting(self, tid: str) -> Any:
        return self.chat.awaiting(tid)

    def close(self) -> None:
        self.chat.close()


def _remote_session(server: str, as_: str, planner: str) -> _RemoteSession:
    import os

    from gateward.chat_remote import TOKEN_ENV, RemoteChat, RemoteError
    from gateward.cli import fail

    if planner != "auto":
        fail("--planner is the server's choice with --server (the model path when its OPENAI_API_KEY is set); drop it")
    try:
        chat = RemoteChat(server, os.environ.get(TOKEN_ENV, "").strip())
        session = _RemoteSession(chat, as_)
        if as_:  # --as (or GATEWARD_ACTOR) names someone: the token must be theirs, or say so
            me = str(session._guard(chat.me).get("id"))
            if me != as_:
                chat.close()
                fail(f"the API token belongs to {me}, not {as_}; drop --as (the token says who) or use {as_}'s token")
    except RemoteError as exc:
        fail(exc.message, exc.code)
    return session


def _ask_secret(console: Any) -> str | None:
    """The secret field at the terminal: typed without echo (``getpass``), never part of the message."""
    import getpass

    try:
        value = getpass.getpass("secret (not shown, not stored; empty to skip): ")
    except (EOFError, KeyboardInterrupt):
        return None
    return value or None


def _asks_secret(ev: Any) -> bool:
    return ev.kind == "question" and bool(ev.data.get("secret_field"))


def _chat_loop(console: Any, session: Any, tid: str, out: Any, *, message: str | None, resume: bool,
               apply: bool, as_json: bool, secret: str | None = None) -> None:
    from core.kernel.errors import GatewardError
    from gateward.cli import fail

    def turn(text: str, secret: str | None = None) -> bool:
        """One turn; True when the planner asked for the secret field."""
        asked = False
        try:
            for ev in session.send(tid, text, secret) if secret is not None else session.send(tid, text):
                out(ev)
                asked = asked or _asks_secret(ev)
        except GatewardError as exc:
            fail(exc.message)
        return asked

    if resume:
        for ev in session.resume(tid):
            out(ev)
        return
    if message is not None:
        turn(message, secret)
        aw = session.awaiting(tid)
        if apply and aw and aw.get("kind") == "confirm":
            turn("apply")
            aw = session.awaiting(tid)
        if aw and not as_json:
            console.print(f"[dim]waiting for {aw['kind']} on {aw.get('proposal_id')}: continue with "
                          f"`{session.continue_with(tid)}` or `--resume`[/dim]")
        return
    console.print("[dim]type your message; /secret to send a new Wi-Fi passphrase (hidden), /resume to continue "
                  "after an approval, /history, /quit[/dim]")
    while True:
        try:
            text = console.input("[bold]you>[/bold] ")
        except EOFError:
            break
        if not text.strip():
            continue
        if text.strip() in ("/quit", "/exit"):
            break
        if text.strip() == "/resume":
            for ev in session.resume(tid):
                out(ev)
            continue
        if text.strip() == "/history":
            for ev in session.history(tid):
                _print_event(console, ev, True)
            continue
        if text.strip().startswith("/secret"):
            value = _ask_secret(console)
            if value is not None:
                turn(text.strip()[len("/secret"):].strip(), value)
            continue
        if turn(text):  # the planner asked for the passphrase: ask for it here, hidden
            value = _ask_secret(console)
            if value is not None:
                turn("", value)


def register(app: typer.Typer) -> None:
    app.command("chat")(chat_command)


