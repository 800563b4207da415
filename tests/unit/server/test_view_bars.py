"""Closed bars built together (:func:`view_frames.closed_bars`, :func:`view_frames.bar_dicts`)
are the very BARs built one at a time (:func:`view_frames.bar_dict`): bars whose cells are
neighbouring prices across the boundary (where one call of the imbalance rule over both would
compare one bar's cell with the next bar's) keep each bar's own imbalances, ratios and stacked
marks; a series whose cells do not lie one bar after another is built bar by bar; on ESH4
every chunk of its closed bars equals its bars one at a time, bytes included."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import msgspec
import numpy as np

from orderflow.analytics.bars import BAR_RECORD_DTYPE, CELL_DTYPE
from orderflow.analytics.params import FootprintParams, VwapParams
from orderflow.model.instruments import get_instrument
from orderflow.server import view_frames as vf


def _cells(rows: list[tuple[int, int, int]]) -> np.ndarray:
    out = np.zeros(len(rows), dtype=CELL_DTYPE)
    for k, (p, b, a) in enumerate(rows):
        out[k]["price"], out[k]["bid"], out[k]["ask"] = p, b, a
    return out


class _Series:
    """A footprint series' reads that :func:`view_frames.closed_bars` takes."""

    def __init__(self, bars: list[list[tuple[int, int, int]]], gap: int = 0) -> None:
        self.recs = np.zeros(len(bars), dtype=BAR_RECORD_DTYPE)
        parts, at = [], 0
        for k, rows in enumerate(bars):
            r = self.recs[k]
            r["ts_open"], r["ts_close"] = 60 * k, 60 * k + 59
            r["open"] = r["low"] = min(p for p, _, _ in rows)
            r["high"] = r["close"] = max(p for p, _, _ in rows)
            r["volume"] = sum(b + a for _, b, a in rows)
            r["delta"] = sum(a - b for _, b, a in rows)
            r["poc"] = rows[0][0]
            r["cell_start"], r["cell_count"] = at, len(rows)
            parts.append(_cells(rows))
            if gap:  # cells that are no bar's between this bar's and the next one's
                parts.append(_cells([(0, 1, 1)] * gap))
            at += len(rows) + gap
        self.all = np.concatenate(parts)

    def bars(self) -> np.ndarray:
        return self.recs

    def cells(self) -> np.ndarray:
        return self.all

    def bar_cells(self, i: int) -> np.ndarray:
        r = self.recs[i]
        return self.all[int(r["cell_start"]) : int(r["cell_start"] + r["cell_count"])]


def _state(series: _Series) -> Any:
    params = SimpleNamespace(footprint=FootprintParams(), vwap=VwapParams())
    pipeline = SimpleNamespace(bars=SimpleNamespace(series=[series]), params=params)
    return SimpleNamespace(instrument=get_instrument("ESH4"), pipeline=pipeline)


#: bar 0's top cell (100) and bar 1's bottom one (101) are neighbouring prices: asked as one
#: bar, ask(101) = 40 against bid(100) = 30 would be no buy imbalance, and bid(100) = 30
#: against ask(101) = 40 no sell imbalance; each bar alone sees 0 beyond its edge, so both are
BARS = [
    [(98, 50, 1), (99, 20, 5), (100, 30, 0)],
    [(101, 0, 40), (102, 2, 60), (103, 3, 90), (104, 1, 140), (106, 12, 0)],
    [(102, 25, 0)],
    [(103, 0, 11), (104, 0, 0)],
]


def test_bars_built_together_are_the_bars_built_one_at_a_time() -> None:
    series = _Series(BARS)
    st = _state(series)
    nan3 = (np.nan,) * 3
    vwaps = {60: (400.5, (401.0, 402.0, 403.0), (400.0, 399.0, 398.0)), 120: (np.nan, nan3, nan3)}
    one = [vf.closed_bar(st, i, vwaps) for i in range(len(BARS))]
    # each bar alone: the edges see 0 beyond them
    assert {(x["price"], x["side"]) for x in one[0]["imbalances"]} >= {(25.0, "bid")}
    assert (25.25, "ask") in {(x["price"], x["side"]) for x in one[1]["imbalances"]}
    assert any(x["stacked"] for x in one[1]["imbalances"])
    assert one[1]["vwap"]["bands"][0] == {"k": 1.0, "upper": 100.25, "lower": 100.0}
    assert one[2]["vwap"]["vwap"] is None and one[2]["vwap"]["bands"][2]["upper"] is None
    assert one[0]["vwap"] is None
    for lo in range(len(BARS)):
        for hi in range(lo, len(BARS) + 1):
            got = vf.closed_bars(st, lo, hi, vwaps)
            assert got == one[lo:hi]
            assert msgspec.msgpack.encode(got) == msgspec.msgpack.encode(one[lo:hi])


def test_bars_whose_cells_are_not_one_after_another_are_built_one_at_a_time() -> None:
    st = _state(_Series(BARS, gap=2))
    assert vf.closed_bars(st, 0, 4) == [vf.closed_bar(st, i) for i in range(4)]
    assert vf.closed_bars(st, 2, 2) == []


def test_esh4_closed_bars_in_chunks_equal_the_bars_one_at_a_time() -> None:
    from tests.unit.server.test_view_binary import fed_hub

    st = fed_hub().find("ESH4")
    assert st is not None
    vwaps = fed_hub().view.read("ESH4").bar_vwaps
    n = len(st.pipeline.bars.series[0])
    one = [vf.closed_bar(st, i, vwaps) for i in range(n)]
    assert n > 50 and sum(len(b["imbalances"]) for b in one) > 100
    for size in (2, 8, n):
        got = [b for a in range(0, n, size) for b in vf.closed_bars(st, a, min(n, a + size), vwaps)]
        assert msgspec.msgpack.encode(got) == msgspec.msgpack.encode(one)
