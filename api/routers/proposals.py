"""Proposals: create (validate → preview → decide at once), list, detail, edit, approve,
reject, cancel, apply, rollback, and the policy decision with its explanation.

Every action is one call into ``core.lifecycle``; roles, separation of duties and the
hash-bound approval are enforced there, server side, and its refusals come back as 403 / 409 /
422 with the lifecycle's own words. This router never decides who may do what.
"""

from __future__ import annotations

import time
from functools import cached_property, partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from api import proposal_views as views
from api.deps import ActorDep, AppRuntime, CredentialDep, RuntimeDep, bearer, credential, current_actor
from api.errors import errors_for
from api.idempotency import IdempotencyKey, once
from api.lean import LeanRoute, QueryParser, lean_handler
from api.metrics import Metrics
from api.schemas import (
    ApproveIn,
    CancelIn,
    DecisionOut,
    ProposalDetail,
    ProposalIn,
    ProposalList,
    RejectIn,
    RollbackIn,
)
from api.scrub import scrub_policy_input
from core.idempotency import IdempotencyKeyInFlight
from core.kernel.errors import Invalid, NotFound
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, Change, Precondition, Proposal, ProposalDraft, ProposalState
from core.kernel.secrets import is_secret_path, mask_value
from core.lifecycle import ApplyOutcome, OnRecord
from core.store import repo

router = APIRouter(prefix="/api/proposals", tags=["proposals"], responses=errors_for(401))

ProposalId = Annotated[str, Path(min_length=1, max_length=64)]
ACTION_ERRORS = errors_for(403, 404, 409, 413, 415, 422)


def _detail(rt: AppRuntime, pid: str, outcome: ApplyOutcome | None = None) -> ProposalDetail:
    # Core: the ORM session's reads were most of an answer's time. In the store lane
    # (``core.store.lane``), like the lifecycle's own steps.
    with rt.store.read_connection(laned=True) as conn:
        data, p = views.detail(conn, pid)
    return _answer(data, p, outcome, rt)


def _secrets(rt: AppRuntime, p: Proposal) -> list[JsonObject]:
    """What each secret the proposal writes is for, with its new value's keyed fingerprint
    (``brain.secret_field.purposes``, issue 54) — the one the agent saw when it was submitted. Read only
    for a proposal that sets a secret; none in a build without the planner."""
    if not any(is_secret_path(c.path) for c in p.changes):
        return []
    try:
        from brain.secret_field import purposes_from_store
    except ImportError:
        return []
    with rt.store.read() as s:
        return [x.model_dump() for x in purposes_from_store(s, p.changes, p.targets)]


def _answer(data: dict[str, Any], p: Proposal, outcome: ApplyOutcome | None = None,
            rt: AppRuntime | None = None) -> ProposalDetail:
    if rt is not None:
        data["secrets"] = _secrets(rt, p)
    if p.per_target:
        data["proposal"]["per_device"] = per_device_table(p)
    if outcome is not None:
        data["outcome"] = {"applied": outcome.applied, "rolled_back": outcome.rolled_back,
                           "failed": outcome.failed, "alarms": outcome.alarms, "restored": outcome.restored,
                           "not_restored": outcome.not_restored, "partial": outcome.partial,
                           "unconfirmed": outcome.unconfirmed,
                           "scheduled_for": outcome.scheduled_for.isoformat() if outcome.scheduled_for else None}
    return ProposalDetail(**data)


def per_device_table(p: Proposal) -> list[JsonObject]:
    """A per-target proposal's values, one row per target with what that device gets (secrets
    masked): the table an approver reads when devices get different values (a joint channel plan)."""
    return [{"device_id": t, "changes": [{"path": c.path, "value": mask_value(c.path, c.value), "type": c.type,
                                          "own": c.target is not None} for c in changes]}
            for t, changes in p.values_by_device().items()]


def _draft(body: ProposalIn) -> ProposalDraft:
    return ProposalDraft(intent=body.intent, targets=body.targets, selector=body.selector,
                         changes=[Change(path=c.path, value=c.value, type=c.type, target=c.target)
                                  for c in body.changes],
                         operations=body.operations, rationale=body.rationale, evidence=body.evidence,
                         emergency=body.emergency, source="api", not_before=body.not_before,
                         preconditions=[Precondition(**c.model_dump()) for c in body.preconditions])


def _to_draft_checked(body: ProposalIn) -> ProposalDraft:
    try:
        return _draft(body)
    except ValidationError as exc:  # the domain model refused what the schema let through
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid proposal"}
        raise Invalid(str(first.get("msg", "invalid proposal"))) from exc


class ListQuery(BaseModel):
    """The queue's query parameters (the bounds the declared endpoint below states)."""

    model_config = ConfigDict(frozen=True)

    state: list[ProposalState] | None = Field(None, max_length=20)
    device: str | None = Field(None, max_length=128)
    author: str | None = Field(None, max_length=64)
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)

    @cached_property
    def key(self) -> tuple[Any, ...]:
        """The page-cache key: what selects the rows (states as a set, empty filters as none)."""
        states = tuple(sorted({str(x) for x in self.state})) if self.state else ()
        return states, self.author or None, self.device or None, self.limit, self.offset


_list_query = QueryParser(ListQuery, frozenset({"state"}))


def _read_page(request: Request, q: ListQuery) -> bytes:
    rt: AppRuntime = request.app.state.runtime
    states, author, device, limit, offset = q.key
    # Core only: no ORM session to set up for two SELECTs; in the store lane (``core.store.lane``).
    with rt.store.read_connection(laned=True) as conn:
        return views.list_page_json(conn, states=list(states) or None, author=author, device_id=device,
                                    limit=limit, offset=offset)


async def _serve_list(request: Request, token: str, q: ListQuery) -> Response:
    """Authenticate, then the page from the cache when it was rendered at the audit head this
    request read after it arrived, else read on a worker thread (``api.page_cache``)."""
    await current_actor(request, token)
    state = request.app.state
    head = await state.list_head.read()
    key = q.key
    body = None if head is None else state.list_pages.get(key, head)
    if body is None:
        # Rendered from columns (rows cached per version) and sent as is: no second validation pass.
        body = await run_in_threadpool(_read_page, request, q)
        if head is not None:
            state.list_pages.put(key, head, body)
    return Response(body, media_type="application/json")


async def _list_lean(request: Request) -> Response:
    """``list_proposals`` without FastAPI's per-request machinery (``api.lean``): same token check,
    same parameter bounds, same answer."""
    token = await credential(request, await bearer(request))
    return await _serve_list(request, token, _list_query(request))


@lean_handler(_list_lean)
async def list_proposals(request: Request, token: CredentialDep,
                         state: Annotated[list[ProposalState] | None, Query(max_length=20)] = None,
                         device: Annotated[str | None, Query(max_length=128)] = None,
                         author: Annotated[str | None, Query(max_length=64)] = None,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100,
                         offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> Response:
    """Newest first; ``state`` may repeat (``?state=awaiting_approval&state=approved``)."""
    q = ListQuery(state=state, device=device, author=author, limit=limit, offset=offset)
    return await _serve_list(request, token, q)


# Served by its lean handler; FastAPI still describes it (parameters, bounds, answer) from the signature.
router.add_api_route("", list_proposals, methods=["GET"], response_model=ProposalList, route_class_override=LeanRoute)


@router.post("", status_code=201, response_model=ProposalDetail, responses=ACTION_ERRORS)
async def create_proposal(request: Request, body: ProposalIn, rt: RuntimeDep, actor: ActorDep,
                          idempotency_key: IdempotencyKey = None) -> Any:
    """Create and take it through validate → preview → policy. The answer is the proposal in
    the state the gates left it: ``approved``, ``awaiting_approval``, ``denied`` or ``invalid``.
    With an ``Idempotency-Key`` a repeated request answers the first one's answer (``api.idempotency``)."""
    draft = _to_draft_checked(body)
    metrics = request.app.state.metrics
    if idempotency_key is not None:
        def attempt(made: str | None, bind: OnRecord) -> ProposalDetail:
            if made is not None and (answer := _made_earlier(rt, made)) is not None:
                return answer
            if not body.record_invalid:
                _refuse_invalid(rt, draft, actor)
            return _submit(rt, draft, actor, metrics, on_record=bind)

        return await once(rt.store, actor, idempotency_key, "POST /api/proposals", body.model_dump(mode="json"),
                          attempt)
    if not body.record_invalid:
        await run_in_threadpool(_refuse_invalid, rt, draft, actor)
    return await run_in_threadpool(_submit, rt, draft, actor, metrics)


def _made_earlier(rt: AppRuntime, pid: str) -> ProposalDetail | None:
    """The proposal an earlier attempt under the key recorded, as the create answers it — finished
    first if that attempt's process died before the decision; None if it does not exist."""
    if rt.lifecycle.create_under_way(pid):
        raise IdempotencyKeyInFlight(f"proposal {pid}, created by the first request with this Idempotency-Key, "
                                     "is still being previewed and decided; send the request again in a moment",
                                     proposal_id=pid)
    try:
        return _detail(rt, pid)
    except NotFound:
        return None


def _refuse_invalid(rt: AppRuntime, draft: ProposalDraft, actor: Actor) -> None:
    """A person's form: what validation refuses is answered, never stored as a stray proposal."""
    problems = rt.lifecycle.check(draft, actor)
    if problems:
        raise Invalid("; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""),
                      errors=problems)


def _submit(rt: AppRuntime, draft: ProposalDraft, actor: Actor, metrics: Metrics, *,
            on_record: OnRecord | None = None) -> ProposalDetail:
    """The gates and the answer in one worker-thread hop. Each part's time goes to
    ``gateward_api_handler_seconds`` so the lifecycle's share of a create can be told from the
    route's own (``gateward bench api_latency`` prints the split)."""
    t0 = time.perf_counter()
    submitted = rt.lifecycle.submit_detailed(draft, actor, on_record=on_record)
    t1 = time.perf_counter()
    # Built from what submit committed, not read back (``views.submitted_detail``).
    data, p = views.submitted_detail(submitted, partial(rt.store.read_connection, laned=True))
    answer = _answer(data, p, rt=rt)
    observe = metrics.handler.labels
    observe(route="POST /api/proposals", part="lifecycle").observe(t1 - t0)
    observe(route="POST /api/proposals", part="answer").observe(time.perf_counter() - t1)
    return answer


@router.get("/{pid}", response_model=ProposalDetail, responses=errors_for(404))
def get_proposal(pid: ProposalId, rt: RuntimeDep, _: ActorDep) -> ProposalDetail:
    """Everything an approver needs: per-device before → after (secrets masked), the decision
    and its reasons in plain words, approvals, backup, executions, blast radius, execution log."""
    return _detail(rt, pid)


def _resubmit(rt: AppRuntime, pid: str, draft: ProposalDraft, actor: Actor) -> None:
    rt.lifecycle.resubmit(pid, draft, actor)  # an invalid edit is recorded ``invalid``, answered as such


@router.put("/{pid}", response_model=ProposalDetail, responses=ACTION_ERRORS)
async def edit_proposal(pid: ProposalId, body: ProposalIn, rt: RuntimeDep, actor: ActorDep) -> ProposalDetail:
    """Replace the content (author only) and run the gates again. The hash changes, so every
    earlier decision and approval is void; an approver holding the old hash gets 409."""
    draft = _to_draft_checked(body)
    await run_in_threadpool(_resubmit, rt, pid, draft, actor)
    return await run_in_threadpool(_detail, rt, pid)


@router.get("/{pid}/decision", response_model=DecisionOut, responses=errors_for(404))
def decision(pid: ProposalId, rt: RuntimeDep, _: ActorDep) -> DecisionOut:
    """The latest policy decision (a dry run if that is all there is), with the rules revision,
    the engine, the rules in dry-run mode that would have denied it, the policy input it was
    made on (secrets masked) and a plain-words explanation."""
    from policies.explain import explain

    with rt.store.read() as s:
        p = repo.proposal_from_row(repo.get_proposal_row(s, pid))
        rec = repo.latest_decision(s, pid) or repo.latest_decision(s, pid, include_dry_run=True)
        if rec is None:
            raise NotFound(f"proposal {pid} has no policy decision yet (it is {p.state})")
        result = dict(rec.result or {})
        return DecisionOut(
            proposal_id=pid, proposal_hash=rec.proposal_hash, current=rec.proposal_hash == p.hash,
            dry_run=rec.dry_run, allow=bool(result.get("allow", False)), deny=list(result.get("deny", [])),
            approvals_required=list(result.get("approvals_required", [])), risk=float(result.get("risk", 0.0)),
            obligations=list(result.get("obligations", [])), warnings=list(result.get("warnings", [])),
            would_deny=[str(w) for w in (rec.would_deny or [])], revision=rec.revision, engine=rec.engine,
            duration_us=rec.duration_us, created_at=rec.created_at.isoformat(), explanation=explain(p, rec),
            input=scrub_policy_input(rec.input or {}))


@router.post("/{pid}/approve", response_model=ProposalDetail, responses=ACTION_ERRORS)
async def approve(pid: ProposalId, body: ApproveIn, rt: RuntimeDep, actor: ActorDep) -> ProposalDetail:
    """Approve the content you reviewed (``hash``). The server checks the role policy asked for,
    that you are not the author and have not approved already, and that the hash still holds."""
    await run_in_threadpool(rt.lifecycle.approve, pid, actor, body.comment, body.hash)
    return await run_in_threadpool(_detail, rt, pid)


@router.post("/{pid}/reject", response_model=ProposalDetail, responses=ACTION_ERRORS)
async def reject(pid: ProposalId, body: RejectIn, rt: RuntimeDep, actor: ActorDep) -> ProposalDetail:
    await run_in_threadpool(rt.lifecycle.reject, pid, actor, body.reason)
    return await run_in_threadpool(_detail, rt, pid)


@router.post("/{pid}/cancel", response_model=ProposalDetail, responses=ACTION_ERRORS)
async def cancel(pid: ProposalId, rt: RuntimeDep, actor: ActorDep, body: CancelIn | None = None) -> ProposalDetail:
    await run_in_threadpool(rt.lifecycle.cancel, pid, actor, body.reason if body else "")
    return await run_in_threadpool(_detail, rt, pid)


@router.post("/{pid}/apply", response_model=ProposalDetail, responses=ACTION_ERRORS)
async def apply(pid: ProposalId, rt: RuntimeDep, actor: ActorDep) -> ProposalDetail:
    """Back up, write, verify — or roll back. 200 with the final state (``done``,
    ``rolled_back`` or ``failed``) and ``outcome``; 409 when nothing was written (locked,
    offline, not approved)."""
    outcome = await run_in_threadpool(rt.lifecycle.apply, pid, actor)
    return await run_in_threadpool(_detail, rt, pid, outcome)


@router.post("/{pid}/rollback", response_model=ProposalDetail, responses=ACTION_ERRORS)
async def rollback(pid: ProposalId, body: RollbackIn, rt: RuntimeDep, actor: ActorDep) -> ProposalDetail:
    """Restore a finished change from its backup (approvers, senior approvers, admins). 409 naming
    the drift when a device no longer holds what the proposal wrote, unless ``force`` (audited)."""
    outcome = await run_in_threadpool(partial(rt.lifecycle.rollback, force=body.force), pid, actor, body.reason)
    return await run_in_threadpool(_detail, rt, pid, outcome)
