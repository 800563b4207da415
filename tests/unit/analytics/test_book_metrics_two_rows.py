"""The fused step's book metrics over many groups (``_metrics_many``: ``run_two_rows``, its rows
in two alternating rows) equal the batch kernel ``run`` with a row per group, bit for bit, on
the recorded ESH4 day cut into calls of 1, 2, 3, 1,000 groups and the rest, each continuing
the state the one before left: every group's mid and imbalance, the last group's every row
(spread, depth, pulling/stacking, OFI and its sums, walls, reference sizes) as the live
buffers keep them, and the state behind them (OFI ring, accumulators, walls)."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np

from orderflow.analytics import _book_metrics_kernels as K
from orderflow.analytics.book_metrics import BookMetrics, trade_offsets
from orderflow.analytics.trades import trades_from_mbo
from orderflow.book.l3 import OrderBook
from orderflow.engine._fused_kernels import _metrics_many
from orderflow.io.dbn import read_mbo
from orderflow.model.enums import Action
from tests.conftest import ES_MBO, need

_I8 = np.int64


@cache
def _esh4() -> tuple[np.ndarray, ...]:
    ev, inst = read_mbo(need(ES_MBO))
    depth = OrderBook(inst).apply_mbo(ev, record_depth=10).depth
    assert depth is not None
    trades = trades_from_mbo(ev)
    off = trade_offsets(depth, trades, np.flatnonzero(ev["action"] == Action.TRADE))
    tcol = np.zeros((4, len(trades)), dtype=_I8)
    tcol[1], tcol[2], tcol[3] = trades["price"], trades["size"], trades["side"]
    cols = (depth.ts_event, depth.bid_price, depth.bid_size, depth.ask_price, depth.ask_size)
    return (*(np.ascontiguousarray(a, dtype=_I8) for a in cols), np.asarray(off, _I8), tcol)


def _state(groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fresh BookMetrics' int buffer, OFI ring (room for every group) and float buffer."""
    m = BookMetrics(width=10)
    while len(m._s.ring) < groups + 2:
        m._s.grow_ring()
    m._bind()
    return m._s.ints, m._s.ring, m._floats


def _reference_many(
    nb: int, ts: np.ndarray, bp: np.ndarray, bs: np.ndarray, ap: np.ndarray, asz: np.ndarray,
    off: np.ndarray, tb: np.ndarray, pi: np.ndarray, ring: np.ndarray, pf: np.ndarray,
    mi: np.ndarray,
) -> None:  # fmt: skip
    """What the fused step ran before: ``run`` into a row per group, then the last row into
    the live buffers and every row's mid and imbalance out."""
    lo, lw, lp = int(pi[K.P_OFI_L]), int(pi[K.P_WALL_L]), 4 * int(pi[K.P_PS_L])
    m, o, sn = int(pi[K.P_MEM]), int(pi[K.P_O_OFI]), int(pi[K.P_O_SINCE])
    v, f = int(pi[K.P_O_LV]), int(pi[K.P_O_OF])
    oi, ofl = np.empty((nb, K.NI), dtype=_I8), np.empty((nb, K.NF))
    ofi, ofs = np.empty((nb, lo), dtype=_I8), np.empty((nb, lo), dtype=_I8)
    since = np.empty((nb, 2 * lw), dtype=_I8)
    lv = np.zeros((3, 1, lp), dtype=_I8)
    ofl[0], since[0] = pf[f : f + K.NF], pi[sn : sn + 2 * lw]
    K.run(ts, bp, bs, ap, asz, off[: nb + 1], tb, pi, pf, ring, oi, ofl, ofi, ofs, since, False,
          lv[0], lv[1], lv[2])  # fmt: skip
    pi[m] = ts[nb - 1]
    pi[m + 1 : m + 1 + K.NI] = oi[nb - 1]
    pf[f : f + K.NF] = ofl[nb - 1]
    pi[o : o + lo], pi[o + lo : o + 2 * lo] = ofi[nb - 1], ofs[nb - 1]
    pi[sn : sn + 2 * lw] = since[nb - 1]
    for k in range(3):
        pi[v + k * lp : v + (k + 1) * lp] = lv[k, 0]
    mi[0, :nb], mi[1, :nb] = ofl[:, K.F_MID], ofl[:, K.F_IMB]


def test_two_rows_equal_a_row_per_group_on_esh4() -> None:
    ts, bp, bs, ap, asz, off, tcol = _esh4()
    n = len(ts)
    assert n == 47_022
    ref, new = _state(n), _state(n)
    tb = tcol[1:4]
    cuts = [0, 1, 3, 6, 1006, n]
    for a, b in itertools.pairwise(cuts):
        nb = b - a
        # each call's prints from 0 (as the fused step's columns hold them)
        t0, t1 = int(off[a]), int(off[b])
        o = off[a : b + 1] - t0
        args = (ts[a:b], bp[a:b], bs[a:b], ap[a:b], asz[a:b], o, np.ascontiguousarray(tb[:, t0:t1]))
        mi_ref = np.full((2, nb + 3), 7.0)  # (past nb: never written)
        mi_new = mi_ref.copy()
        _reference_many(nb, *args, *ref, mi_ref)
        _metrics_many(nb, *args, *new, mi_new)
        assert mi_new.tobytes() == mi_ref.tobytes(), (a, b)
        for x, y in zip(new, ref, strict=True):  # live buffers, ring, floats: every bit
            assert x.tobytes() == y.tobytes(), (a, b)
    # something was measured: the mids move and the walls and OFI sums are not all zero
    pi = ref[0]
    assert np.ptp(ts) > 0 and pi[int(pi[K.P_O_OFI]) : int(pi[K.P_O_LV])].any()


def test_ring_grown_to_a_size_is_the_doublings_one_by_one() -> None:
    """``grow_ring(at_least)`` (the fused step's growth for a call of many groups): one copy,
    the ring the doublings one by one would leave, oldest group first."""
    rng = np.random.default_rng(7)
    for need_ in (0, 17, 64, 65, 1000):
        a, b = BookMetrics(width=10)._s, BookMetrics(width=10)._s
        n = len(a.ring)
        a.ring[...] = rng.integers(-50, 50, a.ring.shape)
        a.st[K.S_HEAD], a.st[K.S_COUNT] = n - 3, n - 1  # a ring that wraps
        b.ring[...], b.ints[...] = a.ring, a.ints
        a.grow_ring(need_)
        b.grow_ring()
        while len(b.ring) < need_:
            b.grow_ring()
        assert a.ring.tobytes() == b.ring.tobytes() and a.ints.tobytes() == b.ints.tobytes()
