"""A certificate or key setting whose file exists but holds no PEM certificate (or key) — garbage
bytes, a private key where the CA belongs, an empty file, DER, a cut-off or damaged block — is one
sentence naming the setting, the path and what is wrong, before any command uses it: ``gateward
run`` refuses to start (exit 2). Before, the MQTT CA file's content was first judged by the USP
controller's thread, which logged a traceback four times a second for as long as the server ran.

Against a real Mosquitto with TLS (``testing.mqtt_tls_broker``): the refusal comes before the
broker is dialled, the valid files still connect, and a file spoilt after the start stops the
controller's retries with one line instead of a traceback per round.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.path_settings import CERTIFICATE_FILES, KEY_FILES, READ_FILES, path_problem
from testing.cli import run_cli

REQUIRE = os.environ.get("GATEWARD_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[Any]:
    try:
        from testing.mqtt_tls_broker import MqttTlsBroker

        broker = MqttTlsBroker()
    except (ImportError, RuntimeError) as exc:
        if REQUIRE:
            pytest.fail(f"GATEWARD_REQUIRE_SERVICES=1 but the TLS broker cannot run here: {exc}")
        pytest.skip(f"no TLS broker here: {exc}")
    with broker:
        yield broker


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Valid PEM files (made for the run) and the junk an operator points a setting at by mistake."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from testing.mqtt_tls_broker import make_tls_files

    d = tmp_path_factory.mktemp("pem")
    tls = make_tls_files(d)
    ca = tls.ca.read_bytes()
    junk = {
        "garbage": os.urandom(512).replace(b"\x30", b"\x31"),  # bytes that are neither PEM nor DER
        "empty": b"",
        "blank": b"\n  \n",
        "der": x509.load_pem_x509_certificate(ca).public_bytes(serialization.Encoding.DER),
        "cut": ca[: len(ca) // 2],
        "damaged": ca.replace(b"\n", b"\n#!", 2) + tls.client_key.read_bytes().replace(b"\n", b"\n#!", 2),
    }
    out = {"ca": tls.ca, "cert": tls.client_cert, "key": tls.client_key}
    for name, data in junk.items():
        (d / f"{name}.pem").write_bytes(data)
        out[name] = d / f"{name}.pem"
    return out


SAYS = {"garbage": "holds no PEM block (no -----BEGIN line)", "empty": "it is empty", "blank": "it is empty",
        "der": "it is binary DER, not PEM", "cut": "its PEM block is cut off", "damaged": "is not valid base64 DER"}


def test_the_pem_settings_are_path_settings() -> None:
    assert set(READ_FILES) >= CERTIFICATE_FILES | KEY_FILES and not CERTIFICATE_FILES & KEY_FILES


@pytest.mark.parametrize("name", sorted(CERTIFICATE_FILES | KEY_FILES))
@pytest.mark.parametrize("junk", sorted(SAYS))
def test_a_file_that_holds_no_pem_of_its_kind_is_one_sentence(files: dict[str, Path], name: str, junk: str) -> None:
    said = path_problem({name: str(files[junk])})
    assert said is not None and said.startswith(f"{name}={files[junk]}"), said
    assert SAYS[junk] in said and READ_FILES[name] in said and "\n" not in said


@pytest.mark.parametrize("name", sorted(CERTIFICATE_FILES))
def test_a_certificate_setting_refuses_a_key_and_takes_a_certificate(files: dict[str, Path], name: str) -> None:
    said = path_problem({name: str(files["key"])})
    assert said == (f"{name}={files['key']} is not a certificate ({READ_FILES[name]}): it holds a private key and "
                    "no certificate; it must hold PEM certificate(s) (-----BEGIN CERTIFICATE-----)")
    assert path_problem({name: str(files["ca"])}) is None
    assert path_problem({name: str(files["cert"])}) is None
    bundle = files["ca"].parent / "bundle-with-key.pem"  # a certificate and its key in one file
    bundle.write_bytes(b"# the client's\n" + files["cert"].read_bytes() + files["key"].read_bytes())
    assert path_problem({name: str(bundle)}) is None


@pytest.mark.parametrize("name", sorted(KEY_FILES))
def test_a_key_setting_refuses_a_certificate_and_takes_a_key(files: dict[str, Path], name: str) -> None:
    said = path_problem({name: str(files["ca"])})
    assert said is not None and "is not a private key" in said and "it holds only certificate block(s)" in said
    assert path_problem({name: str(files["key"])}) is None


# ---------------------------------------------------------------------------- a real broker
@pytest.mark.mqtt
@pytest.mark.parametrize("junk", ["garbage", "key", "empty"])
def test_gateward_run_refuses_to_start_in_one_line(tls_broker: Any, files: dict[str, Path], tmp_path: Path,
                                                   junk: str) -> None:
    env = {"GATEWARD_HOME": str(tmp_path), "COLUMNS": "200",
           "GATEWARD_MQTT_URL": tls_broker.url("tls", user=tls_broker.user, password=tls_broker.password),
           "GATEWARD_MQTT_CA_FILE": str(files[junk])}
    for command in (("run", "--port", "0"), ("worker",)):
        r = run_cli(*command, env=env, unset=("GATEWARD_DATABASE_URL",))
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr + r.stdout, (command, r.stderr)
        assert lines[0].startswith(f"error: GATEWARD_MQTT_CA_FILE={files[junk]} is not a certificate"), lines
        assert tls_broker.password not in r.stderr + r.stdout
        assert not (tmp_path / "gateward.db").exists()  # refused before anything was opened


@pytest.mark.mqtt
def test_a_file_spoilt_after_the_start_stops_the_controller_in_one_line(
        tls_broker: Any, files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The controller's thread meets the file only when it first builds its TLS context: a file
    replaced after the start check (or a process built without the CLI) is said once, not retried."""
    from core.kernel.config import Settings
    from gateward.runtime import UspEvents, build_runtime
    from tests.usp.support import wait_until

    monkeypatch.setenv("GATEWARD_USP_ENDPOINT_ID", f"proto::gw-pem-{uuid.uuid4().hex[:8]}")
    url = tls_broker.url("tls", user=tls_broker.user, password=tls_broker.password)
    caplog.set_level(logging.INFO, "gateward.runtime")
    for ca, works in ((tls_broker.tls.ca, True), (files["garbage"], False)):
        monkeypatch.setenv("GATEWARD_MQTT_CA_FILE", str(ca))
        rt = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / f'{works}.db'}", mqtt_url=url))
        events = UspEvents(rt)
        try:
            caplog.clear()
            if works:  # the same broker, the valid CA: the controller connects
                events.start()
                wait_until(lambda: "USP events: listening on" in caplog.text, 20, "the controller to connect over TLS")
                assert events.connected and "USP events: listening on mqtts://gateward:***@" in caplog.text
            else:
                assert [events._prepare() for _ in range(3)] == [False, False, False]
                said = [r for r in caplog.records if r.levelno >= logging.WARNING]
                assert len(said) == 1 and said[0].exc_info is None, caplog.text
                assert "USP events are off: " in said[0].getMessage() and str(ca) in said[0].getMessage()
                assert "GATEWARD_MQTT_CA_FILE" in said[0].getMessage()
            assert tls_broker.password not in caplog.text
        finally:
            events.stop()
            rt.close()
