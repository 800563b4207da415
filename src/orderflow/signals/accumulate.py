"""Signals add up into a decaying score per direction, behind filters.

Each accepted signal adds its ``score * weight`` to the score of its direction, and every score
decays exponentially in event time: ``s(t) = sum_i w_i * score_i * 0.5 ** ((t - t_i) /
half_life)``. A signal is accepted only when it passes, in this order:

1. ``min_score`` — its own score is at least this;
2. session windows — its time of day in ``timezone`` (the exchange's) falls in one of
   ``sessions`` (``("09:30", "16:00")``; a window whose end is before its start wraps midnight;
   start inclusive, end exclusive; empty: always);
3. cooldown — no signal of the same detector and direction was accepted in the last
   ``cooldown_ns``;
4. confirmation — when a higher-timeframe series is given, its direction at the signal's time
   (the last value at or before it) must equal the signal's direction (0 = flat rejects).

After an accepted signal, when its direction's score reaches ``emit_threshold`` an
:class:`AccumulatedSignal` is emitted with both scores and every contribution still weighing at
least ``min_contribution`` of its original score. No wall clock: time is the signals'.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from datetime import time as dtime
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from orderflow.core.errors import DtypeError
from orderflow.model.dtypes import BAR_DTYPE
from orderflow.signals.model import Signal
from orderflow.signals.params import AccumulatorParams as AccumulatorParams

__all__ = [
    "AccumulatedSignal",
    "Accumulator",
    "AccumulatorParams",
    "Contribution",
    "accumulate",
    "bar_directions",
]

_NS = 1_000_000_000


class Contribution(msgspec.Struct, frozen=True):
    """One signal's share of an accumulated score at the time of emission."""

    detector: str
    ts_event: int
    score: float  # the signal's own score times its weight
    weight_now: float  # the decayed contribution at the emission time
    price: int


class AccumulatedSignal(msgspec.Struct, frozen=True, kw_only=True):
    """The accumulated view when one direction's decayed score passed the threshold."""

    instrument: str
    ts_event: int
    direction: int
    score: float  # this direction's decayed score
    opposite_score: float
    contributions: tuple[Contribution, ...]
    threshold: float


class Accumulator:
    """Decaying per-direction scores of accepted signals. O(contributions kept) per signal."""

    def __init__(
        self,
        params: AccumulatorParams | None = None,
        confirm: tuple[np.ndarray, np.ndarray] | Callable[[int], int] | None = None,
    ) -> None:
        """``confirm``: a higher-timeframe direction series (times ns ascending, directions
        +1/0/-1) valid from each time on, e.g. :func:`bar_directions`; or a function of the
        signal's time giving that direction (a live bar series, read without look-ahead)."""
        self.params = params or AccumulatorParams()
        self._confirm = confirm
        self._tz = ZoneInfo(self.params.timezone)
        self._windows = [
            (dtime.fromisoformat(a), dtime.fromisoformat(b)) for a, b in self.params.sessions
        ]
        # the answer holds for a whole minute when every window edge and the zone's offset are
        # whole minutes (then so is every change of offset), else for the second ``ts`` names
        self._minutes = all(e.second == 0 and e.microsecond == 0 for w in self._windows for e in w)
        self._cached = (0, 0, True)  # seconds [from, to) the last answer holds for, the answer
        self._score = {1: 0.0, -1: 0.0}
        self._ts = {1: 0, -1: 0}
        self._kept: dict[int, list[tuple[Signal, float]]] = {1: [], -1: []}
        #: per direction, the latest emission's time, how many kept signals it left and
        #: their contributions: at that same time again they are the same (the values are
        #: a function of the time, the signals only grow at the end in between)
        self._emitted: dict[int, tuple[int, int, list[Contribution]]] = {}
        self._last: dict[tuple[str, int], int] = {}
        self.rejected: dict[str, int] = {"min_score": 0, "session": 0, "cooldown": 0, "confirm": 0}

    def _decay(self, direction: int, ts: int) -> float:
        dt = ts - self._ts[direction]
        if dt <= 0:
            return 1.0
        return float(0.5 ** (dt / self.params.half_life_ns))

    def score(self, direction: int, ts: int) -> float:
        """The decayed score of ``direction`` (+1/-1) at ``ts`` (not before the last signal)."""
        return float(self._score[direction] * self._decay(direction, ts))

    def in_session(self, ts: int) -> bool:
        """Whether ``ts`` (ns) falls in a session window, in the windows' time zone."""
        if not self._windows:
            return True
        second = ts // _NS
        lo, hi, answer = self._cached
        if lo <= second < hi:
            return answer
        local = datetime.fromtimestamp(second, tz=UTC).astimezone(self._tz)
        t = local.time()
        inside = any(a <= t < b if a <= b else t >= a or t < b for a, b in self._windows)
        offset = local.utcoffset()
        whole = self._minutes and offset is not None and offset.total_seconds() % 60 == 0
        lo = second - second % 60 if whole else second
        self._cached = (lo, lo + 60 if whole else second + 1, inside)
        return inside

    def _confirmed(self, sig: Signal) -> bool:
        if self._confirm is None:
            return True
        if callable(self._confirm):
            return int(np.sign(self._confirm(sig.ts_event))) == sig.direction
        times, dirs = self._confirm
        i = int(np.searchsorted(times, sig.ts_event, side="right")) - 1
        return i >= 0 and int(np.sign(dirs[i])) == sig.direction

    def update(self, sig: Signal) -> AccumulatedSignal | None:
        """Offer one signal (in time order); return an accumulated signal when one is due."""
        p = self.params
        d = 1 if sig.direction > 0 else -1
        if sig.score < p.min_score:
            self.rejected["min_score"] += 1
            return None
        if not self.in_session(sig.ts_event):
            self.rejected["session"] += 1
            return None
        key = (sig.detector, d)
        last = self._last.get(key)
        if last is not None and sig.ts_event - last < p.cooldown_ns:
            self.rejected["cooldown"] += 1
            return None
        if not self._confirmed(sig):
            self.rejected["confirm"] += 1
            return None
        self._last[key] = sig.ts_event
        weighted = sig.score * p.weights.get(sig.detector, 1.0)
        self._score[d] = self.score(d, sig.ts_event) + weighted
        self._ts[d] = sig.ts_event
        self._kept[d].append((sig, weighted))
        if self._score[d] < p.emit_threshold:
            return None
        held = self._kept[d]
        start = 0
        contributions: list[Contribution] = []
        prev = self._emitted.get(d)
        if prev is not None and prev[0] == sig.ts_event:  # (several in one event group)
            start, contributions = prev[1], prev[2]  # (grows to this one's)
        kept = held[:start]
        for s, w in held[start:]:
            now = w * 0.5 ** ((sig.ts_event - s.ts_event) / p.half_life_ns)
            if w > 0 and now >= p.min_contribution * w:
                kept.append((s, w))
                contributions.append(Contribution(s.detector, s.ts_event, w, now, s.price))
        self._kept[d] = kept
        self._emitted[d] = (sig.ts_event, len(kept), contributions)
        return AccumulatedSignal(
            instrument=sig.instrument,
            ts_event=sig.ts_event,
            direction=d,
            score=self._score[d],
            opposite_score=self.score(-d, sig.ts_event),
            contributions=tuple(contributions),
            threshold=p.emit_threshold,
        )


def accumulate(
    signals: list[Signal],
    params: AccumulatorParams | None = None,
    confirm: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[AccumulatedSignal]:
    """Run an :class:`Accumulator` over signals (sorted by time, stably) and collect what it
    emits."""
    acc = Accumulator(params, confirm)
    out = []
    for s in sorted(signals, key=lambda s: s.ts_event):
        a = acc.update(s)
        if a is not None:
            out.append(a)
    return out


def bar_directions(bars: np.ndarray, bar_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """A confirmation series from higher-timeframe bars (:data:`BAR_DTYPE`, open times): each
    bar's direction ``sign(close - open)`` becomes known when the bar has closed, at
    ``open + bar_ns``, so no signal is confirmed by a bar that has not finished."""
    if bars.dtype != BAR_DTYPE:
        raise DtypeError(f"bar_directions needs BAR_DTYPE bars, got {bars.dtype}")
    times = bars["ts_event"].astype(np.int64) + int(bar_ns)
    return times, np.sign(bars["close"] - bars["open"]).astype(np.int64)
