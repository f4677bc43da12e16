"""``campaign status`` and ``remediation cases`` read without the runtime, the ORM or the models
(issue 39: they took 1.3-4.5 s building the whole runtime; the other read commands 0.2-0.5 s).
Asserted on the modules a fresh interpreter loads, as tests/unit/test_cli_speed.py does for the
issue-15 read commands; the wall time is ``gateward bench cli_wall`` (campaign_status_*,
remediation_cases_*, audit_verify_*)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import build_test_runtime
from tests.unit.test_cli_speed import HEAVY, _loaded, _run_cli

# Neither the ORM nor the models, nor what builds or drives a campaign or a remediation job.
LIGHT = (*HEAVY, "sqlalchemy", "pydantic", "pydantic_settings", "core.kernel.models", "core.store.db",
         "gateward.runtime", "campaigns.orchestrator", "campaigns.service", "campaigns.reads", "campaigns.schema",
         "brain.remediation.service", "brain.remediation.schema", "brain.detectors")


@pytest.fixture
def with_campaign(db_url: str) -> Any:
    from core.users import get_actor

    rt = build_test_runtime(db_url, homes=3)
    st = rt.campaigns.create({"name": "light", "target": {"all_fleet": True}, "emergency": True,
                              "changes": [{"path": "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled",
                                           "value": False}]}, get_actor(rt.store, "dave"))
    rt.close()
    return db_url, st


def test_campaign_status_and_remediation_cases_read_light(with_campaign: Any) -> None:
    db_url, st = with_campaign
    code, out, modules = _run_cli(["campaign", "status", st["id"]], db_url)
    assert code == 0, out
    assert st["id"] in out and "not started (" in out
    assert _loaded(modules, LIGHT) == []
    code, out, modules = _run_cli(["campaign", "status"], db_url)
    assert code == 0 and st["id"] in out, out
    assert _loaded(modules, LIGHT) == []
    code, out, modules = _run_cli(["remediation", "cases"], db_url)
    assert code == 0 and "remediation cases (0 of 0)" in out, out
    assert _loaded(modules, LIGHT) == []


def test_remediation_cases_refuses_a_limit_out_of_range(with_campaign: Any) -> None:
    db_url, _ = with_campaign
    code, _out, _ = _run_cli(["remediation", "cases", "--limit", "0"], db_url)
    assert code == 2
