"""A person's form that validation refuses (an inline value, a campaign definition) is answered
with every problem and leaves no proposal behind: one typo, no stray ``invalid`` rows."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.api.conftest import Api, pick


def _proposals(api: Api) -> dict[str, int]:
    from core.store.schema import ProposalRow

    with api.rt.store.read() as s:
        rows = s.execute(select(ProposalRow.state, func.count()).group_by(ProposalRow.state))
        return {str(k): int(n) for k, n in rows}


def _audit_rows(api: Api) -> int:
    from core.store.schema import AuditEventRow

    with api.rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEventRow)) or 0)


def test_a_refused_inline_value_leaves_no_proposal(api: Api) -> None:
    dev = pick(api)["id"]
    before, trail = _proposals(api), _audit_rows(api)
    r = api.post("/api/proposals", {"intent": "typo", "targets": [dev], "record_invalid": False,
                                    "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 9999}]})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid" and "Channel" in body["detail"]
    assert _proposals(api) == before and _audit_rows(api) == trail
    # the same draft without the flag is recorded, invalid, as before (the planner's, for the record)
    kept = api.post("/api/proposals", {"intent": "typo", "targets": [dev],
                                       "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 9999}]})
    assert kept.json()["proposal"]["state"] == "invalid"
    assert _proposals(api).get("invalid", 0) == before.get("invalid", 0) + 1
    # a value that validates goes through the gates as usual
    ok = api.post("/api/proposals", {"intent": "fine", "targets": [dev], "record_invalid": False,
                                     "changes": [{"path": "Device.WiFi.Radio.1.AutoChannelEnable", "value": True}]})
    assert ok.status_code == 201 and ok.json()["proposal"]["state"] != "invalid", ok.text


def test_a_refused_campaign_form_leaves_no_proposal(api: Api) -> None:
    before = _proposals(api)
    r = api.post("/api/campaigns", {"name": "typo", "target": {"region": "DE"},
                                    "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 9999}]}, user="dave")
    assert r.status_code == 422, r.text
    assert "does not validate" in r.json()["detail"]
    assert _proposals(api) == before
