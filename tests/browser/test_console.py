"""The console, driven as people use it: a support agent chats and gets a proposal, an approver
reviews and approves it, the agent applies it and sees it applied and verified; then the
device page and the audit view. Screenshots of each step are saved as test artefacts."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import Browser, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSPHRASE = "Harbour-Lantern-7731"
PLANNER = importlib.util.find_spec("brain.service") is not None


def _device(server: Server) -> str:
    with server.api("alice") as c:
        items = c.get("/api/devices", params={"limit": 200, "presence": "true", "region": "GB"}).json()["items"]
    for d in items:
        if d["root"] == "Device." and not d["busy"] and (d["presence"] or {}).get("reachable"):
            return str(d["id"])
    raise AssertionError("no reachable TR-181 device in the test fleet")


def _state(el: Any) -> str:
    return str(el.get_attribute("data-state"))


def test_agent_chats_approver_approves_change_is_applied_and_verified(
        server: Server, browser: Callable[[str, str], Browser]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    dev = _device(server)
    agent = browser("alice", "1-agent")
    agent.sign_in(f"#/support/{dev}")
    agent.wait_css("[data-testid=device-panel] h2", lambda el: el.text == dev)

    # 1. the support agent describes the call; the planner's steps stream in; a proposal appears
    if PLANNER:
        # the passphrase goes in the secret field beside the chat, never in the chat text (issue 54)
        agent.wait_css("[data-testid=chat-secret]").send_keys(PASSPHRASE)
        box = agent.wait_css("[data-testid=chat-input]")
        box.send_keys("The subscriber wants a new Wi-Fi passphrase")
        box.send_keys(Keys.ENTER)
        # the planner's steps are folded under "how I checked" (issue 39)
        agent.wait_css("[data-testid=how-checked] summary", lambda el: "step" in el.text, timeout=60)
    else:  # the planner is not in this build: the same gates through the hand-made proposal form
        agent.driver.find_element(By.CSS_SELECTOR, "[data-testid=device-panel] details summary").click()
        agent.wait_css("[data-testid=manual-path]").send_keys("Device.WiFi.AccessPoint.1.Security.KeyPassphrase")
        agent.driver.find_element(By.CSS_SELECTOR, "[data-testid=manual-value]").send_keys(PASSPHRASE)
        agent.driver.find_element(By.CSS_SELECTOR, "[data-testid=manual-intent]").send_keys("new passphrase")
        agent.driver.find_element(By.CSS_SELECTOR, "[data-testid=manual-submit]").click()
    card = agent.wait_css("[data-testid=proposal-card] [data-testid=proposal]", timeout=90)
    pid = card.get_attribute("data-proposal-id")
    agent.wait_css(f"[data-proposal-id='{pid}']", lambda el: _state(el) == "awaiting_approval")
    assert not agent.driver.find_elements(By.CSS_SELECTOR, "[data-testid=chat-error]"), "the planner reported an error"
    agent.shot("01-chat-proposal-pending")
    assert PASSPHRASE not in agent.driver.page_source

    # 2. the approver opens the queue, reads before → after, the verdict and the blast radius, approves
    approver = browser("bob", "2-approver")
    approver.sign_in("#/approvals")
    approver.click(f"[data-testid=queue-item][data-proposal-id='{pid}']")
    approver.wait_css(f"[data-testid=queue-detail] [data-proposal-id='{pid}'] [data-testid=diff-row]")
    verdict = approver.wait_css("[data-testid=queue-detail] [data-testid=verdict]")
    assert "Allowed once approved" in verdict.text and "approver" in verdict.text
    assert "1 device" in approver.text("[data-testid=queue-detail] [data-testid=blast-radius]")
    assert PASSPHRASE not in approver.driver.page_source
    approver.shot("02-approver-review")
    approver.wait_css("[data-testid=review-comment]").send_keys("caller verified on the phone")
    approver.click("[data-testid=approve]")
    approver.wait_css(f"[data-testid=queue-detail] [data-proposal-id='{pid}']", lambda el: _state(el) == "approved")
    toast = approver.wait_css("#toasts .toast", lambda el: pid in el.text)  # words, not "approved: approved"
    assert toast.text == f"you approved {pid}: it is ready to apply", toast.text
    approver.shot("03-approver-approved")

    # 3. the agent's card follows the state by itself; the agent applies; it is applied and verified
    agent.wait_css(f"[data-proposal-id='{pid}']", lambda el: _state(el) == "approved", timeout=30)
    agent.click(f"[data-proposal-id='{pid}'] [data-testid=apply]")
    # read the card in one go: the change feed may re-render it between two WebDriver calls
    done = agent.wait(lambda d: d.execute_script(
        "const el = document.querySelector(`[data-proposal-id='${arguments[0]}'][data-state=done]`);"
        "return el && {text: el.innerText, statuses: [...el.querySelectorAll("
        "'[data-testid=executions] [data-testid=state-badge]')].map((b) => b.dataset.state)};", pid),
        60, what="the card to say done")
    assert "applied and verified" in done["text"]
    assert done["statuses"] and set(done["statuses"]) == {"verified"}
    agent.shot("04-applied-and-verified")
    assert PASSPHRASE not in agent.driver.page_source
    with server.api("erin") as c:
        assert c.get(f"/api/proposals/{pid}").json()["proposal"]["state"] == "done"

    # 4. the device page and the audit trail tell the same story
    agent.go(f"#/devices/{dev}")
    agent.wait_css("[data-testid=device-title]", lambda el: el.text == dev)
    agent.wait_css("[data-testid=chart]")
    agent.wait_css("[data-testid=topology]")
    agent.shot("05-device-page")
    auditor = browser("erin", "3-auditor")
    auditor.sign_in("#/audit")
    auditor.wait_css("[data-testid=audit-proposal]").send_keys(pid)
    auditor.wait_css("[data-testid=audit-row][data-action='proposal.done']")
    auditor.click("[data-testid=audit-verify]")
    auditor.wait_css("[data-testid=audit-verdict]", lambda el: "audit chain OK" in el.text)
    auditor.shot("06-audit-verified")
    for b in (agent, approver, auditor):
        assert not [e for e in b.console_errors() if "favicon" not in e and " 40" not in e], b.console_errors()


def test_approver_rejects_from_the_keyboard(server: Server, browser: Callable[[str, str], Browser]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    pids = []
    with server.api("alice") as c:
        devices = [d["id"] for d in c.get("/api/devices", params={"limit": 200, "region": "DE"}).json()["items"]
                   if d["root"] == "Device." and not d["busy"]][:2]
        for dev in devices:
            r = c.post("/api/proposals", json={"intent": f"new passphrase for {dev}", "targets": [dev], "changes": [
                {"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": PASSPHRASE}]})
            assert r.json()["proposal"]["state"] == "awaiting_approval", r.text
            pids.append(r.json()["proposal"]["id"])
    b = browser("carol", "4-keyboard")
    b.sign_in("#/approvals")
    first = b.wait_css("[data-testid=queue-item].selected")
    keys = ActionChains(b.driver)
    target = pids[0] if first.get_attribute("data-proposal-id") != pids[0] else pids[1]
    for _ in range(10):  # j moves down the queue until the target is selected
        if b.driver.find_elements("css selector", f"[data-testid=queue-item].selected[data-proposal-id='{target}']"):
            break
        b.driver.find_element("css selector", "body").click()
        keys.send_keys("j").perform()
        b.wait_css("[data-testid=queue-detail] [data-testid=proposal]")
    b.wait_css(f"[data-testid=queue-detail] [data-proposal-id='{target}']")
    b.driver.find_element("css selector", "body").click()
    keys.send_keys("r").perform()
    box = b.wait_css("[data-testid=review-comment]", lambda el: el == b.driver.switch_to.active_element)
    box.send_keys("caller could not be verified")
    keys.key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
    b.wait_css(f"[data-testid=queue-detail] [data-proposal-id='{target}']", lambda el: _state(el) == "rejected")
    b.shot("rejected-by-keyboard")
    with server.api("carol") as c:
        assert c.get(f"/api/proposals/{target}").json()["proposal"]["state"] == "rejected"
