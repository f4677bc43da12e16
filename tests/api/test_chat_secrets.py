"""Issue 10 defect 4 end to end: a passphrase sent through the chat API (the real offline planner,
real store, real checkpointer) still becomes a KeyPassphrase proposal, but appears nowhere a
person can read it back — not in the SSE stream, not in ``GET /api/chat/threads/{id}`` for the
approver or the auditor who may read the thread (another support agent may not: 403), not in the
thread list's titles, and not in the ``chat_events`` / ``chat_threads`` rows or the LangGraph
checkpoint tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.api.conftest import Api, make_api, pick
from tests.api.test_chat import parse_sse
from tests.conftest import BACKENDS, build_test_runtime, make_db_url

SECRET = "Kastanienallee-2024!"
CORE = "Kastanienallee"  # the passphrase without its trailing "!" must not appear either


@pytest.fixture(scope="module", params=BACKENDS)
def planner_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from brain.service import ChatService

    url, cleanup = make_db_url(request.param, tmp_path_factory.mktemp(f"chat-secrets-{request.param}"))
    rt = build_test_runtime(url, homes=20)
    a = make_api(rt, request.param, chat_factory=lambda runtime: ChatService(runtime, planner="offline"))
    try:
        yield a
    finally:
        a.client.close()
        rt.close()
        cleanup()


def _stored_chat_rows(api: Api) -> list[str]:
    with api.rt.store.read() as s:
        return [str(tuple(r)) for t in ("chat_threads", "chat_events") for r in s.execute(text(f"SELECT * FROM {t}"))]


def _checkpoint_bytes(api: Api) -> bytes:
    """Every byte the checkpointer stored: the sibling SQLite file (and its WAL), or the
    PostgreSQL checkpoint tables in the store's schema."""
    from brain.checkpoint import checkpoint_path

    path = checkpoint_path(api.rt.store.url)
    if path is not None:
        files = [path, Path(f"{path}-wal")]
        return b"".join(p.read_bytes() for p in files if p.exists())
    out = []
    with api.rt.store.read() as s:
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
            for row in s.execute(text(f"SELECT * FROM {table}")):
                out += [bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row]
    assert out, "the planner wrote no checkpoint rows"
    return b"\n".join(out)


def test_a_passphrase_typed_in_german_is_masked_and_never_drafted(planner_api: Api) -> None:
    """Issue 54: a passphrase in the text is masked before anything is stored, never drafted, and the
    secret field is asked for — in the stream, the history for every reader, the thread list, the
    rows and the checkpoints."""
    api = planner_api
    dev = pick(api)["id"]
    r = api.post("/api/chat/threads", {"device_id": dev, "title": f"WLAN-Passwort auf {SECRET} ändern"})
    assert r.status_code == 201, r.text
    tid = r.json()["thread_id"]
    assert CORE not in r.text
    r = api.post(f"/api/chat/threads/{tid}/messages", {"text": f"{SECRET} soll das neue WLAN-Passwort sein"})
    assert r.status_code == 200, r.text
    frames = parse_sse(r.text)
    assert CORE not in r.text
    assert not any(kind == "proposal" for kind, _ in frames)
    assert any("secret field" in data.get("text", "") for kind, data in frames if kind in ("notice", "question"))

    assert api.get(f"/api/chat/threads/{tid}", user="sam").status_code == 403  # another support agent
    for reader in ("alice", "bob", "erin"):  # owner, approver (reviews the proposal), auditor
        r = api.get(f"/api/chat/threads/{tid}", user=reader)
        assert r.status_code == 200 and CORE not in r.text, reader
    listing = api.get("/api/chat/threads", params={"all": "true"}, user="erin")
    assert tid in listing.text and CORE not in listing.text
    rows = _stored_chat_rows(api)
    assert any(tid in row for row in rows) and not any(CORE in row for row in rows)
    assert CORE.encode() not in _checkpoint_bytes(api)


def test_the_secret_field_drafts_the_exact_value_and_shows_only_its_fingerprint(planner_api: Api) -> None:
    """The secret field (``secret``, write-only): the proposal carries exactly its value for the
    lifecycle, the stream and the history carry its fingerprint and what it is for, never the value;
    the approver's proposal detail shows the same fingerprint."""
    api = planner_api
    dev = pick(api)["id"]
    tid = api.post("/api/chat/threads", {"device_id": dev}).json()["thread_id"]
    r = api.post(f"/api/chat/threads/{tid}/messages", {"text": "change the Wi-Fi password", "secret": SECRET})
    assert r.status_code == 200, r.text
    assert CORE not in r.text
    proposal = next(data for kind, data in parse_sse(r.text) if kind == "proposal")
    assert {c["path"].rsplit(".", 1)[-1] for c in proposal["data"]["changes"]} == {"KeyPassphrase"}
    assert all(c["value"] == "********" for c in proposal["data"]["changes"])
    stored = api.rt.lifecycle.get(proposal["data"]["proposal_id"])
    assert {c.value for c in stored.changes} == {SECRET}
    fps = {s["new_fingerprint"] for s in proposal["data"]["secrets"]}
    assert len(fps) == 1 and all(s["ssid"] and s["role"] == "primary" for s in proposal["data"]["secrets"])
    detail = api.get(f"/api/proposals/{stored.id}", user="bob")
    assert detail.status_code == 200 and CORE not in detail.text
    assert {s["new_fingerprint"] for s in detail.json()["secrets"]} == fps
    assert CORE not in api.get(f"/api/chat/threads/{tid}", user="bob").text
    assert not any(CORE in row for row in _stored_chat_rows(api))
    assert CORE.encode() not in _checkpoint_bytes(api)


@pytest.mark.parametrize("body", [{"text": "x", "secret": "short"}, {"text": "", "secret": None}, {"text": "  "}])
def test_a_bad_secret_field_is_a_422_that_does_not_echo_it(planner_api: Api, body: dict[str, Any]) -> None:
    api = planner_api
    tid = api.post("/api/chat/threads", {"device_id": pick(api)["id"]}).json()["thread_id"]
    r = api.post(f"/api/chat/threads/{tid}/messages", body)
    assert r.status_code == 422 and "short" not in r.json()["detail"], r.text


def test_a_generated_passphrase_is_streamed_once_and_kept_nowhere(planner_api: Api) -> None:
    api = planner_api
    tid = api.post("/api/chat/threads", {"device_id": pick(api)["id"]}).json()["thread_id"]
    r = api.post(f"/api/chat/threads/{tid}/messages", {"text": "set a new random wifi passphrase"})
    frames = parse_sse(r.text)
    value = next(data for kind, data in frames if kind == "secret")["data"]["value"]
    proposal = next(data for kind, data in frames if kind == "proposal")
    assert {c.value for c in api.rt.lifecycle.get(proposal["data"]["proposal_id"]).changes} == {value}
    assert value not in api.get(f"/api/chat/threads/{tid}", user="alice").text
    assert not any(value in row for row in _stored_chat_rows(api))
    assert value.encode() not in _checkpoint_bytes(api)
