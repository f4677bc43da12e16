"""Every ``GATEWARD_*`` setting checked at once, each malformed one a line: what ``gateward status``
reports so a platform engineer sees all that is wrong with a deployment in one run.

Why here: the settings are read by the parts that use them (``core.kernel.config.Settings``, the
sign-in settings, the API's limits and timeouts, the USP and log settings, …), and each part refuses
its own malformed value with one line when it first reads it — ``gateward run`` before serving. A
command that never reads a part (``status`` reads the database on the DB-API, without building
``Settings``) never saw the value, and said nothing. The composition root knows every part, so the
list of checks is here; each check is the part's own reader, never a second copy of its rules.

A setting left unset takes its default, which is well-formed: when no ``GATEWARD_*`` variable is set
beyond the ones the lean read path resolves and checks itself (``LEAN``), nothing is imported and
``status`` keeps its read-command budget.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

# Resolved and checked by the lean path itself (read_runtime, core.path_settings): any string is a
# well-formed value for them as Settings reads them.
LEAN = frozenset({"GATEWARD_HOME", "GATEWARD_DATABASE_URL", "GATEWARD_SIM_DATABASE_URL"})


def _settings() -> list[str]:
    from core.kernel.config import setting_problems

    return setting_problems()


def _sign_in() -> None:
    from api.auth.settings import AuthSettings

    AuthSettings.from_env()


def _token_cache() -> None:
    from core.users import cache_ttl_from_env

    cache_ttl_from_env()


def _api_limits() -> None:
    from api.limits import ReadTimeouts, ShedLimits

    ReadTimeouts.from_env()
    ShedLimits.from_env()


def _fleet_windows() -> None:
    from api.fleet_metrics import online_window_s
    from api.fleet_overview import presence_ttl_s

    online_window_s()
    presence_ttl_s()


def _shutdown() -> None:
    from gateward.shutdown import shutdown_s

    shutdown_s()


def _logs() -> None:
    from gateward.logs import log_format, log_level

    log_format("json")
    log_level()


def _usp() -> None:
    from executors.usp import controller_options, usp_options

    usp_options()
    controller_options()


def _mqtt_url() -> None:
    from executors.usp.mqtt import BrokerAddress
    from gateward.read_runtime import env_setting

    url = env_setting("mqtt_url")  # as Settings reads it; any string is a valid Settings value
    if url:
        try:
            BrokerAddress.parse(url)
        except ValueError as exc:
            raise ValueError(f"GATEWARD_MQTT_URL: {exc}") from None


def _genieacs() -> list[str]:
    from core.kernel.config import setting_problems
    from executors.genieacs.settings import GenieAcsSettings

    return setting_problems(GenieAcsSettings)


#: one check per part that reads settings of its own, with the variables (or prefixes) it reads: it
#: runs when one of them is set (unset, each takes its default, which is well-formed — and the part's
#: import is not paid for). Each raises naming the variable, or returns the list of its problems (a
#: settings class, which knows all of its fields' at once). :class:`core.kernel.config.Settings` has
#: fields of many names, so it runs whenever any ``GATEWARD_*`` variable beyond :data:`LEAN` is set.
CHECKS: tuple[tuple[tuple[str, ...], Callable[[], list[str] | None]], ...] = (
    (("GATEWARD_",), _settings),
    (("GATEWARD_OIDC_", "GATEWARD_PUBLIC_URL", "GATEWARD_SESSION_", "GATEWARD_PASSWORD_LOCKOUT_",
      "GATEWARD_LOCAL_ACCOUNTS"), _sign_in),
    (("GATEWARD_TOKEN_CACHE_S",), _token_cache),
    (("GATEWARD_API_",), _api_limits),
    (("GATEWARD_METRICS_ONLINE_S", "GATEWARD_FLEET_PRESENCE_S"), _fleet_windows),
    (("GATEWARD_SHUTDOWN_S",), _shutdown),
    (("GATEWARD_LOG_",), _logs),
    (("GATEWARD_USP_",), _usp),
    (("GATEWARD_MQTT_URL",), _mqtt_url),
    (("GATEWARD_GENIEACS_",), _genieacs),
)


def _set(env: Mapping[str, str]) -> set[str]:
    """The ``GATEWARD_*`` variables set (non-empty) beyond :data:`LEAN`, upper-cased as pydantic reads them."""
    return {k.upper() for k, v in env.items() if v and k.upper().startswith("GATEWARD_") and k.upper() not in LEAN}


def needs_checking(env: Mapping[str, str] | None = None) -> bool:
    """Is any ``GATEWARD_*`` variable set beyond those the lean path checks itself?"""
    return bool(_set(os.environ if env is None else env))


def setting_problems() -> list[str]:
    """Each malformed setting of this process's environment, one line each: the path settings
    first, then in the order of :data:`CHECKS`. Runs every check due, whatever the others found."""
    from core.kernel.errors import GatewardError
    from core.path_settings import path_problems

    out = list(path_problems(os.environ))
    given = _set(os.environ)
    for reads, check in CHECKS:
        if not any(name.startswith(reads) for name in given):
            continue
        try:
            found = check()
        except GatewardError as exc:
            found = [exc.message]
        except ValueError as exc:
            found = [str(exc)]
        for line in found or ():
            if line not in out:  # a variable two parts read is said once
                out.append(line)
    return out
