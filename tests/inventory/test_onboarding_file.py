"""The operator's own onboarding allow list (``GATEWARD_ONBOARDING_FILE``).

Before, the allow list could only be changed by editing the repository's
``policies/data/onboarding.json``. Now a setting names a file of the same shape; it replaces the
pack's list for ingest, CLI and API alike, and a file that is missing or malformed allows nothing
(every agent waits for an admin), as a malformed pack document always did. Driven through the real
ingest path over the real store (both backends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.kernel.config import Settings
from core.onboarding import AllowList
from core.store import repo
from tests.inventory.conftest import serial
from tests.inventory.test_onboarding import OUI, contact, request_of


@pytest.fixture
def own_file(rt: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The runtime pointed at an allow-list file of the test's own (and the pack's list emptied)."""
    path = tmp_path / "my-onboarding.json"
    monkeypatch.setattr(rt.settings, "onboarding_file", path)
    monkeypatch.setitem(rt.policy.policy_data, "onboarding", {"allow": {"endpoint_ids": [], "ouis": []}})
    yield path


def _write(path: Path, doc: Any) -> None:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GATEWARD_ONBOARDING_FILE", str(tmp_path / "allow.json"))
    assert Settings().onboarding_file == tmp_path / "allow.json"
    monkeypatch.delenv("GATEWARD_ONBOARDING_FILE")
    assert Settings().onboarding_file is None


def test_an_agent_on_the_operators_file_is_onboarded_at_once(rt: Any, own_file: Path) -> None:
    sn = serial("FILE")
    _write(own_file, {"allow": {"endpoint_ids": [f"os::{OUI}-{sn}"], "ouis": []}, "defaults": {"region": "GB"}})
    contact(rt, f"os::{OUI}-{sn}", oui=OUI, serial_number=sn)
    with rt.store.read() as s:
        d = repo.get_device(s, f"{OUI}-PX9-{sn}")
    assert (d.adapter, d.region) == ("usp", "GB")  # the file's defaults, not the pack's
    # the pack's list no longer counts once a file is configured
    other = serial("PACK")
    rt.policy.policy_data["onboarding"] = {"allow": {"endpoint_ids": [f"os::{OUI}-{other}"], "ouis": []}}
    contact(rt, f"os::{OUI}-{other}", oui=OUI, serial_number=other)
    row = request_of(rt, f"os::{OUI}-{other}")
    assert row is not None and row.status == "pending"
    # an edit of the file takes effect at the next contact, without a restart
    late = serial("EDIT")
    _write(own_file, {"allow": {"endpoint_ids": [], "ouis": [OUI, "ABCDEF"]}})
    contact(rt, f"os::{OUI}-{late}", oui=OUI, serial_number=late)
    with rt.store.read() as s:
        assert repo.get_device(s, f"{OUI}-PX9-{late}").region == "EU"


@pytest.mark.parametrize("content", ['{"allow": {"ouis": "C0FFEE"}}', "{not json", None],
                         ids=["wrong-schema", "not-json", "missing"])
def test_a_malformed_or_missing_file_allows_nothing(rt: Any, own_file: Path, content: str | None) -> None:
    if content is not None:
        _write(own_file, content)
    assert AllowList.configured(rt.policy.policy_data, rt.settings) == AllowList()
    sn = serial("BAD")
    contact(rt, f"os::{OUI}-{sn}", oui=OUI, serial_number=sn)
    row = request_of(rt, f"os::{OUI}-{sn}")
    assert row is not None and row.status == "pending"  # it waits for an admin


def test_without_the_setting_the_pack_decides(rt: Any) -> None:
    assert rt.settings.onboarding_file is None
    pack = {"onboarding": {"allow": {"endpoint_ids": ["os::ABCDEF-1"], "ouis": []}}}
    assert AllowList.configured(pack, rt.settings).why("os::ABCDEF-1", "") is not None
