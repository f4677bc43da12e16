"""Coded policy items: reading them from a decision document and ordering them.

Why a module of its own: the engines (``policies/engine.py``) and the fleet merge
(``policies/classes.py``) must order items the same way, or a decision merged from classes would
differ from the same decision made per device. Ordering is by ``code`` where it carries meaning
(rollout stages run in plan order) and by ``message`` only where it is presentation (people read
sorted lists); nothing here branches on a message's wording.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from core.kernel.jsontypes import Json
from core.kernel.models import ApprovalRequirement, Decision, PolicyItem

STAGE = "obligation.stage"
HALT = "obligation.halt"


M = TypeVar("M", bound=BaseModel)


def _plain(cls: type[BaseModel]) -> bool:
    """Models whose ``model_construct`` with every field given does nothing but set ``__dict__``
    (no aliases, extra fields, private attributes or post-init hook)."""
    return (
        not cls.__pydantic_root_model__
        and cls.__pydantic_post_init__ is None
        and cls.model_config.get("extra") != "allow"
        and not cls.__private_attributes__
        and all(f.alias is None and f.validation_alias is None for f in cls.model_fields.values())
    )


_FAST: dict[type[BaseModel], tuple[tuple[str, ...], frozenset[str]]] = {
    cls: (tuple(cls.model_fields), frozenset(cls.model_fields))
    for cls in (Decision, PolicyItem, ApprovalRequirement)
    if _plain(cls)
}
_setattr = object.__setattr__


def construct(cls: type[M], **values: Any) -> M:
    """``cls.model_construct(**values)`` for already-checked values, every field given: what
    model_construct does for these models, without its per-field loop (~6 µs for a Decision, paid
    on every decision). Any other call, or a model that stops being plain, takes model_construct."""
    fast = _FAST.get(cls)
    if fast is None or len(values) != len(fast[0]):
        return cls.model_construct(**values)
    names, fields_set = fast
    m = cls.__new__(cls)
    # The keyword dict is fresh: used as __dict__ when given in field order (as model_construct
    # would lay it out), otherwise reordered.
    _setattr(m, "__dict__", values if tuple(values) == names else {name: values[name] for name in names})
    _setattr(m, "__pydantic_fields_set__", set(fields_set))
    _setattr(m, "__pydantic_extra__", None)
    _setattr(m, "__pydantic_private__", None)
    return m


class MalformedItem(ValueError):
    """An item of the decision document is not ``{code, message, params}``; ``str()`` says which."""


def parse_item(raw: Any, where: str) -> PolicyItem:
    """One ``{code, message, params}`` object, checked; ``where`` names it in the error."""
    if not isinstance(raw, dict):
        raise MalformedItem(f"{where} must be an object {{code, message, params}}, got {type(raw).__name__}")
    code, message, params = raw.get("code"), raw.get("message"), raw.get("params", {})
    if not isinstance(code, str) or not code:
        raise MalformedItem(f"{where}.code must be a non-empty string")
    if not isinstance(message, str):
        raise MalformedItem(f"{where}.message must be a string")
    if not isinstance(params, dict):
        raise MalformedItem(f"{where}.params must be an object, got {type(params).__name__}")
    # Checked above; model_construct skips pydantic's slower second pass on the hot path.
    return construct(PolicyItem, code=code, message=message, params=params)


def parse_items(obj: Mapping[str, Json], key: str, *, optional: bool = False) -> list[PolicyItem]:
    """The list ``obj[key]`` as items; a missing key is an error unless ``optional``."""
    if key not in obj:
        if optional:
            return []
        raise MalformedItem(f"field {key!r} is missing")
    value = obj[key]
    if not isinstance(value, list):
        raise MalformedItem(f"field {key!r} must be a list of {{code, message, params}}, got {type(value).__name__}")
    return [parse_item(raw, f"field {key!r}[{i}]") for i, raw in enumerate(value)]


def _key(item: PolicyItem) -> tuple[str, str]:
    return (item.message, item.code)


def by_message(items: Iterable[PolicyItem]) -> list[PolicyItem]:
    """Sorted for reading, duplicates (same code, message and params) once."""
    unique = {(i.code, i.message, repr(sorted(i.params.items()))): i for i in items}
    return sorted(unique.values(), key=_key)


def ordered_obligations(items: Iterable[PolicyItem]) -> list[PolicyItem]:
    """Rollout stages first in plan order (first seen wins), then the halt gate, then every
    other obligation sorted by message: the same for one decision and for a merge of many,
    whatever order the classes were evaluated in."""
    stages: dict[tuple[str, str], PolicyItem] = {}
    rest: list[PolicyItem] = []
    for item in items:
        if item.code == STAGE:
            stages.setdefault((item.message, repr(sorted(item.params.items()))), item)
        else:
            rest.append(item)
    others = by_message(rest)
    halts = [i for i in others if i.code == HALT]
    return [*stages.values(), *halts, *(i for i in others if i.code != HALT)]


def messages(items: Iterable[PolicyItem]) -> list[str]:
    """The display view of items: their messages, in the items' order."""
    return [i.message for i in items]
