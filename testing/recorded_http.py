"""Recorded HTTP peers: capture what a real peer (GenieACS's NBI) answered, and replay it offline.

Why (issue 46 item 7, as NAPALM records device output): the GenieACS double in
``testing/genieacs`` is this project's own model of GenieACS; a contract suite run only against it
checks the model, not the peer. A *cassette* is what the real peer said during a by-hand run —
every request the adapter made and the answer it got, in order — and :class:`ReplayServer` answers
the same requests from it, so a test runs the real adapter against what the real peer said, offline,
in the fast tier.

Recording: :class:`RecordingProxy` sits between the adapter and the peer (``GATEWARD_GENIEACS_URL``
pointed at the proxy) and writes the cassette when stopped. Replaying: requests are matched by
method and path (query string included, with GenieACS's moving values — task ids in paths, the
``timestamp``/``_id`` of a posted task — left as recorded), and a write by its body too
(:func:`body_key`: a Set with another value or a read of other parameters is not the recorded
one); each recorded exchange answers once, in
order, and the last one of a route answers again once its list is used up (an adapter that polls
more often than during the recording sees the final state). Identifiers the recording holds are the
real ones (device ids like ``202BC1-BM632w-000046``); nothing is rewritten. The recording's waits
(a CPE's next inform 30 s away, a download) are not waited again: a :class:`ReplayClock` answers the
adapter's sleeps at once and moves its clock on.

Not product code: ``lint-imports`` forbids importing ``testing`` from the product.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote_plus, urlsplit

_SKIP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "host"}
#: the status of an exchange the peer never answered (refused or dropped: the peer was down); a replay
#: closes the connection unanswered, as the recording proxy did
NO_ANSWER = 0


@dataclass
class Exchange:
    """One request and the peer's answer (bodies as text; GenieACS's NBI speaks JSON)."""

    method: str
    path: str
    body: str
    status: int
    reason: str
    headers: dict[str, str]
    answer: str
    at: float = 0.0  # seconds since the recording began

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Exchange:
        return cls(**{k: raw[k] for k in ("method", "path", "body", "status", "reason", "headers", "answer")},
                   at=float(raw.get("at", 0.0)))


@dataclass
class Cassette:
    """A recorded conversation with one peer, and where and when it was recorded."""

    peer: str
    note: str
    exchanges: list[Exchange] = field(default_factory=list)
    #: wall-clock time the recording began: a replaying adapter's clock starts there, so ages computed
    #: from the peer's timestamps (``_lastInform``) are what they were
    started: float = 0.0

    @classmethod
    def load(cls, path: Path) -> Cassette:
        raw = json.loads(path.read_text("utf-8"))
        return cls(raw["peer"], raw.get("note", ""), [Exchange.from_json(e) for e in raw["exchanges"]],
                   float(raw.get("started", 0.0)))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"peer": self.peer, "note": self.note, "started": self.started,
                                    "exchanges": [e.__dict__ for e in self.exchanges]}, indent=1) + "\n", "utf-8")

    def compacted(self) -> Cassette:
        """The same conversation without the repeats of a polling loop: a GET whose answer is its
        route's previous answer is dropped when nothing new happened since that previous one (no
        write, no GET whose answer changed) — an adapter polling ``/tasks`` and ``/faults`` while a
        task waits for an inform. The replay answers each once and then the next, so the replaying
        adapter polls less and sees the same sequence of states. A GET repeated after something
        new (the same document read again by a later step) is kept: dropping it would answer that
        step with a later state."""
        kept: list[Exchange] = []
        last: dict[tuple[str, str], tuple[int, tuple[int, str, str]]] = {}
        news = -1  # index (in the recording) of the last write, or of the last GET whose answer was new
        for i, e in enumerate(self.exchanges):
            key, seen = (e.method, e.path), (e.status, e.reason, e.answer)
            before = last.get(key)
            last[key] = (i, seen)
            repeat = e.method == "GET" and before is not None and before[1] == seen
            if not repeat:
                news = i
            elif before is not None and before[0] >= news:
                continue
            kept.append(e)
        return Cassette(self.peer, self.note, kept, self.started)

    def clock(self, now: Callable[[], float] = time.monotonic) -> Callable[[], float]:
        """A clock for the replaying adapter: the recording's wall time, moving as ``now`` moves (a
        :class:`ReplayClock`'s ``monotonic`` when the replay compresses the adapter's waits)."""
        t0 = now()
        return lambda: self.started + (now() - t0)


class ReplayClock:
    """Compressed time for an adapter talking to a replay: ``sleep`` returns at once and moves this
    clock's ``time`` and ``monotonic`` on by what was asked, so every deadline, poll interval and
    "wait for the next refresh interval" the adapter computes runs its course — the same number of
    polls, the same requests in the same order — without the seconds passing. A replay answers from
    the order of requests (:meth:`ReplayServer._take`), never from when they come, so waiting for
    real would only wait: the peer that needed the time (a CPE's next inform, a download) is not there.

    :meth:`patched` puts it in place of the ``time`` module of the adapter's modules (any other
    attribute is the real module's), so the product keeps calling ``time.sleep`` and needs no clock
    parameter of its own. Sleeps from several threads add up (one replayed device: one waiter).

    The clock never reads the real one after it starts: it moves by the sleeps it answered
    (``skipped``), by ``tick`` per reading, and — given ``follow``, the seconds into the recording
    the replay has reached (:attr:`ReplayServer.reached`) — never stays behind the recording's own
    timeline: the peer's answers (a ``_lastInform``, a task gone) came that late in the real run,
    so the adapter sees them no earlier than they happened. Never by the seconds the machine spends:
    a replay must not depend on how fast the machine runs (on real elapsed time, a loaded machine's
    slow preparation — database, people, proposal — aged the recorded CPE, its ``_lastInform``
    looked minutes old, and presence denied the change). The tick keeps a loop that watches a
    deadline without sleeping through this clock finite (the adapter has none: each of its waits
    sleeps), and the time it adds is the number of readings — the same on any machine."""

    def __init__(self, tick: float = 0.001, follow: Callable[[], float] | None = None) -> None:
        self._lock = threading.Lock()
        self.skipped = 0.0  # seconds of sleep answered at once
        self.tick = tick
        self._follow = follow
        self._at = 0.0  # seconds this clock has moved since it started
        self._mono0, self._wall0 = time.monotonic(), time.time()

    def _elapsed(self) -> float:
        reached = self._follow() if self._follow is not None else 0.0
        with self._lock:
            self._at = max(self._at + self.tick, reached)
            return self._at

    def monotonic(self) -> float:
        return self._mono0 + self._elapsed()

    def time(self) -> float:
        return self._wall0 + self._elapsed()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.skipped += seconds
                self._at += seconds
        time.sleep(0)  # still a point where another thread (the replay's) may run

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @contextlib.contextmanager
    def patched(self, *modules: ModuleType) -> Iterator[ReplayClock]:
        """This clock as ``time`` in each of ``modules`` while the block runs."""
        saved = [(m, m.time) for m in modules]
        try:
            for m in modules:
                m.time = self  # type: ignore[attr-defined]
            yield self
        finally:
            for m, real in saved:
                m.time = real  # type: ignore[attr-defined]


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    n = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(n) if n else b""


def _answer(handler: BaseHTTPRequestHandler, status: int, reason: str, headers: dict[str, str], body: bytes) -> None:
    handler.send_response(status, reason)
    for k, v in headers.items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class RecordingProxy:
    """A reverse proxy to ``upstream`` that records every exchange (for by-hand runs)."""

    def __init__(self, upstream: str, *, peer: str, note: str = "", port: int = 0) -> None:
        self.upstream = urlsplit(upstream)
        self.cassette = Cassette(peer, note, started=time.time())
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_any(self) -> None:
                body = _read_body(self)
                conn = HTTPConnection(proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port or 80, timeout=600)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _SKIP_HEADERS}
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    answer = resp.read()
                except OSError as exc:  # the peer went away (refused, dropped): recorded as no answer
                    with proxy._lock:
                        proxy.cassette.exchanges.append(Exchange(
                            self.command, self.path, body.decode("utf-8", "replace"), NO_ANSWER,
                            f"no answer: {type(exc).__name__}: {exc}", {}, "", round(time.monotonic() - proxy._t0, 3)))
                    self.close_connection = True  # the client sees its connection closed unanswered
                    conn.close()
                    return
                out_headers = {k: v for k, v in resp.getheaders() if k.lower() not in _SKIP_HEADERS}
                with proxy._lock:
                    proxy.cassette.exchanges.append(Exchange(
                        self.command, self.path, body.decode("utf-8", "replace"), resp.status, resp.reason,
                        out_headers, answer.decode("utf-8", "replace"), round(time.monotonic() - proxy._t0, 3)))
                if self.command == "HEAD":  # headers only; the length is the peer's
                    self.send_response(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "date"):
                            self.send_header(k, v)
                    self.end_headers()
                else:
                    _answer(self, resp.status, resp.reason, out_headers, answer)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> RecordingProxy:
        self._thread.start()
        return self

    def stop(self, save_to: Path | None = None) -> Cassette:
        self.server.shutdown()
        self.server.server_close()
        if save_to is not None:
            self.cassette.save(save_to)
        return self.cassette


_ONCE_KEY = re.compile(r"^(gateward-[a-z-]+?)-[0-9a-f]{16}$")


def run_free_key(key: str) -> str:
    """A task's ``uniqueKey`` without what is new in every run: a one-off key's random tail, the
    proposal id of a Set's."""
    return "gateward-set-*" if key.startswith("gateward-set-") else _ONCE_KEY.sub(r"\1-*", key)


def body_key(body: str, leave_out: frozenset[str] = frozenset()) -> str:
    """How a request's body is matched: JSON with its keys sorted, a GetParameterValues's names
    sorted (an order the adapter may build from a set), and the parts that are new in every run
    left out — the random tail of a one-off ``uniqueKey`` (``gateward-get-<16 hex>``) and the
    proposal id a Set's ``uniqueKey`` carries (``gateward-set-<id>``). Anything else Gateward
    sends differently — another value, another parameter, another expiry — no longer matches.
    ``leave_out``: fields a replay changes on purpose (a shorter wait, so a shorter ``expiry``)."""
    if not body.strip():
        return ""
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    if isinstance(doc, dict):
        for name in leave_out:
            doc.pop(name, None)
        key = doc.get("uniqueKey")
        if isinstance(key, str):
            doc["uniqueKey"] = run_free_key(key)
        if doc.get("name") == "getParameterValues" and isinstance(doc.get("parameterNames"), list):
            doc["parameterNames"] = sorted(map(str, doc["parameterNames"]))
    return json.dumps(doc, sort_keys=True)


def route_key(method: str, path: str) -> tuple[str, str]:
    """How a request is matched: method and path, with the order-free parts of a GenieACS query
    put in one order — ``projection`` (a comma list the adapter may build from a set, whose order
    changes from process to process) sorted, a JSON ``query`` with its keys sorted."""
    parts = urlsplit(path)
    if "/tags/gateward-key-" in parts.path:  # the idempotency tag names the proposal, new in every run
        parts = parts._replace(path=parts.path.split("/tags/gateward-key-", 1)[0] + "/tags/gateward-key-*")
    if not parts.query:
        return method, parts.path
    pairs = []
    for item in parts.query.split("&"):
        name, _, value = item.partition("=")
        raw = unquote_plus(value)
        if name == "projection":
            raw = ",".join(sorted(raw.split(",")))
        elif name == "query":
            with contextlib.suppress(ValueError):  # not JSON: matched as it is
                doc = json.loads(raw)
                if isinstance(doc, dict) and isinstance(doc.get("uniqueKey"), str):  # a task looked up by its key
                    doc["uniqueKey"] = run_free_key(doc["uniqueKey"])
                raw = json.dumps(doc, sort_keys=True)
        pairs.append(f"{name}={raw}")
    return method, f"{parts.path}?{'&'.join(sorted(pairs))}"


class ReplayServer:
    """Answers the adapter from a cassette (see the module docstring); ``unmatched`` lists the
    requests the recording had no answer for (answered 599, so a test sees them)."""

    def __init__(self, cassette: Cassette, *, unmatched_fields: frozenset[str] = frozenset()) -> None:
        self.cassette = cassette
        #: body fields a replay tells apart on purpose (:func:`body_key`'s ``leave_out``)
        self.unmatched_fields = unmatched_fields
        self.unmatched: list[str] = []
        self.served: list[Exchange] = []
        self._routes: dict[tuple[str, str], list[Exchange]] = defaultdict(list)
        for e in cassette.exchanges:
            self._routes[route_key(e.method, e.path)].append(e)
        self._next: dict[tuple[str, str], int] = defaultdict(int)
        #: when (seconds into the recording) each write was answered, in order; how many were served
        self._writes = [e.at for e in cassette.exchanges if e.method not in ("GET", "HEAD")]
        self._written = 0
        #: how far (seconds into the recording) the answers served so far reach: a
        #: :class:`ReplayClock` following it is never earlier than the peer's answers
        self.reached = 0.0
        self._lock = threading.Lock()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_any(self) -> None:
                body = _read_body(self).decode("utf-8", "replace")
                e = replay._take(self.command, self.path, body)
                if e is None:
                    _answer(self, 599, "not in the recording", {}, b"")
                    return
                if e.status == NO_ANSWER:  # the peer was down when this was recorded
                    self.close_connection = True
                    return
                if self.command == "HEAD":
                    self.send_response(e.status, e.reason)
                    for k, v in e.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    return
                _answer(self, e.status, e.reason, e.headers, e.answer.encode("utf-8"))

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # shutdown() waits for the loop's next look at its flag: every 0.05 s, not the default 0.5 s
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def _take(self, method: str, path: str, body: str = "") -> Exchange | None:
        """The answer to one request. Writes (anything but GET and HEAD) answer in recorded order per
        route, and they mark the recording's timeline. A read answers in order per route too, but
        only from the window between the last write served and the next one: an answer recorded
        before that write is stale (the replaying adapter asked less often than the recording), one
        recorded after the next write is not yet true (it asks more often: it gets the window's last
        state again). So a poll or a timing-dependent read more or fewer than when recording never
        shifts later answers onto the wrong step."""
        with self._lock:
            key = route_key(method, path)
            route = self._routes.get(key)
            if not route:
                self.unmatched.append(f"{method} {path}")
                return None
            i = self._next[key]
            if method in ("GET", "HEAD"):
                lo = self._writes[self._written - 1] if self._written else float("-inf")
                hi = self._writes[self._written] if self._written < len(self._writes) else float("inf")
                while i < len(route) - 1 and route[i].at < lo:
                    i += 1  # recorded before the last write: stale now
                if route[i].at > hi and i > 0 and route[i - 1].at >= lo:
                    i -= 1  # not yet: the window's last state again
                e = route[i]
                self._next[key] = min(i + 1, len(route) - 1) if e.at <= hi else i
            else:
                e = route[min(i, len(route) - 1)]
                leave = self.unmatched_fields
                if body_key(body, leave) != body_key(e.body, leave):  # another request than the one recorded
                    self.unmatched.append(f"{method} {path} with a body the recording does not have: {body} "
                                          f"(recorded: {e.body})")
                    return None
                self._next[key] = min(i + 1, len(route) - 1)
                self._written += 1
            self.served.append(e)
            self.reached = max(self.reached, e.at)
            return e

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
