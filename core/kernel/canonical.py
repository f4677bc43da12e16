"""Canonical JSON, the basis of every hash (proposal hashes, the audit chain, anchor MACs).

Why a module of its own: ``gateward audit verify`` recomputes every audit hash on the DB-API read
path, which must not import pydantic (``core.kernel.models``) for one ``orjson.dumps``.
``core.kernel.models.canonical_json`` is this function.
"""

from __future__ import annotations

from typing import Any

import orjson

from core.kernel.errors import Invalid


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8. The basis of every hash.

    Content that has no canonical form — an integer outside 64 bits, a string with a lone UTF-16
    surrogate — is bad input (``Invalid``, a 422), never an internal error.
    """
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise Invalid(f"the content cannot be encoded as canonical JSON: {exc}") from exc
