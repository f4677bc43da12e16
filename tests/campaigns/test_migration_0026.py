"""Migration 0026 (issue 34) on rows stored before it, on SQLite and PostgreSQL:

* item 16: a campaign stored with only old-style obligation messages (``plan["policy"]``) gets
  coded items, and the campaign code — which no longer parses text — then reads its stages, halt
  threshold and change window from them;
* item 12: the unsalted passphrase hash in a stored decision's policy input is masked (in the
  proposal's changes and a per-target proposal's ``device_changes``);
* item 13: ``campaigns.run_by`` names the last person the audit trail shows starting, resuming or
  promoting the campaign.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from campaigns import obligations
from campaigns.service import window_info

PASSPHRASE = "Sommer2024!"
DIGEST = hashlib.sha256(PASSPHRASE.lower().encode()).hexdigest()
OLD_MESSAGES = ["stage: canary 5%", "stage: ring 25%", "halt: failure rate above 2%",
                "window: DE 1-5 local, UTC offset 1 h", "presence: not a plan limit"]
OPEN = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)     # DE local 03:30, inside 01-05
CLOSED = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)   # DE local 10:30

_JSON = {"targets", "changes", "operations", "evidence", "spec", "plan", "result", "input", "would_deny"}


def _col(name: str) -> Any:
    from core.store.schema import UTCDateTime

    kind = sa.JSON() if name in _JSON else UTCDateTime() if name.endswith("_at") else None
    return sa.column(name, kind)


proposals_t = sa.table("proposals", *(_col(c) for c in (
    "id", "author", "author_kind", "intent", "targets", "changes", "operations", "rationale", "evidence",
    "emergency", "staged", "source", "state", "hash", "version", "created_at", "updated_at")))
campaigns_t = sa.table("campaigns", *(_col(c) for c in (
    "id", "name", "proposal_id", "author", "kind", "spec", "plan", "state", "ring", "ring_state", "cursor",
    "sweeps", "window", "batch_size", "created_at", "updated_at")))
decisions_t = sa.table("policy_decisions", *(_col(c) for c in (
    "id", "proposal_id", "proposal_hash", "revision", "engine", "allow", "result", "input", "would_deny",
    "duration_us", "dry_run", "created_at")))


@pytest.fixture
def old_store(db_url: str) -> Iterator[Any]:
    from core.store import Store

    store = Store(db_url, migrate=False)
    store.migrate("0025")
    yield store
    store.dispose()


def _facts() -> dict[str, Any]:
    return {"length": len(PASSPHRASE), "sha256_lower": DIGEST, "contains_ssid": False}


def _seed(store: Any) -> None:
    """Rows as the code before issue 34 wrote them (straight into the tables)."""
    from core import audit
    from core.kernel.models import utcnow

    now = utcnow()
    change = {"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": "********", "secret": True,
              "secret_facts": _facts()}
    with store.write() as s:
        s.execute(sa.insert(proposals_t).values(
            id="p-old", author="alice", author_kind="human", intent="old campaign", targets=[], changes=[],
            operations=[], rationale="", evidence=[], emergency=False, staged=True, source="campaign",
            state="approved", hash="h" * 64, version=1, created_at=now, updated_at=now))
        s.execute(sa.insert(campaigns_t).values(
            id="c-old", name="old", proposal_id="p-old", author="alice", kind="config", spec={},
            plan={"sizes": [1, 3], "stages": [5.0, 25.0], "total": 4, "policy": OLD_MESSAGES}, state="running",
            ring=0, ring_state="active", cursor=0, sweeps=0, window=1, batch_size=10, created_at=now,
            updated_at=now))
        s.execute(sa.insert(decisions_t).values(
            id="d-old", proposal_id="p-old", proposal_hash="h" * 64, revision="r", engine="embedded", allow=True,
            result={}, input={"proposal": {"changes": [change]}, "device_changes": {"dev-1": [change]}},
            would_deny=[], duration_us=1.0, dry_run=False, created_at=now))
        audit.append(s, actor="carol", action="campaign.started", proposal_id="p-old",
                     data={"campaign": "c-old"})
        audit.append(s, actor="system:campaign", action="campaign.promoted", proposal_id="p-old",
                     data={"campaign": "c-old"})


def test_an_old_style_campaign_is_migrated_to_coded_obligations_and_read_from_them(old_store: Any) -> None:
    from campaigns.schema import CampaignRow

    _seed(old_store)
    assert obligations.from_plan({"policy": OLD_MESSAGES}).empty  # the text parser is gone
    old_store.migrate("0026")
    with old_store.read() as s:
        row = s.get(CampaignRow, "c-old")
        assert row is not None
        plan, run_by = dict(row.plan), row.run_by
    assert [i["code"] for i in plan["policy_items"]] == [
        "obligation.stage", "obligation.stage", "obligation.halt", "obligation.window"]
    assert plan["policy"] == OLD_MESSAGES  # the messages stay, for people
    read = obligations.from_plan(plan)
    assert read.stages == [5.0, 25.0] and read.has_canary and read.max_failure_rate == pytest.approx(0.02)
    assert [w.text() for w in read.closed_windows(CLOSED)] == ["DE 01:00-05:00 local (UTC+1 h)"]
    assert read.closed_windows(OPEN) == []
    [window] = window_info(obligations.plan_items(plan), CLOSED)
    assert window["region"] == "DE" and window["open"] is False and window["opens_at"] is not None
    assert run_by == "carol"  # who started it, not the automatic promotion


def test_stored_passphrase_hashes_are_masked_by_the_migration(old_store: Any) -> None:
    _seed(old_store)
    old_store.migrate("0026")
    with old_store.read() as s:
        doc = s.execute(sa.select(decisions_t.c.input).where(decisions_t.c.id == "d-old")).scalar_one()
    assert DIGEST not in json.dumps(doc)
    assert doc["proposal"]["changes"][0]["secret_facts"] == {**_facts(), "sha256_lower": "********"}
    assert doc["device_changes"]["dev-1"][0]["secret_facts"]["sha256_lower"] == "********"
