"""Issue 10, defects 6 and 11: what used to be a 500, a token that never expired, metrics anyone
could read, a device search where ``%`` matched everything, and proposals so large that policy ran
for minutes before its timeout was even looked at.

Each test drives the real app, store, lifecycle and policy engine (``tests/api/conftest.py``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from core.kernel import models
from core.kernel.errors import Invalid
from core.kernel.models import Change, Device, Operation, ProposalDraft, Selector, utcnow
from core.store import repo
from core.store.schema import ApiTokenRow, PolicyDecisionRow, ProposalRow
from core.users import TOKEN_CACHE, TokenRejected, add_user, get_actor, issue_token, rotate_token, verify_token
from tests.api.conftest import Api, pick

CHANNEL = "Device.WiFi.Radio.1.Channel"


def _proposal_count(api: Api) -> int:
    with api.rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(ProposalRow)) or 0)


def _post_raw(api: Api, body: str, user: str = "alice") -> Any:
    """JSON text sent as is: ``\\ud800`` stays a lone surrogate escape, 2**64 stays an integer."""
    return api.client.post("/api/proposals", content=body.encode(),
                           headers={**api.h(user), "Content-Type": "application/json"})


def _refused(r: Any, fragment: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] in ("invalid", "invalid_request") and fragment in body["detail"], body


# ---------------------------------------------------------------------------- defect 6: no more 500s
def test_out_of_range_integers_and_lone_surrogates_are_422_not_500(api: Api) -> None:
    dev = pick(api)["id"]
    before = _proposal_count(api)
    base = {"intent": "fuzz", "targets": [dev]}
    _refused(_post_raw(api, json.dumps({**base, "changes": [{"path": CHANNEL, "value": 2**64}]})), "changes.0.value")
    _refused(_post_raw(api, json.dumps({**base, "changes": [{"path": CHANNEL, "value": 6}],
                                        "evidence": [{"kind": "k", "summary": "s", "data": {"n": 2**70}}]})),
             "outside the 64-bit range")
    _refused(_post_raw(api, json.dumps({**base, "changes": [{"path": CHANNEL, "value": "\ud800"}]})), "value")
    _refused(_post_raw(api, json.dumps({**base, "changes": [{"path": CHANNEL, "value": 6}],
                                        "operations": [{"command": "reboot", "args": {"reason": "\udfff"}}]})),
             "surrogate")
    assert _proposal_count(api) == before  # refused before anything was stored


def test_core_refuses_what_canonical_json_cannot_hash(api: Api) -> None:
    dev = pick(api)["id"]
    alice = get_actor(api.rt.store, "alice")
    for op in (Operation(command="ipping", args={"host": "8.8.8.8", "repetitions": 2**64}),
               Operation(command="reboot", args={"reason": "\ud800"})):
        with pytest.raises(Invalid) as err:
            api.rt.lifecycle.create(ProposalDraft(intent="x", targets=[dev], operations=[op]), alice)
        assert "operations.0.args" in err.value.message
    with pytest.raises(Invalid):
        models.canonical_json({"n": -(2**63) - 1})
    assert models.canonical_json({"n": 2**64 - 1}) == b'{"n":18446744073709551615}'


@pytest.mark.parametrize("route", ["/api/remediation/cases", "/api/proposals", "/api/devices"])
def test_huge_offsets_are_422(api: Api, route: str) -> None:
    r = api.get(route, params={"offset": "9223372036854775808"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request", r.text
    assert r.json()["detail"].startswith("query.offset")


# ---------------------------------------------------------------------------- defect 11: tokens
def test_tokens_expire_with_a_clear_401(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    add_user(api.rt.store, f"short-{api.backend}", ["support_agent"])
    tok = issue_token(api.rt.store, f"short-{api.backend}", ttl_days=2)
    hdr = {"Authorization": f"Bearer {tok}"}
    assert api.client.get("/api/me", headers=hdr).status_code == 200
    with api.rt.store.read() as s:
        row = s.scalars(select(ApiTokenRow).where(ApiTokenRow.user_id == f"short-{api.backend}")).one()
        assert timedelta(days=1, hours=23) < row.expires_at - utcnow() <= timedelta(days=2)
    with pytest.raises(TokenRejected, match="token expired"):
        verify_token(api.rt.store, tok, now=utcnow() + timedelta(days=2, seconds=1))
    with api.rt.store.write() as s:  # shortened out of band (as another process would): seen within the cache TTL
        s.execute(update(ApiTokenRow).where(ApiTokenRow.id == row.id).values(expires_at=utcnow() - timedelta(1)))
    clock = TOKEN_CACHE.clock
    monkeypatch.setattr(TOKEN_CACHE, "clock", lambda: clock() + TOKEN_CACHE.ttl_s)
    r = api.client.get("/api/me", headers=hdr)
    assert r.status_code == 401 and r.json()["detail"].startswith("token expired"), r.text
    assert r.headers["www-authenticate"] == "Bearer"


def test_default_lifetime_comes_from_the_environment(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_TOKEN_TTL_DAYS", "5")
    tok = issue_token(api.rt.store, "sam")
    with pytest.raises(TokenRejected, match="token expired"):
        verify_token(api.rt.store, tok, now=utcnow() + timedelta(days=5, seconds=1))
    assert verify_token(api.rt.store, tok, now=utcnow() + timedelta(days=4)).id == "sam"
    with pytest.raises(Invalid, match=r"1\.\.3650 days"):
        issue_token(api.rt.store, "sam", ttl_days=0)


def test_rotation_revokes_now_or_after_a_grace(api: Api) -> None:
    user = f"rot-{api.backend}"
    add_user(api.rt.store, user, ["support_agent"])
    first = issue_token(api.rt.store, user)
    second, retired = rotate_token(api.rt.store, user)
    assert retired == 1
    with pytest.raises(TokenRejected, match="revoked"):
        verify_token(api.rt.store, first)
    assert api.client.get("/api/me", headers={"Authorization": f"Bearer {second}"}).json()["id"] == user
    third, retired = rotate_token(api.rt.store, user, grace_hours=2)
    assert retired == 1
    assert verify_token(api.rt.store, second).id == user  # still good during the grace
    with pytest.raises(TokenRejected, match="token expired"):
        verify_token(api.rt.store, second, now=utcnow() + timedelta(hours=2, seconds=1))
    assert verify_token(api.rt.store, third, now=utcnow() + timedelta(days=29)).id == user


def test_cli_issues_and_rotates_tokens(sqlite_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from gateward import cli

    monkeypatch.setattr(cli, "_runtime", sqlite_api.rt)
    out = CliRunner().invoke(cli.app, ["users", "token", "bob", "--ttl-days", "3"])
    assert out.exit_code == 0, out.output
    tok = out.output.strip().splitlines()[-1]
    assert verify_token(sqlite_api.rt.store, tok).id == "bob"
    with pytest.raises(TokenRejected, match="token expired"):
        verify_token(sqlite_api.rt.store, tok, now=utcnow() + timedelta(days=3, seconds=1))
    out = CliRunner().invoke(cli.app, ["users", "rotate", "bob", "--grace-hours", "1"])
    assert out.exit_code == 0, out.output
    new = out.output.strip().splitlines()[-1]
    assert new != tok and verify_token(sqlite_api.rt.store, new).id == "bob"
    with pytest.raises(TokenRejected, match="token expired"):
        verify_token(sqlite_api.rt.store, tok, now=utcnow() + timedelta(hours=1, seconds=1))
    bad = CliRunner().invoke(cli.app, ["users", "token", "bob", "--ttl-days", "0"])
    assert bad.exit_code != 0 and "1..3650" in bad.output


def test_migration_0008_gives_existing_tokens_an_expiry(tmp_path: Path) -> None:
    from core.store import Store

    url = f"sqlite:///{tmp_path / 'm.db'}"
    old = Store(url, migrate=False)
    old.migrate("0007")
    with old.engine.begin() as c:
        c.execute(text("INSERT INTO users (id, roles, kind, active, created_at) "
                       "VALUES ('old', '[\"auditor\"]', 'human', 1, '2026-01-01 00:00:00')"))
        c.execute(text("INSERT INTO api_tokens (id, user_id, token_hash, created_at) "
                       "VALUES ('t-old', 'old', :h, '2026-01-01 00:00:00')"), {"h": "0" * 64})
    old.dispose()
    new = Store(url)
    new.migrate()
    with new.read() as s:
        row = s.get(ApiTokenRow, "t-old")
        assert row is not None and row.expires_at is not None
        assert timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)
    new.dispose()


# ---------------------------------------------------------------------------- defect 11: /metrics
def test_metrics_need_an_admin_or_auditor_token(api: Api) -> None:
    r = api.client.get("/metrics")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert api.get("/metrics", user="alice").status_code == 403
    for user in ("erin", "dave"):
        r = api.get("/metrics", user=user)
        assert r.status_code == 200 and "gateward_http_requests_total" in r.text


# ---------------------------------------------------------------------------- defect 11: LIKE
def test_device_search_matches_wildcards_literally(api: Api) -> None:
    odd = Device(id=f"ODD-{api.backend}-1", vendor="Acme", model="X%_\\1", firmware="1.0", subscriber="s_odd")
    with api.rt.store.write() as s:
        s.add(repo.device_to_row(odd))
    for q in ("%", "_", "\\", "%_\\"):
        items = api.get("/api/devices", params={"q": q, "limit": 1000}).json()["items"]
        assert [d["id"] for d in items] == [odd.id], q
    assert api.get("/api/devices", params={"q": "X%_\\1"}).json()["total"] == 1


# ---------------------------------------------------------------------------- defect 11: proposal size
def test_oversized_proposals_are_refused_before_policy(api: Api) -> None:
    dev = pick(api)["id"]
    before = _proposal_count(api)
    changes = [{"path": f"Device.WiFi.SSID.{i}.SSID", "value": f"n{i}"} for i in range(models.MAX_CHANGES + 1)]
    r = api.post("/api/proposals", {"intent": "big", "targets": [dev], "changes": changes})
    _refused(r, "changes")
    assert str(models.MAX_CHANGES) in r.json()["detail"]
    r = api.post("/api/proposals", {"intent": "wide", "targets": [f"D{i}" for i in range(models.MAX_TARGETS + 1)],
                                    "changes": [{"path": CHANNEL, "value": 6}]})
    _refused(r, "targets")
    assert str(models.MAX_TARGETS) in r.json()["detail"]
    assert _proposal_count(api) == before


def test_lifecycle_create_and_edit_enforce_the_limits(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    dev = pick(api)["id"]
    alice = get_actor(api.rt.store, "alice")
    lc = api.rt.lifecycle
    many = [Change(path=f"Device.WiFi.SSID.{i}.SSID", value=f"n{i}") for i in range(models.MAX_CHANGES + 1)]
    with pytest.raises(Invalid, match=f"at most {models.MAX_CHANGES} parameters"):
        lc.create(ProposalDraft(intent="big", targets=[dev], changes=many), alice)
    ops = [Operation(command="reboot")] * (models.MAX_OPERATIONS + 1)
    with pytest.raises(Invalid, match=f"at most {models.MAX_OPERATIONS} operations"):
        lc.create(ProposalDraft(intent="ops", targets=[dev], operations=ops), alice)
    # a selector counts after it is resolved; staged (campaign) proposals have the larger limit
    monkeypatch.setattr(models, "MAX_TARGETS", 3)
    with api.rt.store.read() as s:
        decisions = s.scalar(select(func.count()).select_from(PolicyDecisionRow))
    with pytest.raises(Invalid, match="at most 3 devices"):
        lc.submit(ProposalDraft(intent="fleet", selector=Selector(limit=4), changes=[Change(path=CHANNEL, value=6)]),
                  alice)
    staged = lc.create(ProposalDraft(intent="fleet", selector=Selector(limit=4), staged=True,
                                     changes=[Change(path=CHANNEL, value=6)]), alice)
    assert len(staged.targets) == 4
    with api.rt.store.read() as s:  # nothing reached policy
        assert s.scalar(select(func.count()).select_from(PolicyDecisionRow)) == decisions
    lc.cancel(staged.id, alice, "test")
    p = lc.create(ProposalDraft(intent="small", targets=[dev], changes=[Change(path=CHANNEL, value=6)]), alice)
    with pytest.raises(Invalid, match=f"at most {models.MAX_CHANGES} parameters"):
        lc.edit(p.id, ProposalDraft(intent="big", targets=[dev], changes=many), alice)
    assert lc.get(p.id).hash == p.hash  # the refused edit changed nothing
    lc.cancel(p.id, alice, "test")
