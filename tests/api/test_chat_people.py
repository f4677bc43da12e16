"""Chat is for people (issue 34, item 7): a job's token — the ``remediator`` automation account —
cannot open, list, read or post to chat threads; it gets the same 403 the API gives a job on any
other person-only action, and no thread is left behind. A person still chats."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.chat_double import ScriptedChat
from tests.api.conftest import Api, make_api


@pytest.fixture(scope="module")
def chat_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from tests.conftest import build_test_runtime

    rt = build_test_runtime(f"sqlite:///{tmp_path_factory.mktemp('chat-people') / 'g.db'}", homes=3)
    a = make_api(rt, "sqlite", chat=ScriptedChat(rt))
    yield a
    a.client.close()
    rt.close()


def test_a_job_token_cannot_open_a_chat_thread(chat_api: Api) -> None:
    def threads() -> list[dict[str, object]]:
        items: list[dict[str, object]] = chat_api.get("/api/chat/threads", params={"all": "true"},
                                                      user="erin").json()["items"]
        return items

    before = threads()  # the module's other tests may have opened threads of their own, in any order
    r = chat_api.post("/api/chat/threads", {"title": "automation wants to chat"}, user="remediator")
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "forbidden" and "person" in r.json()["detail"]
    # nothing was opened on its behalf
    assert threads() == before
    assert not any(t["owner"] == "remediator" for t in before)


def test_a_job_token_cannot_read_or_post_to_a_persons_thread(chat_api: Api) -> None:
    tid = chat_api.post("/api/chat/threads", {"title": "mine"}, user="alice").json()["thread_id"]
    for r in (chat_api.get("/api/chat/threads", user="remediator"),
              chat_api.get(f"/api/chat/threads/{tid}", user="remediator"),
              chat_api.post(f"/api/chat/threads/{tid}/messages", {"text": "hello"}, user="remediator"),
              chat_api.post(f"/api/chat/threads/{tid}/resume", user="remediator")):
        assert r.status_code == 403, r.text
        assert "person" in r.json()["detail"]
    # a person still chats
    assert chat_api.get(f"/api/chat/threads/{tid}", user="alice").status_code == 200
