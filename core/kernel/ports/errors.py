"""The executor contract's typed errors, importable without the contract's models.

Why a module of their own: :mod:`core.kernel.ports.executor` defines the contract's results as pydantic
models, and importing pydantic costs a read-only CLI command more than its whole time budget
(``gateward device ID`` in ≤ 0.3 s). The simulator's live read on the DB-API
(:mod:`executors.sim.lite`) and :mod:`core.device_overview` raise and catch these errors without
the models. Their public home is the contract, :mod:`core.kernel.ports.executor`, which re-exports every
name here and which their ``__module__`` names (as ``collections.abc`` does for
``_collections_abc``). They moved here from ``executors.errors`` / ``executors.base``,
which still re-export them for the adapters.
"""

from __future__ import annotations


class ExecutorError(Exception):
    """Base of every adapter error. ``retryable`` says whether trying later may succeed."""

    retryable = False
    #: set by an adapter that knows the command never reached the device (e.g. GenieACS: the
    #: connection request failed and the queued task was deleted before it ran, the NBI could not
    #: be connected to, or the device is gone from the ACS): the lifecycle defers instead of rolling back
    nothing_sent: bool = False

    def __init__(self, device_id: str, message: str) -> None:
        super().__init__(f"{device_id}: {message}")
        self.device_id = device_id
        self.message = message


class UnknownDevice(ExecutorError):
    pass


class DeviceOffline(ExecutorError):
    retryable = True


class UnknownAdapter(ExecutorError, LookupError):
    """The device names an adapter this deployment does not configure (a typo in the inventory,
    or a composition root that never registered it). A configuration error, not a device one:
    retrying will not help. Also a :class:`LookupError` for callers that look adapters up."""


class Timeout(ExecutorError):
    retryable = True


class Busy(ExecutorError):
    """Another writer changed the device's state under every attempt of this command, so the
    adapter gave up without committing anything (the simulator's optimistic twin write lost each
    race). Nothing reached the device, and trying again later may well succeed."""

    retryable = True
    nothing_sent = True


#: the contract errors worth retrying later; callers that schedule retries (the campaign queue)
#: list these instead of any adapter's internal exception types
RETRYABLE_ERRORS: tuple[type[ExecutorError], ...] = (DeviceOffline, Timeout, Busy)


class Fault(ExecutorError):
    """A protocol fault: CWMP 9000–9032 or a USP error mapped onto the CWMP code space.

    ``per_parameter`` maps a TR-181 path to ``(code, message)`` (CWMP SetParameterValuesFault,
    USP ``param_errs``).
    """

    default_code = 9002

    def __init__(
        self,
        device_id: str,
        message: str,
        code: int | None = None,
        per_parameter: dict[str, tuple[int, str]] | None = None,
    ) -> None:
        super().__init__(device_id, message)
        self.code = code if code is not None else self.default_code
        self.per_parameter = per_parameter or {}


class InvalidParameterName(Fault):
    default_code = 9005


class InvalidValue(Fault):
    default_code = 9007


class NotWritable(Fault):
    default_code = 9008


for _cls in (ExecutorError, UnknownDevice, DeviceOffline, UnknownAdapter, Timeout, Busy, Fault, InvalidParameterName,
             InvalidValue, NotWritable):
    _cls.__module__ = "core.kernel.ports.executor"
del _cls
