"""The installation's key for secret fingerprints (``core.kernel.secrets.fingerprint``).

Why derived from the audit key: it is the one per-installation secret every process that writes
(API, CLI, worker) already holds and the database does not (``core.audit_anchor``); a fingerprint
key beside the proposals it fingerprints would let anyone who reads the table test guesses. The
derivation (HMAC with a label of its own) keeps the two uses apart: a fingerprint never reveals
anything about the audit MACs, nor they about it. Rotating the audit key changes every
fingerprint; they are shown, never stored, so nothing stored goes stale.
"""

from __future__ import annotations

import hashlib
import hmac

from core.audit_anchor import load_key
from core.kernel.secrets import fingerprint

__all__ = ["secret_fingerprint"]

_LABEL = b"gateward:secret-fingerprint:v1"


def _key() -> bytes:
    audit = load_key(create=True)
    assert audit is not None  # create=True makes the key file when there is none
    return hmac.new(audit.secret, _LABEL, hashlib.sha256).digest()


def secret_fingerprint(value: str) -> str:
    """The short fingerprint of ``value`` on this installation (eight hex digits)."""
    return fingerprint(value, _key())
