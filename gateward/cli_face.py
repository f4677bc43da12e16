"""What the command modules use of :mod:`gateward.cli`, as a type.

Why a Protocol: the command modules (``cli_devices``, ``cli_remediation``…) reach ``gateward.cli``
lazily, inside a function — it imports them to register their commands, so a module-level import
would be a cycle — and a module cannot be named as a type. :class:`CliFace` can; mypy checks the
module against it where ``_cli()`` returns it, so a command's ``cli.fail(...)`` is checked too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, Protocol, TypeVar

if TYPE_CHECKING:
    from core.kernel.models import Actor, Change
    from core.store.lite import LiteReader
    from gateward.cli_text import SafeConsole
    from gateward.read_runtime import ReadRuntime
    from gateward.runtime import Runtime

T = TypeVar("T")


class CliFace(Protocol):
    console: SafeConsole
    err: SafeConsole
    _runtime: Runtime | None

    def fail(self, message: str, code: int = 2) -> NoReturn: ...
    def guarded(self, fn: Callable[[], T]) -> T: ...
    def rt(self) -> Runtime: ...
    def reads(self) -> Runtime | ReadRuntime: ...
    def lean(self) -> LiteReader | None: ...
    def actor(self, name: str) -> Actor: ...
    def parse_set(self, items: list[str]) -> list[Change]: ...


def cli() -> CliFace:
    """:mod:`gateward.cli` (imported when first needed)."""
    from gateward import cli as module

    return module
