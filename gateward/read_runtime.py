"""What a read-only CLI command needs, and nothing more (read commands in ≤ 0.3 s).

Why not :func:`gateward.runtime.build_runtime`: it loads and self-checks the policy pack, builds
the lifecycle and the executor router, and runs the Alembic upgrade — about a second of imports and
work before ``gateward devices`` can print a table. A read needs the rows (through the DB-API,
:mod:`core.store.lite`, when the database is at the schema head, :mod:`core.store.head`) and, for a
live device read, the device's adapter (:meth:`ReadRuntime.live`): for a simulated device the
twin's rows read on the DB-API too (:mod:`executors.sim.lite`: the adapter's own read code without
SQLAlchemy, pydantic or the settings model), for any other the executor router as the full runtime
builds it. Each part is built on first use; nothing here evaluates policy or writes, so no gate is
bypassed: every command that changes something still goes through the full runtime.

The database URL is resolved from the environment as :class:`core.kernel.config.Settings` resolves it
(``GATEWARD_DATABASE_URL``, else ``<GATEWARD_HOME>/gateward.db``), without importing
pydantic-settings (~0.2 s); ``tests/unit/test_cli_reads.py`` compares the two.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.store.dburl import normalise_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from core.kernel.ports.topics import Mismatch
    from core.store.db import Store
    from core.store.lite import DeviceView, LiteReader
    from executors.sim.lite import Db, LiteTwin


def env_setting(name: str) -> str | None:
    """``GATEWARD_<NAME>`` as pydantic-settings reads it: the name case-blind, and of several
    spellings the last one in the environment wins."""
    key, value = f"gateward_{name}".lower(), None
    for k, v in os.environ.items():
        if k.lower() == key:
            value = v
    return value


def home() -> Path:
    """``Settings().home``: ``GATEWARD_HOME``, else ``core.kernel.config.default_home()``."""
    configured = env_setting("home")
    if configured is not None:
        return Path(configured)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser().absolute() / "gateward"


def database_url() -> str:
    """``Settings().resolved_database_url()`` (the home is created for the default SQLite file)."""
    configured = env_setting("database_url")
    if configured:
        return configured
    from core.path_settings import ensure_home

    h = ensure_home(home())  # one that cannot be a directory: one sentence (core.kernel.errors.Invalid)
    return f"sqlite:///{(h / 'gateward.db').resolve()}"


def policy_engine_name() -> str:
    """The engine ``policies.engine.load_engine`` builds for these settings: ``opa`` when
    ``GATEWARD_OPA_URL`` is set, else the embedded one."""
    return "opa" if env_setting("opa_url") else "embedded"


def mqtt_summary() -> str:
    """The MQTT broker as ``gateward status`` shows it: scheme, host, port and user, whether TLS and
    which of its settings are set — never a password (``GATEWARD_MQTT_URL`` may carry one)."""
    from urllib.parse import urlsplit

    url = env_setting("mqtt_url") or "mqtt://127.0.0.1:1883"
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    tls = parts.scheme.lower() in ("mqtts", "ssl", "tls")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        return "GATEWARD_MQTT_URL is not a valid URL"
    user = parts.username or env_setting("mqtt_username")
    out = f"{parts.scheme}://{parts.hostname}:{port} · user {user or '(none)'}"
    if parts.password is not None:
        out += " · password in the URL (better: GATEWARD_MQTT_PASSWORD_FILE)"
    if tls:
        files = [f"GATEWARD_MQTT_{n.upper()}" for n in ("ca_file", "cert_file", "key_file") if env_setting(f"mqtt_{n}")]
        out += " · TLS: " + (", ".join(files) + " set" if files else "system CAs, no client certificate")
        if (env_setting("mqtt_tls_check_hostname") or "true").lower() in ("0", "false", "no", "off"):
            out += ", hostname NOT verified"
    return out


class ReadRuntime:
    """Lazily built reader, store and router for read commands."""

    def __init__(self, database_url: str | None = None) -> None:
        self.url = database_url
        self._store: Store | None = None
        self._lite: LiteReader | None = None
        self._lite_tried = False
        self._router: Any = None
        self._usp: Any = None
        self._twin: LiteTwin | None = None
        self._twin_tried = False
        self._main_db: Db | None = None

    @property
    def lite(self) -> LiteReader | None:
        """A DB-API reader on a database at the schema head; a database behind it is migrated
        first, by the store. ``None``: a URL the DB-API path does not read (use :attr:`store`)."""
        if not self._lite_tried:
            self._lite_tried = True
            from core.store.lite import connect

            url = normalise_url(self.url or database_url())
            reader = connect(url)
            if reader is not None and not reader.at_head():
                reader.close()
                reader = None
            if reader is None and self._store is None:
                _ = self.store  # fresh, behind, or not readable here: open_for_reads migrates what is due
                reader = connect(url)
                if reader is not None and not reader.at_head():
                    reader.close()
                    reader = None
            self._lite = reader
        return self._lite

    @property
    def store(self) -> Store:
        if self._store is None:
            if self._lite is not None:  # its head check passed: no second one
                from core.store.db import Store

                self._store = Store(self.url or database_url(), migrate=False)
            else:
                from core.store.head import open_for_reads

                self._store = open_for_reads(self.url)
        return self._store

    @property
    def router(self) -> Any:
        """The executor router, as the full runtime builds it (same adapters, same settings)."""
        if self._router is None:
            from core.kernel.config import get_settings
            from gateward.runtime import default_router, usp_adapter

            settings = get_settings()
            self._usp = usp_adapter(settings, self.store)
            self._router = default_router(settings, self.store, usp=self._usp)
        return self._router

    # ------------------------------------------------------------------ live reads
    def sim_database_url(self) -> str:
        """The twin's database, as :func:`gateward.runtime.default_router` resolves it for the
        simulator adapter: ``GATEWARD_SIM_DATABASE_URL``, else the store's URL."""
        return env_setting("sim_database_url") or normalise_url(self.url or database_url())

    @property
    def twin(self) -> LiteTwin | None:
        """The simulator adapter's read side on the DB-API (:mod:`executors.sim.lite`); ``None``
        when that path does not read the twin's database (the router then builds the adapter)."""
        if not self._twin_tried:
            self._twin_tried = True
            from executors.sim.lite import LiteTwin, connect

            db = connect(self.sim_database_url())
            self._twin = None if db is None else LiteTwin(db)
        return self._twin

    def live(self, view: DeviceView) -> tuple[Any, Any, Callable[[str, Any], Any]]:
        """For a live read of ``view``: the device to hand the reader, the reader (``presence``,
        ``read``) and how to mask a value for display — the twin's DB-API reader for a simulated
        device, else the router's reader of the ``core.kernel.models.Device`` and ``core.kernel.secrets``.
        Raises :class:`~executors.base.UnknownAdapter` as the router does."""
        if view.adapter == "sim" and self.twin is not None:
            from executors.sim.lite import mask_value

            return view, self.twin, mask_value
        from core.kernel.models import Device
        from core.kernel.secrets import mask_value as mask

        device = Device(**view._asdict())
        return device, self.router.reader(device), mask

    def usp_mismatch(self, view: DeviceView) -> Mismatch | None:
        """``core.usp_topics.device_mismatch`` for ``view``. A process that has not
        talked to the agent knows mismatches only from ``usp_agent_mismatches``; while that table
        is empty (one DB-API query) there is none, and SQLAlchemy is not imported."""
        if str(view.protocol) != "usp" or not self._mismatches_stored():
            return None
        from core.kernel.models import Device
        from core.usp_topics import device_mismatch

        return device_mismatch(self.store, Device(**view._asdict()))

    def _mismatches_stored(self) -> bool:
        """False only when the DB-API says ``usp_agent_mismatches`` is empty."""
        from executors.sim.lite import connect

        url = normalise_url(self.url or database_url())
        if self._main_db is None:
            twin = self.twin
            self._main_db = twin.db if twin is not None and self.sim_database_url() == url else connect(url)
        if self._main_db is None:
            return True
        try:
            return bool(self._main_db.rows("SELECT 1 FROM usp_agent_mismatches LIMIT 1"))
        except Exception:  # not readable here: let the store answer
            return True

    def close(self) -> None:
        if self._twin is not None:
            if self._main_db is self._twin.db:
                self._main_db = None
            self._twin.close()
            self._twin = None
        if self._main_db is not None:
            self._main_db.close()
            self._main_db = None
        if self._lite is not None:
            self._lite.close()
            self._lite = None
        if self._router is not None:
            self._router.close()
        if self._usp is not None:
            self._usp.close()
        if self._store is not None:
            self._store.dispose()
