"""A private Mosquitto with TLS listeners, a password file and client certificates, for tests and benchmarks.

Why a helper of its own: TLS errors can only be tested against a broker whose certificates the test
controls — a CA, a server certificate for ``127.0.0.1`` and ``localhost``, and client certificates
that are valid, expired or signed by another CA — made here with the ``cryptography`` package, never
checked in. :class:`MqttTlsBroker` writes them and a ``mosquitto.conf`` to a temporary directory and
starts ``/usr/sbin/mosquitto`` with three listeners on free loopback ports
(``per_listener_settings true``, so each has its own authentication):

* ``mtls_port``: TLS, ``require_certificate true`` (a client certificate signed by the CA), and a
  user name and password from the password file (``allow_anonymous false``);
* ``tls_port``: TLS, no client certificate asked for, the same password file (``allow_anonymous false``);
* ``plain_port``: plaintext MQTT, anonymous (what a TLS client meets on a plaintext port);
* ``expired_port``: TLS with a server certificate that expired yesterday, anonymous.

The password file is made with ``mosquitto_passwd -b`` (the broker's own hashing). Everything else is
the configuration :mod:`testing.mqtt_broker` runs Mosquitto with (``set_tcp_nodelay true``, deep
queues), so a benchmark over TLS measures what the plaintext one does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from testing.mqtt_broker import find_mosquitto, free_port, reachable

USER = "gateward"
PASSWORD = "s3cret-Pa55word"  # test material only: the broker is private to one test run


def find_mosquitto_passwd() -> str | None:
    for path in ("/usr/bin/mosquitto_passwd", "/usr/local/bin/mosquitto_passwd", "/opt/homebrew/bin/mosquitto_passwd"):
        if os.access(path, os.X_OK):
            return path
    return shutil.which("mosquitto_passwd")


@dataclass(frozen=True)
class TlsFiles:
    """Where the certificates and keys were written (PEM)."""

    ca: Path  # the CA the broker's certificate and the valid client certificates are signed by
    server_cert: Path
    server_key: Path
    client_cert: Path  # valid, signed by ``ca``
    client_key: Path
    expired_cert: Path  # signed by ``ca``, expired yesterday
    expired_key: Path
    other_ca: Path  # a CA the broker does not trust
    other_cert: Path  # signed by ``other_ca``
    other_key: Path
    expired_server_cert: Path  # the broker's certificate on ``expired_port``: signed by ``ca``, expired
    expired_server_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A CA, a server certificate (SAN 127.0.0.1 and localhost) and three client certificates."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Gateward tests"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(path: Path, k: ec.EllipticCurvePrivateKey) -> Path:
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        path.chmod(0o600)
        return path

    def write_cert(path: Path, cert: x509.Certificate) -> Path:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    def ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn)).public_key(k.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(k.public_key()), critical=False)
                .sign(k, hashes.SHA256()))
        return cert, k

    def leaf(cn: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], *, server: bool,
             expired: bool = False) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        start, end = ((now - dt.timedelta(days=10), now - dt.timedelta(days=1)) if expired
                      else (now - dt.timedelta(days=1), now + dt.timedelta(days=30)))
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer[0].subject)
             .public_key(k.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(start).not_valid_after(end)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                   else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()),
                            critical=False))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return b.sign(issuer[1], hashes.SHA256()), k

    d = directory
    root = ca("Gateward test CA")
    other = ca("Some other CA")
    server = leaf("localhost", root, server=True)
    client = leaf("gateward-controller", root, server=False)
    expired = leaf("gateward-expired", root, server=False, expired=True)
    foreign = leaf("gateward-foreign", other, server=False)
    stale = leaf("localhost", root, server=True, expired=True)
    return TlsFiles(
        ca=write_cert(d / "ca.pem", root[0]),
        server_cert=write_cert(d / "server.pem", server[0]), server_key=write_key(d / "server.key", server[1]),
        client_cert=write_cert(d / "client.pem", client[0]), client_key=write_key(d / "client.key", client[1]),
        expired_cert=write_cert(d / "expired.pem", expired[0]), expired_key=write_key(d / "expired.key", expired[1]),
        other_ca=write_cert(d / "other-ca.pem", other[0]),
        other_cert=write_cert(d / "other.pem", foreign[0]), other_key=write_key(d / "other.key", foreign[1]),
        expired_server_cert=write_cert(d / "server-expired.pem", stale[0]),
        expired_server_key=write_key(d / "server-expired.key", stale[1]),
    )


def tls_config(files: TlsFiles, passwd: Path, *, mtls_port: int, tls_port: int, plain_port: int,
               expired_port: int, log_file: str) -> str:
    """The ``mosquitto.conf``: three listeners, each with its own authentication."""
    tls = [f"cafile {files.ca}", f"certfile {files.server_cert}", f"keyfile {files.server_key}"]
    lines = [
        "per_listener_settings true",
        "persistence false",
        "set_tcp_nodelay true",
        "max_queued_messages 1000000",
        "max_queued_bytes 0",
        "max_inflight_messages 0",
        "max_connections -1",
        "max_keepalive 65535",
        "sys_interval 0",
        "user root" if os.geteuid() == 0 else "",  # root: keep the rights to read the files in the tmp dir
        f"log_dest file {log_file}", "log_type error", "log_type warning", "log_type notice",
        "",
        f"listener {mtls_port} 127.0.0.1", *tls, "require_certificate true",
        f"password_file {passwd}", "allow_anonymous false",
        "",
        f"listener {tls_port} 127.0.0.1", *tls, "require_certificate false",
        f"password_file {passwd}", "allow_anonymous false",
        "",
        f"listener {plain_port} 127.0.0.1", "allow_anonymous true",
        "",
        f"listener {expired_port} 127.0.0.1", f"cafile {files.ca}", f"certfile {files.expired_server_cert}",
        f"keyfile {files.expired_server_key}", "allow_anonymous true",
    ]
    return "\n".join(lines) + "\n"


class MqttTlsBroker:
    """Mosquitto with the three listeners above, for a ``with`` block (or ``start``/``stop``)."""

    def __init__(self, *, user: str = USER, password: str = PASSWORD) -> None:
        self.binary = find_mosquitto()
        self.passwd_tool = find_mosquitto_passwd()
        if self.binary is None or self.passwd_tool is None:
            raise RuntimeError("no mosquitto / mosquitto_passwd binary found (apt-get install mosquitto)")
        self.user = user
        self.password = password
        ports: set[int] = set()
        while len(ports) < 4:
            ports.add(free_port())
        self.mtls_port, self.tls_port, self.plain_port, self.expired_port = sorted(ports)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.dir = Path()
        self.files: TlsFiles | None = None

    @property
    def tls(self) -> TlsFiles:
        assert self.files is not None, "start() the broker first"
        return self.files

    @property
    def password_file(self) -> Path:
        """A file holding the password (what ``GATEWARD_MQTT_PASSWORD_FILE`` names)."""
        return self.dir / "password.txt"

    def url(self, which: str = "mtls", *, host: str = "127.0.0.1", user: str | None = None,
            password: str | None = None) -> str:
        """``mqtts://`` for the TLS listeners (``mtls``, ``tls``, ``expired``), ``mqtt://`` for ``plain``."""
        port = {"mtls": self.mtls_port, "tls": self.tls_port, "plain": self.plain_port,
                "expired": self.expired_port}[which]
        scheme = "mqtt" if which == "plain" else "mqtts"
        cred = ""
        if user is not None:
            cred = user + (f":{password}" if password is not None else "") + "@"
        return f"{scheme}://{cred}{host}:{port}"

    def client_env(self) -> dict[str, str]:
        """The settings a client of the ``mtls`` listener needs (``GATEWARD_MQTT_*``): the CA, the
        valid client certificate and key, the user, the password as a file."""
        f = self.tls
        return {"GATEWARD_MQTT_CA_FILE": str(f.ca), "GATEWARD_MQTT_CERT_FILE": str(f.client_cert),
                "GATEWARD_MQTT_KEY_FILE": str(f.client_key), "GATEWARD_MQTT_USERNAME": self.user,
                "GATEWARD_MQTT_PASSWORD_FILE": str(self.password_file)}

    @contextlib.contextmanager
    def client_environment(self) -> Iterator[None]:
        """:meth:`client_env` in ``os.environ`` for the ``with`` block (links made in it, and child
        processes started in it, connect with them), then the environment as it was."""
        saved = {k: os.environ.get(k) for k in (*self.client_env(), "GATEWARD_MQTT_PASSWORD")}
        os.environ.update(self.client_env())
        os.environ.pop("GATEWARD_MQTT_PASSWORD", None)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) Mosquitto has used so far (as :meth:`MqttBroker.cpu_seconds`)."""
        if self._proc is None:
            return None
        try:
            with open(f"/proc/{self._proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def description(self) -> str:
        return (f"mosquitto ({self.binary}) with TLS on 127.0.0.1:{self.mtls_port} (client certificate + password) "
                f"and :{self.tls_port} (password), set_tcp_nodelay true")

    def start(self, timeout: float = 10.0) -> MqttTlsBroker:
        assert self.binary is not None and self.passwd_tool is not None
        self._tmp = tempfile.TemporaryDirectory(prefix="gw-mosquitto-tls-")
        self.dir = Path(self._tmp.name)
        self.files = make_tls_files(self.dir)
        passwd = self.dir / "passwd"
        passwd.touch(mode=0o600)
        subprocess.run([self.passwd_tool, "-b", str(passwd), self.user, self.password], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.password_file.write_text(self.password + "\n")
        self.password_file.chmod(0o600)
        log_file = str(self.dir / "mosquitto.log")
        conf = self.dir / "mosquitto.conf"
        conf.write_text(tls_config(self.files, passwd, mtls_port=self.mtls_port, tls_port=self.tls_port,
                                   plain_port=self.plain_port, expired_port=self.expired_port, log_file=log_file))
        self._proc = subprocess.Popen([self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        urls = [f"mqtt://127.0.0.1:{p}" for p in (self.mtls_port, self.tls_port, self.plain_port, self.expired_port)]
        while not all(reachable(u, 0.2) for u in urls):
            code = self._proc.poll()
            if code is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"mosquitto exited with code {code}: {tail}")
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"mosquitto did not listen on its TLS ports within {timeout:g}s: {tail}")
            time.sleep(0.02)
        return self

    def log_tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "mosquitto.log").read_text(errors="replace")[-chars:]
        return ""

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> MqttTlsBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
