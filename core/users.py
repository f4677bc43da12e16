"""The user directory: who exists, with which roles, and their API tokens (hashed at rest).

The CLI trusts ``--as NAME`` for the name (it is the operator's own machine) but the roles always
come from here. The API authenticates tokens against ``api_tokens``; an OIDC/JWT front can later
map its subject to a user row instead.

Every token expires (``GATEWARD_TOKEN_TTL_DAYS``, default 30; ``--ttl-days`` per token), so a
leaked token stops working on its own; ``rotate_token`` issues a new one and retires the old ones,
at once or after a grace period so that a deployment can switch over without an outage.

Token checks are cached per process for a few seconds (:class:`TokenCache`): a request
no longer pays a database read to learn who its token belongs to. Revocation stays effective:
``revoke_user`` and ``rotate_token`` drop the user's cached tokens in this process at once, and
another process (a CLI ``gateward users revoke``, another replica) is bounded by the cache TTL
(``GATEWARD_TOKEN_CACHE_S``, default 5 s, 0 turns the cache off). Expiry is checked on every hit.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.kernel.config import Settings
from core.kernel.errors import GatewardError, Invalid, NotFound
from core.kernel.ids import new_id
from core.kernel.models import Actor, ActorKind, utcnow
from core.names import name_key, name_problem
from core.rbac import ROLES
from core.store import Store
from core.store.schema import ApiTokenRow, UserRow

DEMO_USERS: tuple[tuple[str, tuple[str, ...], ActorKind], ...] = (
    ("alice", ("support_agent",), ActorKind.HUMAN),
    ("sam", ("support_agent",), ActorKind.HUMAN),
    ("bob", ("approver",), ActorKind.HUMAN),
    ("carol", ("senior_approver",), ActorKind.HUMAN),
    ("dave", ("admin",), ActorKind.HUMAN),
    ("erin", ("auditor",), ActorKind.HUMAN),
    ("remediator", ("automation",), ActorKind.JOB),
)


MAX_TTL_DAYS = 3650
EXPIRED = "token expired: ask for a new one (`gateward users token NAME` or `gateward users rotate NAME`)"
MAX_GRACE_HOURS = 24 * 30


class TokenRejected(GatewardError):
    """A bearer token that does not authenticate; ``message`` says why (unknown, revoked, expired)."""

    code = "unauthorized"
    http_status = 401


DEFAULT_CACHE_TTL_S = 5.0
MAX_CACHE_TTL_S = 60.0


def cache_ttl_from_env() -> float:
    """``GATEWARD_TOKEN_CACHE_S`` (0..60 s; default 5). Read straight from the environment, not
    through :class:`core.kernel.config.Settings`: building Settings costs more than the check it caches."""
    raw = os.environ.get("GATEWARD_TOKEN_CACHE_S", "").strip()
    if not raw:
        return DEFAULT_CACHE_TTL_S
    try:
        ttl = float(raw)
    except ValueError as exc:
        raise Invalid(f"GATEWARD_TOKEN_CACHE_S must be a number of seconds (got {raw!r})") from exc
    if not 0 <= ttl <= MAX_CACHE_TTL_S:
        raise Invalid(f"GATEWARD_TOKEN_CACHE_S is 0..{MAX_CACHE_TTL_S:g} seconds (got {raw})")
    return ttl


class TokenCache:
    """token hash → (actor, token expiry) for ``ttl_s`` seconds, per database URL.

    Why a cache at all: the token check was a database read on every API request, as much as the
    route itself for the hot reads. Why it is safe: entries live ``ttl_s`` at most, a hit still
    checks the token's own expiry, only successful checks are cached (a bad token always reads the
    database), and a revocation in this process removes the user's entries at once."""

    def __init__(self, ttl_s: float | None = None, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, Actor, datetime]] = {}

    @property
    def ttl_s(self) -> float:
        """The TTL given, else ``GATEWARD_TOKEN_CACHE_S`` read on first use (so a bad value is an
        :class:`~core.kernel.errors.Invalid` where the cache is first used, not an import error)."""
        if self._ttl_s is None:
            self._ttl_s = cache_ttl_from_env()
        return self._ttl_s

    @ttl_s.setter
    def ttl_s(self, value: float) -> None:
        self._ttl_s = value

    def get(self, url: str, token_hash: str) -> tuple[Actor, datetime] | None:
        entry = self._entries.get((url, token_hash))
        if entry is None:
            return None
        stored_at, actor, expires_at = entry
        if self.clock() - stored_at >= self.ttl_s:
            with self._lock:
                self._entries.pop((url, token_hash), None)
            return None
        return actor, expires_at

    def put(self, url: str, token_hash: str, actor: Actor, expires_at: datetime) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # bounded; a refill costs one read per live token
            self._entries[(url, token_hash)] = (self.clock(), actor, expires_at)

    def forget_user(self, url: str, user_id: str) -> None:
        """Drop every cached token of ``user_id`` on the database ``url`` (revocation, rotation)."""
        with self._lock:
            for key in [k for k, (_, a, _) in self._entries.items() if k[0] == url and a.id == user_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


TOKEN_CACHE = TokenCache()


def default_ttl_days() -> int:
    """``GATEWARD_TOKEN_TTL_DAYS`` (1..3650), read at issue time so a changed setting applies at once."""
    return Settings().token_ttl_days


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _to_actor(row: UserRow) -> Actor:
    return Actor(id=row.id, roles=tuple(row.roles), kind=ActorKind(row.kind))


def same_name(s: Session, user_id: str) -> str | None:
    """The existing person (active or not) whose name is ``user_id`` to a reader — the same letters
    in another case or Unicode form (``core.names``) — or ``None``."""
    return s.scalar(select(UserRow.id).where(UserRow.name_key == name_key(user_id)).limit(1))


def add_user(store: Store, user_id: str, roles: list[str] | tuple[str, ...],
             kind: ActorKind = ActorKind.HUMAN) -> Actor:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise Invalid(f"unknown role {unknown[0]!r}; roles are {', '.join(ROLES)}")
    problem = name_problem(user_id)
    if problem:
        raise Invalid(f"{problem}; got {user_id!r}")
    try:
        with store.write() as s:
            other = same_name(s, user_id)
            if other is not None:
                raise Invalid(f"user {other!r} already exists" if other == user_id else
                              f"{user_id!r} is the name of {other!r} in another case or Unicode form: two people "
                              "who look the same would be two people to Gateward; choose another name")
            s.add(UserRow(id=user_id, roles=list(roles), kind=str(kind), active=True, created_at=utcnow()))
    except IntegrityError as exc:  # added at the same moment by another process
        raise Invalid(f"user {user_id!r} (or a name that looks the same) already exists") from exc
    return Actor(id=user_id, roles=tuple(roles), kind=kind)


def ensure_users(store: Store, users: tuple[tuple[str, tuple[str, ...], ActorKind], ...] = DEMO_USERS) -> None:
    """Add each of ``users`` whose name no one holds yet (in any case or Unicode form)."""
    with store.write() as s:
        taken = set(s.scalars(select(UserRow.name_key)).all())
        for uid, roles, kind in users:
            if name_key(uid) not in taken:
                s.add(UserRow(id=uid, roles=list(roles), kind=str(kind), active=True, created_at=utcnow()))


def get_actor(store: Store, user_id: str) -> Actor:
    with store.read() as s:
        row = s.get(UserRow, user_id)
    if row is None:
        raise NotFound(f"unknown user {user_id!r}; add one with `gateward users add {user_id} --role ROLE`")
    if not row.active:
        raise NotFound(f"user {user_id!r} is deactivated")
    return _to_actor(row)


def list_users(store: Store) -> list[tuple[Actor, bool]]:
    with store.read() as s:
        return [(_to_actor(r), r.active) for r in s.scalars(select(UserRow).order_by(UserRow.id))]


def _ttl(ttl_days: int | None) -> timedelta:
    days = default_ttl_days() if ttl_days is None else ttl_days
    if not 1 <= days <= MAX_TTL_DAYS:
        raise Invalid(f"a token lives 1..{MAX_TTL_DAYS} days (got {days})")
    return timedelta(days=days)


def issue_token(store: Store, user_id: str, ttl_days: int | None = None) -> str:
    """Create an API token that expires after ``ttl_days`` (default ``GATEWARD_TOKEN_TTL_DAYS``);
    returns it once. Only its sha256 is stored."""
    get_actor(store, user_id)
    ttl = _ttl(ttl_days)
    token = "gw_" + secrets.token_urlsafe(32)
    now = utcnow()
    with store.write() as s:
        s.add(ApiTokenRow(id=new_id("t"), user_id=user_id, token_hash=_hash_token(token), created_at=now,
                          expires_at=now + ttl))
    return token


def rotate_token(store: Store, user_id: str, ttl_days: int | None = None, grace_hours: float = 0) -> tuple[str, int]:
    """Issue a new token and retire every other live token of the user: revoked now, or (with
    ``grace_hours``) expiring after the grace so that clients can switch over. Returns the new
    token and how many old tokens were retired."""
    if not 0 <= grace_hours <= MAX_GRACE_HOURS:
        raise Invalid(f"the grace period is 0..{MAX_GRACE_HOURS} hours (got {grace_hours})")
    get_actor(store, user_id)
    ttl = _ttl(ttl_days)
    token = "gw_" + secrets.token_urlsafe(32)
    now = utcnow()
    cutoff = now + timedelta(hours=grace_hours)
    with store.write() as s:
        old = s.scalars(select(ApiTokenRow).where(ApiTokenRow.user_id == user_id,
                                                  ApiTokenRow.revoked_at.is_(None))).all()
        retired = 0
        for t in old:
            if grace_hours == 0:
                t.revoked_at = now
                retired += 1
            elif t.expires_at is None or t.expires_at > cutoff:
                t.expires_at = cutoff
                retired += 1
        s.add(ApiTokenRow(id=new_id("t"), user_id=user_id, token_hash=_hash_token(token), created_at=now,
                          expires_at=now + ttl))
    # After the commit: a check racing with it re-reads the database, never re-caches the old row.
    TOKEN_CACHE.forget_user(store.url, user_id)
    return token, retired


def revoke_user(store: Store, user_id: str) -> int:
    """Deactivate a user and revoke every token they hold; returns the number of tokens revoked."""
    now = utcnow()
    with store.write() as s:
        row = s.get(UserRow, user_id)
        if row is None:
            raise NotFound(f"unknown user {user_id!r}")
        row.active = False
        tokens = s.scalars(select(ApiTokenRow).where(ApiTokenRow.user_id == user_id,
                                                     ApiTokenRow.revoked_at.is_(None))).all()
        for t in tokens:
            t.revoked_at = now
        revoked = len(tokens)
    TOKEN_CACHE.forget_user(store.url, user_id)
    return revoked


def verify_token(store: Store, token: str, now: datetime | None = None) -> Actor:
    """The actor a bearer token belongs to, or :class:`TokenRejected` saying why not. A token with
    no expiry (a row the 0008 migration did not reach) is refused: fail closed."""
    now = now or utcnow()
    token_hash = _hash_token(token)
    cached = TOKEN_CACHE.get(store.url, token_hash)
    if cached is not None:
        actor, expires_at = cached
        if expires_at <= now:
            raise TokenRejected(EXPIRED)
        return actor
    with store.read() as s:
        row = s.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash))
        if row is None or row.revoked_at is not None:
            raise TokenRejected("invalid or revoked API token")
        if row.expires_at is None or row.expires_at <= now:
            raise TokenRejected(EXPIRED)
        expires_at = row.expires_at
        user = s.get(UserRow, row.user_id)
    if user is None or not user.active:
        raise TokenRejected("invalid or revoked API token")
    actor = _to_actor(user)
    TOKEN_CACHE.put(store.url, token_hash, actor, expires_at)
    return actor


def cached_actor(store: Store, token: str, now: datetime | None = None) -> Actor | None:
    """The actor for ``token`` when this process checked it within the cache TTL and it has not
    expired since, else ``None`` (then call :func:`verify_token`). No I/O: safe on an event loop."""
    cached = TOKEN_CACHE.get(store.url, _hash_token(token))
    if cached is None or cached[1] <= (now or utcnow()):
        return None
    return cached[0]


def authenticate(store: Store, token: str) -> Actor | None:
    """``verify_token`` for callers that only need yes or no."""
    try:
        return verify_token(store, token)
    except TokenRejected:
        return None
