"""Footprint bars: cells by aggressor, delta extremes, POC, diagonal and stacked imbalances."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.analytics.bars import BarKind, BarSpec
from orderflow.analytics.footprint import (
    CELL_DTYPE,
    FootprintParams,
    FootprintSeries,
    build_footprint,
    imbalances,
    multi_footprint,
    poc,
    stacked_imbalances,
)
from orderflow.model.enums import Side
from tests.conftest import make_trades

B, A, N = int(Side.BID), int(Side.ASK), int(Side.NONE)
NS = 1_000_000_000
T0 = 1_700_000_040 * NS


ORDER = [
    (100, 3, A), (100, 12, B), (101, 2, A), (101, 20, B), (102, 10, A),
    (102, 15, B), (103, 30, A), (103, 12, B), (104, 4, N), (105, 9, B),
]  # fmt: skip
BAR = make_trades([(T0 + i * NS, p, q, s) for i, (p, q, s) in enumerate(ORDER)])
NEXT = make_trades([(T0 + 60 * NS, 100, 1, B)])


def closed_footprint() -> FootprintSeries:
    fp = FootprintSeries(BarSpec(BarKind.TIME, 60))
    fp.update(BAR)
    fp.update(NEXT)
    return fp


def test_cells_split_volume_by_aggressor_at_each_price():
    fp = closed_footprint()
    assert fp.bar_cells(0).tolist() == [
        (100, 3, 12, 0),
        (101, 2, 20, 0),
        (102, 10, 15, 0),
        (103, 30, 12, 0),
        (104, 0, 0, 4),
        (105, 0, 9, 0),
    ]
    assert fp.forming_cells().tolist() == [(100, 0, 1, 0)]


def test_bar_delta_extremes_and_poc():
    bar = closed_footprint().bars()[0]
    assert (bar["volume"], bar["buy_volume"], bar["sell_volume"]) == (117, 68, 45)
    assert bar["delta"] == 23
    # running delta: -3, 9, 7, 27, 17, 32, 2, 14, 14, 23
    assert (bar["max_delta"], bar["min_delta"]) == (32, -3)
    assert bar["poc"] == 103
    assert (bar["cell_start"], bar["cell_count"]) == (0, 6)


def test_poc_tie_goes_to_the_lowest_price():
    trades = make_trades([(T0, 101, 5, B), (T0 + 1, 100, 5, A), (T0 + 2, 102, 3, B)])
    fp = build_footprint(trades, BarSpec(BarKind.TICK, 3))
    assert fp.bars()[0]["poc"] == 100
    assert poc(fp.bar_cells(0)) == 100


def test_diagonal_imbalances_with_ninjatrader_defaults():
    fp = closed_footprint()
    buy, sell = fp.imbalances(0)
    # buy at p: ask(p) vs bid(p-1); 100: 12 vs 0; 101: 20 vs 3; 102: 15 vs 2; 103: 12 < 1.5*10;
    # 105: 9 vs 0 is under the minimum delta of 10
    assert buy.tolist() == [True, True, True, False, False, False]
    # sell at p: bid(p) vs ask(p+1); only 103: 30 vs ask(104) = 0
    assert sell.tolist() == [False, False, False, True, False, False]
    assert fp.stacked(0).tolist() == [(0, 100, 102, 3)]
    assert fp.forming_imbalances()[0].tolist() == [False]
    assert len(fp.forming_stacked()) == 0


def test_imbalance_ratio_is_inclusive_and_parameters_apply():
    cells = np.array([(10, 10, 0, 0), (11, 0, 15, 0)], dtype=CELL_DTYPE)
    buy, _ = imbalances(cells, FootprintParams(imbalance_ratio=1.5, min_delta=5))
    assert buy.tolist() == [False, True]
    buy, _ = imbalances(cells, FootprintParams(imbalance_ratio=1.6, min_delta=5))
    assert buy.tolist() == [False, False]
    buy, _ = imbalances(cells, FootprintParams(imbalance_ratio=1.5, min_delta=6))
    assert buy.tolist() == [False, False]
    # sell side: bid 10 at 10 vs ask 0 at 11? no: ask(11) = 15
    _, sell = imbalances(cells, FootprintParams(min_delta=0))
    assert sell.tolist() == [False, False]
    fp2 = closed_footprint()
    assert stacked_imbalances(fp2.bar_cells(0), FootprintParams(stacked_count=4)).tolist() == []
    zones = stacked_imbalances(fp2.bar_cells(0), FootprintParams(stacked_count=2))
    assert zones.tolist() == [(0, 100, 102, 3)]


def test_stacked_needs_consecutive_ticks():
    cells = np.array([(10, 0, 20, 0), (11, 0, 20, 0), (13, 0, 20, 0)], dtype=CELL_DTYPE)
    assert stacked_imbalances(cells, FootprintParams(stacked_count=2)).tolist() == [(0, 10, 11, 2)]
    assert stacked_imbalances(cells[:0]).tolist() == []


def test_cell_window_grows_for_a_wide_bar_and_chunking_changes_nothing():
    rows = [(T0 + i, p, 1 + i, i % 3) for i, p in enumerate([100, 5100, 100, -2900, 40000])]
    trades = make_trades(rows)
    batch = build_footprint(trades, BarSpec(BarKind.TIME, 60))
    inc = FootprintSeries(BarSpec(BarKind.TIME, 60))
    for i in range(len(trades)):
        inc.update(trades[i : i + 1])
    assert batch.forming_cells().tolist() == [
        (-2900, 0, 4, 0), (100, 0, 1, 3), (5100, 2, 0, 0), (40000, 5, 0, 0),
    ]  # fmt: skip
    assert inc.forming_cells().tolist() == batch.forming_cells().tolist()
    assert inc.forming().tobytes() == batch.forming().tobytes()
    assert batch.forming()["poc"] == 40000


def test_multi_footprint_keeps_cells_per_series():
    mb = multi_footprint([BarSpec(BarKind.TIME, 60), BarSpec(BarKind.TICK, 5)])
    mb.update(BAR)
    assert mb[0].forming_cells()["price"].tolist() == [100, 101, 102, 103, 104, 105]
    assert mb[1].bar_cells(1).tolist() == [(102, 0, 15, 0), (103, 30, 12, 0), (104, 0, 0, 4),
                                           (105, 0, 9, 0)]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# properties


def naive_imbalances(cells: np.ndarray, p: FootprintParams) -> tuple[list[bool], list[bool]]:
    bid = {int(c["price"]): int(c["bid"]) for c in cells}
    ask = {int(c["price"]): int(c["ask"]) for c in cells}
    buy, sell = [], []
    for c in cells:
        x = int(c["price"])
        a, b = ask[x], bid.get(x - 1, 0)
        buy.append(a > 0 and a >= p.imbalance_ratio * b and a - b >= p.min_delta)
        b2, a2 = bid[x], ask.get(x + 1, 0)
        sell.append(b2 > 0 and b2 >= p.imbalance_ratio * a2 and b2 - a2 >= p.min_delta)
    return buy, sell


@st.composite
def trade_streams(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(1, 60))
    rows, ts, price = [], T0, 500
    for _ in range(n):
        ts += draw(st.sampled_from([0, 1, 7 * NS, 61 * NS]))
        price += draw(st.integers(-2, 2)) + draw(st.sampled_from([0, 0, 0, 300]))
        rows.append((ts, price, draw(st.integers(1, 30)), draw(st.sampled_from([B, A, N]))))
    return make_trades(rows)


SPECS = st.sampled_from(
    [BarSpec(BarKind.TIME, 60), BarSpec(BarKind.TICK, 4), BarSpec(BarKind.VOLUME, 25),
     BarSpec(BarKind.RANGE, 3)]
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(trades=trade_streams(), spec=SPECS, chunk=st.integers(1, 9))
def test_cells_sum_to_bar_volume_and_batch_equals_incremental(trades, spec, chunk):
    batch = build_footprint(trades, spec)
    inc = FootprintSeries(spec)
    for i in range(0, len(trades), chunk):
        inc.update(trades[i : i + chunk])
    assert inc.bars().tobytes() == batch.bars().tobytes()
    assert inc.cells().tobytes() == batch.cells().tobytes()
    assert inc.forming_cells().tobytes() == batch.forming_cells().tobytes()
    params = FootprintParams(min_delta=5)
    for i, bar in enumerate(batch.bars()):
        cells = batch.bar_cells(i)
        assert (cells["bid"] + cells["ask"] + cells["other"]).sum() == bar["volume"]
        assert cells["ask"].sum() == bar["buy_volume"]
        assert cells["bid"].sum() == bar["sell_volume"]
        assert (np.diff(cells["price"]) > 0).all()
        assert bar["poc"] == poc(cells)
        buy, sell = imbalances(cells, params)
        assert (buy.tolist(), sell.tolist()) == naive_imbalances(cells, params)
    f, fc = batch.forming(), batch.forming_cells()
    closed = batch.cells()
    total = int((closed["bid"] + closed["ask"] + closed["other"]).sum())
    total += int((fc["bid"] + fc["ask"] + fc["other"]).sum())
    assert total == trades["size"].sum()
    if f is not None:
        assert (fc["bid"] + fc["ask"] + fc["other"]).sum() == f["volume"]
