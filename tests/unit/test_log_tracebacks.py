"""Tracebacks in the logs stay readable and still lose their secrets (issue 56, item 5).

Every log line passes the redactor, and a traceback went through the chat's passphrase finder whole:
its credential-shaped-token rule took code for passwords — ``File "[secret]ase.py", line 460, in
connect`` / ``return [secret](self)`` — so an outage's log was partly unreadable. A traceback's frames
(file, line, function) and source lines are code: the credentials rule applies to them (a secret
setting's value, a URL's password, a Bearer credential), the passphrase finder does not. What an
exception *says* is free text and keeps the whole redactor.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

import orjson
import pytest

from gateward.logs import JsonFormatter, TextFormatter

FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$')
PASSPHRASE = "Harbour-Lantern-7731"


def _lost_database() -> BaseException:
    """A real SQLAlchemy + psycopg traceback: a connection refused (port 1), the URL with a password."""
    import sqlalchemy as sa

    engine = sa.create_engine("postgresql+psycopg://gw:pg-secret-991@127.0.0.1:1/gw",
                              connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            pass
    except Exception as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("port 1 answered")


def _user_text() -> BaseException:
    try:
        raise ValueError(f"cannot set the Wi-Fi password to {PASSPHRASE} on this device")
    except ValueError as exc:
        return exc


def _record(exc: BaseException) -> logging.LogRecord:
    return logging.LogRecord("gateward.lifecycle", logging.ERROR, __file__, 1, "settling %s failed", ("p-1",),
                             (type(exc), exc, exc.__traceback__))


def _frames(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if FRAME.match(ln)]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_database_outage_traceback_keeps_every_frame_and_loses_the_password(fmt: str) -> None:
    exc = _lost_database()
    raw = "".join(traceback.format_exception(exc))
    assert len(_frames(raw)) > 10
    rec = _record(exc)
    out = orjson.loads(JsonFormatter().format(rec))["exc"] if fmt == "json" else TextFormatter().format(rec)
    assert "[secret" not in out, [ln for ln in out.splitlines() if "[secret" in ln][:5]
    assert _frames(out) == _frames(raw)  # every file, line and function as it was
    assert "pg-secret-991" not in out
    assert "Connection refused" in out or "connection" in out.lower()


def test_source_lines_are_code_not_chat() -> None:
    from gateward.logs import redact_traceback

    exc = _lost_database()
    raw = "".join(traceback.format_exception(exc))
    code = [ln for ln in raw.splitlines() if ln.startswith("    ") and not ln.startswith("     ")]
    out = redact_traceback(raw)
    assert code and all(ln in out.splitlines() for ln in code if "pg-secret-991" not in ln)


def test_what_an_exception_says_is_still_scrubbed() -> None:
    from gateward.logs import redact_traceback

    exc = _user_text()
    out = redact_traceback("".join(traceback.format_exception(exc)))
    assert PASSPHRASE not in out and "[secret]" in out
    assert _frames(out) == _frames("".join(traceback.format_exception(exc)))


def test_a_bearer_token_in_a_frame_or_a_message_is_masked(monkeypatch: Any) -> None:
    from gateward.logs import redact_traceback

    monkeypatch.setenv("GATEWARD_OPA_TOKEN", "opa-token-value-77")
    text = ('Traceback (most recent call last):\n'
            '  File "/srv/opa-token-value-77/client.py", line 3, in call\n'
            '    headers = {"Authorization": "Bearer abcdefghijklmnop"}\n'
            'RuntimeError: refused with Bearer qrstuvwxyz123456 and opa-token-value-77\n')
    out = redact_traceback(text)
    for secret in ("opa-token-value-77", "abcdefghijklmnop", "qrstuvwxyz123456"):
        assert secret not in out
    assert 'line 3, in call' in out


@pytest.mark.parametrize("line", [
    "mqtt gw-ctl-9f2a1c: disconnected from mqtt://127.0.0.1:60283 (Unspecified error)",
    "USP agent os::00D0F1-VT00000009 connected over the broker; session id Kx9-Q2z7",
    "login of p-6c07a993f588's author alice refused: token expired",
])
def test_identifiers_in_a_log_message_are_not_taken_for_secrets(line: str) -> None:
    """A log line naming a client id, an endpoint or a session near the word "connect" or "login" lost
    those ids to the chat's credential-shaped-token rule (``mqtt [secret]: disconnected …`` in the
    soak's worker log); in a log line only a keyword's value, a URL password, a Bearer credential and a
    secret setting's value are secrets."""
    from gateward.logs import redact

    assert redact(line) == line


def test_a_passphrase_said_in_a_log_message_is_still_masked() -> None:
    from gateward.logs import redact

    out = redact(f"chat turn: the customer says the wifi password is {PASSPHRASE}")
    assert PASSPHRASE not in out and "[secret]" in out
