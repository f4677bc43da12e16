"""A live read of a device that shows what the device *has*.

Why: views asked every device for Wi-Fi, DNS client and ManagementServer objects in one read. A
read of a path the device lacks is a fault for the whole read (TR-069 9005, a USP path error), so a
USP agent without Wi-Fi, or any device without ``Device.DNS.Client.``, showed nothing at all and
``gateward device ID`` exited 2. Here every object is optional: the objects the device lacks are
dropped and named, the rest is shown, ``Device.DeviceInfo.`` first. Only a problem with the device
as a whole (offline, timeout) fails the read.

Reads go through the read-only facade the caller hands in; nothing here can write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.kernel.jsontypes import JsonObject
from core.kernel.ports.errors import ExecutorError, InvalidParameterName

if TYPE_CHECKING:  # not imported to run: `gateward device ID` reads without pydantic
    from core.kernel.models import Device
    from core.kernel.ports.executor import DeviceReader, ParamValue

# DeviceInfo first: it is what every device has and what an operator looks at first.
OVERVIEW_OBJECTS = ("Device.DeviceInfo.", "Device.WiFi.", "Device.DNS.Client.", "Device.ManagementServer.")
CLI_OBJECTS = ("Device.DeviceInfo.", "Device.WiFi.Radio.", "Device.DNS.Client.", "Device.ManagementServer.")


@dataclass
class Overview:
    """``values`` in display order (requested object order, then path), ``absent`` the requested
    objects or parameters this device does not have, ``error`` a whole-device failure."""

    values: list[ParamValue] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    error: str | None = None

    def rows(self) -> list[JsonObject]:
        from core.kernel.secrets import mask_value

        return [{"path": v.path, "value": mask_value(v.path, v.value), "type": v.type, "writable": v.writable,
                 "device_path": v.device_path} for v in self.values]


def read_overview(reader: DeviceReader, device: Device, paths: Sequence[str] = OVERVIEW_OBJECTS) -> Overview:
    """Read ``paths`` from ``device``; a path it lacks is left out and listed in ``absent``.

    One read in the common case. When the device refuses some paths by name, those are dropped and
    the rest read again; when it refuses without naming them, each path is read on its own."""
    wanted = list(dict.fromkeys(paths))
    absent: list[str] = []
    while wanted:
        try:
            got = reader.read(device, wanted)
        except InvalidParameterName as exc:
            named = [p for p in wanted if p in exc.per_parameter]
            if not named:
                return _one_by_one(reader, device, wanted, absent)
            absent += named
            wanted = [p for p in wanted if p not in named]
            continue
        except ExecutorError as exc:
            return Overview(absent=absent, error=exc.message)
        return _ordered(got, wanted, absent)
    return Overview(absent=absent)


def _one_by_one(reader: DeviceReader, device: Device, wanted: list[str], absent: list[str]) -> Overview:
    got: dict[str, ParamValue] = {}
    for path in wanted:
        try:
            got.update(reader.read(device, [path]))
        except InvalidParameterName:
            absent.append(path)
        except ExecutorError as exc:
            return Overview(values=_ordered(got, wanted, absent).values, absent=absent, error=exc.message)
    return _ordered(got, [p for p in wanted if p not in absent], absent)


def _ordered(got: dict[str, ParamValue], wanted: list[str], absent: list[str]) -> Overview:
    """Group by the requested object (in request order), then by path; an object that came back
    empty counts as absent too."""
    rank = {p: i for i, p in enumerate(wanted)}

    def key(path: str) -> tuple[int, str]:
        owner = next((p for p in wanted if path == p or (p.endswith(".") and path.startswith(p))), None)
        return (rank[owner] if owner is not None else len(wanted), path)

    seen = {next((p for p in wanted if k == p or (p.endswith(".") and k.startswith(p))), "") for k in got}
    empty = [p for p in wanted if p not in seen]
    return Overview(values=[got[k] for k in sorted(got, key=key)], absent=absent + empty)
