"""Latency models of the simulated venue: constant, or drawn from a measured distribution.

Two delays matter in a backtest (``docs/backtest.md``):

- **order latency**: a command sent by the strategy at ``t`` reaches the venue at
  ``t + order latency`` and acts on the book as it is then;
- **market-data latency**: the strategy sees a market event (and the venue's order reports)
  ``md latency`` after the venue's time.

A :class:`LatencyModel` is either a constant or an empirical distribution (an array of
measured delays, drawn from uniformly with replacement). Draws come from a numpy ``PCG64``
generator seeded by ``seed``: the same model, seed and calls give the same delays, run after run.
:func:`md_latency_from_records` measures the market-data distribution from an orderflow
recording (the records ``orderflow.server.recording.read_recording`` returns);
:func:`order_latency_from_journal` the order latency from the trading journal of a live
session (each command and the bridge's acknowledgement of it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from orderflow.core.errors import ParameterError

__all__ = ["LatencyModel", "md_latency_from_records", "order_latency_from_journal"]


class LatencyModel:
    """Delays in ns: ``constant_ns``, or draws from ``samples_ns`` (seeded, reproducible)."""

    def __init__(self, constant_ns: int = 0, samples_ns: Any = None, *, seed: int = 0) -> None:
        if constant_ns < 0:
            raise ParameterError(f"constant_ns must be >= 0, got {constant_ns}")
        self.constant_ns = int(constant_ns)
        self.samples_ns: np.ndarray | None = None
        if samples_ns is not None:
            s = np.asarray(samples_ns, dtype=np.int64)
            if s.ndim != 1 or len(s) == 0:
                raise ParameterError("samples_ns must be a non-empty 1-D array of delays")
            if int(s.min()) < 0:
                raise ParameterError("samples_ns must hold delays >= 0")
            self.samples_ns = s
        self.seed = int(seed)
        self._rng = np.random.Generator(np.random.PCG64(self.seed))

    @classmethod
    def of(cls, value: LatencyModel | int | None, seed: int = 0) -> LatencyModel:
        """A model from a model, a constant in ns, or None (no delay)."""
        if isinstance(value, LatencyModel):
            return value
        return cls(int(value or 0), seed=seed)

    @property
    def constant(self) -> bool:
        return self.samples_ns is None

    def next(self) -> int:
        """One delay. O(1)."""
        if self.samples_ns is None:
            return self.constant_ns
        return int(self.samples_ns[self._rng.integers(len(self.samples_ns))])

    def many(self, n: int) -> np.ndarray:
        """``n`` delays at once (vectorised; for delaying a chunk of market events)."""
        if self.samples_ns is None:
            return np.full(n, self.constant_ns, dtype=np.int64)
        return self.samples_ns[self._rng.integers(len(self.samples_ns), size=n)]

    def __repr__(self) -> str:
        if self.samples_ns is None:
            return f"LatencyModel({self.constant_ns} ns)"
        p50, p99 = np.percentile(self.samples_ns, [50, 99])
        return (
            f"LatencyModel(empirical, {len(self.samples_ns)} samples, p50 {p50:.0f} ns, "
            f"p99 {p99:.0f} ns, seed {self.seed})"
        )


def md_latency_from_records(records: Iterable[Any], *, per_batch: bool = False) -> np.ndarray:
    """Market-data delays measured from a recording: ``recv_ns - t`` of every depth event and
    tick (or, with ``per_batch``, of each batch's last event only).

    ``records`` are what ``orderflow.server.recording.read_recording(path).records`` holds:
    each has ``recv_ns`` (when the server received the batch) and ``batch`` with the events'
    own time ``t`` (NinjaTrader's, converted to UTC). The delay includes NinjaTrader's
    batching, the socket and the server's decode, i.e. what the strategy really waited. The
    two clocks are different machines' when NinjaTrader stamps with the exchange's time: a
    negative delay means a clock offset and is dropped (count them with ``len`` before and
    after if it matters). Returns int64 ns, ready for ``LatencyModel(samples_ns=...)``.
    """
    out: list[int] = []
    for rec in records:
        recv = int(rec.recv_ns)
        batch = rec.batch
        times: list[int] = []
        cols = getattr(batch, "columns", None)
        if cols is not None:
            times.extend(cols.t)
        times.extend(d.t for d in getattr(batch, "depth", ()))
        times.extend(t.t for t in getattr(batch, "ticks", ()))
        if not times:
            continue
        if per_batch:
            out.append(recv - max(times))
        else:
            out.extend(recv - t for t in times)
    arr = np.asarray(out, dtype=np.int64)
    return arr[arr >= 0]


def order_latency_from_journal(events: Iterable[Any], *, one_way: bool = True) -> np.ndarray:
    """Order delays measured from a live session's trading journal (``Journal.events()``):
    for every command the server journalled (``command``, at the time it was issued) the
    bridge's acknowledgement of it (``command_ack`` with status ``done``, at the time it
    arrived), paired by client and ``ref``. The round trip holds the journal's commit, the
    socket both ways, NinjaTrader's ``TriggerCustomEvent`` and the order call; ``one_way``
    (default) halves it, as a command's way to the venue. Acknowledgements the server made
    itself (refused: not issued, journal unavailable) are not answers and are skipped. Only
    a session on the wall clock (``trading.server.clock: wall``) measures anything: on the
    data clock the two times are different clocks (negative delays are dropped). Returns
    int64 ns, ready for ``LatencyModel(samples_ns=...)``."""
    issued: dict[tuple[str, int], int] = {}
    out: list[int] = []
    for ev in events:
        p = ev.payload
        if ev.kind == "command" and "ref" in p:
            issued[(ev.client, int(p["ref"]))] = int(ev.ts_ns)
        elif ev.kind == "command_ack" and p.get("status") == "done" and "command_seq" in p:
            t = issued.pop((ev.client, int(p["ref"])), None)
            if t is not None:
                out.append(int(ev.ts_ns) - t)
    arr = np.asarray(out, dtype=np.int64)
    arr = arr[arr >= 0]
    return arr // 2 if one_way else arr
