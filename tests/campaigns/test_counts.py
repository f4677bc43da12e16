"""Ring counts tell what the devices are now: after an abort rolled the canary back, the ring
shows its devices rolled back — not a full green bar with "rolled back 0" — in the status the
console reads and in the CLI's status frame (issue 16)."""

from __future__ import annotations

import re
from typing import Any

from tests.campaigns.helpers import approved, drive, who, writes


def _aborted(crt: Any, svc: Any) -> tuple[dict[str, Any], int]:
    st = approved(crt, svc, promotion={"mode": "manual"})
    svc.start(st["id"], who(crt, "dave"))
    canary = drive(svc, st["id"])  # the canary runs, then waits for a person to promote it
    verified = canary["rings_detail"][0]["verified"]
    assert verified > 0 and canary["rings_detail"][0]["rolled_back"] == 0
    assert len(writes(crt, st["proposal"]["id"])) == verified
    svc.abort(st["id"], who(crt, "bob"), "wrong SSID policy")
    out = drive(svc, st["id"])
    assert out["state"] == "aborted" and out["proposal"]["state"] == "rolled_back"
    return out, verified


def test_aborted_campaign_rings_count_the_rolled_back_devices(crt: Any, svc: Any) -> None:
    out, verified = _aborted(crt, svc)
    canary = out["rings_detail"][0]
    assert canary["verified"] == 0, canary  # nothing holds the change any more
    assert canary["rolled_back"] == verified and canary["rollback_failed"] == 0
    assert canary["status"] == "rolled back"
    assert all(r["verified"] == 0 for r in out["rings_detail"])
    assert out["progress"].get("rolled_back") == verified  # the same story as the proposal's own progress
    listed = {c["id"]: c for c in svc.list()}
    assert listed[out["id"]]["state"] == "aborted"


def test_cli_status_frame_of_an_aborted_campaign(crt: Any, svc: Any) -> None:
    from gateward import cli_campaign

    out, verified = _aborted(crt, svc)
    with cli_campaign.console.capture() as cap:
        cli_campaign._render_status(out)
    canary_line = next(line for line in cap.get().splitlines() if line.startswith("ring 1 (canary)"))
    assert f"✓0 ✗0 ↺{verified}" in canary_line and "rolled back" in canary_line, canary_line
    assert f"0/{out['rings_detail'][0]['size']}" in canary_line  # the bar is empty, not full green


def test_watch_redraws_one_frame_in_place_on_a_terminal(crt: Any, svc: Any, monkeypatch: Any) -> None:
    """``campaign status --watch`` on a terminal redraws (cursor up + erase) instead of printing a
    new frame under the last one; it stops by itself when the campaign is finished."""
    import io

    from rich.console import Console

    from gateward import cli_campaign

    out, _verified = _aborted(crt, svc)
    frames = iter([{**out, "terminal": False, "state": "running"}, out])
    term = Console(file=io.StringIO(), force_terminal=True, width=120)
    monkeypatch.setattr(cli_campaign, "console", term)
    monkeypatch.setattr(cli_campaign.time, "sleep", lambda _s: None)

    class Status:
        def status(self, _cid: str) -> dict[str, Any]:
            return next(frames)

    cli_campaign._watch(Status(), out["id"])
    text = term.file.getvalue()  # type: ignore[attr-defined]
    # Counted in the text without its styles: rich's highlighter may colour part of an id that
    # reads as a number ("c-922216e18877"), splitting it with escape codes.
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert plain.count(out["id"]) >= 2  # two frames were drawn …
    assert "\x1b[1A" in text and "\x1b[2K" in text  # … the second over the first
    assert "────" not in text  # no separator rule between stacked frames
