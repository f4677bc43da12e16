"""Injectable device faults: the failure modes a control plane must survive, on demand.

Why: the lifecycle's rollback, retry and alarm paths only earn trust if something makes them
run. Faults are persisted with the twin (a test, the CLI or a bench in another process can
inject them) and normalised here so every kind has one documented parameter shape.

Kinds (``twin.inject(device_id, kind, **params)``):

* ``offline`` — presence false; every call raises ``DeviceOffline``.
* ``unreachable`` (``says=offline|error``) — online (it informs) but connection requests fail:
  dropped or refused (``offline``, GenieACS's "Device is offline") or answered with an error
  (``error``, "Connection request error: …"); the change waits for the device's next inform.
* ``fault_on_set`` (``code=9002``, ``message``) — every SetParameterValues faults.
* ``reject_value`` (``path`` or ``paths``, ``code=9007``) — the device refuses these parameters.
* ``reboot_required`` — Set answers Status 1 (committed, applied after reboot).
* ``slow`` (``delay_s``) — the device answers after a delay; with the executor's ``timeout_s``
  shorter than the delay the call raises ``Timeout``.
* ``not_sticky`` (``path`` or ``paths``) — Set reports success but the value silently reverts.
* ``fail_after_n_sets`` (``n``, ``code=9002``) — ``n`` more successful Sets, then every Set faults.
* ``download_fails`` (``code=9010``, ``message``) — firmware download fails (TransferComplete fault).
* ``download_bricks`` — the download "succeeds" and the device never comes back.
* ``download_not_installed`` — the device fetches the image and reports the transfer complete
  (TransferComplete FaultCode 0, a USP OperationComplete without error) but neither reboots nor
  changes its SoftwareVersion: what genieacs-sim does with every Download.
* ``reboot_hangs`` — after a reboot the device stays offline.
* ``completion_unreported`` — a reboot, factory reset or download runs, but its completion never
  reaches the controller (a factory-fresh OB-USP-Agent has no Boot! subscription): the controller
  side answers ``pending``, as the USP executor does when no Boot! arrives within its wait.
* ``goodbye_on_set`` (``answer=true``) — the device takes the next Set, says goodbye before
  answering (``answer=false``: instead of answering) and is gone from then on (``offline``): what
  OB-USP-Agent does when a Set changes its controller or MQTT settings — a ``disconnect`` Record
  ("Configuration Change") first, its SetResp after. The Set landed though the write's answer was
  overtaken or lost: the lifecycle must count it as changed, not as nothing sent.
* ``command_refused`` (``command``: one, default every; ``code=9001``, ``message``) — the device
  answers the command with a fault and does nothing (a USP agent's Error response to an Operate,
  e.g. a controller without the permission): nothing changed, so nothing to roll back.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

FaultKind = Literal[
    "offline",
    "unreachable",
    "fault_on_set",
    "reject_value",
    "reboot_required",
    "slow",
    "not_sticky",
    "fail_after_n_sets",
    "download_fails",
    "download_bricks",
    "download_not_installed",
    "reboot_hangs",
    "completion_unreported",
    "command_refused",
    "goodbye_on_set",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
_PATH_KINDS = ("reject_value", "not_sticky")


def normalise(kind: str, params: dict[str, Any], existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored parameter shape of one fault. Path kinds accumulate paths across injections."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    if kind in _PATH_KINDS:
        paths = list((existing or {}).get("paths", []))
        new = list(params.get("paths", [])) + ([params["path"]] if "path" in params else [])
        if not new:
            raise ValueError(f"fault {kind} needs path=... or paths=[...]")
        paths.extend(p for p in new if p not in paths)
        out: dict[str, Any] = {"paths": paths}
        if kind == "reject_value":
            out["code"] = int(params.get("code", (existing or {}).get("code", 9007)))
        return out
    if kind == "fault_on_set":
        code = int(params.get("code", 9002))
        return {"code": code, "message": str(params.get("message", f"injected fault {code}"))}
    if kind == "download_fails":
        code = int(params.get("code", 9010))
        return {"code": code, "message": str(params.get("message", "file transfer failure"))}
    if kind == "command_refused":
        code = int(params.get("code", 9001))
        out = {"code": code, "message": str(params.get("message", "request denied"))}
        if params.get("command"):
            out["command"] = str(params["command"])
        return out
    if kind == "goodbye_on_set":
        answer = params.get("answer", True)
        unexpected = sorted(set(params) - {"answer"})
        if unexpected:
            raise ValueError(f"fault goodbye_on_set takes answer=true|false only (got {', '.join(unexpected)})")
        return {"answer": answer if isinstance(answer, bool) else str(answer).strip().lower() in ("1", "true", "yes")}
    if kind == "unreachable":  # how its connection requests fail, as an ACS reports it
        says = str(params.get("says", "offline"))
        if says not in ("offline", "error") or set(params) - {"says"}:
            raise ValueError("fault unreachable takes says=offline|error only (offline: the request is dropped or "
                             "refused; error: its path answers with an error)")
        return {"says": says}
    if kind == "slow":
        delay = params.get("delay_s", params.get("delay", params.get("seconds")))
        if delay is None:
            raise ValueError("fault slow needs delay_s=<seconds>")
        return {"delay_s": float(delay)}
    if kind == "fail_after_n_sets":
        if "n" not in params:
            raise ValueError("fault fail_after_n_sets needs n=<successful sets before failing>")
        return {"n": int(params["n"]), "count": 0, "code": int(params.get("code", 9002))}
    unexpected = sorted(params)
    if unexpected:
        raise ValueError(f"fault {kind} takes no parameters (got {', '.join(unexpected)})")
    return {}


def matches_path(fault: dict[str, Any], *paths: str) -> bool:
    """Whether a path fault names any of ``paths`` (TR-181 or device-native)."""
    named = fault.get("paths", [])
    return any(p in named for p in paths)
