"""``/auth/*``: sign in with the identity provider or a local password, see the session, sign out.

``GET /auth/login`` sends the browser to the provider; the provider sends it back to
``GET /auth/callback``, which verifies everything (:mod:`api.auth.oidc`), finds or creates the
person with roles from the group map (:mod:`api.auth.people`), opens a server-side session
(:mod:`api.auth.sessions`) and sends the browser to the console. ``POST /auth/password-login`` does
the same for a local account. ``GET /auth/session`` tells the console who is signed in, the CSRF
token its writes must carry, and which sign-in methods exist. ``POST /auth/logout`` ends the session.

Every refusal is an ``auth.refused`` audit line and a 4xx answer in the API's error shape (503 when
the server's own sign-in configuration is wrong), never a 500.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth.csrf import HEADER, csrf_problem, csrf_token
from api.auth.page import refusal_page, wants_page
from api.auth.passwords import PasswordRefused, verify_password
from api.auth.people import sign_in_person
from api.auth.refusals import AuthRefused, record_refusal
from api.auth.service import BINDING_COOKIE, AuthState
from api.auth.sessions import SessionRejected, check_session, create_session, end_session
from api.errors import error_body, errors_for

router = APIRouter(prefix="/auth", tags=["auth"])

WRONG_PASSWORD = "wrong name or password (or the account is locked for a while after too many attempts)"


def _state(request: Request) -> AuthState:
    state: AuthState = request.app.state.auth
    return state


async def _refuse(state: AuthState, exc: AuthRefused, method: str, who: str | None = None,
                  response: Response | None = None, request: Request | None = None) -> Response:
    """Audit the refusal, then answer it: the console's sign-in page saying so to a browser that
    was sent here (:mod:`api.auth.page`), the API's error shape to anything else."""
    await run_in_threadpool(record_refusal, state.store, exc, method=method, who=who)
    out: Response
    if request is not None and wants_page(request):
        out = refusal_page(exc)
    else:
        out = JSONResponse(error_body(exc.code, exc.message, reason=exc.reason), status_code=exc.http_status)
    if response is not None:
        for k, v in response.headers.items():
            if k == "set-cookie":
                out.headers.append(k, v)
    return out


async def _end_previous(state: AuthState, request: Request) -> None:
    """A browser signing in again leaves no session of its earlier sign-in open behind it (a new
    token every time: nothing set before sign-in survives it)."""
    old = state.session_token(request)
    if old:
        await run_in_threadpool(end_session, state.store, old)


class SessionOut(BaseModel):
    signed_in: bool
    user: str | None = None
    roles: list[str] = Field(default_factory=list)
    csrf: str | None = Field(default=None,
                             description="send as X-CSRF-Token on every write made with the session cookie")
    methods: dict[str, bool] = Field(description="which sign-in methods this server offers: oidc, password")
    provider: str | None = Field(default=None, description="the identity provider's name for the sign-in button "
                                 "(GATEWARD_OIDC_NAME, else the issuer's host); null without OpenID Connect")


@router.get("/session", response_model=SessionOut)
async def session(request: Request) -> SessionOut:
    """Who the session cookie signs in (``signed_in: false`` without one), the CSRF token for
    writes, and the sign-in methods on offer (the console shows its "Sign in" button from these)."""
    state = _state(request)
    methods = {"oidc": state.flow is not None, "password": state.settings.local_accounts}
    provider = state.settings.oidc.label if state.settings.oidc is not None else None
    token = state.session_token(request)
    if not token:
        return SessionOut(signed_in=False, methods=methods, provider=provider)
    try:
        actor, _ = await run_in_threadpool(check_session, state.store, token, state.limits)
    except SessionRejected:
        return SessionOut(signed_in=False, methods=methods, provider=provider)
    return SessionOut(signed_in=True, user=actor.id, roles=list(actor.roles), csrf=csrf_token(token), methods=methods,
                      provider=provider)


# The browser's redirects (not an API a client calls): described in docs/auth.md, not in OpenAPI.
@router.get("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    """Start an OpenID Connect sign-in: 302 to the identity provider."""
    state = _state(request)
    if state.flow is None:
        return JSONResponse(error_body("not_found", "OpenID Connect sign-in is not configured on this server "
                                       "(GATEWARD_OIDC_ISSUER …; docs/auth.md)"), status_code=404)
    try:
        url, binding = await state.flow.begin()
    except AuthRefused as exc:
        return await _refuse(state, exc, "oidc", request=request)
    resp = RedirectResponse(url, status_code=302)
    state.set_binding(resp, binding)
    return resp


@router.get("/callback", include_in_schema=False)
async def callback(request: Request) -> Response:
    """The identity provider's redirect back: verify, sign the person in, 303 to the console."""
    state = _state(request)
    if state.flow is None or state.settings.oidc is None:
        return JSONResponse(error_body("not_found", "OpenID Connect sign-in is not configured on this server"),
                            status_code=404)
    cleanup = Response()
    state.clear_binding(cleanup)
    who: str | None = None
    try:
        signed = await state.flow.finish(request.query_params, request.cookies.get(BINDING_COOKIE))
        claims = signed.claims
        who = str(claims.get(state.settings.oidc.username_claim) or "")[:64] or None
        actor = await run_in_threadpool(sign_in_person, state.store, state.settings.oidc, claims, signed.token)
    except AuthRefused as exc:
        return await _refuse(state, exc, "oidc", who=who, response=cleanup, request=request)
    if state.membership is not None:
        state.membership.forget(actor.id)  # confirmed now, with a new grant
    await _end_previous(state, request)
    token, _ = await run_in_threadpool(create_session, state.store, actor, "oidc", state.limits,
                                       {"subject": str(claims.get("sub"))[:255], "issuer": state.settings.oidc.issuer})
    resp = RedirectResponse("/", status_code=303)
    state.clear_binding(resp)
    state.set_session(resp, token)
    return resp


class PasswordLogin(BaseModel):
    user: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


@router.post("/password-login", response_model=SessionOut, responses=errors_for(401, 404, 422))
async def password_login(request: Request, body: PasswordLogin) -> Response:
    """Sign in with a local account (``GATEWARD_LOCAL_ACCOUNTS=1``; password set with
    ``gateward users passwd NAME``). Sets the session cookie; answers as ``GET /auth/session``."""
    state = _state(request)
    if not state.settings.local_accounts:
        return JSONResponse(error_body("not_found", "local accounts are not enabled on this server "
                                       "(GATEWARD_LOCAL_ACCOUNTS=1; docs/auth.md)"), status_code=404)
    try:
        actor = await run_in_threadpool(verify_password, state.store, body.user, body.password, state.lockout)
    except PasswordRefused as exc:
        refused = AuthRefused(WRONG_PASSWORD, exc.reason, 401, user=body.user[:64])
        return await _refuse(state, refused, "password")
    await _end_previous(state, request)
    token, _ = await run_in_threadpool(create_session, state.store, actor, "password", state.limits)
    out = SessionOut(signed_in=True, user=actor.id, roles=list(actor.roles), csrf=csrf_token(token),
                     methods={"oidc": state.flow is not None, "password": True})
    resp = JSONResponse(out.model_dump())
    state.set_session(resp, token)
    return resp


class SignedOut(BaseModel):
    signed_out: bool = Field(description="whether there was an open session to end")


@router.post("/logout", response_model=SignedOut, responses=errors_for(401, 403))
async def logout(request: Request) -> Response:
    """End the session (needs the X-CSRF-Token header, as every cookie-authenticated write)."""
    state = _state(request)
    token = state.session_token(request)
    if not token:
        return JSONResponse(error_body("unauthorized", "no session to sign out of (API tokens are revoked with "
                                       "`gateward users revoke` / `rotate`)"), status_code=401)
    problem = csrf_problem(request.method, request.headers.get(HEADER), token)
    if problem:
        return JSONResponse(error_body("forbidden", problem), status_code=403)
    ended = await run_in_threadpool(end_session, state.store, token)
    resp = JSONResponse({"signed_out": ended})
    state.clear_session(resp)
    return resp

