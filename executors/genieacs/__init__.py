"""TR-069 through GenieACS: the adapter and its NBI client.

* :mod:`executors.genieacs.executor` — :class:`GenieAcsExecutor`, the executor contract over the NBI
* :mod:`executors.genieacs.nbi` — typed NBI client (reason phrases, auth header, TLS, proxy)
* :mod:`executors.genieacs.tasks` — task builders and the strict client-side task check
* :mod:`executors.genieacs.ids` — GenieACS device ids and their double percent-encoding in URLs
(The local NBI test double lives in :mod:`testing.genieacs.fake_nbi`, outside the product.)

``factory(settings)`` builds the adapter from ``GATEWARD_GENIEACS_URL`` /
``GATEWARD_GENIEACS_AUTH_HEADER`` (``core.kernel.config.Settings``) and the adapter's own
``GATEWARD_GENIEACS_*`` knobs (:mod:`executors.genieacs.settings`). See ``docs/genieacs.md``.
"""

from __future__ import annotations

import base64
import ssl
from typing import TYPE_CHECKING

from executors.genieacs.executor import GenieAcsExecutor
from executors.genieacs.nbi import ssl_context

if TYPE_CHECKING:  # pydantic-settings is no cost to pay for an annotation
    from core.kernel.config import Settings


def factory(settings: Settings | None = None) -> GenieAcsExecutor:
    """The adapter for the router: the NBI URL and auth header from ``settings`` (a
    ``core.kernel.config.Settings``), the rest from ``GATEWARD_GENIEACS_*``."""
    from executors.genieacs.settings import GenieAcsSettings

    own = GenieAcsSettings()
    url = getattr(settings, "genieacs_url", None) or own.url
    if not url:
        raise LookupError("the genieacs adapter needs GATEWARD_GENIEACS_URL (the GenieACS NBI, e.g. http://acs:7557)")
    auth = nbi_auth(getattr(settings, "genieacs_auth_header", None) or own.auth_header, own.username, own.password)
    verify: bool | str = False if own.insecure else (own.ca_file or True)
    try:  # a CA or client certificate that cannot be loaded: one line naming the setting, at first use
        ssl_context(verify, own.client_cert, own.client_key)  # (the client builds its own: replicas rebuild it)
    except (OSError, ssl.SSLError) as exc:
        what = (f"GATEWARD_GENIEACS_CLIENT_CERT={own.client_cert}" if own.client_cert and own.ca_file is None
                else f"GATEWARD_GENIEACS_CA_FILE={own.ca_file}")
        raise LookupError(f"the genieacs adapter cannot load its TLS files ({what}): "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
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
        nbi_back_s=own.nbi_back_s,
        preview_cache_s=own.preview_cache_s,
        verify=verify,
        client_cert=own.client_cert,
        client_key=own.client_key,
        proxy=own.proxy,
    )


def nbi_auth(header: str | None, username: str | None, password: str | None) -> str | None:
    """The ``Authorization`` to send: the configured header, or HTTP basic from user and password
    (either way, never both: which one the proxy expects would be a guess)."""
    if username is None and password is None:
        return header
    if header:
        raise LookupError("the genieacs adapter has both GATEWARD_GENIEACS_AUTH_HEADER and "
                          "GATEWARD_GENIEACS_USERNAME/_PASSWORD; set one way of authenticating")
    if not username or not password:
        raise LookupError("GATEWARD_GENIEACS_USERNAME and GATEWARD_GENIEACS_PASSWORD (or _PASSWORD_FILE) go together")
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


__all__ = ["GenieAcsExecutor", "factory", "nbi_auth"]
