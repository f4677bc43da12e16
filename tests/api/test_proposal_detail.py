"""Issue 15: a proposal's detail (the answer of create, edit, approve, apply, rollback and
``GET /api/proposals/{id}``) is read as columns on a Core connection. It must be exactly what the
ORM-session reader gave: ``_reference`` below is that reader as it was, and every proposal of the
module's store — approved, awaiting approval, approved by a person, done with a backup and an
execution, rolled back, rejected, cancelled, denied, invalid, per-device values, a later dry run —
is compared field by field.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import proposal_views as views
from api.scrub import scrub
from core.store import repo
from core.store.schema import ProposalRow
from core.users import get_actor
from core.views import proposal_detail
from tests.api.conftest import Api, pick, radio_of
from tests.api.test_proposals import _channel_change, _secret_change


def _reference(s: Session, pid: str) -> dict[str, Any]:
    """The detail as the ORM reader composed it (before issue 15's Core reader)."""
    from policies.explain import explain

    out = proposal_detail(s, pid)
    p = repo.proposal_from_row(repo.get_proposal_row(s, pid))
    out["preview"] = views._mask_preview(out.get("preview"), views._tr098(s, out.get("preview")))
    if out.get("decision") is not None:
        rec = repo.latest_decision(s, p.id, include_dry_run=True)
        out["decision"]["explanation"] = None if rec is None else explain(p, rec)
    out["backup"] = views._backup(s, pid)
    out["blast_radius"] = views.blast_radius(s, list(p.targets))
    out["log"] = views._log(s, pid)
    return dict(scrub(out))


def _proposals_in_every_state(api: Api) -> None:
    done = _channel_change(api, pick(api)["id"])["proposal"]["id"]
    assert api.post(f"/api/proposals/{done}/apply").json()["proposal"]["state"] == "done"
    rolled = _channel_change(api, pick(api)["id"])["proposal"]["id"]
    api.post(f"/api/proposals/{rolled}/apply")
    assert api.post(f"/api/proposals/{rolled}/rollback", {"reason": "detail test"}, user="bob").status_code == 200
    secret = _secret_change(api, pick(api)["id"])["proposal"]
    r = api.post(f"/api/proposals/{secret['id']}/approve", {"hash": secret["hash"], "comment": "ok"}, user="bob")
    assert r.status_code == 200, r.text
    rejected = _secret_change(api, pick(api)["id"])["proposal"]["id"]
    assert api.post(f"/api/proposals/{rejected}/reject", {"reason": "no"}, user="bob").status_code == 200
    cancelled = _channel_change(api, pick(api)["id"])["proposal"]["id"]
    assert api.post(f"/api/proposals/{cancelled}/cancel", {"reason": "no"}).status_code == 200
    _secret_change(api, pick(api)["id"])  # left awaiting approval
    dev = pick(api, lambda d: d["region"] == "DE")["id"]
    idx, _ = radio_of(api, dev, "5GHz")
    for ch, auto in ((165, False), (36, True)):  # invalid (not in the radio's list), denied (contradiction)
        r = api.post("/api/proposals", {"intent": f"channel {ch}", "targets": [dev], "changes": [
            {"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": auto},
            {"path": f"Device.WiFi.Radio.{idx}.Channel", "value": ch}]})
        assert r.status_code == 201 and r.json()["proposal"]["state"] in {"invalid", "denied"}
    a, b = pick(api)["id"], pick(api)["id"]
    r = api.post("/api/proposals", {"intent": "per device", "targets": [a, b], "changes": [
        {"path": "Device.WiFi.Radio.1.Channel", "value": 1, "target": a},
        {"path": "Device.WiFi.Radio.1.Channel", "value": 6, "target": b}]})
    assert r.status_code == 201, r.text
    # A dry run after the real decision: the detail shows the real one, explained by the latest record.
    api.rt.lifecycle.decide(secret["id"], get_actor(api.rt.store, "alice"), dry_run=True)


def test_the_core_reader_gives_the_orm_readers_answer(api: Api) -> None:
    _proposals_in_every_state(api)
    with api.rt.store.read() as s:
        pids = list(s.scalars(select(ProposalRow.id)))
    states: set[str] = set()
    for pid in pids:
        with api.rt.store.read() as s:
            old = _reference(s, pid)
        with api.rt.store.engine.connect() as conn:
            new, p = views.detail(conn, pid)
        assert new == old, pid
        assert p.id == pid and p.hash == old["proposal"]["hash"]
        states.add(new["proposal"]["state"])
    assert {"approved", "awaiting_approval", "done", "rolled_back", "rejected", "cancelled", "denied",
            "invalid"} <= states


def test_an_unknown_proposal_is_still_a_404(api: Api) -> None:
    r = api.get("/api/proposals/p-does-not-exist")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert "unknown proposal" in r.json()["detail"]
