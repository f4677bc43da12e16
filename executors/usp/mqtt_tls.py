"""MQTT over TLS and broker credentials: the SSL context, the password, and errors one can act on.

Why the stdlib ``ssl`` module around paho's socket: paho-mqtt wraps the TCP socket it opens in an
``ssl.SSLContext`` we hand it (``tls_set_context``) and does the handshake in ``connect`` — the same
blocking moment as the TCP connect — after which :class:`~executors.usp.mqtt.MqttLink` reads and
writes the ``SSLSocket`` as it does a plain one (its fast PUBLISH path is unchanged). What this
module adds is the configuration and the words:

* :class:`MqttSecurity` — the CA to trust (``GATEWARD_MQTT_CA_FILE``; else the system's), a client
  certificate and key for mutual TLS (``GATEWARD_MQTT_CERT_FILE``, ``GATEWARD_MQTT_KEY_FILE``), the
  user name and password (``GATEWARD_MQTT_USERNAME``; ``GATEWARD_MQTT_PASSWORD``, or better its
  ``_FILE`` form, which :mod:`core.kernel.secret_env` resolves) and hostname verification (on unless
  ``GATEWARD_MQTT_TLS_CHECK_HOSTNAME=false``).
  TLS itself is chosen by the URL: ``mqtts://[user[:password]@]host:port`` (default port 8883).
* :func:`explain_tls` and :func:`explain_refusal` — an ``ssl`` error or a CONNACK reason code turned
  into a sentence that names the cause and the setting that fixes it (a wrong password, a CA this
  client does not trust, an expired certificate, TLS spoken to a plaintext port and the reverse).
* :func:`redact_url` — the URL as logs, errors and ``gateward status`` show it: never a password.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from core.kernel.config import Settings

TLS_SCHEMES = frozenset({"mqtts", "ssl", "tls"})
PLAIN_SCHEMES = frozenset({"mqtt", "tcp"})


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (the user name stays: it says who we are)."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class MqttSecurity:
    """How to authenticate to the broker and whom to trust (see the module docstring)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    check_hostname: bool = True
    _context: list[ssl.SSLContext] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> MqttSecurity:
        """The ``GATEWARD_MQTT_*`` settings (``core.kernel.config``); without ``settings``, read from the
        environment now — not :func:`core.kernel.config.get_settings`, whose cached copy a link must
        neither create early nor depend on (a link is made long after start-up in tests and tools).
        The password may come from ``GATEWARD_MQTT_PASSWORD_FILE`` (:mod:`core.kernel.secret_env`; a
        process that has not resolved it yet reads the file here, leaving the environment alone)."""
        from core.kernel.secret_env import read_secret_file

        if settings is None:
            from core.kernel.config import Settings

            settings = Settings()
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password is not None else None
        path = os.environ.get("GATEWARD_MQTT_PASSWORD_FILE")
        if password is None and path:
            password = read_secret_file("GATEWARD_MQTT_PASSWORD", path)
        return cls(ca_file=settings.mqtt_ca_file, cert_file=settings.mqtt_cert_file,
                   key_file=settings.mqtt_key_file, username=settings.mqtt_username, password=password,
                   check_hostname=settings.mqtt_tls_check_hostname)

    def context(self) -> ssl.SSLContext:
        """The client's SSL context (built once): the CA file or the system's CAs, the client
        certificate if one is set, hostname verification as configured. Raises ``ValueError``
        naming the setting whose file is missing or is not what it should be."""
        if self._context:
            return self._context[0]
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("GATEWARD_MQTT_KEY_FILE is set without GATEWARD_MQTT_CERT_FILE: set both for "
                             "mutual TLS (or neither)")
        try:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                             cafile=str(self.ca_file) if self.ca_file else None)
        except FileNotFoundError:
            raise ValueError(f"GATEWARD_MQTT_CA_FILE {self.ca_file}: no such file") from None
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"GATEWARD_MQTT_CA_FILE {self.ca_file} holds no PEM certificate we can read "
                             f"({exc})") from None
        ctx.check_hostname = self.check_hostname
        if self.cert_file is not None:
            for name, path in (("GATEWARD_MQTT_CERT_FILE", self.cert_file), ("GATEWARD_MQTT_KEY_FILE", self.key_file)):
                if path is not None and not Path(path).is_file():
                    raise ValueError(f"{name} {path}: no such file")
            try:
                ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
            except ssl.SSLError as exc:
                raise ValueError(
                    f"GATEWARD_MQTT_CERT_FILE {self.cert_file} / GATEWARD_MQTT_KEY_FILE {self.key_file}: not a "
                    f"PEM certificate and its private key, or they do not match ({exc.reason or exc})") from None
        self._context.append(ctx)
        return ctx

    def describe(self) -> str:
        """What is set, never a secret (``gateward status``, logs)."""
        parts = [f"CA {self.ca_file}" if self.ca_file else "system CAs"]
        if self.cert_file:
            parts.append(f"client certificate {self.cert_file}")
        if self.password is not None:
            parts.append("password set")
        if not self.check_hostname:
            parts.append("hostname NOT verified")
        return ", ".join(parts)


# OpenSSL verify codes (X509_V_ERR_*) that mean "signed by a CA we do not trust"
_UNTRUSTED = frozenset({2, 18, 19, 20, 21, 27})
_EXPIRED, _NOT_YET_VALID, _HOSTNAME = 10, 9, 62


def explain_tls(exc: BaseException, where: str, *, during_handshake: bool) -> str:
    """A sentence for an ``ssl`` (or socket) error on a TLS connection to ``where`` (host:port)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code, message = exc.verify_code, exc.verify_message
        if code in _UNTRUSTED:  # the chain ends in no CA we trust: whether the broker sent its root or not
            said = "" if code == 20 else f" (OpenSSL: {message})"
            return (f"TLS to the MQTT broker at {where}: certificate verify failed: unable to get local issuer "
                    f"certificate{said} — the broker's certificate is not signed by a CA this client trusts; "
                    "set GATEWARD_MQTT_CA_FILE to the CA certificate that signed it")
        if code == _EXPIRED:
            return (f"TLS to the MQTT broker at {where}: certificate verify failed: the broker's certificate has "
                    "expired; renew it on the broker")
        if code == _NOT_YET_VALID:
            return (f"TLS to the MQTT broker at {where}: certificate verify failed: the broker's certificate is "
                    "not valid yet (check both clocks)")
        if code == _HOSTNAME:
            return (f"TLS to the MQTT broker at {where}: certificate verify failed: {message} — connect by a name "
                    "the certificate carries (or, knowingly, GATEWARD_MQTT_TLS_CHECK_HOSTNAME=false)")
        return f"TLS to the MQTT broker at {where}: certificate verify failed: {message}"
    reason = (getattr(exc, "reason", None) or "").upper()
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
        return (f"the MQTT broker at {where} requires a client certificate (mutual TLS): set "
                "GATEWARD_MQTT_CERT_FILE and GATEWARD_MQTT_KEY_FILE")
    if reason == "SSLV3_ALERT_CERTIFICATE_EXPIRED":
        return (f"the MQTT broker at {where} refused our client certificate: it has expired "
                "(GATEWARD_MQTT_CERT_FILE); issue a new one")
    if reason in ("TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_UNKNOWN"):
        return (f"the MQTT broker at {where} refused our client certificate ({reason.lower()}): it is not signed "
                "by a CA the broker trusts (GATEWARD_MQTT_CERT_FILE)")
    if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"):
        return (f"the MQTT broker at {where} does not speak TLS on that port (it answered in plaintext): "
                "use mqtt:// for a plaintext port, or the broker's TLS port")
    if during_handshake and isinstance(exc, (ConnectionResetError, ssl.SSLEOFError, ConnectionAbortedError,
                                             BrokenPipeError)):
        return (f"the MQTT broker at {where} closed the connection during the TLS handshake: that port looks "
                "like a plaintext MQTT listener — use mqtt:// for it, or the broker's TLS port")
    return f"TLS to the MQTT broker at {where} failed: {exc}"


def explain_closed_plaintext(where: str) -> str:
    """The broker hung up on a plaintext CONNECT before answering it."""
    return (f"the MQTT broker at {where} closed the connection before answering CONNECT: if that port is a TLS "
            "listener, use mqtts:// (and GATEWARD_MQTT_CA_FILE)")


# CONNACK reason codes: MQTT 5 (>= 0x80) and MQTT 3.1.1 return codes (1-5)
_REFUSALS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x83: "implementation specific error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8C: "bad authentication method",
    0x90: "topic name invalid",
    0x95: "packet too large",
    0x97: "quota exceeded",
    0x99: "payload format invalid",
    0x9A: "retain not supported",
    0x9B: "QoS not supported",
    0x9C: "use another server",
    0x9D: "server moved",
    0x9F: "connection rate exceeded",
}


def explain_refusal(code: int, where: str, *, username: str | None, has_password: bool) -> str:
    """A sentence for a CONNACK that refused us (``code``: the reason or return code).

    Mosquitto answers a wrong password with "not authorized" (0x87; 3.1.1: 5), not "bad user name
    or password" (0x86; 3.1.1: 4): when we sent credentials, either means they were rejected."""
    what = _REFUSALS.get(code, f"reason code {code}")
    sent = username is not None or has_password
    if what == "bad user name or password" or (what == "not authorized" and sent):
        said = "" if what == "bad user name or password" else f" (the broker said: {what}, 0x{code:02x})"
        who = f"user {username!r}" if username else "no user name"
        pw = "a password" if has_password else "no password"
        return (f"broker refused: bad user name or password{said} — we sent {who} and {pw} to {where}: check the "
                "user (in the URL, mqtts://USER@host:port, or GATEWARD_MQTT_USERNAME) and the password "
                "(GATEWARD_MQTT_PASSWORD_FILE)")
    if what == "not authorized":
        return (f"broker refused: not authorized — {where} admits no anonymous clients: give a user name "
                "(GATEWARD_MQTT_USERNAME or mqtts://USER@host:port) and GATEWARD_MQTT_PASSWORD_FILE")
    return f"broker refused: {what} (0x{code:02x}) — {where}"
