"""``gateward`` — the operator's command line (typer + rich).

The local CLI trusts ``--as NAME`` for *who* (it runs on the operator's own machine) but takes
roles from the user directory; every command that acts as a person requires it (or
``GATEWARD_ACTOR``, ``gateward/cli_actor.py``), read-only commands do not take it. Errors print one
line naming the problem and what to do, and exit non-zero: 2 for bad input or a refused step, 1 when
a change was denied or rolled back.
"""

from __future__ import annotations

import atexit
import gc
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.table import Table

from core.kernel.errors import GatewardError
from core.kernel.jsontypes import JsonObject
from gateward.cli_actor import As
from gateward.cli_fast import PluginTyper
from gateward.cli_text import SafeConsole, inert, plain

if TYPE_CHECKING:  # the models cost ~80 ms to import; --help and read commands need none
    import socket

    from core.kernel.models import Actor, Change, Proposal, ProposalState
    from core.lifecycle.facade import Lifecycle
    from core.store import Store
    from core.store.lite import LiteReader
    from gateward.read_runtime import ReadRuntime
    from gateward.runtime import Runtime
    from gateward.seed import DemoPeople

# Each area owns its commands in its own module (gateward/cli_*.py) with ``register(app)``, named
# here with the top-level commands, then groups, it adds: an invocation imports only the module it
# runs (gateward/cli_fast.py; tests/unit/test_cli_lazy.py checks these names against the modules).
PLUGINS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "gateward.cli_brain": (("chat",), ()),
    "gateward.cli_usp": ((), ("usp",)),
    "gateward.cli_genieacs": ((), ("genieacs",)),
    "gateward.cli_campaign": (("worker",), ("campaign",)),
    "gateward.cli_remediation": (("compat",), ("remediation", "profiles")),
    "gateward.cli_devices": ((), ("devices",)),
    "gateward.cli_device": (("device",), ()),
    # The harnesses own their commands: the composition root names them here and imports neither.
    "evals.cli": (("eval", "eval-guard"), ()),
    "bench.cli": (("bench", "soak"), ()),
}

app = PluginTyper(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Gateward: governed changes for CPE fleets.", plugins=PLUGINS)
users_app = typer.Typer(no_args_is_help=True, help="Manage users, roles, API tokens, passwords and sessions.")
audit_app = typer.Typer(no_args_is_help=True, help="Inspect and verify the audit trail.")
fault_app = typer.Typer(no_args_is_help=True, help="Inject faults into the simulated fleet.")
policy_app = typer.Typer(no_args_is_help=True, help="Test, explain and ship the Rego policy pack.")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(fault_app, name="fault")
app.add_typer(policy_app, name="policy")

console = SafeConsole()  # never a raw control character or a value's markup (gateward/cli_text.py)
err = SafeConsole(stderr=True)
T = TypeVar("T")

STATE_STYLE = {
    "done": "green", "approved": "green", "denied": "red", "invalid": "red", "rejected": "red",
    "failed": "bold red", "rolled_back": "yellow", "awaiting_approval": "cyan", "applying": "magenta",
    "verifying": "magenta", "cancelled": "dim", "rollback_pending": "bold yellow",
}


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {inert(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def guarded(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except GatewardError as exc:
        fail(exc.message)
    except LookupError as exc:
        fail(str(exc))
    except Exception as exc:  # a full disk, a lost database: conditions to name, not tracebacks
        why = database_problem(exc)
        if why is None:
            raise
        fail(why)
    raise AssertionError("unreachable")


def database_problem(exc: BaseException) -> str | None:
    """One line for a database that failed under a command — its disk full, its connection lost or
    refused, or it could not be opened at all (TLS, credentials) — saying what was and was not
    recorded and the command that finishes the work; ``None`` for anything else. The URL is shown
    without its password."""
    from core.kernel.errors import cause_text, database_unavailable_cause, storage_full_cause

    full = storage_full_cause(exc)
    if full is not None:
        return (f"the database's disk is full ({full}); nothing more was recorded. Free space for the "
                "database, then run `gateward recover`")
    lost = database_unavailable_cause(exc)
    refused = _database_refused(exc)
    if lost is None or (refused is not None and _at_connect(lost)):
        return refused
    reason = cause_text(lost)
    return (f"lost {_label_for(lost)} mid-command ({reason}); nothing after "
            "its last answer was recorded. When it answers again, run the command again — `gateward recover` "
            "finishes an apply it cut")


def _label_for(exc: BaseException) -> str:
    """The configured database's URL (no password) — unless the error came from the other kind of
    database: a command that opened one of its own (a bench's ``GATEWARD_BENCH_DATABASE_URL``) lost
    that one, and naming the configured SQLite file beside a PostgreSQL error sent the reader there."""
    from gateward import read_runtime

    url = read_runtime.database_url()
    raised = getattr(exc, "orig", None) or exc  # SQLAlchemy's wrapper: the driver's own error
    from_postgres = any(c.__module__.split(".")[0] == "psycopg" for c in type(raised).__mro__)
    if from_postgres != url.startswith("postgres"):
        return f"the {'PostgreSQL' if from_postgres else 'SQLite'} database this command opened itself"
    return f"the database {_db_label(url)}"


def _at_connect(exc: BaseException) -> bool:
    """The error came from opening a connection (refused, unknown host, TLS), not from one lost."""
    text = str(exc).lower()
    return "connection failed" in text or "could not connect" in text or "unable to open database" in text


_runtime: Runtime | None = None
#: what :func:`main` found wrong before the command began and left to ``gateward status`` to report
START_PROBLEMS: list[str] = []


def rt() -> Runtime:
    global _runtime
    if _runtime is None:
        from gateward.runtime import build_runtime

        try:
            _runtime = build_runtime()
        except Exception as exc:  # configuration problems: say what, not a traceback
            from policies.engine import PolicyLoadError

            if isinstance(exc, PolicyLoadError):
                fail(f"policy pack failed to load, refusing to run: {exc}")
            raise
    return _runtime


def _database_refused(exc: BaseException) -> str | None:
    """One line for a database that cannot be opened (unreachable, TLS refused — ``sslmode``,
    ``sslrootcert`` in the URL are libpq's own and passed through — bad credentials), or ``None``
    when ``exc`` is something else. The URL is shown without its password."""
    if type(exc).__name__ != "OperationalError":  # SQLAlchemy's, or the DB-API driver's (core/store/lite.py)
        return None
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
    return f"cannot open {_label_for(exc)}: {reason}"


_reads: ReadRuntime | None = None


def _read_runtime() -> ReadRuntime:
    global _reads
    from gateward.read_runtime import ReadRuntime, database_url

    url = database_url()
    if _reads is None or _reads.url != url:
        if _reads is not None:
            _reads.close()
        _reads = ReadRuntime(url)
    return _reads


def reads() -> Runtime | ReadRuntime:
    """For read-only commands: the full runtime when one is built, else a store and router without
    the policy pack, the lifecycle or an Alembic run (gateward/read_runtime.py)."""
    if _runtime is not None:
        return _runtime
    return _read_runtime()


def lean() -> LiteReader | None:
    """The DB-API reader of a read-only command (core/store/lite.py: no SQLAlchemy, no pydantic;
    docs/performance.md, D12). ``None`` when this process has built the full runtime (``gateward run``, tests that
    hand the CLI their runtime) — reads then go through its store — or when the database URL is one
    the DB-API path does not read."""
    if _runtime is not None:
        return None
    return _read_runtime().lite


def actor(name: str) -> Actor:
    from core.users import get_actor

    return guarded(lambda: get_actor(rt().store, name))


def parse_set(items: list[str]) -> list[Change]:
    from core.kernel.models import Change

    changes = []
    for item in items:
        if "=" not in item:
            fail(f"--set expects PATH=VALUE (got {item!r}), e.g. --set Device.WiFi.Radio.2.Channel=36")
        path, value = item.split("=", 1)
        try:
            changes.append(Change(path=path.strip(), value=value))
        except ValueError as exc:
            fail(str(exc).splitlines()[-1])
    return changes


def state_text(state: ProposalState | str) -> str:
    s = str(state)
    return f"[{STATE_STYLE.get(s, 'white')}]{s}[/]"


# ---------------------------------------------------------------------------- rendering
def _proposal_parts(pid: str) -> tuple[Any, dict[str, Any] | None, Any, list[Any], list[Any]]:
    """The proposal, its stored preview, latest decision, approvals and executions: through the
    DB-API reader for ``gateward show`` (views with the models' fields, core/store/lite.py), through
    the store of the runtime after a change (``propose``, ``apply``)."""
    reader = lean()
    if reader is not None:
        with reader.read():
            view = guarded(lambda: reader.proposal(pid))
            return (view, view.preview, reader.latest_decision(pid), reader.approvals(pid),
                    reader.executions(pid))
    from core.store import repo

    store = reads().store
    with store.read() as s:
        row = guarded(lambda: repo.get_proposal_row(s, pid))
        p, preview = repo.proposal_from_row(row), row.preview
    with store.read() as s:
        return p, preview, repo.latest_decision(s, pid), repo.approvals_for(s, pid), repo.executions_for(s, pid)


def _print_secret_purposes(p: Proposal) -> None:
    """What each secret the proposal writes is for and its new value's fingerprint — the one the agent
    saw when it was submitted (issue 54; ``brain.secret_field.purposes``)."""
    from core.kernel.secrets import is_secret_path

    if not any(is_secret_path(c.path) for c in p.changes):
        return
    from brain.secret_field import purposes_from_store

    with rt().store.read() as s:
        found = purposes_from_store(s, p.changes, p.targets)
    for x in found:
        net = ", ".join(v for v in (f'SSID "{x.ssid}"' if x.ssid else "", x.role or "", x.band or "") if v)
        console.print(f"  secret: {x.device_id} {x.path} — {x.what}{f' of {net}' if net else ''}: current value "
                      f"(never read back) → new, fingerprint {x.new_fingerprint or '?'}", markup=False, soft_wrap=True)


def render_proposal(pid: str) -> None:
    """A proposal as the CLI shows it: its header, the request, the preview, the values per device,
    what cannot be read back, policy's verdict, the reviews and the executions — one part each."""
    p, preview, rec, approvals, execs = _proposal_parts(pid)
    _print_header(p)
    if p.per_target:  # each device gets its own values (a joint channel plan): say who gets what
        console.print(_per_device_table(p))
    console.print(_preview_table(p, preview))
    _print_secret_purposes(p)
    for w in (preview or {}).get("warnings", []):  # e.g. what a rollback cannot restore
        console.print(f"  [yellow]preview:[/yellow] {inert(w)}", soft_wrap=True)
    if rec is not None:
        _print_decision(rec)
    for a in approvals:
        stale = "" if a.proposal_hash == p.hash else " [dim](void: for an earlier version)[/dim]"
        said = f": {inert(a.comment)}" if a.comment else ""
        console.print(f"  {a.verdict} by {inert(a.actor)} as {a.role or '-'}{said}{stale}")
    if execs:
        et = Table(title="execution")
        for col in ("device", "status", "error"):
            et.add_column(col)
        for e in execs[:50]:
            et.add_row(plain(e.device_id), plain(e.status), plain(e.error or ""))
        console.print(et)


def _print_header(p: Any) -> None:
    """Who, what, why, what was asked (its time and conditions), the hash and any error."""
    risk = "-" if p.risk is None else f"{p.risk:.2f}"
    console.print(f"[bold]{p.id}[/bold]  {state_text(p.state)}  by {inert(p.author)}  risk={risk}")
    console.print(f"  intent: {inert(p.intent)}")
    if p.rationale:
        console.print(f"  rationale: {inert(p.rationale)}")
    if p.readback:
        console.print(f"  asked: {p.readback}", soft_wrap=True, markup=False)
    if p.not_before is not None:
        who = f"; {p.start_requested_by} asked it to start then" if p.start_requested_by else ""
        console.print(f"  not before: {p.not_before.isoformat()}{who}")
    for c in p.preconditions or []:
        text = c["text"] if isinstance(c, dict) else c.text
        console.print(f"  only if: {text} (read again when the write starts)", markup=False)
    console.print(f"  hash: {p.hash}")
    if p.error:
        console.print(f"  [red]{inert(p.error)}[/red]", soft_wrap=True)


def _preview_table(p: Any, preview: dict[str, Any] | None) -> Table:
    """Before → after per device as previewed, or the proposed values when there is no preview."""
    from core.kernel.secrets import mask_value

    table = Table(title="preview (before → after)")
    for col in ("device", "parameter", "before", "after", "note"):
        table.add_column(col)
    if not preview:
        for t in p.targets[:20]:
            for c in p.changes_for(t):
                table.add_row(plain(t), plain(c.path), "?", plain(mask_value(c.path, c.value)), "not previewed")
        return table
    for d in preview["devices"][:50]:
        if not d["lines"]:
            ops = ", ".join(o["command"] for o in d.get("operations", []))
            table.add_row(plain(d["device_id"]), "-", "-", "-", plain(d.get("error") or ops))
        for ln in d["lines"]:
            note = "unchanged" if ln.get("unchanged") else ("secret" if ln.get("secret") else "")
            table.add_row(*(plain(x) for x in (d["device_id"], ln["path"], ln["before"], ln["after"],
                                           d.get("error") or note)))
    return table


def _per_device_table(p: Any) -> Table:
    from core.kernel.secrets import mask_value

    vt = Table(title=f"values per device ({len(p.targets)} devices, each its own)")
    for col in ("device", "parameter", "value"):
        vt.add_column(col)
    for t, changes in list(p.values_by_device().items())[:200]:
        for i, c in enumerate(changes):
            vt.add_row(plain(t if i == 0 else ""), plain(c.path), plain(str(mask_value(c.path, c.value))
                       + ("" if c.target is not None else " (every device)")))
    return vt


def _print_decision(rec: Any) -> None:
    """Policy's verdict: allow or deny, why, who must approve, obligations, warnings."""
    res = rec.result
    verdict = "[green]allow[/green]" if res["allow"] else "[red]deny[/red]"
    console.print(f"policy: {verdict} (decision {rec.id}, revision {rec.revision[:12]}, {rec.duration_us:.0f} µs)")
    for reason in res.get("deny", []):
        console.print(f"  [red]✗[/red] {inert(reason)}")
    for req in res.get("approvals_required", []):
        console.print(f"  needs [cyan]{inert(req['role'])}[/cyan]: {inert(req['reason'])}")
    for ob in res.get("obligations", []):
        console.print(f"  obligation: {inert(ob)}")
    for w in res.get("warnings", []):
        console.print(f"  [yellow]warning:[/yellow] {inert(w)}")


# ---------------------------------------------------------------------------- commands
@app.command()
def propose(
    device: Annotated[list[str], typer.Option("--device", "-d", help="target device id (repeatable)")],
    set_: Annotated[list[str], typer.Option("--set", help="PATH=VALUE (repeatable)")] = [],  # noqa: B006
    reason: Annotated[str, typer.Option("--reason", help="why: the rationale an approver reads")] = "",
    intent: Annotated[str | None, typer.Option(help="one line: what this change is for")] = None,
    as_: As = "",
    operation: Annotated[list[str], typer.Option("--op", help="reboot | factory_reset | download:URL")] = [],  # noqa: B006
    emergency: Annotated[bool, typer.Option(help="outside a change window, with a senior approver")] = False,
    not_before: Annotated[str | None, typer.Option(
        "--not-before", help="write no earlier than this time (ISO 8601 with an offset, e.g. "
                             "2026-12-01T02:00+01:00); apply before it schedules the write")] = None,
) -> None:
    """Propose a change: it is validated, previewed and decided by policy at once."""
    from core.kernel.models import Operation, ProposalDraft, ProposalState

    who = actor(as_)
    at = _aware_time("--not-before", not_before) if not_before else None
    ops = []
    for o in operation:
        name, _, arg = o.partition(":")
        ops.append(Operation(command=name, args={"url": arg} if name == "download" and arg else {}))  # type: ignore[arg-type]
    changes = parse_set(set_)
    draft = ProposalDraft(intent=intent or reason or "change via CLI", targets=device, changes=changes,
                          operations=ops, rationale=reason, emergency=emergency, source="cli", not_before=at)
    lc = rt().lifecycle
    _say_waits(lc)
    p = guarded(lambda: lc.submit(draft, who))
    render_proposal(p.id)
    if p.state is ProposalState.INVALID:
        fail(f"proposal {p.id} is invalid: {p.error}")
    if p.state is ProposalState.DENIED:
        fail(f"proposal {p.id} denied by policy", code=1)
    if p.state is ProposalState.AWAITING_APPROVAL:
        console.print(f"next: gateward approve {p.id} --as <approver>")
    elif p.state is ProposalState.APPROVED:
        console.print(f"next: gateward apply {p.id} --as {as_}")


def _aware_time(option: str, raw: str) -> datetime:
    """``raw`` as an aware time, or one line saying what is wrong (a time without an offset would be
    read in this machine's zone, not the device's)."""
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        fail(f"{option} {raw!r} is not an ISO 8601 time (e.g. 2026-12-01T02:00+01:00)")
    if at.tzinfo is None:
        fail(f"{option} {raw!r} has no offset: add one (e.g. +01:00 or Z) so it is not read in this machine's zone")
    return at


@app.command()
def show(proposal: str) -> None:
    """Show a proposal: diff, policy verdict, approvals, execution."""
    render_proposal(proposal)


@app.command()
def proposals(state: Annotated[str | None, typer.Option(help="filter by state")] = None,
              limit: int = 50) -> None:
    """List proposals, newest first."""
    from core.store import repo

    with rt().store.read() as s:
        items = repo.list_proposals(s, states=[state] if state else None, limit=limit)
    t = Table(title="proposals")
    for col in ("id", "state", "author", "targets", "intent", "risk"):
        t.add_column(col)
    for p in items:
        t.add_row(p.id, state_text(p.state), plain(p.author), str(len(p.targets)), plain(p.intent[:60]),
                  "-" if p.risk is None else f"{p.risk:.2f}")
    console.print(t)


@app.command()
def approve(proposal: str, as_: As = "",
            comment: str = "",
            hash_: Annotated[str | None, typer.Option("--hash", help="the hash you reviewed")] = None) -> None:
    """Approve a proposal awaiting approval (never your own)."""
    who = actor(as_)
    p = guarded(lambda: rt().lifecycle.approve(proposal, who, comment, expected_hash=hash_))
    console.print(f"{p.id}: {state_text(p.state)}")


@app.command()
def reject(proposal: str, reason: Annotated[str, typer.Option("--reason")],
           as_: As = "") -> None:
    """Reject a proposal with a reason."""
    who = actor(as_)
    p = guarded(lambda: rt().lifecycle.reject(proposal, who, reason))
    console.print(f"{p.id}: {state_text(p.state)}")


@app.command()
def cancel(proposal: str, as_: As = "", reason: str = "") -> None:
    """Withdraw your own proposal before it is applied."""
    p = guarded(lambda: rt().lifecycle.cancel(proposal, actor(as_), reason))
    console.print(f"{p.id}: {state_text(p.state)}")


def _say_waits(lc: Lifecycle) -> None:
    """A device behind NAT: its read or task waits for its next inform — said now, not after the wait
    (``propose``'s live preview, ``apply``'s backup, write and read-back)."""
    lc.add_wait_listener(lambda _pid, wait: console.print(
        f"  [yellow]{inert(wait.device_id)}: {inert(wait.detail)}[/yellow]",
                                                          highlight=False, soft_wrap=True))


@app.command()
def apply(proposal: str, as_: As = "") -> None:
    """Back up, apply, verify — or roll back — an approved proposal."""
    from core.kernel.models import ProposalState

    lc = rt().lifecycle
    who = actor(as_)
    _say_waits(lc)
    outcome = guarded(lambda: lc.apply(proposal, who))
    render_proposal(proposal)
    if outcome.scheduled_for is not None:
        console.print(f"scheduled: nothing written yet; the worker starts it at {outcome.scheduled_for.isoformat()} "
                      "and checks every gate again then", highlight=False)
        return
    for device, commands in outcome.unconfirmed.items():  # accepted, never seen to finish: not verified
        console.print(f"  [red]{inert(device)}: {inert(', '.join(commands))} UNCONFIRMED (not verified; check the "
                          "device)[/red]")
    if outcome.proposal.state is not ProposalState.DONE:
        fail(f"proposal {proposal} {outcome.proposal.state}: {outcome.proposal.error}", code=1)
    console.print(f"[green]applied and verified on {len(outcome.applied)} device(s)[/green]")


@app.command()
def rollback(proposal: str, reason: Annotated[str, typer.Option("--reason")],
             as_: As = "",
             force: Annotated[bool, typer.Option("--force", help="restore even over later changes (audited)")]
             = False) -> None:
    """Revert a finished change from its backup (refused if the device changed since, unless --force)."""
    outcome = guarded(lambda: rt().lifecycle.rollback(proposal, actor(as_), reason, force=force))
    console.print(f"{proposal}: {state_text(outcome.proposal.state)}")
    _print_restored(proposal, outcome.restored)
    for device, paths in outcome.not_restored.items():
        if paths:
            console.print(f"  [yellow]{inert(device)}: not restored: {inert(', '.join(paths))}[/yellow]")
    if outcome.alarms:
        fail("; ".join(outcome.alarms), code=1)


def _print_restored(proposal: str, restored: dict[str, list[str]]) -> None:
    """What a rollback put back, per device: each parameter and the value it holds again, from the
    backup (secrets masked), so nobody has to read the audit trail to learn it."""
    if not any(restored.values()):
        console.print("  nothing was restored (no device had a value to put back)")
        return
    from sqlalchemy import select

    from core.kernel.secrets import mask_params
    from core.store.schema import BackupRow

    with rt().store.read() as s:
        backups = {dev: mask_params(params or {}) for dev, params in s.execute(
            select(BackupRow.device_id, BackupRow.params).where(BackupRow.proposal_id == proposal)).all()}
    for device, paths in restored.items():
        for path in paths:
            saved = backups.get(device, {}).get(path)
            value = saved.get("value") if isinstance(saved, dict) else saved
            console.print(f"  restored {inert(device)}: {inert(path)} = {inert(repr(value))}", highlight=False,
                          soft_wrap=True)


@app.command()
def recover() -> None:
    """Finish or roll back changes a crashed process left half-done."""
    results = guarded(lambda: rt().lifecycle.recover())
    for pid, what in results:
        console.print(f"{pid}: {what}")
    live = guarded(lambda: rt().lifecycle.held_live())  # never "nothing to recover" while a change is under way
    for pid, what in live:
        console.print(f"{pid}: {what}")
    if not results and not live:
        console.print("nothing to recover")


# `gateward devices [add|import|retire]`: gateward/cli_devices.py; `gateward device ID`: gateward/cli_device.py.


@app.command()
def diagnose(device_id: str, host: str = "8.8.8.8", repetitions: int = 3,
             as_: As = "") -> None:
    """Run an IPPing diagnostic (read-only; audited)."""
    import json

    out = guarded(lambda: rt().lifecycle.diagnose(device_id, "ipping", {"host": host, "repetitions": repetitions},
                                                  actor(as_)))
    console.print_json(json.dumps(out))


@app.command()
def seed(homes: Annotated[int, typer.Option(min=0)] = 200, seed_: Annotated[int, typer.Option("--seed")] = 7,
         reset: Annotated[bool, typer.Option(help="wipe the fleet first")] = False,
         telemetry_homes: Annotated[int, typer.Option(
             min=0, help="homes (the first ones) that get 24 h of telemetry samples")] = 500,
         snapshot_homes: Annotated[int, typer.Option(
             min=0, help="homes (the first ones) that get a stored parameter snapshot")] = 1000,
         quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress lines")] = False) -> None:
    """Create (or re-create) the simulated fleet and the demo users, in committed batches of about
    500 homes (100,000 homes: about two minutes, under 1 GB); a stopped seed keeps what it committed
    and a second one adds the rest."""
    from gateward.fleet_load import Loaded
    from gateward.seed import seed_fleet

    step = max(1, homes // 10)
    shown = [0]

    def progress(done: Loaded) -> None:
        if not quiet and done.devices - shown[0] >= step:
            shown[0] = done.devices
            console.print(f"  {done.devices:,} devices added ({done.seconds:.0f} s)", highlight=False)

    n = seed_fleet(rt(), homes=homes, seed=seed_, reset=reset, telemetry_homes=telemetry_homes,
                   snapshot_homes=snapshot_homes, progress=progress)
    console.print(f"fleet: {n} devices")


DEMO_HOMES = 200  # `gateward run --demo`: simulated homes an empty database is seeded with


@app.command()
def run(host: str = "127.0.0.1", port: int = 8000,
        demo: Annotated[bool, typer.Option(
            "--demo", help="a demo, not production: seed an empty database with a simulated fleet, create the "
                           "demo people, print their tokens, show a demo banner in the console")] = False,
        homes: Annotated[int | None, typer.Option(
            min=0, help=f"with --demo: simulated homes to seed an empty database with (default {DEMO_HOMES})")
        ] = None,
        worker: Annotated[bool, typer.Option(help="run a campaign+remediation worker here")] = True,
        usp_events: Annotated[bool | None, typer.Option(
            "--usp-events/--no-usp-events",
            help="record USP notifications (default: when GATEWARD_MQTT_URL is set or a device uses usp)")] = None,
        detect_interval: Annotated[float | None, typer.Option(
            min=0, help="seconds between remediation detector runs (0: off; default GATEWARD_DETECT_INTERVAL_S, 300)")
        ] = None,
        workers: Annotated[int, typer.Option(
            min=1, max=16, help="API processes on the one port (each builds its own runtime; docs/scale-out.md)")] = 1,
        http: Annotated[str, typer.Option(
            help="HTTP parser: auto (httptools when installed), httptools, h11")] = "auto",
        loop: Annotated[str, typer.Option(help="event loop: auto (uvloop when installed), uvloop, asyncio")] = "auto",
        ) -> None:
    """Serve the API and console. Production by default: it never seeds, creates no person and
    prints no token (`gateward users add|token`); --demo serves a simulated fleet to try it out."""
    if homes is not None and not demo:
        fail("--homes is the size of the simulated demo fleet: add --demo (without it `gateward run` never seeds)")
    http_impl, loop_impl, opts, limit_s = _serving_settings(http, loop, demo)
    from gateward.serving import can_share_port

    # Before anything says "serving": a taken port is a clear error, not a lie. Several API
    # processes each get a socket of their own on it where the platform allows (gateward.serving).
    per_worker = workers > 1 and can_share_port()
    sock = _bind(host, port, shared=per_worker)
    slots = _worker_slots(sock, workers) if per_worker else [sock]
    runtime = rt()
    _start_fleet(runtime, demo, homes)
    from api.app import import_request_modules

    # Before any thread of this process works or serves: no package is imported half-way by two.
    import_request_modules()
    background = _Background.start(runtime, worker, usp_events, detect_interval)
    console.print(f"http: {http_impl} · loop: {loop_impl} · API processes: {workers}")
    console.print(f"[bold green]Gateward is serving on http://{host}:{port}/[/bold green]  (API docs: /docs)")
    try:
        _serve(runtime, demo, opts, limit_s, background, sock, slots, workers)
    finally:
        background.stop()


def _serving_settings(http: str, loop: str, demo: bool) -> tuple[str, str, dict[str, Any], float]:
    """Every setting the server reads, checked before anything is bound or seeded — each bad one a
    line naming it, not a traceback: the HTTP parser and event loop, the token cache, sign-in, the
    request timeouts, the drain deadline, the log format and level, the fleet read-outs. Logging is
    configured here (JSON lines unless --demo or GATEWARD_LOG_FORMAT says otherwise)."""
    from gateward.runtime import server_impls

    try:
        http_impl, loop_impl = server_impls(http, loop)
    except ValueError as exc:
        fail(str(exc))
    from core.users import TOKEN_CACHE

    guarded(lambda: TOKEN_CACHE.ttl_s)  # a bad GATEWARD_TOKEN_CACHE_S
    from api.auth.settings import AuthSettings

    guarded(AuthSettings.from_env)  # a bad GATEWARD_OIDC_* / session setting
    from gateward.logs import configure, log_config
    from gateward.serving import uvicorn_options
    from gateward.shutdown import shutdown_s

    try:  # header deadline, no Server header; a bad GATEWARD_API_*_TIMEOUT_S
        opts = uvicorn_options(http_impl, loop_impl)
        limit_s = shutdown_s()  # SIGTERM or Ctrl-C drains for at most this long (gateward.shutdown)
        opts.update(log_config=log_config("text" if demo else "json"), access_log=False)
        configure("text" if demo else "json")  # this process, before uvicorn's Config does it again
        from api.fleet_metrics import online_window_s
        from api.fleet_overview import presence_ttl_s

        online_window_s()  # a bad GATEWARD_METRICS_ONLINE_S
        presence_ttl_s()  # and GATEWARD_FLEET_PRESENCE_S
    except ValueError as exc:
        fail(str(exc))
    return http_impl, loop_impl, opts, limit_s


def _start_fleet(runtime: Runtime, demo: bool, homes: int | None) -> None:
    """The demo's fleet and people (seeded into an empty database, their tokens printed), or a
    production start's first steps; then whatever a crash left half-done is recovered."""
    if demo:
        from gateward.seed import start_demo

        started = start_demo(runtime, homes=DEMO_HOMES if homes is None else homes)
        n = started.devices
    else:
        from gateward.seed import ensure_automation, fleet_size

        n = fleet_size(runtime.store)
        for uid in ensure_automation(runtime.store):
            console.print(f"added the automation identity {uid} (kind job, role automation; no token)")
    for pid, what in runtime.lifecycle.recover():
        console.print(f"recovered {pid}: {what}")
    console.print(f"fleet: {n} devices · database: {_db_label(runtime.store.url)}")
    if demo:
        _print_demo_tokens(runtime.store, started.people)
    else:
        _print_first_steps(runtime.store, n)


class _Background:
    """What a serving process runs beside the API: the in-process worker (campaigns, remediation),
    USP events and onboarding, the ACS inventory sync, the remediation detectors — each said as it
    starts, all stopped together."""

    def __init__(self, parts: list[Any], embedded: Any) -> None:
        self.parts, self.embedded = parts, embedded

    @classmethod
    def start(cls, runtime: Runtime, worker: bool, usp_events: bool | None,
              detect_interval: float | None) -> _Background:
        from gateward.runtime import start_detectors, start_event_sources, start_inventory_sync

        embedded = None
        if worker:
            # SQLite has no shared queue: campaigns and remediation units run on this in-process
            # worker. With PostgreSQL it is one worker among any `gateward worker` processes.
            from gateward.worker import EmbeddedWorker

            embedded = EmbeddedWorker(runtime).start()
        # Boot!/OnBoardRequest/ValueChange → device events and zero-touch provisioning (never waits for a broker)
        events, said = start_event_sources(runtime, usp=usp_events, on_connect=console.print)
        console.print(said)
        inventory, said = start_inventory_sync(runtime)  # devices GenieACS knows → the fleet (off without its URL)
        console.print(said)
        detectors, said = start_detectors(runtime, detect_interval)  # detectors → remediation cases, on a schedule
        console.print(said)
        return cls([p for p in (events, inventory, detectors) if p is not None], embedded)

    def stop(self) -> None:
        for part in self.parts:
            part.stop()
        if self.embedded is not None:
            self.embedded.stop()


def _serve(runtime: Runtime, demo: bool, opts: dict[str, Any], limit_s: float, background: _Background,
           sock: socket.socket, slots: list[socket.socket], workers: int) -> None:
    """Serve until told to stop. SIGTERM and Ctrl-C drain (gateward.shutdown): no new write, the ones
    in flight finish, exit within ``limit_s``; a second Ctrl-C stops at once. uvicorn re-raises a
    signal it shut down on itself (without --workers' SO_REUSEPORT): Ctrl-C after a clean shutdown
    is a normal exit."""
    import contextlib

    import uvicorn

    from gateward.heap import freeze_start_up_heap
    from gateward.shutdown import LEFT_TO_RECOVERY, Drain

    embedded = background.embedded
    drain = Drain(limit_s, stops=[embedded.request_stop] if embedded else [], waits=[embedded.stop] if embedded else [])
    with contextlib.suppress(KeyboardInterrupt):
        if workers == 1:
            from api.app import create_app
            from gateward.serving import DrainingServer

            app = create_app(runtime, demo=demo)
            freeze_start_up_heap()  # what was built so far lives as long as the process (gateward.heap)
            DrainingServer(uvicorn.Config(app, **opts), drain).run(sockets=[sock])
            return
        # N processes on the one port; this one supervises them and runs the background parts
        factory = "gateward.serving:demo_api_worker_app" if demo else "gateward.runtime:api_worker_app"
        config = uvicorn.Config(factory, factory=True, workers=workers, **opts)
        freeze_start_up_heap()  # the supervisor's runtime and background parts (gateward.heap)
        if len(slots) > 1:
            from gateward.serving import SocketPerWorker

            supervisor = SocketPerWorker(config, slots, drain)  # each API process drains itself too
            supervisor.run()
            if supervisor.left_work:  # one stopped at its deadline with a write in flight (it said which)
                raise typer.Exit(LEFT_TO_RECOVERY)
        else:  # no SO_REUSEPORT: every worker accepts on the one socket
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[sock]).run()


def _worker_slots(first: socket.socket, n: int) -> list[socket.socket]:
    """``first`` and a listening socket on its port for each further API process (one line, not
    a traceback, if one cannot be had)."""
    from gateward.serving import worker_sockets

    try:
        return worker_sockets(first, n)
    except OSError as exc:
        host, port = first.getsockname()[:2]
        first.close()
        fail(f"cannot listen on {host}:{port} from {n} processes: {exc.strerror or exc}")


def _bind(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """Bind the listening socket first, so "serving on" is printed only once it is true.

    ``shared``: with ``SO_REUSEPORT``, so that more sockets of this process may listen on the
    port (``gateward.serving``). A port that anything else holds is still refused: it is first
    bound without that option, which fails if any socket is there — also a stranger's that
    itself allowed sharing."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        if shared:
            from gateward.serving import sharing_socket

            port = sock.getsockname()[1]  # what port 0 became
            sock.close()
            sock = sharing_socket(family, host, port)
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc} (another server there? try --port)")
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _db_label(url: str) -> str:
    """The database URL without its password (``user:***@host``), as SQLAlchemy renders it
    (core/store/dburl.py, without importing SQLAlchemy)."""
    from core.store.dburl import label

    shown = label(url)
    # not a URL SQLAlchemy parses: show only what follows the credentials
    return shown if shown is not None else url.split("@")[-1]


def _print_demo_tokens(store: Store, people: DemoPeople) -> None:
    """``--demo`` only: a fresh token for every active demo person the demo owns, with their roles,
    so a newcomer can sign in to the console as each of them. Nobody else's: a person an admin
    added, or a real directory the demo was pointed at, is never handed a token in the log."""
    from core.users import issue_token, list_users

    console.print("[bold yellow]DEMO[/bold yellow]: a simulated fleet and demo people, whose tokens every start "
                  "prints below — not for production (`gateward run` without --demo)", soft_wrap=True)
    if people.created:
        console.print(f"created the demo people: {', '.join(people.created)}", highlight=False)
    if people.others:
        console.print(f"{people.others} user(s) here are not the demo's: --demo created no demo people and prints "
                      "no token of theirs (`gateward users token NAME` issues one)", highlight=False, soft_wrap=True)
    owned = set(people.owned)
    active = [a for a, on in list_users(store) if on and a.id in owned]
    if not active:
        console.print("no demo person to sign in as", highlight=False)
        return
    console.print("sign in to the console with one of these tokens (paste it on the sign-in page):")
    for a in active:
        console.print(f"  {a.id:<8} {', '.join(a.roles):<28} {issue_token(store, a.id)}", highlight=False,
                      soft_wrap=True)  # a log's narrow console must not split a token


def _print_first_steps(store: Store, devices: int) -> None:
    """A production start: what to do next on an empty database. Never a token."""
    from core.kernel.models import ActorKind
    from core.users import list_users

    people = [a for a, on in list_users(store) if on and a.kind is ActorKind.HUMAN]
    if people:
        console.print(f"people: {len(people)} active · tokens: `gateward users token NAME` (never printed here)",
                      highlight=False)
    else:
        console.print("no users yet: create the first admin with `gateward users add NAME --role admin`, then "
                      "`gateward users token NAME` (shown once)", highlight=False, soft_wrap=True)
    if not devices:
        console.print("no devices yet: `gateward devices add|import`, `gateward devices sync --source genieacs`, or "
                      "USP onboarding (`gateward run --demo` serves a simulated fleet instead)",
                      highlight=False, soft_wrap=True)


@app.command()
def status() -> None:
    """Which database and home this command uses, and what is in it: run it from anywhere to
    check that the CLI sees the fleet you expect. Each secret setting is listed as set (from its
    _FILE form or the environment) or not set — never its value. Every malformed setting is named
    after what could be read, one line each, and the exit code is then 2."""
    import os

    from core.kernel.secret_env import SecretFileError, secret_report
    from core.path_settings import path_problem
    from gateward import read_runtime
    from gateward.setting_checks import setting_problems

    problems = [*START_PROBLEMS, *setting_problems()]
    UNKNOWN = "unknown (see below)"

    def noted(exc: Exception) -> None:
        # a secret's two forms, met again when the fleet is read (a fresh process's first settings): named once
        why = exc.message if isinstance(exc, GatewardError) else str(exc) if isinstance(
            exc, SecretFileError) else database_problem(exc)
        if why is None:
            raise exc  # not a condition to name: a bug
        if why not in problems:
            problems.append(why)

    home = read_runtime.home()
    url = fleet = UNKNOWN
    policy = read_runtime.policy_engine_name()
    # a home or SQLite path that is wrong is named once (below), and the database not opened
    if not path_problem({k: v for k, v in os.environ.items() if k in ("GATEWARD_HOME", "GATEWARD_DATABASE_URL")}):
        try:
            url, policy, fleet = _status_fleet()
        except Exception as exc:
            noted(exc)
            try:
                url = _db_label(read_runtime.database_url())
            except Exception as again:
                noted(again)
    console.print(f"database: {url}", highlight=False, soft_wrap=True)
    console.print(f"home:     {home}  (GATEWARD_HOME)", highlight=False, soft_wrap=True)
    console.print(f"policy:   {policy}", highlight=False)
    console.print(f"fleet:    {fleet}", highlight=False)
    console.print("secrets:  (where each comes from, never its value)", highlight=False)
    for name, where in secret_report():
        console.print(f"  {name:<32} {where}", highlight=False, soft_wrap=True)
    key_file = Path(os.environ.get("GATEWARD_AUDIT_KEY_FILE") or Path(home) / "audit.key")
    audit_key = ("set (env)" if os.environ.get("GATEWARD_AUDIT_KEY") else
                 "set (file)" if key_file.is_file() else "not set (a key file is made on the first audited change)")
    console.print(f"  {'GATEWARD_AUDIT_KEY':<32} {audit_key}", highlight=False, soft_wrap=True)
    console.print(f"mqtt:     {read_runtime.mqtt_summary()}", highlight=False, soft_wrap=True)
    console.print(f"settings: {len(problems)} problem(s) (below)" if problems else
                  "settings: every one that is set is well-formed", highlight=False)
    for line in problems:
        err.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(2)


def _status_fleet() -> tuple[str, str, str]:
    """``gateward status``'s database (shown without its password), policy engine and fleet line."""
    from core.store.dburl import normalise_url
    from gateward import read_runtime

    reader = lean()
    if reader is not None:  # the DB-API path: the settings read as core.kernel.config reads them (read_runtime)
        devices, pending, head = reader.fleet_counts()
        url, policy = normalise_url(read_runtime.database_url()), read_runtime.policy_engine_name()
    else:
        from sqlalchemy import func, select

        from core.store.schema import AuditEventRow, DeviceRow, ProposalRow

        runtime = rt()
        with runtime.store.read() as s:
            devices = int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0)
            pending = int(s.scalar(select(func.count()).select_from(ProposalRow).where(
                ProposalRow.state == "awaiting_approval")) or 0)
            head = int(s.scalar(select(func.max(AuditEventRow.seq))) or 0)
        url, policy = runtime.store.url, runtime.policy.name
    return _db_label(url), policy, f"{devices} devices · {pending} proposals awaiting approval · audit head #{head}"


@app.command()
def demo() -> None:
    """A scripted end-to-end walk on a fresh simulated fleet (no network, no LLM)."""
    from gateward.demo import run_demo

    code = run_demo(console)
    raise typer.Exit(code)


# ---------------------------------------------------------------------------- users
@users_app.command("add")
def users_add(user_id: str, role: Annotated[list[str], typer.Option("--role")],
              job: Annotated[bool, typer.Option(help="an automation identity, not a person")] = False) -> None:
    from core.kernel.models import ActorKind
    from core.users import add_user

    a = guarded(lambda: add_user(rt().store, user_id, role, ActorKind.JOB if job else ActorKind.HUMAN))
    console.print(f"added {a.id} ({', '.join(a.roles)})")


@users_app.command("list")
def users_list() -> None:
    from core.users import list_users

    t = Table(title="users")
    for col in ("id", "roles", "kind", "active"):
        t.add_column(col)
    for a, active in list_users(rt().store):
        t.add_row(a.id, ", ".join(a.roles), str(a.kind), "yes" if active else "no")
    console.print(t)


@users_app.command("revoke")
def users_revoke(user_id: str) -> None:
    from core.users import revoke_user

    n = guarded(lambda: revoke_user(rt().store, user_id))
    console.print(f"{user_id} deactivated; {n} token(s) revoked")


@users_app.command("token")
def users_token(user_id: str,
                ttl_days: Annotated[int | None, typer.Option("--ttl-days", help="lifetime in days "
                                                             "(default GATEWARD_TOKEN_TTL_DAYS, 30)")] = None) -> None:
    """Issue an API token (shown once; stored hashed; expires after --ttl-days)."""
    from core.users import issue_token

    console.print(guarded(lambda: issue_token(rt().store, user_id, ttl_days)))


@users_app.command("rotate")
def users_rotate(user_id: str,
                 ttl_days: Annotated[int | None, typer.Option("--ttl-days", help="the new token's lifetime")] = None,
                 grace_hours: Annotated[float, typer.Option("--grace-hours", help="keep the old tokens working this "
                                                            "long (0: revoke them now)")] = 0) -> None:
    """Issue a new API token and retire the user's other tokens (now, or after --grace-hours)."""
    from core.users import rotate_token

    token, retired = guarded(lambda: rotate_token(rt().store, user_id, ttl_days, grace_hours))
    when = "revoked" if grace_hours == 0 else f"expire in {grace_hours:g} h"
    typer.echo(f"{retired} old token(s) {when}", err=True)
    console.print(token)


@users_app.command("passwd")
def users_passwd(user_id: str,
                 clear: Annotated[bool, typer.Option("--clear", help="remove the password instead")] = False) -> None:
    """Set a person's local-account password (GATEWARD_LOCAL_ACCOUNTS=1; docs/auth.md): asked twice
    on a terminal, else one line of stdin; never an argument. Ends their open sessions."""
    from api.auth.passwords import clear_password, set_password
    from api.auth.sessions import revoke_sessions

    store = rt().store
    if clear:
        had = guarded(lambda: clear_password(store, user_id))
        console.print(f"{user_id}: password removed" if had else f"{user_id} had no password")
        return
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"new password for {user_id}: ")
        if getpass.getpass("again: ") != password:
            fail("the two passwords differ; nothing changed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    guarded(lambda: set_password(store, user_id, password))
    ended = revoke_sessions(store, by="cli:passwd", user_id=user_id)
    console.print(f"password set for {user_id}; {ended} open session(s) ended")


@users_app.command("sessions")
def users_sessions(user_id: Annotated[str | None, typer.Argument(help="only this person's")] = None,
                   ended: Annotated[bool, typer.Option("--ended", help="include ended sessions")] = False) -> None:
    """Signed-in sessions (console cookies), newest first: open ones unless --ended."""
    from api.auth.sessions import list_sessions

    t = Table(title="sessions")
    for col in ("id", "user", "method", "started", "last seen", "expires", "ended"):
        t.add_column(col)
    for si in list_sessions(rt().store, user_id, include_ended=ended):
        t.add_row(si.id, si.user_id, si.method, f"{si.created_at:%Y-%m-%d %H:%M}", f"{si.last_seen_at:%Y-%m-%d %H:%M}",
                  f"{si.expires_at:%Y-%m-%d %H:%M}",
                  f"{si.ended_at:%Y-%m-%d %H:%M} {si.end_reason}" if si.ended_at else "")
    console.print(t)


@users_app.command("end-sessions")
def users_end_sessions(actor: As, user_id: Annotated[str | None, typer.Argument(help="every open session of")] = None,
                       session: Annotated[str | None, typer.Option("--session", help="one session id")] = None) -> None:
    """End (revoke) signed-in sessions at once: one (--session ID) or all of a person's."""
    from api.auth.sessions import revoke_sessions

    if (user_id is None) == (session is None):
        fail("say whose sessions (NAME) or which one (--session ID)")
    n = revoke_sessions(rt().store, by=actor, session_id=session, user_id=user_id)
    console.print(f"{n} session(s) ended")


@users_app.command("purge-sessions")
def users_purge_sessions() -> None:
    """Delete every session that has been over (ended, or past its idle or absolute limit) for longer
    than GATEWARD_SESSION_RETENTION_DAYS (7). Each sign-in deletes a batch of them anyway."""
    from api.auth.service import AuthState
    from api.auth.sessions import purge_sessions
    from api.auth.settings import AuthSettings

    settings = guarded(AuthSettings.from_env)
    store = rt().store
    n = purge_sessions(store, AuthState(settings=settings, store=store).limits, batch=None)
    console.print(f"{n} session(s) deleted (over for more than {settings.session_retention_days} day(s))")


# ---------------------------------------------------------------------------- audit
@audit_app.command("verify")
def audit_verify(anchor: Annotated[list[Path] | None, typer.Option(
        "--anchor", help="an exported anchor file (from `gateward audit anchor --out`) to check as well")] = None,
) -> None:
    """Verify the chain, the keyed head, the checkpoints and the anchor file(s); say what was checked
    and what cannot be detected; exit 1 naming the first finding."""
    missing = [str(p) for p in anchor or [] if not p.is_file()]
    if missing:
        fail(f"anchor file not found: {', '.join(missing)}; pass a file written by `gateward audit anchor --out`")
    reader = lean()
    if reader is not None:  # the DB-API read path: no SQLAlchemy, no schema
        from core import audit_lite

        url = _read_runtime().url or ""
        report = guarded(lambda: audit_lite.verify_chain(reader, url, anchors=anchor or []))
    else:
        from core.audit import verify_chain

        with reads().store.read() as s:  # a read: no policy pack, lifecycle or Alembic run
            report = guarded(lambda: verify_chain(s, anchors=anchor or []))
    out = console if report.ok else err
    out.print(report.message(), markup=False, soft_wrap=True)
    out.print("\n".join(report.details()), markup=False, highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor(out: Annotated[Path | None, typer.Option(
        "--out", help="also append the anchor line to this file (keep it off-host)")] = None) -> None:
    """Checkpoint the chain head now and print the keyed anchor line, to keep off-host."""
    from core.audit import checkpoint
    from core.audit_anchor import append_anchor

    with rt().store.write() as s:
        a = guarded(lambda: checkpoint(s))
    if out is not None:
        append_anchor(out, a)
    print(a.line().decode(), end="", flush=True)


@audit_app.command("list")
def audit_list(proposal: str | None = None, device_id: Annotated[str | None, typer.Option("--device")] = None,
               limit: int = 50) -> None:
    from sqlalchemy import select

    from core.store.schema import AuditEventRow

    with rt().store.read() as s:
        q = select(AuditEventRow)
        if proposal:
            q = q.where(AuditEventRow.proposal_id == proposal)
        if device_id:
            q = q.where(AuditEventRow.device_id == device_id)
        rows = list(s.scalars(q.order_by(AuditEventRow.seq.desc()).limit(limit)))
    t = Table(title="audit")
    for col in ("seq", "ts", "actor", "action", "proposal", "device", "hash"):
        t.add_column(col)
    for r in reversed(rows):
        t.add_row(str(r.seq), f"{r.ts:%H:%M:%S}", plain(r.actor), plain(r.action), plain(r.proposal_id or ""),
                  plain(r.device_id or ""),
                  r.hash[:10])
    console.print(t)


# ---------------------------------------------------------------------------- faults (simulator)
@fault_app.command("inject")
def fault_inject(device_id: str, kind: str, path: str | None = None, code: int | None = None,
                 seconds: float | None = None, n: int | None = None) -> None:
    """Inject a simulator fault: offline, unreachable, fault_on_set, reject_value, reboot_required,
    slow, not_sticky, fail_after_n_sets."""
    from gateward.seed import twin_for

    params: JsonObject = {k: v for k, v in {"path": path, "code": code, "seconds": seconds, "n": n}.items()
                              if v is not None}
    from executors.errors import UnknownDevice

    try:
        twin_for(rt()).inject(device_id, kind, **params)
    except UnknownDevice as exc:
        fail(f"{exc}: only a device the simulated fleet holds takes a fault")
    except (ValueError, KeyError) as exc:
        fail(str(exc))
    console.print(f"{device_id}: {kind} injected")


@fault_app.command("clear")
def fault_clear(device_id: str, kind: str | None = None) -> None:
    from executors.errors import UnknownDevice
    from gateward.seed import twin_for

    try:
        twin_for(rt()).clear(device_id, kind)
    except UnknownDevice as exc:
        fail(f"{exc}; it has no faults to clear")
    console.print(f"{device_id}: faults cleared")


# ---------------------------------------------------------------------------- policy
@policy_app.command("test")
def policy_test() -> None:
    """Run every *_test.rego; print `N passed, M failed`."""
    from policies.testing import main as rego_main

    raise typer.Exit(rego_main())


@policy_app.command("why")
def policy_why(proposal: str) -> None:
    """Explain a proposal's policy decision in plain words."""
    from core.store import repo
    from policies.explain import explain

    with rt().store.read() as s:
        rec = repo.latest_decision(s, proposal, include_dry_run=True)
        p = guarded(lambda: repo.proposal_from_row(repo.get_proposal_row(s, proposal)))
    if rec is None:
        fail(f"proposal {proposal} has no policy decision yet")
    assert rec is not None
    console.print(explain(p, rec), soft_wrap=True)


@policy_app.command("bundle")
def policy_bundle(out: str) -> None:
    """Write an OPA bundle (.tar.gz) of the rules and data."""
    from policies.bundle import write_bundle

    revision = write_bundle(out)
    console.print(f"wrote {out} (revision {revision})")


# ---------------------------------------------------------------------------- plugins
app.plugins_ready()  # the PLUGINS register their commands after these, on the first look at the list


def main() -> None:
    from core.kernel.secret_env import SecretFileError, resolve_secret_files
    from core.path_settings import check_path_settings
    from gateward.cli_fast import run
    from gateward.pool_noise import quiet_lost_connections

    quiet_lost_connections()  # a database outage is one line, not SQLAlchemy's pool tracebacks before it
    # Registered first, so it runs last of the exit hooks: the interpreter's final collection then
    # skips the objects still alive (the whole runtime of `gateward run`), which it would only walk
    # to free memory the OS takes back anyway — a stop took ~1 s of that, now ~0.25 s.
    atexit.register(gc.freeze)
    # `gateward status` names every malformed setting itself, after printing what it could read
    checking = sys.argv[1:2] == ["status"]
    START_PROBLEMS.clear()
    try:  # GATEWARD_X_FILE → GATEWARD_X before any command reads a setting
        resolve_secret_files()
        if not checking:
            check_path_settings()  # a setting naming a wrong path (home, database file, CA, key): one sentence
    except SecretFileError as exc:
        if not checking:
            sys.stderr.write(f"error: {exc}\n")
            sys.exit(2)
        START_PROBLEMS.append(str(exc))
    except GatewardError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        sys.exit(2)
    try:
        run(app)  # app(), building only the commands this invocation uses
    except KeyboardInterrupt:
        sys.exit(130)
    except GatewardError as exc:  # a setting or the stored data refused before the command began: one line
        sys.stderr.write(f"error: {exc.message}\n")
        sys.exit(2)
    except Exception as exc:  # a database that cannot be opened or went away, whichever command met it: one line
        why = database_problem(exc)
        if why is None:
            raise
        sys.stderr.write(f"error: {why}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
