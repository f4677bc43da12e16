"""TR-181 (``Device.``, CWMP and USP flavours) and TR-098 (``InternetGatewayDevice.``) data models.

``registry`` answers "does this path exist, may it be set, does this value fit" from compact
tables generated out of the Broadband Forum XML by ``generate`` (see ``data/LICENSE-BBF.txt``).
``tr098`` and ``tr098_view`` carry a TR-181 path to its TR-098 form and back.

The registry's names are loaded on first use (PEP 562), not when the package is: the simulator's
live read in a CLI process translates a TR-098 tree (``tr098``) without paying for loading the
registry's tables (the CLI's start-up budget).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.kernel.datamodel.registry import (
        CommandSpec,
        DataModelError,
        EventSpec,
        ObjectSpec,
        ParamSpec,
        Registry,
        get_registry,
    )

__all__ = [
    "CommandSpec",
    "DataModelError",
    "EventSpec",
    "ObjectSpec",
    "ParamSpec",
    "Registry",
    "get_registry",
]


def __getattr__(name: str) -> object:
    """The registry's public names, imported when first asked for."""
    if name in __all__:
        from core.kernel.datamodel import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
