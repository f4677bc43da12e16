"""CSRF protection for cookie-authenticated writes: a per-session token in a request header.

Why a header: a browser attaches the session cookie to any request, including one a foreign page
makes it send, but no foreign page can set a custom header on a cross-site request without a CORS
preflight, which Gateward never grants. The token is derived from the session token (a keyed
one-way function of it), so nothing more is stored and a replica needs no shared secret; it is
handed to the console by ``GET /auth/session`` and sent back as ``X-CSRF-Token`` on every request
that is not GET/HEAD/OPTIONS. ``SameSite=Lax`` on the cookie is a second layer, not the only one.
Bearer-token requests need no CSRF token: a browser never attaches a bearer token on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LABEL = b"gateward csrf v1"


def csrf_token(session_token: str) -> str:
    """The CSRF token that goes with a session token."""
    mac = hmac.new(session_token.encode(), _LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def csrf_problem(method: str, header: str | None, session_token: str) -> str | None:
    """Why a cookie-authenticated request must be refused for CSRF, or ``None`` when it may go on."""
    if method.upper() in SAFE_METHODS:
        return None
    if not header:
        return ("missing X-CSRF-Token header: a write with the session cookie must carry the token "
                "from GET /auth/session")
    if not hmac.compare_digest(header.encode(), csrf_token(session_token).encode()):
        return "X-CSRF-Token does not match this session: reload the console"
    return None
