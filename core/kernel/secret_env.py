"""Secret settings and their ``*_FILE`` forms: one place that knows which settings are secrets.

Why: a secret in an environment variable ends up in a container spec, ``docker inspect`` and a
shell's history; orchestrators hand secrets out as files instead (Docker and Kubernetes
secrets). So every secret setting ``NAME`` may be given as ``NAME_FILE``, a path whose content
(stripped of surrounding whitespace) is the value. :func:`resolve_secret_files` runs once at the
start of a process (``gateward`` CLI, ``core.kernel.config.get_settings``): it reads each file and puts
the value under ``NAME`` in this process's environment, so that every reader — pydantic
settings, the CLI's lean DB-API path, the OpenAI client — sees it without knowing about files
(as the official PostgreSQL image's ``file_env`` does). Setting both ``NAME`` and ``NAME_FILE``
is refused: which one wins would be a guess. The names resolved are recorded in
``GATEWARD_SECRETS_FROM_FILE``, so a child process (a ``--workers`` API process, a campaign
worker) that inherits both accepts them and ``gateward status`` can say where each came from.

Standard library only: the CLI imports this before every command (the read commands' time
budget). No value is ever logged or printed here; errors name the variable and path.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Literal

#: every setting that holds a secret (a password, a token, a URL that may carry a password).
#: A new secret setting is added here, and so gets its ``_FILE`` form and a line in ``gateward status``.
SECRET_SETTINGS: tuple[str, ...] = (
    "GATEWARD_DATABASE_URL",
    "GATEWARD_SIM_DATABASE_URL",
    "GATEWARD_MQTT_URL",
    "GATEWARD_MQTT_PASSWORD",
    "GATEWARD_GENIEACS_AUTH_HEADER",
    "GATEWARD_GENIEACS_PASSWORD",
    "GATEWARD_OPA_TOKEN",
    "OPENAI_API_KEY",
    "GATEWARD_TOKEN",  # a CLI's API token for --server (gateward chat)
)
#: secrets that exist only as a file (their reader takes ``NAME_FILE`` itself and there is no
#: ``NAME``): listed by :func:`secret_report`, never put in the environment
FILE_ONLY_SECRETS: tuple[str, ...] = ("GATEWARD_OIDC_CLIENT_SECRET",)
#: the names this process (or its parent) took from their ``_FILE`` form, comma-separated
RESOLVED_MARK = "GATEWARD_SECRETS_FROM_FILE"
MAX_SECRET_BYTES = 64 * 1024  # a secret file larger than this is a wrong path, not a secret

Source = Literal["file", "env", "unset"]


class SecretFileError(ValueError):
    """A ``*_FILE`` setting that cannot be used: both forms set, or the file unreadable or empty.
    The message names the variables and the path, never a value."""


def _marked(environ: MutableMapping[str, str]) -> set[str]:
    return {n for n in environ.get(RESOLVED_MARK, "").split(",") if n}


def read_secret_file(name: str, path: str) -> str:
    """The content of ``path`` (``name``'s ``_FILE`` form), stripped; a clear error otherwise."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise SecretFileError(f"{name}_FILE={path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise SecretFileError(f"{name}_FILE={path}: larger than {MAX_SECRET_BYTES // 1024} KiB; is it the right file?")
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretFileError(f"{name}_FILE={path}: not UTF-8 text") from None
    if not value:
        raise SecretFileError(f"{name}_FILE={path}: the file is empty")
    return value


def resolve_secret_files(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Put each ``NAME_FILE``'s content under ``NAME`` in ``environ`` (default ``os.environ``).

    Returns the names taken from files. Raises :class:`SecretFileError` for the first problem:
    ``NAME`` and ``NAME_FILE`` both set (unless an earlier resolution in this process or its parent
    set ``NAME`` itself), an unreadable, oversized or empty file. Idempotent."""
    env = os.environ if environ is None else environ
    done = _marked(env)
    taken: list[str] = []
    for name in SECRET_SETTINGS:
        path = env.get(f"{name}_FILE")
        if not path:
            continue
        if name in done:
            taken.append(name)
            continue
        if env.get(name):
            raise SecretFileError(f"both {name} and {name}_FILE are set; set only one of them")
        env[name] = read_secret_file(name, path)
        taken.append(name)
        done.add(name)
    if taken:
        env[RESOLVED_MARK] = ",".join(sorted(done))
    return taken


def secret_source(name: str, environ: MutableMapping[str, str] | None = None) -> Source:
    """Where ``name``'s value comes from: ``file`` (its ``_FILE`` form), ``env`` or ``unset``."""
    env = os.environ if environ is None else environ
    if env.get(f"{name}_FILE"):
        return "file"
    return "env" if env.get(name) else "unset"


def secret_report(environ: MutableMapping[str, str] | None = None) -> list[tuple[str, str]]:
    """``(name, "set (file)" | "set (env)" | "not set")`` for every secret setting — never a value."""
    words = {"file": "set (file)", "env": "set (env)", "unset": "not set"}
    return [(name, words[secret_source(name, environ)]) for name in (*SECRET_SETTINGS, *FILE_ONLY_SECRETS)]


__all__ = [
    "FILE_ONLY_SECRETS",
    "RESOLVED_MARK",
    "SECRET_SETTINGS",
    "SecretFileError",
    "read_secret_file",
    "resolve_secret_files",
    "secret_report",
    "secret_source",
]
