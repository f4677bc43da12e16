"""The console's proposal view of a per-target proposal (issue 13, item 4): an approver sees a
per-device table of values — each device with its own channel — not "the same change on N
devices". Screenshots are saved as test artefacts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.conftest import Browser, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NON_DFS = (36, 40, 44, 48)


def _five_ghz(server: Server, dev: str) -> tuple[int, int]:
    with server.api("alice") as c:
        res = c.get(f"/api/devices/{dev}/parameters", params={"live": "true", "prefix": "Device.WiFi.Radio."}).json()
    values = {p["path"]: p["value"] for p in res["live"]}
    idx = next(int(p.split(".")[3]) for p, v in values.items() if p.endswith(".OperatingFrequencyBand") and v == "5GHz")
    return idx, int(values[f"Device.WiFi.Radio.{idx}.Channel"])


def test_an_approver_sees_each_devices_own_value(server: Server, browser: Callable[[str, str], Browser]) -> None:
    with server.api("alice") as c:
        items = c.get("/api/devices", params={"limit": 200, "presence": "true"}).json()["items"]
    devs = [d["id"] for d in items if d["root"] == "Device." and not d["busy"]
            and (d["presence"] or {}).get("reachable")][:2]
    assert len(devs) == 2
    plan: dict[str, tuple[int, int]] = {}
    for dev in devs:
        idx, cur = _five_ghz(server, dev)
        plan[dev] = (idx, next(ch for ch in NON_DFS if ch != cur and ch not in {c for _, c in plan.values()}))
    changes = [c for dev, (idx, ch) in plan.items() for c in (
        {"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": False, "target": dev},
        {"path": f"Device.WiFi.Radio.{idx}.Channel", "value": ch, "target": dev})]
    with server.api("alice") as c:
        r = c.post("/api/proposals", json={"intent": "each home its own channel", "targets": devs,
                                           "changes": changes, "rationale": "joint plan"})
    assert r.status_code == 201, r.text
    pid = r.json()["proposal"]["id"]
    b = browser("bob", "per-target")
    b.sign_in(f"#/approvals/{pid}")
    b.wait_css("[data-testid=per-device-values]")
    from selenium.webdriver.common.by import By

    def shown() -> dict[str, str]:
        out: dict[str, str] = {}
        for row in b.driver.find_elements(By.CSS_SELECTOR, "[data-testid=per-device-row]"):
            cells = row.find_elements(By.TAG_NAME, "td")
            if cells[1].text.endswith(".Channel"):
                out[row.get_attribute("data-device") or ""] = f"{cells[1].text}={cells[2].text}"
        return out

    b.wait(lambda d: len(shown()) == 2, 20, what="a channel row per device")
    assert shown() == {dev: f"Device.WiFi.Radio.{idx}.Channel={ch}" for dev, (idx, ch) in plan.items()}
    b.shot("01-per-device-values")
    assert not b.console_errors()
