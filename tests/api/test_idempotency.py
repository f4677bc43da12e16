"""``Idempotency-Key`` on ``POST /api/proposals`` and ``POST /api/campaigns`` (docs/api.md).

Without it a client repeating a create whose answer it lost made a second proposal or campaign. With
it: the same key and body answer the first answer (``Idempotent-Replayed: true``), another body 422
``idempotency_key_reused``, a retry while the first still runs 409 with ``Retry-After``; keys are per
person, kept 24 h, in the database — another app on the same database answers the same. The crash
half (the server killed mid-create, the retry answered from what it recorded) is
``tests/integration/test_create_crash.py``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from campaigns.schema import CampaignRow
from core import failpoints
from core.kernel.models import utcnow
from core.store.schema import IdempotencyKeyRow, ProposalRow
from tests.api.conftest import Api, make_api, pick
from tests.conftest import BACKENDS, seeded_runtime

SSID = "Device.WiFi.SSID.1.SSID"
SSID2 = "Device.WiFi.SSID.2.SSID"


@pytest.fixture(scope="module", params=BACKENDS)
def apis(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Api]]:
    """Two apps (two runtimes, as two replicas) over one seeded database."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    tmp: Path = tmp_path_factory.mktemp(f"idem-{request.param}")
    rt, cleanup = seeded_runtime(request.param, tmp, homes=20)
    rt2 = build_runtime(Settings(database_url=rt.store.url))
    a, b = make_api(rt, request.param), make_api(rt2, request.param)
    try:
        yield a, b
    finally:
        a.client.close()
        b.client.close()
        rt2.close()
        cleanup()


def _body(device: str, value: str, nonce: str) -> dict[str, Any]:
    return {"intent": "rename the home network", "targets": [device], "changes": [{"path": SSID, "value": value}],
            "rationale": nonce}


def _count(api: Api, nonce: str) -> int:
    with api.rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(ProposalRow).where(ProposalRow.rationale == nonce)) or 0)


def _post(api: Api, path: str, body: Any, user: str, key: dict[str, Any]) -> Any:
    return api.client.post(path, json=body, headers={**api.h(user), **key})


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f'"{uuid.uuid4()}"'}


def test_the_same_key_and_body_answer_the_first_answer_once(apis: tuple[Api, Api]) -> None:
    api, _ = apis
    d = pick(api)["id"]
    nonce, key = f"idem {uuid.uuid4()}", _key()
    first = _post(api, "/api/proposals", _body(d, "idem-1", nonce), "alice", key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = _post(api, "/api/proposals", _body(d, "idem-1", nonce), "alice", key)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert _count(api, nonce) == 1
    # The key sent bare (not as an RFC 8941 string) is the same key.
    bare = {"Idempotency-Key": key["Idempotency-Key"].strip('"')}
    assert _post(api, "/api/proposals", _body(d, "idem-1", nonce), "alice", bare).json() == \
        first.json()
    assert _count(api, nonce) == 1


def test_the_same_key_with_another_body_is_refused_and_creates_nothing(apis: tuple[Api, Api]) -> None:
    api, _ = apis
    d = pick(api)["id"]
    nonce, key = f"idem {uuid.uuid4()}", _key()
    assert _post(api, "/api/proposals", _body(d, "first", nonce), "alice", key).status_code == 201
    other = _post(api, "/api/proposals", _body(d, "second", nonce), "alice", key)
    assert other.status_code == 422, other.text
    assert other.json()["error"] == "idempotency_key_reused" and "another request body" in other.json()["detail"]
    assert _count(api, nonce) == 1
    # Another operation under the same key is another request too.
    camp = _post(api, "/api/campaigns", {"name": "x", "target": {"devices": [d]}, "changes": [
        {"path": SSID2, "value": "x"}]}, "alice", key)
    assert camp.status_code == 422 and camp.json()["error"] == "idempotency_key_reused", camp.text


def test_keys_are_per_person(apis: tuple[Api, Api]) -> None:
    api, _ = apis
    d = pick(api)["id"]
    nonce, key = f"idem {uuid.uuid4()}", _key()
    mine = _post(api, "/api/proposals", _body(d, "per-person", nonce), "alice", key)
    theirs = _post(api, "/api/proposals", _body(d, "per-person", nonce), "sam", key)
    assert mine.status_code == theirs.status_code == 201, theirs.text
    assert mine.json()["proposal"]["id"] != theirs.json()["proposal"]["id"]
    assert theirs.json()["proposal"]["author"] == "sam" and "idempotent-replayed" not in theirs.headers
    assert _count(api, nonce) == 2


def test_a_refusal_is_replayed_and_a_malformed_key_is_refused_by_name(apis: tuple[Api, Api]) -> None:
    api, _ = apis
    d = pick(api)["id"]
    key = _key()
    bad = {"intent": "x", "targets": [d], "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 999}],
           "record_invalid": False}
    first = _post(api, "/api/proposals", bad, "alice", key)
    assert first.status_code == 422 and first.json()["error"] == "invalid", first.text
    again = _post(api, "/api/proposals", bad, "alice", key)
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (422, first.json(), "true")
    for junk in ('"unterminated', "spaces inside", "x" * 256, "ünïcode".encode(), '""'):
        r = _post(api, "/api/proposals", _body(d, "x", "junk"), "alice", {"Idempotency-Key": junk})
        assert r.status_code == 422 and "Idempotency-Key" in r.text, (junk, r.text)
    assert _count(api, "junk") == 0


def test_another_replica_answers_the_same(apis: tuple[Api, Api]) -> None:
    one, two = apis
    d = pick(one)["id"]
    nonce, key = f"idem {uuid.uuid4()}", _key()
    first = _post(one, "/api/proposals", _body(d, "replica", nonce), "alice", key)
    assert first.status_code == 201, first.text
    again = _post(two, "/api/proposals", _body(d, "replica", nonce), "alice", key)  # its own token, same person
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true", again.text
    assert again.json() == first.json() and _count(one, nonce) == 1


def test_a_key_is_kept_a_day_then_forgotten(apis: tuple[Api, Api]) -> None:
    api, _ = apis
    d = pick(api)["id"]
    nonce, key = f"idem {uuid.uuid4()}", _key()
    assert _post(api, "/api/proposals", _body(d, "day-1", nonce), "alice", key).status_code == 201
    with api.rt.store.write() as s:  # a day has passed
        s.execute(update(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key["Idempotency-Key"].strip('"'))
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    later = _post(api, "/api/proposals", _body(d, "day-2", nonce), "alice", key)
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers, later.text
    assert _count(api, nonce) == 2


def test_a_retry_while_the_first_runs_is_a_conflict_then_the_first_answer(apis: tuple[Api, Api],
                                                                          tmp_path: Path) -> None:
    api, _ = apis
    d = pick(api)["id"]
    nonce, key = f"idem {uuid.uuid4()}", _key()
    go = tmp_path / "go"
    failpoints.arm("lifecycle.after_create", f"wait:{go}")
    out: dict[str, Any] = {}
    try:
        t = threading.Thread(target=lambda: out.update(r=_post(
            api, "/api/proposals", _body(d, "in-flight", nonce), "alice", key)))
        t.start()
        end = time.monotonic() + 60
        while _count(api, nonce) == 0 and time.monotonic() < end:
            time.sleep(0.05)
        during = _post(api, "/api/proposals", _body(d, "in-flight", nonce), "alice", key)
        assert during.status_code == 409 and during.json()["error"] == "idempotency_key_in_flight", during.text
        assert during.headers["retry-after"]
    finally:
        go.touch()
        t.join(60)
        failpoints.disarm()
    first = out["r"]
    assert first.status_code == 201, first.text
    after = _post(api, "/api/proposals", _body(d, "in-flight", nonce), "alice", key)
    assert after.status_code == 201 and after.json() == first.json()
    assert _count(api, nonce) == 1


def test_a_campaign_create_is_answered_once(apis: tuple[Api, Api]) -> None:
    api, two = apis
    devices = [pick(api)["id"] for _ in range(2)]
    name, key = f"idem-{uuid.uuid4().hex[:8]}", _key()
    body = {"name": name, "target": {"devices": devices}, "changes": [{"path": SSID2, "value": name}]}
    first = _post(api, "/api/campaigns", body, "dave", key)
    assert first.status_code == 201, first.text
    again = _post(two, "/api/campaigns", body, "dave", key)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true", again.text
    assert again.json()["id"] == first.json()["id"]
    with api.rt.store.read() as s:
        assert s.scalar(select(func.count()).select_from(CampaignRow).where(CampaignRow.name == name)) == 1
