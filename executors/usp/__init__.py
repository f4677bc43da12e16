"""TR-369 USP: a controller over MQTT and the executor contract on top of it.

* :mod:`executors.usp.controller` — :class:`UspController` (asyncio, one MQTT connection): presence,
  requests matched by ``msg_id``, NotifyResp, events (Boot!, OnBoardRequest, ValueChange, ...)
* :mod:`executors.usp.executor` — :class:`UspExecutor`, the contract (read/presence/discover/apply/
  operate) over the controller, plus ``get_many``/``apply_many`` for fan-out
* :mod:`executors.usp.records` — Records and Messages; :mod:`executors.usp.errors` — USP error codes
  and their typed errors; :mod:`executors.usp.topics` — topic conventions and MQTT 3.1.1 reply-to;
  :mod:`executors.usp.mqtt` — paho-mqtt on asyncio with TCP_NODELAY;
  :mod:`executors.usp.datamodel` — command paths and Gateward's vendor parameters
* :mod:`executors.usp.proto` — the BBF ``.proto`` schemas and their generated code. Regenerate with
  ``.venv/bin/python -m executors.usp.proto.regenerate`` (grpcio-tools).

The simulated agents live in :mod:`executors.sim.usp_agent` / :mod:`executors.sim.usp_host`.
``factory(settings)`` builds the adapter from ``GATEWARD_MQTT_URL`` plus the optional
``GATEWARD_USP_*`` variables (:func:`usp_options`). See ``docs/usp.md``.
"""

from __future__ import annotations

import os
from typing import Any

from executors.usp.controller import DEFAULT_ENDPOINT_ID, UspController, UspEvent
from executors.usp.executor import UspExecutor, endpoint_for

__all__ = ["DEFAULT_ENDPOINT_ID", "UspController", "UspEvent", "UspExecutor", "endpoint_for", "factory",
           "usp_options"]


def usp_options(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The adapter's own knobs from the environment (documented in docs/usp.md):
    ``GATEWARD_USP_ENDPOINT_ID`` (default ``proto::controller-gateward``), ``GATEWARD_USP_MQTT_VERSION``
    (5 or 3), ``GATEWARD_USP_TIMEOUT_S`` (10), ``GATEWARD_USP_PROBE_TIMEOUT_S`` (3),
    ``GATEWARD_USP_REBOOT_TIMEOUT_S`` (180)."""
    e = os.environ if env is None else env

    def num(name: str, default: float) -> float:
        raw = e.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a number") from None
        if value <= 0:
            raise ValueError(f"{name} must be positive (got {raw})")
        return value

    version = int(num("GATEWARD_USP_MQTT_VERSION", 5))
    if version not in (3, 5):
        raise ValueError("GATEWARD_USP_MQTT_VERSION must be 5 or 3")
    return {
        "endpoint_id": e.get("GATEWARD_USP_ENDPOINT_ID") or DEFAULT_ENDPOINT_ID,
        "mqtt_version": version,
        "timeout_s": num("GATEWARD_USP_TIMEOUT_S", 10.0),
        "probe_timeout_s": num("GATEWARD_USP_PROBE_TIMEOUT_S", 3.0),
        "reboot_timeout_s": num("GATEWARD_USP_REBOOT_TIMEOUT_S", 180.0),
    }


def factory(settings: Any) -> UspExecutor:
    """The USP adapter for ``core.routing.ExecutorRouter`` (name ``"usp"``), on ``settings.mqtt_url``."""
    return UspExecutor(url=settings.mqtt_url, **usp_options())
