"""Every setting that names a path answers a wrong one in one sentence, before anything uses it
(issue 45: ``GATEWARD_HOME`` pointing at a file ended every command in a ``FileExistsError``
traceback; a missing OPA or ACS CA file in one from ``gateward run``; a missing MQTT CA file in
tracebacks repeated in the log of a server that had started anyway)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.kernel.config import Settings
from core.kernel.errors import Invalid
from core.path_settings import CERTIFICATE_FILES, KEY_FILES, READ_FILES, WRITTEN_FILES, path_problem

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spots(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    a_dir = tmp_path / "a-dir"
    a_dir.mkdir()
    return {"file": a_file, "dir": a_dir, "missing": tmp_path / "missing" / "x", "under_file": a_file / "x"}


def test_a_home_that_cannot_be_a_directory_is_one_sentence(spots: dict[str, Path]) -> None:
    said = path_problem({"GATEWARD_HOME": str(spots["file"])})
    assert said is not None and said.startswith(f"GATEWARD_HOME={spots['file']} is a file, not a directory")
    said = path_problem({"GATEWARD_HOME": str(spots["under_file"])})
    assert said is not None and f"{spots['file']} is a file" in said
    assert path_problem({"GATEWARD_HOME": str(spots["dir"])}) is None
    assert path_problem({"GATEWARD_HOME": str(spots["missing"])}) is None  # created when first needed
    with pytest.raises(Invalid, match=r"GATEWARD_HOME=.* is a file, not a directory"):
        Settings(home=spots["file"]).resolved_database_url()


@pytest.mark.parametrize("name", sorted(READ_FILES))
def test_each_file_gateward_reads_must_be_a_readable_file(spots: dict[str, Path], name: str) -> None:
    if name in CERTIFICATE_FILES | KEY_FILES:  # their content is looked at too (tests/test_tls_setting_files.py)
        kind = "PRIVATE KEY" if name in KEY_FILES else "CERTIFICATE"
        spots["file"].write_text(f"-----BEGIN {kind}-----\nMAA=\n-----END {kind}-----\n")
    assert path_problem({name: str(spots["file"])}) is None
    missing = path_problem({name: str(spots["missing"])})
    assert missing is not None and missing.startswith(f"{name}={spots['missing']}: no such file")
    assert READ_FILES[name] in missing
    directory = path_problem({name: str(spots["dir"])})
    assert directory == f"{name}={spots['dir']} is a directory, not a file ({READ_FILES[name]})"


@pytest.mark.parametrize("name", sorted(WRITTEN_FILES))
def test_each_file_gateward_writes_must_have_room_to_be_made(spots: dict[str, Path], name: str) -> None:
    assert path_problem({name: str(spots["missing"])}) is None  # made, with its directory, on first use
    assert path_problem({name: str(spots["file"])}) is None
    assert path_problem({name: str(spots["dir"])}) == (
        f"{name}={spots['dir']} is a directory, not a file ({WRITTEN_FILES[name]})")
    said = path_problem({name: str(spots["under_file"])})
    assert said is not None and f"{spots['file']} is a file, not a directory" in said


def test_a_sqlite_file_that_cannot_be_opened_says_why(spots: dict[str, Path]) -> None:
    def said(path: Path) -> str | None:
        return path_problem({"GATEWARD_DATABASE_URL": f"sqlite:///{path}"})

    assert said(spots["dir"]) == f"GATEWARD_DATABASE_URL names {spots['dir']}, which is a directory, not a SQLite file"
    assert "does not exist: create it" in (said(spots["missing"]) or "")
    assert f"{spots['file']} is a file, not a directory" in (said(spots["under_file"]) or "")
    assert said(spots["dir"] / "new.db") is None
    assert path_problem({"GATEWARD_DATABASE_URL": "postgresql+psycopg://u@h/db"}) is None
    assert path_problem({"GATEWARD_DATABASE_URL": "sqlite:///:memory:"}) is None


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "spot", "says"), [
    ("GATEWARD_HOME", "file", "is a file, not a directory"),
    ("GATEWARD_DATABASE_URL", "missing", "does not exist: create it"),
    ("GATEWARD_MQTT_CA_FILE", "missing", "no such file"),
    ("GATEWARD_OPA_CA_FILE", "dir", "is a directory, not a file"),
    ("GATEWARD_AUDIT_KEY_FILE", "under_file", "is a file, not a directory"),
])
@pytest.mark.parametrize("command", [["status"], ["users", "list"], ["run", "--no-worker", "--port", "1"]])
def test_every_command_says_it_in_one_line(spots: dict[str, Path], tmp_path: Path, setting: str, spot: str,
                                           says: str, command: list[str]) -> None:
    home = tmp_path / "home"
    value = f"sqlite:///{spots[spot]}" if setting == "GATEWARD_DATABASE_URL" else str(spots[spot])
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GATEWARD_")},
           "GATEWARD_HOME": str(home), setting: value}
    out = subprocess.run([sys.executable, "-m", "gateward.cli", *command], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {setting}") and says in lines[0], out.stderr
    assert "Traceback" not in out.stderr + out.stdout
