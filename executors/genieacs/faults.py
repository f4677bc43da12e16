"""GenieACS faults and client-side findings → the executor contract's typed errors.

Why one place: the same per-parameter problem can be found before sending (the adapter's own
checks) or reported by the CPE through a GenieACS fault (``code: "cwmp.9007"``, ``detail.
setParameterValuesFault[]`` naming *native* paths). Either way the caller must get the same
typed error, keyed by the TR-181 paths it asked for, with CWMP's rule for the top-level code:
the single code when every parameter failed the same way, else 9003.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from executors.base import Fault, InvalidParameterName, InvalidValue, NotWritable

_CLASS: dict[int, type[Fault]] = {
    9005: InvalidParameterName,
    9006: InvalidValue,
    9007: InvalidValue,
    9008: NotWritable,
}


def fault_for(device_id: str, problems: Mapping[str, tuple[int, str]], what: str = "SetParameterValues") -> Fault:
    """One typed fault for per-parameter problems (TR-181 path → (code, message))."""
    codes = {code for code, _ in problems.values()}
    detail = "; ".join(msg for _, msg in problems.values())
    if len(codes) == 1:
        code = next(iter(codes))
        return _CLASS.get(code, Fault)(
            device_id, f"{what} refused ({code}): {detail}", code=code, per_parameter=dict(problems)
        )
    return Fault(
        device_id, f"{what} refused (9003 invalid arguments): {detail}", code=9003, per_parameter=dict(problems)
    )


def _code(raw: object) -> int | None:
    text = str(raw or "")
    if text.startswith("cwmp."):
        text = text[5:]
    return int(text) if text.isdigit() else None


class AcsFault(Fault):
    """A fault GenieACS itself recorded (``session_terminated``, ``timeout``, ``too_many_commits``,
    ``invalid_response`` …), not one the CPE answered with: it says the session broke, not that the
    CPE refused — for a task that changes the CPE, the RPC may have been carried out."""


def fault_from_genieacs(
    device_id: str, doc: Mapping[str, Any] | None, native_to_tr181: Mapping[str, str], task: str = ""
) -> Fault:
    """A GenieACS fault document as a typed fault; ``native_to_tr181`` renames the CPE's paths.

    The message quotes the CPE's own code and words (a Set with one bad value among good ones is
    ``cwmp.9003 Invalid arguments`` at the CPE, typed here by its one per-parameter code), and for
    a ``setParameterValues`` task (``task``) says that none of it was applied: a CPE applies
    SetParameterValues all or nothing (TR-069 A.3.2.1), so the values beside the refused one were
    not written either."""
    if not doc:
        return Fault(
            device_id,
            "GenieACS reported 'Task faulted' but kept no fault record; the change may not have landed — read back",
            code=9002,
        )
    code_text = str(doc.get("code", ""))
    message = str(doc.get("message", "")) or "no message"
    code = _code(code_text)
    said = f"{code_text} {message}" if code is not None else ""
    detail = doc.get("detail") if isinstance(doc.get("detail"), Mapping) else {}
    assert isinstance(detail, Mapping)
    per: dict[str, tuple[int, str]] = {}
    for entry in detail.get("setParameterValuesFault") or []:
        if not isinstance(entry, Mapping):
            continue
        native = str(entry.get("parameterName", ""))
        path = native_to_tr181.get(native, native)
        pcode = _code(entry.get("faultCode")) or code or 9002
        per.setdefault(path, (pcode, f"{path}: {entry.get('faultString') or 'fault'} ({pcode})"))
    if code is None:
        # GenieACS's own faults: timeout, session_terminated, too_many_commits, invalid_response …
        return AcsFault(device_id, f"GenieACS fault {code_text or 'unknown'}: {message}", code=9002, per_parameter=per)
    if per:
        codes = {c for c, _ in per.values()}
        if len(codes) == 1 and code in (9003, next(iter(codes))):
            code = next(iter(codes))
    cls = _CLASS.get(code, Fault)
    # name what was refused: an operator reading the proposal's error must not need the execution row
    which = f": {', '.join(f'{p} ({c})' for p, (c, _) in per.items())}" if per else ""
    whole = ("; none of the Set's values was applied (a CPE applies SetParameterValues all or nothing)"
             if task == "setParameterValues" else "")
    return cls(device_id, f"the CPE refused the request ({said}){which}{whole}", code=code, per_parameter=per)


__all__ = ["AcsFault", "fault_for", "fault_from_genieacs"]
