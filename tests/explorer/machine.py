"""The stateful explorer: random interleavings of every way a write can start, with the invariants of
docs/safety.md §8 checked against the devices' own record after every step (``tests.explorer.oracle``).

Ways in it drives: the API (TestClient: propose, edit, approve, apply), the CLI (``gateward.cli``'s
commands in-process), chat turns (the offline planner: requests, scheduled requests, questions,
"apply"), approvals by several people, edits (a campaign's proposal included), campaigns (create,
start, pause, resume, abort, worker steps), applies, ``recover``, the worker's scheduler round on a
clock the machine owns, device faults and offline devices, and process kills at failpoints
(``core.failpoints`` ``raise``) followed by recovery.

The fleet is the 60-home simulated fleet (a campaign of every home reaches the pack's rollout plans,
so policy demands rings), copied fresh for every example. The machine's clock starts at 02:30 UTC,
inside the DE change window, and moves only when a rule moves it.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func, select

from core.failpoints import Crash, arm, disarm
from core.kernel.errors import GatewardError
from core.kernel.models import Change, Precondition, ProposalDraft, ProposalState, Root
from core.store.schema import ProposalRow
from tests.explorer.oracle import Oracle, Violation

S = ProposalState
ADVERTISE = "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"
INFORM = "Device.ManagementServer.PeriodicInformInterval"
START = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)  # a Monday, inside the DE window (01:00-05:00 local)
KILL_POINTS = ("lifecycle.after_backup", "lifecycle.before_write", "lifecycle.after_write", "lifecycle.after_apply")
BATCH_KILL_POINTS = ("staged.after_write", "staged.before_release")

#: chat messages and whether each must draft nothing (the oracle's own reading: a question, a report that something
#: works, a change taken back, another subscriber's gateway — each drafted a write once, found by hand and fixed). A
#: symptom ("das 5-GHz-WLAN fällt ständig aus", a neighbour on the same channel) may draft a fix, as any diagnosis:
#: only the invariants judge what it drafts.
CHAT: tuple[tuple[str, bool], ...] = (
    ("hide the wifi name of the main network", False),
    ("please stop broadcasting the network name", False),
    ("show the network name again", False),
    ("is the network name hidden right now?", True),
    ("is the 6 GHz radio on?", True),
    ("what channel is the 5 GHz radio on?", True),
    ("does it broadcast its SSID?", True),
    ("hide the SSID tonight at 3", False),
    ("hide the SSID at 2 if nobody is connected then", False),
    ("apply", False),
    ("yes go", False),
    ("no, leave it as it is", False),
    ("why is the wifi slow in the evening?", True),
    ("could the 5 GHz go on channel 40 instead, or would that clash with the neighbours?", True),
    ("das 5-GHz-WLAN fällt ständig aus", False),
    ("the restart at 20:00 worked, the wifi is fine now", True),
    ("hide the SSID, no wait, leave it", True),
    ("reboot the neighbour's router", True),
    ("the neighbour's router is on channel 6 too", False),
    ("now the 5 GHz one", False),
    # round four: a check whether is a question; a value after a question is the asked setting's (a write that
    # starts from the thread's last answer); an exclusion's band is no target; two German requests are two
    ("Check mal ob der 5er auf Kanal 36 läuft", True),
    ("vale, ponlo en el 11", False),
    ("ok put it on 44", False),
    ("turn off the 5 GHz, not the guest network on 2.4 GHz", False),
    ('Gäste-WLAN einschalten und das Haupt-WLAN in "Familie Brandt" umbenennen', False),
)


#: symptoms among the chat turns: a fix may be drafted, never a switch-off
SYMPTOMS = frozenset({"das 5-GHz-WLAN fällt ständig aus"})


def _pid(value: str) -> str:
    """A proposal's id from a bundle value: a proposal's, or a campaign's ``cid|pid``."""
    return value.rsplit("|", 1)[-1]


class Explorer(RuleBasedStateMachine):
    """One example: a fresh copy of the fleet, a clock, and the oracle watching the devices.
    ``totals`` adds up what every example did (steps, writes the devices took, proposals, outcomes)
    for the run's summary line."""

    totals: ClassVar[Counter[str]] = Counter()
    found: ClassVar[dict[str, str]] = {}  # violation kind → the first case seen, over the whole run

    proposals = Bundle("proposals")
    campaigns = Bundle("campaigns")

    template: str = ""  # the seeded fleet's SQLite file, copied per example
    engine: Any = None  # the policy engine, loaded once per session
    violations: list[Violation]
    steps: int

    # ------------------------------------------------------------------ set-up
    @initialize()
    def start(self) -> None:
        import sqlite3

        from core.kernel.config import Settings
        from gateward.runtime import build_runtime

        self.tmp = Path(tempfile.mkdtemp(prefix="gw-explorer-"))
        db = self.tmp / "gateward.db"
        with sqlite3.connect(self.template) as src, sqlite3.connect(db) as dst:
            src.backup(dst)  # the WAL's pages too (a plain file copy would lose them)
        self.rt = build_runtime(Settings(database_url=f"sqlite:///{db}"), policy=self.engine)
        self.now = START
        self.rt.lifecycle.clock = lambda: self.now
        self.oracle = Oracle(self.rt)
        self.violations = []
        self.steps = 0
        self.trail: list[str] = []  # every step of this example, with its arguments and the clock
        self.first_trail: list[str] = []  # the steps up to the first violation
        self.devices = self._devices()
        self.threads: dict[str, str] = {}
        self._client: Any = None
        self._tokens: dict[str, dict[str, str]] = {}

    def teardown(self) -> None:
        disarm()
        if hasattr(self, "oracle"):
            self._tally()
        if getattr(self, "_client", None) is not None:
            self._client.__exit__(None, None, None)
        if getattr(self, "rt", None) is not None:
            self.rt.close()

    def _devices(self) -> list[Any]:
        from core.store import repo

        with self.rt.store.read() as s:
            devs, _ = repo.list_devices(s, limit=1000)
        de = [d for d in devs if d.region == "DE" and d.root is Root.DEVICE and str(d.protocol) == "cwmp"]
        return de[:6]

    def client(self) -> Any:
        if self._client is None:
            from fastapi.testclient import TestClient

            from api.app import create_app
            from core.users import issue_token

            self._tokens = {u: {"Authorization": f"Bearer {issue_token(self.rt.store, u)}"}
                            for u in ("alice", "bob", "carol", "dave")}
            self._client = TestClient(create_app(self.rt), raise_server_exceptions=False).__enter__()
        return self._client

    def _http(self, method: str, url: str, person: str, **kw: Any) -> Any:
        """One request as ``person``; a refusal (4xx) is counted like a refusal in-process, a 500 is a violation."""
        client = self.client()
        r = getattr(client, method)(url, headers=self._tokens[person], **kw)
        if r.status_code >= 500:
            self.violations.append(Violation("server_error", f"{method.upper()} {url}: {r.status_code} {r.text[:200]}"))
        elif r.status_code >= 400:
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            type(self).totals[f"refused {body.get('error', r.status_code)}"] += 1
            if os.environ.get("GATEWARD_EXPLORER_VERBOSE"):
                print(f"refused ({r.status_code} {body.get('error')}): {str(body.get('detail'))[:200]}")
        return r

    def who(self, name: str) -> Any:
        from core.users import get_actor

        return get_actor(self.rt.store, name)

    # ------------------------------------------------------------------ one step, watched
    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Run a rule's action; then every write it caused is checked, refusals are fine."""
        before = self.oracle.campaigns()
        self.steps += 1
        frame = sys._getframe(2)  # the rule (1 is contextlib's __enter__)
        code = frame.f_code
        args = {k: frame.f_locals.get(k) for k in code.co_varnames[1:code.co_argcount]}
        self.trail.append(f"{self.now:%d %H:%M} {code.co_name}({', '.join(f'{k}={v!r}' for k, v in args.items())})")
        seen = len(self.violations)
        try:
            yield
        except GatewardError as exc:  # a refusal: what every gate is for
            type(self).totals[f"refused {exc.code}"] += 1
            if os.environ.get("GATEWARD_EXPLORER_VERBOSE"):
                print(f"refused ({exc.code}): {exc.message[:200]}")
        except Crash:
            pass  # a kill at a failpoint: recovery comes in a later rule
        finally:
            disarm()
        self.violations += self.oracle.check_step(self.now, before)
        if len(self.violations) > seen and not self.first_trail:
            self.first_trail = list(self.trail)

    # ------------------------------------------------------------------ proposals
    @rule(target=proposals, dev=st.integers(0, 5), hide=st.booleans(), how=st.sampled_from(["api", "cli", "core"]),
          later=st.sampled_from([None, None, None, 10, 30, 90]), cond=st.booleans(), inform=st.booleans())
    def propose(self, dev: int, hide: bool, how: str, later: int | None, cond: bool, inform: bool) -> str:
        d = self.devices[dev % len(self.devices)]
        change = Change(path=INFORM, value=600 if hide else 900) if inform else Change(path=ADVERTISE, value=not hide)
        author = "dave" if inform else "alice"
        at = self.now + timedelta(minutes=later) if later else None
        tied = {"at_write": at is not None} if "at_write" in Precondition.model_fields else {}
        pre = [Precondition(fact="online", expect="eq", value=True, text="the gateway is online then", **tied)] \
            if cond else []
        draft = ProposalDraft(intent="explorer change", targets=[d.id], changes=[change], not_before=at,
                              preconditions=pre, source="api" if how == "api" else how)
        before = self._proposal_count()
        with self.step():
            if how == "api":
                body = {"intent": draft.intent, "targets": draft.targets, "changes": [change.model_dump(mode="json")],
                        **({"not_before": at.isoformat()} if at else {}),
                        **({"preconditions": [p.model_dump(mode="json", exclude={"at_write"}) for p in pre]}
                           if pre else {})}
                self._http("post", "/api/proposals", author, json=body)
            elif how == "cli":
                self._cli("propose", device=[d.id], set_=[f"{change.path}={str(change.value).lower()}"],
                          not_before=at.isoformat() if at else None, as_=author)
            else:
                self.rt.lifecycle.submit(draft, self.who(author))
        return self._newest() if self._proposal_count() > before else ""

    @rule(pid=proposals, approver=st.sampled_from(["bob", "carol", "alice", "dave"]), api=st.booleans())
    def approve(self, pid: str, approver: str, api: bool) -> None:
        pid = _pid(pid)
        if not pid:
            return
        with self.step():
            p = self.rt.lifecycle.get(pid)
            if api:
                self._http("post", f"/api/proposals/{pid}/approve", approver,
                           json={"comment": "explorer", "hash": p.hash})
            else:
                self.rt.lifecycle.approve(pid, self.who(approver), "explorer", expected_hash=p.hash)

    @rule(target=proposals, n=st.integers(2, 70), hide=st.booleans(), api=st.booleans())
    def propose_many(self, n: int, hide: bool, api: bool) -> str:
        """One plain proposal over many gateways (from 50, policy demands rings: never applied at once)."""
        from core.store import repo

        with self.rt.store.read() as s:
            devs, _ = repo.list_devices(s, limit=1000)
        ids = [d.id for d in devs][:n]
        change = Change(path=ADVERTISE, value=not hide)
        before = self._proposal_count()
        with self.step():
            if api:
                self._http("post", "/api/proposals", "dave",
                           json={"intent": "explorer fleet change", "targets": ids, "emergency": True,
                                 "changes": [change.model_dump(mode="json")]})
            else:
                self.rt.lifecycle.submit(ProposalDraft(intent="explorer fleet change", targets=ids, emergency=True,
                                                       changes=[change], source="core"), self.who("dave"))
        return self._newest() if self._proposal_count() > before else ""

    @rule(pid=proposals, api=st.booleans())
    def approvers_sign(self, pid: str, api: bool) -> None:
        """Every approval policy asked for, by the people who hold the roles (the common path)."""
        pid = _pid(pid)
        if not pid:
            return
        for name in ("bob", "carol"):
            if self.rt.lifecycle.get(pid).state is S.AWAITING_APPROVAL:
                self.approve(pid, name, api)

    @rule(pid=proposals, how=st.sampled_from(["api", "cli", "core"]), who=st.sampled_from(["alice", "dave"]))
    def apply(self, pid: str, how: str, who: str) -> None:
        pid = _pid(pid)
        if not pid:
            return
        with self.step():
            if how == "api":
                self._http("post", f"/api/proposals/{pid}/apply", who)
            elif how == "cli":
                self._cli("apply", pid, as_=who)
            else:
                self.rt.lifecycle.apply(pid, self.who(who))

    @rule(pid=proposals, hide=st.booleans(), keep_staged=st.booleans())
    def edit(self, pid: str, hide: bool, keep_staged: bool) -> None:
        """The author edits through the API form (no staged flag) — a campaign's proposal included."""
        pid = _pid(pid)
        if not pid:
            return
        with self.step():
            p = self.rt.lifecycle.get(pid)
            body = {"intent": p.intent, "targets": list(p.targets), "emergency": p.emergency,
                    "changes": [{"path": c.path, "value": (not hide) if c.path == ADVERTISE else c.value}
                                for c in p.changes]}
            self._http("put", f"/api/proposals/{pid}", p.author, json=body)

    @rule(pick=st.integers(0, 1000), how=st.sampled_from(["api", "cli", "core"]),
          who=st.sampled_from(["alice", "dave"]))
    def apply_an_approved(self, pick: int, how: str, who: str) -> None:
        """Apply one of the proposals that are approved now (any way in), as a person would."""
        ids = self._in_state(S.APPROVED)
        if ids:
            self.apply(ids[pick % len(ids)], how, who)

    @rule(pick=st.integers(0, 1000), api=st.booleans())
    def sign_an_awaiting(self, pick: int, api: bool) -> None:
        ids = self._in_state(S.AWAITING_APPROVAL)
        if ids:
            self.approvers_sign(ids[pick % len(ids)], api)

    @rule(pid=proposals, point=st.sampled_from(KILL_POINTS))
    def kill_mid_apply(self, pid: str, point: str) -> None:
        pid = _pid(pid)
        if not pid:
            return
        with self.step():
            arm(point, "raise")
            self.rt.lifecycle.apply(pid, self.who("alice"))

    @rule()
    def recover(self) -> None:
        with self.step():
            self.rt.lifecycle.recover()

    # ------------------------------------------------------------------ the worker and the clock
    @rule(minutes=st.sampled_from([1, 5, 10, 20, 45, 120]))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule()
    def next_night(self) -> None:
        """On to 02:30 UTC the next night: the DE window opens again."""
        nxt = (self.now + timedelta(days=1)).replace(hour=2, minute=30, second=0, microsecond=0)
        self.now = nxt if self.now.hour >= 3 else self.now.replace(hour=2, minute=30)

    @rule()
    def worker_round(self) -> None:
        with self.step():
            self.rt.lifecycle.start_due()
        with self.step():
            self.rt.lifecycle.recheck_pending()

    @rule(dev=st.integers(0, 5), off=st.booleans())
    def device_fault(self, dev: int, off: bool) -> None:
        from gateward.seed import twin_for

        d = self.devices[dev % len(self.devices)]
        if off:
            twin_for(self.rt).inject(d.id, "offline")
        else:
            twin_for(self.rt).clear(d.id, "offline")

    # ------------------------------------------------------------------ campaigns
    @rule(targets=(campaigns, proposals), hide=st.booleans())
    def campaign_create(self, hide: bool) -> str:
        from campaigns.service import Campaigns

        spec = {"name": "explorer", "target": {"all_fleet": True}, "emergency": True, "sweep_delay_s": 0,
                "changes": [{"path": ADVERTISE, "value": not hide}], "promotion": {"mode": "auto", "pause_s": 0},
                "rate": {"initial_batch": 8, "max_batch": 32, "max_window": 4}}
        out = ""
        with self.step():
            st_ = Campaigns(self.rt).create(spec, self.who("dave"))
            out = f"{st_['id']}|{st_['proposal']['id']}"
        return out

    @rule(c=campaigns, action=st.sampled_from(["start", "pause", "resume", "abort", "approve"]))
    def campaign_command(self, c: str, action: str) -> None:
        from campaigns.service import Campaigns

        if not c:
            return
        cid, pid = c.split("|")
        svc = Campaigns(self.rt)
        with self.step():
            if action == "start":
                svc.start(cid, self.who("dave"))
            elif action == "pause":
                svc.pause(cid, self.who("dave"), "explorer")
            elif action == "resume":
                svc.resume(cid, self.who("carol"))
            elif action == "abort":
                svc.abort(cid, self.who("dave"), "explorer")
            else:
                for name in ("carol", "bob"):
                    if self.rt.lifecycle.get(pid).state is S.AWAITING_APPROVAL:
                        self.rt.lifecycle.approve(pid, self.who(name))

    @rule(c=campaigns, rounds=st.integers(1, 6), kill=st.sampled_from([None, None, None, *BATCH_KILL_POINTS]))
    def campaign_worker(self, c: str, rounds: int, kill: str | None) -> None:
        for i in range(rounds):
            self._campaign_round(c, kill if i == 0 else None)

    def _campaign_round(self, c: str, kill: str | None) -> None:
        """One orchestration step and the batches it queued, run inline as a worker would."""
        from sqlalchemy import select as sel

        from campaigns.schema import CampaignBatchRow
        from campaigns.service import Campaigns

        if not c:
            return
        cid = c.split("|")[0]
        svc = Campaigns(self.rt)
        with self.step():
            svc.orch.step(cid)
        with self.rt.store.read() as s:
            queued = list(s.scalars(sel(CampaignBatchRow.id).where(CampaignBatchRow.campaign_id == cid,
                                                                  CampaignBatchRow.state == "queued")))
            aborting = svc.status(cid)["state"] == "aborting"
        for bid in queued[:3]:
            with self.step():
                if kill:
                    arm(kill, "raise")
                svc.orch.run_batch(bid)
        if aborting:
            with self.step():
                svc.orch.run_rollback(cid)

    @rule(pick=st.integers(0, 1000), rounds=st.integers(1, 8))
    def run_a_campaign(self, pick: int, rounds: int) -> None:
        """Take one campaign on: approve and start it if it waits, else let the worker run it."""
        from campaigns.schema import CampaignRow
        from campaigns.states import TERMINAL

        with self.rt.store.read() as s:
            live = [(c.id, c.proposal_id, c.state) for c in s.scalars(select(CampaignRow).order_by(CampaignRow.id))
                    if c.state not in TERMINAL]
        if not live:
            return
        cid, pid, state = live[pick % len(live)]
        if state == "created":
            self.campaign_command(f"{cid}|{pid}", "approve")
            self.campaign_command(f"{cid}|{pid}", "start")
        for _ in range(rounds):
            self._campaign_round(f"{cid}|{pid}", None)

    # ------------------------------------------------------------------ chat
    @precondition(lambda self: True)
    @rule(dev=st.integers(0, 5), turn=st.sampled_from(CHAT))
    def chat(self, dev: int, turn: tuple[str, bool]) -> None:
        message, question = turn
        d = self.devices[dev % len(self.devices)]
        chat = self.rt.chat
        tid = self.threads.get(d.id)
        if tid is None:
            tid = self.threads[d.id] = chat.start(d.id, self.who("alice"))
        before = self._proposal_count()
        with self.step():
            for _ in chat.send(tid, message, self.who("alice")):
                pass
        if question and self._proposal_count() > before:
            self.violations.append(Violation("question_drafted", f"{message!r} on {d.id} drafted {self._newest()}"))
        if message in SYMPTOMS and self._proposal_count() > before:
            off = [c.path for c in self.rt.lifecycle.get(self._newest()).changes
                   if c.path.endswith(".Enable") and c.value is False]
            if off:  # a radio that drops out was once read as "switch it off"
                self.violations.append(Violation("symptom_switched_off", f"{message!r} on {d.id} drafted {off}"))

    # ------------------------------------------------------------------ the invariants
    @invariant()
    def every_write_as_approved(self) -> None:
        if not hasattr(self, "oracle"):
            return
        new = self.oracle.holds(self.now)
        if new and not self.first_trail:
            self.first_trail = list(self.trail)
        self.violations += new
        # Not asserted here: the run goes on through every example, so one run names every kind of
        # violation it meets (Explorer.found); the test fails at its end if it met any.

    # ------------------------------------------------------------------ helpers
    def _tally(self) -> None:
        t = type(self).totals
        t["examples"] += 1
        t["steps"] += self.steps
        t["device writes"] += sum(self.oracle.counts.values())
        t["violations"] += len(self.violations)
        for v in self.violations:
            if v.kind not in type(self).found:
                type(self).found[v.kind] = v.detail + "\n    after: " + "\n           ".join(
                    self.first_trail or self.trail)
        with self.rt.store.read() as s:
            for state, n in s.execute(select(ProposalRow.state, func.count()).group_by(ProposalRow.state)):
                t[f"proposals {state}"] += int(n)

    def _in_state(self, state: ProposalState) -> list[str]:
        with self.rt.store.read() as s:
            return [str(x) for x in s.scalars(select(ProposalRow.id).where(ProposalRow.state == str(state))
                                              .order_by(ProposalRow.created_at))]

    def _proposal_count(self) -> int:
        with self.rt.store.read() as s:
            return int(s.scalar(select(func.count()).select_from(ProposalRow)) or 0)

    def _newest(self) -> str:
        with self.rt.store.read() as s:
            return str(s.scalar(select(ProposalRow.id).order_by(ProposalRow.created_at.desc()).limit(1)) or "")

    def _cli(self, command: str, *args: Any, **kwargs: Any) -> None:
        import typer
        from rich.console import Console

        import gateward.cli as cli

        saved = (cli._runtime, cli.console, cli.err)
        cli._runtime, cli.console, cli.err = self.rt, Console(file=io.StringIO()), Console(file=io.StringIO())
        try:
            getattr(cli, command)(*args, **kwargs)
        except typer.Exit:
            pass  # the CLI's refusal: one line and an exit code
        finally:
            cli._runtime, cli.console, cli.err = saved
