"""The person an identity provider signed in: found or created, roles from the group map.

Roles come from ``GATEWARD_OIDC_ROLE_MAP`` alone, re-read at every sign-in and at every membership
re-check (:mod:`api.auth.membership`, at most ``GATEWARD_OIDC_RECHECK_S`` apart while the person acts),
so removing someone from a group at the provider takes their role away within minutes; a person none of whose
groups is mapped is refused (and nobody gets in by having no groups claim at all). The directory
follows the provider on a refusal too: a person the provider already signed in before, refused now
for having no mapped group, loses every role and every open session at once — their other browsers
and their API tokens stop acting as the role the provider no longer grants, instead of keeping it
until the session's absolute limit. Every change of a person's roles here is a ``user.roles_changed``
audit line (``from``, ``to``, ``reason``), so the console re-reads who it is signed in as. The person's
Gateward name is the ``GATEWARD_OIDC_USERNAME_CLAIM`` (``preferred_username``); the pair (issuer,
subject) is bound to that name the first time, so a later identity with the same name but another
subject — or a local account of that name — is refused rather than merged into it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth.grants import Grant, seal
from api.auth.refusals import AUTH_ACTOR, AuthRefused
from api.auth.sessions import revoke_sessions
from api.auth.settings import OidcSettings
from core import audit
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Actor, ActorKind, utcnow
from core.store import Store
from core.store.schema import UserIdentityRow, UserRow
from core.users import TOKEN_CACHE, same_name

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


def groups_of(claims: Mapping[str, Json], claim: str) -> list[str]:
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


def sign_in_person(store: Store, oidc: OidcSettings, claims: Mapping[str, Json],
                   token: JsonObject | None = None) -> Actor:
    """The Gateward person for verified ID token (and userinfo) ``claims``, created or updated; the
    provider's ``token`` answer is kept sealed with their identity, to ask the provider about them
    again (:mod:`api.auth.membership`)."""
    subject = str(claims.get("sub") or "")
    groups = groups_of(claims, oidc.groups_claim)
    roles = roles_for(groups, oidc.role_map)
    name = str(claims.get(oidc.username_claim) or "")
    if not roles:
        refusal = AuthRefused(
            f"signed in at the identity provider, but none of your groups is mapped to a Gateward role "
            f"(groups claim {oidc.groups_claim!r}: {', '.join(groups[:10]) or 'none'}); ask an administrator",
            "unmapped_group", 403, subject=subject, name=name[:64], groups=groups[:20])
        withdrawn = withdraw(store, oidc.issuer, subject, "unmapped_group")
        if withdrawn is not None:
            refusal.audit_extra.update(user=withdrawn[0], roles_removed=list(withdrawn[1]),
                                       sessions_ended=withdrawn[2])
        raise refusal
    if not NAME_RE.match(name):
        raise AuthRefused(f"the identity provider's {oidc.username_claim!r} claim is missing or not a usable "
                          "name (1..64 letters, digits, . _ @ + -)", "bad_username", 403, subject=subject)
    try:
        name = _record(store, oidc, subject, name, roles, token)
    except IntegrityError as exc:  # the same name created by another sign-in (or `users add`) at this moment
        raise AuthRefused(f"the name {name!r} was taken at this very moment by another sign-in; sign in again",
                          "name_taken", 403, subject=subject, name=name) from exc
    TOKEN_CACHE.forget_user(store.url, name)  # the person's API tokens act with these roles from now on
    return Actor(id=name, roles=roles, kind=ActorKind.HUMAN)


def _record(store: Store, oidc: OidcSettings, subject: str, name: str, roles: tuple[str, ...],
            token: JsonObject | None = None) -> str:
    """Create the person (binding the provider's subject to the name) or update their roles; their
    name. A name another account holds — itself or in another case — is refused, never merged. The
    groups are confirmed now (``checked_at``) and the token answer kept sealed."""
    now = utcnow()
    sealed = seal(Grant.from_token(token), oidc.client_secret) if token else None
    with store.write() as s:
        ident = s.get(UserIdentityRow, (oidc.issuer, subject))
        if ident is not None and ident.user_id != name:
            name = ident.user_id  # the binding wins: a renamed account at the provider stays the same person
        user = s.get(UserRow, name)
        if ident is None:
            holder = name if user is not None else same_name(s, name)
            if holder is not None:
                raise AuthRefused(f"the name {name!r} belongs to another Gateward account"
                                  + ("" if holder == name else f" ({holder!r}: the same name in another case)")
                                  + "; ask an administrator to link or rename it", "name_taken", 403,
                                  subject=subject, name=name, holder=holder)
            s.add(UserRow(id=name, roles=list(roles), kind=str(ActorKind.HUMAN), active=True, created_at=now))
            s.flush()  # the person before the identity that names them (no ORM relationship orders them)
            s.add(UserIdentityRow(issuer=oidc.issuer, subject=subject, user_id=name, created_at=now,
                                  last_login_at=now, checked_at=now, grant_sealed=sealed))
            return name
        if user is None or not user.active:
            raise AuthRefused(f"{name} is deactivated in Gateward", "deactivated", 403, subject=subject, name=name)
        record_roles(s, name, roles, "groups", oidc.issuer, user=user)
        ident.last_login_at = ident.checked_at = now
        ident.grant_sealed = sealed
    return name


def record_roles(s: Session, name: str, roles: tuple[str, ...], reason: str, issuer: str,
                 user: UserRow | None = None) -> None:
    """The person's roles as the provider's groups map now, audited when they change."""
    user = user if user is not None else s.get(UserRow, name)
    if user is None:
        return
    before = tuple(user.roles)
    if before != roles:
        user.roles = list(roles)
        _roles_changed(s, name, before, roles, reason, issuer)


def withdraw(store: Store, issuer: str, subject: str, reason: str) -> tuple[str, tuple[str, ...], int] | None:
    """Take every role from the person the provider's (``issuer``, ``subject``) is bound to and end
    their open sessions, because the provider no longer grants them a mapped group. Returns (person,
    the roles taken, sessions ended), or ``None`` when the identity was never bound to anyone (a
    first sign-in: there is nothing to take). Only the binding names the person: a name alone never
    does, so a local account of the same name is never touched."""
    with store.write() as s:
        ident = s.get(UserIdentityRow, (issuer, subject))
        user = None if ident is None else s.get(UserRow, ident.user_id)
        if user is None:
            return None
        before = tuple(user.roles)
        if before:
            user.roles = []
            _roles_changed(s, user.id, before, (), reason, issuer)
        name = user.id
    TOKEN_CACHE.forget_user(store.url, name)
    ended = revoke_sessions(store, by=AUTH_ACTOR, user_id=name, reason=reason)
    return name, before, ended


def _roles_changed(s: Session, user: str, before: tuple[str, ...], after: tuple[str, ...], reason: str,
                   issuer: str) -> None:
    audit.append(s, actor=AUTH_ACTOR, action="user.roles_changed",
                 data={"user": user, "from": list(before), "to": list(after), "reason": reason, "issuer": issuer})
