"""The data model's vocabulary: what a parameter, object, command and event spec is, and the
error a value that does not fit raises (split from :mod:`core.kernel.datamodel.registry`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RULES = frozenset(
    {"unknown_path", "not_writable", "type", "range", "enum", "enum_readonly", "length", "pattern",
     "deleted", "list", "control"}
)

Number = int | float

Typed = str | int | float | bool

Check = Callable[[str, Any, bool], Typed]

# Implicit value ranges of the TR-106 integer types.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "unsignedInt": (0, 2**32 - 1),
    "int": (-(2**31), 2**31 - 1),
    "unsignedLong": (0, 2**64 - 1),
    "long": (-(2**63), 2**63 - 1),
}


class DataModelError(ValueError):
    """A path or value the data model rejects.

    ``rule`` is one of :data:`RULES`, so callers (lifecycle, API, planner) can branch on the
    kind of problem; ``str(exc)`` is ``"<path>: <what is wrong>"`` for people.
    """

    def __init__(self, path: str, rule: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.rule = rule
        self.detail = message


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """Everything the standard says about one parameter.

    ``path`` and ``pattern_path`` are both the ``{i}`` form (a spec describes every instance;
    the concrete path is whatever the caller looked up).  ``ranges`` is a union of
    ``(min, max, step)`` with ``None`` for an open bound; ``sizes`` are alternative
    ``(min, max)`` lengths (characters for strings, bytes for hexBinary/base64); ``patterns``
    are alternative XML-Schema regexes, ``""`` meaning the empty string is allowed.
    """

    path: str
    pattern_path: str
    name: str
    type: str
    access: str = "readOnly"
    data_type: str | None = None
    is_list: bool = False
    list_max_length: int | None = None
    list_min_items: int | None = None
    list_max_items: int | None = None
    list_nested: bool = False
    enum: tuple[str, ...] = ()
    enum_readonly: tuple[str, ...] = ()
    enum_ref: str | None = None
    enum_ref_null: str | None = None
    ranges: tuple[tuple[Number | None, Number | None, Number | None], ...] = ()
    sizes: tuple[tuple[int | None, int | None], ...] = ()
    patterns: tuple[str, ...] = ()
    units: str | None = None
    default: str | None = None
    default_type: str | None = None
    hidden: bool = False
    secured: bool = False
    command_trigger: bool = False
    version: str | None = None
    status: str = "current"
    forced_inform: bool = False
    active_notify: str | None = None
    ref_targets: tuple[str, ...] = ()
    ref_type: str | None = None
    mandatory: bool = False

    @property
    def writable(self) -> bool:
        """Settable by a controller: readWrite, or writeOnceReadOnly (set once, then fixed)."""
        return self.access != "readOnly" and self.status != "deleted"

    @property
    def secret(self) -> bool:
        """``hidden`` or ``secured`` in the standard: never log or display the value."""
        return self.hidden or self.secured

    @property
    def deleted(self) -> bool:
        return self.status == "deleted"

    @property
    def settable_enum(self) -> tuple[str, ...]:
        """Enumeration values a controller may write (readOnly values are report-only)."""
        ro = set(self.enum_readonly)
        return tuple(v for v in self.enum if v not in ro)


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """An object (``path`` ends in ``.``; multi-instance tables end in ``{i}.``)."""

    path: str
    access: str = "readOnly"
    multi_instance: bool = False
    min_entries: int = 1
    max_entries: int | None = 1
    num_entries_param: str | None = None
    enable_param: str | None = None
    unique_keys: tuple[str, ...] = ()
    version: str | None = None
    status: str = "current"

    @property
    def name(self) -> str:
        return self.path

    @property
    def writable(self) -> bool:
        """Instances can be added and deleted (AddObject/DeleteObject, USP Add/Delete)."""
        return self.access == "readWrite" and self.status != "deleted"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A USP command such as ``Device.IP.Diagnostics.IPPing()``."""

    path: str
    name: str
    is_async: bool
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    mandatory_inputs: tuple[str, ...] = ()
    input_specs: Mapping[str, ParamSpec] = dataclasses.field(default_factory=dict, repr=False)
    version: str | None = None
    status: str = "current"


@dataclass(frozen=True, slots=True)
class EventSpec:
    """A USP event such as ``Device.Boot!``."""

    path: str
    name: str
    args: tuple[str, ...]
    version: str | None = None
    status: str = "current"


# --------------------------------------------------------------------------- XSD regexes
