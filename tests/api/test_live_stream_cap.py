"""A per-person cap on live event streams (issue 45): 2,000 streams from two tokens were all accepted.

Against a real ``gateward run`` (streams are connections held open; an in-process client would not
hold them) with ``GATEWARD_LIVE_STREAMS_PER_PERSON=3``: a person's fourth stream — from any token of
theirs — is a 429 with the API's error shape and a ``Retry-After``; someone else is not held back by
it; a stream that closes frees its slot; and the API answers throughout.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from testing.servers import GatewardRun
from tests.conftest import build_test_runtime

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CAP = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewardRun, dict[str, str]]]:
    from core.users import issue_token

    home = tmp_path_factory.mktemp("stream-cap")
    url = f"sqlite:///{home / 'g.db'}"
    rt = build_test_runtime(url, homes=3)
    tokens = {"alice": issue_token(rt.store, "alice"), "alice-2": issue_token(rt.store, "alice"),
              "bob": issue_token(rt.store, "bob")}
    rt.close()
    with GatewardRun(home=home, database_url=url, homes=3, cwd=ROOT, args=["--no-worker"],
                     env={"GATEWARD_LIVE_STREAMS_PER_PERSON": str(CAP)}) as run:
        yield run, tokens


def open_stream(stack: contextlib.ExitStack, client: httpx.Client, token: str) -> httpx.Response:
    """A stream held open until ``stack`` closes (its ``hello`` read when it was accepted). The line
    iterator is kept with the stack: httpx closes a response whose iterator is dropped."""
    r = stack.enter_context(client.stream("GET", "/api/events", params={"max_s": 120},
                                          headers={"Authorization": f"Bearer {token}"}))
    if r.status_code == 200:
        lines = r.iter_lines()
        stack.callback(lambda: lines)  # held until the stack closes
        assert next(lines).startswith("event: hello")
    else:
        r.read()
    return r


def test_a_person_past_the_cap_is_refused_and_others_are_not(server: tuple[GatewardRun, dict[str, str]]) -> None:
    run, tokens = server
    with httpx.Client(base_url=run.base, timeout=30) as client, contextlib.ExitStack() as held:
        opened = [open_stream(held, client, tokens["alice" if i % 2 else "alice-2"]) for i in range(CAP)]
        assert [r.status_code for r in opened] == [200] * CAP
        for token in ("alice", "alice-2"):  # every token of hers counts: the cap is the person's
            refused = open_stream(held, client, tokens[token])
            assert refused.status_code == 429, refused.text
            body: dict[str, Any] = refused.json()
            assert body["error"] == "too_many_streams" and body["limit"] == CAP
            assert "GATEWARD_LIVE_STREAMS_PER_PERSON" in body["detail"] and "alice" in body["detail"]
            assert int(refused.headers["retry-after"]) > 0
        assert open_stream(held, client, tokens["bob"]).status_code == 200  # someone else's are their own
        me = client.get("/api/me", headers={"Authorization": f"Bearer {tokens['alice']}"})
        assert me.status_code == 200  # the rest of the API answers her as ever


def test_a_closed_stream_frees_its_slot(server: tuple[GatewardRun, dict[str, str]]) -> None:
    run, tokens = server
    with httpx.Client(base_url=run.base, timeout=30) as client, contextlib.ExitStack() as held:
        with contextlib.ExitStack() as first:
            assert open_stream(first, client, tokens["alice"]).status_code == 200
            for _ in range(CAP - 1):
                assert open_stream(held, client, tokens["alice"]).status_code == 200
            assert open_stream(held, client, tokens["alice"]).status_code == 429
        # The closed stream's loop notices the disconnect within its poll and gives the slot back.
        status = 429
        for _ in range(100):
            with contextlib.ExitStack() as probe:
                status = open_stream(probe, client, tokens["alice"]).status_code
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200
