"""Scrub read models before they leave the process (defence in depth for secrets).

The lifecycle masks secret values in previews and the audit trail, and the policy input
carries a passphrase only as ``secret_facts``: its length, whether it contains an SSID, and the
sha256 of its lowercase form (to match a list of common passphrases). That hash is fine inside
the policy engine and must not be served: an unsalted hash of a weak passphrase is one
dictionary lookup away from the passphrase. So every response that carries stored documents
(policy input, evidence, backups, previews) passes through :func:`scrub`, which masks

* ``secret_facts`` hashes,
* ``value`` / ``before`` / ``after`` next to a ``path`` that holds a secret,
* values keyed by a secret parameter path (``{"Device.WiFi.…KeyPassphrase": …}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import overload

from core.kernel.jsontypes import Json, JsonObject
from core.kernel.secrets import MASK, is_secret_path

_HASH_KEYS = frozenset({"sha256_lower", "sha256", "hash_lower"})
_VALUE_KEYS = ("value", "before", "after", "old", "new", "expected", "got", "previous", "current")


def _is_param_path(k: str) -> bool:
    return k.startswith("Device.") or k.startswith("InternetGatewayDevice.")


def _mask_inner(v: Json) -> Json:
    if isinstance(v, dict):
        return {k: (MASK if k in _VALUE_KEYS and x not in (None, "") else _scrub(x, k)) for k, x in v.items()}
    return MASK if v not in (None, "") else v


def _scrub(obj: Json, key: str = "") -> Json:
    if isinstance(obj, dict):
        out: JsonObject = {}
        for k, v in obj.items():
            if key == "secret_facts" and k in _HASH_KEYS:
                out[k] = MASK
            elif isinstance(k, str) and _is_param_path(k) and is_secret_path(k):
                out[k] = _mask_inner(v)
            else:
                out[k] = _scrub(v, k)
        path = out.get("path")
        if isinstance(path, str) and _is_param_path(path) and is_secret_path(path):
            for vk in _VALUE_KEYS:
                if out.get(vk) not in (None, ""):
                    out[vk] = MASK
        return out
    if isinstance(obj, list):
        return [_scrub(v, key) for v in obj]
    return obj


@overload
def scrub(doc: Mapping[str, Json]) -> JsonObject: ...
@overload
def scrub(doc: Json) -> Json: ...
def scrub(doc: Json) -> Json:
    """A copy of ``doc`` with secret values and passphrase hashes masked (an object stays an object)."""
    return _scrub(doc)


def scrub_policy_input(doc: Mapping[str, Json]) -> JsonObject:
    return scrub(doc)
