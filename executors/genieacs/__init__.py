"""TR-069 through GenieACS: the adapter and its NBI client.

* :mod:`executors.genieacs.executor` — :class:`GenieAcsExecutor`, the executor contract over the NBI
* :mod:`executors.genieacs.nbi` — typed NBI client (reason phrases, auth header, TLS, proxy)
* :mod:`executors.genieacs.tasks` — task builders and the strict client-side task check
* :mod:`executors.genieacs.ids` — GenieACS device ids and their double percent-encoding in URLs
(The local NBI test double lives in :mod:`testing.genieacs.fake_nbi`, outside the product.)

``factory(settings)`` builds the adapter from ``GATEWARD_GENIEACS_URL`` /
``GATEWARD_GENIEACS_AUTH_HEADER`` (``core.config.Settings``) and the adapter's own
``GATEWARD_GENIEACS_*`` knobs (:mod:`executors.genieacs.settings`). See ``docs/genieacs.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from executors.genieacs.executor import GenieAcsExecutor

if TYPE_CHECKING:  # pydantic-settings is no cost to pay for an annotation
    from core.config import Settings


def factory(settings: Settings | None = None) -> GenieAcsExecutor:
    """The adapter for the router: the NBI URL and auth header from ``settings`` (a
    ``core.config.Settings``), the rest from ``GATEWARD_GENIEACS_*``."""
    from executors.genieacs.settings import GenieAcsSettings

    own = GenieAcsSettings()
    url = getattr(settings, "genieacs_url", None) or own.url
    if not url:
        raise LookupError("the genieacs adapter needs GATEWARD_GENIEACS_URL (the GenieACS NBI, e.g. http://acs:7557)")
    auth = getattr(settings, "genieacs_auth_header", None) or own.auth_header
    verify: bool | str = False if own.insecure else (own.ca_file or True)
    return GenieAcsExecutor(
        url=url,
        auth_header=auth,
        timeout_s=own.timeout_s,
        session_budget_s=own.session_budget_s,
        task_expiry_s=own.task_expiry_s,
        online_factor=own.online_factor,
        reboot_timeout_s=own.reboot_timeout_s,
        reuse_read_s=own.reuse_read_s,
        backup_reuse_s=own.backup_reuse_s,
        cr_memory_s=own.cr_memory_s,
        inform_wait_s=own.inform_wait_s,
        verify=verify,
        client_cert=own.client_cert,
        client_key=own.client_key,
        proxy=own.proxy,
    )


__all__ = ["GenieAcsExecutor", "factory"]
