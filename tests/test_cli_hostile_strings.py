"""Strings a device, a provider or a person chose reach the operator's terminal as inert text (issue 56, item 3).

The CLI printed host names and other reported strings as rich markup: ``[link=…]`` became an OSC-8
hyperlink, escape sequences (clear screen, window title, colour, an OSC-8 link written raw) reached the
terminal as they were, ``[/]`` crashed ``gateward device`` (rich's MarkupError), ``:skull:`` became an
emoji and ``[conceal]`` hid what followed. Every such string is now escaped before it is rendered:
markup shows as the text it is, and a control or bidirectional character as a visible ``\\x1b`` /
``\\u202e``. Driven by the corpus ``tests/corpora/hostile_strings.json`` (shared with the console's
test): a device's live host name (``gateward device --path``), the inventory's fields (``gateward
device``, ``gateward devices``) and a proposal's words (``gateward show``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import module_runtime

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
CORPUS = json.loads((ROOT / "tests" / "corpora" / "hostile_strings.json").read_text())["strings"]
HOST = "Device.Hosts.Host.1.HostName"
# What may not reach a terminal from a value: C0 controls but newline and tab, DEL, C1, bidi controls,
# line and paragraph separators.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
PRINTABLE_RUN = re.compile("[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]+")
MARKUP_ONLY = [c for c in CORPUS if not RAW_CONTROL.search(c["text"])]  # what the inventory accepts in a field


@pytest.fixture(scope="module", params=["sqlite"])
def rt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from module_runtime(request, tmp_path_factory, "cli-hostile", homes=4)


def _gw(rt: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWARD_DATABASE_URL": rt.store.url, "COLUMNS": "500", "TERM": "xterm-256color"}
    if rt.settings.sim_database_url:
        env["GATEWARD_SIM_DATABASE_URL"] = rt.settings.sim_database_url
    return subprocess.run([sys.executable, "-m", "gateward.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env, encoding="utf-8", errors="surrogateescape")


def _inert(out: str, text: str) -> list[str]:
    """What is wrong with how ``text`` came out in ``out``: a raw control character, or a visible part
    of it missing (swallowed as markup, replaced by an emoji, hidden)."""
    problems = [f"raw control U+{ord(m.group(0)):04X}" for m in RAW_CONTROL.finditer(out)]
    problems += [f"missing {part!r}" for part in PRINTABLE_RUN.findall(text) if part.strip() and part not in out]
    return problems


@pytest.fixture(scope="module")
def device(rt: Any) -> str:
    from core.kernel.models import Root
    from core.store import repo

    with rt.store.read() as s:
        devs, _ = repo.list_devices(s, limit=100)
    return next(d.id for d in devs if d.root is Root.DEVICE and d.adapter == "sim")


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_a_host_name_the_device_reports_is_printed_inert(rt: Any, device: str, case: dict[str, str]) -> None:
    from gateward.fleet_load import twin_for

    twin = twin_for(rt)
    twin.device_change(device, {HOST: case["text"]})
    twin.close()
    r = _gw(rt, "device", device, "--path", HOST)
    assert r.returncode == 0, (case["id"], r.stdout[-500:], r.stderr[-2000:])
    assert _inert(r.stdout, case["text"]) == [], (case["id"], r.stdout)


def test_inventory_fields_are_printed_inert(rt: Any) -> None:
    """Vendor, model, firmware and subscriber are a person's or an import's text: markup in them."""
    from core.inventory import DeviceSpec, Inventory
    from core.users import get_actor

    inv = Inventory(rt.store)
    made = []
    for i, case in enumerate(MARKUP_ONLY):
        text = case["text"][:64]
        spec = DeviceSpec.model_validate({"id": f"A4C3F0-G240W-HOSTILE{i:03d}", "product_class": "G240W",
                                          "adapter": "sim", "root": "Device.", "vendor": text, "model": text,
                                          "firmware": text, "subscriber": text, "region": "DE"})
        made.append((inv.add(spec, get_actor(rt.store, "dave")).id, text))
    listed = _gw(rt, "devices", "--limit", "1000")
    assert listed.returncode == 0, listed.stderr[-2000:]
    for device_id, text in made:
        assert _inert(listed.stdout, text) == [], (text, listed.stdout[-2000:])
        shown = _gw(rt, "device", device_id)  # offline in the twin: the header is printed, then exit 1
        assert "Traceback" not in shown.stderr and "MarkupError" not in shown.stderr, shown.stderr[-2000:]
        assert _inert(shown.stdout, text) == [], (text, shown.stdout)


def test_a_proposals_words_are_printed_inert(rt: Any, device: str) -> None:
    """Intent and rationale are a person's (or the planner's) text."""
    from core.kernel.models import Change, ProposalDraft
    from core.users import get_actor

    text = " ".join(c["text"] for c in MARKUP_ONLY)
    p = rt.lifecycle.submit(ProposalDraft(intent=text[:200], targets=[device], rationale=text,
                                          changes=[Change(path="Device.WiFi.Radio.1.AutoChannelEnable", value=True)]),
                            get_actor(rt.store, "alice"))
    r = _gw(rt, "show", p.id)
    assert r.returncode == 0, r.stderr[-2000:]
    for case in MARKUP_ONLY:
        assert _inert(r.stdout, case["text"]) == [], (case["id"], r.stdout)
