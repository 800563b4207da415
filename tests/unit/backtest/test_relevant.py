"""The jitted pass that picks the records which can touch our orders
(:func:`orderflow.backtest.relevant.relevant_l3`) against the vectorised numpy form it
replaced, kept here as the reference: the same records and the same event volumes on random
pieces (prints, fills, cancels and modifies of the orders ahead, clears; waiting stops and
MITs, resting limits, several at once) and at every call of an ESH4 backtest whose limit
entries queue in the L3 book."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from orderflow.backtest.matching import Matching
from orderflow.backtest.model import (
    ASK,
    BID,
    CANCEL,
    CLEAR,
    FILL,
    LAST,
    MODIFY,
    NONE,
    STOPS,
    TRADE,
    SimOrder,
)
from orderflow.backtest.queues import QueueState, ahead_sorted, l3_order_update, sorted_ahead
from orderflow.backtest.relevant import clear_l3, order_arrays, quiet_l3, relevant_l3, scan_l3
from orderflow.backtest.scans import tail_l3
from orderflow.model.dtypes import MBO_DTYPE
from orderflow.trading.orders import OrderType


def _members(order_ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    at = np.searchsorted(keys, order_ids)
    np.minimum(at, len(keys) - 1, out=at)
    return np.flatnonzero(keys[at] == order_ids)


def reference(seg: np.ndarray, lasts: np.ndarray, fills_print: bool, waiting: list[SimOrder],
              resting: list[SimOrder]) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The vectorised form, as the venue ran it before the jitted pass."""
    act = seg["action"]
    parts: list[np.ndarray] = []
    if fills_print:
        tr = np.flatnonzero((act == TRADE) | (act == FILL))
    else:
        tr = np.flatnonzero(act == TRADE)
    if resting:
        parts.append(np.flatnonzero(act == CLEAR))
    if len(tr) == 0 and not resting:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    tp, tside, tv = seg["price"][tr], seg["side"][tr], seg["size"][tr]
    can_fill = np.ones(len(tr), dtype=bool)
    if fills_print:
        is_f = act[tr] == FILL
        tside = np.where(is_f & (tside != NONE), 1 - tside, tside)
        can_fill = is_f
    ev = np.searchsorted(lasts, tr)
    new = np.ones(len(tr), dtype=bool)
    new[1:] = (ev[1:] != ev[:-1]) | (tp[1:] != tp[:-1]) | (tside[1:] != tside[:-1])
    c = np.cumsum(tv)
    cum = c - (c - tv)[np.flatnonzero(new)][np.cumsum(new) - 1]
    keep = np.zeros(len(tr), dtype=bool)
    for o in waiting:
        assert o.stop_ticks is not None
        up = o.is_buy if o.order_type in STOPS else not o.is_buy
        keep |= (tp >= o.stop_ticks) if up else (tp <= o.stop_ticks)
    oids = seg["order_id"]
    for o in resting:
        lim, q = o.limit_ticks, o.queue
        assert lim is not None
        keep |= ((tp < lim) if o.is_buy else (tp > lim)) & can_fill
        at = (tp == lim) & ((tside == (ASK if o.is_buy else BID)) | (tside == NONE)) & can_fill
        ahead_recs = np.zeros(0, dtype=np.int64)
        if q.ahead_ids:
            ahead_recs = _members(oids, sorted_ahead(q))
            parts.append(ahead_recs)
        if not at.any():
            continue
        most = seg["size"][ahead_recs]
        mod = np.flatnonzero(act[ahead_recs] == MODIFY)
        if len(mod):
            most[mod] = [q.ahead_ids.get(x, 0) for x in oids[ahead_recs[mod]].tolist()]
        before = np.concatenate(([0], np.cumsum(most)))[np.searchsorted(ahead_recs, tr)]
        keep |= at & (cum > q.ahead - before)
    parts.append(tr[keep])
    rel = np.unique(np.concatenate(parts))
    rel_cum = np.zeros(len(rel), dtype=np.int64)
    at_tr = np.searchsorted(tr, rel)
    is_tr = (at_tr < len(tr)) & (tr[np.minimum(at_tr, len(tr) - 1)] == rel) if len(tr) else None
    if is_tr is not None:
        rel_cum[is_tr] = cum[at_tr[is_tr]]
    return rel, rel_cum


def kernel(seg: np.ndarray, lasts: np.ndarray, fills_print: bool, waiting: list[SimOrder],
           resting: list[SimOrder]) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    rel, cum = relevant_l3(seg, lasts, fills_print, *order_arrays(waiting, resting))
    return rel, cum


def _piece(rng: np.random.Generator, n: int) -> np.ndarray:
    seg = np.zeros(n, dtype=MBO_DTYPE)
    seg["ts_event"] = np.sort(rng.integers(0, 50, n))
    seg["order_id"] = rng.integers(1, 30, n)
    seg["price"] = rng.integers(95, 106, n)
    seg["size"] = rng.integers(1, 9, n)
    seg["action"] = rng.choice([1, CANCEL, MODIFY, CLEAR, TRADE, FILL], n,
                               p=[0.3, 0.2, 0.1, 0.03, 0.27, 0.1])  # fmt: skip
    seg["side"] = rng.choice([BID, ASK, NONE], n, p=[0.45, 0.45, 0.1])
    seg["flags"] = np.where(rng.random(n) < 0.4, LAST, 0)
    seg["flags"][-1] = LAST
    return seg


def _orders(rng: np.random.Generator) -> tuple[list[SimOrder], list[SimOrder]]:
    waiting, resting = [], []
    for i in range(int(rng.integers(0, 3))):
        kind = OrderType.STOP_MARKET if rng.random() < 0.6 else OrderType.MIT
        waiting.append(SimOrder(f"w{i}", bool(rng.random() < 0.5), kind, 1, None,
                                int(rng.integers(95, 106)), "", str(i)))  # fmt: skip
    for i in range(int(rng.integers(0, 3))):
        o = SimOrder(f"r{i}", bool(rng.random() < 0.5), OrderType.LIMIT, 2,
                     int(rng.integers(97, 104)), None, "", str(10 + i))  # fmt: skip
        ids = rng.choice(np.arange(1, 30), int(rng.integers(0, 8)), replace=False)
        o.queue.ahead_ids = {int(x): int(rng.integers(1, 9)) for x in ids}
        o.queue.ahead = float(sum(o.queue.ahead_ids.values())) + float(rng.choice([0, 0.5, 3]))
        resting.append(o)
    return waiting, resting


@pytest.mark.parametrize("fills_print", [False, True])
def test_the_kernel_picks_the_same_records_as_the_vectorised_form(fills_print: bool) -> None:
    rng = np.random.default_rng(16 + fills_print)
    busy = cleared = 0
    for _ in range(1500):
        seg = _piece(rng, int(rng.integers(1, 120)))
        lasts = np.flatnonzero(seg["flags"] & LAST)
        waiting, resting = _orders(rng)
        want = reference(seg, lasts, fills_print, waiting, resting)
        got = kernel(seg, lasts, fills_print, waiting, resting)
        assert got[0].tolist() == want[0].tolist()
        assert got[1].tolist() == want[1].tolist()
        busy += len(want[0]) > 0 and resting != [] and any(want[1])
        # the venue's one call: the event ends, the same records, the piece's tail; on the
        # piece or a window of it, which may stop inside an event (no LAST at its end)
        cut = seg[: int(rng.integers(len(seg) // 2, len(seg) + 1))]
        ends = np.flatnonzero(cut["flags"] & LAST)
        both = scan_l3(cut, fills_print, *order_arrays(waiting, resting))
        quiet = quiet_l3(cut, fills_print, *order_arrays(waiting, resting))
        assert quiet == (len(both[1]), *both[3:])
        assert [x.tolist() for x in both[:3]] == [
            ends.tolist(), *(x.tolist() for x in kernel(cut, ends, fills_print, waiting,
                                                         resting))]  # fmt: skip
        assert tuple(both[3:]) == tuple(tail_l3(cut, fills_print))
        # how far the window is clear: up to its first relevant record, where any piece of it
        # from an event's start that ends before then has no relevant record either
        clear = clear_l3(cut, fills_print, *order_arrays(waiting, resting))
        assert clear == (both[1][0] if len(both[1]) else len(cut))
        starts = [0, *(ends[ends < clear] + 1).tolist()]
        for a in starts[:: max(1, len(starts) // 4)]:
            b = int(rng.integers(a, clear + 1))
            assert not len(kernel(cut[a:b], np.flatnonzero(cut[a:b]["flags"] & LAST),
                                  fills_print, waiting, resting)[0])  # fmt: skip
        cleared += clear < len(cut)
    assert busy > 300  # most pieces had something relevant, at a resting price too
    assert cleared > 1000


def test_a_print_at_our_price_counts_only_once_the_queue_ahead_can_be_gone() -> None:
    """A resting buy at 100 with 5 ahead (order 7): prints of one event at 100 reach it only
    once their volume exceeds what is ahead less what order 7's records before them removed."""
    seg = np.zeros(5, dtype=MBO_DTYPE)
    seg["action"] = [TRADE, CANCEL, TRADE, TRADE, TRADE]
    seg["price"] = [100, 100, 100, 100, 100]
    seg["size"] = [2, 3, 1, 1, 1]
    seg["side"] = [ASK, BID, ASK, ASK, ASK]
    seg["order_id"] = [0, 7, 0, 0, 0]
    seg["flags"] = [0, 0, 0, 0, LAST]
    o = SimOrder("b", True, OrderType.LIMIT, 1, 100, None, "", "1")
    o.queue.ahead, o.queue.ahead_ids = 5.0, {7: 5}
    lasts = np.flatnonzero(seg["flags"] & LAST)
    # print 0: 2 > 5 - 0 no; the cancel of 7 (3) is relevant; print 2: 3 > 5 - 3 yes
    rel, cum = kernel(seg, lasts, False, [], [o])
    assert rel.tolist() == [1, 2, 3, 4] and cum.tolist() == [0, 3, 4, 5]
    assert [x.tolist() for x in reference(seg, lasts, False, [], [o])] == [[1, 2, 3, 4],
                                                                          [0, 3, 4, 5]]  # fmt: skip


def test_a_clear_window_counts_the_volume_at_our_price_per_event() -> None:
    """A resting buy at 100 with 5 ahead: prints of 3 at 100 in two events are clear (each
    event's volume, 3, is not past what is ahead); a third of 3 in the second event is not
    (6 > 5). Fails when the volume runs on across events, or when it is not counted."""
    seg = np.zeros(4, dtype=MBO_DTYPE)
    seg["action"] = [TRADE, TRADE, 1, TRADE]
    seg["price"] = [100, 100, 100, 100]
    seg["size"] = [3, 3, 1, 3]
    seg["side"] = [ASK, ASK, BID, ASK]
    seg["order_id"] = [0, 0, 99, 0]
    seg["flags"] = [LAST, 0, 0, LAST]
    o = SimOrder("b", True, OrderType.LIMIT, 1, 100, None, "", "1")
    o.queue.ahead = 5.0
    arrays = order_arrays([], [o])
    assert clear_l3(seg[:3], False, *arrays) == 3 and clear_l3(seg, False, *arrays) == 3
    assert kernel(seg, np.flatnonzero(seg["flags"] & LAST), False, [], [o])[0].tolist() == [3]


@pytest.mark.slow
def test_every_call_of_an_esh4_backtest_agrees_with_the_vectorised_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The busier strategy's limit entries queue in the L3 book (their ids ahead shrink as
    the orders ahead are cancelled or trade), its stops wait and move: at every call the
    kernel and the reference give the same records and volumes, a window found clear ends at
    the reference's first relevant record, and the run is the known one."""
    from orderflow.backtest.run import BacktestOptions, run_backtest
    from tests.conftest import ES_MBO, need
    from tests.integration.test_parity import BUSY

    calls = {"n": 0, "resting": 0, "quiet": 0, "full": 0}
    real, real_quiet = Matching._scan_l3, Matching._quiet_l3

    def checked(self: Matching, seg: np.ndarray) -> Any:
        got = real(self, seg)
        lasts, rel, cum, events, price, printed = got
        assert lasts.tolist() == np.flatnonzero(seg["flags"] & LAST).tolist()
        want = reference(seg, lasts, self.fills_print, self._waiting, self._resting)
        assert rel.tolist() == want[0].tolist() and cum.tolist() == want[1].tolist()
        # the piece's events and last print, which a piece with nothing relevant takes
        assert (events, price, printed) == tuple(tail_l3(seg, self.fills_print))
        calls["n"] += 1
        calls["resting"] += bool(self._resting and any(o.queue.ahead_ids for o in self._resting))
        return got

    def quiet(self: Matching, seg: np.ndarray) -> Any:
        # the count and the tail the short path takes are the whole pass's, checked above
        got = real_quiet(self, seg)
        _, rel, _, events, price, printed = checked(self, seg)
        assert got == (len(rel), events, price, printed)
        calls["quiet"] += got[0] == 0
        return got

    def full(self: Matching, seg: np.ndarray) -> Any:
        calls["full"] += 1
        return checked(self, seg)

    def clear(self: Matching, seg: np.ndarray) -> int:
        # how far the window is clear: the reference's first relevant record
        got = real_clear(self, seg)
        if got:
            lasts = np.flatnonzero(seg["flags"] & LAST)
            want = reference(seg, lasts, self.fills_print, self._waiting, self._resting)[0]
            assert got == (want[0] if len(want) else len(seg))
            calls["clear"] += got < len(seg)
        return got

    real_clear, calls["clear"] = Matching.clear, 0
    monkeypatch.setattr(Matching, "_scan_l3", full)
    monkeypatch.setattr(Matching, "_quiet_l3", quiet)
    monkeypatch.setattr(Matching, "clear", clear)
    res = run_backtest([need(ES_MBO)], trading=BUSY, options=BacktestOptions(decide_every=100))
    assert calls["n"] > 100 and calls["resting"] > 20 and 0 < calls["quiet"] < calls["n"]
    assert calls["clear"] > 20
    assert 0 < calls["full"] < calls["n"] - calls["quiet"]  # (a piece with a fired order too)
    assert (res.stats["trades"], res.stats["net_pnl"], len(res.fills)) == (9, -190.84, 27)


def test_the_sizes_ahead_follow_a_partial_cancel_and_a_modify_between_pieces() -> None:
    """The sizes of the orders ahead are kept between pieces (the kernel reads them for a
    modify): a partial cancel of one, then a modify that shrinks another, are seen."""
    q = QueueState(ahead=9.0, ahead_ids={30: 4, 10: 5})
    assert [x.tolist() for x in ahead_sorted(q)] == [[10, 30], [5, 4]]
    l3_order_update(q, 100, CANCEL, 2, 10, 100)
    assert [x.tolist() for x in ahead_sorted(q)] == [[10, 30], [3, 4]]
    l3_order_update(q, 100, MODIFY, 1, 30, 100)  # shrinks to 1 in place: keeps priority
    assert [x.tolist() for x in ahead_sorted(q)] == [[10, 30], [3, 1]]
    l3_order_update(q, 100, CANCEL, 3, 10, 100)  # gone
    assert [x.tolist() for x in ahead_sorted(q)] == [[30], [1]] and q.ahead == 1.0
    # a piece where order 30 is modified before a print at our price: at most 1 removed
    seg = np.zeros(2, dtype=MBO_DTYPE)
    seg["action"], seg["price"], seg["size"] = [MODIFY, TRADE], [100, 100], [7, 4]
    seg["side"], seg["order_id"], seg["flags"] = [BID, ASK], [30, 0], [LAST, LAST]
    o = SimOrder("b", True, OrderType.LIMIT, 1, 100, None, "", "1", queue=q)
    lasts = np.flatnonzero(seg["flags"] & LAST)
    # the modify grows order 30 (7 > 1: behind us now) so it may have removed at most its
    # 1 ahead: 4 > 4 - 1, the print can reach us
    assert [x.tolist() for x in kernel(seg, lasts, False, [], [o])] == [[0, 1], [0, 4]]
    q.ahead = 5.0  # more ahead than that print can clear: 4 > 5 - 1 is false
    assert [x.tolist() for x in kernel(seg, lasts, False, [], [o])] == [[0], [0]]
    assert [x.tolist() for x in reference(seg, lasts, False, [], [o])] == [[0], [0]]
