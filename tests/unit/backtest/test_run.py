"""The backtest driver on ESH4: deterministic, the same whatever the chunks read, each decision
rhythm measured; the streaming reader; the report's formulas on hand-made numbers."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np
import pytest

from orderflow.backtest.bars import breakouts
from orderflow.backtest.report import daily_ratios, exposure
from orderflow.backtest.run import BacktestOptions, BacktestResult, _every_n, run_backtest
from orderflow.io.dbn import read_mbo
from orderflow.io.stream import open_chunks
from orderflow.model.dtypes import BAR_DTYPE
from orderflow.model.instruments import get_instrument
from orderflow.trading.positions import Trade
from tests.conftest import ES_MBO, need

OPEN = 1_703_545_200_000_000_000  # ESH4 2023-12-25 23:00 UTC, the open
LAT = {"order_latency_ns": 250_000, "md_latency_ns": 250_000, "seed": 7}


@cache
def run(**kw: object) -> BacktestResult:
    return run_backtest([need(ES_MBO)], options=BacktestOptions(**kw))  # type: ignore[arg-type]


def _same(a: BacktestResult, b: BacktestResult) -> None:
    assert a.commands == b.commands and a.fills == b.fills
    assert a.trades == b.trades and a.equity == b.equity


@pytest.mark.slow
def test_two_runs_with_latency_draws_send_the_same_commands_and_get_the_same_fills() -> None:
    a = run(**LAT)
    b = run_backtest([need(ES_MBO)], options=BacktestOptions(**LAT))  # type: ignore[arg-type]
    _same(a, b)
    assert len(a.commands) > 20 and len(a.fills) > 5


@pytest.mark.slow
def test_the_chunks_read_do_not_change_the_result_deciding_every_100_records() -> None:
    a = run(chunk_records=65_536)
    b = run(chunk_records=4_096)
    _same(a, b)
    assert a.stats["decisions"] == b.stats["decisions"] > 400


@pytest.mark.slow
def test_deciding_at_every_event_group_is_the_same_for_any_chunks() -> None:
    # 5 minutes from the open (the hour before it builds the book only): 9,000-odd decisions
    window = {"start_ns": OPEN, "end_ns": OPEN + 300_000_000_000, "decide_every": "group"}
    a = run(chunk_records=65_536, **window)
    b = run(chunk_records=4_096, **window)
    _same(a, b)
    assert a.stats["decisions"] > 9_000 and a.fills


@pytest.mark.slow
def test_not_asking_an_idle_strategy_changes_nothing() -> None:
    # flat, nothing working, no new accumulated signal: the reference strategy cannot act
    a = run(skip_idle=False, **LAT)
    b = run(**LAT)
    _same(a, b)
    assert b.stats["strategy_calls"] < a.stats["strategy_calls"] == a.stats["decisions"]


@pytest.mark.slow
def test_each_decision_rhythm_trades_and_ends_flat() -> None:
    rows = {}
    for every in ("chunk", 100, 1000):
        r = run(decide_every=every)
        rows[every] = r.stats["decisions"]
        # flat at the end: every contract bought was sold
        signed = sum((1 if f.side.value == "Buy" else -1) * f.quantity for f in r.fills)
        assert signed == 0
        assert r.stats["events"] == 68_792
    assert rows["chunk"] < rows[1000] < rows[100]


def test_every_n_records_carries_over_chunks() -> None:
    ends = np.array([3, 5, 9, 10])
    assert _every_n(ends, 4, 0) == ([5, 9], 1)
    # 3 records left from the chunk before: the first event end reaches 4 at once
    assert _every_n(ends, 4, 3) == ([3, 9], 1)
    assert _every_n(ends, 100, 7) == ([], 17)
    assert _every_n(np.zeros(0, dtype=np.int64), 4, 3) == ([], 3)


def _every_n_searched(ends: np.ndarray, n: int, since: int) -> tuple[list[int], int]:
    """The decision points as they were found before the jitted pass: a search per point."""
    out: list[int] = []
    start = -since
    while True:
        j = int(np.searchsorted(ends, start + n, side="left"))
        if j >= len(ends):
            break
        out.append(int(ends[j]))
        start = int(ends[j])
    total = int(ends[-1]) if len(ends) else 0
    return out, total - (out[-1] if out else start)


def test_every_n_is_the_search_per_decision_point() -> None:
    # random event ends (gaps of one record and up), every N from 1 past the chunk, any
    # carried count; an end exactly N after the last point is a point
    rng = np.random.default_rng(7)
    for _ in range(300):
        ends = np.cumsum(rng.integers(1, 30, int(rng.integers(0, 60))))
        n, since = int(rng.integers(1, 120)), int(rng.integers(0, 150))
        assert _every_n(ends, n, since) == _every_n_searched(ends, n, since)
    assert _every_n(np.array([4, 8, 9, 12]), 4, 0) == ([4, 8, 12], 0)


def test_mbo_streams_in_chunks_equal_to_the_whole_file() -> None:
    whole, inst = read_mbo(need(ES_MBO))
    got_inst, kind, chunks = open_chunks(ES_MBO, 10_000)
    parts = [c.records for c in chunks]
    assert kind == "mbo" and got_inst.contract == inst.contract == "ESH4"
    assert max(len(p) for p in parts) == 10_000 and len(parts) == 7
    assert np.array_equal(np.concatenate(parts), whole)


def test_sharpe_and_sortino_of_daily_returns() -> None:
    r = [0.01, -0.02, 0.03, 0.0]
    sharpe, sortino = daily_ratios(r)
    mean = 0.005
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 3)
    assert sharpe == pytest.approx(mean / sd * math.sqrt(252))
    assert sortino == pytest.approx(mean / math.sqrt(0.02**2 / 4) * math.sqrt(252))
    assert daily_ratios([0.01]) == (None, None)
    assert daily_ratios([0.01, 0.02])[1] is None  # no losing day: no downside


def test_exposure_is_the_union_of_open_intervals_over_the_data_time() -> None:
    es = get_instrument("ESH4")

    def t(a: int, b: int) -> Trade:
        return Trade(1, "Sim101", es, 1, a, b, entry_cost=Fraction(0))

    assert exposure([t(0, 10), t(5, 20), t(50, 60)], 100) == pytest.approx(0.3)
    assert exposure([], 100) == 0.0


def test_a_breakout_is_a_close_beyond_the_lookback_range() -> None:
    bars = np.zeros(6, dtype=BAR_DTYPE)
    bars["high"] = [10, 11, 10, 12, 11, 9]
    bars["low"] = [8, 9, 9, 10, 7, 6]
    bars["close"] = [9, 10, 10, 13, 8, 6]
    # lookback 2: bar 2 closes 10 inside (9..11); bar 3 closes 13 above max(11, 10); bar 4
    # closes 8 below min(9, 10); bar 5 closes 6 below min(10, 7)
    assert breakouts(bars, 2).tolist() == [0, 0, 0, 1, -1, -1]
    assert breakouts(bars, 2, start=4).tolist() == [0, 0, 0, 0, -1, -1]


@pytest.mark.slow
def test_an_l2_stream_with_its_prints_trades_the_same_for_any_chunks() -> None:
    """ESH4 as price-level deltas and prints (derived as the benchmarks derive them): the
    venue fills by the L2 queue model, on the pipeline's LevelBook."""
    import sys

    from orderflow.analytics.trades import trades_from_mbo
    from orderflow.backtest.run import run_sources
    from orderflow.io.stream import Chunk, Opened
    from tests.conftest import PROJECT_ROOT

    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    from streams import derive_level_deltas  # type: ignore[import-not-found]

    ev, inst = read_mbo(need(ES_MBO))
    levels, prints = derive_level_deltas(ev), trades_from_mbo(ev)

    def chunks(n: int) -> Opened:
        t = prints["ts_event"]
        parts, at = [], 0
        for a in range(0, len(levels), n):
            part = levels[a : a + n]
            end = (
                len(prints)
                if a + n >= len(levels)
                else int(np.searchsorted(t, part["ts_event"][-1], "right"))
            )
            parts.append(Chunk(part, prints[at:end]))
            at = end
        return Opened(inst, "levels", iter(parts))

    a, b = (run_sources([("l2", chunks(n))], options=BacktestOptions(chunk_records=n))
            for n in (4_096, 65_536))  # fmt: skip
    _same(a, b)
    assert a.stats["events"] == len(levels) and a.fills
    assert a.files[0]["venue"].get("fills_maker", 0) + a.files[0]["venue"]["fills_taker"] == len(
        a.fills
    )


def test_the_driver_lets_every_due_command_act_before_the_next_piece(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The driver asks the venue to settle only while a report is held or the venue has
    something of its own (a report, a command on its way): at every piece it cuts, nothing
    the venue holds is due before the piece's first record. Checked at each piece of an
    ESH4 run with latencies, where commands arrive between pieces (it fails when the driver
    skips a command due with no report held)."""
    from orderflow.backtest.venue import SimVenue

    real = SimVenue.next_cut
    seen = {"pieces": 0, "waiting": 0}

    def checked(self: SimVenue, records: np.ndarray, trades: np.ndarray | None = None) -> int:
        if len(records):
            assert not self.due(int(records["ts_event"][0]) - 1)
            seen["pieces"] += 1
            seen["waiting"] += bool(self._pending)
        return real(self, records, trades)

    monkeypatch.setattr(SimVenue, "next_cut", checked)
    res = run_backtest([need(ES_MBO)], options=BacktestOptions(**LAT))  # type: ignore[arg-type]
    # (a quiet venue, holding nothing, is not asked, nor is one shown clear pieces:
    # test_a_quiet_venue_...)
    assert seen["pieces"] > 60 and seen["waiting"] > 10 and len(res.fills) > 5


@pytest.mark.slow
def test_a_quiet_venue_shown_its_pieces_joined_is_the_venue_shown_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While nothing of ours is at the venue (``SimVenue.quiet``), and while orders of ours
    work but nothing else is due there for the pieces before the first record that can touch
    one of them (``SimVenue.clear``), the driver shows it the pieces joined: before a command,
    a report, the next piece that is not clear and at the chunk's end. The venue as each
    command and each piece it is shown find it (its clock, last print, count of events, what
    we took, the orders' queues) and the results are those of the venue shown every piece
    (``quiet`` answering False, ``clear`` 0). Fails when the driver sends without showing the
    pieces first, when a piece is left out of the join, when the venue is called quiet with
    liquidity of ours taken, when a relevant record is let through as clear, when a command
    or a report does not end what is clear and when the joined pieces are not shown before
    the next."""
    from orderflow.backtest.run import _Driver
    from orderflow.backtest.venue import SimVenue

    real_send, real_market, real_idle = SimVenue.send, SimVenue.on_market, _Driver._idle
    real_pass = _Driver._pass_idle
    real_clear = SimVenue.clear
    log: list[tuple[object, ...]] = []
    idle = {True: 0, False: 0}
    joined = [0]

    def idle_checked(self: _Driver, signals: int) -> bool:
        # (the flat answer kept between fills is the host's own answer at every decision)
        got, h = real_idle(self, signals), self.host
        assert got == (signals == self._seen and not h.desk.brackets.live and not h.position)
        idle[got] += 1
        return got

    def pass_idle(self: _Driver, recs: np.ndarray, stops: list[int], k: int) -> int:
        got = real_pass(self, recs, stops, k)  # (idle points passed at once: idle too)
        idle[True] += got - k
        return got

    def state(self: SimVenue, what: object) -> None:
        queues = [(o.cid, o.queue.ahead) for o in self._resting]
        log.append((what, self.now, self.last_trade, self._events, repr(self.taken),
                    repr(queues)))  # fmt: skip

    def send(self: SimVenue, cmd: Any) -> Any:
        state(self, cmd.cid)
        return real_send(self, cmd)

    def on_market(self: SimVenue, records: np.ndarray, trades: Any = None) -> Any:
        if len(records):  # (a piece shown: what came before it, shown before it)
            state(self, (int(records["ts_event"][0]), int(records["sequence"][0]), len(records)))
        return real_market(self, records, trades)

    def clear(self: SimVenue, recs: np.ndarray) -> int:
        got = real_clear(self, recs)
        joined[0] += got > 0
        return got

    monkeypatch.setattr(SimVenue, "send", send)
    monkeypatch.setattr(SimVenue, "on_market", on_market)
    monkeypatch.setattr(SimVenue, "clear", clear)
    monkeypatch.setattr(_Driver, "_idle", idle_checked)
    monkeypatch.setattr(_Driver, "_pass_idle", pass_idle)
    opts = BacktestOptions(chunk_records=16_384, **LAT)  # type: ignore[arg-type]
    lazy = run_backtest([need(ES_MBO)], options=opts)
    seen, log[:] = list(log), []
    monkeypatch.setattr(SimVenue, "quiet", property(lambda self: False))
    monkeypatch.setattr(SimVenue, "clear", lambda self, recs: 0)
    each = run_backtest([need(ES_MBO)], options=opts)
    _same(lazy, each)
    assert lazy.files[0]["venue"] == each.files[0]["venue"]
    sends = [x for x in seen if isinstance(x[0], str)]
    assert sends == [x for x in log if isinstance(x[0], str)] and len(sends) > 40
    assert any(x[4] != "{}" for x in sends)  # (liquidity of ours taken)
    assert set(seen) <= set(log)  # each piece shown found the venue as shown every piece
    assert len(log) > len(seen) + 400 and joined[0] > 20  # (pieces shown joined)
    assert idle[True] > 400 and idle[False] > 400


def test_the_idle_check_asks_the_host_for_its_position_again_after_a_fill() -> None:
    """The driver keeps the host's flat answer until the next fill it hands the node (the
    only way a position moves in a backtest): a position taken after a fill is seen, one
    taken without a fill is not asked for (the cache), live brackets and a new signal answer
    first. Fails when the answer is kept across a fill."""
    from types import SimpleNamespace

    from orderflow.backtest.options import OrderLog
    from orderflow.backtest.run import _Driver

    host: Any = SimpleNamespace(desk=SimpleNamespace(brackets=SimpleNamespace(live={})),
                                position=0)  # fmt: skip
    drv = _Driver(None, host, None, None, BacktestOptions(), OrderLog())  # type: ignore[arg-type]
    assert drv._idle(0)
    host.position = 2
    assert drv._idle(0)  # (no fill since: not asked again)
    drv.log.fills.append(None)  # type: ignore[arg-type]
    assert not drv._idle(0)
    host.position = 0
    assert not drv._idle(0)
    drv.log.fills.append(None)  # type: ignore[arg-type]
    assert drv._idle(0) and not drv._idle(1)
    host.desk.brackets.live["b"] = object()
    assert not drv._idle(0)


def test_a_quiet_venue_is_shown_each_piece_where_the_times_go_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The venue's clock after a piece is its last record's time, kept only when later: for
    records whose times go back, pieces joined would leave an earlier clock, so such a chunk is
    shown piece by piece. ESH4's first 16,384 records with 300 of the first hour's stamped at
    the file's end: the venue as each command finds it is the venue shown every piece (fails
    when the pieces are joined anyway)."""
    from orderflow.backtest.run import run_sources
    from orderflow.backtest.venue import SimVenue
    from orderflow.io.stream import Chunk, Opened

    ev, inst = read_mbo(need(ES_MBO))
    recs = ev[:16_384].copy()
    recs["ts_event"][9_000:9_300] = ev["ts_event"][-1]  # (after the snapshot: 8,726)
    real_send = SimVenue.send
    log: list[tuple[object, ...]] = []

    def send(self: SimVenue, cmd: Any) -> Any:
        log.append((cmd.cid, self.now, self.last_trade, self._events))
        return real_send(self, cmd)

    monkeypatch.setattr(SimVenue, "send", send)
    lazy = run_sources([("esh4", Opened(inst, "mbo", iter([Chunk(recs)])))])
    seen, log[:] = list(log), []
    monkeypatch.setattr(SimVenue, "quiet", property(lambda self: False))
    each = run_sources([("esh4", Opened(inst, "mbo", iter([Chunk(recs)])))])
    _same(lazy, each)
    assert seen == log and seen and seen[0][1] == ev["ts_event"][-1]


def test_records_are_joined_as_numpy_joins_them() -> None:
    """``_join`` (the chunk's unfinished event before the next chunk) copies the records' bytes:
    the same records, padding included, as ``np.concatenate``; arrays it cannot copy so (not
    contiguous, two dtypes) go to numpy."""
    from orderflow.backtest.run import _join
    from orderflow.model.dtypes import MBO_DTYPE, NT_DEPTH_DTYPE, TRADE_DTYPE

    rng = np.random.default_rng(3)
    for dtype in (MBO_DTYPE, TRADE_DTYPE, NT_DEPTH_DTYPE):
        for a, b in ((0, 0), (0, 5), (3, 0), (1, 1), (7, 300)):
            raw = rng.integers(0, 256, (a + b) * dtype.itemsize, dtype=np.uint8)
            recs = raw.view(dtype)  # (garbage in every byte, the padding's too)
            head, tail = recs[:a].copy(), recs[a:].copy()
            got = _join(head, tail)
            assert got.dtype == dtype and got.tobytes() == np.concatenate([head, tail]).tobytes()
            assert got.tobytes() == raw.tobytes()
            strided = recs[::2]
            assert _join(head, strided).tobytes() == np.concatenate([head, strided]).tobytes()
    mbo = np.zeros(3, dtype=MBO_DTYPE)
    mbo["price"] = [1, 2, 3]
    with pytest.raises(TypeError):  # (numpy's answer to two record dtypes, not bytes)
        _join(mbo, np.zeros(2, dtype=TRADE_DTYPE))


@pytest.mark.slow
def test_idle_points_passed_at_once_are_the_points_decided_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run ahead, the idle decision points after an idle one are passed at once until the
    first whose records bring an accumulated signal: the same result, decision and asked
    counts, and the same trading-day rolls at the same times as deciding each; passing one
    point too far (over the signal) changes the run."""
    from orderflow.backtest.ahead import AheadView
    from orderflow.backtest.run import _Driver
    from orderflow.trading.risk import RiskManager

    rolls: list[tuple[int, str | None]] = []
    passed = [0]
    real_roll, real_pass = RiskManager.roll_day, _Driver._pass_idle

    def roll(self: RiskManager, ts_ns: int, symbol: str | None = None) -> bool:
        rolls.append((ts_ns, symbol))
        return real_roll(self, ts_ns, symbol)

    def pass_idle(self: _Driver, recs: np.ndarray, stops: list[int], k: int) -> int:
        got = real_pass(self, recs, stops, k)
        passed[0] += got - k
        return got

    monkeypatch.setattr(RiskManager, "roll_day", roll)
    monkeypatch.setattr(_Driver, "_pass_idle", pass_idle)
    results, logs = [], []
    for on in (True, False):
        if not on:
            monkeypatch.setattr(_Driver, "_pass_idle", lambda self, recs, stops, k: k)
        rolls[:] = []
        results.append(run_backtest([need(ES_MBO)], options=BacktestOptions()))
        logs.append(list(rolls))
    passing, each = results
    _same(passing, each)
    timing = ("elapsed_s", "events_per_s")
    assert {k: v for k, v in passing.stats.items() if k not in timing} == {
        k: v for k, v in each.stats.items() if k not in timing
    }
    assert passing.files == each.files
    assert passing.signals == each.signals and logs[0] == logs[1]
    assert passed[0] > 200 and each.stats["decisions"] - each.stats["strategy_calls"] > 200
    # the fault: the next signal's time not looked at (passed to the chunk's last point)
    monkeypatch.setattr(_Driver, "_pass_idle", real_pass)
    monkeypatch.setattr(AheadView, "next_signal_ts", lambda self, count: None)
    broken = run_backtest([need(ES_MBO)], options=BacktestOptions())
    assert broken.commands != each.commands
