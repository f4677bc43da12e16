"""Client certificates that name USP endpoints bind their WebSocket to them (issue 37 item 5).

TR-369 names an endpoint in a certificate as a subjectAltName URI ``urn:bbf:usp:id:<endpoint ID>``.
With client certificates required, a connection whose certificate names endpoints may speak only
for those: one claiming another endpoint — in its handshake or in its first Record — is closed with
1008 and never becomes an agent. No broker is involved: the controller's WebSocket server runs on
its own (its MQTT side is never started).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from executors.usp import records
from executors.usp.controller import UspController
from executors.usp.websocket import SUBPROTOCOL, WsSettings, cert_endpoint_ids

CONTROLLER = "proto::controller-cert-test"


def _pki(d: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1, and client certificates naming ``os::A`` or nothing."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = key()
    ca = (x509.CertificateBuilder().subject_name(name("usp test ca")).issuer_name(name("usp test ca"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    out = {"ca": d / "ca.pem"}
    out["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def leaf(tag: str, sans: list[x509.GeneralName]) -> None:
        k = key()
        b = (x509.CertificateBuilder().subject_name(name(tag)).issuer_name(ca.subject).public_key(k.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
             .not_valid_after(now + dt.timedelta(days=1)))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        out[tag] = d / f"{tag}.pem"
        out[tag + "_key"] = d / f"{tag}.key"
        out[tag].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out[tag + "_key"].write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))

    leaf("server", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    leaf("agent_a", [x509.UniformResourceIdentifier("urn:bbf:usp:id:os::A")])
    leaf("anyone", [])
    return out


def _ctx(pki: dict[str, Path], who: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    ctx.load_cert_chain(str(pki[who]), str(pki[who + "_key"]))
    return ctx


def test_cert_endpoint_ids() -> None:
    cert = {"subjectAltName": (("URI", "urn:bbf:usp:id:os::A"), ("DNS", "x"), ("URI", "https://example"))}
    assert cert_endpoint_ids(cert) == {"os::A"}
    assert cert_endpoint_ids({}) == frozenset() and cert_endpoint_ids(None) == frozenset()


def test_a_certificate_naming_an_endpoint_binds_the_connection(tmp_path: Path) -> None:
    pki = _pki(tmp_path)

    async def run() -> dict[str, Any]:
        ctl = UspController("mqtt://127.0.0.1:1", endpoint_id=CONTROLLER)
        server = await ctl.serve_websocket(WsSettings("127.0.0.1", 0, cert_file=str(pki["server"]),
                                                      key_file=str(pki["server_key"]),
                                                      client_ca_file=str(pki["ca"])))
        out: dict[str, Any] = {}

        async def attempt(tag: str, who: str, eid: str | None, sender: str) -> None:
            url = server.url + (f"?eid={eid}" if eid else "")
            async with connect(url, subprotocols=[SUBPROTOCOL], compression=None, ssl=_ctx(pki, who)) as ws:
                try:
                    await ws.send(records.websocket_connect_record(to_id=CONTROLLER, from_id=sender))
                    await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    out[tag] = "open"
                except ConnectionClosed as exc:
                    out[tag] = exc.rcvd.code if exc.rcvd else "lost"

        await attempt("own", "agent_a", "os::A", "os::A")
        await attempt("claims_other", "agent_a", "os::B", "os::B")  # in the handshake
        await attempt("records_other", "agent_a", None, "os::C")  # in its first Record
        await attempt("unbound", "anyone", "os::D", "os::D")  # a certificate naming none binds nothing
        out["agents"] = {st.endpoint_id for st in ctl.agents()}
        out["wrong_sender"] = ctl.stats.wrong_sender
        out["refused"] = server.refused
        await ctl.stop()
        return out

    out = asyncio.run(run())
    assert out["own"] == "open" and out["unbound"] == "open"
    assert out["claims_other"] == 1008 and out["records_other"] == 1008
    assert out["agents"] == {"os::A", "os::D"}
    assert out["refused"] == 1 and out["wrong_sender"] == 1
