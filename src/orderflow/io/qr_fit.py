"""Fit the queue-reactive model (:mod:`orderflow.io.queue_reactive`) to an order-by-order stream.

The estimator is the maximum-likelihood one of a continuous-time Markov model: the intensity
of an event type at a level while its queue is in a size bin is the number of such events over
the time spent in that bin. The book is rebuilt from the records (order-id map; A/C/M/R), the
state is the one at the last exchange-event boundary (``Flags.LAST``) before each event, and only
uncrossed boundaries at or after ``start_ns`` count (the ES recording's pre-open is skipped).

How records become model events, per exchange event:

* ``T`` records: one market order per aggressor side (sizes summed) at the passive side's best.
* ``F`` records and the ``C``/``M`` that reduce a filled order: part of that market order.
* ``A``: a limit order at its level (or in the spread, or deeper).
* ``C``: a cancel of its size. ``M`` at the same price: a cancel of the size removed, or a
  limit order of the size added; ``M`` to another price: a cancel there and a limit order here.

Levels count ticks from the own side's best (level 0 = best bid / best ask; level 1 may be an
empty tick). The same function measures the simulator's output, which is how the tests check
that the simulator reproduces what it was fitted to.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from orderflow.model.enums import Action, Flags, Side

__all__ = ["QR_BINS", "QR_DEEP", "QR_LEVELS", "QRObservation", "fit_table", "observe"]

#: dynamic levels per side (HLR's K)
QR_LEVELS = 3
#: levels per side kept in the book; levels QR_LEVELS..QR_DEEP-1 are the "deep" book
QR_DEEP = 10
#: lower edges of the queue-size bins, in units of the level's average event size (n = ceil(q /
#: AES)); the last bin is open-ended. Bin 0 is the empty queue.
QR_BINS = (0, 1, 3, 6, 11, 21)

_L, _C, _M, _S = 0, 1, 2, 3  # event kinds: limit, cancel, market, in-spread limit


@dataclass(slots=True)
class QRObservation:
    """What :func:`observe` measured: the state durations and the classified events."""

    # boundaries that count: duration (s) until the next one, queues (side, level), spread
    dt: np.ndarray  # float64 (n,)
    queues: np.ndarray  # int64 (n, 2, QR_LEVELS)
    spread: np.ndarray  # int64 (n,) ticks
    mid2: np.ndarray  # int64 (n,) best bid + best ask, ticks
    deep_orders: np.ndarray  # int64 (n, 2): resting orders at levels QR_LEVELS..QR_DEEP-1
    deep_size: np.ndarray  # int64 (n, 2): contracts at those levels
    # events: kind, side (book side), level, queue before (contracts), size, state row
    kind: np.ndarray
    side: np.ndarray
    level: np.ndarray
    q_before: np.ndarray
    size: np.ndarray
    row: np.ndarray


def observe(events: np.ndarray, start_ns: int | None = None) -> QRObservation:
    """Rebuild the book from ``events`` (MBO_DTYPE) and classify every event after ``start_ns``
    (default: the first trade) against the state before it."""
    acts = events["action"]
    if start_ns is None:
        trades = np.flatnonzero(acts == Action.TRADE)
        start_ns = int(events["ts_event"][trades[0]]) if len(trades) else 0
    size_at: list[dict[int, int]] = [{}, {}]  # side -> price -> contracts
    count_at: list[dict[int, int]] = [{}, {}]  # side -> price -> orders
    orders: dict[int, tuple[int, int, int]] = {}  # id -> side, price, size
    best = [None, None]  # type: list[int | None]

    def put(side: int, price: int, dsize: int, dcount: int) -> None:
        s = size_at[side].get(price, 0) + dsize
        c = count_at[side].get(price, 0) + dcount
        if c <= 0 or s <= 0:
            size_at[side].pop(price, None)
            count_at[side].pop(price, None)
            if best[side] == price:
                book = size_at[side]
                best[side] = (max(book) if side == Side.BID else min(book)) if book else None
        else:
            size_at[side][price] = s
            count_at[side][price] = c
            b = best[side]
            if b is None or (price > b if side == Side.BID else price < b):
                best[side] = price

    dts: list[float] = []
    qs: list[list[int]] = []
    spreads: list[int] = []
    mids: list[int] = []
    deep_o: list[list[int]] = []
    deep_s: list[list[int]] = []
    ev_rows: list[tuple[int, int, int, int, int, int]] = []
    row = -1  # the counted state the next events see (-1: none)
    last_ts = 0

    ts_all = events["ts_event"].tolist()
    oid_all = events["order_id"].tolist()
    px_all = events["price"].tolist()
    sz_all = events["size"].tolist()
    act_all = acts.tolist()
    side_all = events["side"].tolist()
    flags_all = events["flags"].tolist()
    n = len(events)
    i = 0
    while i < n:
        j = i
        while j < n and not flags_all[j] & Flags.LAST:
            j += 1
        j = min(j, n - 1)  # records i..j form one exchange event
        ts = ts_all[j]
        if row >= 0:
            dts[row] = (ts - last_ts) / 1e9
        bb, ba = best[Side.BID], best[Side.ASK]
        counted = row >= 0 and ts >= start_ns
        filled = {oid_all[k] for k in range(i, j + 1) if act_all[k] == Action.FILL}
        market = [0, 0]  # by book (passive) side
        for k in range(i, j + 1):
            a, side, price, size, oid = act_all[k], side_all[k], px_all[k], sz_all[k], oid_all[k]
            moves: list[tuple[int, int, int, int]] = []  # (kind, side, price, size)
            if a == Action.TRADE:
                if side in (Side.BID, Side.ASK):
                    market[1 - side] += size
            elif a == Action.ADD:
                orders[oid] = (side, price, size)
                put(side, price, size, 1)
                moves.append((_L, side, price, size))
            elif a == Action.CANCEL and oid in orders:
                o_side, o_price, o_size = orders[oid]
                left = o_size - size
                if left > 0:
                    orders[oid] = (o_side, o_price, left)
                    put(o_side, o_price, -size, 0)
                else:
                    del orders[oid]
                    put(o_side, o_price, -o_size, -1)
                if oid not in filled:
                    moves.append((_C, o_side, o_price, size))
            elif a == Action.MODIFY and oid in orders:
                o_side, o_price, o_size = orders[oid]
                put(o_side, o_price, -o_size, -1)
                orders[oid] = (o_side, price, size)
                put(o_side, price, size, 1)
                if oid in filled:
                    pass
                elif price != o_price:
                    moves += [(_C, o_side, o_price, o_size), (_L, o_side, price, size)]
                elif size < o_size:
                    moves.append((_C, o_side, price, o_size - size))
                elif size > o_size:
                    moves.append((_L, o_side, price, size - o_size))
            elif a == Action.CLEAR:
                for d in (size_at, count_at):
                    d[0].clear()
                    d[1].clear()
                orders.clear()
                best[0] = best[1] = None
            if not counted or bb is None or ba is None:
                continue
            for kind, m_side, m_price, m_size in moves:
                lvl = bb - m_price if m_side == Side.BID else m_price - ba
                if lvl < 0:
                    if kind == _L and bb < m_price < ba:
                        ev_rows.append((_S, m_side, 0, 0, m_size, row))
                    continue
                if lvl >= QR_DEEP:
                    continue
                q = qs[row][m_side * QR_LEVELS + lvl] if lvl < QR_LEVELS else 0
                ev_rows.append((kind, m_side, lvl, q, m_size, row))
        if counted and bb is not None and ba is not None:
            for m_side in (Side.BID, Side.ASK):
                if market[m_side]:
                    q = qs[row][m_side * QR_LEVELS]
                    ev_rows.append((_M, m_side, 0, q, market[m_side], row))
        # the state after this event: counted when uncrossed and in the window
        bb, ba = best[Side.BID], best[Side.ASK]
        if ts >= start_ns and bb is not None and ba is not None and bb < ba:
            q_row = [size_at[Side.BID].get(bb - v, 0) for v in range(QR_LEVELS)]
            q_row += [size_at[Side.ASK].get(ba + v, 0) for v in range(QR_LEVELS)]
            qs.append(q_row)
            spreads.append(ba - bb)
            mids.append(ba + bb)
            deep_o.append([
                sum(count_at[Side.BID].get(bb - v, 0) for v in range(QR_LEVELS, QR_DEEP)),
                sum(count_at[Side.ASK].get(ba + v, 0) for v in range(QR_LEVELS, QR_DEEP)),
            ])  # fmt: skip
            deep_s.append([
                sum(size_at[Side.BID].get(bb - v, 0) for v in range(QR_LEVELS, QR_DEEP)),
                sum(size_at[Side.ASK].get(ba + v, 0) for v in range(QR_LEVELS, QR_DEEP)),
            ])  # fmt: skip
            dts.append(0.0)
            row = len(dts) - 1
        else:
            row = -1
        last_ts = ts
        i = j + 1
    ev = np.array(ev_rows, dtype=np.int64).reshape(-1, 6)
    return QRObservation(
        dt=np.array(dts, dtype=np.float64),
        queues=np.array(qs, dtype=np.int64).reshape(-1, 2, QR_LEVELS),
        spread=np.array(spreads, dtype=np.int64),
        mid2=np.array(mids, dtype=np.int64),
        deep_orders=np.array(deep_o, dtype=np.int64).reshape(-1, 2),
        deep_size=np.array(deep_s, dtype=np.int64).reshape(-1, 2),
        kind=ev[:, 0],
        side=ev[:, 1],
        level=ev[:, 2],
        q_before=ev[:, 3],
        size=ev[:, 4],
        row=ev[:, 5],
    )


def _bin(q: np.ndarray, aes: float) -> np.ndarray:
    n = np.ceil(q / aes).astype(np.int64)
    return np.searchsorted(np.asarray(QR_BINS), n, side="right") - 1


def _size_table(sizes: np.ndarray) -> tuple[list[float], list[float]]:
    """Sizes as a five-class table: probabilities and each class's mean size."""
    edges = [1, 2, 3, 6, 16, 1 << 62]
    probs, means = [], []
    for lo, hi in itertools.pairwise(edges):
        m = (sizes >= lo) & (sizes < hi)
        probs.append(float(m.mean()) if len(sizes) else 0.0)
        means.append(float(sizes[m].mean()) if m.any() else float(lo))
    return probs, means


def fit_table(obs: QRObservation, aes: list[float] | None = None) -> dict[str, object]:
    """The model's parameters and the data's own statistics (the simulator's targets).
    ``aes``: bin the queues with these average event sizes instead of the measured ones (to
    measure a simulation on the bins of the parameters it was run with)."""
    nb = len(QR_BINS)
    dyn = obs.level < QR_LEVELS
    if aes is None:
        aes = []
        for lvl in range(QR_LEVELS):
            m = dyn & (obs.level == lvl) & (obs.kind != _S)
            aes.append(float(obs.size[m].mean()))
    lam = np.zeros((3, QR_LEVELS, nb))  # kind (L, C, M), level, bin; per side per second
    time_in = np.zeros((QR_LEVELS, nb))
    counts = np.zeros((3, QR_LEVELS, nb), dtype=np.int64)
    for lvl in range(QR_LEVELS):
        for side in (0, 1):
            b = _bin(obs.queues[:, side, lvl], aes[lvl])
            np.add.at(time_in[lvl], b, obs.dt)
        for kind in (_L, _C, _M):
            m = dyn & (obs.level == lvl) & (obs.kind == kind)
            b = _bin(obs.q_before[m], aes[lvl])
            np.add.at(counts[kind, lvl], b, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = np.where(time_in > 0, counts / np.maximum(time_in, 1e-300), 0.0)
    total_t = float(obs.dt.sum())
    wide = obs.spread >= 2
    n_s = int((obs.kind == _S).sum())
    deep = (obs.level >= QR_LEVELS) & (obs.kind != _S)
    deep_time = total_t * 2 * (QR_DEEP - QR_LEVELS)  # level-seconds, both sides
    order_time = float((obs.deep_orders * obs.dt[:, None]).sum())
    mkt = obs.size[obs.kind == _M]
    add = obs.size[(obs.kind == _L) | (obs.kind == _S)]
    best_q = obs.queues[:, :, 0]
    ev_dyn = dyn & (obs.kind != _S)
    params: dict[str, object] = {
        "aes": [round(a, 4) for a in aes],
        "limit": np.round(lam[_L], 5).tolist(),
        "cancel": np.round(lam[_C], 5).tolist(),
        "market": np.round(lam[_M, 0], 5).tolist(),
        "inspread": round(n_s / (2 * float(obs.dt[wide].sum())), 5) if wide.any() else 0.0,
        "deep_limit": round(int((deep & (obs.kind == _L)).sum()) / deep_time, 6),
        "deep_cancel": round(int((deep & (obs.kind == _C)).sum()) / order_time, 6),
        "add_size": [np.round(x, 4).tolist() for x in _size_table(add)],
        "market_size": [np.round(x, 4).tolist() for x in _size_table(mkt)],
    }
    targets: dict[str, object] = {
        "seconds": round(total_t, 1),
        "events": len(obs.kind),
        "mean_spread": round(float((obs.spread * obs.dt).sum() / total_t), 4),
        "share_spread_1": round(float(obs.dt[obs.spread == 1].sum() / total_t), 4),
        "mean_best_queue": round(float((best_q.mean(axis=1) * obs.dt).sum() / total_t), 3),
        "mean_queue": [
            round(float((obs.queues[:, :, lvl].mean(axis=1) * obs.dt).sum() / total_t), 3)
            for lvl in range(QR_LEVELS)
        ],
        "mean_deep_size": round(float((obs.deep_size.mean(axis=1) * obs.dt).sum() / total_t), 2),
        "event_share": {
            name: round(float((obs.kind[ev_dyn] == k).mean()), 4)
            for name, k in (("limit", _L), ("cancel", _C), ("market", _M))
        },
        "counts": counts.tolist(),
        "time_in_bin": np.round(time_in, 2).tolist(),
        "mid_changes_per_s": round(float((np.diff(obs.mid2) != 0).sum()) / total_t, 4),
    }
    return {"params": params, "targets": targets}
