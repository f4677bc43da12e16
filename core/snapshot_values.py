"""Reading changed paths' values out of stored snapshot documents, the way each database does it.

Snapshot documents are ``{path: {"value": ...}}``: ``jsonb`` on PostgreSQL (two key lookups, no
parse; migration 0021) and JSON text on SQLite, where ``json_extract`` with several paths parses a
document once. Both the fleet preview's whole pass (:mod:`core.fleet_facts`) and its sampled reads
(:mod:`core.preview_sample`) read values through these helpers, so a value is spelt the same
whichever of them read it.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import ColumnElement, func, literal
from sqlalchemy.orm import QueryableAttribute, Session


def json_value(session: Session, column: QueryableAttribute[Any], key: str) -> ColumnElement[Any]:
    """``column[key]["value"]`` as text, for snapshot params stored as ``{path: {"value": ...}}``."""
    if session.get_bind().dialect.name == "postgresql":  # jsonb (migration 0021): two lookups, no parse
        return func.jsonb_extract_path_text(column, literal(key), literal("value"))
    return func.json_extract(column, literal(f'$."{key}".value'))


def value_columns(session: Session, column: QueryableAttribute[Any], paths: list[str]) -> list[ColumnElement[Any]]:
    """The columns that carry ``paths``' values: one per path on PostgreSQL, one for all of them
    on SQLite (``json_extract`` with several paths parses the document once and answers a JSON
    array; with one path it answers the value itself)."""
    if not paths:
        return []
    if session.get_bind().dialect.name == "postgresql" or len(paths) == 1:
        return [json_value(session, column, p).label(f"v{i}") for i, p in enumerate(paths)]
    return [func.json_extract(column, *(literal(f'$."{p}".value') for p in paths)).label("v")]


def decoded_from_key(raw: list[Any], n: int) -> list[Any]:
    """:func:`split_row` for the columns as a ``core.fleet_group.json_key`` carried them: a single-path
    value is itself (a JSON object or array back to the text the extraction gives); several paths
    are their array, decoded already."""
    if n == 0:
        return []
    if n == 1:
        v = raw[0]
        return [orjson.dumps(v).decode() if isinstance(v, (dict, list)) else v]
    arr = raw[0] if raw[0] is not None else [None] * n
    return [int(v) if isinstance(v, bool) else v for v in arr]


def split_row(raw: list[Any], n: int) -> list[Any]:
    """The ``n`` values of one row of :func:`value_columns`' columns, as each single-path column gives them."""
    if n == 0:
        return []
    if len(raw) == n:
        return raw
    arr = orjson.loads(raw[0]) if raw[0] is not None else [None] * n
    # json_extract's array renders JSON booleans as true/false; a single-path extract gives 1/0.
    return [int(v) if isinstance(v, bool) else v for v in arr]
