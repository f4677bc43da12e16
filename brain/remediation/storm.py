"""Storm protection: token buckets in the database, per upstream node and global.

Why buckets in the database: remediation runs on several workers; a limit each worker keeps in
memory multiplies by the number of workers exactly when a region comes back from an outage and
every worker is busy. A bucket row per key (``global``, ``node:<id>``) is refilled lazily from its
last update and decremented under the row's lock (PostgreSQL ``FOR UPDATE``; SQLite's write
transaction is exclusive), so all workers together never exceed the rate. A device takes one
token from the global bucket and from every node above it (its PON port and that port's OLT, or
its CMTS): a returning OLT drains at its own pace without starving the rest of the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from brain.remediation.schema import RemediationBucketRow
from core.kernel.errors import Invalid
from core.store.schema import TopologyNodeRow

LIMITS_FILE = Path(__file__).with_name("limits.json")
GLOBAL = "global"


class Bucket(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_s: float = Field(gt=0)
    burst: float = Field(ge=1)


class StormLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    global_: Bucket = Field(alias="global")
    nodes: dict[str, Bucket]
    max_inflight: int = Field(ge=1)
    max_inflight_per_node: int = Field(ge=1)
    scan: int = Field(default=2000, ge=1)

    def node(self, kind: str) -> Bucket:
        return self.nodes.get(kind) or self.nodes.get("default") or self.global_


class Ramp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initial_batch: int = Field(ge=1)
    max_batch: int = Field(ge=1)
    factor: float = Field(ge=1.0, le=16.0)


class Breaker(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failure_threshold: float = Field(ge=0, le=1)
    min_executed: int = Field(ge=1)


class Retry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offline_delay_s: float = Field(ge=0)
    max_attempts: int = Field(ge=1)


class JobLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str = ""
    actor: str = "remediator"
    storm: StormLimits
    ramp: Ramp
    breaker: Breaker
    retry: Retry
    confirm_h: float = Field(ge=0)
    stale_dispatch_s: float = Field(gt=0)


def load_limits(path: Path | str | None = None, **overrides: Any) -> JobLimits:
    """The job settings (``brain/remediation/limits.json``); ``overrides`` replace top-level
    sections (tests and benchmarks), e.g. ``storm={...}``."""
    p = Path(path) if path is not None else LIMITS_FILE
    try:
        raw = orjson.loads(p.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise Invalid(f"remediation limits {p}: {exc}") from exc
    raw.update(overrides)
    try:
        return JobLimits.model_validate(raw)
    except Exception as exc:
        raise Invalid(f"remediation limits {p.name}: {exc}") from exc


@dataclass
class NodeChains:
    """device upstream id → the node keys above it (the node, its parent, …) and their kinds."""

    kinds: dict[str, str] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def load(cls, s: Session, upstream_ids: Iterable[str | None]) -> NodeChains:
        out = cls()
        todo = {u for u in upstream_ids if u}
        while todo:
            rows = s.execute(select(TopologyNodeRow.id, TopologyNodeRow.kind, TopologyNodeRow.parent_id)
                             .where(TopologyNodeRow.id.in_(sorted(todo)))).all()
            for nid, kind, parent in rows:
                out.kinds[nid], out.parents[nid] = kind, parent
            found = {r[0] for r in rows}
            for u in todo - found:
                out.kinds.setdefault(u, "default")
                out.parents.setdefault(u, None)
            todo = {p for _, _, p in rows if p and p not in out.kinds and p != ""}
        return out

    def chain(self, upstream_id: str | None) -> list[str]:
        out: list[str] = []
        cur = upstream_id
        while cur and cur not in out and len(out) < 8:
            out.append(cur)
            cur = self.parents.get(cur)
        return out


class TokenBuckets:
    """A transaction's view of the buckets it touches: load, refill, take, save."""

    def __init__(self, s: Session, limits: StormLimits, now: datetime, keys: Sequence[str],
                 kinds: dict[str, str]) -> None:
        self.s, self.limits, self.now = s, limits, now
        self.kinds = kinds
        self.rows: dict[str, RemediationBucketRow] = {}
        self._load(sorted(set(keys) | {GLOBAL}))

    def spec(self, key: str) -> Bucket:
        if key == GLOBAL:
            return self.limits.global_
        return self.limits.node(self.kinds.get(key.removeprefix("node:"), "default"))

    def _load(self, keys: list[str]) -> None:
        dialect = self.s.get_bind().dialect.name
        ins: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = RemediationBucketRow.__table__
        for i in range(0, len(keys), 1000):
            part = keys[i:i + 1000]
            self.s.execute(ins(table).values([{"key": k, "tokens": self.spec(k).burst, "updated_at": self.now}
                                              for k in part]).on_conflict_do_nothing(index_elements=["key"]))
            q = select(RemediationBucketRow).where(RemediationBucketRow.key.in_(part)).order_by(
                RemediationBucketRow.key)
            if dialect == "postgresql":
                q = q.with_for_update()
            for row in self.s.scalars(q):
                spec = self.spec(row.key)
                elapsed = max(0.0, (self.now - row.updated_at).total_seconds())
                row.tokens = min(spec.burst, row.tokens + elapsed * spec.per_s)
                row.updated_at = self.now
                self.rows[row.key] = row

    def available(self, keys: Sequence[str]) -> bool:
        return all(self.rows[k].tokens >= 1.0 for k in (GLOBAL, *keys))

    def take(self, keys: Sequence[str]) -> bool:
        """One token from the global bucket and every key's, or none at all."""
        if not self.available(keys):
            return False
        for k in (GLOBAL, *keys):
            self.rows[k].tokens -= 1.0
        return True

    def level(self, key: str) -> float:
        return self.rows[key].tokens


def node_keys(chain: Sequence[str]) -> list[str]:
    return [f"node:{n}" for n in chain]
