"""The pipeline run ahead of a backtest's decisions (``backtest.ahead``): every read a decision
makes as of its point is the pipeline's fed piece by piece; the driver's gate; the venue's own
book brought up; a signal log as of a count."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import orderflow.backtest.run as run_mod
from orderflow.backtest.ahead import AheadView, LaggingBook, _Log, _Series, reads_ahead
from orderflow.backtest.market import MarketView
from orderflow.backtest.run import BacktestOptions, _ahead_from, run_backtest
from orderflow.book.l3 import OrderBook
from orderflow.core.errors import ArgumentError
from orderflow.engine.pipeline import Pipeline
from orderflow.io.dbn import read_mbo
from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Action, Flags
from orderflow.signals.signal_log import SignalLog
from orderflow.trading.strategy import SignalStrategy, StrategyParams
from tests.conftest import ES_MBO, need
from tests.integration.test_parity import BUSY

LAT = {"order_latency_ns": 1_000_000, "md_latency_ns": 250_000, "seed": 7}
OPEN = 1_703_545_200_000_000_000  # ESH4 2023-12-25 23:00 UTC, the open


def _book_reads(book: Any) -> tuple[Any, ...]:
    b, a = book.best_bid(), book.best_ask()
    out: list[Any] = [b, a]
    for side, best in ((0, b), (1, a)):
        if best is not None:
            out.append(book.level_queue(side, int(best[0])))
    return tuple(out)


@pytest.mark.slow
def test_every_decision_reads_what_the_pipeline_fed_piece_by_piece_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The busy strategy deciding every 100 records with latencies: at every decision point
    the view's counts, signals, prints, bars and the venue's book are those of a second
    pipeline fed the same records piece by piece; and the run is the run without the view."""
    shadow: dict[str, Any] = {"ahead": False}
    ahead, at, process = AheadView.ahead, AheadView.at, Pipeline.process
    decide, init = run_mod._Driver.decide, run_mod._Driver.__init__
    checked = [0, 0]

    def ahead_(self: AheadView, recs: np.ndarray, start: int) -> None:
        shadow["ahead"], shadow["recs"], shadow["done"] = True, recs, start
        try:
            ahead(self, recs, start)
        finally:
            shadow["ahead"] = False

    def at_(self: AheadView, pos: int) -> None:  # a second pipeline fed the pieces
        at(self, pos)
        shadow["pipe"].process(shadow["recs"][shadow["done"] : pos])
        shadow["done"] = pos

    def process_(self: Pipeline, *a: Any, **k: Any) -> Any:
        if self is shadow.get("real") and not shadow["ahead"]:  # (a piece fed as it is)
            shadow["pipe"].process(*a, **k)
        return process(self, *a, **k)

    def decide_(self: Any) -> bool:
        view, pipe = self.view, shadow["pipe"]
        assert view is not None
        if not view.is_live and pipe.groups:
            checked[0] += 1
            assert (view.last_ts, view.groups, view.trades) == (pipe.last_ts, pipe.groups,
                                                                pipe.trades)  # fmt: skip
            for mine, real in ((view.accumulated, pipe.accumulated), (view.signals, pipe.signals)):
                assert len(mine) == len(real)
                for seen in (0, len(real) - 3, len(real) - 1):
                    assert mine.since(seen) == real.since(seen)
                    assert mine.missed(seen) == real.missed(seen)
            for k in (0, pipe.trades - 300, pipe.trades - 1, pipe.trades):
                for x, y in zip(view.prints_since(k), pipe.prints_since(k), strict=True):
                    assert np.array_equal(x, y)
            for s, r in zip(view.bars.series, pipe.bars.series, strict=True):
                assert len(s) == len(r) and np.array_equal(s.bars(), r.bars())
            assert _book_reads(view.book) == _book_reads(pipe.book)
        return decide(self)  # (idle: the points after it may be passed at once)

    def read(name: str) -> Any:
        fn = getattr(MarketView, name)

        def w(self: MarketView, *a: Any) -> Any:  # the venue's book: the piece by piece one's
            checked[1] += 1
            got = fn(self, *a)
            assert got == fn(MarketView("mbo", self.book.book.instrument, shadow["pipe"].book), *a)
            return got

        return w

    def init_(self: Any, node: Any, host: Any, pipe: Pipeline, *a: Any) -> None:
        init(self, node, host, pipe, *a)
        shadow["real"], shadow["pipe"] = pipe, Pipeline(pipe.instrument, "mbo")

    pass_idle = run_mod._Driver._pass_idle

    def pass_idle_(self: Any, recs: np.ndarray, stops: list[int], k: int) -> int:
        got = pass_idle(self, recs, stops, k)  # idle points passed at once: counted, and
        view, pipe = self.view, shadow["pipe"]  # the view where the pass left it
        checked[0] += got - k
        assert (view.last_ts, view.groups, view.trades, len(view.accumulated)) == (
            pipe.last_ts, pipe.groups, pipe.trades, len(pipe.accumulated))  # fmt: skip
        return got

    monkeypatch.setattr(AheadView, "ahead", ahead_)
    monkeypatch.setattr(AheadView, "at", at_)
    monkeypatch.setattr(Pipeline, "process", process_)
    monkeypatch.setattr(run_mod._Driver, "decide", decide_)
    monkeypatch.setattr(run_mod._Driver, "__init__", init_)
    monkeypatch.setattr(run_mod._Driver, "_pass_idle", pass_idle_)
    for name in ("best", "levels", "size_at", "queue_at"):
        monkeypatch.setattr(MarketView, name, read(name))
    opts = BacktestOptions(decide_every=100, end_ns=OPEN + 1_800 * 10**9, **LAT)  # type: ignore[arg-type]
    ahead = run_backtest([need(ES_MBO)], trading=BUSY, options=opts)
    assert checked[0] > 300 and checked[1] > 40
    monkeypatch.undo()
    monkeypatch.setattr(run_mod, "reads_ahead", lambda s: False)
    piecewise = run_backtest([need(ES_MBO)], trading=BUSY, options=opts)
    for field in ("commands", "fills", "trades", "daily", "equity", "signals", "files"):
        assert getattr(ahead, field) == getattr(piecewise, field)
    assert len(ahead.fills) > 10


def test_the_gate_runs_ahead_only_mbo_in_time_order_past_snapshots_without_ties() -> None:
    recs = np.zeros(12, dtype=MBO_DTYPE)
    recs["ts_event"] = np.arange(12) * 10
    recs["flags"][[2, 5, 8, 11]] = int(Flags.LAST)
    assert _ahead_from(recs, None, True, [3, 9, -12]) == 0
    assert _ahead_from(recs, None, False, [3, 9]) is None  # times going back
    assert _ahead_from(recs, recs[:2], True, [3, 9]) is None  # prints of their own
    tied = recs.copy()
    tied["ts_event"][3] = tied["ts_event"][2]  # a decision point's time is the next record's
    assert _ahead_from(tied, None, True, [3, 9]) is None
    assert _ahead_from(tied, None, True, [6, 9]) == 0  # (not at a decision point)
    snap = recs.copy()
    snap["flags"][:4] |= int(Flags.SNAPSHOT)
    assert _ahead_from(snap, None, True, [3, 9]) == 6  # after the last snapshot record's event
    snap["flags"][:12] |= int(Flags.SNAPSHOT)
    assert _ahead_from(snap, None, True, [3, 9]) is None


def test_a_strategy_runs_ahead_only_when_it_reads_what_is_known_as_of_a_point() -> None:
    assert reads_ahead(SignalStrategy())
    assert not reads_ahead(object())  # (one that does not say what it reads)
    for anchor in ("poc", "vwap", "cluster"):
        assert not reads_ahead(SignalStrategy(StrategyParams(limit_anchor=anchor)))


def test_the_venues_own_book_is_brought_up_across_chunks() -> None:
    ev, inst = read_mbo(need(ES_MBO))
    ev = ev[:30_000]
    whole = OrderBook(inst)
    whole.apply_mbo(ev)
    lag = LaggingBook(OrderBook(inst))
    first, second = ev[:20_000].copy(), ev[20_000:].copy()
    lag.upto(first, 12_000)
    lag.best_bid()
    lag.upto(first, 20_000)  # (not read before the next chunk: applied then)
    lag.upto(second, 10_000)
    assert _book_reads(lag) == _book_reads(whole)
    got, want = lag.depth(50), whole.depth(50)
    assert all(np.array_equal(got[k], want[k]) for k in want)


class _S:
    def __init__(self, i: int) -> None:
        self.direction, self.ts_event = (1 if i % 3 else -1), i


def test_a_log_as_of_a_count_is_the_log_that_stopped_there() -> None:
    full: SignalLog[Any] = SignalLog(4, [_S(i) for i in range(9)])  # (holds 5..8)
    for count in range(3, 10):
        then: SignalLog[Any] = SignalLog(4, [_S(i) for i in range(count)])
        mine = _Log(full)
        mine.count = count
        for seen in range(-1, count + 2):
            assert mine.missed(seen) == then.missed(seen)
            if max(seen, count - 4) >= 5 or seen >= count:
                got = [s.ts_event for s in mine.since(seen)]
                assert got == [s.ts_event for s in then.since(seen)]
            else:  # (what the log held then is gone: never a shorter answer)
                with pytest.raises(ArgumentError):
                    mine.since(seen)


class _Pipe:
    """What the view reads of a pipeline, counting a chunk as the pipeline does: a group per
    LAST record, a print per TRADE record, a raw signal at each print's time and an
    accumulated one at every other."""

    def __init__(self) -> None:
        self.groups = self.trades = self.last_ts = 0
        self.signals: SignalLog[Any] = SignalLog(None)
        self.accumulated: SignalLog[Any] = SignalLog(None)

    def process(self, recs: np.ndarray) -> None:
        self.groups += int(np.count_nonzero(recs["flags"] & int(Flags.LAST)))
        for t in recs["ts_event"][recs["action"] == int(Action.TRADE)].tolist():
            self.trades += 1
            self.signals.append(_S(t))
            if self.trades % 2:
                self.accumulated.append(_S(t))


def test_the_view_counts_as_of_each_record_from_where_the_call_starts() -> None:
    recs = np.zeros(40, dtype=MBO_DTYPE)
    recs["ts_event"] = np.arange(40) * 10
    recs["action"] = ord("A")
    recs["action"][[4, 9, 10, 21, 33, 39]] = int(Action.TRADE)  # (some an event's last)
    recs["flags"][[4, 9, 14, 21, 30, 33, 39]] = int(Flags.LAST)
    pipe = _Pipe()
    pipe.process(recs[:10])  # (fed piece by piece before the call)
    view = AheadView(pipe, LaggingBook(OrderBook()))  # type: ignore[arg-type]
    view.ahead(recs, 10)
    for pos in range(11, 41):
        view.at(pos)
        head = recs[:pos]
        t = int(head["ts_event"][-1])
        prints = head["ts_event"][head["action"] == int(Action.TRADE)]
        assert view.last_ts == t
        assert view.groups == int(np.count_nonzero(head["flags"]))
        assert view.trades == len(prints)
        assert len(view.signals) == len(prints)
        assert len(view.accumulated) == (len(prints) + 1) // 2


class _Bar:
    def __init__(self, closes: list[int]) -> None:
        self.out = np.array([(c,) for c in closes], dtype=[("ts_close", "i8")])

    def bars(self) -> np.ndarray:
        return self.out

    def __len__(self) -> int:
        return len(self.out)

    def forming(self) -> str:
        return "forming"


def test_a_series_as_of_a_time_holds_the_bars_closed_by_then() -> None:
    view = AheadView(_Pipe(), LaggingBook(OrderBook()))  # type: ignore[arg-type]
    series = _Series(_Bar([10, 20, 30]), view)
    assert len(series) == 3 and series.forming() == "forming"  # (live: the series itself)
    view.is_live = False
    for t, n in ((5, 0), (10, 1), (19, 1), (20, 2), (30, 3)):
        view.last_ts = t
        assert len(series) == n and series.bars()["ts_close"].tolist() == [10, 20, 30][:n]
    view.trades = 0
    assert series.forming() is None  # (no print yet: no forming bar)
    view.trades = 1
    with pytest.raises(ArgumentError):
        series.forming()


def test_reads_the_view_cannot_answer_as_of_a_point_fail() -> None:
    from orderflow.backtest.ahead import _count, _times
    from orderflow.engine.kept_prints import KeptPrints

    log: SignalLog[Any] = SignalLog(3, [_S(i * 10) for i in range(6)])  # (holds 30, 40, 50)
    times = _times(log, 0)
    assert [_count(times, t) for t in (30, 45, 50)] == [4, 5, 6]  # (the 3 lost: before 30)
    with pytest.raises(ArgumentError):
        _count(times, 25)  # (how many of the lost were before then: not known)
    view = AheadView(_Pipe(), LaggingBook(OrderBook()))  # type: ignore[arg-type]
    kept = KeptPrints(4)
    for i in range(10):  # (holds at least the newest 4: here all 10)
        kept.take(np.array([i]), np.array([100 + i]))
    view.pipe.kept_prints = kept  # type: ignore[attr-defined]
    view.is_live, view.trades = False, 9
    assert view.prints_since(6)[1].tolist() == [106, 107, 108]  # (up to the position's 9)
    with pytest.raises(ArgumentError):  # (fed piece by piece, up to 9 it might hold 5 on only)
        view.prints_since(4)
    bad = _Pipe()
    bad.process = lambda recs: None  # type: ignore[method-assign]
    recs = np.zeros(3, dtype=MBO_DTYPE)
    recs["flags"][2] = int(Flags.LAST)
    with pytest.raises(ArgumentError):  # (its groups are not the LAST records)
        AheadView(bad, LaggingBook(OrderBook())).ahead(recs, 0)  # type: ignore[arg-type]


def test_a_view_answers_the_quote_and_the_bars_and_no_other_field_of_the_pipeline() -> None:
    from orderflow.model.instruments import get_instrument
    from orderflow.trading.market_fields import MAKERS, Source

    pipe = Pipeline(get_instrument("ES"), "mbo")
    view = AheadView(pipe, LaggingBook(OrderBook()))
    answered = {"quote", "bars", "entry_block"}
    for name, make in MAKERS[True, True].items():
        make(Source(pipe, 0, lambda t: ""))  # (the pipeline answers every field)
        if name in answered:
            make(Source(view, 0, lambda t: ""))
        else:  # (not the chunk's end: a read the view cannot answer as of its point)
            with pytest.raises(AttributeError):
                make(Source(view, 0, lambda t: ""))


@pytest.mark.slow
def test_a_pipeline_keeping_fewer_signals_is_fed_piece_by_piece() -> None:
    from orderflow.engine.pipeline import PipelineParams

    calls = [0]
    process = Pipeline.process

    def counted(self: Pipeline, *a: Any, **k: Any) -> Any:
        calls[0] += 1
        return process(self, *a, **k)

    opts = BacktestOptions(decide_every=100, end_ns=OPEN + 600 * 10**9)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Pipeline, "process", counted)
        res = run_backtest([need(ES_MBO)], PipelineParams(signals_kept=2), BUSY, opts)
    assert calls[0] > 100 and res.stats["decisions"] > 100  # (run ahead it would fail)


def test_a_book_takes_another_books_state_and_goes_on_alone() -> None:
    """``OrderBook.take_state``: the same orders, queues and levels (into a fresh buffer, and
    into one of the same size), change stamps of its own, and the two books apart after."""
    ev, inst = read_mbo(need(ES_MBO))
    src = OrderBook(inst)
    src.apply_mbo(ev[:20_000])
    dst = OrderBook(inst)
    assert dst._st.shape != src._st.shape  # (a fresh buffer)
    dst.take_state(src)
    dst.check_integrity()
    assert _book_reads(dst) == _book_reads(src) and len(dst) == len(src)
    assert dst._meta[22] != src._meta[22]  # (``M_EPOCH``: change stamps of its own)
    assert dst._st is not src._st
    buf = dst._st
    dst.apply_mbo(ev[20_000:30_000])
    assert _book_reads(dst) != _book_reads(src)  # (apart: the source did not move)
    whole = OrderBook(inst)
    whole.apply_mbo(ev[:30_000])
    assert _book_reads(dst) == _book_reads(whole)
    got, want = dst.depth(50), whole.depth(50)
    assert all(np.array_equal(got[k], want[k]) for k in want)
    if buf.shape == src._st.shape:  # the same size: copied into the buffer it has
        dst.take_state(src)
        assert dst._st is buf and _book_reads(dst) == _book_reads(src)
    same = OrderBook(inst)
    same.take_state(whole)
    held = same._st
    same.take_state(whole)
    assert same._st is held and _book_reads(same) == _book_reads(whole)
    same.check_integrity()


@pytest.mark.slow
def test_the_venues_book_copies_the_pipelines_where_a_chunk_runs_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where a chunk starts to run ahead the pipeline's book holds every record passed: the
    venue's own book takes a copy of it (after the snapshot, and at the second chunk) instead
    of applying those records; every read the venue makes is the same as without the copy.
    Copied after the pipeline's call (its book at the chunk's end), the reads differ."""
    reads: list[Any] = []
    adopted: list[int] = []
    adopt = LaggingBook.adopt

    def read(name: str) -> Any:
        fn = getattr(MarketView, name)

        def w(self: MarketView, *a: Any) -> Any:
            got = fn(self, *a)
            reads.append((name, a, repr(got)))
            return got

        return w

    def adopt_(self: LaggingBook, book: OrderBook) -> None:
        adopted.append(self.pending)
        adopt(self, book)

    for name in ("best", "levels", "size_at", "queue_at"):
        monkeypatch.setattr(MarketView, name, read(name))
    monkeypatch.setattr(LaggingBook, "adopt", adopt_)
    copied = run_backtest([need(ES_MBO)])  # (the default strategy: 2 chunks)
    got, reads[:] = list(reads), []
    assert len(adopted) == 2 and min(adopted) >= run_mod.ADOPT and len(got) > 40
    monkeypatch.setattr(run_mod, "ADOPT", 10**12)
    applied = run_backtest([need(ES_MBO)])
    assert reads == got and len(adopted) == 2
    for field in ("commands", "fills", "trades", "daily", "equity", "signals", "files"):
        assert getattr(copied, field) == getattr(applied, field)
    # the fault: the copy taken after the chunk went to the pipeline
    ahead = AheadView.ahead

    def late(self: AheadView, recs: np.ndarray, start: int) -> None:
        ahead(self, recs, start)
        adopt(self.book, self.pipe.book)

    monkeypatch.setattr(AheadView, "ahead", late)
    reads[:] = []
    run_backtest([need(ES_MBO)])
    assert reads != got


def _result(r: Any) -> tuple[Any, ...]:
    return (r.applied, r.rejected, r.boundaries, r.crossed_boundaries, r.locked_boundaries,
            r.first_reject_index)  # fmt: skip


def test_the_venues_book_applies_without_the_cover_pass_the_same_book() -> None:
    """The venue's own book (:class:`LaggingBook`) applies its records without
    ``OrderBook._cover`` (``cover=False``): on ESH4 fed in pieces of 1 to 9,000 records as
    the reads bring it, every batch's result and, after each, the best, the queues at the
    touch, 50 levels a side and the order count are a covered book's, and both pass the
    integrity check; the ladder's re-base happens in the kernel's stop instead."""
    ev, inst = read_mbo(need(ES_MBO))
    ev = ev[:80_000]
    covered, bare = OrderBook(inst), OrderBook(inst)
    lag = LaggingBook(OrderBook(inst))
    rng = np.random.default_rng(5)
    pos = 0
    while pos < len(ev):
        n = int(rng.choice([1, 37, 100, 104, 503, 2_487, 9_000]))
        piece = ev[pos : pos + n]
        assert _result(covered.apply_mbo(piece)) == _result(bare.apply_mbo(piece, cover=False))
        pos += len(piece)
        lag.upto(ev, pos)
        want = _book_reads(covered)
        assert _book_reads(bare) == want and _book_reads(lag) == want
        got, exp = lag.depth(50), covered.depth(50)
        assert all(np.array_equal(got[k], exp[k]) for k in exp)
        assert len(lag.book) == len(bare) == len(covered)
    covered.check_integrity()
    bare.check_integrity()
    lag.book.check_integrity()


def test_a_record_outside_the_venues_ladder_lands_without_the_cover_pass() -> None:
    """The fault case: a batch without the cover pass whose adds and modify lie thousands of
    ticks outside the ladder the book was sized for (and one beyond the widest ladder, which
    both refuse): the kernel stops, the ladder re-bases, the batch goes on; the same results,
    levels and orders as the covered book (a variant that drops or misplaces the record it
    stopped at fails here)."""
    rows = [(int(Action.ADD), 0, 19_000, 5, 1), (int(Action.ADD), 1, 19_001, 4, 2)]
    far = [(int(Action.ADD), 0, 14_000, 3, 3), (int(Action.ADD), 1, 26_000, 2, 4),
           (int(Action.MODIFY), 0, 12_000, 3, 3), (int(Action.ADD), 1, 10**9, 1, 5),
           (int(Action.CANCEL), 1, 19_001, 1, 2)]  # fmt: skip
    books = []
    for cover in (True, False):
        book = OrderBook()
        book.apply_mbo(_recs(rows))
        width = book._st.shape
        res = book.apply_mbo(_recs(far), cover=cover)
        assert book._st.shape != width  # (re-based)
        books.append((book, _result(res)))
    (covered, want), (bare, got) = books
    assert got == want and got[0] == 4 and sum(got[1].values()) == 1  # (the 10**9 refused)
    assert _book_reads(bare) == _book_reads(covered)
    assert bare.levels(0).tolist() == covered.levels(0).tolist() == [[19_000, 5, 1], [12_000, 3, 1]]
    assert bare.levels(1).tolist() == covered.levels(1).tolist() == [[19_001, 3, 1], [26_000, 2, 1]]
    bare.check_integrity()


def _recs(rows: list[tuple[int, int, int, int, int]]) -> np.ndarray:
    recs = np.zeros(len(rows), dtype=MBO_DTYPE)
    for i, (action, side, price, size, oid) in enumerate(rows):
        recs[i] = (1_000 + i, 2_000 + i, i + 1, oid, price, size, action, side, int(Flags.LAST), 0)
    return recs
