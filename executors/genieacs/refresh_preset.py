"""GenieACS presets that refresh, at every periodic Inform, the parameters a change is previewed on.

Why: behind NAT every read of a CPE waits for its next periodic Inform, so a change whose preview
had to read the device cost three informs (the preview's read, the Set, the read-back). With these
presets installed, each periodic session reads the Wi-Fi subtrees anyway, so the preview and the
backup are what the device's last inform gave (``GenieAcsExecutor._given_at_last_inform``) and a
change costs the two informs GenieACS's NBI allows: the Set's and the read-back's (issue 58 item 2,
docs/genieacs.md "Informs per change behind NAT").

The presets use GenieACS's own ``refresh`` provision (``lib/default-provisions.ts``: a subtree's
instances and values, refreshed when older than the start of the current ``every``-second
interval — ``every`` 1 means each session), so nothing runs in GenieACS's script sandbox and no
provision script needs installing. One preset per data-model root, chosen by a precondition on the
root's ``DeviceInfo.SoftwareVersion`` — a forced Inform parameter, so GenieACS evaluates it from the
Inform without an RPC. Only on ``2 PERIODIC`` informs: a session Gateward opens with a connection
request, or a boot, does not pay for the refresh (such a session leaves the values older than its
``_lastInform``, and the next preview reads the device as before). Its own channel, so a fault in
it never holds up another preset's channel.

The cost: each periodic session of each device reads these subtrees (a GetParameterNames and a
GetParameterValues per subtree). Measure it on your ACS before a fleet-wide install.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.kernel.jsontypes import JsonObject
from executors.genieacs import tasks as T

#: The preset names, one per data-model root; ``gateward genieacs refresh-preset --remove`` deletes them.
NAMES = {"Device.": "gateward-refresh-tr181", "InternetGatewayDevice.": "gateward-refresh-tr098"}
CHANNEL = "gateward-refresh"

#: What a change's preview reads on a TR-181 device (``core.policy_input.WIFI_FACT_PATHS`` and the
#: access points' security), and the TR-098 object that holds the same (``WLANConfiguration``).
DEFAULT_SUBTREES = {
    "Device.": ("Device.WiFi.Radio", "Device.WiFi.SSID", "Device.WiFi.AccessPoint"),
    "InternetGatewayDevice.": ("InternetGatewayDevice.LANDevice.*.WLANConfiguration",),
}


class PresetPathError(ValueError):
    """A subtree that is not a TR-181 or TR-098 object path GenieACS can refresh."""


def subtrees(extra: Sequence[str] = ()) -> dict[str, list[str]]:
    """The subtrees to refresh per root: the defaults and ``extra`` (native names, ``*`` for any
    instance), each checked as GenieACS would take it and kept once."""
    out = {root: list(paths) for root, paths in DEFAULT_SUBTREES.items()}
    for raw in extra:
        path = raw.strip().rstrip(".")
        if not path:
            raise PresetPathError("an empty subtree")
        try:
            T.check_path(path.replace(".*.", ".1.").removesuffix(".*"))  # (its own words are replaced below)
        except T.InvalidTask:
            raise PresetPathError(f"{raw!r}: not a TR-069 object path (Device.… or InternetGatewayDevice.…, "
                                  "'*' for any instance)") from None
        root = "Device." if path.startswith("Device.") or path == "Device" else "InternetGatewayDevice."
        if path.removesuffix(".*") + "." == root:
            raise PresetPathError(f"{raw!r}: the whole tree, every inform — name the objects a change needs")
        if not any(path == p or path.startswith(p + ".") for p in out[root]):
            out[root].append(path)
    return out


def presets(extra: Sequence[str] = ()) -> dict[str, JsonObject]:
    """The presets as the NBI takes them (``PUT /presets/<name>``), by name."""
    docs: dict[str, JsonObject] = {}
    for root, paths in subtrees(extra).items():
        docs[NAMES[root]] = {
            "weight": 0,
            "channel": CHANNEL,
            "events": {"2 PERIODIC": True},
            "precondition": f"{root}DeviceInfo.SoftwareVersion IS NOT NULL",
            "configurations": [{"type": "provision", "name": "refresh", "args": [p, 1]} for p in paths],
        }
    return docs


__all__ = ["CHANNEL", "DEFAULT_SUBTREES", "NAMES", "PresetPathError", "presets", "subtrees"]
