"""Secret settings' ``*_FILE`` forms (issue 36): read, stripped, refused when ambiguous, never shown.

Through the function for each rule, and through ``gateward status`` as an operator meets it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.kernel.secret_env import (
    RESOLVED_MARK,
    SECRET_SETTINGS,
    SecretFileError,
    resolve_secret_files,
    secret_report,
)
from testing.cli import CliResult, run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_file_form_is_read_and_stripped(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text("  s3cr3t-opa-token\n")
    env = {"GATEWARD_OPA_TOKEN_FILE": str(f)}
    assert resolve_secret_files(env) == ["GATEWARD_OPA_TOKEN"]
    assert env["GATEWARD_OPA_TOKEN"] == "s3cr3t-opa-token"
    assert env[RESOLVED_MARK] == "GATEWARD_OPA_TOKEN"
    # a child process inherits both forms and the mark: accepted, not "both set"
    assert resolve_secret_files(dict(env)) == ["GATEWARD_OPA_TOKEN"]


def test_every_secret_setting_has_a_file_form(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    for i, name in enumerate(SECRET_SETTINGS):
        (tmp_path / name).write_text(f"value-{i}\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
    resolve_secret_files(env)
    assert [env[n] for n in SECRET_SETTINGS] == [f"value-{i}" for i in range(len(SECRET_SETTINGS))]


def test_both_forms_set_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("from-file")
    env = {"GATEWARD_GENIEACS_PASSWORD": "from-env", "GATEWARD_GENIEACS_PASSWORD_FILE": str(f)}
    with pytest.raises(SecretFileError, match="both GATEWARD_GENIEACS_PASSWORD and GATEWARD_GENIEACS_PASSWORD_FILE"):
        resolve_secret_files(env)
    assert env["GATEWARD_GENIEACS_PASSWORD"] == "from-env"


@pytest.mark.parametrize("content, why", [(None, "cannot read it"), ("", "empty"), ("   \n", "empty"),
                                          (b"\xff\xfe", "not UTF-8")])
def test_unusable_file_is_a_clear_error(tmp_path: Path, content: str | bytes | None, why: str) -> None:
    f = tmp_path / "secret"
    if isinstance(content, bytes):
        f.write_bytes(content)
    elif content is not None:
        f.write_text(content)
    with pytest.raises(SecretFileError, match=why) as err:
        resolve_secret_files({"GATEWARD_DATABASE_URL_FILE": str(f)})
    assert str(f) in str(err.value) and "GATEWARD_DATABASE_URL_FILE" in str(err.value)


def test_report_says_where_never_what(tmp_path: Path) -> None:
    f = tmp_path / "key"
    f.write_text("sk-file-value")
    env = {"OPENAI_API_KEY_FILE": str(f), "GATEWARD_MQTT_URL": "mqtt://u:pw-in-env@broker:1883"}
    resolve_secret_files(env)
    report = dict(secret_report(env))
    assert report["OPENAI_API_KEY"] == "set (file)"
    assert report["GATEWARD_MQTT_URL"] == "set (env)"
    assert report["GATEWARD_OPA_TOKEN"] == "not set"
    assert "sk-file-value" not in repr(report) and "pw-in-env" not in repr(report)


def _gateward(tmp_path: Path, **extra: str) -> CliResult:
    """``gateward status`` in process (``testing/cli.py``), with no ``GATEWARD_*`` of the test's own."""
    unset = (*(k for k in os.environ if k.startswith("GATEWARD_")), "OPENAI_API_KEY")
    return run_cli("status", env={"GATEWARD_HOME": str(tmp_path / "home"), **extra}, unset=unset, cwd=ROOT)


def test_status_lists_secrets_without_values(tmp_path: Path) -> None:
    db = tmp_path / "db-url"
    db.write_text(f"sqlite:///{tmp_path / 'from-file.db'}\n")
    token = tmp_path / "token"
    token.write_text("opa-token-7f3a9c")
    out = _gateward(tmp_path, GATEWARD_DATABASE_URL_FILE=str(db), GATEWARD_OPA_TOKEN_FILE=str(token),
                    GATEWARD_GENIEACS_AUTH_HEADER="Bearer hdr-value-1c2d")
    assert out.returncode == 0, out.stderr
    assert "from-file.db" in out.stdout  # the database URL came from the file
    lines = {line.split()[0]: " ".join(line.split()[1:]) for line in out.stdout.splitlines() if line.startswith("  ")}
    assert lines["GATEWARD_DATABASE_URL"] == "set (file)"
    assert lines["GATEWARD_OPA_TOKEN"] == "set (file)"
    assert lines["GATEWARD_GENIEACS_AUTH_HEADER"] == "set (env)"
    assert lines["GATEWARD_MQTT_URL"] == "not set"
    assert "opa-token-7f3a9c" not in out.stdout + out.stderr and "hdr-value-1c2d" not in out.stdout + out.stderr


def test_status_refuses_both_forms_in_one_line(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("opa-token-7f3a9c")
    out = _gateward(tmp_path, GATEWARD_OPA_TOKEN_FILE=str(token), GATEWARD_OPA_TOKEN="other")
    assert out.returncode == 2
    assert out.stderr.strip() == ("error: both GATEWARD_OPA_TOKEN and GATEWARD_OPA_TOKEN_FILE are set; "
                                  "set only one of them")
    missing = _gateward(tmp_path, GATEWARD_OPA_TOKEN_FILE=str(tmp_path / "nope"))
    assert missing.returncode == 2 and "cannot read it" in missing.stderr and "Traceback" not in missing.stderr


def test_file_only_secrets_are_listed_not_exported(tmp_path: Path) -> None:
    f = tmp_path / "client-secret"
    f.write_text("oidc-secret-77d1")
    env = {"GATEWARD_OIDC_CLIENT_SECRET_FILE": str(f)}
    assert resolve_secret_files(env) == []
    assert "GATEWARD_OIDC_CLIENT_SECRET" not in env  # its reader takes the file itself (api/auth/settings.py)
    assert dict(secret_report(env))["GATEWARD_OIDC_CLIENT_SECRET"] == "set (file)"
