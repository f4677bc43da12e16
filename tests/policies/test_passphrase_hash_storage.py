"""Issue 34 item 12: the policy input stored with each decision kept an unsalted sha256 of every
new passphrase (``secret_facts.sha256_lower``) — one dictionary lookup from a weak passphrase for
anyone who reads the table or a backup. Policy still judges the passphrase with it in memory (the
common-passphrase rule keeps denying), but no stored decision holds it any more.

Through the HTTP API as an agent submits a passphrase change; the stored rows are read raw."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from core.store.schema import PolicyDecisionRow
from tests.api.conftest import Api, make_api, pick
from tests.conftest import module_runtime

PATH = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"


@pytest.fixture(scope="module", params=["sqlite"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    for rt in module_runtime(request, tmp_path_factory, "passphrase-hash", homes=12):
        a = make_api(rt, request.param)
        yield a
        a.client.close()


def _submit(api: Api, passphrase: str) -> dict[str, Any]:
    r = api.post("/api/proposals", {"intent": "new Wi-Fi passphrase", "targets": [pick(api)["id"]],
                                    "changes": [{"path": PATH, "value": passphrase}], "rationale": "caller asked"},
                 user="alice")
    assert r.status_code == 201, r.text
    return dict(r.json())


def _stored_inputs(api: Api, pid: str) -> list[dict[str, Any]]:
    with api.rt.store.read() as s:
        return [dict(row.input) for row in s.scalars(select(PolicyDecisionRow).where(
            PolicyDecisionRow.proposal_id == pid))]


@pytest.mark.parametrize("passphrase", ["Harbour-Lantern-7731", "Password123"])
def test_no_stored_decision_keeps_a_hash_of_the_passphrase(api: Api, passphrase: str) -> None:
    d = _submit(api, passphrase)
    stored = _stored_inputs(api, d["proposal"]["id"])
    assert stored
    for digest in (hashlib.sha256(passphrase.lower().encode()).hexdigest(),
                   hashlib.sha256(passphrase.encode()).hexdigest()):
        assert all(digest not in json.dumps(doc) for doc in stored)
    facts = stored[-1]["proposal"]["changes"][0]["secret_facts"]
    assert facts["sha256_lower"] == "********" and facts["length"] == len(passphrase)


def test_a_common_passphrase_is_still_denied(api: Api) -> None:
    d = _submit(api, "Password123")
    assert d["proposal"]["state"] == "denied"
    assert "secrets.common_password" in [i["code"] for i in d["decision"]["deny_items"]]
    assert _submit(api, "Harbour-Lantern-7731")["proposal"]["state"] != "denied"
