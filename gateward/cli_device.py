"""``gateward device ID``: one device and a live read of it (issues 11 and 15).

It shows what the device has — DeviceInfo first — and names the objects it lacks instead of
failing (``core.device_overview``). Why a module of its own rather than a command of
:mod:`gateward.cli_devices`: a read command has ≤ 0.3 s, and an invocation imports
(and, where no bytecode is written, compiles) the whole module its command lives in — the fleet
list and every inventory change, about 8 ms this command never uses (``gateward/cli_fast.py``).

A simulated device is read from the twin's rows on the DB-API (``executors/sim/lite.py``), with
the simulator adapter's own read code; any other adapter through the router, as the full runtime
builds it (``gateward/read_runtime.py``). What it prints is held to the full runtime's output by
``tests/unit/test_cli_device_lite.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from gateward.cli_face import cli as _cli
from gateward.cli_text import inert, plain

if TYPE_CHECKING:
    from core.kernel.models import Device


def device(device_id: str,
           path: Annotated[list[str] | None, typer.Option(
               "--path", help="read live (default: DeviceInfo, Wi-Fi radios, DNS client, ManagementServer)")] = None,
           ) -> None:
    """Show one device and read it live: what it has, DeviceInfo first; objects it lacks are named."""
    from core.store.lite import DeviceView  # the DB-API path's own module: no SQLAlchemy, no pydantic

    cli = _cli()
    reader = cli.lean()  # the record through the DB-API (core/store/lite.py), printed before the live read
    view: DeviceView | Device  # the DB-API record (lean) or the model
    if reader is not None:
        view = cli.guarded(lambda: reader.device(device_id))
    else:
        from core.store import repo

        with cli.reads().store.read() as s:
            view = cli.guarded(lambda: repo.get_device(s, device_id))
    status = f" [yellow]retired {view.retired_at:%Y-%m-%d}[/]" if view.status == "retired" and view.retired_at else ""
    # every field is a person's, an import's or the device's text: escaped (gateward/cli_text.py)
    cli.console.print(f"[bold]{inert(view.id)}[/bold] {inert(view.vendor)} {inert(view.model)} fw "
                      f"{inert(view.firmware)} {view.root} {view.protocol} adapter {inert(view.adapter)} region "
                      f"{inert(view.region)} subscriber {inert(view.subscriber)}{status}", highlight=False)
    from core.device_overview import CLI_OBJECTS, read_overview
    from executors.errors import ExecutorError

    if isinstance(view, DeviceView):  # a simulated device is read from the twin's rows on the DB-API too
        from gateward.read_runtime import ReadRuntime

        reads = cli.reads()
        assert isinstance(reads, ReadRuntime)  # a DB-API record comes with the read runtime (cli.lean)
        mm = reads.usp_mismatch(view)
        if mm is not None:  # a mismatch another process saw (core.usp_topics)
            cli.console.print(f"[yellow]warning:[/] {inert(mm.message())}", highlight=False)
        d, live, mask = reads.live(view)
    else:  # the store and router of the runtime this process built
        from core.kernel.secrets import mask_value

        d, mask = view, mask_value
        if str(d.protocol) == "usp":  # what the store knows: a mismatch another process saw, its MTP
            from core.usp_topics import device_hints

            for hint in device_hints(cli.reads().store, d):
                cli.console.print(f"[yellow]warning:[/] {inert(hint)}", highlight=False)
        live = cli.reads().router.reader(d)
    try:
        pres = live.presence(d)
    except ExecutorError as exc:  # e.g. registered on the sim adapter but not in the simulated fleet
        cli.fail(f"cannot reach {d.id} through adapter {d.adapter}: {exc.message}")
    cli.console.print(f"presence: online={pres.online} reachable={pres.reachable} {inert(pres.detail)}")
    if not pres.online:  # a script must see that the device did not answer (exit 1; an online one
        # that does not answer fails its read below, exit 2)
        cli.fail(f"{d.id} did not answer (offline); nothing was read", code=1)
    ov = read_overview(live, d, path or CLI_OBJECTS)
    if ov.values:
        t = Table()
        # the device's own path only where it differs (a TR-098 device read in TR-181 names): on a
        # TR-181 device it repeated the first column on every row
        translated = any(v.device_path and v.device_path != v.path for v in ov.values)
        for col in ("parameter", "value", "type", *(("device path",) if translated else ())):
            t.add_column(col)
        for v in ov.values:  # as Overview.rows(), with the reader's masking (the same answers); the device's text
            t.add_row(plain(v.path), plain(mask(v.path, v.value)), plain(v.type),
                      *((plain(v.device_path),) if translated else ()))
        cli.console.print(t)
    if ov.absent:
        cli.console.print(plain(f"not on this device: {', '.join(ov.absent)}"), highlight=False)
        if path:
            for hint in _did_you_mean(live, d, ov.absent):
                cli.console.print(plain(hint), highlight=False)
    if ov.error is not None:
        cli.fail(ov.error)
    if path and not ov.values:
        cli.fail(f"{d.id} has none of {', '.join(path)}")


def _did_you_mean(live: Any, d: Any, absent: list[str]) -> list[str]:
    """For a path the device lacks, the closest name its parent object has ("did you mean
    Channel?" for ``Radio.1.Chanel``): one more read of the parent, only when a typed path missed."""
    import difflib

    from core.device_overview import read_overview

    out = []
    for p in absent:
        parent, _, leaf = p.rstrip(".").rpartition(".")
        if not parent or not leaf:
            continue
        names = sorted({v.path[len(parent) + 1:].split(".")[0] for v in read_overview(live, d, [parent + "."]).values
                        if v.path.startswith(parent + ".")})
        close = difflib.get_close_matches(leaf, names, n=3, cutoff=0.6)
        if close:
            out.append(f"{p}: did you mean {' or '.join(close)}? ({parent}.{close[0]})")
    return out


def register(app: typer.Typer) -> None:
    app.command("device")(device)
