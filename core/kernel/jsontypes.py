"""JSON as a type: what audit data, evidence, stored JSON columns and API bodies hold.

``Json`` is read-only and covariant (``Mapping`` and ``Sequence``, not ``dict`` and ``list``), so a
``list[str]`` or a ``dict[str, int]`` built anywhere is a ``Json`` without copying or casting, while a
``datetime`` or a model object handed where JSON is expected is a type error. A function that
*builds* a JSON object returns :data:`JsonObject` (a ``dict``: its caller may add keys); one that
only reads or forwards it takes ``Mapping[str, Json]``.

Why not pydantic's ``JsonValue``: its containers are ``list`` and ``dict``, which are invariant, so
every ``list[str]`` would have to be copied or cast on the way in; and nothing here is validated —
these aliases are for the type checker only (never a pydantic model's field or a FastAPI
annotation: at run time they are ``Any``, below).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

JsonScalar: TypeAlias = str | int | float | bool | None
if TYPE_CHECKING:
    Json: TypeAlias = Mapping[str, "Json"] | Sequence["Json"] | JsonScalar
else:
    # At run time ``Json`` is ``Any``: code that reads annotations (pydantic's TypeAdapter over a
    # dataclass, LangGraph's state hints) sees exactly what ``dict[str, Any]`` gave it before —
    # pydantic cannot build a schema for a recursive alias that is not a ``TypeAliasType`` (it
    # recursed until the stack ran out), and nothing here is meant to validate.
    Json = Any
JsonObject: TypeAlias = dict[str, Json]

__all__ = ["Json", "JsonObject", "JsonScalar"]
