"""GenieACS device ids, and how they travel inside URLs.

Why this is its own module: getting it wrong fails quietly (a 404 for a device that exists, or
the wrong device). GenieACS builds a device id from the Inform's ``DeviceId`` as
``OUI-ProductClass-SerialNumber`` (``OUI-SerialNumber`` when the product class is empty) after
escaping every character of each part that is not ``[A-Za-z0-9_]`` as ``%XX`` (UTF-8 bytes,
upper-case hex) — so a ``-`` inside a serial becomes ``%2D`` and the separators stay
unambiguous (``lib/util.ts`` ``generateDeviceId``). Inside a URL path that id is percent-encoded
*again*: ``%2D`` travels as ``%252D`` (the NBI runs ``decodeURIComponent`` once). In a JSON
``query`` the id is written once-escaped; the query string encoding is httpx's job.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

_KEEP = re.compile(r"[A-Za-z0-9_]")
_ID_CHARS = re.compile(r"^[A-Za-z0-9_%\-]+$")


def escape_component(text: str) -> str:
    """One DeviceId part escaped the way GenieACS does (everything but ``[A-Za-z0-9_]``)."""
    out: list[str] = []
    for ch in text:
        if _KEEP.fullmatch(ch):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def genieacs_device_id(oui: str, product_class: str, serial: str) -> str:
    """The ``_id`` GenieACS gives a CPE with this DeviceId."""
    if not oui or not serial:
        raise ValueError("a GenieACS device id needs the OUI and the serial number")
    parts = [oui, product_class, serial] if product_class else [oui, serial]
    return "-".join(escape_component(p) for p in parts)


def split_device_id(device_id: str) -> tuple[str, str, str]:
    """``(oui, product_class, serial)`` back from a GenieACS id (product class may be empty)."""
    if not is_device_id(device_id):
        raise ValueError(f"{device_id!r} is not a GenieACS device id (OUI-ProductClass-Serial, escaped)")
    parts = device_id.split("-")
    if len(parts) == 2:
        return unquote(parts[0]), "", unquote(parts[1])
    if len(parts) == 3:
        return unquote(parts[0]), unquote(parts[1]), unquote(parts[2])
    raise ValueError(f"{device_id!r} has {len(parts)} '-'-separated parts; expected 2 or 3")


def is_device_id(device_id: str) -> bool:
    """Whether ``device_id`` only holds characters a GenieACS id can hold (the NBI's route regex)."""
    return bool(_ID_CHARS.match(device_id))


def url_segment(value: str) -> str:
    """A device id, task id, fault id or tag as one URL path segment (``%`` becomes ``%25``)."""
    return quote(value, safe="")


def fault_id(device_id: str, task_id: str) -> str:
    """The ``_id`` of the fault a faulted task leaves: ``<deviceId>:task_<taskId>``."""
    return f"{device_id}:task_{task_id}"


__all__ = [
    "escape_component",
    "fault_id",
    "genieacs_device_id",
    "is_device_id",
    "split_device_id",
    "url_segment",
]
