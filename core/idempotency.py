"""Idempotency keys: a create sent again with the same key is carried out once.

Why: a client whose answer was lost — a dropped connection, a server killed mid-request, a 503 during
an outage — cannot tell whether its create happened; sent again, ``POST /api/proposals`` made a second
proposal (and the first, half-made, held its devices). With an ``Idempotency-Key`` (the IETF httpapi
draft's header) the first attempt's answer is kept and replayed: same key and same request → the
same answer; same key and another request → refused (422 ``idempotency_key_reused``); the same key
while its first attempt still runs → 409 ``idempotency_key_in_flight`` with ``Retry-After``.

Keys are per person (``actor``), kept :data:`KEEP` (24 h) and stored in the database, so every replica
answers the same. What makes it hold across a crash: the proposal an attempt makes is written to its
key (:meth:`IdempotencyKeys.bind`) *in the transaction that records the proposal* — either both exist
or neither — so a retry after the attempt died finds the proposal instead of making another, and
answers from it (the lifecycle finishes a submit whose process died, ``core.lifecycle.create_intents``).

An attempt under way is held by its process (``host:pid``, as a device lock); a key whose holder died,
or whose attempt in this process ended without a final answer, is taken over by the next retry. Only
final answers are kept for replay — a success, or a refusal the same request would get again (4xx but
408, 409, 425, 429); after a 5xx or a conflict the retry runs again (from the recorded proposal, if
the attempt recorded one).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.execution import lock_is_live, owner
from core.kernel.canonical import canonical_json
from core.kernel.errors import Conflict, Invalid
from core.kernel.models import utcnow
from core.store import Store
from core.store.schema import IdempotencyKeyRow

KEYS = cast(Table, IdempotencyKeyRow.__table__)
KEEP = timedelta(hours=24)
HOLD = timedelta(minutes=15)  # another host's attempt is taken for live this long (a device lock's TTL)
PURGE_EVERY_S = 600.0  # expired keys are deleted at most this often per process
#: the key's published format: an RFC 8941 sf-string (quoted) or the same characters bare — UUIDs, ULIDs,
#: base64 — 1 to 255 of them (the draft's security advice: a fixed format, checked before any lookup)
KEY_PATTERN = r'^(?:"[A-Za-z0-9._~:+/=-]{1,255}"|[A-Za-z0-9._~:+/=-]{1,255})$'
NOT_FINAL = frozenset({408, 409, 425, 429})


class IdempotencyKeyReused(Invalid):
    """The key was first sent with another request (another body, or another operation)."""

    code = "idempotency_key_reused"


class IdempotencyKeyInFlight(Conflict):
    """The key's first attempt is still running (in this process or a live one)."""

    code = "idempotency_key_in_flight"


@dataclass(frozen=True)
class Claim:
    """An attempt under a key: the proposal an earlier attempt recorded (``resource``), or the first
    answer to replay (``status`` and ``answer``)."""

    actor: str
    key: str
    operation: str
    fingerprint: str
    resource: str | None = None
    status: int | None = None
    answer: Any = None

    @property
    def replay(self) -> bool:
        return self.status is not None


def unquote(raw: str) -> str:
    """The key inside an sf-string's quotes (the format allows no escapes)."""
    return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw


def fingerprint(request: Any) -> str:
    """What identifies a request under its key: sha256 of its canonical JSON (key order and white
    space do not count; a changed value does)."""
    return hashlib.sha256(canonical_json(request)).hexdigest()


def is_final(status: int) -> bool:
    """An answer the same request would get again: kept and replayed."""
    return 200 <= status < 300 or (400 <= status < 500 and status not in NOT_FINAL)


class IdempotencyKeys:
    """The keys of one database. Cheap to make: what must be shared by every request of the process
    (the attempts it runs now) is kept by the module, per database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def claim(self, actor: str, key: str, operation: str, fp: str) -> Claim:
        """Start an attempt under ``key``, or say what an earlier one left: its answer to replay, the
        proposal it recorded, or that it still runs (:class:`IdempotencyKeyInFlight`)."""
        self._purge_now_and_then()
        try:
            return self._claim(actor, key, operation, fp)
        except IntegrityError:  # two first attempts at once (PostgreSQL): the other one inserted first
            return self._claim(actor, key, operation, fp)

    def _claim(self, actor: str, key: str, operation: str, fp: str) -> Claim:
        now = utcnow()
        held = {"holder": owner(), "held_until": now + HOLD}
        with self.store.write() as s:
            row = s.execute(select(KEYS).where(KEYS.c.actor == actor, KEYS.c.key == key).with_for_update()).first()
            if row is not None and row.expires_at <= now:
                s.execute(delete(KEYS).where(KEYS.c.actor == actor, KEYS.c.key == key))
                row = None
            if row is None:
                s.execute(insert(KEYS).values(actor=actor, key=key, operation=operation, fingerprint=fp,
                                              created_at=now, expires_at=now + KEEP, **held))
                self._hold(actor, key)
                return Claim(actor, key, operation, fp)
            if row.operation != operation or row.fingerprint != fp:
                first = "another operation" if row.operation != operation else "another request body"
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} was first sent with {first} (at {row.created_at:%Y-%m-%d %H:%M:%S}Z); "
                    "a key names one request: send that request again to get its answer, or use a new key "
                    "for a new request")
            if row.status is not None:
                return Claim(actor, key, operation, fp, row.resource, row.status, row.answer)
            if row.holder is not None and self._live(actor, key, row.holder, row.held_until):
                raise IdempotencyKeyInFlight(
                    f"the first request with Idempotency-Key {key!r} is still being carried out "
                    f"(since {row.created_at:%H:%M:%S}Z); send it again in a moment to get its answer",
                    resource=row.resource)
            s.execute(update(KEYS).where(KEYS.c.actor == actor, KEYS.c.key == key).values(**held))
            self._hold(actor, key)
            return Claim(actor, key, operation, fp, row.resource)

    def bind(self, s: Session, claim: Claim, resource: str) -> None:
        """Record, in the caller's transaction (the one that records the proposal), what this
        attempt made: a retry after it died answers from it instead of making another."""
        s.execute(update(KEYS).where(KEYS.c.actor == claim.actor, KEYS.c.key == claim.key)
                  .values(resource=resource))

    def answer(self, claim: Claim, status: int, body: Any) -> None:
        """Keep the attempt's final answer for replay (:func:`is_final`), or free the key for a retry."""
        if not is_final(status):
            self.release(claim)
            return
        try:
            with self.store.write() as s:
                s.execute(update(KEYS).where(KEYS.c.actor == claim.actor, KEYS.c.key == claim.key)
                          .values(status=status, answer=body, holder=None, held_until=None))
        finally:
            self._drop(claim)

    def release(self, claim: Claim) -> None:
        """The attempt ended without a final answer: its key is free for a retry — which answers from
        the proposal the attempt recorded, if any; a key that recorded nothing is forgotten."""
        try:
            with self.store.write() as s:
                where = (KEYS.c.actor == claim.actor, KEYS.c.key == claim.key, KEYS.c.holder == owner())
                s.execute(delete(KEYS).where(*where, KEYS.c.resource.is_(None), KEYS.c.status.is_(None)))
                s.execute(update(KEYS).where(*where).values(holder=None, held_until=None))
        finally:
            self._drop(claim)

    def purge(self) -> int:
        """Delete the keys past :data:`KEEP`."""
        with self.store.write() as s:
            return _count(s.execute(delete(KEYS).where(KEYS.c.expires_at <= utcnow())))

    def _purge_now_and_then(self) -> None:
        now = time.monotonic()
        with _GUARD:
            if now < _NEXT_PURGE.get(self.store.url, 0.0):
                return
            _NEXT_PURGE[self.store.url] = now + PURGE_EVERY_S
        self.purge()

    def _live(self, actor: str, key: str, holder: str, until: Any) -> bool:
        if holder == owner():  # this process: live while a request of it runs under the key
            with _GUARD:
                return (self.store.url, actor, key) in _MINE
        return lock_is_live(holder, until)

    def _hold(self, actor: str, key: str) -> None:
        with _GUARD:
            _MINE.add((self.store.url, actor, key))

    def _drop(self, claim: Claim) -> None:
        with _GUARD:
            _MINE.discard((self.store.url, claim.actor, claim.key))


_GUARD = threading.Lock()
_MINE: set[tuple[str, str, str]] = set()  # (database, actor, key) of the attempts this process runs now
_NEXT_PURGE: dict[str, float] = {}  # per database: when this process next deletes expired keys


def _count(result: Result[Any]) -> int:
    return int(cast("CursorResult[Any]", result).rowcount or 0)
