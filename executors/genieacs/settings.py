"""The adapter's own settings (``GATEWARD_GENIEACS_*``), next to the two in ``core.kernel.config``.

Why separate: ``core.kernel.config.Settings`` carries the NBI URL and auth header that every part of
Gateward may need to know about; TLS files, the proxy and the timing knobs concern only this
adapter, so they are read here with the same prefix. ``HTTPS_PROXY``/``SSL_CERT_FILE`` still
work too (httpx honours them) when these are unset.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GenieAcsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWARD_GENIEACS_", extra="ignore")

    url: str | None = Field(default=None, description="NBI base URL, e.g. http://acs:7557")
    auth_header: str | None = Field(default=None, description="'Basic …', 'Bearer …' or 'Header-Name: value'")
    username: str | None = Field(default=None, description="HTTP basic auth user for the NBI's proxy")
    password: str | None = Field(default=None, description="its password (or GATEWARD_GENIEACS_PASSWORD_FILE)")
    ca_file: str | None = Field(default=None, description="CA bundle to verify an https NBI")
    insecure: bool = Field(default=False, description="skip TLS verification (lab only)")
    client_cert: str | None = Field(default=None, description="PEM client certificate for mutual TLS")
    client_key: str | None = Field(default=None, description="PEM key for the client certificate")
    proxy: str | None = Field(default=None, description="http(s)://proxy:port for NBI requests")
    timeout_s: float = Field(default=10.0, gt=0, description="wait for the CPE's session to start (NBI timeout)")
    session_budget_s: float = Field(default=30.0, gt=0, description="extra wait for the session to finish")
    task_expiry_s: float = Field(default=300.0, gt=0, description="a stranded task expires instead of landing late")
    online_factor: float = Field(default=2.0, gt=0, description="online while the last inform is within N intervals")
    reboot_timeout_s: float = Field(default=180.0, gt=0, description="wait this long for _lastBoot to move")
    reuse_read_s: float = Field(default=30.0, ge=0, description="reuse a fresh read when no session happened since")
    backup_reuse_s: float = Field(
        default=120.0, ge=0, description="a backup may reuse the preview's read this long if untouched (0: off)"
    )
    cr_memory_s: float = Field(default=300.0, gt=0, description="remember a failed connection request this long")
    inform_wait_s: float | None = Field(
        default=None, ge=0,
        description="queue tasks of a NAT'd device for its next inform and wait this long "
        "(unset: the device's own PeriodicInformInterval; 0: off)",
    )
    preview_cache_s: float = Field(
        default=120.0, ge=0, description="a preview may show GenieACS's cache of a device read this recently "
        "(not one whose connection requests are answered; 0: always read)",
    )
    nbi_back_s: float = Field(
        default=60.0, ge=0, description="an NBI gone mid-Set: wait this long for it, then settle on a read"
    )


__all__ = ["GenieAcsSettings"]
