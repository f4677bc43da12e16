"""Migration 0007 scrubs passphrases stored before the redaction was rebuilt: clear-text chat
events and titles are rewritten, and the LangGraph checkpoint rows of an affected thread
(msgpack blobs that cannot be rewritten in place) are deleted — on SQLite (sibling checkpoint
file) and PostgreSQL (tables in the same schema). A clean thread keeps its checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, text

SECRET = "Sommer2024!"


@pytest.fixture
def old_store(db_url: str) -> Iterator[Any]:
    from core.store import Store

    store = Store(db_url, migrate=False)
    store.migrate("0006")
    yield store
    store.dispose()


def _seed_thread(store: Any, tid: str, message: str, title: str) -> None:
    """Rows as the chat wrote them before the fix (straight into the tables, no scrubbing)."""
    from brain.threads import chat_events, chat_threads
    from core.kernel.models import utcnow

    now = utcnow()
    with store.write() as s:
        s.execute(insert(chat_threads).values(id=tid, device_id=None, owner="alice", title=title, status="open",
                                              proposal_id=None, planner="offline", usage={}, tool_calls=0,
                                              created_at=now, updated_at=now))
        s.execute(insert(chat_events).values(thread_id=tid, seq=1, kind="step", text=message,
                                             data={"role": "user", "text": message}, ts=now))


def _checkpoint(saver: Any, tid: str, message: str) -> None:
    """A real LangGraph checkpoint holding ``message`` in its channel values (msgpack blobs)."""
    from langgraph.checkpoint.base import empty_checkpoint

    cp = empty_checkpoint()
    cp["channel_values"] = {"message": message, "transcript": [{"role": "user", "text": message}]}
    cp["channel_versions"] = {"message": "1", "transcript": "1"}
    config = {"configurable": {"thread_id": tid, "checkpoint_ns": ""}}
    saver.put(config, cp, {"source": "input", "step": 0}, {"message": "1", "transcript": "1"})


def _checkpoint_dump(store: Any) -> dict[str, bytes]:
    """thread id → every byte of its checkpoint rows."""
    from brain.checkpoint import checkpoint_path

    out: dict[str, bytes] = {}
    path = checkpoint_path(store.url)
    if path is not None:
        import sqlite3

        conn = sqlite3.connect(str(path))
        rows = [r for t in ("checkpoints", "writes") for r in conn.execute(f"SELECT * FROM {t}")]
        conn.close()
    else:
        with store.read() as s:
            rows = [tuple(r) for t in ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
                    for r in s.execute(text(f"SELECT * FROM {t}"))]
    for row in rows:
        blob = b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row)
        out[row[0]] = out.get(row[0], b"") + blob
    return out


def test_upgrade_scrubs_events_titles_and_leaky_checkpoints(old_store: Any) -> None:
    from brain.checkpoint import open_checkpointer
    from brain.threads import ThreadStore

    _seed_thread(old_store, "t-leak", f"change the Wi-Fi password to {SECRET}",
                 f"customer wants wifi password {SECRET}")
    _seed_thread(old_store, "t-clean", "Wi-Fi dies every evening", "evening drops")
    _seed_thread(old_store, "t-title", "hello", f"Passwort: {SECRET}")
    cp = open_checkpointer(old_store.url)
    try:
        _checkpoint(cp.saver, "t-leak", f"change the Wi-Fi password to {SECRET}")
        _checkpoint(cp.saver, "t-clean", "Wi-Fi dies every evening")
        _checkpoint(cp.saver, "t-cp-only", f"das WLAN-Passwort auf {SECRET} ändern")  # no event rows at all
    finally:
        cp.close()
    before = _checkpoint_dump(old_store)
    assert SECRET.encode() in before["t-leak"] and SECRET.encode() in before["t-cp-only"]  # the defect

    old_store.migrate("0007")

    with old_store.read() as s:
        rows = [str(tuple(r)) for t in ("chat_threads", "chat_events") for r in s.execute(text(f"SELECT * FROM {t}"))]
    assert rows and not any("Sommer2024" in r for r in rows)
    threads = ThreadStore(old_store)
    leak = threads.events("t-leak")
    assert leak[0].text == "change the Wi-Fi password to [secret]" and leak[0].data["text"] == leak[0].text
    assert leak[-1].kind == "notice" and "0007" in leak[-1].text
    assert threads.get("t-leak")["title"] == "customer wants wifi password [secret]"
    assert threads.get("t-title")["title"] == "Passwort: [secret]"
    assert [e.kind for e in threads.events("t-clean")] == ["step"]  # untouched
    after = _checkpoint_dump(old_store)
    assert "t-leak" not in after and "t-cp-only" not in after
    assert b"Wi-Fi dies every evening" in after["t-clean"]
    assert not any(b"Sommer2024" in blob for blob in after.values())


def test_upgrade_on_a_database_without_checkpoints(old_store: Any) -> None:
    """No planner ever ran here (no checkpoint file or tables): events are scrubbed all the same."""
    _seed_thread(old_store, "t-1", f"new password: {SECRET}", "chat")
    old_store.migrate("0007")
    with old_store.read() as s:
        texts = s.execute(text("SELECT text FROM chat_events ORDER BY seq")).scalars().all()
    assert texts[0] == "new password: [secret]" and len(texts) == 2
