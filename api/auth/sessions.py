"""Server-side sessions: what the session cookie stands for.

Why server-side rather than a signed cookie: a session must be revocable (sign-out, an operator's
``gateward users sessions revoke``, a deactivated person) at once and on every replica, and the
cookie then carries nothing but a random token. Only its sha256 is stored, like API tokens.

Every session ends at its absolute expiry (``GATEWARD_SESSION_MAX_HOURS``) and after
``GATEWARD_SESSION_IDLE_MINUTES`` without a request. The idle clock (``last_seen_at``) is written at
most once a minute per session, so a busy console costs no write per request. A session found
expired is ended in the same transaction that writes its ``auth.refused`` audit line, so the line
is written once, not on every later request with the stale cookie.

A session over — ended (signed out, revoked, refused), or past its idle or absolute limit — is
deleted once it has been over for ``GATEWARD_SESSION_RETENTION_DAYS`` (:func:`purge_sessions`): a
bounded batch after each sign-in (rows are only ever added at sign-in, so that keeps the table at
what the retention holds), all of them with ``gateward users purge-sessions``. The audit trail
already has every session's start and end; the table is only the working set, so a purge writes no
audit event. A cookie for a deleted session is refused as unknown.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from core import audit
from core.kernel.errors import GatewardError
from core.kernel.ids import new_id
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Actor, ActorKind, utcnow
from core.store import Store
from core.store.schema import AuthSessionRow, UserRow

TOKEN_PREFIX = "gws_"
TOUCH_EVERY = timedelta(seconds=60)
AUTH_ACTOR = "system:auth"  # who the audit trail names for a refusal nobody could be named for
DEFAULT_RETENTION = timedelta(days=7)
PURGE_BATCH = 200  # sessions deleted at most after one sign-in

log = logging.getLogger("gateward.auth")


class SessionRejected(GatewardError):
    """The session cookie does not authenticate; ``message`` says why (ended, expired, unknown)."""

    code = "unauthorized"
    http_status = 401


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta
    absolute: timedelta
    retention: timedelta = DEFAULT_RETENTION  # how long a session that is over stays listed before deletion


@dataclass(frozen=True)
class SessionInfo:
    id: str
    user_id: str
    method: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: str | None

    def as_dict(self) -> JsonObject:
        return {"id": self.id, "user": self.user_id, "method": self.method,
                "created_at": self.created_at.isoformat(), "last_seen_at": self.last_seen_at.isoformat(),
                "expires_at": self.expires_at.isoformat(),
                "ended_at": self.ended_at.isoformat() if self.ended_at else None, "end_reason": self.end_reason}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(row: AuthSessionRow) -> SessionInfo:
    return SessionInfo(row.id, row.user_id, row.method, row.created_at, row.last_seen_at, row.expires_at,
                       row.ended_at, row.end_reason)


def create_session(store: Store, actor: Actor, method: str, limits: SessionLimits,
                   audit_data: Mapping[str, Json] | None = None,
                   now: datetime | None = None) -> tuple[str, SessionInfo]:
    """A new session for ``actor`` and its ``auth.signed_in`` audit line, in one transaction.
    Returns the cookie token (shown to the browser once, stored hashed) and the session."""
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = AuthSessionRow(id=new_id("s"), token_hash=hash_token(token), user_id=actor.id, method=method,
                         created_at=now, last_seen_at=now, expires_at=now + limits.absolute)
    with store.write() as s:
        s.add(row)
        audit.append(s, actor=actor.id, action="auth.signed_in",
                     data={"method": method, "session": row.id, "roles": list(actor.roles), **(audit_data or {})})
        info = _info(row)
    try:  # housekeeping, never a reason to refuse the sign-in
        purge_sessions(store, limits, now=now)
    except Exception:
        log.exception("deleting sessions past their retention failed; the next sign-in tries again")
    return token, info


def check_session(store: Store, token: str, limits: SessionLimits, now: datetime | None = None) -> tuple[Actor, str]:
    """The actor behind a session cookie and the session id, or :class:`SessionRejected` saying
    why. Touches the idle clock (at most once a minute)."""
    now = now or utcnow()
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        raise SessionRejected("not a Gateward session: sign in again")
    th = hash_token(token)
    with store.read() as s:
        row = s.scalar(select(AuthSessionRow).where(AuthSessionRow.token_hash == th))
        if row is None:
            raise SessionRejected("unknown session: sign in again")
        info = _info(row)
        user = s.get(UserRow, info.user_id)
    if info.ended_at is not None:
        raise SessionRejected(f"this session ended ({info.end_reason or 'signed out'}): sign in again")
    expired = _expired(info, limits, now)
    if expired is not None:
        _end(store, info, expired, now, refused=True)
        raise SessionRejected(f"session expired ({expired.replace('_', ' ')}): sign in again")
    if user is None or not user.active:
        _end(store, info, "user_deactivated", now, refused=True)
        raise SessionRejected("this person is deactivated")
    if now - info.last_seen_at >= TOUCH_EVERY:
        with store.write() as s:
            s.execute(update(AuthSessionRow).where(AuthSessionRow.id == info.id, AuthSessionRow.ended_at.is_(None))
                      .values(last_seen_at=now))
    return Actor(id=user.id, roles=tuple(user.roles), kind=ActorKind(user.kind)), info.id


def _expired(info: SessionInfo, limits: SessionLimits, now: datetime) -> str | None:
    if now >= info.expires_at or now - info.created_at >= limits.absolute:
        return "absolute_limit"
    if now - info.last_seen_at >= limits.idle:
        return "idle_limit"
    return None


def _end(store: Store, info: SessionInfo, reason: str, now: datetime, *, refused: bool, by: str | None = None) -> bool:
    """End one session (if it is still open) with its audit line; whether this call ended it."""
    with store.write() as s:
        res = s.execute(update(AuthSessionRow)
                        .where(AuthSessionRow.id == info.id, AuthSessionRow.ended_at.is_(None))
                        .values(ended_at=now, end_reason=reason))
        done = int(getattr(res, "rowcount", 0) or 0)
        if done:
            if refused:
                audit.append(s, actor=info.user_id, action="auth.refused",
                             data={"reason": f"session_{reason}", "session": info.id, "method": info.method})
            else:
                audit.append(s, actor=by or info.user_id, action="auth.signed_out" if reason == "signed_out"
                             else "auth.session_revoked",
                             data={"session": info.id, "user": info.user_id, "reason": reason})
    return bool(done)


def end_session(store: Store, token: str, now: datetime | None = None) -> bool:
    """Sign-out: end the session behind ``token``; whether there was an open one."""
    with store.read() as s:
        row = s.scalar(select(AuthSessionRow).where(AuthSessionRow.token_hash == hash_token(token)))
        info = None if row is None else _info(row)
    return info is not None and _end(store, info, "signed_out", now or utcnow(), refused=False)


def revoke_sessions(store: Store, *, by: str, session_id: str | None = None, user_id: str | None = None,
                    now: datetime | None = None, reason: str = "revoked") -> int:
    """End one session (``session_id``) or every open session of ``user_id``; how many ended.
    ``reason`` is the sessions' end reason and their ``auth.session_revoked`` line's."""
    if (session_id is None) == (user_id is None):
        raise ValueError("give session_id or user_id")
    now = now or utcnow()
    q = select(AuthSessionRow).where(AuthSessionRow.ended_at.is_(None))
    q = q.where(AuthSessionRow.id == session_id) if session_id else q.where(AuthSessionRow.user_id == user_id)
    with store.read() as s:
        infos = [_info(r) for r in s.scalars(q)]
    return sum(_end(store, i, reason, now, refused=False, by=by) for i in infos)


def list_sessions(store: Store, user_id: str | None = None, *, include_ended: bool = False,
                  limit: int = 200) -> list[SessionInfo]:
    """Sessions, newest first (open ones only unless ``include_ended``)."""
    q = select(AuthSessionRow).order_by(AuthSessionRow.created_at.desc()).limit(limit)
    if user_id:
        q = q.where(AuthSessionRow.user_id == user_id)
    if not include_ended:
        q = q.where(AuthSessionRow.ended_at.is_(None))
    with store.read() as s:
        return [_info(r) for r in s.scalars(q)]


def purge_sessions(store: Store, limits: SessionLimits, *, now: datetime | None = None,
                   batch: int | None = PURGE_BATCH) -> int:
    """Delete sessions that have been over for longer than ``limits.retention`` — ended (signed
    out, revoked, refused) or past their idle or absolute limit — at most ``batch`` of them
    (``None``: all, a batch per transaction); how many were deleted."""
    cutoff = (now or utcnow()) - limits.retention
    over = or_(AuthSessionRow.ended_at < cutoff,
               AuthSessionRow.expires_at < cutoff,
               AuthSessionRow.created_at < cutoff - limits.absolute,
               AuthSessionRow.last_seen_at < cutoff - limits.idle)
    step = PURGE_BATCH if batch is None else batch
    total = 0
    while True:
        with store.write() as s:
            due = select(AuthSessionRow.id).where(over).limit(step).scalar_subquery()
            res = s.execute(delete(AuthSessionRow).where(AuthSessionRow.id.in_(due))
                            .execution_options(synchronize_session=False))
            n = int(getattr(res, "rowcount", 0) or 0)
        total += n
        if batch is not None or n < step:
            break
    if total:
        log.info("deleted %d session(s) over for more than %s (GATEWARD_SESSION_RETENTION_DAYS)", total,
                 limits.retention)
    return total
