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

from urllib.parse import quote

# The escaping grammar is the kernel's (core.kernel.ids: the inventory decodes such ids too).
from core.kernel.ids import escape_component as escape_component
from core.kernel.ids import escaped_device_id as genieacs_device_id
from core.kernel.ids import is_escaped_id as is_device_id
from core.kernel.ids import split_escaped_id as split_device_id


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
