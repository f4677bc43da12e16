"""The subscriptions a controller relies on, created on the agent itself.

Why: a USP agent sends a notification only for an enabled ``<root>LocalAgent.Subscription.{i}``
whose recipient is the controller. Gateward relies on three kinds — ``Boot!`` (reboots, factory
resets, zero-touch provisioning), ``OperationComplete`` (IPPing, Download) and ``ValueChange`` for
the parameters it watches. A real agent ships with none (the OB-USP-Agent's factory configuration
holds no subscription), so relying on factory provisioning means never hearing a Boot!. On first
contact (``mqtt_connect``, Boot!, OnBoardRequest) the controller therefore reads the agent's
subscription table and adds what is missing, unless an *equivalent* one exists: enabled, same
NotifType, a ReferenceList entry covering the path, and addressed to this controller (its
``Recipient`` names the ``Controller.{i}`` whose EndpointID is ours, or is empty). ValueChange is
only requested for watched parameters the agent's data model has (GetSupportedDM), so a device
without Wi-Fi is not asked to watch a radio it lacks.

Subscriptions are notification plumbing owned by the controller, not device configuration: they
change nothing the subscriber sees, carry no policy-relevant value, and are named ``gw-*`` so they
are recognisable (``gateward usp subscriptions``) and removable (``gateward usp unsubscribe``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from core.kernel.values import parse_wire_bool
from executors.usp import datamodel as dm
from executors.usp.controller import UspController

ROOTS = ("Device.", "InternetGatewayDevice.")
DEFAULT_WATCH = ("WiFi.Radio.*.Channel", "DeviceInfo.SoftwareVersion")  # root-relative parameter paths
NOTIF_TYPES = ("Event", "OperationComplete", "ValueChange", "ObjectCreation", "ObjectDeletion", "OnBoardRequest")


@dataclass(frozen=True)
class Wanted:
    """One subscription the controller relies on."""

    notif_type: str
    reference: str
    subscription_id: str
    notif_retry: bool = True


@dataclass
class AgentSubscription:
    """One row of the agent's ``LocalAgent.Subscription.`` table."""

    path: str
    id: str
    notif_type: str
    reference_list: str
    enable: bool
    recipient: str
    persistent: bool

    def refs(self) -> list[str]:
        return [r.strip() for r in self.reference_list.split(",") if r.strip()]

    def covers(self, notif_type: str, reference: str) -> bool:
        """Whether this subscription already produces ``notif_type`` notifications for ``reference``."""
        if not self.enable or self.notif_type != notif_type:
            return False
        return any(_covers(r, reference) for r in self.refs())


@dataclass
class EnsureReport:
    endpoint_id: str
    root: str = ""
    created: list[str] = field(default_factory=list)  # subscription IDs added now
    existing: list[str] = field(default_factory=list)  # wanted ones already covered (by which ID)
    unsupported: list[str] = field(default_factory=list)  # watched paths the device does not have
    supported: list[str] = field(default_factory=list)  # watched paths the device has (reused by a recheck)
    instances: list[str] = field(default_factory=list)  # the instance paths the agent made for ``created``


def _covers(ref: str, wanted: str) -> bool:
    if ref == wanted:
        return True
    if ref.endswith(".") and wanted.startswith(ref):
        return True
    if "*" in ref:
        rx = re.escape(ref).replace(r"\*", r"[^.*]+") + (".*" if ref.endswith(".") else "")
        # a wildcard reference covers concrete paths and the same wildcard pattern
        return re.fullmatch(rx, wanted) is not None or re.fullmatch(rx, wanted.replace("*", "1")) is not None
    return False


def generic(path: str) -> str:
    """``Device.WiFi.Radio.*.Channel`` / ``...Radio.1.Channel`` → ``Device.WiFi.Radio.{i}.Channel``."""
    return ".".join("{i}" if seg == "*" or seg.isdigit() else seg for seg in path.split("."))


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def wanted_for(root: str, controller_id: str, watch: Sequence[str]) -> list[Wanted]:
    """What this controller relies on, for an agent rooted at ``root``. IDs are stable per controller,
    so a second controller process (or a restart) finds its own subscriptions instead of adding more."""
    tag = _short(controller_id)
    out = [
        Wanted("Event", root + dm.BOOT_EVENT, f"gw-boot-{tag}"),
        Wanted("OperationComplete", root, f"gw-opc-{controller_id}"),
    ]
    for rel in watch:
        path = root + rel
        out.append(Wanted("ValueChange", path, f"gw-vc-{tag}-{_short(path)}", notif_retry=False))
    return out


async def read_table(ctl: UspController, endpoint_id: str, *, timeout: float | None = None
                     ) -> tuple[str, str | None, list[AgentSubscription]]:
    """``(root, our Controller.{i}. path or None, subscriptions)`` from one Get."""
    paths = [f"{r}LocalAgent.{leaf}" for r in ROOTS for leaf in ("Controller.*.EndpointID", "Subscription.")]
    values, _errors = await ctl.get(endpoint_id, paths, timeout=timeout)
    root = next((r for r in ROOTS if any(p.startswith(f"{r}LocalAgent.") for p in values)), "Device.")
    ours = None
    for path, value in values.items():
        if path.startswith(f"{root}LocalAgent.Controller.") and path.endswith(".EndpointID") \
                and value == ctl.endpoint_id:
            ours = path[: -len("EndpointID")]
    table = f"{root}LocalAgent.Subscription."
    rows: dict[str, dict[str, str]] = {}
    for path, value in values.items():
        if path.startswith(table):
            inst, _, name = path[len(table):].partition(".")
            if inst.isdigit() and name:
                rows.setdefault(f"{table}{inst}.", {})[name] = value
    subs = [AgentSubscription(path=p, id=v.get("ID", ""), notif_type=v.get("NotifType", ""),
                              reference_list=v.get("ReferenceList", ""),
                              enable=parse_wire_bool(v.get("Enable")) is True,
                              recipient=v.get("Recipient", ""),
                              persistent=parse_wire_bool(v.get("Persistent")) is True)
            for p, v in sorted(rows.items(), key=lambda kv: int(kv[0].rstrip(".").rsplit(".", 1)[1]))]
    return root, ours, subs


def addressed_to_us(sub: AgentSubscription, ours: str | None) -> bool:
    """A subscription notifies this controller when its Recipient is our Controller row (or unset)."""
    if not sub.recipient:
        return True
    return ours is not None and sub.recipient.rstrip(".") == ours.rstrip(".")


async def supported_params(ctl: UspController, endpoint_id: str, paths: Sequence[str], *,
                           timeout: float | None = None) -> set[str]:
    """Which of ``paths`` (parameter paths, ``*`` or instance numbers allowed) the agent's data model has."""
    if not paths:
        return set()
    objs = sorted({generic(p).rsplit(".", 1)[0] + "." for p in paths})
    resp = await ctl.get_supported_dm(endpoint_id, objs, first_level_only=True, timeout=timeout)
    have: set[str] = set()
    for ror in resp.req_obj_results:
        if ror.err_code:
            continue
        for so in ror.supported_objs:
            have.update(so.supported_obj_path + p.param_name for p in so.supported_params)
    return {p for p in paths if generic(p) in have}


@dataclass
class Plan:
    """The agent's table and what this controller still needs on it."""

    root: str
    ours: str | None
    rows: list[AgentSubscription]
    missing: list[Wanted]
    existing: list[str]
    unsupported: list[str]
    supported: list[str] = field(default_factory=list)


async def plan(ctl: UspController, endpoint_id: str, *, watch: Sequence[str] = DEFAULT_WATCH,
               timeout: float | None = None, supported: Collection[str] | None = None) -> Plan:
    """Read the agent's subscriptions and decide which wanted ones are missing (nothing is written).

    ``supported``: the watched paths the agent's data model was found to have by an earlier check
    (:attr:`EnsureReport.supported`). Given, no GetSupportedDM is sent, so re-checking a known agent
    (on its reconnect) costs one Get; its data model changes only with its firmware."""
    root, ours, rows = await read_table(ctl, endpoint_id, timeout=timeout)
    wanted = wanted_for(root, ctl.endpoint_id, watch)
    watched = [w.reference for w in wanted if w.notif_type == "ValueChange"]
    if supported is not None:
        have = {w for w in watched if w in supported}
    else:
        have = await supported_params(ctl, endpoint_id, watched, timeout=timeout) if watched else set()
    out = Plan(root, ours, rows, [], [], [], sorted(have))
    for w in wanted:
        if w.notif_type == "ValueChange" and w.reference not in have:
            out.unsupported.append(w.reference)
            continue
        match = next((s for s in rows if (s.id == w.subscription_id or s.covers(w.notif_type, w.reference))
                      and addressed_to_us(s, ours) and s.enable), None)
        if match is not None:
            out.existing.append(match.id)
        else:
            out.missing.append(w)
    return out


async def ensure(ctl: UspController, endpoint_id: str, *, watch: Sequence[str] = DEFAULT_WATCH,
                 timeout: float | None = None, supported: Collection[str] | None = None) -> EnsureReport:
    """Create the subscriptions this controller relies on that the agent does not have yet
    (``supported``: see :func:`plan`)."""
    p = await plan(ctl, endpoint_id, watch=watch, timeout=timeout, supported=supported)
    report = EnsureReport(endpoint_id, p.root, existing=p.existing, unsupported=p.unsupported,
                          supported=p.supported)
    for w in p.missing:
        made = await ctl.add(endpoint_id, f"{p.root}LocalAgent.Subscription.", {
            "Enable": True, "ID": w.subscription_id, "NotifType": w.notif_type, "ReferenceList": w.reference,
            "Persistent": True, "NotifRetry": w.notif_retry,
        }, timeout=timeout)
        report.created.append(w.subscription_id)
        report.instances.append(made)
    return report


async def subscribe(ctl: UspController, endpoint_id: str, notif_type: str, reference_list: str, *,
                    subscription_id: str = "", notif_retry: bool = False, timeout: float | None = None) -> str:
    """Add one subscription by hand (``gateward usp subscribe``); returns its instance path."""
    if notif_type not in NOTIF_TYPES:
        raise ValueError(f"notification type {notif_type!r} is not one of {', '.join(NOTIF_TYPES)}")
    refs = [r.strip() for r in reference_list.split(",") if r.strip()]
    if not refs or any(not r.startswith(ROOTS) for r in refs):
        raise ValueError(f"reference list {reference_list!r} must name paths under Device. "
                         "(or InternetGatewayDevice.), comma-separated")
    root, _, _ = await read_table(ctl, endpoint_id, timeout=timeout)
    sub_id = subscription_id or f"gw-{notif_type[:3].lower()}-{_short(ctl.endpoint_id + reference_list)}"
    return await ctl.add(endpoint_id, f"{root}LocalAgent.Subscription.", {
        "Enable": True, "ID": sub_id, "NotifType": notif_type, "ReferenceList": ",".join(refs),
        "Persistent": True, "NotifRetry": notif_retry,
    }, timeout=timeout)


async def unsubscribe(ctl: UspController, endpoint_id: str, subscription_ids: Sequence[str], *,
                      timeout: float | None = None) -> list[str]:
    """Delete subscriptions by ID; returns the deleted instance paths. An unknown ID is an error."""
    _, _, subs = await read_table(ctl, endpoint_id, timeout=timeout)
    by_id = {s.id: s.path for s in subs}
    missing = [i for i in subscription_ids if i not in by_id]
    if missing:
        raise KeyError(f"agent {endpoint_id} has no subscription with ID {', '.join(missing)} "
                       f"(it has: {', '.join(sorted(by_id)) or 'none'})")
    if not subscription_ids:
        return []
    return await ctl.delete(endpoint_id, [by_id[i] for i in subscription_ids], timeout=timeout)


__all__ = ["DEFAULT_WATCH", "AgentSubscription", "EnsureReport", "Plan", "Wanted", "ensure", "plan", "read_table",
           "subscribe", "unsubscribe", "wanted_for"]
