"""The directory obeyed within minutes: a signed-in person's groups asked of the provider again.

Why: roles were read from the provider only at sign-in, so a person taken out of every mapped group
kept approving with an open cookie session — and with an API token — for as long as they did not sign
in again (6 of 6 approvals accepted over three minutes in the probe). Now every request of a person the
provider signed in (cookie or API token) whose groups were last confirmed more than
``GATEWARD_OIDC_RECHECK_S`` ago (300 s at most) asks the provider first: the access token kept from the
sign-in, or a new one from the refresh token (:mod:`api.auth.grants`), then userinfo, whose groups are
the person's groups now. So no approval or apply is made on a confirmation older than the bound.

What the answer does:

* **still mapped** — the roles the groups map to now (a ``user.roles_changed`` line when they differ);
* **no mapped group** — every role taken and every open session ended, as a refused sign-in does
  (:func:`api.auth.people.withdraw`): the session's request is a 401, an API token acts with no role;
* **nothing to ask with** (no grant kept, the access token expired and no refresh token, the refresh
  refused) — the person's sessions end ("sign in again"); an API token may read, not write (403);
* **the provider failed** (down, slow, an error) — reads go on with the roles last confirmed, a write
  is refused (503 ``membership_unconfirmed``) until a check succeeds; asked again after
  :data:`FAILED_BACKOFF_S`.

One replica asks at a time (``check_claimed_until``: a refresh token may be single-use); the others
wait for its answer, read from the row. Each process remembers a fresh confirmation until it is due,
so a person's requests between checks cost no database read for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import httpx
import httpx2
from authlib.integrations.base_client.errors import OAuthError
from fastapi import HTTPException
from sqlalchemy import and_, or_, select, update
from starlette.concurrency import run_in_threadpool

from api.auth.grants import Grant, seal, unseal
from api.auth.oidc import OidcFlow
from api.auth.people import groups_of, record_roles, roles_for, withdraw
from api.auth.provider_io import Deadline, provider_failure
from api.auth.refusals import AUTH_ACTOR, AuthRefused
from api.auth.sessions import revoke_sessions
from core.kernel.errors import GatewardError
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, ActorKind, utcnow
from core.store import Store
from core.store.schema import UserIdentityRow
from core.users import TOKEN_CACHE, get_actor

log = logging.getLogger("gateward.auth")

FAILED_BACKOFF_S = 15.0  # after a check the provider could not answer, the next one waits this long
NOT_BOUND_TTL_S = 60.0  # a person the provider never signed in is looked up again after this long
WAIT_POLL_S = 0.2  # how often a replica waiting for another's check reads the row again


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    REMOVED = "removed"
    NO_GRANT = "no_grant"
    PROVIDER_FAILED = "provider_failed"


class MembershipUnconfirmed(GatewardError):
    """A write by a person whose groups could not be confirmed with the provider just now."""

    code = "membership_unconfirmed"
    http_status = 503
    retryable = True  # answered with Retry-After (api.errors): the provider may answer in a moment


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    user_id: str
    checked_at: datetime | None
    grant_sealed: str | None


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    why: str = ""
    grant: Grant | None = None
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


class _GrantGone(Exception):
    """The provider refused the refresh token (revoked, expired, the person's session ended there)."""


class Membership:
    """Re-checks of signed-in people's groups for one app (one provider)."""

    def __init__(self, store: Store, flow: OidcFlow, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.flow, self.oidc = store, flow, flow.oidc
        self.clock = clock
        self.max_age = timedelta(seconds=self.oidc.recheck_s)
        self._fresh: dict[str, float] = {}  # person → (this clock) until when no check is needed
        self._failed: dict[str, tuple[float, Outcome, str]] = {}  # person → until, why the last check failed
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self, user_id: str) -> None:
        """The person signed in again (a new grant, confirmed now): nothing remembered of them stands."""
        self._fresh.pop(user_id, None)
        self._failed.pop(user_id, None)

    # ------------------------------------------------------------------ the request's side
    async def ensure(self, actor: Actor, *, session: bool, write: bool, clear_cookie: str) -> Actor:
        """``actor`` as the provider says they are now — re-checked first when their last check is
        older than the bound — or the refusal the module's docstring names."""
        if actor.kind is not ActorKind.HUMAN or self._fresh.get(actor.id, float("-inf")) > self.clock():
            return actor
        failed = self._failed.get(actor.id)
        if failed is not None and failed[0] > self.clock():
            return self._unconfirmed(actor, failed[1], failed[2], session=session, write=write)
        lock = self._locks.setdefault(actor.id, asyncio.Lock())
        async with lock:
            if self._fresh.get(actor.id, float("-inf")) > self.clock():  # checked while this request waited
                return await run_in_threadpool(get_actor, self.store, actor.id)
            answer = await self._check(actor.id)
        if answer is None:
            return actor
        if answer.outcome is Outcome.CONFIRMED:
            return Actor(id=actor.id, roles=answer.roles, kind=actor.kind)
        if answer.outcome is Outcome.REMOVED:
            if session:
                raise HTTPException(401, "your identity provider no longer puts you in a group mapped to a Gateward "
                                         "role: your roles and sessions were ended", headers={
                                             "WWW-Authenticate": "Bearer", "Set-Cookie": clear_cookie})
            return Actor(id=actor.id, roles=(), kind=actor.kind)
        return self._unconfirmed(actor, answer.outcome, answer.why, session=session, write=write,
                                 clear_cookie=clear_cookie)

    def _unconfirmed(self, actor: Actor, outcome: Outcome, why: str, *, session: bool, write: bool,
                     clear_cookie: str = "") -> Actor:
        bound = f"{self.oidc.recheck_s:g} s"
        if outcome is Outcome.NO_GRANT and session:
            raise HTTPException(401, f"sign in again: Gateward confirms your groups with the identity provider every "
                                     f"{bound} and cannot ask it now ({why})",
                                headers={"WWW-Authenticate": "Bearer", **({"Set-Cookie": clear_cookie}
                                                                         if clear_cookie else {})})
        if not write:
            return actor  # reading goes on with the roles last confirmed
        if outcome is Outcome.NO_GRANT:
            err = MembershipUnconfirmed(f"Gateward confirms your groups with the identity provider every {bound} "
                                        f"before a change, and cannot ask it now ({why}); sign in to the console "
                                        "once to renew it")
            err.http_status, err.retryable = 403, False
            raise err
        raise MembershipUnconfirmed(f"Gateward could not confirm your groups with the identity provider ({why}); "
                                    "no change is accepted until it can: try again in a moment")

    # ------------------------------------------------------------------ one check
    async def _check(self, user_id: str) -> Answer | None:
        """Ask the provider about ``user_id`` when due; ``None`` when they are not a person the
        provider signed in (nothing to check)."""
        ident = await run_in_threadpool(self._identity, user_id)
        now_wall = utcnow()
        if ident is None:
            self._fresh[user_id] = self.clock() + NOT_BOUND_TTL_S
            return None
        if self._fresh_at(ident.checked_at, now_wall):
            return await run_in_threadpool(self._confirmed_elsewhere, user_id, ident)
        if not await run_in_threadpool(self._claim, ident):
            waited = await self._wait_for_other(ident)
            if waited is not None:
                return waited
            return self._failed_now(user_id, Answer(Outcome.PROVIDER_FAILED,
                                                    "another Gateward process is asking it and has not finished"))
        try:
            answer = await self._ask(ident)
        except Exception:
            await run_in_threadpool(self._release, ident)
            raise
        await run_in_threadpool(self._record, ident, answer)
        if answer.outcome in (Outcome.CONFIRMED, Outcome.REMOVED):
            self._failed.pop(user_id, None)
            self._fresh[user_id] = self.clock() + self.max_age.total_seconds()
            return answer
        log.warning("could not confirm %s's groups with the identity provider: %s", user_id, answer.why)
        return self._failed_now(user_id, answer)

    def _failed_now(self, user_id: str, answer: Answer) -> Answer:
        self._failed[user_id] = (self.clock() + FAILED_BACKOFF_S, answer.outcome, answer.why)
        return answer

    def _fresh_at(self, checked_at: datetime | None, now: datetime) -> bool:
        return checked_at is not None and now - checked_at < self.max_age

    def _confirmed_elsewhere(self, user_id: str, ident: Identity) -> Answer:
        """Another process (or this one, before) confirmed them within the bound: fresh until it is due."""
        assert ident.checked_at is not None
        left = (self.max_age - (utcnow() - ident.checked_at)).total_seconds()
        self._fresh[user_id] = self.clock() + max(left, 0.0)
        self._failed.pop(user_id, None)
        actor = get_actor(self.store, user_id)
        return Answer(Outcome.CONFIRMED if actor.roles else Outcome.REMOVED, roles=actor.roles)

    async def _wait_for_other(self, ident: Identity) -> Answer | None:
        """Another replica claimed the check: its outcome, read from the row, once it is recorded."""
        end = self.clock() + self.oidc.timeout_s
        while self.clock() < end:
            await asyncio.sleep(WAIT_POLL_S)
            again = await run_in_threadpool(self._identity, ident.user_id)
            if again is not None and self._fresh_at(again.checked_at, utcnow()):
                return await run_in_threadpool(self._confirmed_elsewhere, ident.user_id, again)
        return None

    async def _ask(self, ident: Identity) -> Answer:
        """The provider's answer about ``ident`` now: userinfo with the access token kept, or with a
        new one from the refresh token; every request under one deadline."""
        grant = unseal(ident.grant_sealed, self.oidc.client_secret)
        if grant is None or not (grant.access_token or grant.refresh_token):
            return Answer(Outcome.NO_GRANT, "Gateward holds no grant of yours from the provider to ask with")
        deadline = self.flow.deadline()
        try:
            meta = await self.flow.metadata(deadline)
            url = meta.get("userinfo_endpoint")
            if not isinstance(url, str) or not url:
                return Answer(Outcome.NO_GRANT, "the provider offers no userinfo endpoint")
            refreshed = False
            if not grant.access_usable():
                if not grant.refresh_token:
                    return Answer(Outcome.NO_GRANT, "the access token from your sign-in expired and the provider "
                                                    "issued no refresh token")
                grant, refreshed = await self._refresh(meta, grant, deadline), True
            try:
                info = await self._userinfo(url, grant, deadline)
            except AuthRefused as exc:
                if exc.audit_extra.get("provider_status") != 401:
                    raise
                if refreshed or not grant.refresh_token:
                    return Answer(Outcome.NO_GRANT, "the provider no longer accepts the access token", grant)
                grant = await self._refresh(meta, grant, deadline)
                info = await self._userinfo(url, grant, deadline)
        except _GrantGone as exc:
            return Answer(Outcome.NO_GRANT, f"the provider refused the refresh token ({exc})",
                          Grant(access_token=None, access_expires=0.0, refresh_token=None))
        except AuthRefused as exc:
            return Answer(Outcome.PROVIDER_FAILED, exc.message)
        if info.get("sub") != ident.subject:
            return Answer(Outcome.PROVIDER_FAILED, "the provider's userinfo is about another subject", grant)
        groups = groups_of(info, self.oidc.groups_claim)
        roles = roles_for(groups, self.oidc.role_map)
        return Answer(Outcome.CONFIRMED if roles else Outcome.REMOVED, grant=grant, roles=roles, groups=tuple(groups))

    async def _userinfo(self, url: str, grant: Grant, deadline: Deadline) -> JsonObject:
        return await self.flow.get_json(url, "userinfo", deadline,
                                        headers={"Authorization": f"Bearer {grant.access_token}"})

    async def _refresh(self, meta: dict[str, object], grant: Grant, deadline: Deadline) -> Grant:
        url = str(meta["token_endpoint"])
        try:
            async with deadline.step("token endpoint", url), self.flow.client() as client:
                token = await client.refresh_token(url, refresh_token=grant.refresh_token)
        except OAuthError as exc:
            error = str(exc.error or "error")[:64]
            if error in ("invalid_grant", "invalid_token", "unauthorized_client"):
                raise _GrantGone(error) from exc
            raise AuthRefused(f"the identity provider failed to refresh the grant ({error})", "provider_error",
                              503, what="token endpoint") from exc
        except (httpx.HTTPError, httpx2.HTTPError) as exc:
            raise provider_failure(exc, "token endpoint", url, self.oidc.timeout_s) from exc
        except ValueError as exc:
            raise AuthRefused(f"the identity provider's token answer cannot be read ({str(exc)[:200]})",
                              "provider_error", 503, what="token endpoint") from exc
        return Grant.from_token(dict(token), before=grant)

    # ------------------------------------------------------------------ the rows
    def _identity(self, user_id: str) -> Identity | None:
        with self.store.read() as s:
            row = s.scalar(select(UserIdentityRow).where(UserIdentityRow.user_id == user_id,
                                                         UserIdentityRow.issuer == self.oidc.issuer).limit(1))
            return None if row is None else Identity(row.issuer, row.subject, row.user_id, row.checked_at,
                                                     row.grant_sealed)

    def _key(self, ident: Identity) -> object:
        return and_(UserIdentityRow.issuer == ident.issuer, UserIdentityRow.subject == ident.subject)

    def _claim(self, ident: Identity) -> bool:
        """This process asks the provider about ``ident`` (no other is, or the other's claim ran out)."""
        now = utcnow()
        with self.store.write() as s:
            res = s.execute(update(UserIdentityRow).where(
                self._key(ident),  # type: ignore[arg-type]
                or_(UserIdentityRow.check_claimed_until.is_(None), UserIdentityRow.check_claimed_until < now))
                .values(check_claimed_until=now + timedelta(seconds=self.oidc.timeout_s + 5)))
            return bool(getattr(res, "rowcount", 0))

    def _release(self, ident: Identity) -> None:
        with self.store.write() as s:
            s.execute(update(UserIdentityRow).where(self._key(ident)).values(  # type: ignore[arg-type]
                check_claimed_until=None))

    def _record(self, ident: Identity, answer: Answer) -> None:
        """What the check found, written: the grant (a refreshed or refused one), the confirmation,
        the roles (changed: audited), or everything withdrawn."""
        now = utcnow()
        values: dict[str, object] = {"check_claimed_until": None}
        if answer.grant is not None:
            values["grant_sealed"] = (seal(answer.grant, self.oidc.client_secret)
                                      if answer.grant.access_token or answer.grant.refresh_token else None)
        if answer.outcome in (Outcome.CONFIRMED, Outcome.REMOVED):
            values["checked_at"] = now
        with self.store.write() as s:
            s.execute(update(UserIdentityRow).where(self._key(ident)).values(**values))  # type: ignore[arg-type]
            if answer.outcome is Outcome.CONFIRMED:
                record_roles(s, ident.user_id, answer.roles, "groups_recheck", self.oidc.issuer)
        if answer.outcome is Outcome.REMOVED:
            withdraw(self.store, ident.issuer, ident.subject, "unmapped_group")
        elif answer.outcome is Outcome.NO_GRANT:
            revoke_sessions(self.store, by=AUTH_ACTOR, user_id=ident.user_id, reason="membership_unconfirmed")
        TOKEN_CACHE.forget_user(self.store.url, ident.user_id)
