"""What the planner knows about the operator's rules, read from the policy pack's data.

Why read policy data instead of keeping tables here: the planner's self-check is only useful if
it agrees with the gate. Regulatory channels, transmit-power limits, the compatibility matrix and
the operator's DNS resolvers all live in ``policies/data/*.json``; reading them from the loaded
engine (or the loader, for an engine that does not expose them) means a change to the pack
changes the planner's choices the same day, with no second copy to forget.

The one thing that is not policy is the operator's *intended profile* for management settings
(``OPERATOR_PROFILE``): what a correctly provisioned gateway reports. It is the reference the
"periodic inform misconfigured" playbook restores.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from core.kernel.jsontypes import JsonObject

if TYPE_CHECKING:
    from policies.base import PolicyEngine

CompatStatus = Literal["green", "yellow", "red"]

# The operator's provisioning profile for the ACS session (TR-069 ManagementServer). A gateway
# that informs once a day instead of hourly is invisible to support for most of the day.
OPERATOR_PROFILE: dict[str, Any] = {
    "Device.ManagementServer.PeriodicInformEnable": True,
    "Device.ManagementServer.PeriodicInformInterval": 3600,
}
# A periodic inform interval above this is misconfigured for a managed home gateway.
MAX_INFORM_INTERVAL_S = 3600
FALLBACK_RESOLVERS = ("192.0.2.53", "198.51.100.53")


@lru_cache(maxsize=1)
def _loaded_pack_data() -> JsonObject:
    from policies.loader import load_sources

    return load_sources().data


def policy_data(policy: PolicyEngine | None) -> dict[str, Any]:
    """The ``data.gateward.data`` tree of the engine in use (embedded or OPA)."""
    data = getattr(policy, "policy_data", None)
    if isinstance(data, dict) and data:
        return data
    return _loaded_pack_data()


def compat_status(data: dict[str, Any], vendor: str, model: str, firmware: str,
                  workflow: str = "config") -> tuple[CompatStatus, str]:
    """Status and where it came from, exactly as ``gateward.lib.compat`` resolves it:
    the firmware's entry, else the model's ``*`` entry, else the matrix default."""
    compat = data.get("compat") or {}
    matrix = compat.get("matrix") or {}
    default = str(compat.get("default_status", "yellow"))
    by_model = (matrix.get(vendor) or {}).get(model) or {}
    statuses: dict[str, CompatStatus] = {"green": "green", "yellow": "yellow", "red": "red"}
    for fw, source in ((firmware, f"matrix {vendor}/{model}/{firmware}"), ("*", f"matrix {vendor}/{model}/*")):
        status = statuses.get(str((by_model.get(fw) or {}).get(workflow)))
        if status is not None:
            return status, source
    return statuses.get(default, "yellow"), "matrix default (no entry for this model)"


def operator_resolvers(data: dict[str, Any]) -> list[str]:
    """The resolvers the automation catalogue allows for ``dns.server_fix`` (IPv4 first)."""
    types = ((data.get("catalogue") or {}).get("types") or {})
    spec = ((types.get("dns.server_fix") or {}).get("changes") or {}).get("Device.DNS.Client.Server.{i}.DNSServer")
    values = [str(v) for v in (spec or {}).get("enum", [])]
    v4 = [v for v in values if ":" not in v]
    return v4 or list(FALLBACK_RESOLVERS)


def tx_power_limits(data: dict[str, Any], band: str) -> tuple[int, int]:
    """(min, max) transmit power in percent the policy allows on ``band``."""
    tp = ((data.get("regulatory") or {}).get("transmit_power_pct") or {})
    lo = int(tp.get("min", 10))
    hi = int((tp.get("max") or {}).get(band, 100))
    return lo, hi


def bandwidths(data: dict[str, Any], band: str) -> list[str]:
    return [str(b) for b in ((data.get("regulatory") or {}).get("bandwidths") or {}).get(band, [])]


def role_may(data: dict[str, Any], roles: tuple[str, ...] | list[str], param_class: str) -> bool:
    """Does any of ``roles`` allow proposing changes of ``param_class``? (A hint for choosing
    between proposing and escalating; policy still decides.)"""
    table = ((data.get("roles") or {}).get("roles") or {})
    return any(param_class in (table.get(r) or {}).get("param_classes", []) for r in roles)
