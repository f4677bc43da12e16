"""Errors the lifecycle and the domain raise, each with a stable ``code`` the API maps to HTTP.

The message always names the problem and, where there is one, what to do next.
"""

from __future__ import annotations

from typing import Any


class GatewardError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotFound(GatewardError):
    code = "not_found"
    http_status = 404


class Invalid(GatewardError):
    """Bad input: unknown path, wrong type, out of range, malformed request."""

    code = "invalid"
    http_status = 422


class Forbidden(GatewardError):
    """Role or separation-of-duties violation."""

    code = "forbidden"
    http_status = 403


class Conflict(GatewardError):
    """The proposal is not in a state that allows this, or it changed under the caller."""

    code = "conflict"
    http_status = 409


class Locked(Conflict):
    code = "locked"


class DeviceUnavailable(Conflict):
    """The device is offline or unreachable; nothing was written and the step can be retried."""

    code = "device_unavailable"


class PolicyDenied(GatewardError):
    code = "policy_denied"
    http_status = 403
