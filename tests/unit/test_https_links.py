"""GenieACS NBI and OPA over https with an operator's CA, basic auth, a header or a bearer token
(issue 36) — against real local https servers (the project's NBI double and OPA Data API double,
TLS-wrapped with certificates from a CA made by ``trustme`` for the test).

A wrong CA, a missing CA file or a peer that is gone is a clear error naming what to check.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from core.kernel.config import Settings
from core.kernel.models import Device
from executors.base import ExecutorError
from policies.engine import OpaServerEngine, load_engine

SSID1 = "Device.WiFi.SSID.1.SSID"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def other_ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("other-ca") / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def _server_context(ca: trustme.CA) -> Any:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    return ctx


# --------------------------------------------------------------------------- GenieACS NBI
@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Any]:
    from executors.sim.twin import Twin

    t = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    yield t
    t.close()


@pytest.fixture
def device(twin: Any) -> Device:
    d: Device = twin.add_device("lumenet-g240w-3.2", "LMNT93000001", region="GB")
    return d


BASIC = "Basic " + base64.b64encode(b"gateward:nbi-pass-5e1").decode()


@pytest.fixture
def https_nbi(twin: Any, device: Device, ca: trustme.CA) -> Iterator[Any]:
    from testing.genieacs.fake_nbi import FakeNbi

    fake = FakeNbi(twin, tick_s=None, require_auth=BASIC)
    fake.start(ssl_context=_server_context(ca))
    yield fake
    fake.stop()


def _nbi_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for k in ("USERNAME", "PASSWORD", "PASSWORD_FILE", "AUTH_HEADER", "CA_FILE", "INSECURE", "URL"):
        monkeypatch.delenv(f"GATEWARD_GENIEACS_{k}", raising=False)
    for k, v in values.items():
        monkeypatch.setenv(f"GATEWARD_GENIEACS_{k}", v)


def test_nbi_https_custom_ca_and_basic_auth_from_a_file(
    monkeypatch: pytest.MonkeyPatch, https_nbi: Any, device: Device, ca_file: str, tmp_path: Path
) -> None:
    from core.kernel.secret_env import resolve_secret_files
    from executors.genieacs import factory

    pw = tmp_path / "nbi-password"
    pw.write_text("nbi-pass-5e1\n")
    _nbi_env(monkeypatch, CA_FILE=ca_file, USERNAME="gateward", PASSWORD_FILE=str(pw))
    monkeypatch.delenv("GATEWARD_SECRETS_FROM_FILE", raising=False)
    resolve_secret_files()
    assert https_nbi.url.startswith("https://")
    ex = factory(Settings(genieacs_url=https_nbi.url))
    try:
        got = ex.read(device, [SSID1])
        assert got[SSID1]
        assert "nbi-pass" not in repr(ex.client)
    finally:
        ex.close()


def test_nbi_header_form(monkeypatch: pytest.MonkeyPatch, https_nbi: Any, device: Device, ca_file: str) -> None:
    from executors.genieacs import factory

    _nbi_env(monkeypatch, CA_FILE=ca_file)
    ex = factory(Settings(genieacs_url=https_nbi.url, genieacs_auth_header=f"Authorization: {BASIC}"))
    try:
        assert ex.read(device, [SSID1])[SSID1]
    finally:
        ex.close()
    _nbi_env(monkeypatch, CA_FILE=ca_file)
    wrong = factory(Settings(genieacs_url=https_nbi.url, genieacs_auth_header="Basic bm9wZTpub3Bl"))
    try:
        with pytest.raises(ExecutorError, match="GATEWARD_GENIEACS_AUTH_HEADER"):
            wrong.read(device, [SSID1])
    finally:
        wrong.close()


def test_nbi_wrong_ca_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, https_nbi: Any, device: Device, other_ca_file: str
) -> None:
    from executors.genieacs import factory

    _nbi_env(monkeypatch, CA_FILE=other_ca_file, USERNAME="gateward", PASSWORD="nbi-pass-5e1")
    ex = factory(Settings(genieacs_url=https_nbi.url))
    try:
        with pytest.raises(ExecutorError) as err:
            ex.read(device, [SSID1])
        text = str(err.value)
        assert "TLS with the GenieACS NBI" in text and "GATEWARD_GENIEACS_CA_FILE" in text
        assert "certificate verify failed" in text.lower() or "CERTIFICATE_VERIFY_FAILED" in text
        assert err.value.nothing_sent  # the handshake failed before a request left
    finally:
        ex.close()


def test_nbi_settings_refused_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ca_file: str) -> None:
    from executors.genieacs import factory

    _nbi_env(monkeypatch, CA_FILE=str(tmp_path / "missing.pem"))
    with pytest.raises(LookupError, match=r"GATEWARD_GENIEACS_CA_FILE=.*missing\.pem"):
        factory(Settings(genieacs_url="https://127.0.0.1:1"))
    (tmp_path / "junk.pem").write_text("not a certificate")
    _nbi_env(monkeypatch, CA_FILE=str(tmp_path / "junk.pem"))
    with pytest.raises(LookupError, match=r"junk\.pem"):
        factory(Settings(genieacs_url="https://127.0.0.1:1"))
    _nbi_env(monkeypatch, CA_FILE=ca_file, USERNAME="u", PASSWORD="p")
    with pytest.raises(LookupError, match="both GATEWARD_GENIEACS_AUTH_HEADER and"):
        factory(Settings(genieacs_url="https://127.0.0.1:1", genieacs_auth_header="Bearer x"))
    _nbi_env(monkeypatch, CA_FILE=ca_file, USERNAME="u")
    with pytest.raises(LookupError, match="go together"):
        factory(Settings(genieacs_url="https://127.0.0.1:1"))


# --------------------------------------------------------------------------- OPA
@pytest.fixture(scope="module")
def https_opa(ca: trustme.CA) -> Iterator[Any]:
    from testing.opa_server import OpaApiServer

    with OpaApiServer(ssl_context=_server_context(ca), require_token="opa-token-91b") as server:
        yield server


def _any_input() -> dict[str, Any]:
    from policies import samples

    doc: dict[str, Any] = samples.policy_input()
    return doc


def test_opa_https_with_ca_and_token(https_opa: Any, ca_file: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from core.kernel.secret_env import resolve_secret_files

    tok = tmp_path / "opa-token"
    tok.write_text("opa-token-91b\n")
    for k in ("GATEWARD_OPA_TOKEN", "GATEWARD_SECRETS_FROM_FILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("GATEWARD_OPA_TOKEN_FILE", str(tok))
    resolve_secret_files()
    engine = load_engine(Settings(opa_url=https_opa.url, opa_ca_file=ca_file, policy_timeout_ms=5000))
    assert isinstance(engine, OpaServerEngine) and https_opa.url.startswith("https://")
    try:
        assert engine.healthy()
        from policies.engine import EmbeddedRegoEngine

        decision = engine.decide_detailed(_any_input()).decision
        assert decision.allow is True  # the sample is allowed: decided by the https server, not failed closed
        assert decision == EmbeddedRegoEngine().decide_detailed(_any_input()).decision
    finally:
        engine.close()


def test_opa_without_token_or_with_the_wrong_ca(https_opa: Any, ca_file: str, other_ca_file: str) -> None:
    no_token = OpaServerEngine(https_opa.url, 5000, ca_file=ca_file)
    wrong_ca = OpaServerEngine(https_opa.url, 5000, ca_file=other_ca_file, token="opa-token-91b")
    try:
        refused = no_token.decide_detailed(_any_input()).decision
        assert refused.allow is False and "HTTP 401" in " ".join(refused.deny)
        tls = wrong_ca.decide_detailed(_any_input()).decision
        reasons = " ".join(tls.deny)
        assert tls.allow is False and "TLS with OPA" in reasons and "GATEWARD_OPA_CA_FILE" in reasons
        assert "certificate verify failed" in reasons
        assert wrong_ca.healthy() is False
    finally:
        no_token.close()
        wrong_ca.close()


def test_opa_ca_file_refused_at_start(tmp_path: Path, ca_file: str) -> None:
    with pytest.raises(ValueError, match=r"GATEWARD_OPA_CA_FILE=.*missing\.pem"):
        OpaServerEngine("https://127.0.0.1:8181", 500, ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="not https"):
        OpaServerEngine("http://127.0.0.1:8181", 500, ca_file=ca_file)
