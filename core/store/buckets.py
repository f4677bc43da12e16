"""A timestamp's bucket number in SQL, the same integer on PostgreSQL and SQLite.

Why one helper: the fleet trends (``api/fleet_trends``) and a count KPI's reporting hours
(``campaigns/effects``) both group rows by time in the database, and the two dialects spell it
differently — an integer division written once, where each caller would otherwise get one dialect
subtly wrong (``/`` on two integers is true division in SQLAlchemy 2: a float per second on SQLite,
and each second then grouped apart).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, cast, func
from sqlalchemy import Integer as SAInteger


def time_bucket(dialect: str, col: Any, size_s: int, since: datetime | None = None) -> ColumnElement[Any]:
    """``floor((epoch seconds of col - those of since) / size_s)``: the bucket number of a timestamp,
    an integer — numbered from the epoch, or from ``since`` (buckets that begin where a window does;
    only timestamps at or after ``since`` are numbered right on SQLite, whose ``//`` truncates)."""
    offset = 0 if since is None else int(since.timestamp())
    if dialect == "postgresql":
        return func.floor((func.extract("epoch", col) - offset) / size_s)
    return (cast(func.strftime("%s", col), SAInteger) - offset) // size_s
