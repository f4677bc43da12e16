"""``gateward soak --minutes N``: mixed load on PostgreSQL while the API, the worker, the broker and
the database itself are killed at random; then what was lost, doubled, stuck or left locked, whether
the audit chain holds, and the latency of the first minute against the last.

Why the project runs it itself: each round of outside probing found what only a long run with
failures finds (an apply stranded by a database outage in a live server, 500s on stale pooled
connections, keep-alive requests never answered, submits an outage cut left undecided). The soak
does what those probes did, on this machine only (loopback), bounded in time:

* its own PostgreSQL cluster under a temporary directory (``testing.pg_cluster``: ``initdb`` and the
  distribution's ``pg_ctl``) with a seeded simulated fleet; a real ``gateward run --no-worker`` (the
  API) and a real ``gateward worker`` started by the soak on its own Mosquitto on a free port. Every
  component goes through the faults: the devices' twin lives in the same database, so a database
  stop reaches the devices' side too (issue 56: it used to be reached directly, past the faults);
* load over HTTP: proposers that rename networks (no approval), set a passphrase (an approver must
  approve it), or ask for a change later (scheduled a few seconds ahead: the worker starts it), each
  on its own devices so the final value of every device is known, then apply — as careful clients
  that, after a request whose answer was lost, read what became of it; campaigns with a canary and
  rings one after another over other devices; support chat turns; readers whose latencies are the p99
  figures. Nothing the outage left half-done is touched by the soak: the server must finish it;
* chaos: every 15–40 s one of ``kill -9`` of the API (restarted), ``kill -9`` of the worker
  (restarted), ``kill -9`` of the broker (restarted), or PostgreSQL stopped (``pg_ctl stop -m
  immediate``: every backend killed, no checkpoint) for 1–6 s and started again (crash recovery);
* then a quiet end: no chaos, every process up, until nothing is in flight (or a bound passes),
  and the checks are read from the database and the twin directly.

"Lost": a proposal the API acknowledged that the database does not have, or a device whose final
value is not the one its last ``done`` proposal wrote. "Doubled": a device that received one
proposal's write more than once. "Stuck": a proposal still between backup and its end, or still
undecided (``draft``/``validated``/``previewed``: a submit the outage cut that nobody finished), or a
campaign not finished, after the quiet end. "Undecided" also reports, for every proposal the load saw
undecided, how long it stayed so. "500s" and "unanswered" (a request that got no answer while the API
process was up) must both be 0. The machine's load average is reported beside the figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.framework import BenchResult, percentile

ROOT = Path(__file__).resolve().parents[1]
SSID1 = "Device.WiFi.SSID.1.SSID"
SSID2 = "Device.WiFi.SSID.2.SSID"
PASSPHRASE = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"  # a secret: policy asks an approver
EXECUTING = ("backed_up", "applying", "verifying", "rollback_pending")
UNDECIDED = ("draft", "validated", "previewed")
SCHEDULE_AHEAD_S = 8.0  # how far ahead a scheduled proposal asks to start
SCHEDULE_RETRY_S = 2.0  # the scheduler's first wait before it tries a refused start again (doubling)
QUIET_END_S = 180.0  # how long the quiet end waits for in-flight work to finish
CAMPAIGN_ENDED = frozenset({"completed", "aborted", "failed", "denied", "rejected"})


@dataclass
class Sample:
    t: float  # seconds since the load began
    kind: str
    status: int | str  # HTTP status, or the exception's name when no answer came
    took_s: float


@dataclass
class Record:
    """What the load saw: every request, every acknowledged proposal, every chaos event."""

    t0: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    created: dict[str, tuple[str, str]] = field(default_factory=dict)  # pid -> (device, value)
    chaos: list[tuple[float, str]] = field(default_factory=list)
    api_down: list[list[float]] = field(default_factory=list)  # [start, end] while the API was killed
    campaigns: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # pid -> the apply's last answer when not 200
    undecided: dict[str, list[float]] = field(default_factory=dict)  # pid -> [first seen undecided, left it]
    kinds: dict[str, str] = field(default_factory=dict)  # pid -> rename | passphrase | scheduled
    approvals: int = 0  # approvals the load gave (200)
    db_down_s: float = 0.0
    chat_turns: int = 0
    still_running: list[str] = field(default_factory=list)  # the load's threads not done at the quiet end's deadline
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def add(self, kind: str, status: int | str, took_s: float) -> None:
        with self.lock:
            self.samples.append(Sample(self.now() - took_s, kind, status, took_s))

    def api_was_down(self, t: float, took_s: float) -> bool:
        with self.lock:
            return any(a - 1.0 <= t + took_s and t <= (b if b else 1e12) + 1.0 for a, b in self.api_down)


class Client:
    """One keep-alive HTTP client of the soak, recording each request; a refused connection (the
    API killed) or a 503 is retried after a pause until ``deadline``."""

    def __init__(self, soak: Soak, user: str) -> None:
        self.soak, self.rec = soak, soak.rec
        self.http = httpx.Client(headers={"Authorization": f"Bearer {soak.tokens[user]}"}, timeout=120)

    def call(self, kind: str, method: str, path: str, body: Any = None, *, retry_s: float = 90.0,
             stream: bool = False, once: bool = False) -> httpx.Response | None:
        """The answer, or None when none came in time. ``once``: a request that may have been carried
        out without an answer (the API killed mid-request) is not sent again — the caller looks
        at what it did (a create is not idempotent, and a 503 may come after part of it was
        recorded); one that never reached the server is sent again."""
        end = time.monotonic() + retry_s
        while not self.soak.stopping.is_set() or kind != "read":
            t = time.perf_counter()
            try:
                if stream:
                    with self.http.stream(method, self.soak.base + path, json=body) as r:
                        r.read()
                else:
                    r = self.http.request(method, self.soak.base + path, json=body)
            except httpx.HTTPError as exc:
                self.rec.add(kind, type(exc).__name__, time.perf_counter() - t)
                if time.monotonic() > end or (once and not isinstance(exc, httpx.ConnectError)):
                    return None
                time.sleep(0.5)
                continue
            self.rec.add(kind, r.status_code, time.perf_counter() - t)
            if r.status_code == 503 and time.monotonic() < end and not once:
                time.sleep(float(r.headers.get("retry-after") or 1))
                continue
            return r
        return None


class Soak:
    def __init__(self, minutes: float, *, seed: int = 7, homes: int = 60,
                 quiet_end_s: float = QUIET_END_S) -> None:
        self.minutes, self.rng, self.homes = minutes, random.Random(seed), homes
        self.quiet_end_s = quiet_end_s
        self.seed = seed
        self.cluster: Any = None
        self.load_avg: dict[str, list[float]] = {}
        self.home = Path(tempfile.mkdtemp(prefix="gateward-soak-"))
        self.rec = Record()
        self.stopping = threading.Event()  # the load stops; the quiet end begins
        self.ended = threading.Event()  # the soak is over: the watchdog stops restarting processes
        self.quiet_until: float | None = None  # the quiet end's one deadline (monotonic), once the load stops
        self.tokens: dict[str, str] = {}
        self.api: Any = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.broker: subprocess.Popen[bytes] | None = None
        self.starts = {"api": 0, "worker": 0, "broker": 0}
        self.exits = {"api": 0, "worker": 0, "broker": 0}  # exited by themselves (restarted as a supervisor would)
        self._procs = threading.Lock()  # one of: a chaos kill-and-restart, the watchdog's restart
        self._reads: Any = None  # a store on the direct address: what a lost answer did
        self.denied: list[tuple[str, int]] = []
        self.campaign_detail: dict[str, str] = {}  # a campaign not ended at the last look: where it stands

    # ------------------------------------------------------------------ set-up and processes
    def setup(self) -> None:
        from core.kernel.config import Settings
        from core.users import issue_token
        from gateward.runtime import build_runtime
        from gateward.seed import seed_fleet
        from testing.pg_cluster import PgCluster
        from testing.servers import free_port

        os.environ.setdefault("GATEWARD_POLICY_TIME", "02:30")  # inside every region's change window
        os.environ["GATEWARD_HOME"] = str(self.home)  # one audit key for the soak and the processes it starts
        self.load_avg["start"] = [round(x, 2) for x in os.getloadavg()]
        self.cluster = PgCluster().start()  # its own server: the one the chaos stops
        self.url = self.cluster.create_database("soak")
        rt = build_runtime(Settings(database_url=self.url))  # the twin in the same database: through the faults
        try:
            seed_fleet(rt, homes=self.homes, seed=self.seed)
            self.tokens = {u: issue_token(rt.store, u) for u in ("alice", "bob", "carol", "dave")}
            self.devices = self._writable_devices(rt)
        finally:
            rt.close()
        self.mqtt_port, self.api_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.env = {"GATEWARD_DATABASE_URL": self.url, "GATEWARD_SIM_DATABASE_URL": self.url,
                    "GATEWARD_HOME": str(self.home), "GATEWARD_MQTT_URL": f"mqtt://127.0.0.1:{self.mqtt_port}",
                    "GATEWARD_POLICY_TIME": os.environ["GATEWARD_POLICY_TIME"], "PYTHONUNBUFFERED": "1",
                    # the soak's clock is compressed (a change asked for 8 s ahead, minutes of load): a due
                    # change whose start a cut refused is tried again after seconds, not the minute a real one waits
                    "GATEWARD_SCHEDULE_RETRY_S": str(SCHEDULE_RETRY_S)}
        from core.store import Store

        self._reads = Store(self.url, migrate=False)
        self.start_broker()
        self.start_api()
        self.start_worker()

    def _writable_devices(self, rt: Any) -> list[str]:
        from core.kernel.models import Root
        from core.store import repo

        with rt.store.read() as s:
            devs, _ = repo.list_devices(s, limit=100_000)
        out = []
        for d in devs:
            if d.root is Root.DEVICE and str(d.protocol) == "cwmp":
                pres = rt.router.reader(d).presence(d)
                if pres.online and pres.reachable:
                    out.append(d.id)
        if len(out) < 12:
            raise RuntimeError(f"the seeded fleet has only {len(out)} reachable TR-181 CWMP devices; use more homes")
        return out

    def start_broker(self) -> None:
        conf = self.home / "mosquitto.conf"
        conf.write_text(f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.starts["broker"] += 1
        log = open(self.home / f"mosquitto-{self.starts['broker']}.log", "wb")  # noqa: SIM115 — the process owns it
        self.broker = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(conf)], stdout=log,
                                       stderr=subprocess.STDOUT)

    def start_api(self) -> None:
        """Start the API and wait until it answers; one that exits at start (the database stopped at
        that moment: ``cannot open the database``) is started again, as a supervisor does."""
        from testing.servers import GatewardRun, ServerFailed

        while True:
            self.starts["api"] += 1
            self.api = GatewardRun(home=self.home, database_url=self.url, homes=self.homes,
                                   cwd=ROOT, env=self.env, args=["--no-worker"], port=self.api_port,
                                   log=self.home / f"api-{self.starts['api']}.log")
            self.api.start()
            try:
                self.api.wait_ready(120)
                return
            except ServerFailed:
                if self.api.proc.poll() is None:
                    raise
                self.exits["api"] += 1
                time.sleep(1)

    def start_worker(self) -> None:
        self.starts["worker"] += 1
        log = open(self.home / f"worker-{self.starts['worker']}.log", "wb")  # noqa: SIM115 — the process owns it
        self.worker = subprocess.Popen([sys.executable, "-m", "gateward.cli", "worker", "--concurrency", "2"],
                                       cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT)

    # ------------------------------------------------------------------ load
    def proposer(self, kind: str, devices: list[str]) -> None:
        """Propose (``rename``: an SSID, no approval; ``passphrase``: a secret an approver must
        approve; ``scheduled``: a rename asked to start a few seconds later, started by the worker),
        get the approvals policy asks for, apply — as a careful client: after a request whose answer
        was lost it reads what became of the proposal and goes on from there."""
        alice = Client(self, "alice")
        approvers = [Client(self, "bob"), Client(self, "carol")]
        n = 0
        while not self.stopping.is_set():
            device = devices[n % len(devices)]
            n += 1
            value, nonce = f"soak-{kind}-{n}-{self.rng.randrange(10**6):06d}", f"soak load {kind}-{n}"
            path = PASSPHRASE if kind == "passphrase" else SSID1
            body: dict[str, Any] = {"intent": f"soak: {kind}", "targets": [device],
                                    "changes": [{"path": path, "value": value}], "rationale": nonce}
            if kind == "scheduled":
                at = time.time() + SCHEDULE_AHEAD_S
                body["not_before"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1e6):06d}Z"
            r = alice.call("propose", "POST", "/api/proposals", body, once=True)
            pid = r.json()["proposal"]["id"] if r is not None and r.status_code == 201 else self._by_rationale(nonce)
            if pid is None:
                time.sleep(float(r.headers.get("retry-after") or 1) if r is not None else 1)
                continue
            with self.rec.lock:
                self.rec.created[pid] = (device, value)
                self.rec.kinds[pid] = kind
            self._drive(pid, alice, approvers)

    def _drive(self, pid: str, actor: Client, approvers: list[Client]) -> str:
        """Approve and apply ``pid`` until it is past ``approved`` (or the load stops); its state. A
        proposal an outage left undecided is only watched: the server finishes it."""
        state = "?"
        end = time.monotonic() + 180
        while time.monotonic() < end and not (self.stopping.is_set() and state in UNDECIDED):
            got = actor.call("read_one", "GET", f"/api/proposals/{pid}")
            if got is None or got.status_code != 200:
                return state
            p = got.json()["proposal"]
            state = p["state"]
            self._note_undecided(pid, state)
            if state == "awaiting_approval":
                for who in approvers:
                    a = who.call("approve", "POST", f"/api/proposals/{pid}/approve",
                                 {"comment": "soak", "hash": p["hash"]}, once=True)
                    if a is not None and a.status_code == 200:
                        with self.rec.lock:
                            self.rec.approvals += 1
                        if a.json()["proposal"]["state"] != state:
                            break
            elif state == "approved" and p.get("start_requested_by") and self.rec.kinds.get(pid) == "scheduled":
                time.sleep(1)  # asked for: the worker starts it when it is due (start_due), every gate again
            elif state == "approved":
                a = actor.call("apply", "POST", f"/api/proposals/{pid}/apply", once=True)
                if a is not None and a.status_code not in (200, 503):
                    with self.rec.lock:
                        self.rec.refused[pid] = f"{a.status_code} {a.text[:300]}"
                if a is None or a.status_code == 503:
                    time.sleep(1)
            elif state in UNDECIDED or state in EXECUTING:
                time.sleep(0.5)  # the server finishes what an outage cut; the load only looks
            else:
                return state
        return state

    def _note_undecided(self, pid: str, state: str) -> None:
        """When the load first saw ``pid`` undecided, and when it saw it decided again."""
        with self.rec.lock:
            seen = self.rec.undecided.get(pid)
            if state in UNDECIDED and seen is None:
                self.rec.undecided[pid] = [self.rec.now(), 0.0]
            elif state not in UNDECIDED and seen is not None and not seen[1]:
                seen[1] = self.rec.now()

    def _by_rationale(self, nonce: str) -> str | None:
        """The proposal a lost create made, if it made one (what an idempotency key would answer);
        asked again while the database is stopped."""
        from sqlalchemy import select

        from core.kernel.errors import database_unavailable_cause
        from core.store.schema import ProposalRow

        end = time.monotonic() + 120
        while True:
            try:
                with self._reads.read() as s:
                    return s.scalar(select(ProposalRow.id).where(ProposalRow.rationale == nonce))
            except Exception as exc:
                if database_unavailable_cause(exc) is None or time.monotonic() > end:
                    raise
                time.sleep(1)

    def campaigns(self, devices: list[str]) -> None:
        """One campaign after another over ``devices``: create, approvals, start, followed to its end."""
        dave = Client(self, "dave")
        approvers = [Client(self, "bob"), Client(self, "carol")]
        n = 0
        while not self.stopping.is_set():
            n += 1
            name = f"soak-{n}"
            r = dave.call("campaign", "POST", "/api/campaigns", {
                "name": name, "target": {"devices": devices},
                "changes": [{"path": SSID2, "value": f"soak-campaign-{n}"}],
                "canary_pct": 10, "rings": [50, 100],  # a canary and two rings, each gated
                "promotion": {"mode": "auto", "pause_s": 0}, "sweep_delay_s": 0,
                "rate": {"initial_batch": 2, "max_batch": 4, "max_window": 2}}, once=True)
            cid = r.json()["id"] if r is not None and r.status_code == 201 else self._campaign_named(dave, name)
            if cid is None:
                time.sleep(2)
                continue
            with self.rec.lock:
                self.rec.campaigns.append(cid)
            end = time.monotonic() + self.quiet_end_s  # a campaign created is seen to its end, even past the load
            while time.monotonic() < min(end, self.quiet_until or end):
                st = dave.call("campaign", "GET", f"/api/campaigns/{cid}")
                if st is None or st.status_code != 200:
                    time.sleep(1)
                    continue
                c = st.json()
                if c.get("terminal"):
                    break
                pstate = (c.get("proposal") or {}).get("state")
                if pstate == "awaiting_approval":
                    self._drive_approval(str(c["proposal"]["id"]), dave, approvers)
                elif c.get("state") in ("created", "draft", "ready", "approved") and pstate == "approved":
                    dave.call("campaign", "POST", f"/api/campaigns/{cid}/start", once=True)
                time.sleep(1)

    def _drive_approval(self, pid: str, actor: Client, approvers: list[Client]) -> None:
        got = actor.call("read_one", "GET", f"/api/proposals/{pid}")
        if got is None or got.status_code != 200:
            return
        p = got.json()["proposal"]
        for who in approvers:
            a = who.call("approve", "POST", f"/api/proposals/{pid}/approve", {"comment": "soak", "hash": p["hash"]},
                         once=True)
            if a is not None and a.status_code == 200:
                return

    @staticmethod
    def _campaign_named(client: Client, name: str) -> str | None:
        r = client.call("campaign", "GET", "/api/campaigns?limit=20")
        if r is None or r.status_code != 200:
            return None
        return next((str(c["id"]) for c in r.json()["items"] if c.get("name") == name), None)

    def chat(self, devices: list[str]) -> None:
        sam = Client(self, "alice")
        n = 0
        while not self.stopping.is_set():
            r = sam.call("chat", "POST", "/api/chat/threads", {"device_id": devices[n % len(devices)],
                                                                "title": "soak"})
            n += 1
            if r is None or r.status_code != 201:
                time.sleep(1)
                continue
            tid = r.json()["thread_id"]
            sam.call("chat", "POST", f"/api/chat/threads/{tid}/messages",
                     {"text": "the customer says the Wi-Fi drops every evening"}, stream=True)
            with self.rec.lock:
                self.rec.chat_turns += 1
            time.sleep(2)

    def reader(self, devices: list[str]) -> None:
        bob = Client(self, "bob")
        n = 0
        paths = ["/api/proposals?limit=20", "/api/audit?limit=20"]
        while not self.stopping.is_set():
            path = paths[n % 2] if n % 3 else f"/api/devices/{devices[n % len(devices)]}"
            bob.call("read", "GET", path, retry_s=0)
            n += 1
            time.sleep(0.1)

    def watchdog(self) -> None:
        """A process that exited by itself (a worker started while the database was stopped says
        ``cannot open the database`` and exits) is started again, as systemd's Restart= would, and counted.
        Through the quiet end too: a worker that exited just as the load stopped would otherwise leave
        every scheduled change and campaign unstarted, and the soak would call them stuck."""
        while not self.ended.is_set():
            time.sleep(1)
            with self._procs:
                if self.worker is not None and self.worker.poll() is not None:
                    self.exits["worker"] += 1
                    self.start_worker()
                if self.broker is not None and self.broker.poll() is not None:
                    self.exits["broker"] += 1
                    self.start_broker()
                if self.api is not None and self.api.proc.poll() is not None:
                    self.exits["api"] += 1
                    with self.rec.lock:
                        self.rec.api_down.append([self.rec.now(), 0.0])
                    self.start_api()
                    with self.rec.lock:
                        self.rec.api_down[-1][1] = self.rec.now()

    # ------------------------------------------------------------------ chaos
    def chaos(self, until: float) -> None:
        actions: dict[str, Callable[[], None]] = {"api": self._kill_api, "worker": self._kill_worker,
                                                  "broker": self._kill_broker, "db": self._cut_db}
        scale = min(1.0, max(0.3, self.minutes / 10))  # a short soak gets the same kinds, closer together
        time.sleep(min(20.0, until / 6))
        bag: list[str] = []
        while self.rec.now() < until - 30 * scale and not self.stopping.is_set():
            if not bag:  # every kind once per round, in a random order
                bag = self.rng.sample(list(actions), len(actions))
            name = bag.pop()
            with self.rec.lock:
                self.rec.chaos.append((self.rec.now(), name))
            with self._procs:
                actions[name]()
            time.sleep(self.rng.uniform(15, 40) * scale)

    def _kill_api(self) -> None:
        with self.rec.lock:
            self.rec.api_down.append([self.rec.now(), 0.0])
        self.api.proc.send_signal(signal.SIGKILL)
        self.api.proc.wait(30)
        time.sleep(self.rng.uniform(0.5, 2))
        self.start_api()
        with self.rec.lock:
            self.rec.api_down[-1][1] = self.rec.now()

    def _kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(30)
        time.sleep(self.rng.uniform(0.5, 2))
        self.start_worker()

    def _kill_broker(self) -> None:
        assert self.broker is not None
        self.broker.send_signal(signal.SIGKILL)
        self.broker.wait(30)
        time.sleep(self.rng.uniform(1, 3))
        self.start_broker()

    def _cut_db(self) -> None:
        """PostgreSQL itself stopped — every backend killed, no checkpoint — then started again."""
        t = self.rec.now()
        self.cluster.stop("immediate")
        time.sleep(self.rng.uniform(1, 6))
        self.cluster.start()
        with self.rec.lock:
            self.rec.db_down_s += self.rec.now() - t

    # ------------------------------------------------------------------ run and check
    def run(self) -> dict[str, Any]:
        self.setup()
        try:
            d = self.devices
            quarter = max(6, len(d) // 4)
            mine = {"rename": d[0:quarter:3], "passphrase": d[1:quarter:3], "scheduled": d[2:quarter:3]}  # disjoint
            campaign_devices = d[quarter:quarter * 2]
            threads = [threading.Thread(target=self.proposer, args=(kind, devs), daemon=True, name=f"proposer-{kind}")
                       for kind, devs in mine.items()]
            threads += [threading.Thread(target=self.campaigns, args=(campaign_devices,), daemon=True,
                                         name="campaigns"),
                        threading.Thread(target=self.chat, args=(d[quarter * 2:],), daemon=True, name="chat"),
                        threading.Thread(target=self.reader, args=(d,), daemon=True, name="reader")]
            self.rec.t0 = time.monotonic()
            for t in threads:
                t.start()
            until = self.minutes * 60
            chaos = threading.Thread(target=self.chaos, args=(until,), daemon=True, name="chaos")
            chaos.start()
            threading.Thread(target=self.watchdog, daemon=True).start()
            while self.rec.now() < until:
                time.sleep(1)
            # One deadline for the whole quiet end — the load's threads finishing what they follow and
            # the check's wait alike — so a soak that does not settle still reports, within
            # quiet_end_s, what did not (two waits of quiet_end_s each once outlasted a test's timeout).
            self.quiet_until = time.monotonic() + self.quiet_end_s
            self.stopping.set()
            chaos.join(max(0.0, self.quiet_until - time.monotonic()))
            for t in threads:
                t.join(max(0.0, self.quiet_until - time.monotonic()))
            self.rec.still_running = [t.name for t in [chaos, *threads] if t.is_alive()]
            return self.check(campaign_devices)
        finally:
            self.teardown()

    def check(self, campaign_devices: list[str]) -> dict[str, Any]:
        from sqlalchemy import func, select

        from core.kernel.config import Settings
        from core.store.schema import DeviceLockRow, ProposalRow
        from gateward.runtime import build_runtime

        rt = build_runtime(Settings(database_url=self.url))
        try:
            quiet_s = self._quiet_end(rt)
            with rt.store.read() as s:
                rows = {r.id: r for r in s.execute(select(
                    ProposalRow.id, ProposalRow.state, ProposalRow.updated_at, ProposalRow.start_requested_by,
                    ProposalRow.start_deferrals, ProposalRow.start_retry_at, ProposalRow.not_before))}
                stuck = sorted(pid for pid, r in rows.items() if r.state in EXECUTING or r.state in UNDECIDED)
                reasons: dict[str, int] = {}
                for err in s.scalars(select(ProposalRow.error).where(ProposalRow.state == "denied")):
                    key = str(err or "")[:160]
                    reasons[key] = reasons.get(key, 0) + 1
                self.denied = sorted(reasons.items(), key=lambda kv: -kv[1])[:3]
                locks = s.scalar(select(func.count()).select_from(DeviceLockRow)) or 0
                from core.audit import verify_chain

                chain = verify_chain(s)
            lost_created = sorted(pid for pid in self.rec.created if pid not in rows)
            last_done: dict[str, tuple[Any, str, str]] = {}
            for pid, (dev, value) in self.rec.created.items():
                r = rows.get(pid)
                if r is not None and r.state == "done" and (dev not in last_done or r.updated_at > last_done[dev][0]):
                    last_done[dev] = (r.updated_at, value, PASSPHRASE if self.rec.kinds.get(pid) == "passphrase"
                                      else SSID1)
            from executors.sim.twin import Twin

            twin = Twin(self.url)  # what each device holds (a passphrase too: the twin keeps it)
            try:
                lost_values = []
                for dev, (_, value, path) in last_done.items():
                    got = twin.params(dev).get(path)
                    if got != value:
                        shown = "the passphrase it wrote" if path == PASSPHRASE else repr(value)
                        lost_values.append(f"{dev}: holds another {path.rsplit('.', 1)[-1]} than {shown}")
            finally:
                twin.close()
            doubled = self._doubled(rt)
            campaigns = self._campaigns(rt)
        finally:
            rt.close()
        return self._report(rows, stuck, locks, chain, lost_created, lost_values, doubled, campaigns, quiet_s)

    def _quiet_end(self, rt: Any) -> float:
        """Wait, every process up and nothing cut, until nothing is in flight or the quiet end's
        deadline passes; how long the quiet end took (from when the load stopped)."""
        end = self.quiet_until if self.quiet_until is not None else time.monotonic() + self.quiet_end_s
        stopped_at = end - self.quiet_end_s
        while True:  # the quiet end: every process up, nothing cut, until nothing is in flight
            busy, locks = self._in_flight(rt)
            # a campaign still rolling when the load stops is in flight, not stuck (a loaded CI
            # machine: one was 'running' at the first look); stuck is what the quiet end does not finish
            rolling = [c for c, st in self._campaigns(rt).items() if st not in CAMPAIGN_ENDED]
            if (not busy and not locks and not rolling) or time.monotonic() > end:
                break
            time.sleep(1)
        return min(self.quiet_end_s, time.monotonic() - stopped_at)

    @staticmethod
    def _in_flight(rt: Any) -> tuple[int, int]:
        """(proposals in flight, device locks held): executing or undecided, or asked to start later
        and not yet started by the worker."""
        from sqlalchemy import func, or_, select

        from core.store.schema import DeviceLockRow, ProposalRow

        with rt.store.read() as s:
            busy = s.scalar(select(func.count()).select_from(ProposalRow).where(or_(
                ProposalRow.state.in_(EXECUTING + UNDECIDED),
                (ProposalRow.state == "approved") & ProposalRow.start_requested_by.is_not(None)))) or 0
            locks = s.scalar(select(func.count()).select_from(DeviceLockRow)) or 0
        return int(busy), int(locks)

    def _doubled(self, rt: Any) -> list[str]:
        from executors.sim.twin import Twin

        twin = Twin(self.url)
        try:
            counts: dict[tuple[str, str], int] = {}
            since = 0
            while True:
                batch = twin.events(kinds=["set"], since_id=since, limit=5000)
                if not batch:
                    break
                for e in batch:
                    key = str(e.data.get("key") or "")
                    if key.startswith("p-") and not key.endswith("-rb"):  # a proposal's own write, not a restore
                        counts[(e.device_id, key)] = counts.get((e.device_id, key), 0) + 1
                since = batch[-1].id
        finally:
            twin.close()
        return [f"{dev} written {n}× by {key}" for (dev, key), n in sorted(counts.items()) if n > 1]

    def _campaigns(self, rt: Any) -> dict[str, str]:
        """Each campaign's state; one not ended is also described (its proposal's state and its
        batches') in ``campaign_detail``, for the report to say where it stands."""
        out = {}
        svc = rt.campaigns
        for cid in self.rec.campaigns:
            try:
                st = svc.status(cid)
            except Exception as exc:  # a campaign the API acknowledged must be there
                out[cid] = f"missing ({type(exc).__name__})"
                continue
            out[cid] = str(st["state"])
            if out[cid] not in CAMPAIGN_ENDED:
                prop = st.get("proposal") or {}
                self.campaign_detail[cid] = (f"{out[cid]}, proposal {prop.get('state')} {prop.get('error') or ''}"
                                             f"; batches {st.get('batches')}; progress {st.get('progress')}")
        return out

    def _report(self, rows: dict[str, Any], stuck: list[str], locks: int, chain: Any, lost_created: list[str],
                lost_values: list[str], doubled: list[str], campaigns: dict[str, str],
                quiet_s: float) -> dict[str, Any]:
        """The soak's figures, part by part: requests, what became of the proposals, campaigns,
        the undecided, the chaos and the reads' latency."""
        # a change asked for later that is still only approved after the quiet end: the worker never started it
        unstarted = sorted(pid for pid, k in self.rec.kinds.items()
                           if k == "scheduled" and pid in rows and rows[pid].state == "approved")
        finished = [c for c, st in campaigns.items() if st in CAMPAIGN_ENDED]
        return {
            "minutes": self.minutes, **self._requests_part(),
            **self._proposals_part(rows, lost_created + lost_values, doubled),
            "stuck": len(stuck) + len(campaigns) - len(finished) + len(unstarted), "stuck_detail": stuck[:10] + [
                f"campaign {c}: {self.campaign_detail.get(c, st)}" for c, st in campaigns.items()
                if c not in finished][:10]
            + [self._unstarted(pid, rows[pid]) for pid in unstarted[:10]],
            "locks_held": locks, "audit_ok": bool(chain.ok), "audit_events": int(chain.count),
            "audit_first_broken": chain.first_broken_seq,
            **self._campaigns_part(campaigns),
            "answers": self._answers(),
            **self._undecided_part(),
            "scheduled_not_started": len(unstarted),
            **self._chaos_part(rows),
            **self._reads_part(),
            "quiet_end_s": round(quiet_s, 1), "still_running": self.rec.still_running, "home": str(self.home),
        }

    @staticmethod
    def _unstarted(pid: str, row: Any) -> str:
        """Why a scheduled change the load asked for is still only approved: whether its start was
        asked for at all, how often the scheduler was refused, and when it meant to try again."""
        if not row.start_requested_by:
            return f"{pid}: scheduled, its start never asked for (due {row.not_before})"
        return (f"{pid}: scheduled, never started (due {row.not_before}, refused {row.start_deferrals or 0}×, "
                f"next try {row.start_retry_at})")

    def _requests_part(self) -> dict[str, Any]:
        samples = self.rec.samples
        answered = [s for s in samples if isinstance(s.status, int)]
        unanswered = [s for s in samples if not isinstance(s.status, int)
                      and not self.rec.api_was_down(s.t, s.took_s)]
        return {
            "requests": len(samples),
            "status_500": sum(1 for s in answered if isinstance(s.status, int) and s.status >= 500 and s.status != 503),
            "status_503": sum(1 for s in answered if s.status == 503),
            "unanswered": len(unanswered), "unanswered_examples": [f"{s.kind} at {s.t:.1f}s: {s.status}"
                                                                   for s in unanswered[:5]],
        }

    def _proposals_part(self, rows: dict[str, Any], lost: list[str], doubled: list[str]) -> dict[str, Any]:
        states: dict[str, int] = {}
        for pid in self.rec.created:
            st = rows[pid].state if pid in rows else "missing"
            states[st] = states.get(st, 0) + 1
        return {
            "proposals": len(self.rec.created), "proposal_states": states,
            "lost": len(lost), "lost_detail": lost[:10],
            "doubled": len(doubled), "doubled_detail": doubled[:10],
            "by_kind": {k: sum(1 for x in self.rec.kinds.values() if x == k) for k in ("rename", "passphrase",
                                                                                           "scheduled")},
            "approvals_given": self.rec.approvals,
            "denied": sum(1 for pid in self.rec.created if pid in rows and rows[pid].state == "denied"),
            "applies_refused": len(self.rec.refused),
            "applies_refused_examples": [f"{pid} ({rows[pid].state if pid in rows else 'missing'}): {why}"
                                         for pid, why in list(self.rec.refused.items())[:5]],
            "chat_turns": self.rec.chat_turns,
        }

    def _campaigns_part(self, campaigns: dict[str, str]) -> dict[str, Any]:
        return {
            "campaigns": len(campaigns),
            "campaigns_denied": sum(1 for st in campaigns.values() if st == "denied"),
            "campaigns_completed": sum(1 for st in campaigns.values() if st == "completed"),
            "denied_reasons": [f"{n}× {why}" for why, n in self.denied],
        }

    def _undecided_part(self) -> dict[str, Any]:
        spans = [b - a for a, b in self.rec.undecided.values() if b]
        return {
            "undecided_seen": len(self.rec.undecided),
            "undecided_left": sum(1 for _, b in self.rec.undecided.values() if not b),
            "undecided_max_s": round(max(spans, default=0.0), 1),
            "undecided_p50_s": round(percentile(spans, 50), 1) if spans else 0.0,
        }

    def _chaos_part(self, rows: dict[str, Any]) -> dict[str, Any]:
        chaos = self.rec.chaos
        return {
            "db_stops": sum(1 for _, w in chaos if w == "db"),
            "db_down_s": round(self.rec.db_down_s, 1),
            "process_starts": dict(self.starts), "process_exits": dict(self.exits),
            "load_avg_start": self.load_avg.get("start"), "load_avg_end": [round(x, 2) for x in os.getloadavg()],
            "chaos": [f"{t:.0f}s {what}" for t, what in chaos],
            "kills": {k: sum(1 for _, w in chaos if w == k) for k in ("api", "worker", "broker", "db")},
        }

    def _reads_part(self) -> dict[str, Any]:
        reads = [s for s in self.rec.samples if isinstance(s.status, int) and s.kind == "read" and s.status == 200]
        last_minute_start = max(0.0, self.minutes * 60 - 60)
        first = [s.took_s for s in reads if s.t < 60]
        last = [s.took_s for s in reads if s.t >= last_minute_start]
        return {
            "read_p99_first_minute_ms": round(percentile(first, 99) * 1e3, 1) if first else None,
            "read_p99_last_minute_ms": round(percentile(last, 99) * 1e3, 1) if last else None,
            "reads_first_minute": len(first), "reads_last_minute": len(last),
        }

    def _answers(self) -> dict[str, int]:
        """How many requests of each kind got each answer (``apply 409``, ``read ConnectError``…)."""
        out: dict[str, int] = {}
        for smp in self.rec.samples:
            key = f"{smp.kind} {smp.status}"
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))

    def teardown(self) -> None:
        self.stopping.set()
        self.ended.set()
        if self._reads is not None:
            self._reads.dispose()
        for proc in (self.worker, self.broker, self.api.proc if self.api is not None else None):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(40)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()  # stopped and its directory removed


def soak(minutes: float, *, seed: int = 7, homes: int = 60) -> BenchResult:
    report = Soak(minutes, seed=seed, homes=homes).run()
    metrics = {k: float(v) for k, v in report.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and v is not None}
    metrics["audit_ok"] = 1.0 if report["audit_ok"] else 0.0
    rows = [(k, json.dumps(v) if isinstance(v, (list, dict)) else str(v)) for k, v in report.items()]
    return BenchResult(name="soak", metrics=metrics, params={"minutes": minutes, "seed": seed, "homes": homes},
                       rows=rows)
