"""A refused sign-in: its audit line (``auth.refused``) and the error the person sees.

Every refusal — a forged state, a replayed code, the provider refusing our client, a wrong issuer,
a person with no mapped group, a wrong password — is written to the audit trail with a stable
``reason`` code, and answered with a 4xx (or 503 when it is the server's configuration that is
wrong), never a 500. The detail the person sees says what to do; it never says whether a local
account name exists.
"""

from __future__ import annotations

from typing import Any

from core import audit
from core.kernel.errors import GatewardError
from core.kernel.jsontypes import JsonObject
from core.store import Store

AUTH_ACTOR = "system:auth"


class AuthRefused(GatewardError):
    """A sign-in that did not go through. ``reason`` is the audit line's code."""

    code = "auth_refused"
    http_status = 401

    def __init__(self, message: str, reason: str, status: int = 401, **extra: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.http_status = status
        self.audit_extra = extra


def record_refusal(store: Store, exc: AuthRefused, *, method: str, who: str | None = None) -> None:
    """The ``auth.refused`` audit line for ``exc`` (in its own transaction)."""
    data: JsonObject = {"method": method, "reason": exc.reason, "detail": exc.message[:300], **exc.audit_extra}
    with store.write() as s:
        audit.append(s, actor=(who or AUTH_ACTOR)[:64], action="auth.refused", data=data)
