"""``gateward genieacs …`` — look at a GenieACS NBI.

Why these commands: an operator wiring Gateward to GenieACS needs to see, without writing
anything, that the NBI answers, that a device is where Gateward thinks it is (its GenieACS id,
last inform, reachability), what tasks and faults are queued for it, and what it reports. To try
the same on a laptop, run the local NBI test double over the simulated fleet
(``python -m testing.genieacs.fake_nbi``; test doubles are not part of the product). Nothing
here writes to a device: writes go through ``gateward apply`` and the lifecycle.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.table import Table

from core.kernel.jsontypes import JsonObject
from gateward.cli_text import SafeConsole

if TYPE_CHECKING:
    from core.kernel.models import Device
    from executors.genieacs.executor import GenieAcsExecutor

T = TypeVar("T")

console = SafeConsole()  # the ACS's and devices' text stays inert (gateward/cli_text.py)
err = SafeConsole(stderr=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _url(url: str | None) -> str:
    if url:
        return url
    from core.kernel.config import get_settings
    from executors.genieacs.settings import GenieAcsSettings

    found = get_settings().genieacs_url or GenieAcsSettings().url
    if not found:
        _fail("no GenieACS NBI configured: set GATEWARD_GENIEACS_URL or pass --url http://host:7557")
    assert found is not None
    return found


def _executor(url: str | None) -> GenieAcsExecutor:
    from core.kernel.config import get_settings
    from executors.genieacs import factory

    settings = get_settings().model_copy(update={"genieacs_url": _url(url)})
    return factory(settings)


def _device(device_id: str) -> Device:
    from core.kernel.errors import GatewardError
    from core.store import repo
    from gateward.cli import rt

    try:
        with rt().store.read() as s:
            return repo.get_device(s, device_id)
    except GatewardError as exc:
        _fail(f"{exc.message} (`gateward devices` lists them)")


def _guard(fn: Callable[[], T]) -> T:
    from executors.base import ExecutorError
    from executors.genieacs.nbi import NbiError

    try:
        return fn()
    except ExecutorError as exc:
        _fail(exc.message if isinstance(exc.message, str) else str(exc))
    except NbiError as exc:
        _fail(exc.message)


def register(app: typer.Typer) -> None:
    g = typer.Typer(no_args_is_help=True, help="Inspect a GenieACS NBI (TR-069).")
    app.add_typer(g, name="genieacs")

    @g.command("check")
    def check(url: Annotated[str | None, typer.Option(help="NBI base URL")] = None) -> None:
        """Does the NBI answer, and how many devices does it know?"""
        ex = _executor(url)
        start = time.perf_counter()
        items = _guard(lambda: ex.client.query("devices", None, projection=["_id"]))
        ms = (time.perf_counter() - start) * 1000
        console.print(f"GenieACS NBI at {ex.client.base_url} answers ({ms:.0f} ms): {len(items)} device(s)")
        ex.close()

    @g.command("device")
    def device(
        device_id: str,
        path: Annotated[
            list[str] | None, typer.Option("--path", help="TR-181 path(s); partial paths end in '.'")
        ] = None,
        url: Annotated[str | None, typer.Option(help="NBI base URL")] = None,
    ) -> None:
        """A device through GenieACS: its id there, presence, and (refreshed) parameter values."""
        native = [p for p in path or [] if p.startswith("InternetGatewayDevice.")]
        if native:  # valid on a TR-098 CPE, but Gateward addresses every device through TR-181
            _fail(f"{', '.join(native)}: --path takes TR-181 names (a TR-098 device is read through its "
                  "TR-181 view; the 'device path' column shows the native name), e.g. Device.DeviceInfo.")
        d = _device(device_id)
        ex = _executor(url)
        gid = _guard(lambda: ex.genieacs_id(d))
        pres = _guard(lambda: ex.presence(d))
        console.print(f"{d.id} is GenieACS device [bold]{gid}[/bold]: {pres.detail}")
        values = _guard(lambda: ex.reader().read(d, path or ["Device.DeviceInfo."]))
        from core.kernel.secrets import MASK, is_secret_path

        table = Table()
        for col in ("path", "value", "type", "device path"):
            table.add_column(col)
        for p, v in sorted(values.items()):
            shown = MASK if is_secret_path(p) else str(v.value)
            table.add_row(p, shown, v.type, "" if v.device_path == p else v.device_path)
        console.print(table)
        ex.close()

    @g.command("tasks")
    def tasks(
        device_id: Annotated[str | None, typer.Argument()] = None,
        url: Annotated[str | None, typer.Option(help="NBI base URL")] = None,
        faults: Annotated[bool, typer.Option("--faults", help="list faults instead of tasks")] = False,
    ) -> None:
        """Tasks (or faults) queued in GenieACS, for one device or all."""
        ex = _executor(url)
        query: JsonObject = {}
        if device_id:
            gid = _guard(lambda: ex.genieacs_id(_device(device_id)))
            query = {"device": gid} if not faults else {"_id": {"$regex": f"^{_regex_escape(gid)}:"}}
        items = _guard(lambda: ex.client.faults(query) if faults else ex.client.tasks(query))
        if not items:
            console.print("no faults" if faults else "no queued tasks")
        for item in items:
            console.print(json.dumps(item, sort_keys=True), highlight=False, soft_wrap=True)
        ex.close()

    @g.command("refresh-preset")
    def refresh_preset(
        install: Annotated[bool, typer.Option("--install", help="PUT the presets to the NBI")] = False,
        remove: Annotated[bool, typer.Option("--remove", help="DELETE them from the NBI")] = False,
        path: Annotated[
            list[str] | None, typer.Option("--path", help="another subtree to refresh (native name, '*' any instance)")
        ] = None,
        url: Annotated[str | None, typer.Option(help="NBI base URL")] = None,
    ) -> None:
        """Presets that refresh the previewed parameters at every periodic inform: behind NAT a change
        then costs 2 informs (the Set's, the read-back's), not 3. Prints them; --install puts them."""
        from executors.genieacs import refresh_preset as rp

        if install and remove:
            _fail("--install or --remove, not both")
        try:
            trees, docs = rp.subtrees(path or []), rp.presets(path or [])
        except rp.PresetPathError as exc:
            _fail(str(exc))
        if not (install or remove):
            console.print(json.dumps(docs, indent=2), highlight=False, soft_wrap=True)
            return
        ex = _executor(url)
        for root, name in rp.NAMES.items():
            if remove:
                _guard(partial(ex.client.delete_preset, name))
                console.print(f"removed preset {name}")
            else:
                _guard(partial(ex.client.put_preset, name, docs[name]))
                console.print(f"installed preset {name}: every periodic inform refreshes {', '.join(trees[root])}")
        ex.close()

    @g.command("inform")
    def inform(
        device_id: str,
        event: Annotated[list[str] | None, typer.Option("--event", help="inform event code(s)")] = None,
        url: Annotated[str | None, typer.Option(help="fake NBI base URL")] = None,
    ) -> None:
        """Make a device inform now (fake NBI only): its queued tasks run."""
        import httpx

        from executors.genieacs.ids import url_segment

        ex = _executor(url)
        gid = _guard(lambda: ex.genieacs_id(_device(device_id)))
        params = httpx.QueryParams([("event", e) for e in (event or ["2 PERIODIC"])])
        try:
            r = httpx.post(f"{ex.client.base_url}/_gateward/inform/{url_segment(gid)}", params=params, timeout=60)
        except httpx.HTTPError as exc:
            _fail(f"the NBI did not answer: {exc}")
        if r.status_code == 404 and "No such device" not in r.text:
            _fail("this NBI is not Gateward's fake (no /_gateward/inform); a real CPE informs on its own schedule")
        if r.status_code != 200:
            _fail(f"inform refused ({r.status_code}): {r.text.strip()[:200]}")
        report = r.json()
        console.print(
            f"{device_id} informed ({', '.join(report['events'])}): {len(report['done'])} task(s) done, "
            f"{len(report['faulted'])} faulted, {len(report['expired'])} expired"
        )
        ex.close()


def _regex_escape(text: str) -> str:
    import re

    return re.escape(text)


__all__ = ["register"]
