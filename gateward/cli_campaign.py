"""``gateward campaign …`` and ``gateward worker``: staged rollouts from the command line.

Why here: the CLI core loads this plugin (``register(app)``); every command is one call into
``campaigns.service`` and prints what came back — progress bars per ring, the gate's verdicts, and
one-line errors that say what to do (exit 2), like the rest of the CLI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gateward.cli_actor import As
from gateward.cli_face import cli as _cli
from gateward.cli_text import SafeConsole

if TYPE_CHECKING:  # rich.progress costs ~15 ms at start-up; loaded where a campaign is drawn
    from datetime import datetime

    from rich.text import Text

    from campaigns.lite_reads import LiteCampaigns
    from campaigns.reads import CampaignReader
    from campaigns.service import Campaigns

campaign_app = typer.Typer(no_args_is_help=True, help="Staged rollouts: canary, rings, analysis gate, halt.")
console = SafeConsole()  # device and person text stays inert (gateward/cli_text.py)

STATE_STYLE = {"created": "cyan", "running": "magenta", "paused": "yellow", "aborting": "bold red",
               "aborted": "red", "completed": "green", "failed": "bold red", "denied": "red", "rejected": "red"}



def _service() -> Campaigns:
    """The runtime's one campaign service (on PostgreSQL it hands new batches to the workers at once)."""
    return _cli().rt().campaigns


def _reader() -> CampaignReader | LiteCampaigns:
    """Reads only (``campaign status``): on the DB-API (``campaigns/lite_reads.py``: no SQLAlchemy)
    with the policy's clock, else on the read runtime's store — never the lifecycle, the policy pack
    or the orchestrator, which took ``campaign status`` 1.3–4.5 s. A process that built
    the full runtime (tests, ``gateward run``) reads through its service."""
    cli = _cli()
    if cli._runtime is not None:
        return _service()
    reader = cli.lean()
    if reader is not None:
        from campaigns.lite_reads import LiteCampaigns

        return LiteCampaigns(reader, _policy_clock())
    from campaigns.reads import CampaignReader

    return CampaignReader(cli.reads().store, _policy_clock())


def _policy_clock() -> Callable[[], datetime]:
    """``Settings.policy_clock`` without pydantic-settings: the wall clock, unless
    GATEWARD_POLICY_TIME pins the UTC time of day change windows are judged by."""
    from core.kernel.clock import policy_clock
    from gateward.read_runtime import env_setting

    return policy_clock(env_setting("policy_time"))


def _call(fn: Callable[[], Any]) -> Any:
    """The service's answer as the commands print it: JSON read field by field (untyped here)."""
    return _cli().guarded(fn)


def _split_floats(text: str | None, what: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        _cli().fail(f"{what} expects comma-separated percentages, e.g. 10,50,100 (got {text!r})")
    return None


def _spec_from_options(name: str, opts: dict[str, Any]) -> dict[str, Any]:
    cli = _cli()
    spec: dict[str, Any] = {}
    if opts["file"] is not None:
        try:
            spec = json.loads(Path(opts["file"]).read_text())
        except (OSError, ValueError) as exc:
            cli.fail(f"cannot read campaign file {opts['file']}: {exc}")
        if not isinstance(spec, dict):
            cli.fail(f"campaign file {opts['file']} must hold a JSON object")
    spec.setdefault("name", name)
    target = dict(spec.get("target") or {})
    for key in ("model", "vendor", "firmware", "region"):
        if opts[key]:
            target[key] = opts[key]
    if opts["tag"]:
        target["tags"] = list(opts["tag"])
    if opts["all"]:
        target["all_fleet"] = True
    listed = _listed_devices(opts["device"], opts["devices_file"])
    if listed is not None:
        target["devices"] = listed
    spec["target"] = target
    if opts["set"]:
        spec["changes"] = [c.model_dump() for c in cli.parse_set(list(opts["set"]))]
    if opts["op"]:
        spec["operations"] = [{"command": o} for o in opts["op"]]
    if opts["to_firmware"] or opts["firmware_url"]:
        if not (opts["to_firmware"] and opts["firmware_url"]):
            cli.fail("a firmware campaign needs both --to-firmware VERSION and --firmware-url URL")
        spec["firmware"] = {"version": opts["to_firmware"], "url": opts["firmware_url"]}
    for key in ("canary_pct", "control_pct", "intent"):
        if opts[key] is not None:
            spec[key] = opts[key]
    rings = _split_floats(opts["rings"], "--rings")
    if rings is not None:
        spec["rings"] = rings
    if opts["emergency"]:
        spec["emergency"] = True
    gate = dict(spec.get("gate") or {})
    for key in ("min_executed", "on_breach"):
        if opts[key] is not None:
            gate[key] = opts[key]
    if opts["failure_threshold"] is not None:  # people write percent (as in the console); the spec a fraction
        gate["failure_threshold"] = opts["failure_threshold"] / 100.0
    spec["gate"] = gate
    if opts["auto_promote"] or opts["pause_s"] is not None:
        promo = dict(spec.get("promotion") or {})
        promo["mode"] = "auto" if opts["auto_promote"] else promo.get("mode", "manual")
        if opts["pause_s"] is not None:
            promo["pause_s"] = opts["pause_s"]
        spec["promotion"] = promo
    rate = dict(spec.get("rate") or {})
    for key in ("initial_batch", "max_batch", "max_window"):
        if opts[key] is not None:
            rate[key] = opts[key]
    spec["rate"] = rate
    return spec


def _listed_devices(device: list[str] | None, devices_file: str | None) -> list[str] | None:
    """``--device`` ids then ``--devices-file`` lines (blank lines and ``#`` comments skipped)."""
    if not device and devices_file is None:
        return None
    ids = list(device or [])
    if devices_file is not None:
        try:
            text = Path(devices_file).read_text()
        except OSError as exc:
            _cli().fail(f"cannot read devices file {devices_file}: {exc}")
        ids += [ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()]
    return ids


@campaign_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="a short name for the campaign")],
    file: Annotated[str | None, typer.Option("--file", help="JSON definition (options below override it)")] = None,
    model: Annotated[str | None, typer.Option(help="select: model")] = None,
    vendor: Annotated[str | None, typer.Option(help="select: vendor")] = None,
    firmware: Annotated[str | None, typer.Option(help="select: current firmware")] = None,
    region: Annotated[str | None, typer.Option(help="select: region")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="select: tag (repeat for all of several)")] = None,
    device: Annotated[list[str] | None, typer.Option(
        "--device", help="select exactly this device (repeat; other selectors must then hold for each)")] = None,
    devices_file: Annotated[str | None, typer.Option(
        "--devices-file", help="select exactly the device ids in FILE, one a line (# comments)")] = None,
    all_: Annotated[bool, typer.Option("--all", help="confirm a selection of the whole fleet")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="PATH=VALUE (repeatable)")] = None,
    op: Annotated[list[str] | None, typer.Option(help="operation: reboot | factory_reset")] = None,
    to_firmware: Annotated[str | None, typer.Option(help="firmware campaign: target version")] = None,
    firmware_url: Annotated[str | None, typer.Option(help="firmware campaign: image URL")] = None,
    canary: Annotated[float | None, typer.Option(help="canary share of the selection, in %")] = None,
    rings: Annotated[str | None, typer.Option(help="cumulative ring shares after the canary, e.g. 10,50,100")] = None,
    control: Annotated[float | None, typer.Option(help="control cohort held back until the last ring, in %")] = None,
    failure_threshold: Annotated[float | None, typer.Option(
        min=0, max=100, help="gate: failed/executed above this share fails, in % (2 = 2 %, as --canary "
                             "and --rings; the console asks the same)")] = None,
    min_executed: Annotated[int | None, typer.Option(help="gate: devices executed before any abort")] = None,
    on_breach: Annotated[str | None, typer.Option(help="gate: abort (and roll back) | pause")] = None,
    auto_promote: Annotated[bool, typer.Option(help="widen automatically after a passing analysis")] = False,
    pause_s: Annotated[float | None, typer.Option(help="seconds to wait before an automatic promotion")] = None,
    batch: Annotated[int | None, typer.Option(help="rate: first batch size")] = None,
    max_batch: Annotated[int | None, typer.Option(help="rate: largest batch")] = None,
    max_window: Annotated[int | None, typer.Option(help="rate: most batches in flight")] = None,
    emergency: Annotated[bool, typer.Option(help="outside the change window (needs a senior approver)")] = False,
    intent: Annotated[str | None, typer.Option(help="one line: why")] = None,
    who: As = ""
) -> None:
    """Define a campaign: select devices, validate, preview, ask policy, freeze the ring plan."""
    opts = {"file": file, "model": model, "vendor": vendor, "firmware": firmware, "region": region, "tag": tag,
            "device": device, "devices_file": devices_file,
            "all": all_, "set": set_, "op": op, "to_firmware": to_firmware, "firmware_url": firmware_url,
            "canary_pct": canary, "rings": rings, "control_pct": control, "failure_threshold": failure_threshold,
            "min_executed": min_executed, "on_breach": on_breach, "auto_promote": auto_promote,
            "pause_s": pause_s, "initial_batch": batch, "max_batch": max_batch, "max_window": max_window,
            "emergency": emergency, "intent": intent}
    spec = _spec_from_options(name, opts)
    svc = _service()
    actor = _cli().actor(who)
    st = _call(lambda: svc.create(spec, actor))
    _render_status(st)
    p = st["proposal"]
    if p["state"] == "awaiting_approval":
        console.print(f"next: approval of proposal {p['id']} (`gateward approve {p['id']} --as APPROVER`), "
                      f"then `gateward campaign start {st['id']} --as {who}`")
    elif p["state"] == "approved":
        console.print(f"next: `gateward campaign start {st['id']} --as {who}`")
    else:
        _cli().fail(f"policy did not allow this campaign: {p['error'] or p['state']}", code=1)


@campaign_app.command("preview")
def preview(campaign: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The whole campaign before it runs: selection, rings, per-class diffs, policy verdict."""
    svc = _service()
    pv = _call(lambda: svc.preview(campaign))
    if as_json:
        print(json.dumps(pv, default=str))
        return
    c = pv["campaign"]
    console.print(f"[bold]{c['id']}[/bold] {c['name']}  {_state(c['state'])}  proposal {pv['proposal']['id']} "
                  f"({pv['proposal']['state']})")
    sel = pv["selection"]
    console.print(f"  selection: {sel['devices']} of {sel['fleet']} devices; regions "
                  + ", ".join(f"{k} {v}" for k, v in sorted(sel["regions"].items()))
                  + (f"; {pv['absent']} not seen in 24 h" if pv["absent"] else ""))
    t = Table(title="rings (cumulative share → devices)")
    for col in ("ring", "share", "devices", "classes (model | firmware: n)"):
        t.add_column(col)
    for i, (stage, size) in enumerate(zip(pv["plan"]["stages"], pv["plan"]["sizes"], strict=False)):
        strata = pv["plan"]["strata"][i]
        t.add_row(pv["plan"]["names"][i], f"{stage:g}%", str(size),
                  "; ".join(f"{k}: {v}" for k, v in sorted(strata.items())))
    console.print(t)
    if pv["plan"]["control"]:
        console.print(f"  control cohort: {pv['plan']['control']} device(s) held back until the last ring")
    ct = Table(title="per-class diff (before → after)")
    for col in ("class", "devices", "parameter", "before (count)", "after", "already"):
        ct.add_column(col)
    for cls in pv["classes"] or []:
        for ln in cls.get("lines", []):
            before = ", ".join(f"{k} ×{v}" for k, v in list(ln["before"].items())[:3])
            devices = str(cls.get("count")) + (f" (sample {cls['values_read']})" if cls.get("sampled") else "")
            ct.add_row(f"{cls.get('model')} {cls.get('firmware')}", devices, ln["path"], before,
                       str(ln["after"]), str(ln.get("unchanged", 0)))
    console.print(ct)
    if any(cls.get("sampled") for cls in pv["classes"] or []):
        console.print("  (sample N): that class's before values and 'already' are counted over a random sample of "
                      "N of its devices; its device count is exact")
    d = pv["decision"]
    if d is not None:
        verdict = "[green]allowed[/green]" if d["allow"] else "[red]denied[/red]"
        console.print(f"  policy: {verdict}  risk {d.get('risk', 0):.2f}")
        for r in d.get("deny", []):
            console.print(f"    deny: {r}", soft_wrap=True)
        for a in d.get("approvals_required", []):
            console.print(f"    needs {a['role']}: {a['reason']}", soft_wrap=True)
        for o in d.get("obligations", []):
            console.print(f"    obligation: {o}")
    g = pv["gate"] or {}
    console.print(f"  gate: fail above {g.get('failure_threshold', 0):.2%} after {g.get('min_executed')} executed, "
                  f"then {g.get('on_breach')}; promotion {pv['promotion']['mode']}")


@campaign_app.command("rehearse")
def rehearse(campaign: str, as_json: Annotated[bool, typer.Option("--json")] = False, who: As = "") -> None:
    """Replay the change on twin copies of every target (their stored trees and data models), before
    ring 1: per class, would each write validate, land and verify; firmware drift; what a rollback
    cannot restore; how long the rings take; who is offline, in a closed window, behind a degraded
    upstream. No device is written; the report is stored with the campaign for its approvers."""
    svc = _service()
    r = _call(lambda: svc.rehearse(campaign, _cli().actor(who)))
    if as_json:
        print(json.dumps(r, default=str))
        return
    if r.get("state") == "queued":  # 10,000+ targets: a worker runs it (campaigns/rehearsal.py)
        console.print(f"rehearsal of {campaign} queued as job {r['job']}: {r['detail']}", soft_wrap=True)
        return
    n = r["counts"]
    verdict = "[green]clean[/green]" if r["clean"] else "[red]not clean[/red]"
    console.print(f"[bold]rehearsal of {campaign}[/bold] ({r['devices']} targets): {verdict} — "
                  f"{n['fail']} would fail, {n['unknown']} not rehearsed, {n['offline']} offline, "
                  f"{n['closed_window']} in a closed change window, {n['degraded_upstream']} behind a degraded "
                  f"upstream; {n.get('refreshed', 0)} old or missing tree(s) read from the device, "
                  f"{n.get('changed_since_last', 0)} target(s) changed since the last rehearsal", soft_wrap=True)
    t = Table(title="per class (the firmware each device's own tree reports)")
    for col in ("class", "devices", "validate", "land", "verify", "why"):
        t.add_column(col)
    for k in r["classes"]:
        def cell(c: dict[str, int]) -> str:
            return ", ".join(f"{v} {s}" for s, v in sorted(c.items()))
        t.add_row(f"{k['vendor']} {k['model']} {k['firmware']}", str(k["devices"]), cell(k["validate"]),
                  cell(k["land"]), cell(k["verify"]), "; ".join(f"{x['reason']} ({x['devices']})"
                                                                for x in k["reasons"][:2]))
    console.print(t)
    if n["inventory_drift"]:
        console.print(f"  inventory drift: {n['inventory_drift']} device(s) run another firmware than the inventory "
                      "says (rehearsed as their tree reports)")
    for d in r["drift"]:
        console.print(f"  drift on {d['path']}: " + "; ".join(
            f"{fw}: " + ", ".join(f"{k} ×{v}" for k, v in vals.items()) for fw, vals in d["firmwares"].items()),
            soft_wrap=True)
    for x in r["rollback"]["not_restorable"]:
        console.print(f"  a rollback cannot restore {x.get('path') or x.get('operation')}: {x['why']}", soft_wrap=True)
    tm = r["timing"]
    rings = "; ".join(f"ring {x['ring']} {x['devices']} devices ~{x['seconds']:.0f} s"
                      + (f" + {', '.join(x['waits'])}" if x["waits"] else "") for x in tm["rings"])
    console.print(f"  rings at the campaign's rate: ~{tm['seconds']:.0f} s in all ({tm['device_s_from']}): {rings}",
                  soft_wrap=True)
    for w in r["closed_windows"]:
        console.print(f"  change window closed now: {w['window']} ({w['devices']} device(s))")
    console.print("  the twin cannot know: " + "; ".join(r["cannot_know"]), soft_wrap=True)


def _state(state: str) -> str:
    return f"[{STATE_STYLE.get(state, 'white')}]{state}[/]"


def _render_status(st: dict[str, Any], out: Console | None = None) -> None:
    out = out or console
    out.print(f"[bold]{st['id']}[/bold] {st['name']}  {_state(st['state'])}  {st['kind']}  "
              f"proposal {st['proposal']['id']} ({st['proposal']['state']})  {st['phase']}", soft_wrap=True)
    if who := _acting(st):
        out.print(f"  {who}", highlight=False, soft_wrap=True)
    if st.get("window_hold"):
        out.print(f"  [yellow]held: change window closed for {', '.join(st['window_hold'])}; "
                      "it goes on when the window opens[/yellow]", soft_wrap=True)
    if st.get("halt_reason"):
        out.print(f"  [yellow]{st['halt_reason']}[/yellow]", soft_wrap=True)
    if st.get("error"):
        out.print(f"  [red]{st['error']}[/red]", soft_wrap=True)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description:<12}"), BarColumn(bar_width=40), MofNCompleteColumn(),
                  TextColumn("{task.fields[detail]}"), console=out, transient=False,
                  auto_refresh=False) as prog:
        for r in st["rings_detail"]:
            done = r["verified"] + r["failed"]
            detail = f"{r['stage_pct']:g}%  ✓{r['verified']} ✗{r['failed']}" + (
                f" ↺{r['rolled_back']}" if r["rolled_back"] else "") + f"  {r['status']}"
            prog.add_task(r["name"], total=max(r["size"], 1), completed=min(done, r["size"]), detail=detail)
        prog.refresh()
    for r in st["rings_detail"]:  # what an abort could not undo (a firmware download), in the service's words
        if r.get("not_undone"):
            out.print(f"  {r['name']}: {r['status']} — {r['not_undone']}", style="yellow", markup=False,
                      highlight=False, soft_wrap=True)
    last = [a for a in st["analyses"] if a["final"] or a["outcome"] in ("fail", "pause")][-3:]
    for a in last:
        out.print(f"  analysis ring {a['ring'] + 1}: {a['outcome']} — {'; '.join(a['reasons'])}", soft_wrap=True)


def _acting(st: dict[str, Any]) -> str:
    """Who the campaign's device writes are made for, and the workers that carried them out (its
    audit events say the same: actor = the person, ``via`` = the worker)."""
    if not st.get("run_by"):
        return ""
    workers = ", ".join(f"worker {w['worker']} ({w['batches']} batch{'es' if w['batches'] != 1 else ''})"
                        for w in st.get("workers") or [])
    return (f"runs for {st['run_by']} (created by {st['author']})"
            + (f"; carried out by {workers}" if workers else "; no batch has run yet"))


@campaign_app.command("status")
def status(campaign: Annotated[str | None, typer.Argument()] = None,
           watch: Annotated[bool, typer.Option(help="refresh until it finishes or pauses")] = False,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One campaign with progress bars per ring, or the list of campaigns."""
    svc = _reader()
    if campaign is None:
        items = svc.list()
        if as_json:
            print(json.dumps(items, default=str))
            return
        t = Table(title="campaigns")
        for col in ("id", "name", "state", "kind", "where", "devices", "proposal", "note"):
            t.add_column(col)
        for c in items:
            t.add_row(c["id"], c["name"], _state(c["state"]), c["kind"], c["phase"],
                      str(c["devices"]), c["proposal_id"], (c["halt_reason"] or c["error"] or "")[:60])
        console.print(t)
        return
    if watch and not as_json and console.is_terminal:
        _watch(svc, campaign)
        return
    while True:
        st = _call(lambda: svc.status(campaign))
        if as_json:
            print(json.dumps(st, default=str))
            return
        _render_status(st)
        if not watch or st["terminal"] or st["state"] == "paused":
            return
        time.sleep(2.0)
        console.rule()


def _frame(st: dict[str, Any]) -> Text:
    """One status frame rendered off-screen, so a watch can redraw it in place."""
    import io

    from rich.text import Text

    buf = SafeConsole(file=io.StringIO(), force_terminal=True, width=console.width)
    _render_status(st, buf)
    return Text.from_ansi(buf.file.getvalue())  # type: ignore[attr-defined]


def _watch(svc: CampaignReader | LiteCampaigns, campaign: str) -> None:
    """``--watch`` on a terminal redraws one frame in place (a pipe still gets one frame per refresh)."""
    from rich.live import Live

    with Live(console=console, auto_refresh=False) as live:
        while True:
            st = _call(lambda: svc.status(campaign))
            live.update(_frame(st), refresh=True)
            if st["terminal"] or st["state"] == "paused":
                return
            time.sleep(2.0)


def _wait(svc: Campaigns, cid: str, *, embedded: bool) -> None:
    """Follow a campaign until it finishes or pauses; on SQLite run its worker in-process."""
    from gateward.cli import rt
    from gateward.worker import EmbeddedWorker

    worker = EmbeddedWorker(rt(), concurrency=2).start() if embedded else None
    try:
        while True:
            st = svc.status(cid)
            if st["terminal"] or st["state"] == "paused" or (
                    st["ring_state"] == "waiting" and st["spec"]["promotion"]["mode"] == "manual"):
                break
            time.sleep(0.5)
    finally:
        if worker is not None:
            worker.stop()
    _render_status(svc.status(cid))


@campaign_app.command("start")
def start(campaign: str,
          wait: Annotated[bool, typer.Option(help="follow it (on SQLite: run the worker in this process)")] = False,
          who: As = ""
          ) -> None:
    """Start an approved campaign: the canary first."""
    from campaigns.queue import is_postgres

    svc = _service()
    st = _call(lambda: svc.start(campaign, _cli().actor(who)))
    if wait:
        _wait(svc, campaign, embedded=not is_postgres(svc.store.url))
        return
    _render_status(st)
    if not is_postgres(svc.store.url):
        console.print("[dim]SQLite: run `gateward worker` (one process) to execute it, or use --wait[/dim]")


@campaign_app.command("pause")
def pause(campaign: str, reason: Annotated[str, typer.Option(help="why")] = "", who: As = "") -> None:
    """Halt new work at once; in-flight devices finish and are verified."""
    svc = _service()
    _render_status(_call(lambda: svc.pause(campaign, _cli().actor(who), reason)))


@campaign_app.command("resume")
def resume(campaign: str,
           wait: Annotated[bool, typer.Option(help="follow it (on SQLite: run the worker here)")] = False,
           who: As = "") -> None:
    """Continue a paused campaign (the failures seen so far count as acknowledged)."""
    from campaigns.queue import is_postgres

    svc = _service()
    st = _call(lambda: svc.resume(campaign, _cli().actor(who)))
    if wait:
        _wait(svc, campaign, embedded=not is_postgres(svc.store.url))
        return
    _render_status(st)


@campaign_app.command("promote")
def promote(campaign: str, who: As = "") -> None:
    """Manual promotion: start the next ring after a passing analysis."""
    svc = _service()
    _render_status(_call(lambda: svc.promote(campaign, _cli().actor(who))))


@campaign_app.command("abort")
def abort(campaign: str, reason: Annotated[str, typer.Option(help="why (audited)")] = "",
          wait: Annotated[bool, typer.Option(help="follow the rollback (on SQLite: run it here)")] = False,
          who: As = "") -> None:
    """Halt new work at once and roll back every device the campaign changed."""
    from campaigns.queue import is_postgres

    svc = _service()
    st = _call(lambda: svc.abort(campaign, _cli().actor(who), reason))
    if wait and not st["terminal"]:
        _wait(svc, campaign, embedded=not is_postgres(svc.store.url))
        return
    _render_status(st)


def worker(concurrency: Annotated[int, typer.Option(min=1, max=64, help="batches run at once")] = 4,
           name: Annotated[str | None, typer.Option(help="worker name in the queue's tables")] = None) -> None:
    """Run a worker for campaign batches and remediation units (several on PostgreSQL share the work).

    One pool serves both queues: remediation jobs and rollouts are the same kind of paced, governed
    device work, and an operator should not have to remember which worker drains which queue.
    """
    serve_worker(concurrency=concurrency, name=name)


def serve_worker(*, concurrency: int, name: str | None = None, tick_s: float = 0.5) -> None:
    """What ``gateward worker`` and ``gateward remediation worker`` run, so they start alike: JSON
    log lines (``GATEWARD_LOG_FORMAT``), ``GATEWARD_SHUTDOWN_S`` checked before working, the USP
    event sources and the ACS inventory sync, then the worker until SIGTERM or Ctrl-C drains it."""
    from campaigns.queue import is_postgres
    from gateward.logs import configure
    from gateward.runtime import start_event_sources
    from gateward.shutdown import shutdown_s
    from gateward.worker import run_worker

    try:  # SIGTERM drains for at most this long; a bad value: one line, before working
        limit_s = shutdown_s()
        configure("json")  # JSON log lines (GATEWARD_LOG_FORMAT), as gateward run: batches' governed actions
    except ValueError as exc:
        _cli().fail(str(exc))
    rt = _cli().rt()
    where = "PostgreSQL (distributed)" if is_postgres(rt.store.url) else "SQLite (in-process queue: run only one)"
    console.print(f"worker (campaigns + remediation): concurrency {concurrency} on {where}; "
                  f"SIGTERM or Ctrl+C stops it gracefully (within {limit_s:g} s)")
    events, said = start_event_sources(rt, on_connect=console.print)  # USP notifications: stored once, any replica
    console.print(said)
    from gateward.runtime import start_inventory_sync  # devices GenieACS knows → the fleet (off without its URL)

    inventory, said = start_inventory_sync(rt)
    console.print(said)
    try:
        run_worker(rt, concurrency=concurrency, name=name, tick_s=tick_s, limit_s=limit_s)
    finally:
        if events is not None:
            events.stop()
        if inventory is not None:
            inventory.stop()


def register(app: typer.Typer) -> None:
    app.add_typer(campaign_app, name="campaign")
    app.command("worker")(worker)
