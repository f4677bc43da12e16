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
elsewhere within that TTL (docs/api.md "Tokens"). Roles always come from the user directory,
never from the caller's claim.

People who signed in (OpenID Connect or a local password, :mod:`api.auth`) carry a session cookie
instead: without an ``Authorization`` header, :func:`credential` takes the cookie, and
:func:`authenticate` checks it against the server-side session (idle and absolute expiry,
revocation) and refuses any write (not GET/HEAD/OPTIONS) that lacks the session's
``X-CSRF-Token`` header with 403. A bearer token, when sent, is what counts.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.auth.csrf import HEADER as CSRF_HEADER
from api.auth.csrf import SAFE_METHODS, csrf_problem
from api.auth.service import AuthState
from api.auth.sessions import SessionRejected, check_session
from core.kernel.errors import Forbidden, GatewardError
from core.kernel.models import Actor, ActorKind
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
# before its own.
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


class SessionCredential(str):
    """A session cookie's token, not a bearer token: checked against the server-side session, and
    a write made with it must carry the session's CSRF header."""

    __slots__ = ()


async def credential(request: Request,
                     creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The bearer credential, else the session cookie (:class:`SessionCredential`), or 401 when
    there is neither. Runs on the event loop (no database)."""
    if creds is not None and creds.credentials:
        return creds.credentials
    auth: AuthState | None = getattr(request.app.state, "auth", None)
    cookie = auth.session_token(request) if auth is not None else None
    if cookie:
        return SessionCredential(cookie)
    raise HTTPException(401, "missing API token: send Authorization: Bearer <token> "
                             "(get one with `gateward users token NAME`), or sign in",
                        headers={"WWW-Authenticate": "Bearer"})


def authenticate_session(request: Request, token: str) -> Actor:
    """The person behind a session cookie (a database read), 403 for a write without the CSRF
    header, 401 (and the cookie cleared) for a session that ended or expired."""
    auth: AuthState = request.app.state.auth
    problem = csrf_problem(request.method, request.headers.get(CSRF_HEADER), token)
    if problem:
        raise HTTPException(403, problem)
    try:
        actor, _ = check_session(auth.store, token, auth.limits)
    except SessionRejected as exc:
        raise HTTPException(401, exc.message, headers={"WWW-Authenticate": "Bearer",
                                                       "Set-Cookie": auth.clear_session_header()}) from exc
    request.state.actor = actor.id
    return actor


def authenticate(request: Request, token: str) -> Actor:
    """The actor behind ``token`` (a database read: call it off the event loop), or 401 saying why."""
    if isinstance(token, SessionCredential):
        return authenticate_session(request, token)
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
    else from the database on a worker thread — then, for a person an identity provider signed in,
    as the provider says they are now (:mod:`api.auth.membership`: their groups re-checked when the
    last check is older than the bound; no I/O between checks)."""
    session = isinstance(token, SessionCredential)
    if session:
        actor = await run_in_threadpool(authenticate_session, request, token)
    else:
        peek = getattr(request.app.state.authenticator, "peek", None)
        cached: Actor | None = peek(token) if peek is not None else None
        if cached is not None:
            request.state.actor = cached.id
            actor = cached
        else:
            actor = await run_in_threadpool(authenticate, request, token)
    auth: AuthState | None = getattr(request.app.state, "auth", None)
    if auth is None or auth.membership is None:
        return actor
    return await auth.membership.ensure(actor, session=session, write=request.method not in SAFE_METHODS,
                                        clear_cookie=auth.clear_session_header())


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
# hop as the route's own database work (one hop instead of two).
CredentialDep = Annotated[str, Depends(credential)]
RuntimeDep = Annotated[AppRuntime, Depends(runtime)]
CampaignsDep = Annotated["Campaigns", Depends(get_campaigns)]
RemediationDep = Annotated["Remediation", Depends(get_remediation)]
ChatDep = Annotated["ChatService", Depends(get_chat)]


def still_signed_in(request: Request) -> bool:
    """Whether the request's credential (bearer token or session cookie) is still valid — for a
    long stream that re-checks it (a database read: call it off the event loop)."""
    header = request.headers.get("authorization", "")
    token = header[7:] if header[:7].lower() == "bearer " else ""
    if not token:
        auth: AuthState | None = getattr(request.app.state, "auth", None)
        cookie = auth.session_token(request) if auth is not None else None
        if auth is None or not cookie:
            return False
        try:
            check_session(auth.store, cookie, auth.limits)
        except SessionRejected:
            return False
        return True
    try:
        return request.app.state.authenticator(token) is not None
    except TokenRejected:
        return False


def has_any_role(actor: Actor, *roles: str) -> bool:
    """For read-side visibility only (whose chat threads one may read). Write permissions,
    approvals and separation of duties are decided by ``core.lifecycle``, never here."""
    return any(r in actor.roles for r in roles)
