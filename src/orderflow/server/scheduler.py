"""Fair engine time for many clients: start-time fair queuing by events, one slice per turn
of the event loop, and a global budget of queued events shared fairly.

The engine runs on the event loop, one slice at a time (a batch, or batches applied together).
Left to the loop, fifty clients pushing batches as fast as their own rate limits allow would
each take a slice in turn, every slice as big as a coalesced run, and the bridge's batch and
``/health`` would wait behind all of them. Here every slice is granted by one scheduler:

- **Start-time fair queuing by events** (Goyal, Vin and Cheng 1996): each client's work is
  tagged ``start = max(virtual time, the client's last finish)`` and ``finish = start +
  events``; the waiting slice with the smallest start tag goes next and sets the virtual time.
  A client sending big runs advances its tags by its events, so every client gets the same
  events over time however much it queues; a client that had been waiting for its ack (a
  bridge sending a batch at a time) starts at the virtual time, ahead of the backlogged ones,
  so its batch waits for at most the slice running now.
- **Small slices when contended**: while anyone waits, a client coalesces at most
  ``quantum_events`` into one slice (:meth:`FairScheduler.slice_events`).
- **One slice per turn of the loop**: a granted client resumes on the next turn, so network
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
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass

from orderflow.core.errors import RequestError

__all__ = ["FairScheduler", "OverloadedError", "SchedulerStats"]


class OverloadedError(RequestError):
    """The engine is too busy to take this client's work within its maximum wait."""

    code = "overloaded"
    status_code = 503


@dataclass(slots=True)
class SchedulerStats:
    """Counters for ``/metrics``."""

    granted: int = 0
    contended: int = 0  # grants that had to queue
    overloaded: int = 0  # turns or admissions that waited too long
    throttled: int = 0  # admissions that waited for the client's share of the budget


class FairScheduler:
    """Grants engine slices to clients (any hashable key) fairly; see the module docstring."""

    def __init__(self, quantum_events: int = 2_000, queue_events: int = 1_000_000,
                 max_wait_s: float = 10.0) -> None:  # fmt: skip
        if quantum_events < 1 or queue_events < 1 or not max_wait_s > 0:
            raise ValueError("quantum_events and queue_events >= 1, max_wait_s > 0")
        self.quantum = quantum_events
        self.budget = queue_events
        self.max_wait_s = max_wait_s
        self.stats = SchedulerStats()
        self._busy = False
        self._vtime = 0
        self._finish: dict[Hashable, int] = {}  # each client's last finish tag
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
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

    def slice_events(self, alone: int) -> int:
        """How many events one slice may take: ``alone`` when nobody waits, else a quantum."""
        return min(alone, self.quantum) if self._heap else alone

    @contextlib.asynccontextmanager
    async def turn(self, key: Hashable, events: int) -> AsyncIterator[None]:
        """Hold the engine for a slice of ``events`` events (run the slice inside)."""
        await self._acquire(key, max(1, events))
        try:
            yield
        finally:
            self._release()

    def _tag(self, key: Hashable, cost: int) -> int:
        start = max(self._vtime, self._finish.get(key, 0))
        self._finish[key] = start + cost
        if len(self._finish) > 4096:  # a finish tag behind the virtual time means nothing
            self._finish = {k: f for k, f in self._finish.items() if f > self._vtime}
        return start

    async def _acquire(self, key: Hashable, cost: int) -> None:
        self.stats.granted += 1
        start = self._tag(key, cost)
        if not self._busy and not self._heap:
            self._busy = True
            self._vtime = start
            return
        self.stats.contended += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (start, next(self._order), future))
        if not self._busy:
            self._dispatch()
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
                status=503,
            ) from None
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # granted, but the client went away: pass the turn on
            else:
                future.cancel()
            raise

    def _release(self) -> None:
        self._busy = False
        if self._heap:
            self._dispatch()

    def _dispatch(self) -> None:
        """Grant the waiting slice with the smallest start tag; it resumes on the loop's next
        turn, so whatever else is ready runs first."""
        while self._heap:
            start, _, future = heapq.heappop(self._heap)
            if future.done():  # given up (timed out or cancelled)
                continue
            self._vtime = max(self._vtime, start)
            self._busy = True
            future.set_result(None)
            return

    # ------------------------------------------------------------------ the global budget

    def share(self) -> int:
        """Events one client may hold queued: the budget over the clients holding any."""
        return max(self.quantum, self.budget // max(1, len(self._queued)))

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
        held = self._queued.get(key, 0)
        if held and held + events > self.share():
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
                        f"engine: this client's queued work did not drain within "
                        f"{self.max_wait_s:g} s",
                        field="engine",
                        status=503,
                    ) from None
        self._queued[key] = self._queued.get(key, 0) + events
        self._queued_total += events

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
