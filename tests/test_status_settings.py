"""``gateward status`` is what a platform engineer runs to check a deployment: it prints what it
can read and names every malformed setting, one line each, exit 2 — path settings, settings
``Settings`` validates, the ones each part reads itself, a secret file — instead of printing the
fleet and exiting 0 (its read path never built ``Settings``, so ``GATEWARD_POLICY_TIME=99:99``
went unnoticed until ``gateward run``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.cli import CliResult, run_cli
from tests.conftest import seeded_db_url

CLEARED = ("GATEWARD_HOME", "GATEWARD_DATABASE_URL", "GATEWARD_SIM_DATABASE_URL")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url, _ = seeded_db_url("sqlite", tmp_path_factory.mktemp("status"), homes=4)
    return url


def _status(tmp_path: Path, db: str | None, **settings: str) -> CliResult:
    env = {"GATEWARD_HOME": str(tmp_path / "home"), "COLUMNS": "200", **settings}
    if db is not None:
        env["GATEWARD_DATABASE_URL"] = db
    import os

    unset = tuple(k for k in os.environ if k.startswith("GATEWARD_") and k not in env)
    return run_cli("status", env=env, unset=(*CLEARED, *unset))


def _errors(r: CliResult) -> list[str]:
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert all(ln.startswith("error: ") for ln in lines), lines
    return [ln.removeprefix("error: ") for ln in lines]


def _fleet(r: CliResult) -> str:
    return next(ln for ln in r.stdout.splitlines() if ln.startswith("fleet:"))


def test_each_malformed_setting_is_a_line_after_the_status(tmp_path: Path, db: str) -> None:
    r = _status(tmp_path, db, GATEWARD_REGION_ZONES="DE=Mars/Olympus", GATEWARD_POLICY_TIME="99:99")
    errors = _errors(r)
    assert r.returncode == 2 and len(errors) == 2, r.stderr
    assert errors[0].startswith("GATEWARD_POLICY_TIME='99:99'")
    assert errors[1].startswith("GATEWARD_REGION_ZONES='DE=Mars/Olympus'") and "Mars/Olympus" in errors[1]
    assert " devices · " in _fleet(r) and "audit head #" in _fleet(r)
    assert "settings: 2 problem(s) (below)" in r.stdout and "mqtt:" in r.stdout


def test_every_kind_of_setting_is_checked_at_once(tmp_path: Path, db: str) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    r = _status(tmp_path, db, GATEWARD_MQTT_CA_FILE=str(junk), GATEWARD_LOG_LEVEL="loud",
                GATEWARD_GENIEACS_TIMEOUT_S="-1", GATEWARD_API_MAX_READS="0", GATEWARD_SHUTDOWN_S="soon",
                GATEWARD_USP_MQTT_VERSION="4", GATEWARD_MQTT_URL="wss://broker", GATEWARD_TOKEN_TTL_DAYS="0",
                GATEWARD_MQTT_PASSWORD="x", GATEWARD_MQTT_PASSWORD_FILE=str(tmp_path / "none"))
    errors = _errors(r)
    named = ["GATEWARD_MQTT_PASSWORD", "GATEWARD_MQTT_CA_FILE", "GATEWARD_TOKEN_TTL_DAYS", "GATEWARD_API_MAX_READS",
             "GATEWARD_SHUTDOWN_S", "GATEWARD_LOG_LEVEL", "GATEWARD_USP_MQTT_VERSION", "GATEWARD_MQTT_URL",
             "GATEWARD_GENIEACS_TIMEOUT_S"]
    assert r.returncode == 2 and len(errors) == len(named), errors
    for name, line in zip(named, errors, strict=True):
        assert name in line, (name, line)
    assert " devices · " in _fleet(r)


def test_what_cannot_be_read_is_unknown_and_the_rest_is_printed(tmp_path: Path) -> None:
    home = tmp_path / "a-file"
    home.write_text("x")
    r = _status(tmp_path, None, GATEWARD_HOME=str(home), GATEWARD_POLICY_TIME="25:00")
    errors = _errors(r)
    assert r.returncode == 2 and len(errors) == 2, errors
    assert errors[0].startswith(f"GATEWARD_HOME={home} is a file, not a directory")
    assert errors[1].startswith("GATEWARD_POLICY_TIME='25:00'")
    assert "database: unknown (see below)" in r.stdout and _fleet(r) == "fleet:    unknown (see below)"
    assert "policy:   embedded" in r.stdout and "secrets:" in r.stdout and "mqtt:" in r.stdout


def test_an_unreachable_database_is_one_of_the_lines(tmp_path: Path) -> None:
    r = _status(tmp_path, "postgresql+psycopg://gw:pw-Zq81x@127.0.0.1:1/gateward", GATEWARD_LOG_FORMAT="xml")
    errors = _errors(r)
    assert r.returncode == 2 and len(errors) == 2, errors
    assert errors[0].startswith("GATEWARD_LOG_FORMAT='xml'") and "cannot open the database" in errors[1]
    assert "pw-Zq81x" not in r.stdout + r.stderr and _fleet(r) == "fleet:    unknown (see below)"


def test_well_formed_settings_pass_and_other_commands_still_refuse_at_start(tmp_path: Path, db: str) -> None:
    r = _status(tmp_path, db, GATEWARD_REGION_ZONES="PT=Europe/Lisbon", GATEWARD_POLICY_TIME="02:30",
                GATEWARD_LOG_LEVEL="INFO", GATEWARD_GENIEACS_TIMEOUT_S="5")
    assert r.returncode == 0 and _errors(r) == [], r.stderr
    assert "settings: every one that is set is well-formed" in r.stdout
    junk = tmp_path / "ca.pem"
    junk.write_text("")
    other = run_cli("devices", env={"GATEWARD_DATABASE_URL": db, "GATEWARD_MQTT_CA_FILE": str(junk)})
    assert other.returncode == 2 and _errors(other) == [
        f"GATEWARD_MQTT_CA_FILE={junk} is not a certificate (the CA certificate(s) the MQTT broker is verified by): "
        "it is empty; it must hold PEM certificate(s) (-----BEGIN CERTIFICATE-----)"]
