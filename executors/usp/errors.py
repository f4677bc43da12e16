"""USP error codes (TR-369 §Error Codes), their CWMP counterparts, and the executor's typed errors.

Why a mapping onto CWMP codes: the executor contract (``executors.base``) speaks one fault
vocabulary for every adapter — the lifecycle, policy evidence and the audit trail compare a
``9007`` from a TR-069 ACS with one from a USP agent. The USP code is kept in every message.
Per-parameter errors (``param_errs`` of a 7004 Error) become ``per_parameter`` keyed by the
TR-181 path the caller asked for.
"""

from __future__ import annotations

from collections.abc import Mapping

from executors.base import Fault, InvalidParameterName, InvalidValue, NotWritable, Timeout

USP_MESSAGES: dict[int, str] = {
    7000: "Message failed",
    7001: "Message not supported",
    7002: "Request denied",
    7003: "Internal error",
    7004: "Invalid arguments",
    7005: "Resources exceeded",
    7006: "Permission denied",
    7007: "Invalid configuration",
    7008: "Invalid path syntax",
    7009: "Parameter action failed",
    7010: "Unsupported parameter",
    7011: "Invalid type",
    7012: "Invalid value",
    7013: "Attempt to update non-writeable parameter",
    7014: "Value conflict",
    7015: "Operation error",
    7016: "Object does not exist",
    7017: "Object could not be created",
    7018: "Object is not a table",
    7019: "Attempt to create non-creatable object",
    7020: "Object could not be updated",
    7021: "Required parameter failed",
    7022: "Command failure",
    7023: "Command canceled",
    7024: "Delete failure",
    7025: "Object exists with duplicate key",
    7026: "Invalid path",
    7027: "Invalid command arguments",
}

#: USP → CWMP fault code (the contract's vocabulary).
USP_TO_CWMP: dict[int, int] = {
    7000: 9002,
    7001: 9000,
    7002: 9001,
    7003: 9002,
    7004: 9003,
    7005: 9004,
    7006: 9001,
    7007: 9003,
    7008: 9005,
    7009: 9002,
    7010: 9005,
    7011: 9006,
    7012: 9007,
    7013: 9008,
    7014: 9007,
    7015: 9002,
    7016: 9005,
    7017: 9004,
    7018: 9005,
    7019: 9008,
    7020: 9002,
    7021: 9002,
    7022: 9002,
    7023: 9002,
    7024: 9002,
    7025: 9007,
    7026: 9005,
    7027: 9003,
}

#: CWMP → USP, for the agent simulator, whose injected faults carry CWMP codes.
CWMP_TO_USP: dict[int, int] = {
    9000: 7001,
    9001: 7002,
    9002: 7003,
    9003: 7004,
    9004: 7005,
    9005: 7026,
    9006: 7011,
    9007: 7012,
    9008: 7013,
    9009: 7005,
    9010: 7022,
}

_CLASS_BY_CWMP: dict[int, type[Fault]] = {
    9005: InvalidParameterName,
    9006: InvalidValue,
    9007: InvalidValue,
    9008: NotWritable,
}


def to_cwmp(usp_code: int) -> int:
    """The CWMP code for a USP code; vendor codes (7800–7999) and unknown ones become 9002."""
    return USP_TO_CWMP.get(usp_code, 9002)


def to_usp(cwmp_code: int) -> int:
    return CWMP_TO_USP.get(cwmp_code, 7003)


def describe(usp_code: int) -> str:
    return USP_MESSAGES.get(usp_code, "vendor-specific error" if 7800 <= usp_code <= 7999 else "error")


class UspError(Exception):
    """A USP Error message (or a per-path failure) from an agent."""

    def __init__(self, code: int, message: str, param_errs: list[tuple[str, int, str]] | None = None) -> None:
        super().__init__(f"USP error {code} ({describe(code)}): {message}")
        self.code = code
        self.message = message
        self.param_errs = list(param_errs or [])


def typed_fault(
    device_id: str,
    err: UspError,
    *,
    doing: str,
    to_tr181: Mapping[str, str] | None = None,
) -> Fault:
    """The contract's typed fault for a USP error.

    With ``param_errs`` the per-parameter codes decide: one code for every parameter gives its
    specific class (7026 → :class:`InvalidParameterName` 9005, 7011 → :class:`InvalidValue` 9006,
    7012 → 9007, 7013 → :class:`NotWritable` 9008); different codes give ``Fault`` 9003 with every
    cause in ``per_parameter`` (as CWMP's SetParameterValuesFault does). ``to_tr181`` maps the
    device paths the agent names back to the TR-181 paths the caller used.
    """
    mapping = to_tr181 or {}
    if err.param_errs:
        per: dict[str, tuple[int, str]] = {}
        for path, code, msg in err.param_errs:
            key = mapping.get(path, path)
            if key not in per:
                per[key] = (to_cwmp(code), f"{key}: {msg} (USP {code} {describe(code)})")
        codes = {c for c, _ in per.values()}
        detail = "; ".join(m for _, m in per.values())
        if len(codes) == 1:
            code = next(iter(codes))
            cls = _CLASS_BY_CWMP.get(code, Fault)
            return cls(device_id, f"{doing} refused (USP {err.code}): {detail}", code=code, per_parameter=per)
        return Fault(device_id, f"{doing} refused (USP {err.code}, mixed causes): {detail}", code=9003,
                     per_parameter=per)
    code = to_cwmp(err.code)
    cls = _CLASS_BY_CWMP.get(code, Fault)
    return cls(device_id, f"{doing} failed: USP {err.code} {describe(err.code)}: {err.message}", code=code)


def fault_from_problems(device_id: str, problems: Mapping[str, tuple[int, str]], *, doing: str) -> Fault:
    """A typed fault from per-parameter problems already in CWMP codes (found before sending)."""
    codes = {code for code, _ in problems.values()}
    detail = "; ".join(m for _, m in problems.values())
    if len(codes) == 1:
        code = next(iter(codes))
        cls = _CLASS_BY_CWMP.get(code, Fault)
        return cls(device_id, f"{doing}: {detail}", code=code, per_parameter=dict(problems))
    return Fault(device_id, f"{doing} (mixed causes): {detail}", code=9003, per_parameter=dict(problems))


class PartialApply(Timeout):
    """A non-compliant agent answered an ``allow_partial=false`` Set with a per-object failure, so
    some objects may have changed and some not. The device's state is unknown, exactly as after a
    timeout — which is what the lifecycle needs to hear to restore the backup."""
