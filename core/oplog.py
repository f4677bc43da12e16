"""One structured log line per governed action, and its count and duration for ``/metrics``.

A governed action is a call of the lifecycle façade that changes something or decides something —
submit, approve, reject, apply, rollback, a campaign batch, crash recovery (:data:`GOVERNED`). Each
one, whoever called it (API, CLI, campaign worker, remediation job), gives one ``INFO`` record on
the ``gateward.action`` logger with the fields ``action``, ``actor``, ``proposal``, ``device``
(a single target; the count otherwise), ``outcome`` (the proposal's resulting state, ``allow`` /
``deny``, or the refusal's error code) and ``duration_ms``, plus the ``request_id`` of the HTTP
request it ran in (:data:`REQUEST_ID`). The JSON log formatter (``gateward.logs``) puts them
beside the message.

Why instrument the façade's instance (:func:`instrument`) rather than each method or each audit
event: every governed action passes the façade exactly once (the phases call each other, never
the façade), while an action appends many audit events (one per device, per step) and the audit
trail has no notion of how long the action took. One wrapper in one place, so a new façade method
is governed by adding its name here.

Metrics: one observer (the newest app's ``api.metrics.Metrics``, set with :func:`set_observer`)
is told ``(action, outcome, seconds)``; without one nothing is counted.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from core.kernel.errors import GatewardError
from core.kernel.models import Actor, Proposal

log = logging.getLogger("gateward.action")

#: the HTTP request a governed action runs in (set by ``api.request_log``); None outside requests
REQUEST_ID: ContextVar[str | None] = ContextVar("gateward_request_id", default=None)

#: façade method → the action name logged and counted
GOVERNED: dict[str, str] = {
    "create": "create", "edit": "edit", "cancel": "cancel", "submit": "submit", "submit_detailed": "submit",
    "approve": "approve", "reject": "reject", "apply": "apply", "rollback": "rollback", "diagnose": "diagnose",
    "apply_batch": "campaign_batch", "finish_staged": "campaign_finish", "rollback_staged": "campaign_rollback",
    "recover": "recover",
}
#: a bounded label set for the metrics: outcomes not listed here are counted as "other"
OUTCOMES = frozenset({
    "ok", "allow", "deny", "draft", "validated", "invalid", "previewed", "denied", "awaiting_approval", "approved",
    "rejected", "backed_up", "applying", "verifying", "done", "rolled_back", "failed", "cancelled",
    "rollback_pending", "not_found", "conflict", "locked", "forbidden", "policy_denied", "window_closed",
    "device_unavailable", "storage_full", "shutting_down", "error",
})

Observer = Callable[[str, str, float], None]
_observer: list[Observer | None] = [None]


def set_observer(observer: Observer | None) -> None:
    """Who is told ``(action, outcome, seconds)`` after each governed action (the newest app's
    metrics; ``None``: nobody)."""
    _observer[0] = observer


def _state(p: Proposal) -> str:
    return str(getattr(p.state, "value", p.state))


def outcome_of(result: Any) -> str:
    """What a façade call's result says happened, as one word."""
    if isinstance(result, Proposal):
        return _state(result)
    proposal = getattr(result, "proposal", None)
    if isinstance(proposal, Proposal):  # ApplyOutcome
        return _state(proposal)
    row = getattr(result, "row", None)  # Submitted: the proposal's row as committed
    if row is not None and getattr(row, "state", None) is not None:
        return str(row.state)
    if hasattr(result, "allow") and isinstance(result.allow, bool):  # a Decision (dry run)
        return "allow" if result.allow else "deny"
    if hasattr(result, "failed") and hasattr(result, "verified"):  # a campaign batch
        return "failed" if result.failed or result.alarms else "ok"
    return "ok"


def _subject(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> tuple[str | None, str | None, str | None]:
    """(actor, proposal id, device) of a call, from its arguments and its result."""
    actor = next((a.id for a in (*args, *kwargs.values()) if isinstance(a, Actor)), None)
    if actor is None:
        actor = kwargs.get("actor_id") or next((a for a in args if isinstance(a, str) and a.startswith("system:")),
                                               None)
    proposal: Proposal | None = result if isinstance(result, Proposal) else getattr(result, "proposal", None)
    pid: str | None = proposal.id if isinstance(proposal, Proposal) else None
    if pid is None:
        row = getattr(result, "row", None)
        pid = getattr(row, "id", None) or getattr(result, "proposal_id", None)
    if pid is None and args and isinstance(args[0], str) and args[0].startswith("p-"):
        pid = args[0]
    targets: list[str] = list(proposal.targets) if isinstance(proposal, Proposal) else []
    if not targets and len(args) > 1 and isinstance(args[1], (list, tuple)):  # a campaign batch's devices
        targets = [str(d) for d in args[1]]
    if not targets:
        draft_targets = getattr(args[0] if args else None, "targets", None)
        if isinstance(draft_targets, list):
            targets = [str(t) for t in draft_targets]
    device = targets[0] if len(targets) == 1 else (f"{len(targets)} devices" if targets else None)
    return actor, pid, device


def _record(action: str, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any, outcome: str,
            seconds: float) -> None:
    observer = _observer[0]
    if observer is not None:
        observer(action, outcome if outcome in OUTCOMES else "other", seconds)
    if not log.isEnabledFor(logging.INFO):
        return
    actor, pid, device = _subject(args, kwargs, result)
    if action == "diagnose" and args and isinstance(args[0], str):
        device = args[0]
    if action == "recover" and actor is None:
        actor = "system:recovery"  # the façade's default
    fields = {"action": action, "actor": actor, "proposal": pid, "device": device, "outcome": outcome,
              "duration_ms": round(seconds * 1000, 1), "request_id": REQUEST_ID.get()}
    log.info("%s %s by %s: %s (%.1f ms)", action, pid or device or "-", actor or "-", outcome, seconds * 1000,
             extra={"fields": fields})


def governed(action: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a bound façade method) that logs and counts each call as ``action``."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        except GatewardError as exc:
            _record(action, args, kwargs, None, exc.code, time.perf_counter() - t0)
            raise
        except Exception:
            _record(action, args, kwargs, None, "error", time.perf_counter() - t0)
            raise
        _record(action, args, kwargs, result, outcome_of(result), time.perf_counter() - t0)
        return result

    call.__governed__ = action  # type: ignore[attr-defined]
    return call


def instrument(lifecycle: object) -> None:
    """Wrap each governed method of ``lifecycle`` (an instance: the class stays as it is) once."""
    for name, action in GOVERNED.items():
        bound = getattr(lifecycle, name, None)
        if bound is None or hasattr(bound, "__governed__"):
            continue
        setattr(lifecycle, name, governed(action, bound))


__all__ = ["GOVERNED", "REQUEST_ID", "governed", "instrument", "outcome_of", "set_observer"]
