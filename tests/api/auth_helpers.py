"""Shared by the sign-in tests: reading the audit trail and the session rows back, and a fresh
browser (a TestClient with its own cookie jar) over an app."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from core.store.schema import AuditEventRow, AuthSessionRow


def oidc_provider_root() -> Path:
    """Where the npm package ``oidc-provider`` is installed (installing it on first use); the test
    skips without node and npm, and fails under ``GATEWARD_REQUIRE_SERVICES=1`` (CI)."""
    from testing.oidc_provider import ensure_installed

    root = ensure_installed()
    if root is None:
        if os.environ.get("GATEWARD_REQUIRE_SERVICES") == "1":
            pytest.fail("GATEWARD_REQUIRE_SERVICES=1 but node/npm are not installed (the OIDC tests need them)")
        pytest.skip("node/npm not installed: the OpenID Connect tests need the oidc-provider package")
    return root


def browser(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def audit_since(store: Any, seq: int, action: str | None = None) -> list[dict[str, Any]]:
    """The audit events after ``seq`` (of ``action``): actor, action, data."""
    q = (select(AuditEventRow.actor, AuditEventRow.action, AuditEventRow.data)
         .where(AuditEventRow.seq > seq).order_by(AuditEventRow.seq))
    if action:
        q = q.where(AuditEventRow.action == action)
    with store.read() as s:
        return [{"actor": a, "action": act, "data": d or {}} for a, act, d in s.execute(q).all()]


def audit_head(store: Any) -> int:
    with store.read() as s:
        head = s.scalar(select(AuditEventRow.seq).order_by(AuditEventRow.seq.desc()).limit(1))
    return int(head or 0)


def age_session(store: Any, user: str, *, idle: timedelta = timedelta(0), age: timedelta = timedelta(0)) -> None:
    """Move the user's open sessions back in time: ``idle`` since their last request, ``age`` since
    they began (the expiry moves with it), as if that much time had passed."""
    with store.write() as s:
        for row in s.scalars(select(AuthSessionRow).where(AuthSessionRow.user_id == user,
                                                          AuthSessionRow.ended_at.is_(None))):
            s.execute(update(AuthSessionRow).where(AuthSessionRow.id == row.id).values(
                last_seen_at=row.last_seen_at - idle - age, created_at=row.created_at - age,
                expires_at=row.expires_at - age))
