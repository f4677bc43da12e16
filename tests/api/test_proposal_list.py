"""Issue 15: the queue (``GET /api/proposals``) is read as one page query plus rendered rows cached
per proposal ``version``, and authenticated in the same worker-thread hop. What must not change:
a changed proposal is never served stale, the order and total are the store's, and a bad token is
still a 401 that says why.
"""

from __future__ import annotations

from sqlalchemy import func, select

from api import proposal_views
from core.store import repo
from core.store.schema import ProposalRow
from tests.api.conftest import Api, pick


def _create(api: Api, intent: str) -> str:
    dev = pick(api)["id"]
    r = api.post("/api/proposals", {"intent": intent, "targets": [dev],
                                    "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]})
    assert r.status_code == 201, r.text
    return str(r.json()["proposal"]["id"])


def _listed(api: Api, pid: str) -> dict[str, object]:
    items = api.get("/api/proposals", params={"limit": 500}).json()["items"]
    return next(i for i in items if i["id"] == pid)


def test_a_changed_proposal_is_never_listed_from_the_cache(api: Api) -> None:
    pid = _create(api, f"list cache {api.backend}")
    before = _listed(api, pid)
    assert before["state"] in {"approved", "awaiting_approval"}
    assert _listed(api, pid) == before  # served again (from the cache), unchanged
    r = api.post(f"/api/proposals/{pid}/cancel", {"reason": "testing the list cache"})
    assert r.status_code == 200, r.text
    after = _listed(api, pid)
    assert after["state"] == "cancelled" and after["updated_at"] >= before["updated_at"]


def test_page_order_and_total_are_the_stores(api: Api) -> None:
    _create(api, f"list order {api.backend}")
    body = api.get("/api/proposals", params={"limit": 7, "offset": 1}).json()
    with api.rt.store.read() as s:
        expected = [p.id for p in repo.list_proposals(s, limit=7, offset=1)]
        total = s.scalar(select(func.count()).select_from(ProposalRow))
        waiting = s.scalar(select(func.count()).select_from(ProposalRow)
                           .where(ProposalRow.state == "awaiting_approval"))
    assert [i["id"] for i in body["items"]] == expected
    assert body["total"] == total
    filtered = api.get("/api/proposals", params={"state": "awaiting_approval", "limit": 500}).json()
    assert filtered["total"] == waiting == len(filtered["items"])
    assert {i["state"] for i in filtered["items"]} <= {"awaiting_approval"}
    past = api.get("/api/proposals", params={"offset": 1_000_000}).json()
    assert past == {"items": [], "total": total}


def test_the_cache_is_bounded() -> None:
    cache = proposal_views.SummaryCache(size=2)
    cache.put_many({("a", 1): b"1", ("b", 1): b"2"})
    cache.get_many([("a", 1)])  # a is now the most recently used
    cache.put_many({("c", 1): b"3"})
    assert cache.get_many([("a", 1), ("b", 1), ("c", 1)]) == {("a", 1): b"1", ("c", 1): b"3"}


def test_the_queue_still_says_why_a_token_is_refused(sqlite_api: Api) -> None:
    r = sqlite_api.client.get("/api/proposals")
    assert r.status_code == 401 and r.json()["detail"].startswith("missing API token")
    assert r.headers["www-authenticate"] == "Bearer"
    r = sqlite_api.client.get("/api/proposals", headers={"Authorization": "Bearer gw_nope"})
    assert r.status_code == 401 and "invalid or revoked" in r.json()["detail"]
