"""Accumulation: exact decayed scores, cooldown, minimum score, sessions, confirmation."""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import time as dtime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from orderflow.model.dtypes import BAR_DTYPE
from orderflow.signals.accumulate import (
    Accumulator,
    AccumulatorParams,
    accumulate,
    bar_directions,
)
from orderflow.signals.model import Signal

S = 1_000_000_000


def sig(ts: int, direction: int = 1, score: float = 0.5, detector: str = "sweep") -> Signal:
    return Signal(
        instrument="ESH4", ts_event=ts, direction=direction, score=score, detector=detector, price=0
    )


def test_scores_decay_with_the_half_life_and_add_up() -> None:
    acc = Accumulator(AccumulatorParams(half_life_ns=S, emit_threshold=10.0))
    assert acc.update(sig(0, score=0.8)) is None
    assert acc.score(1, S) == pytest.approx(0.4)
    acc.update(sig(S, score=0.4, detector="iceberg"))
    assert acc.score(1, S) == pytest.approx(0.8)
    assert acc.score(1, 3 * S) == pytest.approx(0.2)
    assert acc.score(-1, 3 * S) == 0.0


def test_emission_carries_both_directions_and_the_contributions() -> None:
    params = AccumulatorParams(half_life_ns=S, emit_threshold=1.0, weights={"iceberg": 2.0})
    acc = Accumulator(params)
    acc.update(sig(0, -1, 0.6, "spoof_pull"))
    assert acc.update(sig(0, 1, 0.4, "sweep")) is None
    out = acc.update(sig(S, 1, 0.4, "iceberg"))  # 0.4 * 0.5 + 0.4 * 2 = 1.0
    assert out is not None
    assert out.direction == 1
    assert out.score == pytest.approx(1.0)
    assert out.opposite_score == pytest.approx(0.3)
    assert [(c.detector, c.score, c.weight_now) for c in out.contributions] == [
        ("sweep", 0.4, pytest.approx(0.2)),
        ("iceberg", pytest.approx(0.8), pytest.approx(0.8)),
    ]


def test_cooldown_is_per_detector_and_direction() -> None:
    acc = Accumulator(AccumulatorParams(cooldown_ns=5 * S, emit_threshold=0.0))
    assert acc.update(sig(0)) is not None
    assert acc.update(sig(3 * S)) is None  # same detector and direction, 3 s later
    assert acc.update(sig(3 * S, detector="iceberg")) is not None
    assert acc.update(sig(3 * S, direction=-1)) is not None
    assert acc.update(sig(5 * S)) is not None  # exactly the cooldown later
    assert acc.rejected["cooldown"] == 1


def test_minimum_score_filter() -> None:
    acc = Accumulator(AccumulatorParams(min_score=0.5, emit_threshold=0.0))
    assert acc.update(sig(0, score=0.49)) is None
    assert acc.update(sig(1, score=0.5)) is not None
    assert acc.rejected["min_score"] == 1


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * S


def test_session_windows_in_exchange_time() -> None:
    acc = Accumulator(AccumulatorParams(sessions=(("09:30", "16:00"),), emit_threshold=0.0))
    assert acc.update(sig(ns("2023-12-26T14:29:59"))) is None  # 09:29:59 New York
    assert acc.update(sig(ns("2023-12-26T14:30:00"))) is not None  # 09:30 New York
    assert acc.update(sig(ns("2023-12-26T21:00:00"))) is None  # 16:00, end exclusive
    wrap = Accumulator(AccumulatorParams(sessions=(("18:00", "09:30"),), emit_threshold=0.0))
    assert wrap.in_session(ns("2023-12-26T02:00:00"))  # 21:00 New York
    assert not wrap.in_session(ns("2023-12-26T15:00:00"))  # 10:00


def test_confirmation_by_finished_higher_timeframe_bars() -> None:
    bars = np.zeros(2, dtype=BAR_DTYPE)
    bars["ts_event"] = [0, 60 * S]
    bars["open"], bars["close"] = [100, 110], [110, 105]  # up, then down
    confirm = bar_directions(bars, 60 * S)
    assert confirm[0].tolist() == [60 * S, 120 * S]
    acc = Accumulator(AccumulatorParams(emit_threshold=0.0), confirm=confirm)
    assert acc.update(sig(30 * S, 1)) is None  # no bar finished yet
    assert acc.update(sig(90 * S, 1, detector="a")) is not None  # the up bar agrees
    assert acc.update(sig(90 * S, -1, detector="b")) is None
    assert acc.update(sig(130 * S, -1, detector="c")) is not None  # the down bar agrees
    assert acc.rejected["confirm"] == 2


def test_accumulate_sorts_by_time_and_collects_emissions() -> None:
    params = AccumulatorParams(half_life_ns=S, emit_threshold=0.9)
    out = accumulate([sig(S, score=0.5), sig(0, score=0.8)], params)
    assert [(a.ts_event, a.score) for a in out] == [(S, pytest.approx(0.9))]


@pytest.mark.parametrize(
    ("zone", "windows"),
    [
        ("America/New_York", (("09:30", "16:00"),)),
        ("America/Chicago", (("17:00", "08:30:15"), ("09:00:00.5", "09:01"))),  # wrap, seconds
        ("Europe/London", (("00:00", "00:01"),)),
        ("Asia/Kolkata", (("03:30", "03:31"),)),  # a half-hour offset
    ],
)
def test_session_answer_reused_only_where_it_cannot_change(
    zone: str, windows: tuple[tuple[str, str], ...]
) -> None:
    """The answer kept for a minute (or a second) equals a fresh conversion at every instant:
    across both daylight-saving changes of 2024, window edges and random times, in time order
    and out of it."""
    params = AccumulatorParams(sessions=windows, timezone=zone)
    kept = Accumulator(params)
    tz = ZoneInfo(zone)
    edges = [
        ns(f"2024-{day}:59:00")
        for day in ("03-10T06", "03-31T00", "11-03T05", "10-27T00", "01-02T14", "01-02T22")
    ]
    rng = np.random.default_rng(7)
    times = [e + k * S // 2 for e in edges for k in range(-200, 400)]
    times += [int(t) for t in rng.integers(ns("2024-01-01T00:00:00"), ns("2025-01-01T00:00:00"),
                                           3000)]  # fmt: skip
    later = sorted(times)
    for ts in later + times:
        t = datetime.fromtimestamp(ts // S, tz=UTC).astimezone(tz).time()
        fresh = any(
            (a <= t < b) if a <= b else (t >= a or t < b)
            for a, b in ((dtime.fromisoformat(x), dtime.fromisoformat(y)) for x, y in windows)
        )
        assert kept.in_session(ts) == fresh, (zone, ts)


def test_contributions_reused_at_the_same_time_are_those_worked_out_afresh() -> None:
    # many signals per event time, both directions, weights, pruning by min_contribution,
    # negative scores: every emission equals that of an accumulator that never reuses the
    # previous emission's contributions; reuse happens (several emissions in one time)
    params = AccumulatorParams(half_life_ns=2 * S, emit_threshold=0.9, min_contribution=0.3,
                               weights={"iceberg": 2.0, "spoof_pull": -0.5})  # fmt: skip
    rng = np.random.default_rng(11)
    reused, fresh = Accumulator(params), Accumulator(params)
    t, same = 0, 0
    names = ("sweep", "iceberg", "spoof_pull", "absorption")
    for _ in range(3_000):
        t += int(rng.choice([0, 0, 0, 1, S // 3, S, 4 * S]))
        s = sig(t, int(rng.choice([-1, 1])), float(rng.uniform(0.05, 1.0)),
                str(rng.choice(names)))  # fmt: skip
        fresh._emitted.clear()  # (never a previous emission to reuse)
        before = dict(reused._emitted)
        a, b = reused.update(s), fresh.update(s)
        assert a == b
        if a is not None:
            last = before.get(a.direction)
            same += last is not None and last[0] == t and last[1] > 0
    assert same > 100
    assert reused._kept == fresh._kept
