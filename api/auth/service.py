"""What the app holds for sign-in: the settings, the provider flow, the cookies it sets.

The session cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (not sent on cross-site
sub-requests or POSTs), ``Path=/``, and ``Secure`` with the ``__Host-`` prefix when
``GATEWARD_PUBLIC_URL`` is https (so no plain-http page or sibling domain can set or read it). It
has no ``Max-Age``: it ends with the browser or with the server-side session, whichever is first.
The login binding cookie lives ten minutes on ``/auth`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from api.auth.membership import Membership
from api.auth.oidc import LOGIN_TTL, OidcFlow
from api.auth.passwords import Lockout
from api.auth.sessions import SessionLimits
from api.auth.settings import AuthSettings
from core.store import Store

SESSION_COOKIE = "gateward_session"
BINDING_COOKIE = "gateward_login"


@dataclass
class AuthState:
    settings: AuthSettings
    store: Store
    flow: OidcFlow | None = field(default=None)
    membership: Membership | None = field(default=None)  # re-checks the provider's people's groups

    @classmethod
    def build(cls, store: Store, settings: AuthSettings) -> AuthState:
        flow = None if settings.oidc is None else OidcFlow(store, settings.oidc, settings.redirect_uri)
        return cls(settings=settings, store=store, flow=flow,
                   membership=None if flow is None else Membership(store, flow))

    @property
    def limits(self) -> SessionLimits:
        return SessionLimits(idle=timedelta(minutes=self.settings.session_idle_minutes),
                             absolute=timedelta(hours=self.settings.session_max_hours),
                             retention=timedelta(days=self.settings.session_retention_days))

    @property
    def lockout(self) -> Lockout:
        return Lockout(failures=self.settings.password_lockout_failures,
                       period=timedelta(minutes=self.settings.password_lockout_minutes))

    @property
    def session_cookie(self) -> str:
        return ("__Host-" if self.settings.secure_cookies else "") + SESSION_COOKIE

    def session_token(self, request: Request) -> str | None:
        return request.cookies.get(self.session_cookie) or None

    def set_session(self, response: Response, token: str) -> None:
        response.set_cookie(self.session_cookie, token, httponly=True, samesite="lax", path="/",
                            secure=self.settings.secure_cookies)

    def clear_session_header(self) -> str:
        """A ``Set-Cookie`` value that removes the session cookie (for error answers)."""
        secure = "; Secure" if self.settings.secure_cookies else ""
        return f"{self.session_cookie}=; Max-Age=0; Path=/; HttpOnly; SameSite=lax{secure}"

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(self.session_cookie, path="/", httponly=True, samesite="lax",
                               secure=self.settings.secure_cookies)

    def set_binding(self, response: Response, binding: str) -> None:
        response.set_cookie(BINDING_COOKIE, binding, max_age=int(LOGIN_TTL.total_seconds()), httponly=True,
                            samesite="lax", path="/auth", secure=self.settings.secure_cookies)

    def clear_binding(self, response: Response) -> None:
        response.delete_cookie(BINDING_COOKIE, path="/auth", httponly=True, samesite="lax",
                               secure=self.settings.secure_cookies)
