"""Request dependencies: the runtime and the authenticated actor.

Auth is a bearer API token looked up (sha256) in the user directory on every request, so a
revoked token stops working at once. The :class:`Authenticator` is the seam where an OIDC/JWT
front replaces it: an implementation that verifies a JWT and maps its subject to a user row
returns the same :class:`core.models.Actor`, and nothing else in the API changes. Roles always
come from the user directory, never from the caller's claim.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.models import Actor
from core.users import TokenRejected, verify_token

bearer = HTTPBearer(auto_error=False, description="API token from `gateward users token NAME`")


class Authenticator(Protocol):
    """Turns a bearer credential into an actor, or ``None`` when it is not valid (or raises
    :class:`core.users.TokenRejected` to say why, e.g. "token expired")."""

    def __call__(self, credential: str) -> Actor | None: ...


class TokenAuthenticator:
    """API tokens issued by ``gateward users token`` (hashed at rest in ``api_tokens``)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __call__(self, credential: str) -> Actor | None:
        if not credential or len(credential) > 512:
            return None
        return verify_token(self.store, credential)


def runtime(request: Request) -> Any:
    return request.app.state.runtime


async def credential(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The bearer credential, or 401 when there is none. Runs on the event loop (no database)."""
    if creds is None or not creds.credentials:
        raise HTTPException(401, "missing API token: send Authorization: Bearer <token> "
                                 "(get one with `gateward users token NAME`)",
                            headers={"WWW-Authenticate": "Bearer"})
    return creds.credentials


def authenticate(request: Request, token: str) -> Actor:
    """The actor behind ``token`` (a database read: call it off the event loop), or 401 saying why."""
    auth: Authenticator = request.app.state.authenticator
    try:
        actor = auth(token)
    except TokenRejected as exc:
        raise HTTPException(401, exc.message, headers={"WWW-Authenticate": "Bearer"}) from exc
    if actor is None:
        raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
    request.state.actor = actor.id
    return actor


def current_actor(request: Request, token: Annotated[str, Depends(credential)]) -> Actor:
    return authenticate(request, token)


ActorDep = Annotated[Actor, Depends(current_actor)]
# For hot routes: the credential only, checked with :func:`authenticate` in the same worker-thread
# hop as the route's own database work (one hop instead of two; issue 15).
CredentialDep = Annotated[str, Depends(credential)]
RuntimeDep = Annotated[Any, Depends(runtime)]


def has_any_role(actor: Actor, *roles: str) -> bool:
    """For read-side visibility only (whose chat threads one may read). Write permissions,
    approvals and separation of duties are decided by ``core.lifecycle``, never here."""
    return any(r in actor.roles for r in roles)
