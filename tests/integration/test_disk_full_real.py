"""Issue 45, item 5: an apply on a disk that really fills up names the disk, the half-applied change
and the command that finishes it.

The database (SQLite) lives on a tmpfs of a few MiB mounted for the test; the devices' twin lives
elsewhere, as real devices do. The apply is held after its first device write, the disk is filled
to the last byte, and the apply goes on: SQLite itself answers "database or disk is full" — or,
when a journal or its shared-memory index cannot grow, "disk I/O error" (here raised at a failpoint
while the disk is really full), which the CLI used to print as "cannot open the database … disk I/O
error", naming neither the full disk nor the devices written. Mounting needs root (CI runs as root);
elsewhere the tests skip.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.kernel.models import ProposalState
from tests.conftest import seeded_db_url
from tests.integration.test_apply_fanout import SSID1, _approved
from tests.integration.test_staged import _cwmp_tr181

S = ProposalState
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def fleet(tmp_path: Path, tiny_disk: Path) -> Iterator[dict[str, Any]]:
    """A seeded database on the tiny disk, the twin of its devices on the ordinary one."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    url, _ = seeded_db_url("sqlite", tmp_path)
    src, dst = sqlite3.connect(url.removeprefix("sqlite:///")), sqlite3.connect(tiny_disk / "gateward.db")
    src.backup(dst)  # with what its WAL holds
    src.close()
    dst.close()
    db, twin = f"sqlite:///{tiny_disk / 'gateward.db'}", url
    rt = build_runtime(Settings(database_url=db, sim_database_url=twin))
    yield {"rt": rt, "db": db, "twin": twin, "file": tiny_disk / "gateward.db", "disk": tiny_disk}
    rt.close()


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def _gw(f: dict[str, Any], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateward.cli", *args], capture_output=True, text=True, timeout=180,
                          cwd=ROOT, env={**os.environ, "GATEWARD_DATABASE_URL": f["db"],
                                         "GATEWARD_SIM_DATABASE_URL": f["twin"], "COLUMNS": "400", **env})


def _applying(f: dict[str, Any], pid: str) -> int:
    c = sqlite3.connect(f["file"])
    try:
        return int(c.execute("SELECT count(*) FROM executions WHERE proposal_id = ? AND status = 'applying'",
                             (pid,)).fetchone()[0])
    finally:
        c.close()


def _apply_filling_the_disk(f: dict[str, Any], pid: str, tmp: Path, failpoints: str,
                            after: int) -> subprocess.CompletedProcess[str]:
    """``gateward apply`` held at ``lifecycle.after_write`` until ``after`` devices are being
    written; then the WAL is checkpointed (its next frames need new space), the disk filled, and
    the apply let go."""
    go = tmp / "go"
    out: dict[str, subprocess.CompletedProcess[str]] = {}
    t = threading.Thread(target=lambda: out.setdefault("r", _gw(
        f, "apply", pid, "--as", "alice", GATEWARD_FAILPOINTS=f"lifecycle.after_write=wait:{go}{failpoints}")))
    t.start()
    end = time.monotonic() + 120
    while _applying(f, pid) < after and time.monotonic() < end:
        time.sleep(0.1)
    c = sqlite3.connect(f["file"])
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    f["filler"] = _fill(f["disk"])
    go.touch()
    t.join(180)
    return out["r"]


def _ssids(rt: Any, devices: list[Any]) -> list[Any]:
    return [rt.router.reader(d).read(d, [SSID1])[SSID1].value for d in devices]


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def test_a_disk_that_fills_mid_apply_names_the_disk_the_devices_written_and_recover(
        fleet: dict[str, Any], tmp_path: Path) -> None:
    rt = fleet["rt"]
    devices = _cwmp_tr181(rt, 3)
    before = _ssids(rt, devices)
    p = _approved(rt, devices, "filled-up")
    line = _one_line(_apply_filling_the_disk(fleet, p.id, tmp_path, "", after=1))
    assert "disk is full" in line and f"mounted at {fleet['disk']}" in line, line
    assert "half-applied" in line and "1 of 3 device(s)" in line and devices[0].id in line, line
    assert "gateward recover" in line, line
    fleet["filler"].unlink()  # an operator frees space
    rec = _gw(fleet, "recover")
    assert rec.returncode == 0 and f"{p.id}: rolled_back" in rec.stdout, rec.stdout + rec.stderr
    assert _ssids(rt, devices) == before


def test_sqlite_s_disk_io_error_on_a_full_disk_is_called_a_full_disk(
        fleet: dict[str, Any], tmp_path: Path) -> None:
    """The disk fills up while the WAL still has room for a whole apply (an earlier apply grew it;
    a checkpoint lets the next writes reuse it), every device is written, and then recording the
    verification fails with "disk I/O error": said as a full disk with all three devices named, never
    "cannot open the database"; recover verifies them once there is space."""
    from tests.integration.test_lifecycle import who

    rt = fleet["rt"]
    devices = _cwmp_tr181(rt, 6)
    earlier = _approved(rt, devices[3:], "grows-the-wal")
    assert rt.lifecycle.apply(earlier.id, who(rt, "alice")).proposal.state is S.DONE
    p = _approved(rt, devices[:3], "io-error")
    c = sqlite3.connect(fleet["file"])
    c.execute("PRAGMA wal_checkpoint(PASSIVE)")
    c.close()
    filler = _fill(fleet["disk"])
    r = _gw(fleet, "apply", p.id, "--as", "alice", GATEWARD_FAILPOINTS="lifecycle.after_apply=disk_io_error")
    line = _one_line(r)
    assert "cannot open the database" not in line and "disk is full" in line, line
    assert "disk I/O error" in line and "3 of 3 device(s)" in line and "gateward recover" in line, line
    filler.unlink()
    rec = _gw(fleet, "recover")
    assert rec.returncode == 0 and f"{p.id}: done" in rec.stdout, rec.stdout + rec.stderr
    assert _ssids(rt, devices[:3]) == ["io-error"] * 3
