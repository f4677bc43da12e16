"""``Idempotency-Key`` on the creates (``POST /api/proposals``, ``POST /api/campaigns``).

A client that lost an answer — a dropped connection, a server killed mid-request, a 503 during a
database outage — sends the same request again with the same key and gets the first attempt's
answer, never a second proposal or campaign (``core.idempotency`` says how that holds across a crash
and across replicas). A request without the header is served as before.

The answers: the first attempt's, replayed with ``Idempotent-Replayed: true`` (a success or a refusal
the same request would get again); 422 ``idempotency_key_reused`` when the key first came with another
body; 409 ``idempotency_key_in_flight`` with ``Retry-After`` while the first attempt still runs. An
attempt that ended without a final answer (a 503, a conflict) leaves the key to a retry, which
answers from the proposal the attempt recorded, if it recorded one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.errors import domain_error_body
from core.idempotency import KEY_PATTERN, IdempotencyKeyInFlight, IdempotencyKeys, fingerprint, unquote
from core.kernel.errors import GatewardError
from core.kernel.models import Actor
from core.store import Store

REPLAYED = "Idempotent-Replayed"
RETRY_IN_FLIGHT_S = 1

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=KEY_PATTERN,
    description="Makes the create safe to send again (docs/api.md, 'Idempotency-Key'): the same key with the "
                "same body answers the first attempt's answer (header Idempotent-Replayed: true); with another "
                "body 422 idempotency_key_reused; while the first attempt runs 409 idempotency_key_in_flight. "
                "Per person, kept 24 h. A UUID, quoted (RFC 8941 string) or bare: letters, digits and ._~:+/=-, "
                "1 to 255.")]

#: One attempt of a create: ``(resource, bind)`` — the proposal an earlier attempt under the key recorded
#: (answer from it if it stands), and what to run in the transaction that records a new proposal.
Attempt = Callable[[str | None, Callable[[Session, str], None]], Any]


async def once(store: Store, actor: Actor, raw_key: str, operation: str, request: Any, attempt: Attempt,
               status_code: int = 201) -> JSONResponse:
    """Run ``attempt`` once per (person, key): the first time, or again after an attempt that ended
    without a final answer; otherwise answer what the first attempt answered."""
    keys = IdempotencyKeys(store)
    try:
        claim = await run_in_threadpool(keys.claim, actor.id, unquote(raw_key), operation, fingerprint(request))
    except IdempotencyKeyInFlight as exc:
        return _in_flight(exc)
    if claim.replay:
        return JSONResponse(claim.answer, status_code=claim.status or status_code, headers={REPLAYED: "true"})

    def bind(s: Session, resource: str) -> None:
        keys.bind(s, claim, resource)

    try:
        result = await run_in_threadpool(attempt, claim.resource, bind)
    except IdempotencyKeyInFlight as exc:  # an earlier attempt's proposal is still being created
        with contextlib.suppress(Exception):
            await run_in_threadpool(keys.release, claim)
        return _in_flight(exc)
    except GatewardError as exc:
        with contextlib.suppress(Exception):  # the error is the answer; a key not updated is taken over
            await run_in_threadpool(keys.answer, claim, exc.http_status, domain_error_body(exc))
        raise
    except BaseException:
        with contextlib.suppress(Exception):
            await run_in_threadpool(keys.release, claim)
        raise
    body = jsonable_encoder(result)
    # Not kept (the database went away just now): the key stays bound to what was recorded, and a
    # retry answers from it.
    with contextlib.suppress(Exception):
        await run_in_threadpool(keys.answer, claim, status_code, body)
    return JSONResponse(body, status_code=status_code)


def _in_flight(exc: IdempotencyKeyInFlight) -> JSONResponse:
    return JSONResponse(domain_error_body(exc), status_code=exc.http_status,
                        headers={"Retry-After": str(RETRY_IN_FLIGHT_S)})
