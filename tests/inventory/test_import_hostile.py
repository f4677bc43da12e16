"""Issue 34 item 10: hostile rows in ``gateward devices import`` (and ``devices add``, the API) are
refused one by one, naming the row and why, and every good row of the same file is registered.

* an id outside the ``OUI-ProductClass-Serial`` grammar (a path, a percent-escape that is not
  GenieACS's own, ``..``) is refused wherever an id enters by hand;
* display strings (subscriber, vendor, model, …) refuse control and bidirectional characters, as
  TR-181 display strings already do (``core.kernel.values.control_problem``);
* a deeply nested JSON file does not crash the import (it used to raise ``RecursionError``): the
  row nested too deep is refused, the rest imported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from core.kernel.errors import NotFound
from core.store import repo
from tests.inventory.conftest import serial

TRAVERSAL = "A4C3F0-G240W-..%2F..%2Fetc"


@pytest.fixture
def cli(rt: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from gateward import cli as cli_module

    monkeypatch.setattr(cli_module, "_runtime", rt)
    monkeypatch.setattr(cli_module, "console", Console(width=300, color_system=None))
    monkeypatch.setattr(cli_module, "err", Console(width=300, color_system=None, stderr=True))
    return lambda *args: CliRunner().invoke(cli_module.app, [*args, "--as", "dave"])


def row(**over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f"A4C3F0-G240W-{serial('HX')}", "adapter": "genieacs", "root": "Device.",
                           "vendor": "Lumenet", "model": "ONT-G240W", "firmware": "3.2", "region": "DE"}
    out.update(over)
    return out


def registered(rt: Any, device_id: str) -> bool:
    with rt.store.read() as s:
        try:
            repo.get_device(s, device_id)
        except NotFound:
            return False
    return True


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_import_refuses_each_hostile_row_by_name_and_registers_the_rest(rt: Any, cli: Any, tmp_path: Path) -> None:
    good1, good2 = row(), row()
    rows = [good1,
            row(id=TRAVERSAL),
            row(subscriber="sub-\u202eevil"),
            row(vendor="Lume\u2066net"),
            None,  # the deeply nested row, spliced in below
            good2]
    text = json.dumps(rows).replace("null", f'{{"id": "A4C3F0-G240W-{serial("HX")}", "tags": {nested(100_000)}}}')
    path = tmp_path / "hostile.json"
    path.write_text(text, "utf-8")
    out = cli("devices", "import", str(path))
    assert out.exit_code == 1, out.output
    assert "Traceback" not in out.output and not isinstance(out.exception, RecursionError)
    said = out.output
    assert "row 2" in said and "OUI-ProductClass-Serial" in said
    assert "row 3" in said and "subscriber" in said and "bidirectional" in said
    assert "row 4" in said and "vendor" in said and "bidirectional" in said
    assert "row 5" in said and "nested" in said
    assert "2 registered" in said and "4 refused" in said
    assert registered(rt, good1["id"]) and registered(rt, good2["id"])
    assert not registered(rt, TRAVERSAL)


@pytest.mark.parametrize("device_id", [TRAVERSAL, "A4C3F0-G240W-../../etc", "A4C3F0-G240W-SN%2F..%2Fx",
                                       "A4C3F0-G240W-/etc/passwd", "A4C3F0-..-SN1", "A4C3F0-G240W-SN\u202e1"])
def test_devices_add_refuses_an_id_outside_the_grammar(rt: Any, cli: Any, device_id: str) -> None:
    out = cli("devices", "add", "--id", device_id, "--adapter", "genieacs", "--root", "Device.", "--vendor", "L",
              "--model", "M", "--firmware", "1")
    assert out.exit_code != 0 and "Traceback" not in out.output
    assert not registered(rt, device_id)


def test_add_refuses_a_bidi_override_in_the_subscriber(rt: Any, cli: Any) -> None:
    device_id = f"A4C3F0-G240W-{serial('HX')}"
    out = cli("devices", "add", "--id", device_id, "--adapter", "genieacs", "--root", "Device.", "--vendor", "L",
              "--model", "M", "--firmware", "1", "--subscriber", "sub\u202e1")
    assert out.exit_code != 0 and "bidirectional" in out.output
    assert not registered(rt, device_id)


def test_a_json_file_nested_too_deep_outside_any_row_is_one_clear_error(rt: Any, cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(nested(200_000), "utf-8")
    out = cli("devices", "import", str(path))
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "nested" in out.output
