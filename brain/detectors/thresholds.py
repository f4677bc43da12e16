"""The problem thresholds the planner shares with the detectors, read from ``rules.json``.

Why one accessor: the detector that opens a case and the playbook that plans its fix must agree on
what "a busy 2.4 GHz channel" and "weak 2.4 GHz clients" mean; two copies drifted apart once
(−74 dBm / 75 % in the rules, −75 dBm / 60 % in the playbooks), so a case could open on a device
the planner then found healthy. The rule file is the one source (it is operator data, see
``docs/remediation.md``); this module only names which rule field each shared threshold is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from brain.detectors.rules import RuleSet, load_rules
from core.kernel.errors import Invalid

BUSY_CHANNEL_RULE = "busy-24ghz-channel"
WEAK_CLIENTS_RULE = "weak-24ghz-clients"


@dataclass(frozen=True)
class Thresholds:
    """Shared thresholds: percent channel utilisation above which a channel is busy; mean client
    RSSI (dBm) below which clients are weak (strictly below, as the ``metric_mean`` rule fires)."""

    busy_channel_pct: float
    weak_client_dbm: float

    def channel_busy(self, utilisation_pct: float) -> bool:
        return utilisation_pct > self.busy_channel_pct

    def clients_weak(self, mean_rssi_dbm: float) -> bool:
        return mean_rssi_dbm < self.weak_client_dbm


def _field(rules: RuleSet, rule_id: str, name: str) -> float:
    rule = next((r for r in rules.rules if r.id == rule_id), None)
    if rule is None:
        raise Invalid(f"detector rules lack rule {rule_id!r}, which the planner reads its {name!r} threshold from")
    value = getattr(rule, name)
    if value is None:
        raise Invalid(f"detector rule {rule_id!r} has no {name!r} threshold; the planner needs it")
    return float(value)


def thresholds_from(rules: RuleSet) -> Thresholds:
    """The shared thresholds of a rule set; a rule set lacking one raises :class:`Invalid` naming it."""
    return Thresholds(busy_channel_pct=_field(rules, BUSY_CHANNEL_RULE, "above"),
                      weak_client_dbm=_field(rules, WEAK_CLIENTS_RULE, "below"))


@lru_cache(maxsize=1)
def thresholds() -> Thresholds:
    """The shared thresholds of the installed ``rules.json`` (read once per process)."""
    return thresholds_from(load_rules())
