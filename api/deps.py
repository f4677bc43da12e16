"""Request dependencies: the runtime, the services built on it, and the authenticated actor.

Routers never build a service: the composition root (``gateward.runtime``) builds each one once
per runtime and the routers receive it here (``CampaignsDep``, ``RemediationDep``), so two routers
— or two apps over one runtime — share one instance and one connection pool. The API may not
import the composition root (``pyproject.toml`` ``[tool.importlinter]``), so what it needs of the
runtime is written down as the :class:`AppRuntime` protocol, which ``gateward.runtime.Runtime``
satisfies (mypy checks that where ``gateward run`` builds the app).

Auth is a bearer API token looked up (sha256) in the user directory; a successful check is cached
in the process for ``GATEWARD_TOKEN_CACHE_S`` (5 s; :class:`core.users.TokenCache`), so a hot
route pays no database read for it. A revocation in this process applies at once, one made
elsewhere within that TTL (docs/api.md "Tokens"). The :class:`Authenticator` is the seam where an OIDC/JWT
front replaces it: an implementation that verifies a JWT and maps its subject to a user row
returns the same :class:`core.models.Actor`, and nothing else in the API changes. Roles always
come from the user directory, never from the caller's claim.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from core.errors import Forbidden, GatewardError
from core.models import Actor, ActorKind
from core.services import CoreServices
from core.store import Store
from core.users import TokenRejected, cached_actor, verify_token

if TYPE_CHECKING:  # the services import late: an app without the planner still serves every other route
    from brain.contracts import ChatService
    from brain.remediation.service import Remediation
    from campaigns.service import Campaigns

bearer = HTTPBearer(auto_error=False, description="API token from `gateward users token NAME`")


class AppRuntime(CoreServices, Protocol):
    """What the API uses of the process's runtime: the core services (``core.services``) and the
    planner, campaign and remediation services, built once, on first use."""

    @property
    def campaigns(self) -> Campaigns: ...
    @property
    def remediation(self) -> Remediation: ...
    @property
    def chat(self) -> ChatService: ...


class Authenticator(Protocol):
    """Turns a bearer credential into an actor, or ``None`` when it is not valid (or raises
    :class:`core.users.TokenRejected` to say why, e.g. "token expired")."""

    def __call__(self, credential: str) -> Actor | None: ...


class TokenAuthenticator:
    """API tokens issued by ``gateward users token`` (hashed at rest in ``api_tokens``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self, credential: str) -> Actor | None:
        if not credential or len(credential) > 512:
            return None
        return verify_token(self.store, credential)

    def peek(self, credential: str) -> Actor | None:
        """The actor when the token check is cached and still valid; no I/O (event-loop safe)."""
        if not credential or len(credential) > 512:
            return None
        return cached_actor(self.store, credential)


# The getters below only read attributes, so they are ``async``: FastAPI runs a plain ``def``
# dependency on a worker thread, and every route that took the runtime paid a thread hop for it
# before its own (issue 15).
async def runtime(request: Request) -> AppRuntime:
    rt: AppRuntime = request.app.state.runtime
    return rt


async def get_campaigns(rt: Annotated[AppRuntime, Depends(runtime)]) -> Campaigns:
    """The runtime's one campaign service."""
    return rt.campaigns


async def get_remediation(rt: Annotated[AppRuntime, Depends(runtime)]) -> Remediation:
    """The runtime's one remediation service."""
    return rt.remediation


class PlannerUnavailable(GatewardError):
    code = "planner_unavailable"
    http_status = 503


_chat_lock = threading.Lock()


def get_chat(request: Request) -> ChatService:
    """The chat service: the one ``create_app`` was given, else ``chat_factory(runtime)`` (by
    default the runtime's own), built once per app on a worker thread. A build without the planner
    answers 503 for chat alone; every other route works."""
    state = request.app.state
    if state.chat is not None:
        svc: ChatService = state.chat
        return svc
    with _chat_lock:
        if state.chat is None:
            try:
                state.chat = state.chat_factory(state.runtime)
            except ImportError as exc:
                raise PlannerUnavailable(f"the planner is not available in this build ({exc}); "
                                         "every other route works") from exc
        svc = state.chat
    return svc


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


async def current_actor(request: Request, token: Annotated[str, Depends(credential)]) -> Actor:
    """The actor, from the token cache on the event loop when it can (no worker-thread hop),
    else from the database on a worker thread."""
    peek = getattr(request.app.state.authenticator, "peek", None)
    actor: Actor | None = peek(token) if peek is not None else None
    if actor is not None:
        request.state.actor = actor.id
        return actor
    return await run_in_threadpool(authenticate, request, token)


async def current_person(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    """The actor, who must be a person: a job's token (automation) gets 403 — the refusal the
    lifecycle and the remediation service give a job for approvals, forced rollbacks and adopting
    a case, here for whole routes that exist for people (chat with the planner)."""
    if actor.kind is not ActorKind.HUMAN:
        raise Forbidden(f"{actor.id} is a job; this is for a person (sign in as one)")
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]
# Routes for people only (chat): the authenticated actor, refused with 403 when it is a job.
PersonDep = Annotated[Actor, Depends(current_person)]
# For hot routes: the credential only, checked with :func:`authenticate` in the same worker-thread
# hop as the route's own database work (one hop instead of two; issue 15).
CredentialDep = Annotated[str, Depends(credential)]
RuntimeDep = Annotated[AppRuntime, Depends(runtime)]
CampaignsDep = Annotated["Campaigns", Depends(get_campaigns)]
RemediationDep = Annotated["Remediation", Depends(get_remediation)]
ChatDep = Annotated["ChatService", Depends(get_chat)]


def has_any_role(actor: Actor, *roles: str) -> bool:
    """For read-side visibility only (whose chat threads one may read). Write permissions,
    approvals and separation of duties are decided by ``core.lifecycle``, never here."""
    return any(r in actor.roles for r in roles)
