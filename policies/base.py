"""The policy engine interface every backend implements (embedded regorus, OPA server).

Fail closed is the contract, not a convention: ``decide`` never raises and never returns
``allow=True`` unless the engine produced a complete, well-formed decision in time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from core.kernel.jsontypes import Json
from core.kernel.models import Decision

DECISION_QUERY = "data.gateward.decision"


class PolicyEngine(ABC):
    """Evaluates ``data.gateward.decision`` for one input document."""

    name: str = "abstract"

    @property
    @abstractmethod
    def revision(self) -> str:
        """sha256 over rules + data: what a stored decision was made under."""

    @abstractmethod
    def decide(self, input_doc: Mapping[str, Json]) -> Decision:
        """Return the decision; on error, timeout, undefined or malformed result, a deny
        (``Decision.fail_closed``) whose reason says which."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections (OPA client)."""
