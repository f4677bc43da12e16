"""KPI values a CWMP device reported to GenieACS, read from its device document.

Why here: what a GenieACS document looks like (each parameter a node with ``_value`` and
``_timestamp``, the time the ACS last read it) is this adapter's knowledge. A device reports these
values in its periodic Informs once the operator's GenieACS preset refreshes the KPI parameters
(``core.kernel.kpi_parameters``; docs/campaigns.md shows the provision); the composition root
(``gateward/kpi_telemetry.py``) stores each value once, at the time the ACS read it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from core.kernel.kpi_parameters import PARAMETERS, sample


def projection() -> list[str]:
    """The document subtrees holding KPI parameters (the NBI ``projection``): each pattern up to
    its first instance number."""
    return sorted({p.pattern.split(".{i}")[0] for p in PARAMETERS})


def _leaves(node: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key, child in node.items():
        if key.startswith("_") or not isinstance(child, Mapping):
            continue
        path = f"{prefix}{key}"
        if "_value" in child:
            yield path, child
        else:
            yield from _leaves(child, path + ".")


def _when(raw: Any) -> datetime | None:
    if isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return None


def samples(doc: Mapping[str, Any]) -> list[tuple[datetime, str, float, dict[str, str]]]:
    """``(read at, metric, value, labels)`` for every KPI parameter the document holds a value of."""
    out = []
    for path, leaf in _leaves(doc, ""):
        got = sample(path, leaf.get("_value"))
        ts = _when(leaf.get("_timestamp"))
        if got is not None and ts is not None:
            out.append((ts, *got))
    return out
