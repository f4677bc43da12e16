"""The inventory source port: what the ACS sync (``core.inventory_sync``) reads a fleet from.

Why a port: the sync owns the rules (one unit registered once, a first sync only counts, the
sweep marks absent only after a complete listing) and the store; a source owns the wire (the
GenieACS NBI today: ``executors.genieacs.inventory.AcsInventorySource``). Everything the sync
needs of a source is named here — which adapter its devices are registered on, which exceptions
mean "the source stopped answering", how a stored cursor becomes the source's own — so the sync
imports no adapter. Structural: a source implements it without importing it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from core.kernel.models import Root


class SourceDevice(Protocol):
    """One device as the source reports it (``executors.genieacs.inventory.AcsDevice``)."""

    @property
    def acs_id(self) -> str: ...
    @property
    def device_id(self) -> str: ...
    @property
    def oui(self) -> str: ...
    @property
    def product_class(self) -> str: ...
    @property
    def serial(self) -> str: ...
    @property
    def root(self) -> Root: ...
    @property
    def manufacturer(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def firmware(self) -> str: ...
    @property
    def last_inform(self) -> datetime | None: ...


class SourceCursor(Protocol):
    """Where a change scan stands: the last document fully applied, in scan order."""

    @property
    def last_inform(self) -> datetime: ...
    @property
    def acs_id(self) -> str: ...

    def rewound(self, seconds: float) -> SourceCursor:
        """A cursor ``seconds`` earlier (where an incremental scan starts reading again)."""
        ...


class SourceItemError(Protocol):
    """A document of a page the source could not read as a device: its id (if any) and why."""

    @property
    def acs_id(self) -> str | None: ...
    @property
    def error(self) -> str: ...


class SourcePage(Protocol):
    """One page of a change scan: devices (or items with an ``error``) and the cursor after it."""

    @property
    def items(self) -> Sequence[SourceDevice | SourceItemError]: ...
    @property
    def cursor(self) -> SourceCursor | None: ...


class InventorySource(Protocol):
    """What the sync reads (``executors.genieacs.inventory.AcsInventorySource``).

    ``name`` is what the cursor is stored under; ``adapter`` the adapter a synced device is
    registered on (and the only devices the sweep may mark absent); ``errors`` the exceptions that
    mean the source stopped answering (the run stops there, reports it and resumes next time).
    A source that can count its devices in one request also has ``count() -> int | None``, which
    a first sync's presence sweep asks instead of listing every id."""

    name: str
    adapter: str
    errors: tuple[type[Exception], ...]

    def cursor_at(self, last_inform: datetime, acs_id: str) -> SourceCursor:
        """The stored cursor as the source's own (the next scan resumes after it)."""
        ...

    def changed(self, since: Any) -> Iterator[SourcePage]:
        """Pages of devices that informed after ``since`` (a cursor this source made: ``cursor_at``
        or a page's own; typed by each source, so ``Any`` here), from the start for None."""
        ...
    def present_ids(self) -> Iterator[list[str]]: ...


__all__ = ["InventorySource", "SourceCursor", "SourceDevice", "SourceItemError", "SourcePage"]
