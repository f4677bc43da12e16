"""Issue 34, item 9: an apply on a full disk says so in one line and leaves nothing stuck.

It used to print a Python traceback with no hint, and the device locks stayed held until someone
ran ``gateward recover``. Now ``gateward apply`` prints one line naming the cause (the database's
disk is full, where it is) and the command (``gateward recover``); the API answers 503
``storage_full``. Nothing reaches a device, and what the failed apply left is settled: by the next
``gateward recover`` / start of ``gateward run`` once the CLI process is gone (an apply of it
meanwhile names that command), and inside a live server by its own next apply or worker round.

The disk is made full with a failpoint (``core.failpoints``): ``NAME=disk_full`` raises
``sqlite3.OperationalError("database or disk is full")`` there and at every later store write.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from core import failpoints
from core.kernel.errors import StorageFull
from core.kernel.models import Change, ProposalDraft, ProposalState
from core.store.schema import DeviceLockRow
from testing.cli import CliResult, run_cli
from tests.integration.test_lifecycle import ACE, CH, first_not, pick, radio_5g, read, twin, who

S = ProposalState


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    yield
    failpoints.disarm()


def _approved(rt: Any, d: Any) -> tuple[Any, int, Any]:
    r = radio_5g(rt, d)
    target = first_not(rt, d, r, 36, 40, 44)
    changes = [Change(path=ACE.format(r=r), value=False), Change(path=CH.format(r=r), value=target)]
    draft = ProposalDraft(intent="disk full", targets=[d.id], changes=changes)
    p = rt.lifecycle.submit(draft, who(rt, "alice"))
    if p.state is S.AWAITING_APPROVAL:
        p = rt.lifecycle.approve(p.id, who(rt, "bob"))
    assert p.state is S.APPROVED, p.error
    return p, target, read(rt, d, CH.format(r=r))


def _locks(rt: Any) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(DeviceLockRow)) or 0)


def _writes(rt: Any, d: Any) -> int:
    return len(twin(rt).events(d.id, kinds=["set"]))


def _gw(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str] | CliResult:
    """``gateward *args``: with failpoints armed in a child process of its own (the disk fills up
    there and stays full for the rest of that process, which then dies with its locks); without,
    in this process (``testing/cli.py``)."""
    if not env:
        return run_cli(*args, env={"GATEWARD_DATABASE_URL": url}, columns=400)
    return subprocess.run([sys.executable, "-m", "gateward.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GATEWARD_DATABASE_URL": url, "COLUMNS": "400", **env})


@pytest.mark.parametrize("where", ["lifecycle.after_backup", "store.write"])
def test_gateward_apply_on_a_full_disk_prints_one_line_and_the_next_start_recovers(runtime: Any, db_url: str,
                                                                                   where: str) -> None:
    d = pick(runtime)
    p, target, before = _approved(runtime, d)
    writes = _writes(runtime, d)
    child = _gw(db_url, "apply", p.id, "--as", "alice", GATEWARD_FAILPOINTS=f"{where}=disk_full")
    assert child.returncode == 2, (child.stdout, child.stderr)
    assert "Traceback" not in child.stderr and len(child.stderr.strip().splitlines()) == 1, child.stderr
    assert "disk is full" in child.stderr and "gateward recover" in child.stderr, child.stderr
    assert _writes(runtime, d) == writes  # nothing reached the device
    if where == "store.write":  # full before the gates' transaction: it rolled back, no lock behind
        assert runtime.lifecycle.get(p.id).state is S.APPROVED and _locks(runtime) == 0
    else:  # full after the backup: the dead process's lock and an ``applying`` nothing wrote
        assert "no device was written" in child.stderr and "apply again" in child.stderr, child.stderr
        assert runtime.lifecycle.get(p.id).state is S.APPLYING and _locks(runtime) == 1
        rec = _gw(db_url, "recover")  # what `gateward run` does at its start
        assert rec.returncode == 0 and p.id in rec.stdout and "approved" in rec.stdout, rec.stdout + rec.stderr
        assert runtime.lifecycle.get(p.id).state is S.APPROVED and _locks(runtime) == 0
    done = _gw(db_url, "apply", p.id, "--as", "alice")
    assert done.returncode == 0, done.stdout + done.stderr
    assert runtime.lifecycle.get(p.id).state is S.DONE
    assert read(runtime, d, CH.format(r=radio_5g(runtime, d))) == target != before


def test_a_full_disk_while_backing_up_leaves_it_approved_and_recover_releases_the_lock(runtime: Any,
                                                                                      db_url: str) -> None:
    """Full while backing up: the gates' locks committed, the backup did not, the release could
    not. The proposal is still approved; applying it again names the command that frees the lock."""
    d = pick(runtime)
    p, _, _ = _approved(runtime, d)
    child = _gw(db_url, "apply", p.id, "--as", "alice", GATEWARD_FAILPOINTS="lifecycle.before_backup=disk_full")
    assert child.returncode == 2 and "disk is full" in child.stderr, child.stderr
    assert "still approved" in child.stderr, child.stderr
    assert runtime.lifecycle.get(p.id).state is S.APPROVED and _locks(runtime) == 1
    again = _gw(db_url, "apply", p.id, "--as", "alice")
    assert again.returncode == 2 and "gateward recover" in again.stderr, again.stderr
    assert "Traceback" not in again.stderr
    rec = _gw(db_url, "recover")
    assert rec.returncode == 0 and p.id in rec.stdout, rec.stdout + rec.stderr
    assert _locks(runtime) == 0
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error


def test_the_api_answers_503_and_the_live_server_settles_its_own_locks(runtime: Any) -> None:
    from tests.api.conftest import make_api

    d = pick(runtime)
    p, target, _ = _approved(runtime, d)
    api = make_api(runtime, "any")
    try:
        failpoints.arm("lifecycle.after_backup", failpoints.DISK_FULL)
        r = api.post(f"/api/proposals/{p.id}/apply", user="alice")
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["error"] == "storage_full" and "disk is full" in body["detail"], body
        assert "gateward recover" in body["detail"], body
        failpoints.disarm()  # an operator freed space
        # the server process lives: its lock is not a dead holder's, so only it can release it
        assert _locks(runtime) == 1 and runtime.lifecycle.get(p.id).state is S.APPLYING
        r = api.post(f"/api/proposals/{p.id}/apply", user="alice")
        assert r.status_code == 200, r.text
        assert r.json()["proposal"]["state"] == "done"
    finally:
        api.client.close()
    assert _locks(runtime) == 0
    assert read(runtime, d, CH.format(r=radio_5g(runtime, d))) == target


def test_a_storage_full_error_names_where_the_database_is(runtime: Any) -> None:
    d = pick(runtime)
    p, _, _ = _approved(runtime, d)
    failpoints.arm("store.write", failpoints.DISK_FULL)
    with pytest.raises(StorageFull) as err:
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    failpoints.disarm()
    # the free space it names moves with every other test's files: compare up to it
    assert runtime.lifecycle.store_location().split(" (")[0] in err.value.message
    assert "still approved" in err.value.message and _locks(runtime) == 0
