"""The fused step equals the separate path bit for bit on random streams: MBO records with
rejects (unknown orders, bad sizes and sides, unknown actions), snapshots, book clears, empty
sides, far prices (the ladder re-bases), prints of every aggressor side; NinjaTrader depth with
out-of-range positions, broken price order, resets and prints, fed as the server does
(``process_batch``, ``process_prints``) and in chunks. Every call is cut at random places
(pending tails), the parameters vary (depth, OFI windows by time or count, clusters, bar series
of every kind), the books and detectors start small so that every stage has to grow its state
mid-call, streams often start just before a session open (the delta, VWAP, profile and volume
clusters start again inside a call) and some prints trade far away (the profile's, the
clusters' and the footprint's ladders grow inside a call)."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow.analytics.bars import BarKind, BarSpec
from orderflow.analytics.book_metrics import BookMetricsParams, OfiParams
from orderflow.analytics.clusters import ClusterParams
from orderflow.book.l3 import OrderBook
from orderflow.book.ladder import LadderBook
from orderflow.core.errors import DtypeError
from orderflow.engine import Pipeline, PipelineParams
from orderflow.model.dtypes import MBO_DTYPE, NT_DEPTH_DTYPE, TRADE_DTYPE
from orderflow.model.enums import Flags
from orderflow.model.instruments import get_instrument
from orderflow.signals.detectors_l2 import L2Params
from orderflow.signals.detectors_l3 import L3Params
from orderflow.signals.detectors_pull import PullParams
from tests.unit.engine.fused_support import heavy, lockstep

INST = get_instrument("ES")
_LAST, _SNAP, _RESET = int(Flags.LAST), int(Flags.SNAPSHOT), int(Flags.RESET)
T0 = 1_703_545_200_000_000_000  # a session open (18:00 New York)
#: bar series the random parameters choose from (time bars rolling every few seconds too)
SPECS = (BarSpec(BarKind.TIME, 60), BarSpec(BarKind.TIME, 300), BarSpec(BarKind.TIME, 5),
         BarSpec(BarKind.TICK, 7), BarSpec(BarKind.VOLUME, 40),
         BarSpec(BarKind.RANGE, 4))  # fmt: skip


def _params(rng: np.random.Generator) -> PipelineParams:
    """Parameters that make every detector fire on short random streams."""
    window = int(rng.choice([0, 3]))
    specs = rng.choice(len(SPECS), size=int(rng.integers(1, 5)), replace=False)
    return PipelineParams(
        depth_levels=int(rng.choice([1, 3, 10])),
        bars=tuple(SPECS[int(k)] for k in specs),
        book=BookMetricsParams(
            ofi=OfiParams(levels=2, window_ns=3_000_000_000, window_events=window)
        ),
        clusters=ClusterParams(granularity=int(rng.integers(1, 5))),
        l2=L2Params(
            absorption_min_volume=10,
            sweep_min_levels=2,
            exhaustion_run_ticks=2,
            exhaustion_min_run_volume=5,
            exhaustion_quiet_ns=1_000_000_000,
            iceberg_min_hidden=2,
        ),
        l3=L3Params(large_lot_min_size=15, spoof_min_size=8, iceberg_refill_window_ns=10**9),
        pull=PullParams(enabled=True, min_size=5, near_ticks=3),
        keep_mid_path=True,
    )


def _times(rng: np.random.Generator, n: int) -> np.ndarray:
    gaps = rng.choice([0, 1_000, 50_000_000, 900_000_000, 4_000_000_000], size=n,
                      p=[0.3, 0.3, 0.2, 0.15, 0.05])  # fmt: skip
    # half the streams start up to 2 minutes before the session open (they run ~2 minutes)
    start = T0 - int(rng.integers(0, 120)) * 1_000_000_000 if rng.random() < 0.5 else T0
    return start + np.cumsum(gaps).astype(np.int64)


def _mbo(rng: np.random.Generator, n: int) -> np.ndarray:
    ev = np.zeros(n, dtype=MBO_DTYPE)
    ev["ts_event"] = ev["ts_recv"] = _times(rng, n)
    ev["sequence"] = np.arange(1, n + 1)
    ev["action"] = rng.choice([1, 2, 3, 4, 5, 6, 0, 9], size=n,
                              p=[0.4, 0.18, 0.12, 0.01, 0.15, 0.1, 0.02, 0.02])  # fmt: skip
    ev["side"] = rng.choice([0, 1, 2], size=n, p=[0.47, 0.47, 0.06])
    ev["order_id"] = rng.integers(1, 40, size=n).astype(np.uint64)
    ev["order_id"][rng.random(n) < 0.05] = np.uint64(2**64 - 5)  # past int64: its bits
    near = 19_200 + rng.integers(-6, 7, size=n)
    far = 19_200 + rng.choice([-4000, 2500, 9000], size=n)
    ev["price"] = np.where(rng.random(n) < 0.02, far, near)
    ev["size"] = rng.choice([-1, 0, 1, 2, 5, 9, 20, 60], size=n,
                            p=[0.02, 0.03, 0.3, 0.2, 0.2, 0.1, 0.1, 0.05])  # fmt: skip
    flags = np.where(rng.random(n) < 0.35, _LAST, 0)
    for _ in range(int(rng.integers(0, 3))):  # snapshots: a block flagged SNAPSHOT
        a = int(rng.integers(0, n))
        b = min(n, a + int(rng.integers(1, 12)))
        flags[a:b] = _SNAP
        flags[b - 1] |= _LAST
    ev["flags"] = flags
    return ev


def _prints(rng: np.random.Generator, ts: np.ndarray) -> np.ndarray:
    tr = np.zeros(len(ts), dtype=TRADE_DTYPE)
    tr["ts_event"] = tr["ts_recv"] = ts
    tr["price"] = 19_200 + rng.integers(-5, 6, size=len(ts))
    far = rng.random(len(ts)) < 0.03  # the ladders of the profile, clusters, footprint grow
    tr["price"][far] += rng.choice([-3000, 700, 5000], size=int(far.sum()))
    tr["size"] = rng.choice([1, 2, 5, 30], size=len(ts))
    tr["side"] = rng.choice([0, 1, 2], size=len(ts))
    return tr


def _nt(rng: np.random.Generator, n: int) -> np.ndarray:
    ev = np.zeros(n, dtype=NT_DEPTH_DTYPE)
    ev["ts_event"] = ev["ts_recv"] = _times(rng, n)
    ev["sequence"] = np.arange(1, n + 1)
    ev["side"] = rng.choice([0, 1], size=n)
    ev["operation"] = rng.choice([0, 1, 2, 3], size=n, p=[0.5, 0.3, 0.18, 0.02])
    ev["position"] = rng.choice([0, 1, 2, 3, 5, 9, 40], size=n,
                                p=[0.3, 0.25, 0.15, 0.12, 0.1, 0.06, 0.02])  # fmt: skip
    # bids below 19200, asks above, ordered by position: mostly in order, sometimes not
    step = np.where(ev["side"] == 0, -1, 1)
    ev["price"] = 19_200 + step * (1 + ev["position"]) + rng.choice([0, 0, 0, 2, -3], size=n)
    ev["size"] = rng.choice([-1, 1, 3, 8, 25], size=n, p=[0.03, 0.3, 0.3, 0.27, 0.1])
    ev["flags"] = np.where(rng.random(n) < 0.3, _LAST, 0) | np.where(rng.random(n) < 0.01,
                                                                    _RESET, 0)  # fmt: skip
    return ev


def _cuts(rng: np.random.Generator, n: int) -> list[int]:
    k = int(rng.integers(1, max(2, n // 3)))
    return sorted({0, n, *rng.integers(0, n, size=k).tolist()})


def _small_l3(p: Pipeline) -> None:
    p.book = OrderBook(INST, capacity=2)  # every few orders the book grows
    p._apply = p.book.apply_mbo


def _small_ladder(p: Pipeline) -> None:
    p.book = LadderBook(INST, max_rows=1)
    p._apply = p.book.apply_events


def _run(kind: str, params: PipelineParams, feeds: list[Callable[[Pipeline], Any]],
         small: Callable[[Pipeline], None]) -> None:  # fmt: skip
    first = feeds[0]

    def start(p: Pipeline) -> Any:  # small books, before anything was fed (the fused step
        small(p)  # reads the pipeline's book at every call)
        return first(p)

    lockstep([start, *feeds[1:]], kind, INST, params)


SEEDS = st.integers(0, 2**32 - 1)
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@SETTINGS
@given(SEEDS)
def test_random_mbo(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ev = _mbo(rng, int(rng.integers(40, 400)))
    cuts = _cuts(rng, len(ev))
    feeds: list[Callable[[Pipeline], Any]] = []
    for a, b in itertools.pairwise(cuts):
        feeds.append(lambda p, a=a, b=b: p.process(ev[a:b]))
        if rng.random() < 0.2:  # prints without book records, over the book as it stands
            tr = _prints(rng, np.full(int(rng.integers(1, 4)), ev["ts_event"][b - 1]))
            feeds.append(lambda p, tr=tr: p.process_prints(tr))
    _run("mbo", _params(rng), feeds, _small_l3)


@SETTINGS
@given(SEEDS)
def test_random_ninjatrader(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ev = _nt(rng, int(rng.integers(40, 400)))
    prints = _prints(rng, np.sort(rng.choice(ev["ts_event"], size=len(ev) // 3)))
    cuts = _cuts(rng, len(ev))
    feeds: list[Callable[[Pipeline], Any]] = []
    t_at = 0
    for a, b in itertools.pairwise(cuts):
        t_end = int(np.searchsorted(prints["ts_event"], ev["ts_event"][b - 1], side="right"))
        tr = prints[t_at:t_end]
        if rng.random() < 0.7:  # the server's batches (their prints after the last event too)
            feeds.append(lambda p, a=a, b=b, tr=tr: p.process_batch(ev[a:b], tr))
        else:  # chunks: prints to their groups by time, a pending tail kept
            feeds.append(lambda p, a=a, b=b, tr=tr: p.process(ev[a:b], tr))
        if rng.random() < 0.15:
            feeds.append(lambda p, tr=tr: p.process_prints(tr) if len(tr) else [])
        t_at = t_end
    _run("nt_depth", _params(rng), feeds, _small_ladder)


def test_streams_fire_every_detector() -> None:
    """The random streams reach what they are meant to test: signals of every kind, rejects,
    growth of the books."""
    rng = np.random.default_rng(7)
    kinds: set[str] = set()
    rejected = 0
    for _ in range(12):
        ev = _mbo(rng, 400)
        p = Pipeline(INST, "mbo", dataclasses.replace(_params(rng), fused=True))
        _small_l3(p)
        p.process(ev)
        kinds |= {s.detector for s in p.signals}
        rejected += sum(p.rejected.values())
    assert rejected > 0
    assert {"large_lot_added", "sweep", "pulling", "stacking"} <= kinds, kinds


def test_print_analytics_across_a_session_open() -> None:
    """NinjaTrader batches from 90 s before a session open to 2 minutes after it, prints far
    away now and then: the delta, VWAP, profile and volume clusters start again inside a call
    and the ladders grow inside calls (the fused step leaves those parts to their classes for
    the rest of the call), the bars roll; the fused pipeline equals the separate one after
    every call (:func:`lockstep` compares the print analytics after each)."""
    rng = np.random.default_rng(5)
    n = 600
    ev = _nt(rng, n)
    ev["ts_event"] = ev["ts_recv"] = T0 - 90 * 10**9 + np.arange(n, dtype=np.int64) * 350_000_000
    prints = _prints(rng, np.sort(rng.choice(ev["ts_event"], size=n // 2)))
    prints["price"][::17] += 4000
    feeds: list[Callable[[Pipeline], Any]] = []
    t_at = 0
    for a in range(0, n, 20):
        b = min(n, a + 20)
        t_end = int(np.searchsorted(prints["ts_event"], ev["ts_event"][b - 1], side="right"))
        feeds.append(lambda p, a=a, b=b, tr=prints[t_at:t_end]: p.process_batch(ev[a:b], tr))
        t_at = t_end
    params = dataclasses.replace(_params(rng), bars=SPECS)
    fused, sep = lockstep(feeds, "nt_depth", INST, params)
    assert fused._fused is not None and fused._fused.print_rests >= 3
    assert len(fused.profiles.sessions) == len(sep.profiles.sessions) == 2
    assert fused.vwap.period[0] == T0 and fused.delta.next_open == T0 + 86_400 * 10**9
    assert all(len(s) >= 1 for s in fused.bars.series)  # (the 300 s bars: one closed)
    assert heavy(fused) == heavy(sep)


def test_a_time_bar_closed_by_the_clock_into_a_full_buffer() -> None:
    """One-second bars closed by the batches' depth event times (not by a print): the bar buffer
    (64 rows) fills at such a close, which the fused step leaves to ``BarSeries.advance`` (it
    grows the buffer); and a cumulative delta reset by hand between calls is followed. The
    fused pipeline equals the separate one after every call."""
    rng = np.random.default_rng(9)
    k, per = 150, 3
    ev = _nt(rng, k * per)
    at = T0 + 2 * 10**9 * np.arange(k, dtype=np.int64)
    ev["ts_event"] = ev["ts_recv"] = np.repeat(at + 1_100_000_000, per)
    prints = _prints(rng, at)
    feeds: list[Callable[[Pipeline], Any]] = []
    for j in range(k):
        a, b = j * per, (j + 1) * per
        feeds.append(lambda p, a=a, b=b, j=j: p.process_batch(ev[a:b], prints[j : j + 1]))
        if j == 90:
            feeds.append(lambda p: p.delta.reset() or [])
    params = dataclasses.replace(_params(rng), bars=(BarSpec(BarKind.TIME, 1),))
    fused, sep = lockstep(feeds, "nt_depth", INST, params)
    assert len(fused.bars.series[0]) == k  # each closed by its batch's depth, 1.1 s later
    assert fused._fused is not None and fused._fused.print_rests >= 2  # the period, the buffer
    signed = np.where(prints["side"] == 0, 1, np.where(prints["side"] == 1, -1, 0)) * prints["size"]
    assert fused.delta.value == sep.delta.value == int(signed[91:].sum())  # since the reset


def test_a_copy_never_writes_into_the_original() -> None:
    """The fused step views its arrays by address: a deep copy of a fused pipeline builds its
    own table from its own arrays, so running the copy leaves the original untouched (which
    then goes on exactly as the separate path). (What a copied pipeline computes is not
    promised: deep copies lose the analytics' views of their own buffers, fused or not.)"""
    rng = np.random.default_rng(3)
    ev = _mbo(rng, 400)
    params = _params(rng)
    p = Pipeline(INST, "mbo", dataclasses.replace(params, fused=True))
    ref = Pipeline(INST, "mbo", dataclasses.replace(params, fused=False))
    p.process(ev[:200])
    ref.process(ev[:200])
    q = copy.deepcopy(p)
    q.process(ev[200:])
    assert p._fused is not None and q._fused is not None
    mine = {int(x) for x in p._fused.tab[:, 0]}
    assert mine.isdisjoint(int(x) for x in q._fused.tab[:, 0])
    assert heavy(p) == heavy(ref)
    p.process(ev[200:])
    ref.process(ev[200:])
    assert heavy(p) == heavy(ref)


def test_a_reset_outside_the_pipeline_is_followed() -> None:
    """Resetting the book metrics or momentum between calls (they replace their state arrays)
    is seen by the fused step's next call, which binds the new arrays: the fused pipeline goes
    on exactly as the separate one reset alike, and never writes into the arrays let go."""
    rng = np.random.default_rng(11)
    ev = _mbo(rng, 600)
    params = _params(rng)
    p = Pipeline(INST, "mbo", dataclasses.replace(params, fused=True))
    ref = Pipeline(INST, "mbo", dataclasses.replace(params, fused=False))
    for q in (p, ref):
        q.process(ev[:200])
    old = (p.metrics._s.ints.copy(), p.momentum._out.copy())
    let_go = (p.metrics._s.ints, p.momentum._out)
    for q in (p, ref):
        q.metrics.reset()
        q.momentum.reset()
        q.process(ev[200:400])
    assert heavy(p) == heavy(ref)
    assert np.array_equal(let_go[0], old[0]) and np.array_equal(let_go[1], old[1])
    p.momentum.reset()
    ref.momentum.reset()
    for q in (p, ref):
        q.process(ev[400:])
    assert heavy(p) == heavy(ref)


def test_records_of_another_type_are_refused_as_the_books_refuse_them() -> None:
    """The fused step refuses what the books refuse (DtypeError), and compiles nothing for it."""
    for fused in (True, False):
        p = Pipeline(INST, "mbo", PipelineParams(fused=fused))
        nt = np.zeros(2, dtype=NT_DEPTH_DTYPE)
        nt["flags"] = _LAST
        with pytest.raises(DtypeError):
            p.process(nt)
        q = Pipeline(INST, "nt_depth", PipelineParams(fused=fused))
        mbo = np.zeros(2, dtype=MBO_DTYPE)
        mbo["flags"] = _LAST
        with pytest.raises(DtypeError):
            q.process(mbo)
        assert p.groups == q.groups == 0
