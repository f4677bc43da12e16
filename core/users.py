"""The user directory: who exists, with which roles, and their API tokens (hashed at rest).

The CLI trusts ``--as NAME`` for the name (it is the operator's own machine) but the roles always
come from here. The API authenticates tokens against ``api_tokens``; an OIDC/JWT front can later
map its subject to a user row instead.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.errors import Invalid, NotFound
from core.ids import new_id
from core.models import Actor, ActorKind, utcnow
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


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _to_actor(row: UserRow) -> Actor:
    return Actor(id=row.id, roles=tuple(row.roles), kind=ActorKind(row.kind))


def add_user(store: Store, user_id: str, roles: list[str] | tuple[str, ...],
             kind: ActorKind = ActorKind.HUMAN) -> Actor:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise Invalid(f"unknown role {unknown[0]!r}; roles are {', '.join(ROLES)}")
    if not user_id or len(user_id) > 64:
        raise Invalid("user id must be 1..64 characters")
    try:
        with store.write() as s:
            s.add(UserRow(id=user_id, roles=list(roles), kind=str(kind), active=True, created_at=utcnow()))
    except IntegrityError as exc:
        raise Invalid(f"user {user_id!r} already exists") from exc
    return Actor(id=user_id, roles=tuple(roles), kind=kind)


def ensure_users(store: Store, users: tuple[tuple[str, tuple[str, ...], ActorKind], ...] = DEMO_USERS) -> None:
    with store.write() as s:
        existing = set(s.scalars(select(UserRow.id)).all())
        for uid, roles, kind in users:
            if uid not in existing:
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


def issue_token(store: Store, user_id: str) -> str:
    """Create an API token; returns it once. Only its sha256 is stored."""
    get_actor(store, user_id)
    token = "gw_" + secrets.token_urlsafe(32)
    with store.write() as s:
        s.add(ApiTokenRow(id=new_id("t"), user_id=user_id, token_hash=_hash_token(token), created_at=utcnow()))
    return token


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
        return len(tokens)


def authenticate(store: Store, token: str) -> Actor | None:
    with store.read() as s:
        row = s.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == _hash_token(token)))
        if row is None or row.revoked_at is not None:
            return None
        user = s.get(UserRow, row.user_id)
    if user is None or not user.active:
        return None
    return _to_actor(user)
