"""TR-181 (``Device.``, CWMP and USP flavours) and TR-098 (``InternetGatewayDevice.``) data models.

``registry`` answers "does this path exist, may it be set, does this value fit" from compact
tables generated out of the Broadband Forum XML by ``generate`` (see ``data/LICENSE-BBF.txt``).
"""

from core.datamodel.registry import (
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
