"""The person an identity provider signed in: found or created, roles from the group map.

Roles come from ``GATEWARD_OIDC_ROLE_MAP`` alone, re-read at every sign-in, so removing someone from
a group at the provider takes their role away at their next sign-in; a person none of whose
groups is mapped is refused (and nobody gets in by having no groups claim at all). The person's
Gateward name is the ``GATEWARD_OIDC_USERNAME_CLAIM`` (``preferred_username``); the pair (issuer,
subject) is bound to that name the first time, so a later identity with the same name but another
subject — or a local account of that name — is refused rather than merged into it.
"""

from __future__ import annotations

import re
from typing import Any

from api.auth.refusals import AuthRefused
from api.auth.settings import OidcSettings
from core.models import Actor, ActorKind, utcnow
from core.store import Store
from core.store.schema import UserIdentityRow, UserRow

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


def groups_of(claims: dict[str, Any], claim: str) -> list[str]:
    """The groups claim as a list of strings (a single string counts as one group)."""
    raw = claims.get(claim)
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        return [g for g in raw if isinstance(g, str)]
    return []


def roles_for(groups: list[str], role_map: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Every role the mapped groups give, in the map's order, once each."""
    roles: dict[str, None] = {}
    for group, mapped in role_map.items():
        if group in groups:
            roles.update(dict.fromkeys(mapped))
    return tuple(roles)


def sign_in_person(store: Store, oidc: OidcSettings, claims: dict[str, Any]) -> Actor:
    """The Gateward person for verified ID token (and userinfo) ``claims``, created or updated."""
    subject = str(claims.get("sub") or "")
    groups = groups_of(claims, oidc.groups_claim)
    roles = roles_for(groups, oidc.role_map)
    name = str(claims.get(oidc.username_claim) or "")
    if not roles:
        raise AuthRefused(
            f"signed in at the identity provider, but none of your groups is mapped to a Gateward role "
            f"(groups claim {oidc.groups_claim!r}: {', '.join(groups[:10]) or 'none'}); ask an administrator",
            "unmapped_group", 403, subject=subject, name=name[:64], groups=groups[:20])
    if not NAME_RE.match(name):
        raise AuthRefused(f"the identity provider's {oidc.username_claim!r} claim is missing or not a usable "
                          "name (1..64 letters, digits, . _ @ + -)", "bad_username", 403, subject=subject)
    now = utcnow()
    with store.write() as s:
        ident = s.get(UserIdentityRow, (oidc.issuer, subject))
        if ident is not None and ident.user_id != name:
            name = ident.user_id  # the binding wins: a renamed account at the provider stays the same person
        user = s.get(UserRow, name)
        if ident is None:
            if user is not None:
                raise AuthRefused(f"the name {name!r} belongs to another Gateward account; ask an administrator "
                                  "to link or rename it", "name_taken", 403, subject=subject, name=name)
            s.add(UserRow(id=name, roles=list(roles), kind=str(ActorKind.HUMAN), active=True, created_at=now))
            s.flush()  # the person before the identity that names them (no ORM relationship orders them)
            s.add(UserIdentityRow(issuer=oidc.issuer, subject=subject, user_id=name, created_at=now,
                                  last_login_at=now))
        else:
            if user is None or not user.active:
                raise AuthRefused(f"{name} is deactivated in Gateward", "deactivated", 403, subject=subject,
                                  name=name)
            user.roles = list(roles)
            ident.last_login_at = now
    return Actor(id=name, roles=roles, kind=ActorKind.HUMAN)
