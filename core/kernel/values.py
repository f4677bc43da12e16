"""What a TR-106 value means, beyond the facets the BBF XML gives: named types, bytes, control characters.

Why this exists: the XML's facets let bad values through.  ``IPAddress`` has only a size
(``maxLength="45"``), so ``999.1.1.1`` and ``not-an-ip`` fitted; string sizes were counted in
characters while 802.11 limits an SSID to 32 *octets*; and nothing stopped a NUL, an ESC, a
newline or a right-to-left override from being written into an SSID a subscriber's phone then
displays.  Each check here returns the reason a value is wrong (``None`` when it is fine) and
never the value itself: the caller (:mod:`core.kernel.datamodel.registry`) decides how to show it, so a
secret never reaches a message.

Pure functions of the standard library only (``ipaddress``, ``unicodedata``); the registry
compiles them into its per-parameter checks once, so the hot path stays a few comparisons.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "DISPLAY_SUFFIXES",
    "MIN_WRITE_BYTES",
    "LexicalError",
    "as_bool",
    "as_int",
    "byte_length",
    "control_problem",
    "is_display_string",
    "listed_values",
    "named_type_check",
    "parse_bool",
    "parse_wire_bool",
    "parse_wire_int",
]

NamedCheck = Callable[[str], str | None]

# C0 and C1 control characters by their ISO 6429 abbreviations (unicodedata has no names for them).
_C0 = ("NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR", "SO", "SI",
       "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US")
_C1 = ("PAD", "HOP", "BPH", "NBH", "IND", "NEL", "SSA", "ESA", "HTS", "HTJ", "VTS", "PLD", "PLU", "RI", "SS2", "SS3",
       "DCS", "PU1", "PU2", "STS", "CCH", "MW", "SPA", "EPA", "SOS", "SGCI", "SCI", "CSI", "ST", "OSC", "PM", "APC")
# Any string written to a device: C0 except TAB/LF/CR (XML 1.0, CWMP's envelope, cannot carry them
# at all), DEL and C1 (never text).
_CONTROL_ANY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Display strings (an SSID, a name, a description): also TAB/LF/CR, and the bidirectional
# embeddings, overrides and isolates that make text display differently from what it is
# ("Trojan Source"), U+202A..U+202E and U+2066..U+2069.
_CONTROL_DISPLAY = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# Parameter names whose value people read: SSIDs, names, descriptions, aliases, labels.
DISPLAY_SUFFIXES = ("SSID", "Name", "Description", "Alias", "Label")

# Minimum sizes (bytes) the standard leaves open but a written value must meet: an empty SSID is
# not a valid 802.11 network name (IEEE 802.11 allows 0..32 octets, but 0 is the wildcard SSID of a
# probe request, not a network a subscriber can join), so a change proposal may not set one.
MIN_WRITE_BYTES: Mapping[str, tuple[int, str]] = {
    "SSID": (1, "an empty SSID is not a valid 802.11 network name"),
}


def byte_length(text: str) -> int:
    """Size of ``text`` in UTF-8 octets: the unit TR-181 string sizes and 802.11 limits mean."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def is_display_string(name: str) -> bool:
    """True for a parameter people read (``SSID``, ``FriendlyName``, ``Description``, ``Alias``…)."""
    return name.endswith(DISPLAY_SUFFIXES)


def _char_name(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return _C0[code]
    if code == 0x7F:
        return "DEL"
    if 0x80 <= code <= 0x9F:
        return _C1[code - 0x80]
    return unicodedata.name(ch, "unnamed")


def control_problem(text: str, *, display: bool, secret: bool = False) -> str | None:
    """Why ``text`` may not be written, or ``None``: ``"contains control character U+001B (ESC)"``.

    ``display`` applies the strict set (TAB/LF/CR and bidi controls too); ``secret`` leaves the
    character out of the message (it would disclose part of the secret).
    """
    if text.isascii() and text.isprintable():
        return None  # the common case, decided in C
    m = (_CONTROL_DISPLAY if display else _CONTROL_ANY).search(text)
    if m is None:
        return None
    ch = m.group()
    kind = "bidirectional control" if ord(ch) >= 0x202A else "control character"
    if secret:
        return f"contains a {kind}"
    return f"contains {kind} U+{ord(ch):04X} ({_char_name(ch)})"


# --------------------------------------------------------------------------- named types


def _ipv4(text: str) -> str | None:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return "is not an IPv4 address (dotted decimal, four parts 0..255, no leading zeros)"
    return None


def _ipv6(text: str) -> str | None:
    if "%" in text:
        return "is not an IPv6 address (zone identifiers are not allowed)"
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return "is not an IPv6 address (RFC 4291 text form)"
    return None


def _ip(text: str) -> str | None:
    if ":" in text:
        return None if _ipv6(text) is None else "is not an IP address (IPv4 dotted decimal or IPv6)"
    return None if _ipv4(text) is None else "is not an IP address (IPv4 dotted decimal or IPv6)"


def _prefix(family: int | None) -> NamedCheck:
    """An ``address/n`` CIDR prefix; the address part may be empty (``/n``, TR-106 IPPrefix)."""
    what = {4: "an IPv4 prefix", 6: "an IPv6 prefix", None: "an IP prefix"}[family]

    def check(text: str) -> str | None:
        addr, sep, length = text.partition("/")
        if not sep or not length.isdigit() or not length.isascii():
            return f"is not {what} (address/length, e.g. 192.0.2.0/24)"
        fam = family or (6 if ":" in addr else 4)
        if int(length) > (32 if fam == 4 else 128):
            return f"is not {what} (length {length} is longer than the address)"
        if addr and (_ipv4(addr) if fam == 4 else _ipv6(addr)) is not None:
            return f"is not {what} ({addr!r} is not an IPv{fam} address)"
        return None

    return check


_MAC_RE = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")


def _mac(text: str) -> str | None:
    return None if _MAC_RE.fullmatch(text) else "is not a MAC address (six hex pairs separated by colons)"


_NAMED: dict[str, NamedCheck] = {
    "IPAddress": _ip,
    "IPv4Address": _ipv4,
    "IPv6Address": _ipv6,
    "IPPrefix": _prefix(None),
    "IPv4Prefix": _prefix(4),
    "IPv6Prefix": _prefix(6),
    "MACAddress": _mac,
}


def named_type_check(chain: Iterable[str]) -> NamedCheck | None:
    """The semantic check for a named type, given its ``base=`` chain (most derived first).

    The first type in the chain that has a check wins, so a type derived from IPv4Address is an
    IPv4 address.  The empty string passes: TR-106 represents an unspecified address as empty.
    """
    for name in chain:
        inner = _NAMED.get(name)
        if inner is not None:
            def check(text: str, inner: NamedCheck = inner) -> str | None:
                return None if text == "" else inner(text)
            return check
    return None


# --------------------------------------------------------------------------- device-listed values


def listed_values(text: str) -> frozenset[str] | None:
    """The values a device lists (``PossibleChannels`` "1-13" or "36,40,44", ``TransmitPowerSupported``
    "25,50,100", ``SupportedStandards`` "a,n,ac"), ranges expanded; ``None`` when it lists none."""
    out: set[str] = set()
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        lo, sep, hi = item.partition("-")
        if sep and lo.isdigit() and hi.isdigit() and int(hi) - int(lo) <= 4096:
            out.update(str(n) for n in range(int(lo), int(hi) + 1))
        else:
            out.add(item)
    return frozenset(out) or None


# --------------------------------------------------------------------------- lexical forms


class LexicalError(ValueError):
    """A value that is not in the TR-106 lexical form of the type asked for; the message names the
    forms accepted and what was given (callers holding a secret wrap it without the value)."""


_TRUE_FORMS = frozenset({"true", "1"})
_FALSE_FORMS = frozenset({"false", "0"})
_INT_FORM = re.compile(r"[+-]?[0-9]+")


def parse_bool(value: object) -> bool | None:
    """A TR-106 boolean in any form a device, an ACS or JSON sends it — ``True``/``False``,
    ``"true"``/``"false"``/``"1"``/``"0"`` (any case), the integers 0/1 — or ``None`` when the value
    is none of them. Surrounding blanks are not a form: the write gate refuses ``" 36"`` rather than
    guess what a padded value meant.

    Why here: CWMP carries booleans as strings, USP as text, the store as JSON; every reader used
    to spell its own ``str(v).lower() in ("true", "1")``, which read ``"yes"`` or ``None`` as false.
    Readers that must not guess test ``is True`` / ``is False``; writers use :func:`as_bool`.
    """
    if value is True or value is False:
        return value
    if type(value) is int:
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        low = value.lower()
        if low in _TRUE_FORMS:
            return True
        if low in _FALSE_FORMS:
            return False
    return None


def as_bool(value: object) -> bool:
    """:func:`parse_bool`, refusing anything else with :class:`LexicalError`."""
    b = parse_bool(value)
    if b is None:
        raise LexicalError(f"expected a boolean (true/false/1/0), got {value!r}")
    return b


def as_int(value: object) -> int:
    """A TR-106 integer (int, unsignedInt, long, unsignedLong) from an int, an integral float (JSON
    numbers) or its decimal string form (``"3600"``, ``"-5"``); a boolean, a fraction, padded or any
    other text raises :class:`LexicalError`. Ranges are the caller's facet."""
    if isinstance(value, bool):
        pass  # True is an int to Python, not to TR-106
    elif isinstance(value, int):
        return value
    elif isinstance(value, str):
        if _INT_FORM.fullmatch(value):
            return int(value)
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    raise LexicalError(f"expected an integer, got {value!r}")


def _collapsed(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def parse_wire_bool(value: object) -> bool | None:
    """:func:`parse_bool` for a value *read off a protocol wire*, where surrounding blanks are part
    of the encoding rather than of the value: XML Schema ``xsd:boolean`` has ``whiteSpace=collapse``
    (CWMP, GenieACS documents built from it), and USP agents in the field pad text forms.

    Why a separate helper: the write gate must keep refusing ``" true"`` (:func:`as_bool`), while
    the adapters decoding what a device said must keep reading it; each used to spell its own
    ``str(v).strip().lower() in ("true", "1")``. Never use this to decide what to write."""
    return parse_bool(_collapsed(value))


def parse_wire_int(value: object) -> int | None:
    """:func:`as_int` for a value read off a protocol wire (blanks collapsed, as for
    :func:`parse_wire_bool`), or ``None`` when it is not an integer in any accepted form."""
    try:
        return as_int(_collapsed(value))
    except LexicalError:
        return None
