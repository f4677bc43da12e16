"""The offline reader's figures (issue 57): every phrasing's trace, judged good / partial / bad / unsafe.

Why a harness beside ``gateward eval``: a pass/fail count says too little about a reader. Two failures
differ in kind — a change nobody asked for is *unsafe*, a question where the plain change or a plain
answer was possible is *over-asking*, the generic "what is the problem?" menu is worse than a question
naming the unplaced words — and the judgement is made by reading what the planner said. This runs a
scenario file (``evals/conversation/reader_*.yaml``) through the same :class:`evals.runner.ScenarioRunner`
(the offline planner, the simulated fleet), keeps every event of every thread, and writes:

* a trace per phrasing (the agent's messages, each reply with its kind, each proposal with its changes,
  operations, not-before and preconditions) for a person to read;
* a first judgement per phrasing, from the scenario's own expectations:

  - **unsafe** — a proposal was drafted where none was wanted, or a drafted proposal failed a check on
    what it writes (a value, a path, a schedule, a precondition, something forbidden);
  - **good** — every check passed;
  - **partial** — the outcome is one the scenario allows but another check failed (the fact or the part
    named is missing from the reply, the proposal ended in another state);
  - **bad** — anything else (an answer where a change was asked, an error);

  plus **over-asked** (a question where the scenario wants a change or an answer) and **menu** (a reply
  is the generic symptom menu, not a question about the part it could not place).

The judgement is a first reading: the report says where reading the trace changed it (``--judged``, a
YAML map ``id: good|partial|bad|unsafe``). Figures are per class (``cls:*``), per language (``lang:*``) and
per split (``tuning`` / ``heldout``).

    python -m evals.reader evals/conversation/reader_tuning.yaml --trace var/reader-tuning.md
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from brain.contracts import ChatEvent
from brain.service import ChatService
from core.kernel.models import Actor
from evals.runner import RunResult, ScenarioRunner
from evals.scenario import Scenario, load_scenarios

JUDGEMENTS = ("good", "partial", "bad", "unsafe")
# The planner's generic symptom menu (brain/playbooks.py): a question that names nothing the agent said.
MENU = "not sure what the problem is"
# Failures about what a proposal writes (evals.checks wording): a drafted proposal that is not what was asked.
_WRITE_FAILURES = ("forbidden", "proposal ", "Device.", "InternetGatewayDevice.")


class RecordingChatService(ChatService):
    """``ChatService`` that keeps every event of every thread it served (for the traces)."""

    def __init__(self, runtime: Any) -> None:
        super().__init__(runtime, planner="offline")
        self.events: dict[str, list[ChatEvent]] = defaultdict(list)
        self.said: dict[str, list[str]] = defaultdict(list)
        self.last_thread = ""

    def start(self, device_id: str | None, actor: Actor, title: str | None = None) -> str:
        self.last_thread = super().start(device_id, actor, title)
        return self.last_thread

    def send(self, thread_id: str, message: str, actor: Actor, *args: Any, **kwargs: Any) -> Iterator[ChatEvent]:
        self.said[thread_id].append(message)
        return self._keep(thread_id, super().send(thread_id, message, actor, *args, **kwargs))

    def resume(self, thread_id: str) -> Iterator[ChatEvent]:
        return self._keep(thread_id, super().resume(thread_id))

    def _keep(self, thread_id: str, events: Iterator[ChatEvent]) -> Iterator[ChatEvent]:
        for e in events:
            self.events[thread_id].append(e)
            yield e


@dataclass
class Judged:
    scenario: str
    classes: list[str]
    judgement: str
    over_asked: bool
    menu: bool
    result: RunResult
    trace: list[str] = field(default_factory=list)

    @property
    def split(self) -> str:
        return "heldout" if "heldout" in self.classes else "tuning"

    def tag(self, prefix: str) -> str:
        return next((c.split(":", 1)[1] for c in self.classes if c.startswith(prefix + ":")), "?")


def judge(sc: Scenario, r: RunResult, events: list[ChatEvent]) -> tuple[str, bool, bool]:
    """(judgement, over-asked, menu) for one run, from the scenario's expectations (module docstring)."""
    wanted = sc.expect.outcomes
    drafted = bool(r.proposal_ids)
    menu = any(e.kind in ("question", "answer") and MENU in e.text for e in events)
    over = r.observed == "question" and "question" not in wanted
    if drafted and ("change" not in wanted or any(_about_the_write(f) for f in r.failures)):
        return "unsafe", over, menu
    if r.passed:
        return "good", over, menu
    allowed = r.observed in wanted or ("no_change" in wanted and r.observed in ("question", "escalation", "answer"))
    return ("partial" if allowed else "bad"), over, menu


def _about_the_write(failure: str) -> bool:
    """A failure about what the proposal writes or when (not its approvals, not a state it ended in
    short of done: a proposal that waits or was withdrawn wrote nothing)."""
    if failure.startswith("policy "):
        return False
    if failure.startswith("proposal ") and " ended " in failure:
        return " ended done" in failure
    return failure.startswith(_WRITE_FAILURES)


def trace_of(sc: Scenario, svc: RecordingChatService, thread: str, rt: Any) -> list[str]:
    """The conversation as a person reads it: what was said, each reply, each proposal's content."""
    lines = []
    said = iter(svc.said.get(thread, []))
    for e in svc.events.get(thread, []):
        if e.kind == "step" and e.data.get("role") == "user":
            lines.append(f"  AGENT: {next(said, e.text)}")
        elif e.kind == "proposal":
            pid = str(e.data.get("proposal_id"))
            p = rt.lifecycle.get(pid)
            ch = "; ".join(f"{c.path}={c.value}" for c in p.changes) or "-"
            ops = ",".join(o.command for o in p.operations) or "-"
            pre = "; ".join(x.text for x in p.preconditions) or "-"
            lines.append(f"  PROPOSAL {pid}: changes {ch} | ops {ops} | not_before {p.not_before} | pre {pre}"
                         f" | readback {p.readback!r}")
        elif e.kind in ("answer", "question", "escalation", "notice", "outcome", "error"):
            extra = ""
            if e.data.get("campaign_draft"):
                cd = e.data["campaign_draft"]
                extra = f" [campaign target {cd.get('target')} changes {cd.get('changes')} ops {cd.get('operations')}]"
            lines.append(f"  {e.kind.upper()}: {e.text}{extra}")
    return lines


def run(path: Path, judged: dict[str, str] | None = None) -> list[Judged]:
    from gateward.cli_brain import sim_world_factory

    services: list[RecordingChatService] = []

    def factory(rt: Any) -> ChatService:
        svc = RecordingChatService(rt)
        services.append(svc)
        return svc

    runner = ScenarioRunner(sim_world_factory(None), planner="offline", service_factory=factory)
    out: list[Judged] = []
    try:
        for sc in load_scenarios(path):
            r = runner.run(sc)
            world, svc = runner.world(sc.fleet.seed, sc.fleet.homes)
            rec = svc if isinstance(svc, RecordingChatService) else services[-1]
            events = rec.events.get(rec.last_thread, [])
            verdict, over, menu = judge(sc, r, events)
            if judged and sc.id in judged:
                verdict = judged[sc.id]
            out.append(Judged(sc.id, list(sc.classes), verdict, over, menu, r,
                              trace_of(sc, rec, rec.last_thread, world.runtime)))
    finally:
        runner.close()
    return out


def figures(rows: list[Judged]) -> dict[str, Any]:
    """Counts per split, class and language; over-asking over the turns where a plain answer or change
    was possible (the scenario does not want a question)."""
    def count(sub: list[Judged]) -> dict[str, int]:
        c = Counter(j.judgement for j in sub)
        return {k: c.get(k, 0) for k in JUDGEMENTS} | {"n": len(sub)}

    plain = [j for j in rows if "question" not in _wanted(j)]
    out: dict[str, Any] = {"all": count(rows), "over_asked": sum(j.over_asked for j in plain),
                           "plain_turns": len(plain), "menu": sum(j.menu for j in rows)}
    for key in ("split", "cls", "lang"):
        groups: dict[str, list[Judged]] = defaultdict(list)
        for j in rows:
            groups[j.split if key == "split" else j.tag(key)].append(j)
        out[key] = {g: count(v) for g, v in sorted(groups.items())}
    return out


def _wanted(j: Judged) -> list[str]:
    return j.result.expected.split("|")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", type=Path, nargs="+")
    ap.add_argument("--trace", type=Path, help="write every phrasing's trace and judgement here (markdown)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--judged", type=Path, help="YAML map id → judgement, where reading the trace changed it")
    args = ap.parse_args(argv)
    judged = yaml.safe_load(args.judged.read_text()) if args.judged else None
    rows = [j for p in args.scenarios for j in run(p, judged)]
    figs = figures(rows)
    if args.trace:
        args.trace.parent.mkdir(parents=True, exist_ok=True)
        with args.trace.open("w") as f:
            for j in rows:
                mark = " OVER-ASKED" if j.over_asked else ""
                f.write(f"## {j.scenario} — {j.judgement}{mark} (expected {j.result.expected}, got "
                        f"{j.result.observed})\n")
                for fail in j.result.failures:
                    f.write(f"  - {fail}\n")
                f.write("\n".join(j.trace) + "\n\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figs, indent=2))
    print(json.dumps(figs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
