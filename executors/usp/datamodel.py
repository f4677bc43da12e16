"""The USP names both ends agree on: commands, events, Gateward's vendor parameters, value types.

Why one module: the controller-side executor and the agent simulator must spell every command
path and vendor parameter identically, and a reader should find the few choices Gateward made on
top of TR-181/TR-369 in one place (see docs/usp.md):

* **Idempotency key.** USP has no CWMP ``ParameterKey``. Gateward writes its key into the vendor
  parameter ``<root>LocalAgent.X_GATEWARD_ParameterKey`` *in the same Set* as the change
  (``allow_partial=false``), so the key lands exactly when the change does. An agent that does not
  list the parameter in GetSupportedDM still works; re-applies are then detected by value only.
* **Reboot-to-apply.** ``<root>LocalAgent.X_GATEWARD_RebootRequired`` (boolean, read-only) is true
  while committed configuration waits for a reboot — CWMP's SetParameterValues ``Status 1``.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.kernel.models import Scalar
from core.kernel.values import parse_wire_bool, parse_wire_int
from executors.usp.proto import msg_pb

KEY_PARAM = "LocalAgent.X_GATEWARD_ParameterKey"
REBOOT_FLAG_PARAM = "LocalAgent.X_GATEWARD_RebootRequired"
MAX_KEY_LENGTH = 64
BOOT_EVENT = "Boot!"

#: Contract command name → the USP command path relative to the data-model root.
COMMANDS: dict[str, str] = {
    "reboot": "Reboot()",
    "factory_reset": "FactoryReset()",
    "ipping": "IP.Diagnostics.IPPing()",
    "download": "DeviceInfo.FirmwareImage.1.Download()",
}
#: The same for TR-098-rooted agents (no TR-181 IP.Diagnostics or FirmwareImage objects there).
COMMANDS_TR098: dict[str, str] = {
    "reboot": "Reboot()",
    "factory_reset": "FactoryReset()",
    "ipping": "IPPingDiagnostics.IPPing()",
    "download": "DeviceInfo.X_GATEWARD_Download()",
}
ASYNC_COMMANDS = frozenset({"ipping", "download"})
IPPING_INPUT = ("Host", "NumberOfRepetitions", "Timeout", "DataBlockSize")
IPPING_OUTPUT = (
    "DiagnosticsState", "SuccessCount", "FailureCount", "AverageResponseTime", "MinimumResponseTime",
    "MaximumResponseTime",
)
DOWNLOAD_INPUT = ("URL", "AutoActivate", "FileSize", "Username", "Password", "X_GATEWARD_Version")


def command_path(root: str, command: str) -> str | None:
    table = COMMANDS_TR098 if root.startswith("InternetGatewayDevice.") else COMMANDS
    rel = table.get(command)
    return None if rel is None else root + rel


def command_name(root: str, path: str) -> str | None:
    """The contract command a USP command path stands for (with instance numbers ignored)."""
    table = COMMANDS_TR098 if root.startswith("InternetGatewayDevice.") else COMMANDS
    for name, rel in table.items():
        if _generic(root + rel) == _generic(path):
            return name
    return None


def _generic(path: str) -> str:
    return ".".join("{i}" if seg.isdigit() else seg for seg in path.split("."))


# ------------------------------------------------------------------------------ value types

VT = msg_pb.GetSupportedDMResp
#: TR-181 type name → GetSupportedDM ParamValueType.
VALUE_TYPES: dict[str, int] = {
    "string": VT.PARAM_STRING,
    "boolean": VT.PARAM_BOOLEAN,
    "int": VT.PARAM_INT,
    "unsignedInt": VT.PARAM_UNSIGNED_INT,
    "long": VT.PARAM_LONG,
    "unsignedLong": VT.PARAM_UNSIGNED_LONG,
    "dateTime": VT.PARAM_DATE_TIME,
    "base64": VT.PARAM_BASE_64,
    "hexBinary": VT.PARAM_HEX_BINARY,
    "decimal": VT.PARAM_DECIMAL,
}
TYPE_NAMES: dict[int, str] = {v: k for k, v in VALUE_TYPES.items()}
INT_TYPES = frozenset({"int", "unsignedInt", "long", "unsignedLong"})


def type_family(type_name: str) -> str:
    """Coarse family used to compare a declared TR-181 type with the device's own type."""
    if type_name in INT_TYPES:
        return "integer"
    if type_name == "boolean":
        return "boolean"
    return "string"


def typed(value: str, type_name: str) -> Scalar:
    """A USP wire string as a Python scalar of the parameter's type (text when it does not parse)."""
    if type_name == "boolean":  # read leniently (padded text forms), as agents send them
        b = parse_wire_bool(value)
        return value if b is None else b
    if type_name in INT_TYPES:
        n = parse_wire_int(value)
        return value if n is None else n
    if type_name == "decimal":
        try:
            return float(value)
        except ValueError:
            return value
    return value


def typed_map(values: Mapping[str, str], types: Mapping[str, str]) -> dict[str, Scalar]:
    return {k: typed(v, types.get(k, "string")) for k, v in values.items()}
