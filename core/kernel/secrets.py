"""Secret parameters: which paths hold one, and how to show them without showing them.

Every place a parameter value leaves the process (audit log, API, previews, policy input,
LLM prompts, logs) passes it through here.  The data model says which parameters are secrets
(``hidden``/``secured`` in the BBF XML: Wi-Fi passphrases and keys, ACS and user passwords);
vendor parameters (``X_ACME_WifiPassword``) and paths the models do not know are judged by
name, erring towards masking: a masked non-secret costs a little readability, a leaked
passphrase cannot be taken back.

Policy still needs to judge passphrase strength; :func:`secret_facts` hands it the length, a
hash of the lowercase form (for a known-weak-passphrase list) and whether an SSID is embedded,
never the passphrase itself.

An approver cannot read a secret, but must be able to tell that the one proposed is the one the
agent entered (issue 54): :func:`fingerprint` is a short keyed HMAC of it, shown to both. Keyed,
never a plain hash: eight hex digits of an unsalted sha256 would let anyone who sees them test a
list of weak passphrases offline; without the installation's key they name nothing
(``core.secret_fingerprint`` holds the key).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeVar

from core.kernel.datamodel.registry import get_registry
from core.kernel.jsontypes import Json, JsonObject

__all__ = ["FINGERPRINT_HEX", "MASK", "fingerprint", "is_secret_path", "mask_changes", "mask_params", "mask_value",
           "secret_facts"]

MASK = "********"
FINGERPRINT_HEX = 8  # 32 bits: enough to tell two values apart at a glance, too short to be an oracle
V = TypeVar("V")

# Unknown / vendor parameters: a last segment containing one of these (case-insensitive) is
# treated as a secret.  "key" is broad on purpose (PreSharedKey, WEPKey, X_…_WPAKey, ApiKey…).
_UNKNOWN_SECRET_RE = re.compile(r"password|passwd|passphrase|presharedkey|psk|wepkey|secret|key|token|"
                                r"credential", re.IGNORECASE)
# Standard string/binary parameters the BBF files leave unflagged but that do hold secrets
# (e.g. Device.Ethernet.WoL.Password, Device.Users.CheckCredentialsDiagnostics.Password,
# Device.Thread.MLE.{i}.Dataset.{i}.NetworkKey).  Narrower than the unknown-path rule so that
# e.g. a public SSH key (AuthorizedKey.{i}.Key) or a TXT record key stays readable.
_KNOWN_SECRET_RE = re.compile(r"Password|Passphrase|PreSharedKey|WEPKey|Secret|PrivateKey|NetworkKey")
_KNOWN_SECRET_TYPES = frozenset({"string", "hexBinary", "base64"})


@lru_cache(maxsize=65_536)
def is_secret_path(path: str) -> bool:
    """True when ``path`` (concrete, ``{i}``, either root) holds a secret value."""
    path = path.strip()
    if path.startswith("InternetGatewayDevice."):
        registries = [get_registry("InternetGatewayDevice.")]
    elif path.startswith("Device."):
        registries = [get_registry("Device.", "cwmp"), get_registry("Device.", "usp")]
    else:
        registries = []
    last = path.rstrip(".").rsplit(".", 1)[-1]
    known = False
    for reg in registries:
        spec = reg.find(path)
        if spec is None:
            continue
        known = True
        if spec.secret:
            return True
        if spec.type in _KNOWN_SECRET_TYPES and _KNOWN_SECRET_RE.search(spec.name):
            return True
    if known:
        return False
    # Vendor extensions (X_…) and anything the models do not know: judge by name.
    return bool(_UNKNOWN_SECRET_RE.search(last))


def mask_value(path: str, value: V) -> V | str:
    """``MASK`` for a secret path's value (``None`` stays ``None``: "no value" is not a secret)."""
    if value is None or not is_secret_path(path):
        return value
    return MASK


def mask_params(mapping: Mapping[str, Json]) -> JsonObject:
    """Copy of ``{path: value}`` with secret values masked.

    A value may be a scalar or a dict carrying the value under ``"value"`` (e.g. a read result
    ``{"value": …, "type": …}``); inside such a dict every value-like key is masked.
    """
    out: JsonObject = {}
    for path, value in mapping.items():
        if not isinstance(path, str) or not is_secret_path(path):
            out[path] = value
        elif isinstance(value, Mapping):
            inner = dict(value)
            for key in ("value", "before", "after", "old", "new", "previous", "current"):
                if key in inner and inner[key] is not None:
                    inner[key] = MASK
            out[path] = inner
        else:
            out[path] = MASK if value is not None else None
    return out


def mask_changes(changes: Iterable[Any]) -> list[JsonObject]:
    """``core.kernel.models.Change`` objects (or dicts with ``path``/``value``) as dicts, secrets masked."""
    out: list[JsonObject] = []
    for change in changes:
        if isinstance(change, Mapping):
            item = dict(change)
        elif hasattr(change, "model_dump"):
            item = change.model_dump(mode="json")
        else:
            raise TypeError(f"cannot mask {type(change).__name__}: expected a Change or a dict")
        path = item.get("path")
        if isinstance(path, str) and is_secret_path(path):
            for key in ("value", "before", "after"):
                if item.get(key) is not None:
                    item[key] = MASK
        out.append(item)
    return out


def secret_facts(passphrase: str, ssids: list[str]) -> JsonObject:
    """What policy may know about a passphrase: its length, the sha256 of its lowercase form
    (to match a list of common passphrases without holding them in clear) and whether it
    contains one of the device's SSIDs (case-insensitive)."""
    lower = passphrase.lower()
    return {
        "length": len(passphrase),
        "sha256_lower": hashlib.sha256(lower.encode("utf-8")).hexdigest(),
        "contains_ssid": any(s and s.lower() in lower for s in ssids),
    }


def fingerprint(value: str, key: bytes) -> str:
    """The first :data:`FINGERPRINT_HEX` hex digits of HMAC-SHA256(``key``, ``value``): the same
    value under the same key gives the same fingerprint; without the key it says nothing."""
    if len(key) < 16:
        raise ValueError("a fingerprint key needs at least 16 bytes")
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:FINGERPRINT_HEX]
