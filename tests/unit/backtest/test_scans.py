"""The venue's jitted per-piece scans (:mod:`orderflow.backtest.scans`) against the numpy
forms they replace, on pieces of the ESH4 stream and on random records (prints through
random triggers, a command arriving inside, an event left open), and the venue's idle
shortcut against its full pass, and the order arrays the venue keeps between passes against
those built afresh."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from orderflow.backtest.model import CANCEL, FILL, LAST, TRADE
from orderflow.backtest.scans import cancelled_l3, cut_l3, scan_mbo, tail_l3
from orderflow.backtest.venue import SimVenue
from orderflow.book.l3 import OrderBook
from orderflow.model.dtypes import MBO_DTYPE

OPEN = 1_703_545_200_000_000_000  # ESH4 2023-12-25 23:00 UTC


def _prints(act: np.ndarray, fills_print: bool) -> np.ndarray:
    if fills_print:
        return np.flatnonzero((act == TRADE) | (act == FILL))
    return np.flatnonzero(act == TRADE)


def cut_numpy(recs: np.ndarray, fills_print: bool, at: int, fired: bool, w: np.ndarray) -> int:
    """``Matching.next_cut`` for L3 as it was written with numpy."""
    n = len(recs)
    rts = recs["ts_event"]
    lasts = np.flatnonzero(recs["flags"] & LAST)
    cut = n
    if at >= 0:
        cut = int(np.searchsorted(rts, at, side="right"))
    if fired and len(lasts):
        cut = min(cut, int(lasts[0]) + 1)
    if len(w):
        tr = _prints(recs["action"], fills_print)
        price = recs["price"][tr]
        m = np.zeros(len(price), dtype=bool)
        for stop, up in w.tolist():
            m |= (price >= stop) if up else (price <= stop)
        fire = tr[m]
        if len(fire):
            cut = min(cut, int(fire[0]) + 1)
    if 0 < cut < n and not recs["flags"][cut - 1] & LAST:
        e = int(np.searchsorted(lasts, cut - 1))
        cut = int(lasts[e]) + 1 if e < len(lasts) else n
    return cut


def tail_numpy(recs: np.ndarray, fills_print: bool) -> tuple[int, int, int]:
    tr = _prints(recs["action"], fills_print)
    events = int(np.count_nonzero(recs["flags"] & LAST))
    return (events, int(recs["price"][tr[-1]]), 1) if len(tr) else (events, 0, 0)


def cancelled_numpy(recs: np.ndarray, side: int, price: int) -> int:
    """``Matching._decay``'s L3 count as it was written with numpy."""
    at = (recs["price"] == price) & (recs["side"] == side)
    return int(recs["size"][at & (recs["action"] == CANCEL)].sum())


def _random(rng: np.random.Generator, n: int) -> np.ndarray:
    r = np.zeros(n, dtype=MBO_DTYPE)
    r["ts_event"] = np.cumsum(rng.integers(0, 3, n)) + 1_000
    r["price"] = 100 + rng.integers(-6, 7, n)
    r["size"] = rng.integers(1, 5, n)
    r["action"] = rng.integers(1, 7, n)  # add, cancel, modify, clear, trade, fill
    r["side"] = rng.integers(0, 3, n)
    r["flags"] = np.where(rng.random(n) < 0.3, LAST, 0)
    return r


@pytest.mark.parametrize("seed", range(40))
def test_the_jitted_scans_give_the_numpy_answers_on_random_pieces(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(25):
        recs = _random(rng, int(rng.integers(1, 60)))
        k = int(rng.integers(0, 4))
        w = np.array([(100 + int(rng.integers(-8, 9)), int(rng.integers(0, 2))) for _ in
                      range(k)], dtype=np.int64).reshape(k, 2)  # fmt: skip
        at = int(rng.choice([-1, int(recs["ts_event"][len(recs) // 2]), 999, 10**9]))
        fired, fp = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
        assert cut_l3(recs, fp, at, fired, w) == cut_numpy(recs, fp, at, fired, w)
        assert tuple(int(x) for x in tail_l3(recs, fp)) == tail_numpy(recs, fp)
        for side in (0, 1):  # what the market removed at a level we took from
            price = 100 + int(rng.integers(-6, 7))
            assert cancelled_l3(recs, side, price) == cancelled_numpy(recs, side, price)


HOUR = 3_600_000_000_000


def scan_numpy(recs: np.ndarray, hour: int) -> tuple[list[int], set[int], int]:
    """What the driver read of a chunk with numpy: its event ends, the hours it prints in and
    the first record whose time goes back (``len``: none)."""
    ts = recs["ts_event"]
    back = np.flatnonzero(ts[1:] < ts[:-1])
    hours = np.unique(ts[recs["action"] == TRADE] // hour)
    first = int(back[0]) + 1 if len(back) else len(recs)
    return np.flatnonzero(recs["flags"] & LAST).tolist(), set(hours.tolist()), first


@pytest.mark.parametrize("seed", range(4))
def test_the_chunk_scan_gives_the_numpy_answers(seed: int) -> None:
    """Random chunks whose times go back now and then and span hours (an hour of 7 ns here:
    prints in one hour, then another, then the first again), and ESH4 in chunks."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        recs = _random(rng, int(rng.integers(0, 400)))
        if len(recs) and rng.random() < 0.5:
            back = rng.integers(0, len(recs), int(rng.integers(1, 4)))
            recs["ts_event"][back] -= rng.integers(1, 30, len(back))
        lasts, hours, first = scan_mbo(recs, 7)
        want = scan_numpy(recs, 7)
        assert (lasts.tolist(), set(hours.tolist()), first) == want
        assert lasts.dtype == np.int64 and len(hours) <= np.count_nonzero(recs["action"] == TRADE)


def test_the_jitted_scans_give_the_numpy_answers_on_esh4(es_mbo_path) -> None:  # type: ignore[no-untyped-def]
    from orderflow.io.dbn import read_mbo

    ev, _ = read_mbo(es_mbo_path)
    rng = np.random.default_rng(7)
    fired_somewhere = removed = 0
    for a in rng.integers(0, len(ev) - 200, 300).tolist():
        recs = ev[a : a + int(rng.integers(1, 200))]
        px = int(recs["price"][0])
        w = np.array([(px + int(rng.integers(-3, 4)), int(rng.integers(0, 2)))], dtype=np.int64)
        at = int(recs["ts_event"][0]) + int(rng.integers(0, 10**6))
        for fired in (False, True):
            got = cut_l3(recs, False, at, fired, w)
            assert got == cut_numpy(recs, False, at, fired, w)
            fired_somewhere += got < len(recs)
        assert tuple(int(x) for x in tail_l3(recs, False)) == tail_numpy(recs, False)
        assert cancelled_l3(recs, 1, px) == cancelled_numpy(recs, 1, px)
        removed += cancelled_numpy(recs, 1, px) > 0
    assert fired_somewhere > 100 and removed > 100
    for a in range(0, len(ev), 16_384):  # the chunks the driver reads (the hour's prints)
        lasts, hours, first = scan_mbo(ev[a : a + 16_384], HOUR)
        assert (lasts.tolist(), set(hours.tolist()), first) == scan_numpy(ev[a : a + 16_384], HOUR)


def test_an_idle_piece_moves_the_clock_the_last_print_and_the_events_as_the_full_pass(  # type: ignore[no-untyped-def]
    es_mbo_path,
) -> None:
    """The shortcut for a piece that touches nothing of ours, beside a venue with a resting
    order far away (its pass scans the piece with ``scan_l3`` and, nothing being relevant,
    takes the short path): the same clock, last print and event count, piece by piece."""
    from orderflow.io.dbn import read_mbo
    from orderflow.trading.orders import OrderAction, OrderCommand, OrderType

    ev, inst = read_mbo(es_mbo_path)
    ev = ev[:20_000]
    book = OrderBook(inst)
    idle = SimVenue(inst, book=book)
    full = SimVenue(inst, book=book)
    lasts = np.flatnonzero(ev["flags"] & LAST)
    ends = lasts[::7] + 1
    pos, shortcut = 0, 0
    for k, end in enumerate(ends.tolist()):
        piece = ev[pos:end]
        book.apply_mbo(piece)
        if k == 3:  # a buy limit far under the market: never touched, always a busy pass
            t = int(piece["ts_event"][-1])
            full.send(OrderCommand(0, "submit", "far", inst.contract or "", t, OrderAction.BUY,
                                   OrderType.LIMIT, 1, 1))  # fmt: skip
        shortcut += not (idle._resting or idle._waiting)
        idle.on_market(piece)
        full.on_market(piece)
        assert (idle.now, idle.last_trade, idle._events) == (full.now, full.last_trade,
                                                             full._events)  # fmt: skip
        pos = end
    assert full._resting and shortcut == len(ends) and idle.last_trade is not None


@pytest.mark.slow
@pytest.mark.parametrize("every", [100, "group"])
def test_the_kept_order_arrays_are_the_ones_built_afresh_at_every_pass(
    monkeypatch: pytest.MonkeyPatch, every: int | str
) -> None:
    """The venue keeps :func:`order_arrays` until a report or a relevant record can have
    moved our orders: at every L3 pass of ESH4 backtests (limit entries queued at the touch,
    scaling in, stops moved and triggered) they equal the arrays built from the orders."""
    from orderflow.backtest.matching import Matching
    from orderflow.backtest.relevant import order_arrays
    from orderflow.backtest.run import BacktestOptions, run_backtest
    from tests.conftest import ES_MBO, need
    from tests.integration.test_parity import BUSY

    real = Matching._order_arrays
    seen = {"n": 0, "kept": 0}

    def checked(self: Matching) -> Any:
        kept = self._arrays is not None and self._arrays[0] == self._changes
        got = real(self)
        assert self._arrays is not None and got is self._arrays[1]
        for a, b in zip(got, order_arrays(self._waiting, self._resting), strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        seen["n"] += 1
        seen["kept"] += kept
        return got

    monkeypatch.setattr(Matching, "_order_arrays", checked)
    opts = BacktestOptions(decide_every=every, end_ns=OPEN + 1_800 * 10**9)
    res = run_backtest([need(ES_MBO)], trading=BUSY, options=opts)
    assert res.fills and seen["n"] > 100 and seen["kept"] > seen["n"] // 2
