"""Momentum score: price change, trade-flow delta and book imbalance over a time window, in [-1, 1].

Three views of the same pressure, each cheap to read at every event group:

- **price**: how far the mid moved over the window, ``dmid = mid(now) - mid(now - window)`` in
  ticks; the mid carries forward over groups where a side is empty, and before a full window of
  history the first mid seen stands for ``mid(now - window)``.
- **flow**: the aggressors' net volume, ``flow = (buy - sell) / total`` over the trades of the
  window (buyer-initiated minus seller-initiated, unknown aggressors count in ``total`` only), in
  [-1, 1] and 0 without trades.
- **book**: the mean book imbalance ``(B - A) / (B + A)`` (as :mod:`.book_metrics` computes it)
  over the event groups of the window.

Each is squashed by ``tanh`` with its own scale, so one huge reading cannot dominate and the
scales say what "a lot" means for the instrument, then weighted (weights >= 0, sum 1)::

    score = w_p * tanh(dmid / tick_scale) + w_f * tanh(flow / flow_scale)
          + w_b * tanh(mean_imbalance / imbalance_scale)

so ``score`` lies in [-1, 1]: positive is upward pressure. With the defaults (a 60 s window,
``tick_scale`` 4, ``flow_scale`` and ``imbalance_scale`` 0.5, weights 0.4/0.3/0.3) a 4-tick rise
alone gives ``0.4 * tanh(1) = 0.30``; a rise with every trade a buy and bids twice the asks
(imbalance 1/3) gives ``0.30 + 0.3 * tanh(2) + 0.3 * tanh(2/3) = 0.77``.

The window holds the event groups with ``ts_event > now - window_ns`` (the current one always).
:func:`momentum_batch` and :class:`Momentum` run the same kernel on the same sequence of sums, so
their numbers are identical; a read is O(1), an update amortised O(1 + trades of the group).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orderflow.analytics.params import MomentumParams as MomentumParams
from orderflow.book._jit import kernel
from orderflow.core.errors import ArgumentError
from orderflow.model.enums import Side

__all__ = ["Momentum", "MomentumParams", "MomentumRecord", "momentum_batch"]

# outputs
O_SCORE, O_PRICE, O_FLOW, O_BOOK, O_DMID, O_FLOW_RAW, O_IMB = range(7)
NO = 7
# int state: ring head and count, window sums of buy, sell and total volume
S_HEAD, S_COUNT, S_BUY, S_SELL, S_TOT = range(5)
# float state: window sum of imbalance, reference mid, last mid
G_IMB, G_REF, G_LAST = range(3)


@kernel
def _run(
    ts: np.ndarray,
    mid: np.ndarray,
    imb: np.ndarray,
    off: np.ndarray,
    tsz: np.ndarray,
    tsd: np.ndarray,
    pf: np.ndarray,
    st: np.ndarray,
    sf: np.ndarray,
    rts: np.ndarray,
    rmid: np.ndarray,
    rimb: np.ndarray,
    rvol: np.ndarray,
    out: np.ndarray,
) -> None:
    """Momentum at every row from the state ``st``/``sf`` and the ring ``r*``; both paths.
    A ``tanh`` whose input equals the row before's (bit for bit: equal and not zero) is that
    row's value, not computed again (most groups move neither the mid nor the flow).

    ``out`` has a row per group, or fewer: the groups past its last row share that row, and only
    the call's last group writes it (one row: only the latest group's values are kept, what the
    fused step reads). A group whose row the next group writes over only moves the window (its
    terms are a function of the window's sums alone, and the next group's come from the sums
    again), and a row is taken from the row before only when the group before wrote it in this
    call: the same numbers either way."""
    win = np.int64(pf[0])
    cap = rts.shape[0]
    top = out.shape[0] - 1
    last = ts.shape[0] - 1
    for r in range(ts.shape[0]):
        m = mid[r]
        if not np.isnan(m):
            sf[G_LAST] = m
            if np.isnan(sf[G_REF]):
                sf[G_REF] = m
        buy = sell = tot = 0
        for t in range(off[r], off[r + 1]):
            if tsd[t] == Side.BID:
                buy += tsz[t]
            elif tsd[t] == Side.ASK:
                sell += tsz[t]
            tot += tsz[t]
        x = imb[r] if not np.isnan(imb[r]) else 0.0
        pos = st[S_HEAD] + st[S_COUNT]  # < 2 * cap: head < cap, count < cap (no division)
        if pos >= cap:
            pos -= cap
        rts[pos], rmid[pos], rimb[pos] = ts[r], sf[G_LAST], x
        rvol[pos, 0], rvol[pos, 1], rvol[pos, 2] = buy, sell, tot
        st[S_COUNT] += 1
        st[S_BUY] += buy
        st[S_SELL] += sell
        st[S_TOT] += tot
        sf[G_IMB] += x
        while rts[st[S_HEAD]] <= ts[r] - win:
            h = st[S_HEAD]
            st[S_BUY] -= rvol[h, 0]
            st[S_SELL] -= rvol[h, 1]
            st[S_TOT] -= rvol[h, 2]
            sf[G_IMB] -= rimb[h]
            if not np.isnan(rmid[h]):
                sf[G_REF] = rmid[h]
            st[S_HEAD] = h + 1 if h + 1 < cap else 0
            st[S_COUNT] -= 1
        if top <= r < last:  # its row is the next group's: nothing to write
            continue
        dmid = 0.0
        if not np.isnan(sf[G_LAST]):
            dmid = sf[G_LAST] - sf[G_REF]
        flow = (st[S_BUY] - st[S_SELL]) / st[S_TOT] if st[S_TOT] > 0 else 0.0
        mean_imb = sf[G_IMB] / st[S_COUNT]
        if 0 < r <= top:  # a term whose input is the previous row's (not 0: -0.0 == 0.0) stands
            q = out[r - 1]
            p = q[O_PRICE] if dmid == q[O_DMID] and dmid != 0.0 else np.tanh(dmid / pf[1])
            f = q[O_FLOW] if flow == q[O_FLOW_RAW] and flow != 0.0 else np.tanh(flow / pf[2])
            b = q[O_BOOK] if mean_imb == q[O_IMB] and mean_imb != 0.0 else np.tanh(mean_imb / pf[3])
        else:
            p, f, b = np.tanh(dmid / pf[1]), np.tanh(flow / pf[2]), np.tanh(mean_imb / pf[3])
        o = out[min(r, top)]
        o[O_SCORE] = pf[4] * p + pf[5] * f + pf[6] * b
        o[O_PRICE], o[O_FLOW], o[O_BOOK] = p, f, b
        o[O_DMID], o[O_FLOW_RAW], o[O_IMB] = dmid, flow, mean_imb


class _State:
    def __init__(self, ring: int) -> None:
        self.st = np.zeros(5, dtype=np.int64)
        self.sf = np.array([0.0, np.nan, np.nan])
        self.rts = np.zeros(ring, dtype=np.int64)
        self.rmid = np.zeros(ring)
        self.rimb = np.zeros(ring)
        self.rvol = np.zeros((ring, 3), dtype=np.int64)

    def grow(self, at_least: int = 0) -> None:
        """Doubles the ring, oldest group first, and again until it holds ``at_least`` groups
        (one copy: the size the doublings one by one would reach). O(ring)."""
        n, head, count = len(self.rts), int(self.st[S_HEAD]), int(self.st[S_COUNT])
        order = (head + np.arange(count)) % n
        size = 2 * n
        while size < at_least:
            size *= 2
        for name in ("rts", "rmid", "rimb", "rvol"):
            old = getattr(self, name)
            new = np.zeros((size, *old.shape[1:]), dtype=old.dtype)
            new[:count] = old[order]
            setattr(self, name, new)
        self.st[S_HEAD] = 0


def _trade_columns(trades: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if trades is None or len(trades) == 0:
        return _NONE, _NONE
    return (
        np.ascontiguousarray(trades["size"], dtype=np.int64),
        np.ascontiguousarray(trades["side"], dtype=np.int64),
    )


_NONE = np.zeros(0, dtype=np.int64)


@dataclass(slots=True)
class MomentumRecord:
    """Momentum at every event group: the score and its parts (see the module docstring)."""

    ts_event: np.ndarray
    values: np.ndarray  # (groups, 7) columns O_*

    score = property(lambda s: s.values[:, O_SCORE])
    price_term = property(lambda s: s.values[:, O_PRICE])
    flow_term = property(lambda s: s.values[:, O_FLOW])
    book_term = property(lambda s: s.values[:, O_BOOK])
    mid_change = property(lambda s: s.values[:, O_DMID])  # ticks
    flow = property(lambda s: s.values[:, O_FLOW_RAW])
    mean_imbalance = property(lambda s: s.values[:, O_IMB])


def momentum_batch(
    ts_event: np.ndarray,
    mid: np.ndarray,
    imbalance: np.ndarray,
    trades: np.ndarray | None = None,
    trade_offsets: np.ndarray | None = None,
    params: MomentumParams | None = None,
) -> MomentumRecord:
    """Momentum at every event group. ``mid`` (ticks, NaN when a side is empty) and
    ``imbalance`` per group, e.g. from :func:`.book_metrics.book_metrics_batch`; ``trades``
    (fields ``size`` and aggressor ``side``) with ``trades[off[r]:off[r+1]]`` printed in group
    ``r`` (:func:`.book_metrics.trade_offsets`). O(groups + trades)."""
    params = params or MomentumParams()
    n = len(ts_event)
    tsz, tsd = _trade_columns(trades)
    off = np.zeros(n + 1, dtype=np.int64) if trade_offsets is None else trade_offsets
    if len(tsz) and trade_offsets is None:
        raise ArgumentError("trades need trade_offsets (which group each trade belongs to)")
    s = _State(n + 1)
    out = np.zeros((n, NO))
    _run(
        np.ascontiguousarray(ts_event, dtype=np.int64), np.ascontiguousarray(mid, dtype=float),
        np.ascontiguousarray(imbalance, dtype=float), off, tsz, tsd, params.packed(), s.st, s.sf,
        s.rts, s.rmid, s.rimb, s.rvol, out,
    )  # fmt: skip
    return MomentumRecord(np.asarray(ts_event).copy(), out)


class Momentum:
    """Momentum of one stream, updated per event group; every read O(1).

    ``update`` is amortised O(1 + trades of the group) (the window's ring grows by doubling).
    """

    def __init__(self, params: MomentumParams | None = None) -> None:
        self.params = params or MomentumParams()
        self._pf = self.params.packed()
        self.reset()

    def reset(self) -> None:
        """Forget the window (after a gap or a new session)."""
        self._s = _State(64)
        self._ts = np.zeros(1, dtype=np.int64)
        self._mid = np.zeros(1)
        self._imb = np.zeros(1)
        self._off = np.zeros(2, dtype=np.int64)
        self._out = np.zeros((1, NO))

    def update(
        self, ts_event: int, mid: float, imbalance: float, trades: np.ndarray | None = None
    ) -> float:
        """Adds one event group (its mid in ticks, NaN if undefined; its book imbalance; the
        trades printed in it) and returns the score."""
        s = self._s
        if s.st[S_COUNT] == len(s.rts):
            s.grow()
        tsz, tsd = _trade_columns(trades)
        self._ts[0], self._mid[0], self._imb[0], self._off[1] = ts_event, mid, imbalance, len(tsz)
        _run(self._ts, self._mid, self._imb, self._off, tsz, tsd, self._pf, s.st, s.sf, s.rts,
             s.rmid, s.rimb, s.rvol, self._out)  # fmt: skip
        return float(self._out[0, O_SCORE])

    def update_many(
        self,
        ts_event: np.ndarray,
        mid: np.ndarray,
        imbalance: np.ndarray,
        trades: np.ndarray | None = None,
        trade_offsets: np.ndarray | None = None,
    ) -> MomentumRecord:
        """Adds many event groups at once (the batch path of a running stream): the same kernel
        and state as :meth:`update`, so feeding groups one by one or in chunks gives the same
        numbers. Arguments as in :func:`momentum_batch`; returns the momentum of every group."""
        n = len(ts_event)
        s = self._s
        while len(s.rts) < int(s.st[S_COUNT]) + n + 1:
            s.grow()
        tsz, tsd = _trade_columns(trades)
        off = np.zeros(n + 1, dtype=np.int64) if trade_offsets is None else trade_offsets
        if len(tsz) and trade_offsets is None:
            raise ArgumentError("trades need trade_offsets (which group each trade belongs to)")
        out = np.zeros((n, NO))
        _run(
            np.ascontiguousarray(ts_event, dtype=np.int64), np.ascontiguousarray(mid, dtype=float),
            np.ascontiguousarray(imbalance, dtype=float), off, tsz, tsd, self._pf, s.st, s.sf,
            s.rts, s.rmid, s.rimb, s.rvol, out,
        )  # fmt: skip
        if n:
            self._out[0] = out[-1]
        return MomentumRecord(np.asarray(ts_event).copy(), out)

    def _v(self, c: int) -> float:
        return float(self._out[0, c])

    score = property(lambda s: s._v(O_SCORE))
    price_term = property(lambda s: s._v(O_PRICE))
    flow_term = property(lambda s: s._v(O_FLOW))
    book_term = property(lambda s: s._v(O_BOOK))
    mid_change = property(lambda s: s._v(O_DMID))
    flow = property(lambda s: s._v(O_FLOW_RAW))
    mean_imbalance = property(lambda s: s._v(O_IMB))
