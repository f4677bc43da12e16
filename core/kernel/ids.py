"""Ids: short, sortable-enough, collision-resistant ids with a type prefix (``p-3f9a...``), and the
grammar of a device id (``OUI-ProductClass-Serial``, the CWMP DeviceId).

Proposal ids double as the CWMP ``ParameterKey`` (≤ 32 characters), so they stay short.

Why a grammar for device ids and not "printable, no spaces": a device id travels into URLs
(GenieACS's NBI, ``/api/devices/{id}``), file names of exports, log lines and the console. A
serial such as ``..%2F..%2Fetc`` was accepted and stored verbatim; decoded once by any layer it
becomes a path. TR-069 leaves ``SerialNumber`` and ``ProductClass`` as free strings, but real CPEs
report letters, digits and a little punctuation, so the parts a person may type are:

* OUI: six hexadecimal digits (stored upper-case);
* product class: 1..64 of letters, digits, ``. _ : + ( ) -`` and inner single spaces (real CPEs
  report ``HG8245 V5``);
* serial: 1..64 of letters, digits and ``. _ : + / -`` (an ONT in the test fleet reports
  ``LM-NT/9002``, and the ACS sync registers what the ACS reports);

each starting with a letter or digit and never holding ``..`` (so no path can climb out of where
an id is used). ``%`` and ``\\`` are never part of an id: GenieACS's escaped ``_id``
(``00259E-HG8245%20V5-SN1``) is decoded by the caller first and its parts must then pass the same
grammar.

The escaped form (``escaped_device_id``, ``split_escaped_id``, ``is_escaped_id``) is the ACS's:
GenieACS escapes every character of each DeviceId part that is not ``[A-Za-z0-9_]`` as ``%XX``
(UTF-8 bytes, upper-case hex), so a ``-`` inside a serial becomes ``%2D`` and the separators stay
unambiguous (``lib/util.ts`` ``generateDeviceId``). It is here, with the grammar, because the
inventory (a device registered by hand, the ACS sync's presence sweep) decodes such ids without
importing the adapter; ``executors.genieacs.ids`` re-exports it under its old names.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import unquote

__all__ = ["OUI_RE", "escape_component", "escaped_device_id", "is_escaped_id", "new_id", "oui_problem",
           "product_class_problem", "serial_problem", "split_escaped_id"]

OUI_RE = re.compile(r"^[0-9A-Fa-f]{6}$")
_SERIAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+/-]{0,63}$")
_PRODUCT_CLASS_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._:+()-]| (?=[A-Za-z0-9._:+()-])){0,63}$")
_SERIAL_CHARS = "letters, digits and . _ : + / -"
_PRODUCT_CLASS_CHARS = "letters, digits, . _ : + ( ) - and inner spaces"


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def oui_problem(oui: str) -> str | None:
    """Why ``oui`` is not an OUI, or ``None``."""
    return None if OUI_RE.match(oui) else "is not six hexadecimal digits"


def serial_problem(serial: str) -> str | None:
    """Why ``serial`` is not a serial a device id may hold, or ``None``. The reason names what is
    allowed (``without spaces`` for a space, the commonest typo)."""
    if any(ch.isspace() for ch in serial):
        return f"must be 1..64 {_SERIAL_CHARS}, without spaces"
    if not _SERIAL_RE.match(serial) or ".." in serial:
        return f"must be 1..64 {_SERIAL_CHARS}, starting with a letter or digit, without '..'"
    return None


def product_class_problem(product_class: str) -> str | None:
    """Why ``product_class`` is not a product class a device id may hold, or ``None``."""
    if not _PRODUCT_CLASS_RE.match(product_class) or ".." in product_class:
        return (f"must be printable: 1..64 {_PRODUCT_CLASS_CHARS}, starting with a letter or digit, "
                "without '..'")
    return None


# ---------------------------------------------------------------------------- the ACS's escaped form
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


def escaped_device_id(oui: str, product_class: str, serial: str) -> str:
    """The ``_id`` GenieACS gives a CPE with this DeviceId."""
    if not oui or not serial:
        raise ValueError("a GenieACS device id needs the OUI and the serial number")
    parts = [oui, product_class, serial] if product_class else [oui, serial]
    return "-".join(escape_component(p) for p in parts)


def split_escaped_id(device_id: str) -> tuple[str, str, str]:
    """``(oui, product_class, serial)`` back from a GenieACS id (product class may be empty)."""
    if not is_escaped_id(device_id):
        raise ValueError(f"{device_id!r} is not a GenieACS device id (OUI-ProductClass-Serial, escaped)")
    parts = device_id.split("-")
    if len(parts) == 2:
        return unquote(parts[0]), "", unquote(parts[1])
    if len(parts) == 3:
        return unquote(parts[0]), unquote(parts[1]), unquote(parts[2])
    raise ValueError(f"{device_id!r} has {len(parts)} '-'-separated parts; expected 2 or 3")


def is_escaped_id(device_id: str) -> bool:
    """Whether ``device_id`` only holds characters a GenieACS id can hold (the NBI's route regex)."""
    return bool(_ID_CHARS.match(device_id))
