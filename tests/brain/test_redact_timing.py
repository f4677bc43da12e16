"""The chat redactor and the value validators on adversarial input (``testing.redact_corpus``):
4,000-character messages (the API's limit) built to make a backtracking regex or a per-keyword
rescan blow up. Here: that each is answered and what the redactor returns holds; how long the worst
takes is the benchmark's (``gateward bench redact_pathological``: goal ≤ 5 ms, 1,215 ms before the
redactor went linear). Reading a thread back does not scrub it again (scrubbed once, when written).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from brain.redact import redact, scrub_text
from core.kernel import values
from core.validation import _HOST_RE
from testing.redact_corpus import PATHOLOGICAL_LEN, pathological


def test_the_pathological_corpus_is_adversarial_and_full_length() -> None:
    corpus = pathological()
    assert len(corpus) >= 150 and all(len(t) == PATHOLOGICAL_LEN for _, t in corpus)
    assert len({t for _, t in corpus}) == len(corpus)


def test_a_scrubbed_pathological_message_scrubs_to_itself() -> None:
    """What the redactor leaves is settled: scrubbing its output again changes nothing (a mask that
    moved on a second pass would show the first pass read the text wrongly), and the redactor with a
    vault finds nothing more to keep in what it masked."""
    for name, text in pathological():
        once = scrub_text(text)
        assert scrub_text(once) == once, name
        masked, _ = redact(text)
        assert redact(masked)[1] == {}, name


def test_validators_answer_every_pathological_input() -> None:
    checks: list[Callable[[str], object]] = [
        lambda t: values.control_problem(t, display=True), lambda t: values.control_problem(t, display=False),
        values.listed_values, values.parse_bool, values.parse_wire_int, values.byte_length,
        lambda t: _HOST_RE.match(t),
    ]
    for name, text in pathological():
        assert values.byte_length(text) == len(text.encode()), name
        assert _HOST_RE.match(text) is None, name  # no host name is 4,000 characters long
        for check in checks:
            with contextlib.suppress(ValueError):  # a refusal is an answer; a hang or another error is not
                check(text)


def test_a_dense_run_of_keywords_still_masks_what_follows_them() -> None:
    """Past the dense threshold the redactor masks conservatively rather than reading every
    keyword's sentence: a passphrase among many keywords is still masked."""
    text = "pw " * 40 + "the wifi password is Sommer2024! " + "key " * 40
    assert "Sommer2024" not in scrub_text(text)
    masked, vault = redact(text)
    assert "Sommer2024" not in masked and "Sommer2024!" in vault.values()
@pytest.fixture
def chat_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from brain.service import ChatService
    from tests.api.conftest import make_api
    from tests.conftest import build_test_runtime, make_db_url

    url, cleanup = make_db_url("sqlite", tmp_path_factory.mktemp("redact-read"))
    rt = build_test_runtime(url, homes=6)
    a = make_api(rt, "sqlite", chat_factory=lambda runtime: ChatService(runtime, planner="offline"))
    try:
        yield a
    finally:
        a.client.close()
        rt.close()
        cleanup()


def test_reading_a_thread_back_does_not_scrub_it_again(chat_api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored chat text was scrubbed when written; the read API returns it as stored, so a long
    thread costs a read, not a redaction per event per read."""
    from tests.api.conftest import pick

    dev = pick(chat_api)["id"]
    r = chat_api.post("/api/chat/threads", json={"device_id": dev, "title": "wifi"})
    assert r.status_code == 201, r.text
    tid = r.json()["thread_id"]
    sent = chat_api.post(f"/api/chat/threads/{tid}/messages",
                         json={"text": "change the Wi-Fi password to Sommer2024! please"})
    assert sent.status_code == 200, sent.text
    assert "Sommer2024" not in sent.text

    calls: list[str] = []
    import core.redact

    real = core.redact.find_secrets
    def counting(text: str) -> list[tuple[int, int, str]]:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(core.redact, "find_secrets", counting)
    got = chat_api.get(f"/api/chat/threads/{tid}")
    assert got.status_code == 200, got.text
    assert "Sommer2024" not in got.text and "[secret" in got.text
    listed = chat_api.get("/api/chat/threads")
    assert listed.status_code == 200
    assert calls == []
