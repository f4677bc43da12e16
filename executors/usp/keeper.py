"""Keeping the subscriptions the controller relies on in place on each agent it manages.

Why a keeper (docs/usp.md, "Subscriptions the controller relies on"): :func:`subscriptions.ensure`
writes into the agent's ``LocalAgent.Subscription`` table, so *when* it runs matters as much as
*what* it writes. Against the real OB-USP-Agent the first-contact check had four faults, fixed here:

* **Only agents of the fleet.** A pending agent (nobody accepted it yet) or a rejected one must not
  be written to, nor asked for its data model: onboarding is security-sensitive (docs/safety.md).
  The composition root injects ``managed`` — which endpoints are bound to an active device — and a
  contact from any other endpoint is only counted. A refusal is *not* remembered as "subscribed":
  the agent's next contact asks again, and connected agents refused are asked again on a slow timer
  (2 s doubling to 5 min), so an agent accepted by an admin (in any process) gets its subscriptions
  without having to reconnect — a factory-fresh OB-USP-Agent sends nothing after its connect Record.
* **Reconnects are checked.** A fresh ``mqtt_connect`` (or Boot!, OnBoardRequest) from an agent
  already set up is re-checked with one Get: an agent restarted factory-fresh (``FactoryReset()``
  wipes its subscriptions) sends only its connect Record, no Boot!.
* **No check across a reboot.** While this process's ``Reboot()``/``FactoryReset()`` Operate is in
  flight for an agent (until the agent is back: a connect Record or Boot! on a newer connection, or
  the executor's wait ends) no check starts, and a running one is abandoned (its task cancelled, so
  no further request follows the Operate). It runs again afterwards.
* **Contacts during a check are not lost.** One arriving while a check runs, newer than what the
  check read (a newer connection, another Boot!), sets a *recheck*: the check runs again when the
  current one ends. A connect Record and the Boot! that follows it on the same connection need
  only one check.

Everything here runs on the controller's event loop (events, requests and the executor's commands
all do), so the bookkeeping needs no locks; only ``managed`` (a database query) runs on a thread,
batched for a connect wave.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Collection, Sequence

from core.kernel.values import parse_wire_bool
from executors.usp import own_topic
from executors.usp import subscriptions as subs
from executors.usp.controller import AgentOffline, UspController, UspEvent, UspTimeout
from executors.usp.errors import UspError

log = logging.getLogger(__name__)

#: Which of these endpoint IDs belong to an active device of the fleet (called on a worker thread).
Managed = Callable[[Sequence[str]], Collection[str]]
#: Told the instance paths the controller made on an agent (endpoint, paths) — the keeper's subscriptions
#: and the adapter's own Adds (:meth:`SubscriptionKeeper.tell_created`) — on a worker thread: the
#: composition root adds them to the device's stored model at once (``core.capabilities.note_instances``).
Created = Callable[[str, Sequence[str]], None]
#: Told the instance paths the controller deleted on an agent (endpoint, paths) — every Delete it makes
#: (``gateward usp unsubscribe``, :meth:`SubscriptionKeeper.tell_deleted`) — on a worker thread: the
#: composition root removes them from the device's stored model at once
#: (``core.capabilities.forget_instances``), so a change to one is refused as missing.
Deleted = Callable[[str, Sequence[str]], None]

CONTACTS = frozenset({"connect", "boot", "onboard"})
_PENDING_READ = (math.inf, math.inf)  # a check is queued and will read the table after any contact now


class SubscriptionKeeper:
    """When to run :func:`subscriptions.ensure` for an agent (see the module docstring).

    ``enabled``: whether contacts trigger checks at all (the long-running controller only, see
    ``executors.usp.factory``); ``managed``: None trusts every endpoint (a test rig or a tool
    without a fleet); ``concurrency``: checks running at once, so a connect wave does not starve
    requests."""

    def __init__(self, controller: UspController, *, watch: Sequence[str], timeout_s: float,
                 enabled: bool = False, managed: Managed | None = None, concurrency: int = 32,
                 retry_first_s: float = 2.0, retry_max_s: float = 300.0, batch_s: float = 0.02) -> None:
        self.controller = controller
        self.watch = tuple(watch)
        self.timeout_s = timeout_s
        self.enabled = enabled
        self.managed = managed
        self.on_created: Created | None = None
        self.on_deleted: Deleted | None = None
        self.concurrency = concurrency
        self.retry_first_s, self.retry_max_s, self.batch_s = retry_first_s, retry_max_s, batch_s
        self.subscribed: dict[str, subs.EnsureReport] = {}  # agents whose last check succeeded
        self.unmanaged_contacts = 0  # contacts from endpoints not in the fleet: counted, nothing sent
        self.failures = 0
        self.closed = False
        self._running: dict[str, asyncio.Task[None]] = {}
        self._seen: dict[str, tuple[float, float]] = {}  # what the last check read: (connected_since, boots)
        self._recheck: set[str] = set()
        self._full: set[str] = set()  # next check asks for the data model again (new firmware)
        self._rebooting: dict[str, float] = {}  # endpoint -> wall clock its Reboot()/FactoryReset() was sent
        self._deferred: dict[str, tuple[float, float]] = {}  # refused: endpoint -> (due, back-off), monotonic
        self._sweeper: asyncio.Task[None] | None = None
        self._gate: asyncio.Semaphore | None = None
        self._asks: dict[str, list[asyncio.Future[bool]]] = {}
        self._ask_due = False
        self._answering: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones
        #: agents whose topic is not theirs to move (no MTP names it): not asked again by this process
        self._unmovable: set[str] = set()

    # ------------------------------------------------------------------ triggers
    def on_event(self, event: UspEvent) -> None:
        """A controller event: contacts (re)check; any other notification from an agent never set
        up (one connected before this process started) counts as its first contact."""
        if not self.enabled or event.kind == "disconnect":
            return
        ep = event.endpoint_id
        if event.kind == "boot" and parse_wire_bool(event.data.get("FirmwareUpdated")) is True:
            self._full.add(ep)
        if event.kind in CONTACTS:
            self._trigger(ep, back=event.kind in ("connect", "boot"))
        elif ep not in self.subscribed and ep not in self._deferred:
            self._trigger(ep)

    def on_exchange(self, endpoint_id: str) -> None:
        """The executor learnt an agent it had not heard connect (it was there before this process):
        its first successful exchange is its first contact."""
        if self.enabled and endpoint_id not in self.subscribed:
            self._trigger(endpoint_id)

    def _news(self, ep: str) -> bool:
        """Whether the agent has connected or booted since the last check read its table."""
        seen = self._seen.get(ep)
        if seen is None:
            return True
        st = self.controller.agent(ep)
        return st is not None and ((st.connected_since or 0.0) > seen[0] or st.boots > seen[1])

    def _trigger(self, ep: str, *, back: bool = False) -> None:
        if self.closed:
            return
        at = self._rebooting.get(ep)
        if at is not None:
            st = self.controller.agent(ep)
            if back and st is not None and (st.connected_since or 0.0) > at:
                del self._rebooting[ep]  # it is back from the reboot: checking is safe again
            else:
                self._recheck.add(ep)  # not now: the agent is going down; after the reboot
                return
        if ep in self._running:
            if self._news(ep):
                self._recheck.add(ep)
            return
        if ep in self.subscribed and not self._news(ep):
            return
        self._start(ep)

    def _start(self, ep: str) -> None:
        self._recheck.discard(ep)
        self._seen[ep] = _PENDING_READ
        self._running[ep] = asyncio.get_running_loop().create_task(self._check(ep), name=f"usp-subs-{ep}")

    # ------------------------------------------------------------------ reboots
    def begin_reboot(self, ep: str) -> None:
        """This process is about to send ``Reboot()``/``FactoryReset()`` to the agent: abandon a
        running check (nothing more may follow the Operate) and hold new ones until it is back."""
        self._rebooting[ep] = time.time()
        task = self._running.get(ep)
        if task is not None:
            task.cancel()
            self._recheck.add(ep)

    def end_reboot(self, ep: str) -> None:
        """The executor's reboot wait ended (Boot! heard, or timed out): run a held check now."""
        self._rebooting.pop(ep, None)
        if ep in self._recheck and ep not in self._running and not self.closed and self.enabled:
            self._start(ep)

    # ------------------------------------------------------------------ the check
    async def _check(self, ep: str) -> None:
        me = asyncio.current_task()
        try:
            if not await self._is_managed(ep):
                self._refuse(ep)
                return
            if self._gate is None:
                self._gate = asyncio.Semaphore(self.concurrency)
            async with self._gate:
                if ep in self._rebooting:  # a reboot began while it waited for its turn
                    self._recheck.add(ep)
                    self._seen.pop(ep, None)
                    return
                st = self.controller.agent(ep)
                self._seen[ep] = ((st.connected_since or 0.0), float(st.boots)) if st is not None else (0.0, 0.0)
                before = self.subscribed.get(ep)
                known = before.supported if before is not None and before.root and ep not in self._full else None
                report = await subs.ensure(self.controller, ep, watch=self.watch, timeout=self.timeout_s,
                                           supported=known)
            self._full.discard(ep)
            self._deferred.pop(ep, None)
            self.subscribed[ep] = report
            if report.created:
                log.info("USP agent %s: created subscriptions %s", ep, ", ".join(report.created))
                await self.tell_created(ep, report.instances)
            await self._own_topic(ep)
        except asyncio.CancelledError:
            self._seen.pop(ep, None)  # abandoned (a reboot, or shutting down): the next contact is news
            raise
        except UspError as exc:  # it refused (or cannot do subscriptions): say so, retried on its next contact
            self.subscribed[ep] = subs.EnsureReport(ep)
            self._trouble(ep, f"the agent refused: USP {exc.code} {exc}")
        except (UspTimeout, AgentOffline, ConnectionError) as exc:
            self._seen.pop(ep, None)
            self._trouble(ep, f"{exc}; retried on its next contact")
        finally:
            if self._running.get(ep) is me:
                del self._running[ep]
            if (ep in self._recheck and ep not in self._rebooting and ep not in self._running
                    and not self.closed):
                self._start(ep)

    async def _own_topic(self, ep: str) -> None:
        """An accepted agent onboarded on a shared topic (OB-USP-Agent's shipped ``/usp/agent``) is
        moved to its own before anything secret can be sent to it (:mod:`executors.usp.own_topic`);
        a refusal is said and tried again at its next contact — until then secrets are refused."""
        if ep in self._unmovable:
            return
        try:
            moved = await own_topic.move(self.controller, ep, timeout=self.timeout_s)
        except own_topic.TopicMoveError as exc:
            if exc.lasting:  # its topic is not in its MTP table: asking again at each contact would not help
                self._unmovable.add(ep)
            log.warning("USP agent %s stays on a shared topic: %s; secrets are refused while it does", ep, exc)
            return
        if moved is not None:
            log.info("USP agent %s moved to its own topic %s", ep, moved)

    async def tell_created(self, ep: str, paths: Sequence[str]) -> None:
        """Hand instances made on ``ep`` to ``on_created`` off the loop — the keeper's own and every
        other Add this controller's adapter makes (``UspExecutor``'s Boot! and OperationComplete
        subscriptions before a reboot or an async command), so there is one way into the stored
        model. Nothing when there is no hook or nothing was made; a failure is logged, never raised
        (the instances exist either way; a live check at validate finds them too)."""
        await self._tell(self.on_created, ep, paths, "made could not be stored")

    async def tell_deleted(self, ep: str, paths: Sequence[str]) -> None:
        """Hand instances deleted on ``ep`` to ``on_deleted`` off the loop — every Delete this
        controller makes (``gateward usp unsubscribe``), :meth:`tell_created`'s counterpart, so the
        stored model does not keep an instance that is gone. Nothing when there is no hook or nothing
        was deleted; a failure is logged, never raised (the instances are gone either way; a live
        check at validate finds that too, once the stored model refuses them)."""
        await self._tell(self.on_deleted, ep, paths, "deleted could not be removed from the stored model")

    @staticmethod
    async def _tell(hook: Created | Deleted | None, ep: str, paths: Sequence[str], failed: str) -> None:
        if hook is None or not paths:
            return
        try:
            await asyncio.to_thread(hook, ep, list(paths))
        except Exception as exc:
            log.warning("USP agent %s: the subscriptions %s (%s)", ep, failed, exc)

    def _refuse(self, ep: str) -> None:
        """Not an active device of the fleet (pending, rejected, retired or unknown): nothing is
        sent; asked again on its next contact, and on a slow timer while it stays connected."""
        self.unmanaged_contacts += 1
        self._seen.pop(ep, None)
        self._recheck.discard(ep)
        self.subscribed.pop(ep, None)
        prev = self._deferred.pop(ep, None)
        n = self.unmanaged_contacts
        if prev is None and (n <= 20 or n % 1000 == 0):  # a connect wave of pending agents must not flood the log
            log.info("USP agent %s is not an active device of the fleet (pending, rejected or unknown): no "
                     "subscriptions are created on it%s", ep, f" [{n} such contacts so far]" if n > 20 else "")
        backoff = self.retry_first_s if prev is None else min(prev[1] * 2, self.retry_max_s)
        self._deferred[ep] = (time.monotonic() + backoff, backoff)
        if len(self._deferred) > 100_000:  # bounded: the oldest go (their next contact asks again)
            self._deferred.pop(next(iter(self._deferred)))
        if self._sweeper is None and not self.closed:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="usp-subs-sweep")

    async def _sweep(self) -> None:
        """Ask again for refused agents that are still connected (an admin may have accepted them)."""
        try:
            while self._deferred and not self.closed:
                await asyncio.sleep(min(self.retry_first_s, 1.0))
                now = time.monotonic()
                for ep, (due, _) in list(self._deferred.items()):
                    if due > now or ep in self._running:
                        continue
                    st = self.controller.agent(ep)
                    if st is None or st.connected is not True:
                        del self._deferred[ep]  # gone: its next connect asks again
                    elif self.enabled:
                        self._trigger(ep)
        finally:
            self._sweeper = None

    # ------------------------------------------------------------------ which agents are ours
    async def _is_managed(self, ep: str) -> bool:
        """``managed`` for one endpoint; the endpoints asked within ``batch_s`` share one call."""
        if self.managed is None:
            return True
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        self._asks.setdefault(ep, []).append(fut)
        if not self._ask_due:
            self._ask_due = True
            loop.call_later(self.batch_s, self._answer_soon)
        return await fut

    def _answer_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self._answer())
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self) -> None:
        asks, self._asks, self._ask_due = self._asks, {}, False
        managed = self.managed
        try:
            yes = set(await asyncio.to_thread(managed, list(asks))) if managed is not None else set(asks)
        except Exception as exc:  # the database is away: nothing is written until it answers
            log.warning("could not tell which of %d USP agents belong to the fleet (%s); their subscriptions "
                        "wait", len(asks), exc)
            yes = set()
        for ep, futs in asks.items():
            for fut in futs:
                if not fut.done():
                    fut.set_result(ep in yes)

    # ------------------------------------------------------------------ the rest
    def _trouble(self, ep: str, why: str) -> None:
        """Log why subscriptions could not be ensured — every one of the first 20, then one in 1000
        (a connect wave of agents that cannot do it must not flood the log)."""
        self.failures += 1
        n = self.failures
        if n <= 20 or n % 1000 == 0:
            log.warning("USP agent %s: could not ensure its subscriptions (%s)%s", ep, why,
                        f" [{n} such failures so far]" if n > 20 else "")

    def running(self, ep: str) -> bool:
        return ep in self._running

    def close(self) -> None:
        """Stop starting checks (the loop cancels what runs when it stops)."""
        self.closed = True
        for task in list(self._running.values()):
            task.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
