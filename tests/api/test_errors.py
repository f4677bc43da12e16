"""Bad input never reaches a 500: every refusal is a 4xx with {"error", "detail"} naming it."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api


def _shape(r: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "detail"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["error"] == code, body
    return dict(body)


def test_missing_token_is_401_with_challenge(sqlite_api: Api) -> None:
    r = sqlite_api.client.get("/api/proposals")
    body = _shape(r, 401, "unauthorized")
    assert "Bearer" in body["detail"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_invalid_and_revoked_tokens_are_401(sqlite_api: Api) -> None:
    from core.users import add_user, issue_token, revoke_user

    _shape(sqlite_api.client.get("/api/me", headers={"Authorization": "Bearer gw_not-a-token"}), 401)
    _shape(sqlite_api.client.get("/api/me", headers={"Authorization": "Basic abc"}), 401)
    _shape(sqlite_api.client.get("/api/me", headers={"Authorization": "Bearer " + "x" * 5000}), 401)
    add_user(sqlite_api.rt.store, "temp-agent", ["support_agent"])
    tok = issue_token(sqlite_api.rt.store, "temp-agent")
    ok = sqlite_api.client.get("/api/me", headers={"Authorization": f"Bearer {tok}"})
    assert ok.status_code == 200 and ok.json() == {"id": "temp-agent", "roles": ["support_agent"], "kind": "human",
                                             "can_approve": False}
    revoke_user(sqlite_api.rt.store, "temp-agent")
    _shape(sqlite_api.client.get("/api/me", headers={"Authorization": f"Bearer {tok}"}), 401)


def test_roles_come_from_the_directory(sqlite_api: Api) -> None:
    assert sqlite_api.get("/api/me", user="bob").json()["roles"] == ["approver"]
    assert sqlite_api.get("/api/me", user="erin").json()["roles"] == ["auditor"]


def test_malformed_json_is_422_named(sqlite_api: Api) -> None:
    r = sqlite_api.client.post("/api/proposals", content=b'{"intent": "x",', headers={
        **sqlite_api.h("alice"), "Content-Type": "application/json"})
    body = _shape(r, 422, "malformed_json")
    assert "JSON" in body["detail"]


def test_non_json_body_is_415(sqlite_api: Api) -> None:
    r = sqlite_api.client.post("/api/proposals", content=b"intent=x", headers={
        **sqlite_api.h("alice"), "Content-Type": "application/x-www-form-urlencoded"})
    _shape(r, 415, "unsupported_media_type")
    r = sqlite_api.client.post("/api/proposals", content=b'{"intent": "x"}', headers=sqlite_api.h("alice"))
    _shape(r, 415)


def test_oversized_body_is_413_declared_and_streamed(sqlite_api: Api) -> None:
    big = b'{"intent": "' + b"x" * 1_100_000 + b'"}'
    r = sqlite_api.client.post("/api/proposals", content=big, headers={
        **sqlite_api.h("alice"), "Content-Type": "application/json"})
    _shape(r, 413, "too_large")

    def chunks() -> Any:  # no Content-Length: the limit must hold on the stream too
        yield b'{"intent": "'
        for _ in range(40):
            yield b"y" * 32_768
        yield b'"}'

    r = sqlite_api.client.post("/api/proposals", content=chunks(), headers={
        **sqlite_api.h("alice"), "Content-Type": "application/json"})
    _shape(r, 413, "too_large")
    # Nothing was created by either attempt.
    assert all(p["intent"][:1] not in ("x", "y") for p in sqlite_api.get("/api/proposals").json()["items"])


def test_validation_errors_name_the_field(sqlite_api: Api) -> None:
    body = _shape(sqlite_api.post("/api/proposals", {"intent": "", "targets": ["a"]}), 422, "invalid_request")
    assert body["detail"].startswith("intent")
    body = _shape(sqlite_api.post("/api/proposals", {"intent": "x", "targets": ["a"], "comemnt": 1}), 422)
    assert "comemnt" in body["detail"]
    body = _shape(sqlite_api.post("/api/proposals", {"intent": "x", "changes": [{"path": "Device.X", "value": {}}]}),
                  422)
    assert "changes" in body["detail"]
    _shape(sqlite_api.get("/api/proposals", params={"state": "nonsense"}), 422)
    _shape(sqlite_api.get("/api/devices", params={"limit": "many"}), 422)
    _shape(sqlite_api.get("/api/audit", params={"since": "yesterday"}), 422)


def test_domain_refusals_are_4xx(sqlite_api: Api) -> None:
    # a path that is not a parameter path (pydantic accepts the shape, the model refuses it)
    body = _shape(sqlite_api.post("/api/proposals", {"intent": "x", "targets": ["nope"],
                                                     "changes": [{"path": "Device.WiFi.", "value": 1}]}), 422)
    assert "parameter path" in body["detail"] and body["detail"].startswith("changes.0.path")
    _shape(sqlite_api.post("/api/proposals", {"intent": "x", "targets": ["no-such-device"],
                                              "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]}), 404)
    _shape(sqlite_api.post("/api/proposals", {"intent": "x", "targets": ["a"]}), 422, "invalid")


def test_unknown_ids_routes_and_methods(sqlite_api: Api) -> None:
    _shape(sqlite_api.get("/api/proposals/p-doesnotexist"), 404, "not_found")
    _shape(sqlite_api.get("/api/proposals/p-doesnotexist/decision"), 404)
    _shape(sqlite_api.post("/api/proposals/p-doesnotexist/approve", {"hash": "0" * 64}, user="bob"), 404)
    _shape(sqlite_api.post("/api/proposals/p-doesnotexist/apply"), 404)
    _shape(sqlite_api.get("/api/devices/no-such-device"), 404)
    _shape(sqlite_api.get("/api/devices/no-such-device/history"), 404)
    _shape(sqlite_api.get("/api/devices/no-such-device/topology"), 404)
    _shape(sqlite_api.get("/api/no-such-route"), 404)
    _shape(sqlite_api.client.delete("/api/proposals", headers=sqlite_api.h("alice")), 405)
