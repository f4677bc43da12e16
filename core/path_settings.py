"""Settings that name a path, checked before anything uses them: a wrong one is one sentence.

Why: each path was first touched deep inside whatever needed it — ``GATEWARD_HOME`` pointing at a
file ended every command in a ``FileExistsError`` traceback, a missing OPA or ACS CA file in one from
``gateward run``, a missing MQTT CA file in tracebacks repeated in the log of a server that had
started anyway. :func:`check_path_settings` looks at every path setting that is set, once, at the start
of every command, and names the first wrong one: the setting, the path, what is wrong with it and what
it is for. The certificate and key files are also looked into: one that holds no PEM certificate
(or no private key) — empty, a key where the CA belongs, DER, anything else — is named at start too,
instead of in tracebacks from the thread that first builds a TLS context (the MQTT controller's
retried it four times a second). Whether a well-formed certificate is the *right* one is still
judged by the connection that uses it, as is what other files hold (an allow list that is not JSON).

Standard library only, and no ``ssl`` import: the CLI runs this before every command, including
the quick reads.
"""

from __future__ import annotations

import binascii
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from core.kernel.errors import Invalid

# Files Gateward reads: each must exist and be a readable file when the setting is set.
READ_FILES: dict[str, str] = {
    "GATEWARD_MQTT_CA_FILE": "the CA certificate(s) the MQTT broker is verified by",
    "GATEWARD_MQTT_CERT_FILE": "the MQTT client certificate",
    "GATEWARD_MQTT_KEY_FILE": "the MQTT client certificate's private key",
    "GATEWARD_OPA_CA_FILE": "the CA the OPA server is verified by",
    "GATEWARD_GENIEACS_CA_FILE": "the CA the GenieACS NBI is verified by",
    "GATEWARD_GENIEACS_CLIENT_CERT": "the client certificate Gateward shows the GenieACS NBI",
    "GATEWARD_GENIEACS_CLIENT_KEY": "the GenieACS client certificate's private key",
    "GATEWARD_USP_WS_CERT_FILE": "the USP WebSocket certificate",
    "GATEWARD_USP_WS_KEY_FILE": "the USP WebSocket certificate's private key",
    "GATEWARD_USP_WS_CA_FILE": "the CA USP WebSocket agents are verified by",
    "GATEWARD_USP_WS_CLIENT_CA_FILE": "the CA USP WebSocket agents' client certificates are verified by",
    "GATEWARD_ONBOARDING_FILE": "the onboarding allow list",
    "GATEWARD_OIDC_CLIENT_SECRET_FILE": "the OpenID Connect client secret",
}
# Of those, the PEM files: certificates (a CA bundle, or a certificate — possibly with its key) …
CERTIFICATE_FILES = frozenset({
    "GATEWARD_MQTT_CA_FILE", "GATEWARD_MQTT_CERT_FILE", "GATEWARD_OPA_CA_FILE", "GATEWARD_GENIEACS_CA_FILE",
    "GATEWARD_GENIEACS_CLIENT_CERT", "GATEWARD_USP_WS_CERT_FILE", "GATEWARD_USP_WS_CA_FILE",
    "GATEWARD_USP_WS_CLIENT_CA_FILE",
})
# … and private keys (possibly beside their certificate).
KEY_FILES = frozenset({"GATEWARD_MQTT_KEY_FILE", "GATEWARD_GENIEACS_CLIENT_KEY", "GATEWARD_USP_WS_KEY_FILE"})
PEM_READ_LIMIT = 16 << 20  # a CA bundle is ~200 KB; more than this is no PEM file anyone meant
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
# Files Gateward writes (created on first use, with their directory): a directory may not stand in
# the way, nor a file where a directory must be.
WRITTEN_FILES: dict[str, str] = {
    "GATEWARD_AUDIT_KEY_FILE": "the audit key, created on the first audited change",
    "GATEWARD_AUDIT_ANCHOR_FILE": "the audit anchors, appended to as the trail grows",
}


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (what will decide whether it can be created)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def directory_problem(name: str, value: str, what: str) -> str | None:
    """Why ``value`` cannot be (or become) the directory ``name`` names, or ``None``."""
    path = Path(value)
    if path.exists():
        if not path.is_dir():
            return f"{name}={value} is a file, not a directory ({what}): point it at a directory"
        if not os.access(path, os.W_OK | os.X_OK):
            return f"{name}={value} is not writable by this user ({what})"
        return None
    base = _first_existing(path)
    if not base.is_dir():
        return f"{name}={value} cannot be created: {base} is a file, not a directory ({what})"
    if not os.access(base, os.W_OK | os.X_OK):
        return f"{name}={value} cannot be created: {base} is not writable by this user ({what})"
    return None


def read_file_problem(name: str, value: str, what: str) -> str | None:
    """Why ``value`` is not a file Gateward can read for ``name``, or ``None``."""
    path = Path(value)
    if not path.exists():
        return f"{name}={value}: no such file ({what}); point it at the file, or unset it"
    if path.is_dir():
        return f"{name}={value} is a directory, not a file ({what})"
    if not os.access(path, os.R_OK):
        return f"{name}={value} cannot be read by this user ({what})"
    return None


def pem_problem(name: str, value: str, what: str) -> str | None:
    """Why the file ``name`` names holds no PEM certificate (``CERTIFICATE_FILES``) or private key
    (``KEY_FILES``) that could be read, or ``None``: read only for its shape, never kept or shown."""
    wants_key = name in KEY_FILES
    thing = "a private key" if wants_key else "a certificate"
    want = "a PEM private key (-----BEGIN … PRIVATE KEY-----)" if wants_key \
        else "PEM certificate(s) (-----BEGIN CERTIFICATE-----)"
    try:
        with open(value, "rb") as f:
            data = f.read(PEM_READ_LIMIT + 1)
    except OSError as exc:
        return f"{name}={value} cannot be read ({exc.strerror or exc}) ({what})"
    blocks = [(kind.decode(), body) for kind, body in _PEM_BLOCK.findall(data)]
    kinds = {kind for kind, _ in blocks}
    is_key: Callable[[str], bool] = (lambda k: k.endswith("PRIVATE KEY")) if wants_key \
        else (lambda k: k in ("CERTIFICATE", "TRUSTED CERTIFICATE"))
    if len(data) > PEM_READ_LIMIT:
        held = f"it is larger than {PEM_READ_LIMIT >> 20} MiB"
    elif not data.strip():
        held = "it is empty"
    elif not any(is_key(k) for k in kinds):
        held = _what_it_holds(data, kinds)
    else:
        return _broken_block(name, value, what, blocks, is_key)
    return f"{name}={value} is not {thing} ({what}): {held}; it must hold {want}"


def _what_it_holds(data: bytes, kinds: set[str]) -> str:
    """A few words for a file with no block of the kind wanted."""
    if any(k.endswith("PRIVATE KEY") for k in kinds):
        return "it holds a private key" + (" and no certificate" if "CERTIFICATE" not in kinds else "")
    if kinds:
        return "it holds only " + ", ".join(sorted(k.lower() for k in kinds)) + " block(s)"
    if data[:1] == b"\x30":  # an ASN.1 SEQUENCE: a certificate or key in binary DER
        return "it is binary DER, not PEM (convert it with openssl … -inform der -outform pem)"
    if b"-----BEGIN" in data:
        return "its PEM block is cut off (no matching -----END line)"
    return "it holds no PEM block (no -----BEGIN line)"


def _broken_block(name: str, value: str, what: str, blocks: list[tuple[str, bytes]],
                  wanted: Callable[[str], bool]) -> str | None:
    """The first wanted block whose body is not base64 of a DER structure, in one sentence."""
    for n, (kind, body) in enumerate((b for b in blocks if wanted(b[0])), start=1):
        lines = [ln.strip() for ln in body.splitlines()]
        if any(b":" in ln for ln in lines):  # a legacy encrypted key's Proc-Type/DEK-Info headers
            continue
        try:
            der = binascii.a2b_base64(b"".join(lines), strict_mode=True)
        except binascii.Error:
            der = b""
        if der[:1] != b"\x30":
            return f"{name}={value}: its {kind.lower()} block {n} is not valid base64 DER ({what}); the file is damaged"
    return None


def written_file_problem(name: str, value: str, what: str) -> str | None:
    """Why ``value`` cannot be the file Gateward writes for ``name``, or ``None``."""
    path = Path(value)
    if path.is_dir():
        return f"{name}={value} is a directory, not a file ({what})"
    if path.exists():
        return None
    return directory_problem(name, str(path.parent), f"the directory of {what}")


def sqlite_file_problem(url: str) -> str | None:
    """Why the SQLite file a ``sqlite:///PATH`` URL names cannot be opened or created, or ``None``
    (``None`` too for any other database: its server says what is wrong)."""
    if not url.startswith("sqlite:///"):
        return None
    raw = url[len("sqlite:///"):].split("?", 1)[0]
    if not raw or raw == ":memory:":
        return None
    path = Path(raw)
    if path.is_dir():
        return f"GATEWARD_DATABASE_URL names {path}, which is a directory, not a SQLite file"
    if path.exists():
        return None if os.access(path, os.R_OK | os.W_OK) else (
            f"GATEWARD_DATABASE_URL names {path}, which this user cannot read and write")
    parent = path.parent
    if not parent.exists():
        return (f"GATEWARD_DATABASE_URL names {path}, whose directory {parent} does not exist: create it, "
                "or point the URL at an existing directory")
    if not parent.is_dir():
        return f"GATEWARD_DATABASE_URL names {path}, but {parent} is a file, not a directory"
    return None


def path_problems(env: Mapping[str, str]) -> Iterator[str]:
    """Each wrong path setting in ``env``, one sentence each, in a fixed order (lazily: the start
    check stops at the first, ``gateward status`` lists them all)."""
    home = (env.get("GATEWARD_HOME") or "").strip()
    if home and (problem := directory_problem("GATEWARD_HOME", home, "where the SQLite file and the audit key live")):
        yield problem
    url = (env.get("GATEWARD_DATABASE_URL") or "").strip()
    if url and (problem := sqlite_file_problem(url)):
        yield problem
    for name, what in READ_FILES.items():
        value = (env.get(name) or "").strip()
        if not value:
            continue
        problem = read_file_problem(name, value, what)
        if problem is None and name in CERTIFICATE_FILES | KEY_FILES:
            problem = pem_problem(name, value, what)
        if problem:
            yield problem
    for name, what in WRITTEN_FILES.items():
        value = (env.get(name) or "").strip()
        if value and (problem := written_file_problem(name, value, what)):
            yield problem


def path_problem(env: Mapping[str, str]) -> str | None:
    """The first wrong path setting in ``env``, as one sentence, or ``None``."""
    return next(path_problems(env), None)


def check_path_settings(env: Mapping[str, str] | None = None) -> None:
    """:class:`~core.kernel.errors.Invalid` naming the first wrong path setting (``env``: the environment)."""
    problem = path_problem(os.environ if env is None else env)
    if problem:
        raise Invalid(problem)


def ensure_home(home: Path) -> Path:
    """Create the home directory if missing; a home that cannot be one is :class:`Invalid`, in words."""
    problem = directory_problem("GATEWARD_HOME", str(home), "where the SQLite file and the audit key live")
    if problem:
        raise Invalid(problem)
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Invalid(f"GATEWARD_HOME={home} cannot be created ({exc.strerror or exc})") from exc
    return home
