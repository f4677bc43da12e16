"""Settings from the environment (``GATEWARD_*``), with embedded defaults.

Defaults run everything on one machine with nothing installed: a SQLite file under
``GATEWARD_HOME`` (a per-user data directory, see :func:`default_home`), embedded Rego, the
simulated fleet and the offline planner.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.kernel.errors import Invalid


def default_home() -> Path:
    """``$XDG_DATA_HOME/gateward`` (``~/.local/share/gateward``): one place per user.

    Why not ``./var``: a relative home made every command depend on the directory it was run
    from — the CLI started elsewhere silently opened a new, empty database and showed an empty
    fleet. Absolute, so ``gateward status`` anywhere reads the same fleet."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser().absolute() / "gateward"


class PoolSettings(BaseSettings):
    """How many PostgreSQL connections one process's store keeps and may open: its own class so the
    store reads only these (:func:`core.store.db.make_engine`), while :class:`Settings` inherits them and
    checks them at start with the rest. Every process (API, each worker, each CLI run) holds its own pool;
    their sum plus the job queue's and the chat checkpoints' must stay under the server's
    ``max_connections`` (docs/deploy.md)."""

    model_config = SettingsConfigDict(env_prefix="GATEWARD_", extra="ignore")

    db_pool_size: int = Field(default=10, ge=1, le=500,
                              description="PostgreSQL: connections a process keeps open for reuse")
    db_pool_overflow: int = Field(default=20, ge=0, le=1000,
                                  description="PostgreSQL: connections a process may open beyond the kept ones "
                                              "under a burst (closed again when handed back)")
    db_connect_wait_s: float = Field(default=10.0, ge=0, le=300,
                                     description="PostgreSQL: how long a new connection waits for a free session "
                                                 "when the server is full (\"too many clients\"); 0 fails at once")


class Settings(PoolSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWARD_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="where the SQLite file and artefacts live")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite:///<home>/gateward.db")
    sim_database_url: str | None = Field(default=None, description="digital twin store; default: database_url")
    opa_url: str | None = Field(default=None, description="OPA server base URL; unset = embedded regorus")
    opa_ca_file: str | None = Field(default=None, description="CA bundle to verify an https OPA server")
    opa_token: SecretStr | None = Field(default=None, description="bearer token for the OPA server (or _FILE)")
    policy_timeout_ms: int = Field(default=500, ge=1)
    mqtt_url: str = Field(default="mqtt://127.0.0.1:1883",
                          description="the USP broker: mqtt://host:port, or mqtts://[user@]host:port for TLS")
    # MQTT credentials and TLS (executors/usp/mqtt_tls.py); the URL's scheme chooses TLS
    mqtt_username: str | None = Field(default=None, description="MQTT user name when the URL names none")
    mqtt_password: SecretStr | None = Field(default=None, description="MQTT password (better: its _FILE form)")
    mqtt_ca_file: Path | None = Field(default=None, description="CA certificate(s), PEM, to verify the broker by; "
                                                                "unset: the system's CAs")
    mqtt_cert_file: Path | None = Field(default=None, description="client certificate, PEM (mutual TLS)")
    mqtt_key_file: Path | None = Field(default=None, description="the client certificate's private key, PEM")
    mqtt_tls_check_hostname: bool = Field(default=True, description="verify that the broker's certificate "
                                                                    "names the host in the URL")
    genieacs_url: str | None = Field(default=None, description="GenieACS NBI base URL")
    genieacs_auth_header: str | None = None
    model: str = Field(default="gpt-4o-mini", description="LLM model name when OPENAI_API_KEY is set")
    verify_window_s: float = Field(default=0.0, ge=0, description="seconds to watch a change hold after apply")
    lock_ttl_s: int = Field(default=900, ge=1)
    schedule_latest_s: int = Field(
        default=7200, ge=60, le=7 * 86400,
        description="a scheduled change given no latest start may start at most this many seconds after its "
                    "not-before (then it is never run late: the agent is told)")
    schedule_retry_s: float = Field(
        default=60.0, ge=1, le=3600,
        description="first wait before the scheduler tries a due change again whose gateway was offline; it "
                    "doubles per try up to 15 minutes, never past the latest start")
    live_heartbeat_s: float = Field(
        default=15.0, ge=1, le=300,
        description="seconds between keep-alives on a silent change feed (GET /api/events); a console that hears "
                    "nothing for two of them and 5 s says the server is unreachable. Below a proxy's idle timeout")
    live_streams_per_person: int = Field(
        default=8, ge=1, le=1000,
        description="live event streams (GET /api/events, one per open console page) one person may hold open on "
                    "one server; the next is refused with 429 until one closes")
    # Issue 37: one proposal's devices read and written this many at a time (core/fanout.py)
    apply_concurrency: int = Field(
        default=16, ge=1, le=64,
        description="devices of one proposal whose preview read, presence, backup read, write and read-back "
                    "run at once; 1: one device after another, in target order (before issue 37)")
    store_lanes: int | None = Field(
        default=None, ge=0, le=64,
        description="threads of one process that run interactive database work at once (core.store.lane); "
                    "0 = no limit; unset: 1 on SQLite, 4 on PostgreSQL. Raise it for a database with a long "
                    "round trip.")
    token_ttl_days: int = Field(default=30, ge=1, le=3650, description="API token lifetime (days)")
    onboarding_file: Path | None = Field(
        default=None,
        description="the operator's own onboarding allow list (JSON, the shape of policies/data/onboarding.json); "
                    "unset: the policy pack's. A file that is missing or malformed allow-lists nothing.")
    policy_time: str | None = Field(
        default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="pin the UTC time of day (HH:MM) that policy judges change windows by; the date stays "
                    "today's. For rehearsals and test runs that must not depend on the wall clock.")

    region_zones: str = Field(
        default="", description="REGION=IANA/Zone pairs, comma-separated: the zone a time said in a support "
                                "chat is read in for a device of that region (core.localtime has the defaults)")

    @field_validator("region_zones")
    @classmethod
    def _zones_exist(cls, raw: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        for part in filter(None, (p.strip() for p in raw.split(","))):
            region, sep, zone = (x.strip() for x in part.partition("="))
            if not (sep and region and zone):
                raise ValueError(f"{part!r} is not REGION=Area/City (e.g. DE=Europe/Berlin)")
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{zone!r} (for {region}) is no IANA time zone (e.g. Europe/Berlin)") from None
        return raw

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        try:  # a home that cannot be a directory: one sentence, not FileExistsError (core.path_settings says more)
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            what = "is a file, not a directory" if self.home.is_file() else f"cannot be made ({exc.strerror or exc})"
            raise Invalid(f"GATEWARD_HOME={self.home} {what}: point it at a directory") from exc
        return f"sqlite:///{(self.home / 'gateward.db').resolve()}"

    def policy_clock(self) -> Callable[[], datetime]:
        """The clock the lifecycle hands to policy: the wall clock unless ``policy_time`` pins it
        (``core.kernel.clock``: the pinned time of day is for change windows only)."""
        from core.kernel.clock import policy_clock

        return policy_clock(self.policy_time)

    def resolved_sim_database_url(self) -> str:
        return self.sim_database_url or self.resolved_database_url()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    from core.kernel.secret_env import resolve_secret_files

    resolve_secret_files()  # GATEWARD_X_FILE → GATEWARD_X before anything reads the environment
    try:
        return Settings()
    except ValidationError as exc:  # one line naming the variable, never a traceback at start
        raise Invalid("; ".join(_setting_error(e) for e in exc.errors())) from None


def pool_settings() -> PoolSettings:
    """The store's pool sizes alone (:class:`PoolSettings`): a malformed one is one line naming it."""
    try:
        return PoolSettings()
    except ValidationError as exc:
        raise Invalid("; ".join(_setting_error(e) for e in exc.errors())) from None


def setting_problems(model: type[BaseSettings] | None = None) -> list[str]:
    """Each malformed value of ``model`` (default :class:`Settings`; an adapter's own settings class
    with another ``GATEWARD_`` prefix alike) as its own line: ``gateward status`` lists them all."""
    model = Settings if model is None else model
    try:
        model()
    except ValidationError as exc:
        return [_setting_error(e, model) for e in exc.errors()]
    return []


def _setting_error(err: ErrorDetails, model: type[BaseSettings] = Settings) -> str:
    prefix = str(model.model_config.get("env_prefix") or "GATEWARD_")
    name = (prefix + "_".join(str(p) for p in err["loc"])).upper()
    value = os.environ.get(name, err["input"])
    field = model.model_fields.get(str(err["loc"][0])) if err["loc"] else None
    shown = "(set)" if field is not None and "SecretStr" in str(field.annotation) else repr(value)
    return f"{name}={shown}: {err['msg'].removeprefix('Value error, ')}"
