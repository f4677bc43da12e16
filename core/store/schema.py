"""The relational schema (SQLAlchemy 2 typed ORM). Alembic migrations in ``migrations/``
create it; ``metadata`` here is what autogenerate compares against.

Portable between SQLite and PostgreSQL: JSON columns, string ids, timestamps stored as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from core.names import name_key

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Always aware UTC in Python; naive UTC in SQLite, timestamptz in PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _without_nul(value: Any) -> Any:
    """``value`` with every NUL character in its strings (keys too) replaced by U+FFFD, copied only
    where one was found."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        items = [(_without_nul(k), _without_nul(v)) for k, v in value.items()]
        same = all(k2 is k and v2 is v for (k2, v2), (k, v) in zip(items, value.items(), strict=True))
        return value if same else dict(items)
    if isinstance(value, list):
        listed = [_without_nul(v) for v in value]
        return value if all(a is b for a, b in zip(listed, value, strict=True)) else listed
    return value


def _may_hold_nul(value: Any) -> bool:
    """A fast first look (orjson escapes a NUL as ``\\u0000``); a false alarm only costs the walk."""
    try:
        return b"\\u0000" in orjson.dumps(value)
    except TypeError:
        return True


class SnapshotDocument(TypeDecorator[dict[str, Any]]):
    """A stored snapshot's parameters: ``jsonb`` on PostgreSQL (migration 0021: a fleet preview reads
    a few paths of a million documents, and ``json`` is parsed whole for every path read), JSON text
    elsewhere.

    ``jsonb`` cannot hold a NUL character (``\\u0000``), which a USP agent's protobuf string can: a
    device that reported one would have made every snapshot of it fail to store. On PostgreSQL such
    a character is stored as U+FFFD, the replacement character, and the rest of the document as
    reported; SQLite keeps it as it came."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "postgresql" or not _may_hold_nul(value):
            return value
        return _without_nul(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class DeviceRow(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    vendor: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64))
    product_class: Mapped[str] = mapped_column(String(64), default="")
    oui: Mapped[str] = mapped_column(String(6), default="")
    serial: Mapped[str] = mapped_column(String(64), default="")
    firmware: Mapped[str] = mapped_column(String(64))
    root: Mapped[str] = mapped_column(String(32))
    protocol: Mapped[str] = mapped_column(String(8))
    adapter: Mapped[str] = mapped_column(String(16), default="sim")
    # No index of its own (dropped by migration 0036): ``(subscriber, id)`` and ``(region, id)`` below
    # answer every lookup one would, and each index is paid on every insert.
    subscriber: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(32), default="standard")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    upstream_id: Mapped[str | None] = mapped_column(String(128), index=True)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Inventory (migration 0013): a retired device keeps its row and history; it is
    # listed as retired and no proposal or campaign selector can target it.
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ACS inventory sync (migration 0014): when the ACS last listed the device, and since
    # when it has not (status ``absent``: kept, never deleted, not targeted by selectors).
    acs_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    absent_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # ``ix_devices_serial`` (migration 0016): every "same unit" lookup asks by serial and compares
    # the OUI case-blind beside it (an ``os::`` endpoint may spell it in another case), so it is the
    # one unit index; ``(oui, serial)`` was dropped (migration 0018): each index is paid on every
    # insert, and a first ACS sync inserts 100,000 rows.
    # ``(col, id)`` per column the console's device list sorts by (migration 0028): keyset pages.
    # ``ix_devices_status_groups`` (migration 0036): the fleet's counts by status, region, model,
    # firmware and vendor read from the index alone, in its order (no table row, no sort).
    __table_args__ = (Index("ix_devices_model_firmware", "model", "firmware"),
                      Index("ix_devices_serial", "serial"),
                      *(Index(f"ix_devices_{c}_id", c, "id")
                        for c in ("last_seen", "model", "firmware", "region", "subscriber")),
                      Index("ix_devices_status_groups", "status", "region", "model", "firmware", "vendor"))
    # Not declared here, one per database: the text the list's search reads (``core.store.device_search``)
    # — PostgreSQL's trigram index (migration 0028), SQLite's ``ix_devices_search_text`` (0036).


class InventorySyncRow(Base):
    """Where the inventory sync from one source (``genieacs``) stands: the cursor after the last
    page fully applied (``_lastInform``, ``_id``), so a run that stopped resumes there."""

    __tablename__ = "inventory_sync_state"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor_last_inform: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cursor_id: Mapped[str | None] = mapped_column(String(256))
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SubscriberRow(Base):
    __tablename__ = "subscribers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    building: Mapped[str | None] = mapped_column(String(128))
    service: Mapped[str] = mapped_column(String(32), default="standard")


class ParameterSnapshotRow(Base):
    """A stored read of a device's parameters (TR-181 paths). The latest one per device is what
    previews at fleet scale and the planner's 'stored' reads use."""

    __tablename__ = "parameter_snapshots"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(SnapshotDocument)

    __table_args__ = (Index("ix_snapshots_device_taken", "device_id", "taken_at"),)


class SnapshotHeadRow(Base):
    """Each device's newest *full* stored snapshot and the radio facts a fleet decision groups by
    (migration 0020). Kept by database triggers on ``parameter_snapshots`` (every writer,
    whatever its code path), so a million-device gate joins one narrow row per target instead of
    finding ``max(id)`` among each device's snapshots and parsing the whole document.

    ``radios``: the JSON array the database's own extraction gives for the six paths of
    ``core.fleet_facts.RADIO_PATHS`` (band and AutoChannelEnable of radios 1, 2 and 3 in turn),
    exactly what the grouped query used to extract at decision time."""

    __tablename__ = "snapshot_heads"
    # SQLite: the row lives in its primary-key B-tree (one seek per target, not index + table).
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy reads it as declared

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)  # no FK: see migration 0020
    # indexed (migration 0028): a parameter search goes from matching snapshots to their heads
    snapshot_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    radios: Mapped[str | None] = mapped_column(Text)


class TelemetryRow(Base):
    __tablename__ = "telemetry"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_telemetry_device_metric_ts", "device_id", "metric", "ts"),)


# Event kinds that say a device's WAN is in trouble: core.topology's outage rule counts them.
DEGRADED_EVENT_KINDS = ("wan_down", "wan_degraded", "los", "offline")
DEGRADED_KINDS_SQL = "kind IN (" + ", ".join(f"'{k}'" for k in DEGRADED_EVENT_KINDS) + ")"


class DeviceEventRow(Base):
    __tablename__ = "device_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Idempotency key of a pushed event (USP: endpoint, subscription, msg_id): stored at most once,
    # whichever process or replica received it (migration 0011; brain/remediation/ingest.py).
    event_key: Mapped[str | None] = mapped_column(String(64))

    # ``ix_device_events_degraded`` (migration 0036): only the events that say a WAN is in trouble,
    # by time — the outage rule's read (a few rows among the fleet's informs and boots). A query
    # reaches it by naming the kinds as literals (:func:`degraded_event`).
    __table_args__ = (Index("ix_device_events_device_ts", "device_id", "ts"),
                      Index("uq_device_events_event_key", "event_key", unique=True),
                      Index("ix_device_events_degraded", "ts", "device_id",
                            sqlite_where=text(DEGRADED_KINDS_SQL), postgresql_where=text(DEGRADED_KINDS_SQL)))


def degraded_event() -> ColumnElement[bool]:
    """``device_events.kind`` is one of :data:`DEGRADED_EVENT_KINDS`, written with the kinds as
    literals: a partial index serves a query only when its ``WHERE`` implies the index's own, and a
    bound list proves nothing when the statement is prepared."""
    return DeviceEventRow.kind.in_([literal_column(f"'{k}'") for k in DEGRADED_EVENT_KINDS])


class TopologyNodeRow(Base):
    """OLT, PON port, CMTS, building: the upstream chain and physical grouping of gateways."""

    __tablename__ = "topology_nodes"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(128), index=True)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WifiNeighborRow(Base):
    __tablename__ = "wifi_neighbors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    neighbor_device_id: Mapped[str | None] = mapped_column(String(128))
    bssid: Mapped[str] = mapped_column(String(32))
    ssid: Mapped[str] = mapped_column(String(64))
    band: Mapped[str] = mapped_column(String(8))
    channel: Mapped[int] = mapped_column(Integer)
    rssi_dbm: Mapped[float] = mapped_column(Float)


def _name_key_of_id(context: Any) -> str:
    return name_key(str(context.get_current_parameters()["id"]))


class UserRow(Base):
    """A person or a job. ``name_key`` is the id as two names are compared (``core.names``): filled on
    every insert from the id, unique among active people (migration 0031), so ``DAVE`` cannot join
    ``dave``."""

    __tablename__ = "users"
    __table_args__ = (Index("ux_users_name_key_active", "name_key", unique=True, sqlite_where=text("active"),
                            postgresql_where=text("active")),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(8), default="human")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    name_key: Mapped[str | None] = mapped_column(String(256), default=_name_key_of_id)


class ApiTokenRow(Base):
    """API tokens, hashed at rest (sha256 of the token; the token itself is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Every token expires (migration 0008); a row without an expiry is refused (fail closed).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthSessionRow(Base):
    """A signed-in browser's session: server-side, revocable; the cookie holds a random
    token, only its sha256 is stored. Ends at ``expires_at`` (absolute) or after the idle limit
    past ``last_seen_at``; ``ended_at``/``end_reason`` say when and why (logout, revoked, idle...)."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(16))  # "oidc" | "password"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))


class AuthLoginRow(Base):
    """An OpenID Connect sign-in under way: used once by its callback, then deleted."""

    __tablename__ = "auth_logins"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    binding_hash: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserIdentityRow(Base):
    """Which person an identity provider's (issuer, subject) is."""

    __tablename__ = "user_identities"

    issuer: Mapped[str] = mapped_column(String(300), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What lets Gateward ask the provider again (``api.auth.membership``, migration 0034): the refresh
    # and access tokens, sealed with a key the database does not hold; when the groups were last
    # confirmed; which replica is asking now.
    grant_sealed: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserPasswordRow(Base):
    """A local account's argon2 hash, with the consecutive failures and the lockout."""

    __tablename__ = "user_passwords"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    hash: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProposalRow(Base):
    __tablename__ = "proposals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    author: Mapped[str] = mapped_column(String(64), index=True)
    author_kind: Mapped[str] = mapped_column(String(8))
    intent: Mapped[str] = mapped_column(String(300))
    targets: Mapped[list[Any]] = mapped_column(JSON)
    changes: Mapped[list[Any]] = mapped_column(JSON)
    operations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rationale: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    action_type: Mapped[str | None] = mapped_column(String(64))
    staged: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    source: Mapped[str] = mapped_column(String(32), default="cli")
    risk: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(24), index=True)
    hash: Mapped[str] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A change asked for later ("at 2 tonight"): the write starts no earlier (migration 0030).
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    preconditions: Mapped[list[Any] | None] = mapped_column(JSON)
    readback: Mapped[str | None] = mapped_column(Text)
    # Who asked for a scheduled write to start (the agent's "apply"); the worker starts it for them when due.
    start_requested_by: Mapped[str | None] = mapped_column(String(64))
    # A schedule's latest start, signed like not_before; the scheduler's back-off after a deferred
    # start (unsigned bookkeeping) — migration 0033.
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    start_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    start_deferrals: Mapped[int | None] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it as declared


class ProposalDeviceRow(Base):
    """Which devices a proposal targets: lets 'live proposals on this device' be one indexed query.

    The reference to ``proposals`` is a foreign key on SQLite; on PostgreSQL it is checked once per
    statement by triggers with the same guarantees (migration 0022: a row-by-row check was ~45 %
    of recording a million targets). On SQLite the table has no rowid (migration 0023)."""

    __tablename__ = "proposal_devices"
    # SQLite: the rows live in the primary key's B-tree, written once, not twice (migration 0023).
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy reads it as declared

    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class PolicyDecisionRow(Base):
    __tablename__ = "policy_decisions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    proposal_hash: Mapped[str] = mapped_column(String(64))
    revision: Mapped[str] = mapped_column(String(64))
    engine: Mapped[str] = mapped_column(String(32))
    allow: Mapped[bool] = mapped_column(Boolean)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    input: Mapped[dict[str, Any]] = mapped_column(JSON)
    would_deny: Mapped[list[Any]] = mapped_column(JSON, default=list)
    duration_us: Mapped[float] = mapped_column(Float)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApprovalRow(Base):
    __tablename__ = "approvals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    proposal_hash: Mapped[str] = mapped_column(String(64))
    # The policy decision this verdict answered (migration 0012): an edit ends in a new decision, so
    # earlier approvals never count again, even if the content is edited back to the same hash.
    decision_id: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BackupRow(Base):
    __tablename__ = "backups"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[str] = mapped_column(String(128))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ExecutionRow(Base):
    __tablename__ = "executions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("proposal_id", "device_id", name="uq_executions_proposal_device"),)


class DeviceLockRow(Base):
    """Per-device write lock. A primary-key insert is the lock: portable and cross-process."""

    __tablename__ = "device_locks"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    proposal_id: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str] = mapped_column(String(64))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CreateIntentRow(Base):
    """A create under way: its proposal is recorded, its last step (the decision, the campaign row) not
    yet. Written with the proposal, deleted with that last step; one whose ``owner`` process is gone is
    finished or undone by recovery (``core.lifecycle.create_intents``, migration 0032)."""

    __tablename__ = "create_intents"

    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # submit | resubmit | campaign
    actor: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64))  # host:pid, as a device lock's
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # what tells another host's owner is gone


class IdempotencyKeyRow(Base):
    """One ``Idempotency-Key`` of one person: the request it was first sent with (fingerprint), the
    proposal its attempt recorded and the answer to replay; kept 24 h (``core.idempotency``, migration 0032)."""

    __tablename__ = "idempotency_keys"

    actor: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    holder: Mapped[str | None] = mapped_column(String(64))  # host:pid of the attempt under way, if any
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resource: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    answer: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditEventRow(Base):
    """Append-only, hash-chained. UPDATE and DELETE are refused by database triggers."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    proposal_id: Mapped[str | None] = mapped_column(String(32), index=True)
    device_id: Mapped[str | None] = mapped_column(String(128), index=True)
    subscriber: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(64))
    firmware: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The keyed head of the audit chain: one row, rewritten by every append in the same transaction.

    Its HMAC (with a key the database does not hold, ``core.audit``) is what makes an event that
    was INSERTed behind Gateward's back detectable: the head then no longer covers the table's head.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(16))
    mac: Mapped[str] = mapped_column(String(64))


class AuditCheckpointRow(Base):
    """Append-only keyed checkpoints of the chain (head seq, head hash, count), every N events.

    UPDATE/DELETE are refused by triggers; each row is also appended to the anchor file outside
    the database after commit, so truncating both tables is still detected (``core.audit``).
    """

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(16))
    mac: Mapped[str] = mapped_column(String(64))


class AuditPendingRow(Base):
    """PostgreSQL with ``GATEWARD_AUDIT_CHAIN=after``: an event committed with the change it records
    and linked into the chain just after that commit (``core.audit_pending``). ``seq`` is NULL until
    it is chained, then the event's place in ``audit_events``; chained rows are swept after minutes.
    Unused (empty) on SQLite and with the default chaining at commit."""

    __tablename__ = "audit_pending"
    __table_args__ = (Index("ix_audit_pending_unchained", "id", postgresql_where=text("seq IS NULL"),
                            sqlite_where=text("seq IS NULL")),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    proposal_id: Mapped[str | None] = mapped_column(String(32))
    device_id: Mapped[str | None] = mapped_column(String(128))
    subscriber: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(64))
    firmware: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seq: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    chained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OnboardingRow(Base):
    """A USP agent that made first contact (OnBoardRequest / Boot!) but is not in the fleet.

    One row per endpoint ID, however often the agent reconnects (``attempts``). ``status``: ``pending``
    until an admin decides; ``accepted`` (``device_id`` is the registered device) or ``rejected``;
    ``conflict`` when the agent claimed an identity other than the device its endpoint is bound to."""

    __tablename__ = "onboarding_requests"

    endpoint_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    oui: Mapped[str] = mapped_column(String(6), default="")
    product_class: Mapped[str] = mapped_column(String(64), default="")
    serial: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    device_id: Mapped[str | None] = mapped_column(String(128))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)


class DeviceCapabilityRow(Base):
    """The data model one (vendor, model, firmware, root) really exposes, as its devices reported it
    through ``discover()``: TR-181 generic parameter path → writable (``None``: the device
    did not say). Validation refuses a change to a path this lacks or marks read-only, before anyone
    approves; a class with no row validates against the registry alone. Created by migration 0014_caps.
    ``commands`` (migration 0029): the contract commands the class's data model has,
    ``{"supported": [...], "paths": {command: its path there}}``; NULL when discovery did not say."""

    __tablename__ = "device_capabilities"

    vendor: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    firmware: Mapped[str] = mapped_column(String(64), primary_key=True)
    root: Mapped[str] = mapped_column(String(32), primary_key=True)
    protocol: Mapped[str] = mapped_column(String(16))
    data_model_version: Mapped[str] = mapped_column(String(64), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    commands: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True, default=None)
    source_device_id: Mapped[str] = mapped_column(String(128))
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeviceInstancesRow(Base):
    """Which instance numbers one device has of each table it reported (``Device.WiFi.SSID.`` →
    ``[1, 2, 3, 4]``), from its last ``discover()``: instance numbers are per device, not per model."""

    __tablename__ = "device_instances"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    firmware: Mapped[str] = mapped_column(String(64))
    instances: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UspAgentTopicRow(Base):
    """Where a USP agent listens: the topic it gave in its ``mqtt_connect`` Record or as
    the Response Topic / ``reply-to`` of its records, per endpoint ID (``executors.usp.agent_topics``).

    Stored so that every process — the long-running controller and a short-lived CLI alike —
    addresses the agent where it really listens (the OB-USP-Agent's example uses ``/usp/agent``),
    not where a naming convention says it should. ``source``: ``mqtt_connect``, ``response_topic``,
    ``reply_to`` or ``manual``."""

    __tablename__ = "usp_agent_topics"

    endpoint_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    topic: Mapped[str] = mapped_column(String(512))
    mqtt_version: Mapped[int] = mapped_column(Integer, default=5)
    source: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UspAgentMismatchRow(Base):
    """A USP agent that is connected but does not answer this controller (migration 0016):
    the controller endpoint ID the agent is configured for (``agent_controller_id``, when its
    records named it; NULL when it was only silent) and ours (``controller_id``).

    Stored because the process that saw the silence (a CLI ``gateward usp get``, the controller)
    is rarely the one an operator asks next; ``gateward usp topics``, ``gateward device ID`` and the
    API device view read it here. Deleted when the agent is heard addressing this controller again
    (``executors.usp.agent_topics``)."""

    __tablename__ = "usp_agent_mismatches"

    endpoint_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    agent_controller_id: Mapped[str | None] = mapped_column(String(128))
    controller_id: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(String(256), default="")
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
