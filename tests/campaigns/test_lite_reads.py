"""``gateward campaign status`` on the DB-API (campaigns/lite_reads.py, issue 39) prints what the
ORM read prints: the same dictionary for a campaign created, waiting for promotion, aborted and
rolled back, and denied; the same list."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.lite_reads import LiteCampaigns
from core.kernel.errors import NotFound
from core.store.dburl import normalise_url
from core.store.lite import connect
from tests.campaigns.helpers import PATH, approved, drive, who
from tests.campaigns.test_console_reads import CLOSED


def _lite(crt: Any, db_url: str) -> LiteCampaigns:
    reader = connect(normalise_url(db_url))
    assert reader is not None and reader.at_head()
    return LiteCampaigns(reader, lambda: crt.lifecycle.clock())


def test_the_dbapi_status_is_the_orm_status(crt: Any, svc: Any, db_url: str) -> None:
    lite = _lite(crt, db_url)
    created = approved(crt, svc, promotion={"mode": "manual"})
    cid = created["id"]
    assert lite.status(cid) == svc.status(cid)
    svc.start(cid, who(crt, "dave"))
    waiting = drive(svc, cid)
    assert waiting["ring_state"] == "waiting" and waiting["analyses"]
    assert lite.status(cid) == svc.status(cid)
    svc.abort(cid, who(crt, "bob"), "checking")
    aborted = drive(svc, cid)
    assert aborted["state"] == "aborted" and aborted["rings_detail"][0]["rolled_back"]
    assert lite.status(cid) == svc.status(cid)
    crt.lifecycle.clock = lambda: CLOSED
    denied = svc.create({"name": "outside", "target": {"region": "DE"}, "changes": [{"path": PATH, "value": False}]},
                        who(crt, "dave"))
    assert lite.status(denied["id"])["state"] == "denied"
    assert lite.status(denied["id"]) == svc.status(denied["id"])
    assert lite.list() == svc.list()
    with pytest.raises(NotFound, match="unknown campaign"):
        lite.status("c-nope")
