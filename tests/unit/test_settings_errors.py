"""A malformed setting stops the start with one line naming the variable and what is wrong — never a
pydantic traceback. ``GATEWARD_REGION_ZONES`` (the zone a
time said in a support chat is read in) is checked zone by zone: a typo would read "at 2 tonight" in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import localtime
from core.kernel.config import get_settings
from core.kernel.errors import Invalid
from testing.cli import run_cli


@pytest.fixture(autouse=True)
def _fresh_settings() -> object:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(("raw", "said"), [
    ("DE=Mars/Olympus", "'Mars/Olympus' (for DE) is no IANA time zone"),
    ("DE", "'DE' is not REGION=Area/City"),
    ("DE=Europe/Berlin,=Europe/Paris", "'=Europe/Paris' is not REGION=Area/City"),
])
def test_a_wrong_region_zone_is_one_line(monkeypatch: pytest.MonkeyPatch, raw: str, said: str) -> None:
    monkeypatch.setenv("GATEWARD_REGION_ZONES", raw)
    with pytest.raises(Invalid) as caught:
        get_settings()
    assert str(caught.value.message).startswith(f"GATEWARD_REGION_ZONES={raw!r}: {said}")
    assert "\n" not in caught.value.message


def test_region_zones_override_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_REGION_ZONES", "DE=Europe/Lisbon, PT=Europe/Lisbon")
    assert get_settings().region_zones
    winter = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert localtime.local(winter, "PT").utcoffset() is not None
    assert localtime.zone_name("de") == "Europe/Lisbon" and localtime.zone_name("FR") == "Europe/Paris"


def test_a_wrong_type_names_the_variable_and_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_POLICY_TIMEOUT_MS", "soon")
    with pytest.raises(Invalid, match=r"^GATEWARD_POLICY_TIMEOUT_MS='soon': "):
        get_settings()


def test_the_start_refuses_a_malformed_setting_without_a_traceback() -> None:
    res = run_cli("run", "--port", "0", env={"GATEWARD_TOKEN_TTL_DAYS": "0"})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == ["error: GATEWARD_TOKEN_TTL_DAYS='0': Input should be greater than or "
                                               "equal to 1"]
