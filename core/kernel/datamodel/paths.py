"""Path forms shared by discovery and validation: a concrete TR-181 path's generic (``{i}``) form,
the table a path is in, and a schema's parameters made concrete with a device's instances.

Why in the kernel's data model: the USP adapter makes its GetSupportedDM answer concrete
(:func:`concretise`) and ``core.capabilities`` stores and checks the result; both use these pure
functions, so neither side imports the other for them. ``core.capabilities`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping


def generic(path: str) -> str:
    """``Device.WiFi.SSID.2.SSID`` → ``Device.WiFi.SSID.{i}.SSID`` (the registry's pattern form)."""
    return ".".join("{i}" if seg.isdigit() else seg for seg in path.split("."))


def table_of(path: str) -> str | None:
    """The innermost multi-instance table of a generic path (``Device.DNS.Client.Server.{i}.Type`` →
    ``Device.DNS.Client.Server.{i}.``), or ``None`` for a path in no table."""
    cut = path.rfind(".{i}.")
    return path[:cut + 5] if cut >= 0 else None


def count_parameter(path: str) -> str | None:
    """The ``…NumberOfEntries`` parameter that counts the rows of the table ``path`` names
    (``Device.DNS.Client.Server.`` → ``Device.DNS.Client.ServerNumberOfEntries``), or ``None`` when
    ``path`` is not a table's object path (an instance, a leaf, the root).

    Why: TR-181 gives every multi-instance table such a counter in its parent object, so a device that
    reports the counter has the table — and a read of the table's object path that finds no row means
    *no rows*, not an unknown name (CWMP GetParameterValues of an existing object with no instances
    answers nothing, no fault)."""
    if not path.endswith(".") or path.count(".") < 2:
        return None
    parent, _, name = path[:-1].rpartition(".")
    if not parent or not name or name.isdigit() or name == "{i}":
        return None
    return f"{parent}.{name}NumberOfEntries"


def is_empty_table(path: str, has: Callable[[str], bool]) -> bool:
    """``path`` is the object path of a table the device has (``has`` its counter) — read with no
    row matched, it answers nothing rather than fault 9005."""
    counter = count_parameter(path)
    return counter is not None and has(counter)


def tables_seen(params: Iterable[str]) -> set[str]:
    """The tables a discovery enumerated parameters of. A table the device had no instances of when it
    was discovered lists no parameters: their absence then says nothing about the firmware."""
    return {t for p in params if (t := table_of(p)) is not None}


def split_parameters(parameters: Mapping[str, bool | None]) -> tuple[dict[str, bool | None], dict[str, list[int]]]:
    """A discovery's parameters → (generic path → writable, concrete table → instance numbers).

    A parameter is writable in the class when any instance of it is (one read-only instance must not
    refuse writes to the others); ``None`` (not said) only when no instance says anything.
    Instance numbers come from concrete paths only: a generic (``{i}``) path says nothing about them.
    """
    params: dict[str, bool | None] = {}
    tables: dict[str, set[int]] = {}
    for path, writable in parameters.items():
        g = generic(path)
        params[g] = _merge(params[g], writable) if g in params else writable
        segs = path.split(".")
        for k, seg in enumerate(segs):
            if seg.isdigit() and k > 0:
                tables.setdefault(".".join(segs[:k]) + ".", set()).add(int(seg))
    return params, {t: sorted(n) for t, n in sorted(tables.items())}


def concretise(params: Mapping[str, bool | None], instances: Iterable[str]) -> dict[str, bool | None]:
    """Schema-only parameters (USP GetSupportedDM, ``{i}`` paths) made concrete with the instances the
    device has (GetInstances: ``Device.WiFi.SSID.1.``): one path per existing instance, so the device's
    instance numbers are kept too. A parameter of a table with no instance now stays generic: the class
    still knows the firmware has it."""
    by_table: dict[str, list[str]] = {}
    for obj in instances:
        obj = obj if obj.endswith(".") else obj + "."
        by_table.setdefault(generic(obj), []).append(obj)
    out: dict[str, bool | None] = {}
    for path, writable in params.items():
        table = table_of(path)
        objs = by_table.get(table, []) if table is not None else []
        if not objs:
            out[path] = writable
        for obj in objs:
            out[obj + path[len(table or ""):]] = writable
    return out


def _merge(a: bool | None, b: bool | None) -> bool | None:
    """Writability of two instances of one parameter: any writable → writable; else any read-only → read-only."""
    if a is True or b is True:
        return True
    return False if (a is False or b is False) else None
