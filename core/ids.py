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
"""

from __future__ import annotations

import re
import secrets

__all__ = ["OUI_RE", "new_id", "oui_problem", "product_class_problem", "serial_problem"]

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
