"""``gateward compat``, ``gateward remediation …`` and ``gateward profiles …``.

Why a plugin: the CLI core loads it (``register(app)``); every command is one call into
``brain.remediation`` or ``core.compat`` and prints what came back, with the CLI's one-line errors
(exit 2) and ``--json`` for scripts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from core.kernel.clock import elapsed_now
from core.kernel.jsontypes import JsonObject
from gateward.cli_actor import As
from gateward.cli_face import cli as _cli
from gateward.cli_text import SafeConsole

if TYPE_CHECKING:
    from brain.remediation.profiles import ProfileSet
    from brain.remediation.service import Remediation

remediation_app = typer.Typer(no_args_is_help=True,
                              help="Remediation jobs: detectors, cases, zero-touch provisioning, storm limits.")
profiles_app = typer.Typer(no_args_is_help=True, help="Provisioning profiles: list, show, check for conflicts.")
console = SafeConsole()  # device and person text stays inert (gateward/cli_text.py)
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
STATUS_STYLE = {"open": "cyan", "dispatched": "magenta", "proposed": "yellow", "applied": "green",
                "escalated": "bold red", "closed": "dim", "suppressed": "dim"}
COMPAT_STYLE = {"green": "green", "yellow": "yellow", "red": "bold red"}



def _svc() -> Remediation:
    """The runtime's one remediation service (gateward/runtime.py builds it on first use)."""
    cli = _cli()
    return cli.guarded(lambda: cli.rt().remediation)


def _list_cases(*, status: str | None, problem: str | None, device_id: str | None,
                limit: int) -> tuple[list[JsonObject], int]:
    """``Remediation.list`` on the read runtime's store: a read needs neither the policy pack nor
    the lifecycle, the detectors or the playbooks the service loads — they were most of the 1.3–4.5 s
    ``remediation cases`` took. A process with the full runtime reads through its service."""
    cli = _cli()
    if cli._runtime is not None:
        result: tuple[list[JsonObject], int] = cli._runtime.remediation.list(
            status=status, problem=problem, device_id=device_id, limit=limit)
        return result
    reader = cli.lean()
    if reader is not None:  # the DB-API: no SQLAlchemy either
        return _lite_cases(reader, status=status, problem=problem, device_id=device_id, limit=limit)
    from sqlalchemy import func, select

    from brain.remediation.cases import case_dict
    from brain.remediation.schema import RemediationCaseRow

    q = select(RemediationCaseRow)
    if status:
        q = q.where(RemediationCaseRow.status.in_(status.split(",")))
    if problem:
        q = q.where(RemediationCaseRow.problem == problem)
    if device_id:
        q = q.where(RemediationCaseRow.device_id == device_id)
    with cli.reads().store.read() as s:
        total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        rows = s.scalars(q.order_by(RemediationCaseRow.updated_at.desc(), RemediationCaseRow.id).limit(limit))
        return [case_dict(r) for r in rows], total


_CASE_COLUMNS = ("id", "device_id", "problem", "kind", "status", "upstream_id", "class_key", "proposal_id",
                 "proposal_ids", "attempts", "hits", "evidence", "resolution", "opened_at", "updated_at",
                 "dispatched_at", "applied_at", "closed_at", "cooldown_until", "not_before")
_CASE_TIMES = frozenset({"opened_at", "updated_at", "dispatched_at", "applied_at", "closed_at", "cooldown_until",
                         "not_before"})


def _lite_cases(reader: Any, *, status: str | None, problem: str | None, device_id: str | None,
                limit: int) -> tuple[list[JsonObject], int]:
    """``Remediation.list`` on the read runtime's DB-API connection (``core.store.lite``), each row
    as ``brain.remediation.cases.case_dict`` makes it (``tests/unit/test_cli_operator_words.py``
    holds the two equal): JSON and timestamps decoded as the ORM decodes them."""
    from datetime import UTC, datetime

    import orjson

    pg = reader.backend == "postgresql"
    ph = (lambda n: f"%({n})s") if pg else (lambda n: f":{n}")
    where, params = [], {}
    if status:
        names = [f"s{i}" for i in range(len(status.split(",")))]
        where.append(f"status IN ({', '.join(ph(n) for n in names)})")
        params.update(dict(zip(names, status.split(","), strict=True)))
    for col, value in (("problem", problem), ("device_id", device_id)):
        if value:
            where.append(f"{col} = {ph(col)}")
            params[col] = value
    cond = f" WHERE {' AND '.join(where)}" if where else ""

    def when(v: Any) -> str | None:
        if v is None:
            return None
        v = datetime.fromisoformat(v) if isinstance(v, str) else v
        return str((v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)).isoformat())

    def json(v: Any) -> Any:
        return orjson.loads(v) if isinstance(v, (str, bytes)) and not pg else v

    with reader.read():
        total = int(reader._fetch(f"SELECT count(*) FROM remediation_cases{cond}", params)[1][0][0])
        rows = reader._fetch(f"SELECT {', '.join(_CASE_COLUMNS)} FROM remediation_cases{cond} "
                             f"ORDER BY updated_at DESC, id LIMIT {int(limit)}", params)[1]
    out = []
    for raw in rows:
        r = dict(zip(_CASE_COLUMNS, raw, strict=True))
        case = {k: (when(v) if k in _CASE_TIMES else v) for k, v in r.items()}
        case["proposal_ids"] = list(json(r["proposal_ids"]) or [])
        case["evidence"] = json(r["evidence"])
        case["class"] = case.pop("class_key")
        out.append({k: case[k] for k in _CASE_ORDER})
    return out, total


_CASE_ORDER = ("id", "device_id", "problem", "kind", "status", "upstream_id", "class", "proposal_id", "proposal_ids",
               "attempts", "hits", "evidence", "resolution", "opened_at", "updated_at", "dispatched_at",
               "applied_at", "closed_at", "cooldown_until", "not_before")


def _call(fn: Callable[[], Any]) -> Any:
    """The service's answer as the commands print it: JSON read field by field (untyped here)."""
    return _cli().guarded(fn)


def _dump(obj: Any) -> None:
    print(json.dumps(obj, default=str))


# ============================================================================ compat
def compat_command(vendor: Annotated[str | None, typer.Option(help="only this vendor")] = None,
                   model: Annotated[str | None, typer.Option(help="only this model")] = None,
                   workflow: Annotated[str | None, typer.Option(help="config, reboot, factory_reset, download")] = None,
                   evidence_only: Annotated[bool, typer.Option("--evidence", help="only rows with outcomes")] = False,
                   drift: Annotated[bool, typer.Option(
                       "--drift", help="parameter-tree drift between firmware versions of one model "
                                       "(from `gateward devices discover`)")] = False,
                   as_json: Json = False) -> None:
    """The compatibility matrix with its evidence and the status policy uses.

    Outcomes per (vendor, model, firmware, workflow), the status the thresholds give, the static
    matrix's, and the one policy reads. ``--drift``: paths added, removed or changed in writability
    between consecutive discovered firmware versions of each model."""
    from core import compat

    rt = _cli().rt()
    if drift:
        with rt.store.read() as s:
            _print_drift(compat.firmware_drift(s, vendor=vendor, model=model), as_json)
        return
    data = compat.policy_data(rt.policy)
    with rt.store.read() as s:
        rows = compat.matrix(s, data, vendor=vendor, model=model)
    if workflow:
        rows = [r for r in rows if r["workflow"] == workflow]
    if evidence_only:
        rows = [r for r in rows if r["executions"] or r["rollback_failed"]]
    if as_json:
        _dump({"thresholds": compat.Thresholds.from_data(data).__dict__, "rows": rows})
        return
    t = compat.Thresholds.from_data(data)
    table = Table(title=f"compatibility matrix (evidence from ≥ {t.min_executions} outcomes: yellow at "
                        f"{t.yellow_failure_rate:.0%} failures, red at {t.red_failure_rate:.0%} or "
                        f"{t.red_rollback_failures} rollback failure(s))")
    for col in ("vendor", "model", "firmware", "workflow", "ok", "failed", "rb failed", "fail rate", "evidence",
                "matrix", "policy uses"):
        table.add_column(col)
    for r in rows:
        rate = "-" if r["failure_rate"] is None else f"{r['failure_rate']:.1%}"
        ev = r["evidence_status"] or "-"
        table.add_row(r["vendor"], r["model"], r["firmware"], r["workflow"], str(r["succeeded"]), str(r["failed"]),
                      str(r["rollback_failed"]), rate, f"[{COMPAT_STYLE.get(ev, 'white')}]{ev}[/]",
                      f"[{COMPAT_STYLE.get(r['static_status'], 'white')}]{r['static_status']}[/]",
                      f"[{COMPAT_STYLE.get(r['status'], 'white')}]{r['status']}[/] ({r['source']})")
    console.print(table)


def _print_drift(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        _dump({"drift": rows})
        return
    if not rows:
        console.print("no model has two discovered firmware versions (run `gateward devices discover "
                      "--model M --firmware F` for each)")
        return
    for r in rows:
        console.print(f"[bold]{r['vendor']} {r['model']}[/] ({r['root']}) {r['summary']}", soft_wrap=True)
        for path in r["added"]:
            console.print(f"  + added    {path}", soft_wrap=True)
        for path in r["removed"]:
            console.print(f"  - removed  {path}", soft_wrap=True)
        for c in r["writability_changed"]:
            rw = {True: "writable", False: "read-only"}
            console.print(f"  ~ {c['path']}: {rw[c['from']]} → {rw[c['to']]}", soft_wrap=True)
        for path in r["not_comparable"]:
            console.print(f"  ? unknown  {path} (its table had no instances on one discovered unit)", soft_wrap=True)
        if r["note"]:
            console.print(f"  [dim]{r['note']}[/]", soft_wrap=True)


# ============================================================================ remediation
@remediation_app.command("detect")
def detect(problem: Annotated[list[str] | None, typer.Option("--problem", help="only these problems")] = None,
           dry_run: Annotated[bool, typer.Option("--dry-run", help="report, open no case")] = False,
           as_json: Json = False) -> None:
    """Run the detector rules and open a case per (device, problem) found (deduplicated, cooldowns)."""
    svc = _svc()
    out = _call(lambda: svc.detect(problems=problem or None, dry_run=dry_run))
    if as_json:
        _dump(out)
        return
    console.print(f"{out['detections']} detection(s) on {out['devices']} device-problem pair(s): "
                  + (", ".join(f"{k} {v}" for k, v in sorted(out["by_problem"].items())) or "nothing found"))
    if not dry_run:
        console.print(f"opened {out['opened']}, duplicates {out['duplicates']}, in cooldown {out['suppressed']}, "
                      f"stale evidence {out['stale']}, persisted after a fix {out['persisted_after_fix']}")


@remediation_app.command("cases")
def cases(status: Annotated[str | None, typer.Option(help="e.g. open,escalated")] = None,
          problem: Annotated[str | None, typer.Option()] = None,
          device: Annotated[str | None, typer.Option()] = None,
          limit: Annotated[int, typer.Option(help="at most this many (1-10000)")] = 50,
          as_json: Json = False) -> None:
    """Remediation cases, most recently updated first."""
    if not 1 <= limit <= 10000:  # checked here: typer's min/max would build its pydantic coercion (~0.5 s)
        _cli().fail(f"--limit must be within 1..10000 (got {limit})")
    items, total = _call(lambda: _list_cases(status=status, problem=problem, device_id=device, limit=limit))
    if as_json:
        _dump({"items": items, "total": total})
        return
    table = Table(title=f"remediation cases ({len(items)} of {total})")
    for col in ("case", "device", "problem", "status", "proposal", "hits", "updated", "resolution"):
        table.add_column(col, overflow="fold")
    for c in items:
        st = c["status"]
        table.add_row(c["id"], c["device_id"], c["problem"], f"[{STATUS_STYLE.get(st, 'white')}]{st}[/]",
                      ", ".join(c["proposal_ids"]) or "-", str(c["hits"]), (c["updated_at"] or "")[:19],
                      (c["resolution"] or "")[:120])
    console.print(table)


@remediation_app.command("show")
def show(case_id: str, as_json: Json = False) -> None:
    """One case with its evidence."""
    c = _call(lambda: _svc().get(case_id))
    if as_json:
        _dump(c)
        return
    console.print(f"[bold]{c['id']}[/bold]  {c['problem']} on {c['device_id']}  "
                  f"[{STATUS_STYLE.get(c['status'], 'white')}]{c['status']}[/]  ({c['kind']})")
    for k in ("proposal_ids", "attempts", "hits", "opened_at", "applied_at", "closed_at", "cooldown_until",
              "resolution"):
        if c.get(k):
            console.print(f"  {k}: {c[k]}", soft_wrap=True)
    console.print_json(json.dumps(c["evidence"], default=str))


@remediation_app.command("effects")
def effects(window_h: Annotated[float, typer.Option(min=0.25, max=24, help="hours after each fix")] = 6.0,
            as_json: Json = False) -> None:
    """Each problem's fix measured on its detector's KPI: fixed cases against matched untreated
    cases (or the same homes before), with a 95 % interval."""
    from brain.remediation.effects import fix_effects

    svc = _svc()
    with svc.store.read() as s:
        items = _call(lambda: fix_effects(s, svc.rules, now=elapsed_now(svc.rt.lifecycle.clock), window_h=window_h))
    if as_json:
        _dump(items)
        return
    for it in items:
        e = it["effect"]
        what = e["text"] if e else it["note"]
        against = f" — against {it['against']}" if it.get("against") else ""
        console.print(f"[bold]{it['problem']}[/bold] ({it['fixed']} of {it['cases']} case(s) fixed): {what}{against}",
                      soft_wrap=True)


@remediation_app.command("run")
def run(detect_first: Annotated[bool, typer.Option("--detect/--no-detect", help="run the detectors first")] = True,
        ingest: Annotated[bool, typer.Option("--ingest/--no-ingest",
                                             help="read new simulator events first (factory resets, boots)")] = True,
        timeout: Annotated[float, typer.Option(help="stop after this many seconds")] = 300.0,
        as_json: Json = False) -> None:
    """Work the queue in this process until nothing is ready: plan, propose, apply what policy
    allows, paced by the storm limits. (Workers do the same: `gateward worker`.)"""
    svc = _svc()
    out: dict[str, Any] = {}
    if svc.store.dialect != "postgresql":  # one process on SQLite: units a crashed run held are ours again
        _call(svc.recover_local)
    if ingest:
        from brain.remediation.ingest import Ingestor, TwinSource
        from gateward.seed import twin_for

        out["ingest"] = _call(lambda: Ingestor(svc).poll(TwinSource(twin_for(svc.rt)), detect=False).as_dict())
    if detect_first:
        out["detect"] = _call(lambda: svc.detect())
    rep = _call(lambda: svc.drain(timeout_s=timeout))
    out["run"] = rep.as_dict()
    if as_json:
        _dump(out)
        return
    if "detect" in out:
        d = out["detect"]
        console.print(f"detect: {d['detections']} detection(s), opened {d['opened']} case(s)")
    r = out["run"]
    console.print(f"run: {r['units']} unit(s), {r['proposals']} proposal(s) in {r['elapsed_s']} s; outcomes "
                  + (", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items())) or "none")
                  + f"; peak queue depth {r['peak_queue_depth']}; "
                  + ("drained" if r["drained"] else "[yellow]not drained (timeout)[/yellow]"))
    console.print("cases: " + ", ".join(f"{k} {v}" for k, v in sorted(r["cases"].items())))


@remediation_app.command("worker")
def worker(concurrency: Annotated[int, typer.Option(min=1, max=64)] = 4,
           tick: Annotated[float, typer.Option(help="seconds between watchdog rounds")] = 0.5) -> None:
    """The same worker as `gateward worker` (remediation units and campaign batches; several of them
    share PostgreSQL), with the watchdog's tick as an option."""
    from gateward.cli_campaign import serve_worker

    serve_worker(concurrency=concurrency, tick_s=tick)


@remediation_app.command("ingest")
def ingest_command(source: Annotated[str, typer.Option(help="twin (the simulator's log) or genieacs")] = "twin",
                   as_json: Json = False) -> None:
    """Read new device events (boots, factory resets, informs) into the store; open provisioning
    cases for first contacts and factory resets; run the detectors on the devices they touched."""
    from brain.remediation.ingest import GenieAcsSource, Ingestor, TwinSource

    svc = _svc()
    cli = _cli()
    src: Any
    if source == "twin":
        from gateward.seed import twin_for

        src = TwinSource(twin_for(svc.rt))
    elif source == "genieacs":
        url = svc.rt.settings.genieacs_url
        if not url:
            cli.fail("GATEWARD_GENIEACS_URL is not set: point it at the GenieACS NBI")
            return
        from executors.genieacs.nbi import NbiClient

        src = GenieAcsSource(NbiClient(url))
    else:
        cli.fail(f"unknown source {source!r}: twin or genieacs")
    out = _call(lambda: Ingestor(svc).poll(src).as_dict())
    if as_json:
        _dump(out)
        return
    console.print(f"{out['signals']} signal(s): {out['events']} event(s) stored, {out['unknown_devices']} from unknown "
                  f"devices, {out['ztp_cases_opened']} provisioning case(s) opened")


@remediation_app.command("ztp")
def ztp(device: str, trigger: Annotated[str, typer.Option(help="bootstrap, onboard, factory_reset, manual")] = "manual",
        as_json: Json = False) -> None:
    """Open a zero-touch provisioning case for a device by hand (it runs with `remediation run`)."""
    res = _call(lambda: _svc().trigger_ztp(device, trigger, source="cli"))
    if as_json:
        _dump(res.as_dict())
        return
    console.print(f"opened {len(res.opened)} provisioning case(s)" + (f": {res.opened[0]}" if res.opened else
                                                                      " (one is already active)"))


@remediation_app.command("close")
def close(case_id: str, reason: Annotated[str, typer.Option(help="why")] = "", who: As = "") -> None:
    """Close a case (usually an escalated one) with the reason."""
    cli = _cli()
    c = _call(lambda: _svc().close_case(case_id, cli.actor(who), reason))
    console.print(f"{c['id']} closed; cooldown until {c['cooldown_until']}")


@remediation_app.command("adopt")
def adopt(case_id: str, who: As = "") -> None:
    """Take over an escalated case: the planner drafts the fix with you as the author; policy
    decides who must approve it."""
    cli = _cli()
    c = _call(lambda: _svc().adopt(case_id, cli.actor(who)))
    console.print(f"{c['id']}: {c['resolution']}")


@remediation_app.command("halt")
def halt(problem: str, reason: Annotated[str, typer.Option(help="why")] = "", who: As = "") -> None:
    """Stop remediation of one problem (cases stay open)."""
    cli = _cli()
    r = _call(lambda: _svc().set_problem(problem, "halted", cli.actor(who), reason))
    console.print(f"{r['problem']}: {r['state']}")


@remediation_app.command("resume")
def resume(problem: str, who: As = "") -> None:
    """Resume a halted problem (the breaker's count starts over)."""
    cli = _cli()
    r = _call(lambda: _svc().set_problem(problem, "running", cli.actor(who), "resumed"))
    console.print(f"{r['problem']}: {r['state']} (next proposal covers {r['batch_size']} device(s))")


@remediation_app.command("status")
def status(as_json: Json = False) -> None:
    """Case counts, queue depth, each problem's ramp and breaker, the global token level."""
    out = _call(lambda: _svc().status())
    if as_json:
        _dump(out)
        return
    console.print("cases: " + (", ".join(f"{k} {v}" for k, v in sorted(out["cases"].items())) or "none")
                  + f"; queue depth {out['queue_depth']}; global tokens {out['global_tokens']}")
    for p in out["problems"]:
        style = "bold red" if p["state"] == "halted" else "green"
        console.print(f"  {p['problem']}: [{style}]{p['state']}[/] batch {p['batch_size']}, "
                      f"{p['failed']}/{p['executed']} failed" + (f" — {p['reason']}" if p["reason"] else ""))


# ============================================================================ profiles
def _profiles() -> ProfileSet:
    from brain.remediation.profiles import load_profiles

    return _cli().guarded(load_profiles)


@profiles_app.command("list")
def profiles_list(as_json: Json = False) -> None:
    """Every provisioning profile: id, version, what it matches, how many parameters."""
    ps = _profiles()
    if as_json:
        _dump([p.model_dump() for p in ps.profiles])
        return
    table = Table(title=f"provisioning profiles ({ps.source})")
    for col in ("id", "version", "matches", "parameters", "description"):
        table.add_column(col, overflow="fold")
    for p in ps.profiles:
        table.add_row(p.id, str(p.version), p.match.describe(), str(len(p.parameters)), p.description)
    console.print(table)


@profiles_app.command("show")
def profiles_show(profile_id: str, as_json: Json = False) -> None:
    """One profile's parameters."""
    p = _call(lambda: _profiles().get(profile_id))
    if as_json:
        _dump(p.model_dump())
        return
    console.print(f"[bold]{p.id}[/bold] v{p.version} — {p.match.describe()}\n  {p.description}")
    for path, v in sorted(p.parameters.items()):
        console.print(f"  {path} = {v!r}")


@profiles_app.command("check")
def profiles_check(as_json: Json = False) -> None:
    """Conflicts: profile pairs that could both match a device and set a parameter differently,
    and the fleet's devices they hold back from provisioning. Exit 1 when there is any."""
    from brain.remediation.profiles import fleet_conflicts

    ps = _profiles()
    pairs = ps.potential_conflicts()
    with _cli().rt().store.read() as s:
        fleet = fleet_conflicts(ps, s)
    if as_json:
        _dump({"pairs": [{"a": a.id, "b": b.id, "path": c.path, "values": c.values} for a, b, c in pairs],
               "fleet": fleet})
    else:
        if not pairs:
            console.print(f"[green]no conflicts[/green] between {len(ps.profiles)} profile(s)")
        for a, b, c in pairs:
            console.print(f"[red]conflict[/red] {a.id} v{a.version} ({a.match.describe()}) and {b.id} v{b.version} "
                          f"({b.match.describe()}): {c.describe()}", soft_wrap=True)
        for f in fleet:
            console.print(f"  {f['devices']} device(s) {f['vendor']} {f['model']} {f['region']} {f['service']} are "
                          f"not provisioned until resolved: " + "; ".join(x["text"] for x in f["conflicts"]),
                          soft_wrap=True)
    if pairs:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(remediation_app, name="remediation")
    app.add_typer(profiles_app, name="profiles")
    app.command("compat")(compat_command)
