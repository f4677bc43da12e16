"""Campaign retries list the executor contract's errors only (issue 14: no simulator type leaks)."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.orchestrator import Orchestrator
from campaigns.tasks import RETRY
from executors.base import RETRYABLE_ERRORS, Busy, DeviceOffline, ExecutorError, Fault, Timeout, UnknownAdapter


def _retried(exc: BaseException) -> bool:
    class _Job:
        attempts = 0

    return RETRY.get_retry_decision(exception=exc, job=_Job()) is not None  # type: ignore[arg-type]


def _transient(exc: Exception) -> bool:
    # only the Conflict branch looks at the orchestrator's lifecycle; every exception here skips it
    return bool(Orchestrator._transient(None, exc, "p-1"))  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [Busy, DeviceOffline, Timeout])
def test_retryable_contract_errors_are_retried_by_both(cls: type[ExecutorError]) -> None:
    exc = cls("cpe-1", "try later")
    assert cls in RETRYABLE_ERRORS and exc.retryable
    assert _retried(exc) and _transient(exc)


@pytest.mark.parametrize("exc", [Fault("cpe-1", "refused"), UnknownAdapter("cpe-1", "no adapter 'acme'")])
def test_final_contract_errors_are_not(exc: ExecutorError) -> None:
    assert not _retried(exc) and not _transient(exc)


def test_no_adapter_internal_type_is_listed() -> None:
    listed: Any = RETRY.retry_exceptions or ()
    assert not [c for c in listed if c.__module__.startswith("executors.") and not issubclass(c, ExecutorError)]
    assert all(c.__module__ == "core.kernel.ports.executor" for c in listed if issubclass(c, ExecutorError))
