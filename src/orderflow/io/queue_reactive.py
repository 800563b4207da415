"""The queue-reactive order-book model (Huang, Lehalle and Rosenbaum, "Simulating and analyzing
order book data: the queue-reactive model", JASA 2015), as an order-by-order simulator.

The state is each side's best price and the queues (contracts) at the ticks behind it. At the
first ``QR_LEVELS`` ticks of each side (level 0 = the best, level 1 one tick behind it, ...),
limit orders arrive, resting orders are cancelled and, at level 0 only, market orders arrive,
each as a Poisson process whose intensity depends on the size of that queue in units of the
level's average event size (AES): ``lambda_kind[level][bin(ceil(q / AES))]``. Both sides share
the intensities (the model is symmetric). When the spread is two ticks or more, a limit order
arrives inside it at rate ``inspread`` per side and becomes the new best.

When a best queue depletes (a market order or a cancel takes its last contract), the price of
that side moves to the next non-empty tick and the spread widens; it closes again with an order
inside the spread from either side, so the mid moves up, down or back (HLR's Model III rule of a
reference-price change on depletion, with the probability of each outcome coming out of the
fitted intensities instead of a separate parameter). The ticks behind the dynamic levels, up to
``QR_DEEP`` levels, follow the model's deep part: limit orders at ``deep_limit`` per level and
cancels at ``deep_cancel`` per resting order, whose invariant distribution is a Poisson number
of orders (mean ``deep_limit / deep_cancel``) of sizes from the limit-order size table. A tick that
comes into the book for the first time (the start, or a price never visited) is drawn from
that invariant distribution. Ticks further away are left as they are.

Order sizes come from five-class tables (probability and mean size of 1, 2, 3-5, 6-15 and 16+
contracts): limit orders from ``add_size``, market orders from ``market_size`` (capped at the best
queue: the model's market orders do not sweep). A cancel removes one whole resting order chosen
at random in its queue; a market order fills the queue first in, first out.

The output is an order-by-order stream (:data:`~orderflow.model.dtypes.MBO_DTYPE`) in
Databento's conventions (a market order is one exchange event: one ``T`` print, an ``F`` per
resting order it fills, then the ``C`` that reduce them, ``Flags.LAST`` on its last record), so
the books, the converter and the pipeline process it exactly like exchange data.

:data:`ES_FIT` holds the parameters fitted once to the ES recording (see docs/simulated.md and
``scripts/fit_queue_reactive.py``); :mod:`orderflow.io.qr_fit` is the estimator.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np

from orderflow.core.errors import ParameterError
from orderflow.io.qr_fit import QR_BINS, QR_DEEP
from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Action, Flags

__all__ = ["ES_FIT", "ES_TARGETS", "QRGenerator", "QRParams", "simulate_qr"]

# fmt: off
#: Fitted once with ``scripts/fit_queue_reactive.py`` to
#: ``databento/es_mbo/esh4-glbx-mdp3-20231225.mbo.dbn.zst`` (ESH4, CME Globex), the trading hour
#: 2023-12-25 23:00-24:00 UTC (3,599 s of uncrossed book, 41,869 events within 10 levels).
#: Intensities per side per second; bins of ceil(q / AES) with lower edges QR_BINS.
ES_FIT: dict[str, object] = {
    "aes": [1.9516, 2.6089, 2.7713],
    "limit": [[0.0, 7.24576, 3.82646, 1.88835, 1.27831, 0.95218],
              [519.44305, 4.967, 1.44888, 0.40249, 0.26753, 0.35827],
              [840.81519, 9.18876, 2.34204, 0.82152, 0.18245, 0.24544]],
    "cancel": [[0.0, 2.5793, 1.98839, 1.4327, 1.11781, 1.0005],
               [0.0, 1.27204, 0.93403, 0.48598, 0.32048, 0.35827],
               [0.0, 1.59805, 0.57305, 0.39555, 0.14265, 0.22622]],
    "market": [0.0, 3.44492, 0.94978, 0.33684, 0.19892, 0.14694],
    "inspread": 1.83386,
    "deep_limit": 0.072213,
    "deep_cancel": 0.003418,
    "add_size": [[0.6157, 0.1749, 0.1765, 0.0266, 0.0064], [1.0, 2.0, 3.5233, 8.047, 36.587]],
    "market_size": [[0.5916, 0.1539, 0.1303, 0.0812, 0.0431], [1.0, 2.0, 3.7832, 9.2435, 30.9672]],
}
#: The same recording's own statistics, which the simulator is checked against.
ES_TARGETS: dict[str, object] = {
    "mean_spread": 1.0608, "share_spread_1": 0.9395, "mean_best_queue": 33.774,
    "mean_queue": [33.774, 49.703, 53.097], "mean_deep_size": 374.06,
    "event_share": {"limit": 0.515, "cancel": 0.4, "market": 0.085},
    "mid_changes_per_s": 0.4712,
}
# fmt: on


@dataclass(frozen=True, slots=True)
class QRParams:
    """The simulator's settings: the fitted table, where the price starts, the seed."""

    fit: dict[str, object] = field(default_factory=lambda: ES_FIT)
    start_price: int = 19240  # ticks (ES 4810.00)
    start_ns: int = 1_703_545_200_000_000_000  # 2023-12-25T23:00:00Z
    seed: int = 7
    #: every intensity multiplied by this (1: the fitted market; 20: as busy as an active
    #: session with the same event mix, the same events at times 20 times closer)
    activity: float = 1.0


_ADD, _CANCEL, _TRADE, _FILL = (
    int(Action.ADD),
    int(Action.CANCEL),
    int(Action.TRADE),
    int(Action.FILL),
)
_LAST = int(Flags.LAST)
_W = 1 << 13  # price slots
_CAP = 512  # orders per price
_SLACK = 24 * _CAP  # records one event can write at most (fills, new ticks)


@nb.njit(cache=True)
def _pick_size(probs: np.ndarray, means: np.ndarray) -> int:
    """A size from a five-class table: the class by its probability, then within the class a
    geometric draw above its lower bound with the class mean (exact for classes 1 and 2)."""
    u = np.random.random() * probs.sum()
    k = 0
    while k < len(probs) - 1 and u > probs[k]:
        u -= probs[k]
        k += 1
    lo = (1, 2, 3, 6, 16)[k]
    extra = means[k] - lo
    if extra <= 0.0:
        return lo
    return lo + int(np.random.geometric(1.0 / (1.0 + extra))) - 1


@nb.njit(cache=True)
def _bin_of(q: int, aes: float, edges: np.ndarray) -> int:
    n = int(np.ceil(q / aes))
    b = 0
    while b + 1 < len(edges) and n >= edges[b + 1]:
        b += 1
    return b


#: the simulator's scalar state (an int64 array the kernels share): the next order id, the
#: clock, whether the run has ended (the end time passed or the price left the grid)
_S_NEXT, _S_T, _S_DONE = 0, 1, 2


@nb.njit(cache=True)
def _open(
    seed: int,
    base: int,
    mean_orders: float,
    add_p: np.ndarray,
    add_m: np.ndarray,
    ids: np.ndarray,
    szs: np.ndarray,
    cnt: np.ndarray,
    qty: np.ndarray,
    seen: np.ndarray,
    best: np.ndarray,
    sc: np.ndarray,
    o_ts: np.ndarray,
    o_id: np.ndarray,
    o_px: np.ndarray,
    o_sz: np.ndarray,
    o_act: np.ndarray,
    o_side: np.ndarray,
    o_flags: np.ndarray,
) -> int:
    """Seed the generator and write the opening book (every tick of both sides drawn from the
    invariant distribution); returns the records written."""
    np.random.seed(seed)
    D = QR_DEEP
    sgn = np.array([-1, 1])  # away from the spread, per side
    next_id, t, i = sc[_S_NEXT], sc[_S_T], 0
    # the opening book: every tick of both sides drawn from the invariant distribution
    for side in range(2):
        for lvl in range(D):
            s = best[side] + sgn[side] * lvl
            seen[s] = True
            for _ in range(max(1, np.random.poisson(mean_orders))):
                size = _pick_size(add_p, add_m)
                if cnt[s] < _CAP:
                    ids[s, cnt[s]] = next_id
                    szs[s, cnt[s]] = size
                    cnt[s] += 1
                    qty[s] += size
                    o_ts[i], o_id[i], o_px[i], o_sz[i] = t, next_id, base + s, size
                    o_act[i], o_side[i], o_flags[i] = _ADD, side, _LAST
                    i += 1
                    next_id += 1

    sc[_S_NEXT] = next_id
    return i


@nb.njit(cache=True)
def _advance(
    i: int,
    n_stop: int,
    t_end: int,
    base: int,
    activity: float,
    aes: np.ndarray,
    lam_l: np.ndarray,
    lam_c: np.ndarray,
    lam_m: np.ndarray,
    inspread: float,
    deep_l: float,
    deep_c: float,
    add_p: np.ndarray,
    add_m: np.ndarray,
    mkt_p: np.ndarray,
    mkt_m: np.ndarray,
    edges: np.ndarray,
    ids: np.ndarray,
    szs: np.ndarray,
    cnt: np.ndarray,
    qty: np.ndarray,
    seen: np.ndarray,
    best: np.ndarray,
    sc: np.ndarray,
    o_ts: np.ndarray,
    o_id: np.ndarray,
    o_px: np.ndarray,
    o_sz: np.ndarray,
    o_act: np.ndarray,
    o_side: np.ndarray,
    o_flags: np.ndarray,
) -> int:
    """Whole exchange events from the state, written from ``i`` on, while ``i < n_stop`` (an
    event may run past it by at most ``_SLACK`` records); returns the new ``i``. The state
    (the queues, the clock, the generator's draws) carries over to the next call, so a run cut
    into calls is the same record for record as one call."""
    if sc[_S_DONE]:
        return i
    K, D = lam_l.shape[0], QR_DEEP
    mean_orders = deep_l / deep_c
    sgn = np.array([-1, 1])
    next_id, t = sc[_S_NEXT], sc[_S_T]
    rates = np.zeros((2, 2 * K + 4))

    while i < n_stop and t < t_end:
        # intensities: per side, limit/cancel at the K dynamic levels, market, in-spread,
        # deep limit (all deep levels), deep cancel (all deep orders)
        spread = best[1] - best[0]
        for side in range(2):
            for lvl in range(K):
                q = qty[best[side] + sgn[side] * lvl]
                b = _bin_of(q, aes[lvl], edges)
                rates[side, lvl] = lam_l[lvl, b]
                rates[side, K + lvl] = lam_c[lvl, b] if q > 0 else 0.0
            rates[side, 2 * K] = lam_m[_bin_of(qty[best[side]], aes[0], edges)]
            rates[side, 2 * K + 1] = inspread if spread >= 2 else 0.0
            rates[side, 2 * K + 2] = deep_l * (D - K)
            deep_orders = 0
            for lvl in range(K, D):
                deep_orders += cnt[best[side] + sgn[side] * lvl]
            rates[side, 2 * K + 3] = deep_c * deep_orders
        total = rates.sum()
        t += int(np.random.exponential(1.0 / (total * activity)) * 1e9) + 1
        if t > t_end:
            sc[_S_DONE] = 1
            break
        u = np.random.random() * total
        side, kind = 0, 0
        found = False
        for sd in range(2):
            for k in range(2 * K + 4):
                if u < rates[sd, k]:
                    side, kind, found = sd, k, True
                    break
                u -= rates[sd, k]
            if found:
                break
        if not found:
            side, kind = 1, 2 * K + 3
        start = i
        # --- the event
        if kind < K or kind == 2 * K + 1 or kind == 2 * K + 2:  # a limit order
            if kind < K:
                s = best[side] + sgn[side] * kind
            elif kind == 2 * K + 1:
                s = best[side] - sgn[side]  # one tick into the spread
            else:
                s = best[side] + sgn[side] * np.random.randint(K, D)
            if cnt[s] < _CAP:
                size = _pick_size(add_p, add_m)
                ids[s, cnt[s]] = next_id
                szs[s, cnt[s]] = size
                cnt[s] += 1
                qty[s] += size
                seen[s] = True
                o_ts[i], o_id[i], o_px[i], o_sz[i] = t, next_id, base + s, size
                o_act[i], o_side[i], o_flags[i] = _ADD, side, 0
                i += 1
                next_id += 1
                if kind == 2 * K + 1:
                    best[side] = s
        elif kind < 2 * K or kind == 2 * K + 3:  # a cancel of one whole order
            if kind < 2 * K:
                s = best[side] + sgn[side] * (kind - K)
            else:
                r = np.random.randint(0, max(1, int(rates[side, 2 * K + 3] / deep_c + 0.5)))
                s = best[side] + sgn[side] * K
                for lvl in range(K, D):
                    s = best[side] + sgn[side] * lvl
                    if r < cnt[s]:
                        break
                    r -= cnt[s]
            if cnt[s] > 0:
                j = np.random.randint(0, cnt[s])
                oid, size = ids[s, j], szs[s, j]
                for m in range(j, cnt[s] - 1):
                    ids[s, m] = ids[s, m + 1]
                    szs[s, m] = szs[s, m + 1]
                cnt[s] -= 1
                qty[s] -= size
                o_ts[i], o_id[i], o_px[i], o_sz[i] = t, oid, base + s, size
                o_act[i], o_side[i], o_flags[i] = _CANCEL, side, 0
                i += 1
        else:  # a market order against this side's best, first in first out
            s = best[side]
            want = min(_pick_size(mkt_p, mkt_m), qty[s])
            aggressor = 1 - side
            # one print of the whole order (one price: no sweep), then a fill per resting
            # order, then the C that reduce them
            o_ts[i], o_id[i], o_px[i], o_sz[i] = t, 0, base + s, want
            o_act[i], o_side[i], o_flags[i] = _TRADE, aggressor, 0
            i += 1
            f0 = i
            while want > 0:
                take = min(want, szs[s, 0])
                o_ts[i], o_id[i], o_px[i], o_sz[i] = t, ids[s, 0], base + s, take
                o_act[i], o_side[i], o_flags[i] = _FILL, side, 0
                i += 1
                want -= take
                szs[s, 0] -= take
                qty[s] -= take
                if szs[s, 0] == 0:
                    for m in range(cnt[s] - 1):
                        ids[s, m] = ids[s, m + 1]
                        szs[s, m] = szs[s, m + 1]
                    cnt[s] -= 1
            for m in range(f0, i):
                o_ts[i], o_id[i], o_px[i], o_sz[i] = t, o_id[m], o_px[m], o_sz[m]
                o_act[i], o_side[i], o_flags[i] = _CANCEL, side, 0
                i += 1
        # --- a depleted best: the side's price moves to the next non-empty tick
        for sd in range(2):
            if qty[best[sd]] > 0:
                continue
            s = best[sd]
            for _ in range(4 * D):
                s += sgn[sd]
                if qty[s] > 0:
                    break
            if qty[s] == 0:  # nothing within reach: a fresh tick behind the old best
                s = best[sd] + sgn[sd]
                seen[s] = False
            best[sd] = s
            # ticks that come into the book for the first time: the invariant distribution
            for lvl in range(D):
                f = best[sd] + sgn[sd] * lvl
                if seen[f]:
                    continue
                seen[f] = True
                for _ in range(max(1, np.random.poisson(mean_orders))):
                    size = _pick_size(add_p, add_m)
                    if cnt[f] < _CAP:
                        ids[f, cnt[f]] = next_id
                        szs[f, cnt[f]] = size
                        cnt[f] += 1
                        qty[f] += size
                        o_ts[i], o_id[i], o_px[i], o_sz[i] = t, next_id, base + f, size
                        o_act[i], o_side[i], o_flags[i] = _ADD, sd, 0
                        i += 1
                        next_id += 1
        if i > start:
            o_flags[i - 1] = _LAST
        if best[0] < 2 * D + 4 * D or best[1] > _W - 6 * D:
            sc[_S_DONE] = 1  # the price walked off the grid (millions of events): stop here
            break
    sc[_S_NEXT], sc[_S_T] = next_id, t
    return i


class QRGenerator:
    """The simulator as a resumable stream: :meth:`next` writes whole exchange events into a
    buffer of ``chunk_records`` (plus room for one event) and returns them, the model's state
    (queues, clock, random draws) kept between calls, so the chunks put together are the same
    records as :func:`simulate_qr` of the same span, and memory is one chunk (plus the state's
    fixed 70 MB of queues) however long the run. The random draws are numba's, per thread:
    draw the chunks of one generator from one thread, with no other simulator in between in
    that thread."""

    def __init__(
        self,
        params: QRParams | None = None,
        seconds: float | None = None,
        n_events: int | None = None,
        chunk_records: int = 65_536,
    ) -> None:
        p = params or QRParams()
        if chunk_records < 1:
            raise ParameterError(f"chunk_records must be >= 1, got {chunk_records}")
        if not (p.activity > 0 and np.isfinite(p.activity)):
            raise ParameterError(f"activity must be a finite number > 0, got {p.activity}")
        if seconds is not None and not (seconds >= 0 and np.isfinite(seconds)):
            raise ParameterError(f"seconds must be a finite number >= 0, got {seconds}")
        f = p.fit
        big = int(np.iinfo(np.int64).max)
        self.chunk_records = chunk_records
        self.n_events = n_events if n_events is not None else big
        self.t_end = p.start_ns + int(seconds * 1e9) if seconds is not None else big
        self.produced = 0
        self._base = p.start_price - _W // 2
        self._activity = float(p.activity)
        add_p, add_m = (np.asarray(x, dtype=np.float64) for x in f["add_size"])  # type: ignore[attr-defined]
        mkt_p, mkt_m = (np.asarray(x, dtype=np.float64) for x in f["market_size"])  # type: ignore[attr-defined]
        self._model: tuple[Any, ...] = (
            np.asarray(f["aes"], dtype=np.float64), np.asarray(f["limit"], dtype=np.float64),
            np.asarray(f["cancel"], dtype=np.float64), np.asarray(f["market"], dtype=np.float64),
            float(f["inspread"]), float(f["deep_limit"]), float(f["deep_cancel"]),  # type: ignore[arg-type]
            add_p, add_m, mkt_p, mkt_m, np.asarray(QR_BINS, dtype=np.int64),
        )  # fmt: skip
        self._state = (
            np.zeros((_W, _CAP), dtype=np.int64), np.zeros((_W, _CAP), dtype=np.int64),
            np.zeros(_W, dtype=np.int64), np.zeros(_W, dtype=np.int64),
            np.zeros(_W, dtype=np.bool_), np.array([_W // 2, _W // 2 + 1], dtype=np.int64),
            np.array([1, p.start_ns, 0], dtype=np.int64),
        )  # fmt: skip
        cap = min(chunk_records, self.n_events) + _SLACK
        self._out: tuple[np.ndarray, ...] = (*(np.zeros(cap, dtype=np.int64) for _ in range(4)),
                     np.zeros(cap, dtype=np.int8), np.zeros(cap, dtype=np.int8),
                     np.zeros(cap, dtype=np.uint8))  # fmt: skip
        self._seed = p.seed
        self._opened = False
        self.done = False

    def next(self) -> np.ndarray:
        """The next chunk of records (:data:`MBO_DTYPE`), empty once the run has ended."""
        if self.done:
            return np.zeros(0, dtype=MBO_DTYPE)
        i = 0
        ids, szs, cnt, qty, seen, best, sc = self._state
        m = self._model
        if not self._opened:
            self._opened = True
            i = _open(self._seed, self._base, m[5] / m[6], m[7], m[8],
                      ids, szs, cnt, qty, seen, best, sc, *self._out)  # fmt: skip
        left = self.n_events - self.produced
        n = _advance(i, min(self.chunk_records, left), self.t_end, self._base, self._activity,
                     *m, ids, szs, cnt, qty, seen, best, sc, *self._out)  # type: ignore[call-arg]  # fmt: skip
        flags = self._out[6]
        if n > left:  # the last whole event that ends within n_events
            ends = np.flatnonzero(flags[:n] & _LAST)
            k = int(np.searchsorted(ends, left, side="left")) - 1
            n = int(ends[k] + 1) if k >= 0 else 0
        if n == 0 or sc[_S_DONE] or n >= left:
            self.done = True
        out = np.zeros(n, dtype=MBO_DTYPE)
        ts, oid, px, sz, act, side, _ = self._out
        out["ts_event"] = out["ts_recv"] = ts[:n]
        out["sequence"] = np.arange(self.produced + 1, self.produced + n + 1)
        out["order_id"] = oid[:n]
        out["price"] = px[:n]
        out["size"] = sz[:n]
        out["action"] = act[:n]
        out["side"] = side[:n]
        out["flags"] = flags[:n]
        self.produced += n
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        """The chunks, each non-empty, until the run ends."""
        while not self.done:
            chunk = self.next()
            if len(chunk):
                yield chunk


def simulate_qr(
    n_events: int = 100_000, params: QRParams | None = None, seconds: float | None = None
) -> np.ndarray:
    """Simulate the queue-reactive model: at most ``n_events`` MBO records (whole exchange
    events), or ``seconds`` of market time if that comes first (one chunk of
    :class:`QRGenerator`)."""
    return QRGenerator(params, seconds, n_events, chunk_records=n_events).next()
