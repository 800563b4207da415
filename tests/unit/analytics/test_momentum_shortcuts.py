"""The momentum kernel takes a term's ``tanh`` from the row before when its input is the same
(bit for bit) instead of computing it again. Fed one group per call it always computes (a call's
first row has no row before it), so the batch must equal one ``update`` per group in every
column, bit for bit (``-0.0`` and ``0.0`` told apart), on streams where the inputs repeat, turn
to a zero of the other sign and come back, and on the recorded ESH4 book."""

from __future__ import annotations

import itertools
import math

import numpy as np

from orderflow.analytics.book_metrics import BookMetrics, trade_offsets
from orderflow.analytics.momentum import (
    NO,
    S_COUNT,
    S_HEAD,
    Momentum,
    MomentumParams,
    _run,
    _State,
)
from orderflow.analytics.trades import trades_from_mbo
from orderflow.book.l3 import OrderBook
from orderflow.io.dbn import read_mbo
from orderflow.model.dtypes import TRADE_DTYPE
from orderflow.model.enums import Action, Side
from tests.conftest import ES_MBO, need

BUY, SELL = int(Side.BID), int(Side.ASK)


def _bits(a: np.ndarray) -> list[int]:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64).ravel().tolist()


def _both(ts: np.ndarray, mid: np.ndarray, imb: np.ndarray, trades: np.ndarray,
          off: np.ndarray, p: MomentumParams, pieces: int = 1) -> np.ndarray:  # fmt: skip
    """Batch (in ``pieces`` calls) and one update per group: the same bits in every column."""
    batch = Momentum(p)
    cuts = np.linspace(0, len(ts), pieces + 1).astype(int).tolist()
    rows = []
    for a, b in itertools.pairwise(cuts):
        o = off[a : b + 1] - off[a]
        rec = batch.update_many(ts[a:b], mid[a:b], imb[a:b], trades[off[a] : off[b]], o)
        rows.append(rec.values)
    out = np.concatenate(rows)
    one = Momentum(p)
    ref = np.empty((len(ts), NO))
    for r in range(len(ts)):
        one.update(int(ts[r]), float(mid[r]), float(imb[r]), trades[off[r] : off[r + 1]])
        ref[r] = one._out[0]
    assert _bits(out) == _bits(ref)
    _one_row(ts, mid, imb, trades, off, p, cuts, out)
    return out


def _one_row(ts: np.ndarray, mid: np.ndarray, imb: np.ndarray, trades: np.ndarray,
             off: np.ndarray, p: MomentumParams, cuts: list[int],
             out: np.ndarray) -> None:  # fmt: skip
    """The kernel on a one-row output (the fused step's way: each group's row written over the
    one before's): after each piece its row is the piece's last row, bit for bit, and the
    window state equals the batch's."""
    one, rows = Momentum(p), Momentum(p)
    tsz = np.ascontiguousarray(trades["size"], dtype=np.int64)
    tsd = np.ascontiguousarray(trades["side"], dtype=np.int64)
    for a, b in itertools.pairwise(cuts):
        o = off[a : b + 1] - off[a]
        rows.update_many(ts[a:b], mid[a:b], imb[a:b], trades[off[a] : off[b]], o)
        s = one._s
        while len(s.rts) < int(s.st[S_COUNT]) + (b - a) + 1:
            s.grow()
        _run(ts[a:b], mid[a:b], imb[a:b], o, tsz[off[a] : off[b]], tsd[off[a] : off[b]],
             one._pf, s.st, s.sf, s.rts, s.rmid, s.rimb, s.rvol, one._out)  # fmt: skip
        if b > a:
            assert _bits(one._out[0]) == _bits(out[b - 1])
        assert _bits(one._out) == _bits(rows._out)
        for name in ("st", "sf", "rts", "rmid", "rimb", "rvol"):  # (same capacity too)
            assert getattr(s, name).tobytes() == getattr(rows._s, name).tobytes(), name


def test_grow_to_a_size_is_the_doublings_one_by_one() -> None:
    """``grow(at_least)``: one copy, the ring the doublings one by one would leave."""
    rng = np.random.default_rng(3)
    for need_ in (0, 129, 128, 300, 1025):
        a, b = _State(64), _State(64)
        a.st[S_HEAD], a.st[S_COUNT] = 40, 60  # a ring that wraps
        for x in ("rts", "rmid", "rimb", "rvol"):
            getattr(a, x)[...] = rng.integers(0, 1000, getattr(a, x).shape)
        for x in ("st", "rts", "rmid", "rimb", "rvol"):
            getattr(b, x)[...] = getattr(a, x)
        a.grow(need_)
        b.grow()
        while len(b.rts) < need_:
            b.grow()
        for x in ("st", "rts", "rmid", "rimb", "rvol"):
            assert getattr(a, x).tobytes() == getattr(b, x).tobytes(), (need_, x)


def _trades(sizes: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    rows, off = [], [0]
    for g, trs in enumerate(sizes):
        rows += [(g, g, 0, 100, size, side, 0, 0) for size, side in trs]
        off.append(len(rows))
    return np.array(rows, dtype=TRADE_DTYPE), np.array(off, dtype=np.int64)


P = MomentumParams(window_ns=1_000, tick_scale=2.0, flow_scale=0.5, imbalance_scale=0.5,
                   weights=(0.5, 0.25, 0.25))  # fmt: skip


def test_a_zero_of_the_other_sign_is_computed_not_copied() -> None:
    """mid 0.0 then -0.0: the price change turns from 0.0 to -0.0 (equal as numbers), and its
    tanh from 0.0 to -0.0; the imbalance goes 0.0, -0.0 the same way."""
    mid = np.array([0.0, 0.0, -0.0, -0.0, 0.0, 1.0, 1.0, -0.0])
    imb = np.array([0.0, -0.0, -0.0, 0.5, 0.5, -0.0, 0.0, 0.0])
    ts = np.arange(len(mid), dtype=np.int64)
    trades, off = _trades([[]] * len(mid))
    out = _both(ts, mid, imb, trades, off, P)
    assert math.copysign(1.0, out[2, 1]) == -1.0  # tanh(-0.0 / 2) = -0.0, not the row before's


def test_repeated_inputs_runs_and_returns() -> None:
    rng = np.random.default_rng(5)
    n = 400
    ts = np.cumsum(rng.integers(0, 60, n)).astype(np.int64)  # the window drops groups often
    mid = np.where(rng.random(n) < 0.7, 0.0, rng.integers(-3, 4, n) / 2) + 4000.0
    mid = np.where(rng.random(n) < 0.05, np.nan, mid)  # a side empty now and then
    imb = np.where(rng.random(n) < 0.6, 0.25, rng.integers(-4, 5, n) / 8)
    trs = [
        [(int(rng.integers(1, 5)), BUY if rng.random() < 0.5 else SELL)]
        if rng.random() < 0.3 else [] for _ in range(n)
    ]  # fmt: skip
    trades, off = _trades(trs)
    for pieces in (1, 3, 7):
        _both(ts, mid, imb, trades, off, P, pieces)


def test_esh4_batch_equals_one_update_per_group() -> None:
    ev, inst = read_mbo(need(ES_MBO))
    ev = ev[:12_000]
    depth = OrderBook(inst).apply_mbo(ev, record_depth=10).depth
    assert depth is not None
    trades = trades_from_mbo(ev)
    off = trade_offsets(depth, trades, np.flatnonzero(ev["action"] == Action.TRADE))
    m = BookMetrics(width=10).update_many(depth, trades, off)
    mid, imb = m.mid.copy(), m.imbalance.copy()
    out = _both(depth.ts_event, mid, imb, trades, off, MomentumParams(), pieces=2)
    assert len(np.unique(out[:, 1])) > 20  # the price term moved on the recorded book


def test_fewer_rows_than_groups_write_only_their_own() -> None:
    """An output of ``k`` rows for ``n > k`` groups: rows ``0..k-2`` are the first groups', row
    ``k-1`` the last group's, bit for bit, and the groups in between only move the window. The
    rows come in holding the group before the last one's inputs with wrong terms: a term taken
    from a row this call did not write would show (the last group's price change and mean
    imbalance are the group before's)."""
    rng = np.random.default_rng(11)
    n = 300
    ts = np.cumsum(rng.integers(0, 60, n)).astype(np.int64)
    mid = np.where(rng.random(n) < 0.8, 0.0, rng.integers(-3, 4, n) / 2) + 4000.0
    imb = np.where(rng.random(n) < 0.9, 0.25, rng.integers(-4, 5, n) / 8)
    trades, off = _trades([[(1, BUY)] if g % 9 == 0 else [] for g in range(n)])
    ref = Momentum(P).update_many(ts, mid, imb, trades, off).values
    tsz = np.ascontiguousarray(trades["size"], dtype=np.int64)
    tsd = np.ascontiguousarray(trades["side"], dtype=np.int64)
    for g in range(n - 1, 10, -1):
        same = (ref[g, 4:] == ref[g - 1, 4:]) & (ref[g, 4:] != 0.0)
        if same[0] and same[2]:  # (the price change and the mean imbalance)
            break
    else:
        raise AssertionError("no group whose inputs repeat")
    for k in (1, 2, 5, g - 1, g):
        m = Momentum(P)
        s = m._s
        s.grow(g + 2)
        out = np.empty((k, NO))
        out[:] = ref[g - 1]  # the group before's inputs, with terms no tanh gives
        out[:, :4] = 9.0
        _run(ts[: g + 1], mid[: g + 1], imb[: g + 1], off[: g + 2], tsz, tsd, m._pf, s.st, s.sf,
             s.rts, s.rmid, s.rimb, s.rvol, out)  # fmt: skip
        assert _bits(out[: k - 1]) == _bits(ref[: k - 1]), k
        assert _bits(out[k - 1]) == _bits(ref[g]), k
