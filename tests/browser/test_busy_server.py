"""A busy server sheds a request before doing any work (503 ``overloaded``, 429, with Retry-After).
The console sends a shed read, or a create that carries its Idempotency-Key, again by itself after
that wait: the person's click on "Propose" makes exactly one proposal, not an error toast and not
two proposals. Headless Chromium against a real ``gateward run`` with one device slot, held by a
live read of a device the simulator makes slow."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testing.servers import GatewardRun
from tests.browser.conftest import ROOT, USERS, Browser, Server, browsers_on
from tests.conftest import build_test_runtime

pytestmark = [pytest.mark.browser, pytest.mark.slow]

POWER = "Device.WiFi.Radio.1.TransmitPower"
RETRY_AFTER_S = 5  # the console tries a shed create 4 more times: 20 s in all
HOLD_S = 12  # how long the slow device's live read keeps the one device slot


@pytest.fixture(scope="module")
def busy_server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    from core.users import issue_token

    home = tmp_path_factory.mktemp("busy-home")
    url = f"sqlite:///{home / 'gateward.db'}"
    rt = build_test_runtime(url, homes=12)
    tokens = {u: issue_token(rt.store, u) for u in USERS}
    rt.close()
    env = {"GATEWARD_API_MAX_DEVICE_OPS": "1", "GATEWARD_API_QUEUE_WAIT_S": "0",
           "GATEWARD_API_RETRY_AFTER_S": str(RETRY_AFTER_S)}
    with GatewardRun(home=home, database_url=url, homes=12, cwd=ROOT, env=env) as run:
        yield Server(base=run.base, tokens=tokens, proc=run.proc, log=run.log), url


@pytest.fixture
def browser(busy_server: tuple[Server, str]) -> Iterator[Callable[[str, str], Browser]]:
    yield from browsers_on(busy_server[0])


def _two_homes(server: Server) -> tuple[str, str]:
    """Two reachable TR-181 gateways with nothing in flight."""
    with server.api("alice") as c:
        items = c.get("/api/devices", params={"limit": 50, "presence": "true"}).json()["items"]
    ok = [d["id"] for d in items
          if d["root"] == "Device." and not d["busy"] and (d["presence"] or {}).get("reachable")]
    assert len(ok) >= 2, items
    return ok[0], ok[1]


def _other_power(server: Server, dev: str) -> int:
    """A transmit power the device supports (and policy's 25..100 allows) other than its own."""
    with server.api("alice") as c:
        params = c.get(f"/api/devices/{dev}/parameters", params={"prefix": POWER}).json()["parameters"]
    values = {p["path"]: p["value"] for p in params}
    now = int(values[POWER])
    ok = [int(v) for v in str(values[POWER + "Supported"]).split(",") if 25 <= int(v) <= 100 and int(v) != now]
    assert ok, values
    return ok[0]


def _creates(server: Server) -> list[int]:
    """The statuses of the answers to POST /api/proposals, from the server's request log."""
    out = []
    for line in server.log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        rec: dict[str, Any] = json.loads(line)
        if rec.get("logger") == "gateward.request" and rec.get("method") == "POST" \
                and rec.get("path") == "/api/proposals":
            out.append(int(rec["status"]))
    return out


def test_a_create_the_busy_server_shed_is_sent_again_and_makes_one_proposal(
        busy_server: tuple[Server, str], browser: Callable[[str, str], Browser]) -> None:
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime
    from gateward.seed import twin_for

    server, url = busy_server
    dev, slow = _two_homes(server)
    value = _other_power(server, dev)
    intent = f"caller's Wi-Fi is weak {uuid.uuid4().hex[:8]}"
    agent = browser("alice", "busy-1-agent")
    agent.sign_in(f"#/support/{dev}")
    agent.wait_css("[data-testid=device-panel] h2", lambda el: el.text == dev)
    agent.click("[data-testid=device-panel] details summary")
    agent.wait_css("[data-testid=manual-path]").send_keys(POWER)
    agent.driver.find_element("css selector", "[data-testid=manual-value]").send_keys(str(value))
    agent.driver.find_element("css selector", "[data-testid=manual-intent]").send_keys(intent)

    # The one device slot is taken: bob reads the slow device live, and carol is shed meanwhile.
    rt = build_runtime(Settings(database_url=url))
    try:
        twin_for(rt).inject(slow, "slow", seconds=HOLD_S)
    finally:
        rt.close()
    answered: list[int] = []

    def hold() -> None:  # until the read gets the slot (the console's own reads may have it now)
        with server.api("bob") as c:
            while (status := c.get(f"/api/devices/{slow}/parameters",
                                   params={"live": "true", "prefix": POWER}).status_code) == 503:
                time.sleep(0.1)
            answered.append(status)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    with server.api("carol") as c:
        while c.get(f"/api/devices/{dev}", params={"presence": "true"}).status_code != 503 or answered:
            assert not answered, "the slow device's read ended before the slot was seen held"
            time.sleep(0.2)
    before = len(_creates(server))
    agent.driver.find_element("css selector", "[data-testid=manual-submit]").click()

    pid = agent.wait(lambda d: d.execute_script(
        "const cards = document.querySelectorAll('[data-testid=proposal-card] [data-testid=proposal]');"
        "const last = cards[cards.length - 1];"
        "return last && last.dataset.proposalId;"), 90, what="the proposal's card")
    holder.join(timeout=60)
    creates = _creates(server)[before:]
    assert creates[0] == 503 and creates[-1] in (200, 201) and creates.count(201) + creates.count(200) == 1, creates
    with server.api("alice") as c:
        mine = [p for p in c.get("/api/proposals", params={"limit": 200}).json()["items"] if p["intent"] == intent]
    assert [p["id"] for p in mine] == [pid], mine
    assert not [t for t in agent.toasts_seen() if "busy" in t or "overloaded" in t], agent.toasts_seen()
    agent.shot("01-proposed-through-a-busy-server")
