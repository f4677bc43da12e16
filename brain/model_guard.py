"""A model's draft against the request it answers: the action asked for, with the value asked for.

Why here, beside ``qualify``: ``qualify.conform`` compares a draft with the request's bands,
network and exclusions, and a radio value where it finds the radio leaf. A model's draft can be
wrong in ways a playbook's cannot: a reboot drafted for a rename, the first of two passphrases, a
DNS server nobody named, a value on another leaf than the one asked about. Each passes the
lifecycle's gates (it is a valid change); none is what was asked. So on the model path the draft
must set what the reconciled request says — its action's parameters, to its values — and nothing of
another kind; otherwise the turn asks and nothing is drafted.
"""

from __future__ import annotations

import re

from brain.understanding.request import Request
from core.kernel.models import Change, ProposalDraft, Scalar

# The parameter leaves each action may set (its own, and what must go with it).
_LEAVES: dict[str, tuple[str, ...]] = {
    "channel": ("Channel", "AutoChannelEnable"),
    "width": ("OperatingChannelBandwidth", "Channel", "AutoChannelEnable"),
    "power": ("TransmitPower",),
    "band_enable": ("Enable",),
    "ssid_enable": ("Enable",),
    "ssid_hide": ("SSIDAdvertisementEnabled",),
    "ssid": ("SSID",),
    "passphrase": ("KeyPassphrase", "PreSharedKey"),
    "dns": ("DNSServer", "DNSServers", "Enable"),
    "inform_interval": ("PeriodicInformInterval", "PeriodicInformEnable"),
    "dhcp_lease": ("LeaseTime",),
}
# The leaf that carries the action's value, and the request's key for it.
_VALUE_LEAF = {"channel": ("Channel", "value"), "width": ("OperatingChannelBandwidth", "value"),
               "power": ("TransmitPower", "value"), "band_enable": ("Enable", "value"),
               "ssid_enable": ("Enable", "value"), "ssid": ("SSID", "ssid"),
               "passphrase": ("KeyPassphrase", "passphrase"), "inform_interval": ("PeriodicInformInterval", "value"),
               "dhcp_lease": ("LeaseTime", "value")}
_OPERATIONS = {"reboot": "reboot", "ping": "ipping"}
_UNCHECKED = ("traceroute", "speedtest")  # diagnostics: their objects differ per data model


def mismatch(req: Request | None, draft: ProposalDraft) -> str | None:
    """Why ``draft`` is not the change ``req`` asks for, or None (no action asked: a diagnosis, the
    model's to choose and the gates' to judge)."""
    if req is None or req.act != "change" or req.action is None or req.action in _UNCHECKED:
        return None
    action = req.action
    command = _OPERATIONS.get(action)
    if command is not None:
        ran = [o.command for o in draft.operations]
        if ran != [command] or draft.changes:
            return f"it would {_describe(draft)}, and you asked to {action}"
        return None
    if draft.operations:
        return f"it would also run {', '.join(o.command for o in draft.operations)}, which you did not ask for"
    allowed = _LEAVES.get(action, ())
    other = [c.path for c in draft.changes if _leaf(c.path) not in allowed]
    if other:
        return f"it would also set {', '.join(other[:3])}, which is not part of what you asked"
    return _value_problem(req, draft.changes)


def _value_problem(req: Request, changes: list[Change]) -> str | None:
    if req.action == "dns":
        return _dns_problem(req, changes)
    leaf, key = _VALUE_LEAF.get(req.action or "", ("", ""))
    if not leaf or key not in req.values:
        return None
    hit = [c for c in changes if _leaf(c.path) == leaf or (leaf == "KeyPassphrase" and _leaf(c.path) == "PreSharedKey")]
    if not hit:
        return f"it does not set the {leaf} you asked about"
    wrong = next((c for c in hit if not _same(c.value, req.values[key])), None)
    return None if wrong is None else f"it sets {wrong.path} to {wrong.value}, not the {req.values[key]} you asked for"


def _dns_problem(req: Request, changes: list[Change]) -> str | None:
    if not req.servers:
        return None
    set_to = [str(c.value).strip() for c in changes if _leaf(c.path) in ("DNSServer", "DNSServers")]
    wanted = [s.strip() for s in req.servers]
    flat = [x.strip() for v in set_to for x in v.split(",") if x.strip()]
    if flat and flat != wanted:
        return f"it sets the DNS servers to {', '.join(flat)}, not the {', '.join(wanted)} you asked for"
    return None


def _describe(draft: ProposalDraft) -> str:
    parts = [o.command for o in draft.operations] + [f"set {c.path}" for c in draft.changes[:2]]
    return " and ".join(parts) or "do nothing"


def _leaf(path: str) -> str:
    return re.sub(r".*\.", "", path.rstrip("."))


def _same(a: Scalar, b: Scalar) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    try:
        return float(str(a).strip().rstrip("%")) == float(str(b).strip().rstrip("%"))
    except ValueError:
        return str(a).strip() == str(b).strip()
