"""What the operator configured for sign-in (``GATEWARD_OIDC_*``, ``GATEWARD_SESSION_*``, ...).

Read here and not in :mod:`core.kernel.config`: only the API signs people in. Checked once when the app
is built (:meth:`AuthSettings.from_env`), so a half-configured provider, an unreadable secret file
or a role map naming an unknown role stops ``gateward run`` with one line saying which setting is
wrong, instead of failing the first person who tries to sign in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field

from core.kernel.errors import Invalid
from core.rbac import ROLES

OIDC_REQUIRED = ("GATEWARD_OIDC_ISSUER", "GATEWARD_OIDC_CLIENT_ID", "GATEWARD_OIDC_CLIENT_SECRET_FILE",
                 "GATEWARD_OIDC_ROLE_MAP", "GATEWARD_PUBLIC_URL")


class OidcSettings(BaseModel):
    """One OpenID Provider and how its people map to Gateward roles."""

    model_config = ConfigDict(frozen=True)

    issuer: str = Field(description="the provider's Issuer Identifier, exactly as its discovery document says")
    client_id: str
    client_secret: str = Field(repr=False)
    role_map: dict[str, tuple[str, ...]] = Field(description="group → Gateward roles")
    groups_claim: str = "groups"
    username_claim: str = "preferred_username"
    scopes: str = "openid profile groups"
    timeout_s: float = Field(default=10.0, gt=0, le=120,
                             description="how long one request to the provider may take before sign-in says so")
    display_name: str = Field(default="", description="the provider's name on the sign-in button")
    recheck_s: float = Field(default=300.0, ge=0, le=300,
                             description="the oldest confirmation of a person's groups a request acts on "
                                         "(api.auth.membership); at most 5 minutes")

    @property
    def label(self) -> str:
        """What the sign-in button calls the provider: the configured name, else the issuer's host."""
        return self.display_name or (urlsplit(self.issuer).hostname or self.issuer)


class AuthSettings(BaseModel):
    """Sign-in for people. ``oidc`` is ``None`` when no provider is configured; ``local_accounts``
    turns on ``POST /auth/password-login`` (argon2 passwords set with ``gateward users passwd``)."""

    model_config = ConfigDict(frozen=True)

    oidc: OidcSettings | None = None
    local_accounts: bool = False
    public_url: str = ""
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=24 * 30)
    session_retention_days: int = Field(default=7, ge=0, le=365)  # an ended session is deleted after this
    password_lockout_failures: int = Field(default=5, ge=0, le=1000)  # 0: no lockout
    password_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)

    @property
    def enabled(self) -> bool:
        """Whether people can sign in here at all (a provider or local accounts)."""
        return self.oidc is not None or self.local_accounts

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` (and the ``__Host-`` prefix) when the public URL is https."""
        return self.public_url.startswith("https://")

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + "/auth/callback"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthSettings:
        """The settings from ``GATEWARD_*`` variables; :class:`core.kernel.errors.Invalid` naming the
        setting when one is missing or malformed."""
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, "").strip()

        oidc = None
        given = [n for n in OIDC_REQUIRED if get(n)]
        if any(get(n) for n in OIDC_REQUIRED[:4]):
            missing = [n for n in OIDC_REQUIRED if n not in given]
            if missing:
                raise Invalid(f"OpenID Connect sign-in is half configured: set {', '.join(missing)} "
                              "as well (docs/auth.md)")
            oidc = OidcSettings(
                issuer=get("GATEWARD_OIDC_ISSUER"), client_id=get("GATEWARD_OIDC_CLIENT_ID"),
                client_secret=read_secret_file(get("GATEWARD_OIDC_CLIENT_SECRET_FILE"),
                                               "GATEWARD_OIDC_CLIENT_SECRET_FILE"),
                role_map=parse_role_map(get("GATEWARD_OIDC_ROLE_MAP")),
                groups_claim=get("GATEWARD_OIDC_GROUPS_CLAIM") or "groups",
                username_claim=get("GATEWARD_OIDC_USERNAME_CLAIM") or "preferred_username",
                scopes=get("GATEWARD_OIDC_SCOPES") or "openid profile groups",
                timeout_s=_int(get, "GATEWARD_OIDC_TIMEOUT_S", 10, 1, 120),
                display_name=get("GATEWARD_OIDC_NAME")[:64],
                recheck_s=_int(get, "GATEWARD_OIDC_RECHECK_S", 300, 30, 300))
            if "openid" not in oidc.scopes.split():
                raise Invalid("GATEWARD_OIDC_SCOPES must include openid")
        public_url = get("GATEWARD_PUBLIC_URL").rstrip("/")
        if public_url and not public_url.startswith(("http://", "https://")):
            raise Invalid("GATEWARD_PUBLIC_URL must start with https:// (or http:// on a lab network); "
                          f"got {public_url!r}")
        local = _flag(get("GATEWARD_LOCAL_ACCOUNTS"), "GATEWARD_LOCAL_ACCOUNTS")
        if local and not public_url:
            raise Invalid("GATEWARD_LOCAL_ACCOUNTS=1 needs GATEWARD_PUBLIC_URL too: its scheme decides whether "
                          "the session cookie is Secure")
        return cls(oidc=oidc, local_accounts=local, public_url=public_url,
                   session_idle_minutes=_int(get, "GATEWARD_SESSION_IDLE_MINUTES", 30, 1, 24 * 60),
                   session_max_hours=_int(get, "GATEWARD_SESSION_MAX_HOURS", 12, 1, 24 * 30),
                   session_retention_days=_int(get, "GATEWARD_SESSION_RETENTION_DAYS", 7, 0, 365),
                   password_lockout_failures=_int(get, "GATEWARD_PASSWORD_LOCKOUT_FAILURES", 5, 0, 1000),
                   password_lockout_minutes=_int(get, "GATEWARD_PASSWORD_LOCKOUT_MINUTES", 15, 1, 24 * 60))


def read_secret_file(path: str, setting: str) -> str:
    """The secret in ``path`` (surrounding whitespace dropped): secrets come from files, never from
    the environment itself, so they do not show in ``ps`` or a process dump of the environment."""
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise Invalid(f"{setting}: cannot read {path} ({exc.strerror or exc})") from exc
    if not secret:
        raise Invalid(f"{setting}: {path} is empty")
    return secret


def parse_role_map(raw: str) -> dict[str, tuple[str, ...]]:
    """``{"group": ["role", ...]}`` (a single role may be a string), every role one Gateward knows."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"GATEWARD_OIDC_ROLE_MAP is not JSON ({exc}); e.g. "
                      '{"noc-approvers": ["approver"], "noc-admins": ["admin"]}') from exc
    if not isinstance(doc, dict) or not doc:
        raise Invalid("GATEWARD_OIDC_ROLE_MAP must be a non-empty JSON object: group → roles")
    out: dict[str, tuple[str, ...]] = {}
    for group, roles in doc.items():
        listed = [roles] if isinstance(roles, str) else roles
        if not isinstance(listed, list) or not listed or not all(isinstance(r, str) for r in listed):
            raise Invalid(f"GATEWARD_OIDC_ROLE_MAP: {group!r} must map to a role or a list of roles")
        unknown = [r for r in listed if r not in ROLES]
        if unknown:
            raise Invalid(f"GATEWARD_OIDC_ROLE_MAP: {group!r} names unknown role {unknown[0]!r}; "
                          f"roles are {', '.join(ROLES)}")
        if "automation" in listed:
            raise Invalid(f"GATEWARD_OIDC_ROLE_MAP: {group!r} maps to automation, which is for jobs, not people")
        out[str(group)] = tuple(dict.fromkeys(listed))
    return out


def _flag(raw: str, name: str) -> bool:
    if raw.lower() in ("", "0", "false", "no", "off"):
        return False
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    raise Invalid(f"{name} is 1 or 0 (got {raw!r})")


def _int(get: Callable[[str], str], name: str, default: int, lo: int, hi: int) -> int:
    raw = get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise Invalid(f"{name} must be a whole number (got {raw!r})") from exc
    if not lo <= value <= hi:
        raise Invalid(f"{name} is {lo}..{hi} (got {value})")
    return value
