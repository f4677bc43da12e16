"""A proposal with per-target values through the API and the CLI (issue 13, item 4): created with
each change addressed to its device, shown as a per-device table of values, applied with each
device's own value; a value for a device that is not a target is a 422 naming it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, pick, radio_of

NON_DFS = (36, 40, 44, 48)


def _per_target_body(api: Api, n: int = 2) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """A body giving each of ``n`` fresh devices its own 5 GHz channel; {device: (radio, channel)}."""
    plan: dict[str, tuple[int, int]] = {}
    for _ in range(n):
        dev = pick(api)["id"]
        idx, cur = radio_of(api, dev, "5GHz")
        channel = next(c for c in NON_DFS if c != cur and c not in {ch for _, ch in plan.values()})
        plan[dev] = (idx, channel)
    changes = [c for dev, (idx, ch) in plan.items() for c in (
        {"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": False, "target": dev},
        {"path": f"Device.WiFi.Radio.{idx}.Channel", "value": ch, "target": dev})]
    return {"intent": "each home its own channel", "targets": list(plan), "changes": changes,
            "rationale": "joint plan"}, plan


def _approve(api: Api, d: dict[str, Any]) -> dict[str, Any]:
    for user in ("carol", "bob"):
        if d["proposal"]["state"] != "awaiting_approval":
            break
        r = api.post(f"/api/proposals/{d['proposal']['id']}/approve", {"hash": d["proposal"]["hash"]}, user=user)
        if r.status_code == 200:
            d = r.json()
    return d


def test_per_device_values_are_shown_and_each_device_gets_its_own(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    body, plan = _per_target_body(api)
    r = api.post("/api/proposals", body)
    assert r.status_code == 201, r.text
    d = r.json()
    table = {row["device_id"]: {c["path"]: c["value"] for c in row["changes"]} for row in d["proposal"]["per_device"]}
    assert table == {dev: {f"Device.WiFi.Radio.{idx}.AutoChannelEnable": False,
                           f"Device.WiFi.Radio.{idx}.Channel": ch} for dev, (idx, ch) in plan.items()}
    after = {dev["device_id"]: {ln["path"]: ln["after"] for ln in dev["lines"]} for dev in d["preview"]["devices"]}
    assert {dev: after[dev][f"Device.WiFi.Radio.{idx}.Channel"] for dev, (idx, _) in plan.items()} == \
        {dev: ch for dev, (_, ch) in plan.items()}
    # The CLI's `gateward show` prints the same per-device table.
    from typer.testing import CliRunner

    from gateward import cli

    monkeypatch.setattr(cli, "_runtime", api.rt)
    monkeypatch.setattr(cli.console, "width", 250)  # the console measured its width when cli was imported
    shown = CliRunner().invoke(cli.app, ["show", d["proposal"]["id"]])
    assert shown.exit_code == 0, shown.output
    assert "values per device" in shown.output
    for dev, (idx, ch) in plan.items():
        assert any(dev in line and f"Radio.{idx}.Channel" in line and f" {ch} " in f" {line} "
                   for line in shown.output.splitlines()), shown.output
    d = _approve(api, d)
    assert d["proposal"]["state"] == "approved", d["proposal"]["error"]
    r = api.post(f"/api/proposals/{d['proposal']['id']}/apply")
    assert r.status_code == 200 and r.json()["proposal"]["state"] == "done", r.text
    assert {dev: radio_of(api, dev, "5GHz")[1] for dev in plan} == {dev: ch for dev, (_, ch) in plan.items()}


def test_a_value_for_a_device_that_is_not_a_target_is_refused_by_name(api: Api) -> None:
    body, plan = _per_target_body(api)
    stray = next(iter(plan))
    body["targets"] = [t for t in body["targets"] if t != stray]
    r = api.post("/api/proposals", body)
    assert r.status_code == 422, r.text
    assert stray in r.text and "not a target" in r.text
    ordinary = api.get("/api/proposals", params={"device": stray}).json()["items"]
    assert not [p for p in ordinary if p["intent"] == body["intent"]]  # nothing was stored
