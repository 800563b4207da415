"""Fair engine time for many clients: start-time fair queuing by events, one slice per turn
of the event loop, and a global budget of queued events shared fairly.

The engine runs on the event loop, one slice at a time (a batch, or batches applied together).
Left to the loop, fifty clients pushing batches as fast as their own rate limits allow would
each take a slice in turn, every slice as big as a coalesced run, and the bridge's batch and
``/health`` would wait behind all of them. Here every slice is granted by one scheduler:

- **Start-time fair queuing by engine time** (Goyal, Vin and Cheng 1996): each client's slice
  is tagged ``start = max(virtual time, the client's last finish)`` and ``finish = start +
  its time in the engine`` (estimated from the client's measured time per event, corrected
  once measured); the waiting slice with the smallest start tag goes next and sets the
  virtual time. A client sending big or costly batches advances its tags by what they cost,
  so every client gets the same engine time however much it queues; a client that had been
  waiting for its ack (a bridge sending a batch at a time) starts at the virtual time, ahead
  of the backlogged ones, so its batch waits for the slice running now, not a round.
  Decoding a frame is a slice too (the client's work as much as applying it); a lone batch
  that nothing holds back is applied in its decoding's slice while nobody waits.
- **Short slices when contended**: while anyone waits, a client coalesces only the batches its
  measured cost fits into ``slice_ms`` (at least one) (:meth:`FairScheduler.slice_events`).
- **One slice per turn of the loop**: every choice is made on the loop's next turn, once all
  clients that became ready have asked, and the grantee resumes on the turn after, so network
  reads, ``/health`` and the writers of acks run between any two slices.
- **Global budget of queued events**: every client's decoded-but-not-applied events count
  against ``queue_events``; a client holding more than its fair share (the budget over the
  clients holding any) is not read from until its backlog drains: TCP pushes back on it. A
  client whose work would wait longer than ``max_wait_s`` gets :class:`OverloadedError` (the
  WebSocket is closed with code ``overloaded``; REST answers 503 with ``Retry-After``).

The lone client pays nothing: with no one waiting, a turn is granted without a context switch.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Hashable
from dataclasses import dataclass

from orderflow.core.errors import ParameterError, UnavailableError

__all__ = ["FairScheduler", "OverloadedError", "SchedulerStats"]

#: the cost of an event before a client's own is measured (the engine does about 1M/s)
_NS_PER_EVENT = 1000.0
#: how far ahead of the virtual time a client's finish tag may run (in slices)
_MAX_LEAD_SLICES = 8


class OverloadedError(UnavailableError):
    """The engine is too busy to take this client's work within its maximum wait."""

    code = "overloaded"


@dataclass(slots=True)
class SchedulerStats:
    """Counters for ``/metrics``."""

    granted: int = 0
    contended: int = 0  # grants that had to queue
    overloaded: int = 0  # turns or admissions that waited too long
    throttled: int = 0  # admissions that waited for the client's share of the budget


class FairScheduler:
    """Grants engine slices to clients (any hashable key) fairly; see the module docstring."""

    def __init__(self, slice_ms: float = 2.0, queue_events: int = 1_000_000,
                 max_wait_s: float = 10.0) -> None:  # fmt: skip
        if not slice_ms > 0 or queue_events < 1 or not max_wait_s > 0:
            raise ParameterError("slice_ms > 0, queue_events >= 1, max_wait_s > 0")
        self.slice_ns = int(slice_ms * 1e6)
        self.budget = queue_events
        self.max_wait_s = max_wait_s
        self.stats = SchedulerStats()
        self._busy = False
        self._vtime = 0
        self._finish: dict[Hashable, int] = {}  # each client's last finish tag (engine ns)
        self._ns_per_event: dict[Hashable, float] = {}  # each client's measured cost
        self._heap: list[tuple[int, int, asyncio.Future[None], Hashable]] = []
        self._order = itertools.count()
        self._last: Hashable = None  # who had the last slice
        self._pending = False  # a dispatch is scheduled
        self._queued: dict[Hashable, int] = {}  # admitted events not applied yet, per client
        self._queued_total = 0
        self._drained: dict[Hashable, asyncio.Event] = {}

    # ------------------------------------------------------------------ engine turns

    @property
    def contended(self) -> bool:
        """Whether anyone waits for a turn (a client should then keep its slices small)."""
        return bool(self._heap)

    @property
    def waiting(self) -> int:
        """Slices waiting for a turn."""
        return len(self._heap)

    def slice_events(self, key: Hashable, alone: int) -> int:
        """How many events ``key``'s next slice may take: ``alone`` when nobody waits, else
        what its events have cost so far lets it do in ``slice_ms`` (at least one batch)."""
        if not self._heap:
            return alone
        return max(1, min(alone, int(self.slice_ns / self._ns_per_event.get(key, _NS_PER_EVENT))))

    def turn(self, key: Hashable, events: int) -> _Turn:
        """Hold the engine for a slice of ``events`` events (``async with``: run the slice
        inside). Its measured time is what the client is charged."""
        return _Turn(self, key, events)

    def _charge(self, key: Hashable, events: int, estimate: int, spent: int) -> None:
        """A slice of ``events`` estimated at ``estimate`` ns took ``spent`` ns of CPU time."""
        # one costly slice (a batch that cannot be split) is charged at most a few slices
        # beyond the virtual time, so its client waits a few rounds, never max_wait_s
        charged = self._finish.get(key, self._vtime) + spent - estimate
        self._finish[key] = min(charged, self._vtime + _MAX_LEAD_SLICES * self.slice_ns)
        was = self._ns_per_event.get(key)
        now = spent / events
        self._ns_per_event[key] = now if was is None else 0.7 * was + 0.3 * now
        self._release()

    def _tag(self, key: Hashable, cost: int) -> int:
        start = max(self._vtime, self._finish.get(key, 0))
        self._finish[key] = start + cost
        if len(self._finish) > 4096:  # a finish tag behind the virtual time means nothing
            self._finish = {k: f for k, f in self._finish.items() if f > self._vtime}
            self._ns_per_event = {k: c for k, c in self._ns_per_event.items() if k in self._finish}
        return start

    def _grant_now(self, key: Hashable, cost: int) -> int | None:
        """The lone client's turn, granted at once (no context switch, no coroutine); else
        the slice's start tag, to queue with."""
        self.stats.granted += 1
        start = self._tag(key, cost)
        if not self._busy and not self._heap and key == self._last:
            self._busy = True
            self._vtime = start
            return None
        return start

    async def _wait_turn(self, key: Hashable, start: int) -> None:
        # everyone else queues, and the choice is made on the loop's next turn, when every
        # client that became ready meanwhile has asked too
        self.stats.contended += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (start, next(self._order), future, key))
        self._schedule()
        try:
            await asyncio.wait_for(asyncio.shield(future), self.max_wait_s)
        except TimeoutError:
            if future.done() and not future.cancelled():  # granted in the same instant
                return
            future.cancel()  # the dispatcher skips it
            self.stats.overloaded += 1
            raise OverloadedError(
                f"engine: this client's work waited over {self.max_wait_s:g} s for a turn",
                field="engine",
            ) from None
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # granted, but the client went away: pass the turn on
            else:
                future.cancel()
            raise

    def _release(self) -> None:
        self._busy = False
        self._schedule()

    def _schedule(self) -> None:
        if not self._busy and self._heap and not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        """Grant the waiting slice with the smallest start tag; it resumes on the loop's next
        turn, so whatever else is ready (network reads, ``/health``, writers) runs first."""
        self._pending = False
        if self._busy:
            return
        while self._heap:
            start, _, future, key = heapq.heappop(self._heap)
            if future.done():  # given up (timed out or cancelled)
                continue
            self._vtime = max(self._vtime, start)
            self._busy = True
            self._last = key
            future.set_result(None)
            return

    # ------------------------------------------------------------------ the global budget

    def share(self) -> int:
        """Events one client may hold queued: the budget over the clients holding any."""
        return max(1, self.budget // max(1, len(self._queued)))

    @property
    def queued_events(self) -> int:
        return self._queued_total

    @property
    def queued_clients(self) -> int:
        return len(self._queued)

    async def admit(self, key: Hashable, events: int) -> None:
        """Count ``events`` decoded for ``key`` against the budget, first waiting (not reading
        any more from the client) while it holds more than its share."""
        events = max(0, events)
        if self.admit_now(key, events):
            return
        self.stats.throttled += 1
        deadline = time.monotonic() + self.max_wait_s
        while (held := self._queued.get(key, 0)) and held + events > self.share():
            left = deadline - time.monotonic()
            drained = self._drained.setdefault(key, asyncio.Event())
            drained.clear()
            try:
                await asyncio.wait_for(drained.wait(), max(0.0, left))
            except TimeoutError:
                self.stats.overloaded += 1
                raise OverloadedError(
                    f"engine: this client's queued work did not drain within {self.max_wait_s:g} s",
                    field="engine",
                ) from None
        self._queued[key] = self._queued.get(key, 0) + events
        self._queued_total += events

    def admit_now(self, key: Hashable, events: int) -> bool:
        """:meth:`admit` when it would not wait (``key`` within its share): counted, True;
        else False, and nothing counted (await :meth:`admit`)."""
        events = max(0, events)
        held = self._queued.get(key, 0)
        if held and held + events > self.share():
            return False
        self._queued[key] = held + events
        self._queued_total += events
        return True

    def applied(self, key: Hashable, events: int) -> None:
        """``events`` admitted for ``key`` were applied (or dropped): give them back."""
        held = self._queued.get(key)
        if held is None:
            return
        events = min(max(0, events), held)
        self._queued_total -= events
        if held - events > 0:
            self._queued[key] = held - events
        else:
            del self._queued[key]
        drained = self._drained.get(key)
        if drained is not None:
            drained.set()

    def forget(self, key: Hashable) -> None:
        """A client went away: whatever it had queued is given back."""
        self.applied(key, self._queued.get(key, 0))
        self._drained.pop(key, None)
        self._ns_per_event.pop(key, None)
        self._finish.pop(key, None)


class _Turn:
    """One engine slice as an ``async with`` block (:meth:`FairScheduler.turn`): a plain
    class, where a generator-based context manager cost a generator and two coroutines per
    slice, and the lone client's grant is taken without awaiting anything."""

    __slots__ = ("_estimate", "_events", "_key", "_sched", "_t0")

    def __init__(self, sched: FairScheduler, key: Hashable, events: int) -> None:
        self._sched, self._key, self._events = sched, key, max(1, events)
        self._estimate = int(self._events * sched._ns_per_event.get(key, _NS_PER_EVENT))
        self._t0 = 0

    async def __aenter__(self) -> None:
        sched = self._sched
        start = sched._grant_now(self._key, self._estimate)
        if start is not None:
            await sched._wait_turn(self._key, start)
        self._t0 = time.thread_time_ns()  # CPU time: a slice preempted costs less

    def add_events(self, events: int) -> None:
        """The slice took on ``events`` more events (a lone batch applied in its decoding's
        turn): its CPU time is charged for them too; its start tag stays."""
        self._events += max(0, events)

    async def __aexit__(self, *exc: object) -> None:
        spent = time.thread_time_ns() - self._t0
        self._sched._charge(self._key, self._events, self._estimate, spent)
