"""Local accounts (for an ISP without an identity provider): argon2id password hashes.

``argon2-cffi`` does the hashing (its ``PasswordHasher`` defaults follow RFC 9106's recommended
profile, and ``check_needs_rehash`` lets a stored hash follow later parameter changes). A person
with no password set cannot sign in with one. The check costs the same whether the person exists,
has a password or not (a dummy hash is verified in those cases), so timing does not reveal which
names exist. After ``GATEWARD_PASSWORD_LOCKOUT_FAILURES`` consecutive failures the account is locked
for ``GATEWARD_PASSWORD_LOCKOUT_MINUTES`` (it does not even verify the password meanwhile, so a
guess during the lockout learns nothing).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.kernel.errors import Invalid, NotFound
from core.kernel.models import Actor, ActorKind, utcnow
from core.store import Store
from core.store.schema import UserPasswordRow, UserRow

MIN_LENGTH = 12
MAX_LENGTH = 1024


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hasher().hash("gateward: no such password")


@dataclass(frozen=True)
class Lockout:
    failures: int  # 0: never lock
    period: timedelta


class PasswordRefused(Exception):
    """A password sign-in that does not go through. ``reason`` is for the audit line only; the
    person is told the same thing whatever it was (no telling which names exist)."""

    def __init__(self, reason: str, user_id: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user_id = user_id


def set_password(store: Store, user_id: str, password: str, now: datetime | None = None) -> None:
    """Set (or replace) a person's password; clears failures and any lockout."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise Invalid(f"a password is {MIN_LENGTH}..{MAX_LENGTH} characters (got {len(password)})")
    digest = hasher().hash(password)
    now = now or utcnow()
    with store.write() as s:
        user = s.get(UserRow, user_id)
        if user is None:
            raise NotFound(f"unknown user {user_id!r}; add one with `gateward users add {user_id} --role ROLE`")
        if user.kind != str(ActorKind.HUMAN):
            raise Invalid(f"{user_id} is a job; jobs use API tokens, not passwords")
        row = s.get(UserPasswordRow, user_id)
        if row is None:
            s.add(UserPasswordRow(user_id=user_id, hash=digest, updated_at=now, failures=0, locked_until=None))
        else:
            row.hash, row.updated_at, row.failures, row.locked_until = digest, now, 0, None


def verify_password(store: Store, user_id: str, password: str, lockout: Lockout,
                    now: datetime | None = None) -> Actor:
    """The person, when ``password`` is theirs; else :class:`PasswordRefused`. Counts failures and
    locks the account as ``lockout`` says."""
    now = now or utcnow()
    if not user_id or len(user_id) > 64 or len(password) > MAX_LENGTH:
        _burn(password)
        raise PasswordRefused("malformed", None)
    with store.read() as s:
        user = s.get(UserRow, user_id)
        row = s.get(UserPasswordRow, user_id)
        stored = None if row is None else (row.hash, row.locked_until)
        actor = None if user is None else Actor(id=user.id, roles=tuple(user.roles), kind=ActorKind(user.kind))
        active = user is not None and user.active
    if stored is None or actor is None:
        _burn(password)
        raise PasswordRefused("unknown_user" if actor is None else "no_password", actor.id if actor else None)
    digest, locked_until = stored
    if locked_until is not None and locked_until > now:
        _burn(password)
        raise PasswordRefused("locked", user_id)
    ok: bool
    try:
        ok = hasher().verify(digest, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok:
        _failed(store, user_id, lockout, now)
        raise PasswordRefused("wrong_password", user_id)
    if not active or actor.kind is not ActorKind.HUMAN:
        raise PasswordRefused("deactivated", user_id)
    _succeeded(store, user_id, password, digest)
    return actor


def _burn(password: str) -> None:
    """Spend what a real check spends, so a refusal takes as long whatever its reason."""
    with contextlib.suppress(VerificationError):
        hasher().verify(_dummy_hash(), password[:MAX_LENGTH] or "x")


def _failed(store: Store, user_id: str, lockout: Lockout, now: datetime) -> None:
    with store.write() as s:
        row = s.get(UserPasswordRow, user_id)
        if row is None:
            return
        row.failures = (row.failures or 0) + 1
        if lockout.failures and row.failures >= lockout.failures:
            row.locked_until = now + lockout.period
            row.failures = 0


def _succeeded(store: Store, user_id: str, password: str, digest: str) -> None:
    rehash = hasher().check_needs_rehash(digest)
    with store.write() as s:
        row = s.get(UserPasswordRow, user_id)
        if row is None:
            return
        row.failures, row.locked_until = 0, None
        if rehash:
            row.hash = hasher().hash(password)


def has_password(store: Store, user_id: str) -> bool:
    with store.read() as s:
        return s.get(UserPasswordRow, user_id) is not None


def clear_password(store: Store, user_id: str) -> bool:
    """Remove a person's password (they can no longer sign in with one); whether there was one."""
    with store.write() as s:
        row = s.get(UserPasswordRow, user_id)
        if row is None:
            return False
        s.delete(row)
    return True
