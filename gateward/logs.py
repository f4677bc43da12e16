"""How ``gateward run`` logs: one JSON object a line (for a log pipeline) or plain text (for a person).

``GATEWARD_LOG_FORMAT=json|text`` chooses; unset, ``gateward run`` logs JSON and ``gateward run
--demo`` text (a demo is read by a person at a terminal, production by Loki, Elasticsearch or
CloudWatch). ``GATEWARD_LOG_LEVEL`` (``INFO``) sets the level of the root logger. The standard
library's ``logging`` does the work; this module adds a JSON formatter over ``orjson`` and the
redaction every line passes through, and hands uvicorn the configuration as a ``dictConfig``
(``log_config``), so that each ``--workers`` process configures itself the same way.

A JSON line: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``msg``, then the record's structured
``fields`` (``gateward.request``: request_id, method, path, route, status, actor, duration_ms;
``gateward.action``: action, actor, proposal, device, outcome, duration_ms, request_id), then
``exc`` for a traceback.

Redaction (:func:`redact`), on the message and on every string field: the value of every secret
setting this process holds (``core.kernel.secret_env.SECRET_SETTINGS``), a URL's password
(``scheme://user:***@host``), the credential after ``Bearer``/``Basic``, and passphrases in free
text (``core.redact.scrub_text``). A traceback (:func:`redact_traceback`) keeps its code readable:
frame and source lines get the credentials rule only, what the exceptions say the whole redactor.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from core.kernel.jsontypes import JsonObject
from core.kernel.secret_env import SECRET_SETTINGS
from core.redact import scrub_text
from gateward.pool_noise import POOL_LOGGERS

FORMATS = ("json", "text")
MASK = "********"
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>[^@/\s]+)(?=@)")
_AUTH = re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)(?P<cred>[A-Za-z0-9._~+/=\-]{4,})", re.IGNORECASE)
_MIN_SECRET = 4  # shorter values (a port, "1") would mask ordinary text and protect nothing


_NAMES = (*SECRET_SETTINGS, "GATEWARD_AUDIT_KEY")
_values_cache: dict[tuple[Any, ...], list[str]] = {}


def _env_reader(names: tuple[str, ...]) -> Callable[[], tuple[Any, ...]]:
    """The raw values of ``names`` in ``os.environ`` now, without encoding each name on each call
    (as ``core.audit_anchor`` reads its settings: every log line asks; a change is still seen)."""
    data = getattr(os.environ, "_data", None)
    encode = getattr(os.environ, "encodekey", None)
    if not isinstance(data, dict) or encode is None:
        return lambda: tuple(os.environ.get(k) for k in names)
    keys = tuple(encode(k) for k in names)
    get = data.get
    return lambda: tuple(map(get, keys))


_read_names = _env_reader(_NAMES)


def _secret_part(value: str | None) -> str | None:
    """What of a secret setting is secret: a URL's password only (``mqtt://host:1883`` names where
    the broker is, which operators need in the logs; its password never is), else the whole value."""
    if not value or "://" not in value:
        return value
    try:
        return urlsplit(value).password
    except ValueError:
        return value


def _secret_values() -> list[str]:
    """The secret settings' values in this process, longest first (a value inside another is
    masked with it); computed once per set of values."""
    key = _read_names()
    found = _values_cache.get(key)
    if found is None:
        texts = (_secret_part(os.fsdecode(v) if isinstance(v, bytes) else v) for v in key)
        found = sorted({v for v in texts if v and len(v) >= _MIN_SECRET}, key=len, reverse=True)
        _values_cache.clear()
        _values_cache[key] = found
    return found


def _credentials(text: str) -> str:
    """Secret settings' values, URL passwords and Bearer/Basic credentials masked."""
    for value in _secret_values():
        if value in text:
            text = text.replace(value, MASK)
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _AUTH.sub(lambda m: m.group("head") + MASK, text)
    return text


def redact(text: str) -> str:
    """``text`` with secrets replaced by ``********`` (see the module docstring). A log line is not
    chat: the chat redactor's rule for keyword-less credential-shaped tokens took a client id beside
    "disconnected" for a passphrase, so only what a keyword names is masked here (``shapes=False``)."""
    return scrub_text(_credentials(text), shapes=False) if text else text


_FRAME = re.compile(r'^\s*File "[^"]*", line \d+(?:, in .*)?$')
_CARETS = re.compile(r"^\s*[~^]+\s*$")
_CHAIN = ("Traceback (most recent call last):", "The above exception was the direct cause of the following exception:",
          "During handling of the above exception, another exception occurred:")


def redact_traceback(text: str) -> str:
    """A formatted traceback with its secrets masked and its code left readable: frame lines (file,
    line, function) and the source lines under them get the credentials rule only (a secret setting's
    value, a URL's password, a Bearer credential) — the passphrase finder read code as chat and masked
    it (``File "[secret]ase.py"``, ``return [secret](self)``); what the exceptions say (their type and
    message lines, SQLAlchemy's statement and parameters) is free text and is redacted whole."""
    out: list[str] = []
    code = False  # the line after a frame line is its source line (indented below it)
    for line in text.split("\n"):
        stripped = line.strip()
        if _FRAME.match(line):
            out.append(_credentials(line))
            code = True
        elif (code and line.startswith("    ")) or _CARETS.match(line):
            out.append(_credentials(line))
        elif stripped in _CHAIN or not stripped:
            out.append(line)
            code = False
        else:
            out.append(redact(line))
            code = False
    return "\n".join(out)


def _clean(value: Any) -> Any:
    """A structured field (ids, paths, names): credentials masked; free-text passphrase detection
    is kept for the message and tracebacks, where free text is."""
    return _credentials(value) if isinstance(value, str) and value else value


class JsonFormatter(logging.Formatter):
    """One JSON object per record (``orjson``); every string redacted."""

    def format(self, record: logging.LogRecord) -> str:
        out: JsonObject = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for k, v in fields.items():
                if k not in out:
                    out[str(k)] = _clean(v)
        if record.exc_info:
            out["exc"] = redact_traceback(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = redact_traceback(self.formatStack(record.stack_info))
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """``2026-11-26 01:02:03,456 INFO gateward.action: apply p-… by alice: done (12.3 ms)``, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        kept = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            line = redact(super().format(record))  # the message: free text
        finally:
            record.exc_info, record.exc_text, record.stack_info = kept
        if record.exc_info:
            line += "\n" + redact_traceback(self.formatException(record.exc_info))
        if record.stack_info:
            line += "\n" + redact_traceback(self.formatStack(record.stack_info))
        return line


def log_format(default: str) -> str:
    """``GATEWARD_LOG_FORMAT``, else ``default``; a clear error for anything else."""
    raw = os.environ.get("GATEWARD_LOG_FORMAT", "").strip().lower() or default
    if raw not in FORMATS:
        raise ValueError(f"GATEWARD_LOG_FORMAT={raw!r}: use json or text")
    return raw


def log_level() -> str:
    raw = os.environ.get("GATEWARD_LOG_LEVEL", "").strip().upper() or "INFO"
    if raw not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"GATEWARD_LOG_LEVEL={raw!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return raw


def log_config(default_format: str = "json") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a serving process (uvicorn's ``log_config``): one
    stderr handler on the root logger; uvicorn's loggers propagate to it (its access log is off:
    ``api.request_log`` writes a richer line per request)."""
    fmt = log_format(default_format)
    formatter = {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"()": f"{__name__}.TextFormatter"}
    quiet = {"level": "WARNING", "handlers": [], "propagate": True}
    pools = {name: {"filters": ["lost_connection"], "propagate": True} for name in POOL_LOGGERS}
    level = log_level()
    # A first start migrates an empty database: Alembic's line per migration (40-odd) came before
    # the banner; said only when debugging.
    migrations: dict[str, Any] = {"level": "DEBUG" if level == "DEBUG" else "WARNING", "handlers": [],
                                  "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gateward": formatter},
        "filters": {"lost_connection": {"()": "gateward.pool_noise.LostConnectionNoise"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "gateward",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {"uvicorn": quiet, "uvicorn.error": quiet, "uvicorn.access": quiet,
                    "httpx": quiet, "httpcore": quiet, "alembic": migrations, **pools},
    }


def configure(default_format: str = "json") -> str:
    """Configure this process's logging now (for a process uvicorn does not start); returns the format."""
    import logging.config

    cfg = log_config(default_format)
    logging.config.dictConfig(cfg)
    return "json" if "JsonFormatter" in cfg["formatters"]["gateward"]["()"] else "text"


__all__ = ["JsonFormatter", "TextFormatter", "configure", "log_config", "log_format", "redact", "redact_traceback"]
