"""Keys and anchors for the audit chain: what the database cannot rewrite (``docs/safety.md`` invariant 4).

The plain sha256 chain in ``audit_events`` proves only that the rows agree with each other: anyone
with write access to the table can append a row with a valid hash, delete the tail, or edit a row
and recompute every later hash. Three things anchor the chain outside the rows themselves:

* an **audit key** the database does not hold — ``GATEWARD_AUDIT_KEY``, or a key file
  (``GATEWARD_AUDIT_KEY_FILE``, default ``$GATEWARD_HOME/audit.key``, created 0600 on first use);
* HMACs with that key over the chain head (``audit_head``, rewritten by every append) and over
  periodic **checkpoints** (``audit_checkpoints``, append-only, every
  ``GATEWARD_AUDIT_CHECKPOINT_EVERY`` events and on ``gateward audit anchor``);
* an append-only **anchor file** outside the database that receives each checkpoint after it
  commits, so deleting every row — events, head and checkpoints — still leaves evidence.

This module holds the key, the MAC and the file; ``core.audit`` decides when to use them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.kernel.canonical import canonical_json
from core.kernel.config import default_home
from core.kernel.errors import Invalid
from core.store import dburl

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

_ENV = ("GATEWARD_HOME", "GATEWARD_AUDIT_KEY", "GATEWARD_AUDIT_KEY_FILE", "GATEWARD_AUDIT_ANCHOR_FILE",
        "GATEWARD_AUDIT_CHECKPOINT_EVERY", "GATEWARD_AUDIT_CHAIN")
_MIN_KEY_BYTES = 16


class AuditSettings(BaseSettings):
    """The audit anchor's configuration (``GATEWARD_AUDIT_*``); read apart from ``core.kernel.config`` so
    that ``append`` — which only has a session — can find it cheaply."""

    model_config = SettingsConfigDict(env_prefix="GATEWARD_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    audit_key: SecretStr | None = Field(default=None, description="the HMAC key itself (≥ 16 characters)")
    audit_key_file: Path | None = Field(default=None, description="default $GATEWARD_HOME/audit.key")
    audit_anchor_file: Path | None = Field(default=None, description="default: beside the SQLite file, or "
                                           "$GATEWARD_HOME/audit-anchors/<database id>.jsonl")
    audit_checkpoint_every: int = Field(default=100, ge=1, le=1_000_000)
    audit_chain: Literal["commit", "after"] = Field(
        default="commit", description="PostgreSQL: link a transaction's events into the chain as it commits "
        "(commit), or commit them unlinked and link them just after (after: audited commits no longer wait "
        "for each other; core.audit_pending)")

    def key_file(self) -> Path:
        return self.audit_key_file or self.home / "audit.key"


_settings_cache: dict[tuple[Any, ...], AuditSettings] = {}


def _env_reader(names: tuple[str, ...]) -> Callable[[], tuple[Any, ...]]:
    """A function returning the raw values of ``names`` in ``os.environ`` now (None when unset).

    Every audited commit asks twice (settings, key), and ``os.environ.get`` encodes the name and
    decodes the value on each call: ~90 look-ups a proposal were 5 % of the lifecycle's CPU
   . The raw mapping under ``os.environ`` is still read on every call, so a change of
    the environment (tests, ``monkeypatch.setenv``) is seen at once; only the codec is skipped.
    """
    data = getattr(os.environ, "_data", None)
    encode = getattr(os.environ, "encodekey", None)
    if not isinstance(data, dict) or encode is None:  # not CPython's os._Environ: the portable way
        return lambda: tuple(os.environ.get(k) for k in names)
    keys = tuple(encode(k) for k in names)
    get = data.get
    return lambda: tuple(map(get, keys))


_audit_env = _env_reader(_ENV)
_key_env = _env_reader((*_ENV, "XDG_DATA_HOME"))


def settings() -> AuditSettings:
    """Settings for the current environment, cached per set of values (appends call this often)."""
    env = _audit_env()
    cached = _settings_cache.get(env)
    if cached is None:
        try:
            cached = AuditSettings()
        except ValidationError as exc:
            raise Invalid(f"audit configuration: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}; "
                          "fix GATEWARD_AUDIT_* in the environment") from exc
        _settings_cache[env] = cached
    return cached


@dataclass(frozen=True)
class AuditKey:
    secret: bytes
    key_id: str  # names the key in checkpoints without revealing it
    source: str  # "GATEWARD_AUDIT_KEY" or the key file's path


_key_cache: dict[tuple[str | None, str], AuditKey] = {}
_key_lock = threading.Lock()


def _make_key(secret: bytes, source: str) -> AuditKey:
    if len(secret) < _MIN_KEY_BYTES:
        raise Invalid(f"audit key from {source} is too short ({len(secret)} bytes; need ≥ {_MIN_KEY_BYTES}); "
                      "use 32 random bytes, e.g. `openssl rand -hex 32`")
    key_id = hashlib.sha256(b"gateward-audit-key-id:" + secret).hexdigest()[:16]
    return AuditKey(secret, key_id, source)


def _read_key_file(path: Path) -> AuditKey:
    raw = path.read_bytes().strip()
    try:
        secret = bytes.fromhex(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        secret = raw
    return _make_key(secret, str(path))


def _create_key_file(path: Path) -> None:
    """Write 32 random bytes as hex, mode 0600, atomically: a concurrent creator either wins the
    link or finds the finished file, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


_loaded: dict[tuple[str | None, ...], AuditKey] = {}


def load_key(*, create: bool) -> AuditKey | None:
    """The audit key: ``GATEWARD_AUDIT_KEY`` if set, else the key file. Appends create the file on
    first use; verify never does (a fresh key would make every existing MAC look forged).

    Every audited transaction asks, so a key already loaded for this environment and working
    directory is returned without resolving the key file's path again (that was a tenth of an
    append's cost)."""
    where = (*_key_env(), os.getcwd())
    hit = _loaded.get(where)
    if hit is not None:
        return hit
    key = _load_key(create=create)
    if key is not None:
        _loaded[where] = key
    return key


def _load_key(*, create: bool) -> AuditKey | None:
    cfg = settings()
    env_key = cfg.audit_key.get_secret_value() if cfg.audit_key is not None else None
    path = cfg.key_file()
    cache_key = (env_key, str(path.resolve()) if env_key is None else "")
    with _key_lock:
        if cache_key in _key_cache:
            return _key_cache[cache_key]
        if env_key is not None:
            key = _make_key(env_key.encode(), "GATEWARD_AUDIT_KEY")
        elif path.exists():
            key = _read_key_file(path)
        elif create:
            _create_key_file(path)
            key = _read_key_file(path)
        else:
            return None
        _key_cache[cache_key] = key
        return key


def mac(key: AuditKey, kind: str, seq: int, head_hash: str, count: int, ts: datetime) -> str:
    """HMAC-SHA256 over a checkpoint's canonical JSON. Without the key nobody — including a
    database user who can recompute every plain hash — can produce one."""
    body = {"kind": kind, "seq": seq, "hash": head_hash, "count": count,
            "ts": ts.isoformat(timespec="microseconds")}
    return hmac.new(key.secret, canonical_json(body), hashlib.sha256).hexdigest()


def mac_ok(key: AuditKey, kind: str, seq: int, head_hash: str, count: int, ts: datetime, given: str) -> bool:
    return hmac.compare_digest(mac(key, kind, seq, head_hash, count, ts), given)


# ---------------------------------------------------------------------------- anchor file
def anchor_path(url: URL | str) -> Path | None:
    """Where this database's anchor file lives on this host.

    ``GATEWARD_AUDIT_ANCHOR_FILE`` wins. A SQLite database's file sits beside it (whoever can
    rewrite the one can rewrite the other; the key is what protects SQLite). Any other database's
    sits under ``$GATEWARD_HOME/audit-anchors/``, named by a hash of the URL.
    An in-memory database has none.

    ``url``: the engine's URL, or the URL text the DB-API read path opened (``gateward audit
    verify``); both are read by :mod:`core.store.dburl`, so both name the same file.
    """
    cfg = settings()
    if cfg.audit_anchor_file is not None:
        return cfg.audit_anchor_file
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    parsed = dburl.parse(dburl.normalise_url(text))
    if parsed is None:
        raise Invalid(f"cannot read the database URL {dburl.label(text) or '(unparsable)'} to find its anchor file")
    if parsed.backend == "sqlite":
        db = parsed.database
        if not db or db == ":memory:" or db.startswith("file::memory:"):
            return None
        return Path(db + "-audit-anchor.jsonl")
    # The name hashes the whole URL, password included: it always did (``URL.set(password=None)``
    # leaves a password in place), and a new name would lose every existing anchor file.
    ident = parsed.render(hide_password=False)
    return cfg.home / "audit-anchors" / (hashlib.sha256(ident.encode()).hexdigest()[:16] + ".jsonl")


@dataclass(frozen=True)
class Anchor:
    """One checkpoint as the anchor file (or an exported copy) records it."""

    seq: int
    hash: str
    count: int
    ts: datetime
    key_id: str
    mac: str

    def line(self) -> bytes:
        return orjson.dumps({"seq": self.seq, "hash": self.hash, "count": self.count,
                             "ts": self.ts.isoformat(timespec="microseconds"), "key_id": self.key_id,
                             "mac": self.mac}) + b"\n"


def append_anchor(path: Path, anchor: Anchor) -> None:
    """One O_APPEND write per line, 0600: processes on one host never interleave a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, anchor.line())
    finally:
        os.close(fd)


@dataclass(frozen=True)
class AnchorLine:
    lineno: int
    anchor: Anchor | None  # None: the line does not parse
    error: str = ""


def read_anchors(path: Path) -> Iterator[AnchorLine]:
    """Every line of an anchor file; a line that does not parse is reported, not skipped."""
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                d: dict[str, Any] = orjson.loads(raw)
                yield AnchorLine(n, Anchor(int(d["seq"]), str(d["hash"]), int(d["count"]),
                                           datetime.fromisoformat(str(d["ts"])), str(d["key_id"]), str(d["mac"])))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                yield AnchorLine(n, None, f"line {n} is not an anchor ({exc.__class__.__name__})")
