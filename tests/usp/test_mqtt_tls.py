"""MQTT over TLS with credentials (issue 36): round trips and every error, against a real Mosquitto.

The broker (``testing.mqtt_tls_broker``) is this module's own: a TLS listener that requires a client
certificate and a password, a TLS listener that requires a password, a plaintext one, and
certificates made for the run (a CA, a server certificate for 127.0.0.1/localhost, client
certificates that are valid, expired, or signed by another CA). Without the mosquitto binaries the
broker tests are skipped, unless ``GATEWARD_REQUIRE_SERVICES=1`` (then they fail).
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from executors.sim.twin import Twin
from executors.sim.usp_host import AgentHost, HostConfig
from executors.usp.executor import UspExecutor, endpoint_for
from executors.usp.loop import LoopThread
from executors.usp.mqtt import BrokerAddress, MqttError, MqttLink
from executors.usp.mqtt_tls import MqttSecurity, redact_url

REQUIRE = os.environ.get("GATEWARD_REQUIRE_SERVICES") == "1"
SERIAL_PATH = "Device.DeviceInfo.SerialNumber"
mqtt = pytest.mark.mqtt  # an own broker: no shared xdist group needed


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[Any]:
    try:
        import cryptography  # noqa: F401  # makes the certificates

        from testing.mqtt_tls_broker import MqttTlsBroker

        broker = MqttTlsBroker()
    except (ImportError, RuntimeError) as exc:
        if REQUIRE:
            pytest.fail(f"GATEWARD_REQUIRE_SERVICES=1 but the TLS broker cannot run here: {exc}")
        pytest.skip(f"no TLS broker here: {exc}")
    with broker:
        yield broker


def _connect(url: str, security: MqttSecurity, version: int = 5) -> str:
    """Connect a link once; '' on success, else the error's message."""

    async def go() -> str:
        link = MqttLink(url, security=security, version=version, reconnect=False)
        try:
            await link.connect(timeout=5)
        except MqttError as exc:
            assert exc.code == "mqtt_unavailable"
            return exc.message
        await link.close()
        return ""

    return asyncio.run(go())


def _sec(broker: Any, **overrides: Any) -> MqttSecurity:
    """The full, valid set: the CA, the valid client certificate, the user and password."""
    f = broker.tls
    values: dict[str, Any] = {"ca_file": f.ca, "cert_file": f.client_cert, "key_file": f.client_key,
                              "username": broker.user, "password": broker.password}
    values.update(overrides)
    return MqttSecurity(**values)


# ---------------------------------------------------------------------------- no broker needed
def test_mqtts_urls_parse_with_credentials_and_tls_default_port() -> None:
    a = BrokerAddress.parse("mqtts://ops%40isp:p%3Ass@broker.example")
    assert (a.host, a.port, a.tls, a.username, a.password) == ("broker.example", 8883, True, "ops@isp", "p:ss")
    assert "p:ss" not in repr(a) and "p%3Ass" not in repr(a)
    assert BrokerAddress.parse("mqtt://h").port == 1883 and not BrokerAddress.parse("tcp://h:1").tls
    with pytest.raises(ValueError, match=r"unsupported MQTT URL 'wss://u:\*\*\*@h'"):
        BrokerAddress.parse("wss://u:hunter2@h")


def test_a_url_is_shown_without_its_password() -> None:
    assert redact_url("mqtts://u:hunter2@h:8883") == "mqtts://u:***@h:8883"
    assert redact_url("mqtt://h:1883") == "mqtt://h:1883"
    link = MqttLink("mqtts://u:hunter2@127.0.0.1:1", security=MqttSecurity(), reconnect=False)
    assert link.url == "mqtts://u:***@127.0.0.1:1" and "hunter2" not in repr(link.address)
    assert "hunter2" not in repr(MqttSecurity(password="hunter2"))


def test_a_missing_ca_or_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MqttError, match=r"GATEWARD_MQTT_CA_FILE .*nope\.pem: no such file"):
        MqttLink("mqtts://127.0.0.1:1", security=MqttSecurity(ca_file=tmp_path / "nope.pem"))
    with pytest.raises(MqttError, match="GATEWARD_MQTT_KEY_FILE is set without GATEWARD_MQTT_CERT_FILE"):
        MqttLink("mqtts://127.0.0.1:1", security=MqttSecurity(key_file=tmp_path / "k.pem"))
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(MqttError, match=r"GATEWARD_MQTT_CA_FILE .*junk\.pem holds no PEM certificate"):
        MqttLink("mqtts://127.0.0.1:1", security=MqttSecurity(ca_file=tmp_path / "junk.pem"))


def test_settings_supply_the_security_and_the_password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("GATEWARD_MQTT_PASSWORD_FILE", str(secret))
    monkeypatch.delenv("GATEWARD_MQTT_PASSWORD", raising=False)
    monkeypatch.setenv("GATEWARD_MQTT_CA_FILE", "/etc/ca.pem")
    monkeypatch.setenv("GATEWARD_MQTT_USERNAME", "ops")
    monkeypatch.setenv("GATEWARD_MQTT_TLS_CHECK_HOSTNAME", "false")
    sec = MqttSecurity.from_settings()
    assert (sec.password, sec.username, sec.ca_file, sec.check_hostname) == ("from-a-file", "ops", Path("/etc/ca.pem"),
                                                                             False)


def test_an_unreachable_broker_is_named_without_the_password(tmp_path: Path) -> None:
    from core.kernel.ports.errors import DeviceOffline
    from testing.mqtt_broker import free_port

    twin = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    device = twin.add_device("prplnet-px7000-1.3", "PX7KTLS00002", region="DE")
    ex = UspExecutor(url=f"mqtt://ops:hunter2@127.0.0.1:{free_port()}", timeout_s=1, probe_timeout_s=0.5)
    try:
        with pytest.raises(DeviceOffline) as caught:
            ex.read(device, [SERIAL_PATH])
        assert "mqtt://ops:***@127.0.0.1" in str(caught.value) and "hunter2" not in str(caught.value)
        assert ex.controller.link.url.startswith("mqtt://ops:***@")
    finally:
        ex.close()
        twin.close()


# ---------------------------------------------------------------------------- against Mosquitto
@mqtt
@pytest.mark.parametrize("version", [5, 3])
def test_controller_and_agent_round_trip_over_mutual_tls_with_a_password(
        tls_broker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    """The controller and the simulated agent both take TLS and credentials from the settings (as
    ``gateward run`` and ``gateward usp agents`` do), the password from its _FILE form."""
    f = tls_broker.tls
    for name, value in (("CA_FILE", f.ca), ("CERT_FILE", f.client_cert), ("KEY_FILE", f.client_key),
                        ("USERNAME", tls_broker.user), ("PASSWORD_FILE", tls_broker.password_file)):
        monkeypatch.setenv(f"GATEWARD_MQTT_{name}", str(value))
    monkeypatch.delenv("GATEWARD_MQTT_PASSWORD", raising=False)
    url = tls_broker.url("mtls", host="localhost")
    twin = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    device = twin.add_device("prplnet-px7000-1.3", "PX7KTLS00001", region="DE")
    controller_id = f"proto::gw-tls-{version}"
    host = AgentHost(HostConfig(url=url, controller_id=controller_id, mqtt_version=version, poll_interval_s=None,
                                boot_delay_s=0.05), twin)
    host.add_device(device.id)
    loop = LoopThread("usp-agents-tls")
    ex = UspExecutor(url=url, endpoint_id=controller_id, mqtt_version=version, timeout_s=5, probe_timeout_s=2)
    try:
        loop.run(host.start(), timeout=30)
        # many reads: the executor writes from its caller's thread while the loop reads the same TLS connection
        for _ in range(200):
            got = ex.read(device, [SERIAL_PATH])
            assert got[SERIAL_PATH].value == "PX7KTLS00001"
        answer = ex.runner.run(ex.controller.get(endpoint_for(device), ["Device.DeviceInfo."]), timeout=30)
        assert answer  # a larger answer (many parameters) over TLS too
        raw = ex.controller.link._sock.raw  # type: ignore[union-attr]
        assert isinstance(raw, ssl.SSLSocket) and raw.version() in ("TLSv1.3", "TLSv1.2")
        assert raw.getpeercert() is not None
        agent_link = host._links[0]
        assert agent_link.connected and isinstance(agent_link._sock.raw, ssl.SSLSocket)  # type: ignore[union-attr]
    finally:
        loop.run(host.stop(), timeout=30)
        loop.stop()
        ex.close()
        twin.close()


@mqtt
@pytest.mark.parametrize("version", [5, 3])
def test_a_wrong_password_is_named_and_not_shown(tls_broker: Any, version: int) -> None:
    msg = _connect(tls_broker.url("tls"), _sec(tls_broker, password="hunter2-wrong"), version)
    assert msg.startswith("broker refused: bad user name or password"), msg
    assert "user 'gateward'" in msg and "hunter2" not in msg
    url_msg = _connect(tls_broker.url("tls", user="gateward", password="hunter2-wrong"),
                       MqttSecurity(ca_file=tls_broker.tls.ca))
    assert url_msg.startswith("broker refused: bad user name or password") and "hunter2" not in url_msg
    assert "mqtts://gateward:***@127.0.0.1" in url_msg


@mqtt
def test_no_credentials_for_a_broker_without_anonymous_access(tls_broker: Any) -> None:
    msg = _connect(tls_broker.url("tls"), MqttSecurity(ca_file=tls_broker.tls.ca))
    assert msg.startswith("broker refused: not authorized") and "GATEWARD_MQTT_PASSWORD_FILE" in msg


@mqtt
def test_password_only_listener_round_trips_with_the_url_credentials(tls_broker: Any) -> None:
    url = tls_broker.url("tls", user=tls_broker.user, password=tls_broker.password)
    assert _connect(url, MqttSecurity(ca_file=tls_broker.tls.ca)) == ""


@mqtt
def test_an_unknown_ca_says_so_and_names_the_setting(tls_broker: Any) -> None:
    msg = _connect(tls_broker.url("tls"), _sec(tls_broker, ca_file=tls_broker.tls.other_ca))
    assert "certificate verify failed: unable to get local issuer certificate" in msg, msg
    assert "set GATEWARD_MQTT_CA_FILE" in msg
    system = _connect(tls_broker.url("tls"), _sec(tls_broker, ca_file=None))  # the system's CAs only
    assert "certificate verify failed" in system and "set GATEWARD_MQTT_CA_FILE" in system


@mqtt
def test_an_expired_client_certificate_says_expired(tls_broker: Any) -> None:
    f = tls_broker.tls
    msg = _connect(tls_broker.url("mtls"), _sec(tls_broker, cert_file=f.expired_cert, key_file=f.expired_key))
    assert "refused our client certificate: it has expired" in msg, msg


@mqtt
def test_an_expired_broker_certificate_says_expired(tls_broker: Any) -> None:
    msg = _connect(tls_broker.url("expired"), MqttSecurity(ca_file=tls_broker.tls.ca))
    assert "certificate verify failed: the broker's certificate has expired" in msg, msg


@mqtt
def test_a_client_certificate_from_another_ca_is_refused(tls_broker: Any) -> None:
    f = tls_broker.tls
    msg = _connect(tls_broker.url("mtls"), _sec(tls_broker, cert_file=f.other_cert, key_file=f.other_key))
    assert "refused our client certificate" in msg and "not signed by a CA the broker trusts" in msg, msg


@mqtt
def test_no_client_certificate_where_one_is_required(tls_broker: Any) -> None:
    msg = _connect(tls_broker.url("mtls"), _sec(tls_broker, cert_file=None, key_file=None))
    assert "requires a client certificate" in msg and "GATEWARD_MQTT_CERT_FILE" in msg, msg


@mqtt
def test_plaintext_spoken_to_a_tls_port(tls_broker: Any) -> None:
    msg = _connect(f"mqtt://127.0.0.1:{tls_broker.tls_port}", _sec(tls_broker))
    assert "closed the connection before answering CONNECT" in msg and "use mqtts://" in msg, msg


@mqtt
def test_tls_spoken_to_a_plaintext_port(tls_broker: Any) -> None:
    msg = _connect(f"mqtts://127.0.0.1:{tls_broker.plain_port}", _sec(tls_broker))
    assert "during the TLS handshake" in msg and "plaintext MQTT listener" in msg and "use mqtt://" in msg, msg


def _alias_of_loopback() -> str | None:
    """A host name (from /etc/hosts) that reaches 127.0.0.1 but is not in the server certificate."""
    try:
        names = Path("/etc/hosts").read_text().split("\n")
    except OSError:
        return None
    for line in names:
        fields = line.split("#")[0].split()
        if fields and fields[0] == "127.0.0.1":
            for name in fields[1:]:
                if name != "localhost" and not name.startswith("localhost."):
                    try:
                        if socket.gethostbyname(name) == "127.0.0.1":
                            return name
                    except OSError:
                        continue
    return None


@mqtt
def test_hostname_verification_is_on_by_default(tls_broker: Any) -> None:
    alias = _alias_of_loopback()
    if alias is None:
        pytest.skip("no other name for 127.0.0.1 in /etc/hosts")
    msg = _connect(tls_broker.url("mtls", host=alias), _sec(tls_broker))
    assert "Hostname mismatch" in msg and "GATEWARD_MQTT_TLS_CHECK_HOSTNAME" in msg, msg
    assert _connect(tls_broker.url("mtls", host=alias), _sec(tls_broker, check_hostname=False)) == ""


# ---------------------------------------------------------------------------- the CLI, end to end
@mqtt
def test_usp_events_says_why_the_broker_refused_in_one_line(tls_broker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from gateward.cli import app

    monkeypatch.setenv("GATEWARD_MQTT_URL", tls_broker.url("tls", user=tls_broker.user, password="hunter2-wrong"))
    monkeypatch.setenv("GATEWARD_MQTT_CA_FILE", str(tls_broker.tls.ca))
    result = CliRunner().invoke(app, ["usp", "events", "--seconds", "3"])
    assert result.exit_code == 2, result.output
    assert "broker refused: bad user name or password" in result.output and "hunter2" not in result.output


@mqtt
@pytest.mark.slow
def test_usp_agents_and_get_over_tls_keep_the_password_out_of_argv_output_and_status(
        tls_broker: Any, tmp_path: Path) -> None:
    f = tls_broker.tls
    env = {**os.environ, "GATEWARD_HOME": str(tmp_path / "var"), "COLUMNS": "200",
           "GATEWARD_MQTT_URL": tls_broker.url("mtls", host="localhost", user=tls_broker.user),
           "GATEWARD_MQTT_CA_FILE": str(f.ca), "GATEWARD_MQTT_CERT_FILE": str(f.client_cert),
           "GATEWARD_MQTT_KEY_FILE": str(f.client_key), "GATEWARD_MQTT_PASSWORD_FILE": str(tls_broker.password_file),
           "GATEWARD_USP_ENDPOINT_ID": "proto::gw-cli-tls"}
    for name in ("GATEWARD_MQTT_PASSWORD", "GATEWARD_SECRETS_FROM_FILE", "GATEWARD_DATABASE_URL"):
        env.pop(name, None)
    gw = [sys.executable, "-m", "gateward.cli"]
    subprocess.run([*gw, "seed", "--homes", "4"], env=env, check=True, capture_output=True, timeout=300)
    agents = subprocess.Popen([*gw, "usp", "agents", "--count", "2", "--report-every", "60"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert agents.stdout is not None
        line = agents.stdout.readline()
        assert "USP agents on" in line and f"mqtts://{tls_broker.user}@localhost:" in line, line
        argv = Path(f"/proc/{agents.pid}/cmdline").read_bytes()
        assert tls_broker.password.encode() not in argv
        out = subprocess.run([*gw, "usp", "devices", "--all-usp"], env=env, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        device = next(w for w in out.stdout.split() if w.startswith("3C9A77-PX7000-"))
        got = subprocess.run([*gw, "usp", "get", device, SERIAL_PATH], env=env, capture_output=True, text=True,
                             timeout=120)
        assert got.returncode == 0 and device.split("-")[-1] in got.stdout, got.stderr
        wrong = tmp_path / "wrong-password"
        wrong.write_text("not-the-password\n")
        bad = subprocess.run([*gw, "usp", "get", device, SERIAL_PATH], env={**env, "GATEWARD_MQTT_PASSWORD_FILE":
                             str(wrong)}, capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and "broker refused: bad user name or password" in bad.stderr, bad.stderr
        assert "not-the-password" not in bad.stderr + bad.stdout
        status = subprocess.run([*gw, "status"], env=env, capture_output=True, text=True, timeout=120)
        assert status.returncode == 0, status.stderr
        assert "GATEWARD_MQTT_PASSWORD           set (file)" in status.stdout
        assert "GATEWARD_MQTT_CA_FILE, GATEWARD_MQTT_CERT_FILE, GATEWARD_MQTT_KEY_FILE set" in status.stdout
        assert tls_broker.password not in status.stdout + got.stdout + got.stderr + out.stdout
    finally:
        agents.terminate()
        rest = agents.communicate(timeout=30)[0]
        assert tls_broker.password not in rest
