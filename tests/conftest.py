"""Shared fixtures: databases (SQLite always; PostgreSQL when GATEWARD_TEST_DATABASE_URL is set),
and a runtime over a small seeded simulated fleet.

Each PostgreSQL test database is a fresh schema (search_path) in the configured database, so
suites can run in parallel and leave nothing behind. With GATEWARD_REQUIRE_SERVICES=1 (CI) a
missing PostgreSQL is a failure, not a skip.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testing.databases import DatabaseUnavailable, pg_schema_url
from testing.databases import make_db_url as _make_db_url
from testing.templates import Templates, worker_id
from tests import costs

# Policy judges change windows by the clock; pin the time of day it sees (02:30 UTC: inside the
# DE/FR/GB windows of the shipped pack) so that no result depends on when the suite runs. Set
# before any Settings is built, and inherited by the CLI subprocesses tests start.
os.environ.setdefault("GATEWARD_POLICY_TIME", "02:30")
# Keep the suite out of the per-user data directory (the default GATEWARD_HOME): audit keys and
# any default SQLite file go under the checkout's var/, as before that default moved.
# One home per pytest-xdist worker: the audit key file is created at first use, and two workers
# creating it at once would each sign with a key the other then overwrites.
os.environ.setdefault("GATEWARD_HOME", str(Path(__file__).resolve().parents[1] / "var" / "test-home" / worker_id()))
# A controller group's persistent MQTT session outlives its process by this long on the broker
# (production default: 7 days). On the shared test broker a week-long session would queue every
# later run's records for a controller nobody starts again; 5 s keeps the behaviour while the
# process lives and lets the broker forget it soon after. Tests of the session set their own.
os.environ.setdefault("GATEWARD_USP_SESSION_EXPIRY_S", "5")
# The policy engine fails closed past GATEWARD_POLICY_TIMEOUT_MS (500 ms). Under a full parallel run
# an evaluation that takes 5 ms alone took 1.4 s and denied a campaign a test then expected to start;
# the timeout's own behaviour is tested with the limits those tests pass explicitly.
os.environ.setdefault("GATEWARD_POLICY_TIMEOUT_MS", "10000")
# Every process keeps its own pool of PostgreSQL connections (production default: 10 kept, 20 more
# under a burst). The full tier runs 2 × cores workers on one server of 100 connections, and tests
# start API and worker processes of their own: kept connections summed past it ("too many clients
# already", the campaign bench's four workers held 10 each). Three kept per process; bursts still open more.
os.environ.setdefault("GATEWARD_DB_POOL_SIZE", "3")

PG_URL = os.environ.get("GATEWARD_TEST_DATABASE_URL")
REQUIRE = os.environ.get("GATEWARD_REQUIRE_SERVICES") == "1"
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


TEMPLATES = Templates(Path(tempfile.mkdtemp(prefix=f"gwt-templates-{worker_id()}-")), PG_URL)
"""Seeded databases built once per process and copied per test (``testing.templates``)."""


@pytest.fixture(autouse=True)
def _gateward_environment_kept() -> Iterator[None]:
    """Each test leaves the ``GATEWARD_*`` environment as it found it. Why: product code writes
    it on purpose (``core.kernel.secret_env.resolve_secret_files`` puts a ``NAME_FILE``'s content under
    ``NAME`` for child processes), so a test that ran it in-process left a password behind for
    whichever test came next on its worker — a failure only some orders of the tier showed.
    The cached settings (``get_settings``) are dropped with it: a CLI test run in-process read them
    under its own environment, and the next test on the worker got that test's broker URL (CI: a
    wrong-password TLS test was told no broker answers at the port of the missing-broker test)."""
    from core.kernel.config import get_settings

    before = {k: v for k, v in os.environ.items() if k.startswith("GATEWARD_")}
    yield
    get_settings.cache_clear()
    for key in [k for k in os.environ if k.startswith("GATEWARD_") and k not in before]:
        del os.environ[key]
    for key, value in before.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


# Every PostgreSQL engine a test opened, to hand its idle connections back when the test ends. Why: an engine a
# test leaves behind (a runtime not closed, a store of a CLI run in process) keeps its pool open until it is
# collected — a sampler saw one full-tier worker hold 35 sessions and the suite's processes peak at 69 of the
# server's 100; a CI run that reached 100 failed four tests with "too many clients already".
_PG_ENGINES: weakref.WeakSet[Any] = weakref.WeakSet()


def _note_pg_engine(conn: Any) -> None:
    if conn.engine.dialect.name == "postgresql":
        _PG_ENGINES.add(conn.engine)


@pytest.fixture(autouse=True)
def _pg_sessions_handed_back() -> Iterator[None]:
    """After each test, every PostgreSQL engine's idle pooled connections are closed (``Engine.dispose``: the
    engine stays usable and opens new ones when asked; connections checked out are left alone)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "engine_connect", _note_pg_engine):
        event.listen(Engine, "engine_connect", _note_pg_engine)
    yield
    for engine in list(_PG_ENGINES):
        engine.dispose(close=True)
    _PG_ENGINES.clear()


@pytest.fixture(scope="session", autouse=True)
def _services_present() -> Iterator[None]:
    if REQUIRE and not PG_URL:
        pytest.exit("GATEWARD_REQUIRE_SERVICES=1 but GATEWARD_TEST_DATABASE_URL is not set", returncode=3)
    yield
    TEMPLATES.close()


def _pg_schema_url() -> tuple[str, Any, str]:
    try:
        return pg_schema_url(PG_URL)
    except DatabaseUnavailable as exc:
        pytest.fail(str(exc))


def make_db_url(backend: str, tmp_path: Path) -> tuple[str, Any]:
    """Returns (url, cleanup); a PostgreSQL that cannot be used fails the test."""
    try:
        return _make_db_url(backend, tmp_path)
    except DatabaseUnavailable as exc:
        pytest.fail(str(exc))


SEEDED_BY: dict[str, tuple[int, bool]] = {"runtime": (12, True), "crt": (60, False), "pinned_rt": (60, False),
                                          "seeded_fleet": (12, True)}
"""Fixtures that open ``db_url`` as a seeded fleet: (homes, snapshots) of the copy they expect."""


@pytest.fixture
def seeded_fleet() -> None:
    """Asked for by a fixture that opens ``db_url`` itself: the database is then a copy of the
    12-home seeded template (what ``build_test_runtime(url)`` would seed), made once per process —
    not migrated and seeded again for every test, which on PostgreSQL cost seconds a test."""


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, or — when the test also uses a fixture of ``SEEDED_BY`` — the seeded
    copy that fixture opens (tests start CLI processes on the same URL)."""
    wanted = [spec for name, spec in SEEDED_BY.items() if name in request.fixturenames]
    if wanted:
        homes, snapshots = wanted[0]
        url, cleanup = seeded_db_url(request.param, tmp_path, homes, snapshots)
    else:
        url, cleanup = make_db_url(request.param, tmp_path)
    yield url
    cleanup()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gateward.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Any]:
    from core.store import Store

    s = Store(db_url)
    yield s
    s.dispose()


SEED = 11


def _template_key(homes: int, snapshots: bool) -> str:
    """Which template a seeded database is a copy of: the fleet's size, seed and snapshots, and
    the generator's time anchor (it moves every 15 minutes; a copy must be what seeding now makes)."""
    from executors.sim.fleet import default_anchor

    return f"{homes}-{SEED}-{'s' if snapshots else 'n'}-{default_anchor():%Y%m%d%H%M}"


def _build_seeded(url: str, homes: int, snapshots: bool = True) -> None:
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet

    rt = build_runtime(Settings(database_url=url))
    try:
        seed_fleet(rt, homes=homes, seed=SEED, snapshots=snapshots)
    finally:
        rt.close()


def build_test_runtime(url: str, homes: int = 12) -> Any:
    """A runtime over a seeded fleet of ``homes`` homes at ``url``. A SQLite file that does not
    exist yet is a copy of this process's template (built once); anything else is migrated and
    seeded in place."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        TEMPLATES.sqlite_copy(_template_key(homes, True), lambda u: _build_seeded(u, homes),
                              Path(url.removeprefix("sqlite:///")))
        return build_runtime(Settings(database_url=url))
    rt = build_runtime(Settings(database_url=url))
    seed_fleet(rt, homes=homes, seed=SEED)
    return rt


def seeded_db_url(backend: str, tmp_path: Path, homes: int = 12,
                  snapshots: bool = True) -> tuple[str, Callable[[], None]]:
    """(url, cleanup) of a copy of the seeded template on ``backend`` (a SQLite file under
    ``tmp_path``, or a PostgreSQL database of its own)."""
    key = _template_key(homes, snapshots)

    def build(url: str) -> None:
        _build_seeded(url, homes, snapshots)

    if backend == "sqlite":
        return TEMPLATES.sqlite_copy(key, build, tmp_path / "gateward.db"), lambda: None
    try:
        return TEMPLATES.pg_copy(key, build)
    except DatabaseUnavailable as exc:
        pytest.fail(str(exc))


def seeded_runtime(backend: str, tmp_path: Path, homes: int = 12,
                   snapshots: bool = True) -> tuple[Any, Callable[[], None]]:
    """(runtime, cleanup) over a copy of the seeded template on ``backend``."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    url, drop = seeded_db_url(backend, tmp_path, homes, snapshots)
    rt = build_runtime(Settings(database_url=url))

    def cleanup() -> None:
        rt.close()
        drop()

    return rt, cleanup


def module_runtime(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str,
                   homes: int) -> Iterator[Any]:
    """A seeded runtime on ``request.param``'s backend for a module-scoped fixture (seeding is the
    slow part, so suites share one per module): ``yield from module_runtime(...)``."""
    tmp: Path = tmp_path_factory.mktemp(f"{name}-{request.param}")
    runtime, cleanup = seeded_runtime(request.param, tmp, homes)
    try:
        yield runtime
    finally:
        cleanup()


@pytest.fixture
def runtime(db_url: str) -> Iterator[Any]:
    """A runtime over the seeded copy at ``db_url``."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    rt = build_runtime(Settings(database_url=db_url))
    yield rt
    rt.close()


@pytest.fixture
def sqlite_runtime(sqlite_url: str) -> Iterator[Any]:
    rt = build_test_runtime(sqlite_url)
    yield rt
    rt.close()


# ------------------------------------------------------------------------------------- tiers
# ``make test`` runs the fast tier (``-m "not full and not sanity"``) in parallel; ``make test-all``
# runs everything. A test's tier is derived from what it uses, so a slow test cannot hide in the
# fast tier by forgetting a marker: a PostgreSQL backend, an MQTT broker, a browser, an explicit
# ``slow`` mark, or a recorded cost (``tests/durations.json``, written by ``make durations``: wall
# time or CPU time over the bounds in ``tests/costs.py``) each put it in the full tier. The static
# source checks under ``tests/sanity`` are ``make sanity``'s: one process parses the source once,
# instead of every worker again.
MQTT_FIXTURES = frozenset({"usp_broker", "make_rig", "rig"})
BROWSER_FIXTURES = frozenset({"browser", "browser_ready"})
SANITY_DIR = Path(__file__).with_name("sanity")


def pytest_addoption(parser: pytest.Parser) -> None:
    costs.add_option(parser)


def _params(item: pytest.Item) -> list[Any]:
    callspec = getattr(item, "callspec", None)
    return list(callspec.params.values()) if callspec is not None else []


def _tier_marks(item: pytest.Item) -> list[pytest.MarkDecorator]:
    names = set(getattr(item, "fixturenames", ()))
    params = _params(item)
    marks: list[pytest.MarkDecorator] = []
    if any(isinstance(p, str) and p == "postgres" for p in params):
        marks.append(pytest.mark.postgres)
    if names & MQTT_FIXTURES or item.get_closest_marker("mqtt"):
        # One broker, agents named after their devices' serials: tests that use it run on one
        # worker, one after another, so two workers' agents never answer for each other.
        marks += [pytest.mark.mqtt, pytest.mark.xdist_group("mqtt")]
    if names & BROWSER_FIXTURES or item.get_closest_marker("browser"):
        marks += [pytest.mark.browser, pytest.mark.xdist_group("browser")]
    return marks


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A variant marked ``sqlite_only`` tests what no database changes (a second Ctrl-C, say): its
    # PostgreSQL copy would spend a minute of the full tier proving the same thing again.
    twice = [i for i in items if i.get_closest_marker("sqlite_only") and "postgres" in _params(i)]
    if twice:
        config.hook.pytest_deselected(items=twice)
        drop = {id(i) for i in twice}
        items[:] = [i for i in items if id(i) not in drop]
    recorded = costs.recorded()
    for item in items:
        for mark in _tier_marks(item):
            item.add_marker(mark)
        if costs.is_slow(recorded.get(item.nodeid)):
            item.add_marker(pytest.mark.slow)
        if item.path.is_relative_to(SANITY_DIR):
            item.add_marker(pytest.mark.sanity)
        if any(item.get_closest_marker(m) for m in ("postgres", "mqtt", "browser", "slow")):
            item.add_marker(pytest.mark.full)


class _GroupsHeld:
    """Refuses a parallel run in which xdist would not keep a group on one worker.

    xdist's ``loadgroup`` tells the controller a test's group by appending ``@group`` to the node
    id on the worker. pytest 9.2 keeps node ids in a structured field xdist 3.8 does not write, so
    the suffix silently vanished and the broker tests ran on every worker at once: agents named
    after the same serials answered for each other (two CI failures on 2026-11-26; pytest-xdist
    issue 1386). A lost group must stop the run, not reappear as a flake.
    """

    def __init__(self) -> None:
        self.lost: set[str] = set()

    @pytest.hookimpl(trylast=True)  # after xdist's worker hook has written the suffixes
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if config.getvalue("loadgroup"):
            self.lost = {i.nodeid for i in items
                         if i.get_closest_marker("xdist_group") and not costs.group_suffixed(i.nodeid)}

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        # Each test fails with the reason (an error raised in collection on a worker reaches the
        # controller only as an INTERNALERROR naming the first test).
        if item.nodeid in self.lost:
            pytest.fail("--dist loadgroup lost this test's xdist_group: this pytest and pytest-xdist do "
                        "not keep a group on one worker (pytest-xdist issue 1386), so it would share the "
                        "broker or the browser with another worker; install the versions pyproject.toml pins",
                        pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    costs.configure(config)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        config.pluginmanager.register(_GroupsHeld(), "gateward-groups-held")
