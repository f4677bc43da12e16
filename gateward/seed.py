"""Load a generated simulated fleet into the store and the digital twin.

The generator (``executors.sim.fleet``) produces pure data; this module is the one place that
writes it into Gateward's tables (devices, subscribers, topology, neighbours, telemetry, events,
a first parameter snapshot per device) and into the twin, so the server and every CLI call act
on one fleet.

It also decides which people belong to the demo (``gateward run --demo``): only those the
demo created itself — recorded in the audit trail as ``demo.people`` — may be (re-)created or handed
a token at start-up. A database that holds anyone else is somebody's real directory: the demo adds
no one to it and prints no token of theirs. ``gateward run`` without ``--demo`` touches none of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from core import audit
from core.kernel.models import ActorKind, utcnow
from core.store.schema import (
    AuditEventRow,
    DeviceRow,
    UserRow,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.store import Store
    from gateward.runtime import Runtime
from core.users import DEMO_USERS, ensure_users
from gateward.fleet_load import SNAPSHOT_PATHS as SNAPSHOT_PATHS  # re-exported: read from here before
from gateward.fleet_load import take_snapshots as take_snapshots
from gateward.fleet_load import twin_for as twin_for


def seed_fleet(runtime: Runtime, homes: int = 200, seed: int = 7, reset: bool = False,
               snapshots: bool = True, **load: Any) -> int:
    """Generate ``homes`` homes deterministically and load them. Returns the device count.

    Loaded in committed batches (``gateward.fleet_load``; ``load``: its batch, telemetry and
    snapshot sizes, a progress callback). Runs under the database's ``seed`` lock: replicas started
    together on an empty database take turns, and the later ones find the fleet there (only
    missing devices are ever inserted)."""
    with runtime.store.exclusive("seed"):
        return _seed_fleet(runtime, homes=homes, seed=seed, reset=reset, snapshots=snapshots, **load)


def _seed_fleet(runtime: Runtime, *, homes: int, seed: int, reset: bool, snapshots: bool,
                users: bool = True, **load: Any) -> int:
    """``users``: also add the demo users (``gateward seed``, tests); ``gateward run --demo`` passes
    False and adds only the people the demo may own (:func:`claim_demo_people`)."""
    from gateward.fleet_load import load_fleet

    load_fleet(runtime, homes=homes, seed=seed, reset=reset, snapshots=snapshots, **load)
    # After the load's transactions: ``ensure_users`` opens a write of its own (on SQLite a second
    # writer nested inside the first waited on itself until "database is locked").
    if users:
        ensure_users(runtime.store)
    return fleet_size(runtime.store)


def fleet_size(store: Store) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0)


def ensure_seeded(runtime: Runtime, homes: int = 200, seed: int = 7) -> int:
    """Seed an empty database and claim the demo people (:func:`start_demo`); the device count."""
    return start_demo(runtime, homes=homes, seed=seed).devices


# ---------------------------------------------------------------------------- the demo's people
DEMO_PEOPLE_EVENT = "demo.people"
DEMO_ACTOR = "gateward-demo"
_DEMO_PEOPLE = tuple(u for u in DEMO_USERS if u[2] is ActorKind.HUMAN)
# The product's own automation identity (campaign halts, remediation): a job, never a person, no token.
AUTOMATION_USERS = tuple(u for u in DEMO_USERS if u[2] is ActorKind.JOB)


@dataclass(frozen=True)
class DemoPeople:
    """Who the demo owns in this database, after :func:`claim_demo_people`.

    ``owned``: the demo people the demo created (now or before), active or not — the only ones
    whose tokens a demo start may print. ``created``: those created by this call. ``others``: how
    many users are neither the demo's nor the automation identity (real people: the demo then
    created no one)."""

    owned: tuple[str, ...]
    created: tuple[str, ...]
    others: int


@dataclass(frozen=True)
class DemoStart:
    devices: int
    people: DemoPeople


def start_demo(runtime: Runtime, homes: int = 200, seed: int = 7) -> DemoStart:
    """``gateward run --demo``: seed an empty database with ``homes`` simulated homes, add the
    automation identity if missing, and claim the demo people. Under the database's ``seed``
    lock, so replicas started together seed once and create each person once."""
    store = runtime.store
    with store.exclusive("seed"):
        n = fleet_size(store)
        if not n:
            n = _seed_fleet(runtime, homes=homes, seed=seed, reset=False, snapshots=True, users=False)
            hold_remediation(runtime)  # the problem homes stay for the newcomer
        ensure_automation(store)
        return DemoStart(devices=n, people=claim_demo_people(store))


DEMO_HOLD_REASON = ("demo: the simulated fleet's problem homes are left for you to find; the detectors open "
                    "cases but nothing fixes them until a person resumes remediation of the problem")


def hold_remediation(rt: Runtime) -> list[str]:
    """``gateward run --demo`` on a freshly seeded fleet: halt remediation of every problem, with
    the reason said, so the detectors open cases but do not quietly fix the homes a newcomer is
    looking for. A person resumes a problem in the console or with `gateward remediation
    resume`; a restart of the same demo database does not halt it again. The halted problems."""
    from brain.remediation import breaker
    from brain.remediation.service import ZTP_PROBLEM

    svc = rt.remediation
    problems = [*sorted(svc.rules.problems), ZTP_PROBLEM]
    with rt.store.write() as s:
        for problem in problems:
            breaker.set_state(s, problem, "halted", DEMO_ACTOR, DEMO_HOLD_REASON, svc.limits.ramp, svc.group_cap(),
                              svc.clock())
    return problems


def ensure_automation(store: Store) -> tuple[str, ...]:
    """Add the automation identity (``remediator``: kind job, role automation) if missing; the ids
    added. Campaign halts and remediation act as it, so a production directory needs it too. It is
    not a person and gets no token here; a deactivated one stays deactivated."""
    with store.read() as s:
        have = set(s.scalars(select(UserRow.id)))
    missing = tuple(u for u in AUTOMATION_USERS if u[0] not in have)
    if missing:
        ensure_users(store, missing)
    return tuple(u[0] for u in missing)


def _recorded_demo_people(s: Session) -> set[str]:
    """The people earlier demo starts recorded as theirs (append-only, hash-chained: a person
    cannot be made the demo's after the fact without breaking the chain)."""
    rows = s.scalars(select(AuditEventRow.data).where(AuditEventRow.action == DEMO_PEOPLE_EVENT))
    return {str(uid) for data in rows for uid in (data or {}).get("ids", [])}


def claim_demo_people(store: Store) -> DemoPeople:
    """Decide which users are the demo's, and add the missing demo people only where the
    directory holds nobody else.

    - Users the demo recorded as its own are the demo's.
    - A directory of exactly the demo users, as ``gateward seed`` and earlier versions of ``gateward
      run`` created them (same ids, roles and kinds, nothing else), is adopted once (recorded).
    - Anyone else — a person added with ``gateward users add``, even one named like a demo person —
      is real. Where real people exist the demo creates no one; a demo person missing or revoked
      is never re-created or re-activated either way (only missing ids are ever inserted)."""
    with store.write() as s:
        rows = list(s.scalars(select(UserRow)))
        owned = _recorded_demo_people(s)
        directory = {(r.id, tuple(r.roles), str(r.kind)) for r in rows}
        adopted: tuple[str, ...] = ()
        if not owned and rows and directory == {(u, tuple(roles), str(k)) for u, roles, k in DEMO_USERS}:
            adopted = tuple(u for u, _, _ in _DEMO_PEOPLE)
            owned = set(adopted)
        automation = {(u, tuple(roles), str(k)) for u, roles, k in AUTOMATION_USERS}
        others = [r.id for r in rows
                  if r.id not in owned and (r.id, tuple(r.roles), str(r.kind)) not in automation]
        have = {r.id for r in rows}
        created: tuple[str, ...] = ()
        if not others:
            created = tuple(u for u, _, _ in _DEMO_PEOPLE if u not in have)
            now = utcnow()
            for uid, roles, kind in _DEMO_PEOPLE:
                if uid in created:
                    s.add(UserRow(id=uid, roles=list(roles), kind=str(kind), active=True, created_at=now))
            owned |= set(created)
        for how, ids in (("adopted", adopted), ("created", created)):
            if ids:
                audit.append(s, actor=DEMO_ACTOR, action=DEMO_PEOPLE_EVENT, data={"how": how, "ids": list(ids)})
    return DemoPeople(owned=tuple(u for u, _, _ in _DEMO_PEOPLE if u in owned), created=created, others=len(others))
