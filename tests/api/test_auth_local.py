"""Local accounts and the session they open (issue 36): argon2 passwords, the session cookie,
CSRF on every cookie-authenticated write, sign-out, idle and absolute expiry, revocation, lockout,
and the audit lines — through the real app on the real store (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from api.auth.passwords import has_password, set_password
from api.auth.sessions import list_sessions, revoke_sessions
from api.auth.settings import AuthSettings
from core.kernel.errors import Invalid
from tests.api.auth_helpers import age_session, audit_head, audit_since, browser
from tests.api.conftest import Api, make_api
from tests.conftest import BACKENDS, seeded_runtime

PASSWORD = "correct horse battery staple"
SETTINGS = AuthSettings(local_accounts=True, public_url="http://testserver", session_idle_minutes=30,
                        session_max_hours=12, password_lockout_failures=3, password_lockout_minutes=15)


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp: Path = tmp_path_factory.mktemp(f"auth-local-{request.param}")
    rt, cleanup = seeded_runtime(request.param, tmp, homes=12)
    a = make_api(rt, request.param, auth=SETTINGS)
    for user in ("alice", "bob", "carol", "dave", "erin"):
        set_password(rt.store, user, PASSWORD)
    try:
        yield a
    finally:
        a.client.close()
        cleanup()


def sign_in(api: Api, user: str, password: str = PASSWORD) -> tuple[Any, dict[str, Any]]:
    b = browser(api.client.app)
    r = b.post("/auth/password-login", json={"user": user, "password": password})
    assert r.status_code == 200, r.text
    return b, r.json()


def test_sign_in_me_write_with_csrf_and_sign_out(api: Api) -> None:
    head = audit_head(api.rt.store)
    b = browser(api.client.app)
    r = b.post("/auth/password-login", json={"user": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] == "alice" and body["roles"] == ["support_agent"] and body["csrf"]
    cookie = r.headers["set-cookie"]
    assert "gateward_session=gws_" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # http public URL

    assert b.get("/api/me").json()["id"] == "alice"
    assert b.get("/auth/session").json()["csrf"] == body["csrf"]
    # A write with the cookie but without the CSRF header never reaches the route.
    r = b.post("/api/proposals", json={})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]
    r = b.post("/api/proposals", json={}, headers={"X-CSRF-Token": "x" * 43})
    assert r.status_code == 403 and "does not match" in r.json()["detail"]
    # With it, the request is authenticated as alice and judged on its body.
    r = b.post("/api/proposals", json={}, headers={"X-CSRF-Token": body["csrf"]})
    assert r.status_code == 422, r.text

    r = b.post("/auth/logout")
    assert r.status_code == 403
    r = b.post("/auth/logout", headers={"X-CSRF-Token": body["csrf"]})
    assert r.status_code == 200 and r.json() == {"signed_out": True}
    assert "Max-Age=0" in r.headers["set-cookie"]
    b.cookies.set("gateward_session", cookie.split(";")[0].split("=", 1)[1])  # a copy kept by an attacker
    r = b.get("/api/me")
    assert r.status_code == 401 and "ended" in r.json()["detail"]
    actions = [(e["actor"], e["action"]) for e in audit_since(api.rt.store, head)]
    assert ("alice", "auth.signed_in") in actions and ("alice", "auth.signed_out") in actions


def test_a_cookie_write_goes_through_the_lifecycle_as_the_person(api: Api) -> None:
    from tests.api.conftest import pick, radio_of

    b, body = sign_in(api, "alice")
    dev = pick(api)["id"]
    idx, cur = radio_of(api, dev, "5GHz")
    r = b.post("/api/proposals", headers={"X-CSRF-Token": body["csrf"]}, json={
        "intent": "move 5 GHz off a crowded channel", "targets": [dev],
        "changes": [{"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": False},
                    {"path": f"Device.WiFi.Radio.{idx}.Channel", "value": 36 if cur != 36 else 40}],
        "rationale": "neighbours crowd the current channel"})
    assert r.status_code == 201, r.text
    assert r.json()["proposal"]["author"] == "alice"


def test_signing_in_again_ends_the_earlier_session(api: Api) -> None:
    b, _ = sign_in(api, "erin")
    first = b.cookies.get("gateward_session")
    r = b.post("/auth/password-login", json={"user": "erin", "password": PASSWORD})
    assert r.status_code == 200 and b.cookies.get("gateward_session") != first
    stale = browser(api.client.app)
    stale.cookies.set("gateward_session", first)
    assert stale.get("/api/me").status_code == 401
    assert b.get("/api/me").json()["id"] == "erin"


def test_bearer_tokens_still_work_and_need_no_csrf(api: Api) -> None:
    assert api.get("/api/me", user="bob").json()["id"] == "bob"
    assert api.post("/api/proposals", {}, user="bob").status_code == 422  # authenticated, judged on its body


def test_wrong_password_unknown_name_and_no_password_are_one_refusal(api: Api) -> None:
    from core.users import add_user

    add_user(api.rt.store, "nopass", ["support_agent"])
    head = audit_head(api.rt.store)
    b = browser(api.client.app)
    answers = [b.post("/auth/password-login", json={"user": u, "password": p})
               for u, p in (("erin", "wrong password!!"), ("nobody-here", PASSWORD), ("nopass", PASSWORD))]
    assert [r.status_code for r in answers] == [401, 401, 401]
    assert len({r.json()["detail"] for r in answers}) == 1  # no telling which names exist
    assert "set-cookie" not in answers[0].headers
    refused = audit_since(api.rt.store, head, "auth.refused")
    assert [e["data"]["reason"] for e in refused] == ["wrong_password", "unknown_user", "no_password"]
    assert all(e["actor"] == "system:auth" and e["data"]["method"] == "password" for e in refused)


def test_lockout_after_repeated_failures_refuses_even_the_right_password(api: Api) -> None:
    set_password(api.rt.store, "carol", PASSWORD)
    b = browser(api.client.app)
    for _ in range(3):
        assert b.post("/auth/password-login", json={"user": "carol", "password": "not the password"}).status_code == 401
    head = audit_head(api.rt.store)
    r = b.post("/auth/password-login", json={"user": "carol", "password": PASSWORD})
    assert r.status_code == 401
    assert [e["data"]["reason"] for e in audit_since(api.rt.store, head, "auth.refused")] == ["locked"]
    set_password(api.rt.store, "carol", PASSWORD)  # an administrator resets it: the lockout ends
    assert b.post("/auth/password-login", json={"user": "carol", "password": PASSWORD}).status_code == 200


@pytest.mark.parametrize("kind", ["idle", "absolute"])
def test_an_expired_session_is_refused_once_with_an_audit_line(api: Api, kind: str) -> None:
    b, _ = sign_in(api, "bob")
    assert b.get("/api/me").status_code == 200
    if kind == "idle":
        age_session(api.rt.store, "bob", idle=timedelta(minutes=31))
    else:  # busy all along, but older than the absolute limit
        age_session(api.rt.store, "bob", age=timedelta(hours=12, minutes=1))
        age_session(api.rt.store, "bob", idle=-timedelta(hours=12))
    head = audit_head(api.rt.store)
    r = b.get("/api/me")
    assert r.status_code == 401, r.text
    assert f"{kind} limit" in r.json()["detail"]
    assert "Max-Age=0" in r.headers["set-cookie"]
    assert b.get("/api/me").status_code == 401  # and stays refused, with no second audit line
    refused = audit_since(api.rt.store, head, "auth.refused")
    assert [(e["actor"], e["data"]["reason"]) for e in refused] == [("bob", f"session_{kind}_limit")]
    assert b.get("/auth/session").json()["signed_in"] is False


def test_revoked_sessions_stop_at_once(api: Api) -> None:
    b, _ = sign_in(api, "dave")
    assert b.get("/api/me").status_code == 200
    open_ = [s for s in list_sessions(api.rt.store, "dave")]
    assert open_ and all(s.method == "password" for s in open_)
    assert revoke_sessions(api.rt.store, by="erin", user_id="dave") == len(open_)
    r = b.get("/api/me")
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert list_sessions(api.rt.store, "dave") == []


def test_a_flood_of_password_sign_ins_is_shed_never_500(api: Api) -> None:
    """Each attempt costs an argon2 check (64 MiB): a flood waits for the API's write slots and is
    shed with 503 rather than running them all at once."""
    import asyncio

    from api.app import create_app
    from api.limits import ShedLimits
    from tests.api.test_load_shedding import _burst

    app = create_app(api.rt, auth=SETTINGS, limits=ShedLimits(writes=1, per_client=1000, queue_wait_s=0))
    attempt = ("POST", "/auth/password-login", "", {"user": "nobody-at-all", "password": "a guess at it"})
    statuses = [r.status_code for r in asyncio.run(_burst(app, [attempt] * 8))]
    assert set(statuses) <= {401, 503} and 401 in statuses and 503 in statuses, statuses


def test_forged_or_foreign_cookies_are_refused(api: Api) -> None:
    b = browser(api.client.app)
    b.cookies.set("gateward_session", "gws_" + "A" * 43)
    assert b.get("/api/me").status_code == 401
    b.cookies.set("gateward_session", "gw_not-a-session")
    assert b.get("/api/me").status_code == 401
    assert b.get("/auth/session").json() == {"signed_in": False, "user": None, "roles": [], "csrf": None,
                                             "methods": {"oidc": False, "password": True}, "provider": None}


def test_secure_cookie_behind_https(api: Api) -> None:
    from api.app import create_app

    secure = SETTINGS.model_copy(update={"public_url": "https://gw.example.net"})
    b = browser(create_app(api.rt, auth=secure))
    r = b.post("/auth/password-login", json={"user": "erin", "password": PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-gateward_session=") and "Secure" in cookie and "Path=/" in cookie


def test_password_login_is_off_unless_enabled(api: Api) -> None:
    from api.app import create_app

    b = browser(create_app(api.rt, auth=AuthSettings()))
    r = b.post("/auth/password-login", json={"user": "alice", "password": PASSWORD})
    assert r.status_code == 404 and "GATEWARD_LOCAL_ACCOUNTS" in r.json()["detail"]
    assert b.get("/auth/login").status_code == 404


def test_passwords_are_argon2_and_refused_for_jobs_and_short_ones(api: Api) -> None:
    from sqlalchemy import select

    from core.store.schema import UserPasswordRow

    with api.rt.store.read() as s:
        stored = s.scalar(select(UserPasswordRow.hash).where(UserPasswordRow.user_id == "alice"))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored
    with pytest.raises(Invalid, match="12"):
        set_password(api.rt.store, "alice", "short")
    with pytest.raises(Invalid, match="job"):
        set_password(api.rt.store, "remediator", PASSWORD)
    assert has_password(api.rt.store, "alice") and not has_password(api.rt.store, "remediator")


def test_settings_refuse_half_configured_oidc_and_unknown_roles(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    base = {"GATEWARD_OIDC_ISSUER": "https://idp.example.net", "GATEWARD_OIDC_CLIENT_ID": "gateward",
            "GATEWARD_OIDC_CLIENT_SECRET_FILE": str(secret), "GATEWARD_PUBLIC_URL": "https://gw.example.net",
            "GATEWARD_OIDC_ROLE_MAP": '{"noc": ["approver"], "ops": "admin"}'}
    s = AuthSettings.from_env(base)
    assert s.oidc is not None and s.oidc.client_secret == "s3cret" and s.oidc.groups_claim == "groups"
    assert s.oidc.role_map == {"noc": ("approver",), "ops": ("admin",)} and s.secure_cookies
    assert "s3cret" not in repr(s)
    assert s.oidc.timeout_s == 10 and s.oidc.label == "idp.example.net"  # the button names the issuer's host
    named = AuthSettings.from_env({**base, "GATEWARD_OIDC_NAME": "NOC SSO", "GATEWARD_OIDC_TIMEOUT_S": "4"}).oidc
    assert named is not None and named.label == "NOC SSO" and named.timeout_s == 4
    for change, message in (({"GATEWARD_OIDC_TIMEOUT_S": "0"}, "GATEWARD_OIDC_TIMEOUT_S"),
                            ({"GATEWARD_PUBLIC_URL": ""}, "GATEWARD_PUBLIC_URL"),
                            ({"GATEWARD_OIDC_ROLE_MAP": '{"noc": ["wizard"]}'}, "unknown role 'wizard'"),
                            ({"GATEWARD_OIDC_ROLE_MAP": '{"bots": ["automation"]}'}, "jobs"),
                            ({"GATEWARD_OIDC_ROLE_MAP": "noc=approver"}, "not JSON"),
                            ({"GATEWARD_OIDC_CLIENT_SECRET_FILE": str(tmp_path / "missing")}, "cannot read"),
                            ({"GATEWARD_SESSION_IDLE_MINUTES": "0"}, "GATEWARD_SESSION_IDLE_MINUTES")):
        with pytest.raises(Invalid, match=message):
            AuthSettings.from_env({**base, **change})
    with pytest.raises(Invalid, match="GATEWARD_PUBLIC_URL"):
        AuthSettings.from_env({"GATEWARD_LOCAL_ACCOUNTS": "1"})
