"""The pulling/stacking detector on scripted groups of prints and top-3 levels (it fires at the
exact group, and not one contract below its threshold), and its numba kernel against the
plain-Python reference (tests/reference/detectors_pull.py) on random level streams and on the
real ESH4 hour, live (one group a call) and batch."""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.book.common import DepthRecord
from orderflow.book.l3 import OrderBook
from orderflow.core.errors import ParameterError
from orderflow.io.dbn import read_mbo
from orderflow.signals.detectors_l2 import mbo_trades
from orderflow.signals.detectors_pull import PullDetector, PullParams, detect_pull
from orderflow.signals.model import Signal
from tests.conftest import ES_MBO, need
from tests.reference.detectors_pull import ReferencePull
from tests.unit.signals.test_detectors_l2 import SELL, batch_inputs, lv, stream

S = 1_000_000_000
T0 = 1_703_500_000 * S
ASKS = [(101, 30), (102, 30), (103, 30)]


def feed(det: PullDetector, script: list[tuple[int, list[tuple[int, int, int]], tuple]]) -> list:
    """(group index, signal) of every signal the script's groups fire."""
    out = []
    for i, (ts, prints, levels) in enumerate(script):
        tp, tz, td = (list(c) for c in zip(*prints, strict=True)) if prints else ([], [], [])
        out += [(i, s) for s in det.on_group(ts, tp, tz, td, *levels)]
    return out


def pulled_script(second_pull: int) -> list:
    """Bids 100 x 60, 99 x 50, 98 x 40; group 1 pulls all 60 at 100 without a print; group 2
    takes ``second_pull`` off 99 (the touch is then 99); group 3 is quiet."""
    return [
        (T0, [], lv([(100, 60), (99, 50), (98, 40)], ASKS)),
        (T0 + S // 10, [], lv([(99, 50), (98, 40), (97, 40)], ASKS)),
        (T0 + S // 5, [], lv([(99, 50 - second_pull), (98, 40), (97, 40)], ASKS)),
        (T0 + S // 2, [], lv([(99, 50 - second_pull), (98, 40), (97, 40)], ASKS)),
    ]


def test_bids_pulled_near_the_touch_fire_a_short_signal_at_the_group_that_reaches_the_size():
    fired = feed(PullDetector("ESH4", PullParams(min_size=100)), pulled_script(40))
    assert len(fired) == 1
    i, sig = fired[0]
    assert i == 2 and sig.detector == "pulling" and sig.direction == -1
    assert sig.price == 99  # the touch before the firing group
    assert sig.score == 0.5 and sig.ts_event == T0 + S // 5
    ev = sig.evidence
    assert (ev["side"], ev["size"], ev["groups"], ev["low"], ev["high"]) == ("bid", 100, 2, 99, 100)
    assert ev["first_ts"] == T0 + S // 10


def test_one_contract_short_of_the_size_is_quiet():
    assert feed(PullDetector("ESH4", PullParams(min_size=100)), pulled_script(39)) == []


def test_the_window_ends_an_episode():
    script = pulled_script(40)
    script[2] = (T0 + S // 10 + 2 * S + 1, *script[2][1:])  # 1 ns past the 2 s window
    script[3] = (T0 + 4 * S, *script[3][1:])
    assert feed(PullDetector("ESH4", PullParams(min_size=100)), script) == []
    script[2] = (T0 + S // 10 + 2 * S, *script[2][1:])  # exactly at its edge: still in
    assert [i for i, _ in feed(PullDetector("ESH4", PullParams(min_size=100)), script)] == [2]


def test_size_that_traded_away_is_not_pulled():
    """The same shrinking bid, but sellers hit it for what left: nothing was pulled."""
    script = pulled_script(40)
    script[1] = (script[1][0], [(100, 60, SELL)], script[1][2])
    script[2] = (script[2][0], [(99, 40, SELL)], script[2][2])
    assert feed(PullDetector("ESH4", PullParams(min_size=100)), script) == []


def test_size_pulled_beyond_the_zone_does_not_count():
    """98 is two ticks behind the touch 100: outside a zone of near_ticks 1."""
    script = [
        (T0, [], lv([(100, 60), (99, 50), (98, 400)], ASKS)),
        (T0 + 1, [], lv([(100, 60), (99, 50), (97, 40)], ASKS)),
    ]
    assert feed(PullDetector("ESH4", PullParams(min_size=100, near_ticks=1)), script) == []
    fired = feed(PullDetector("ESH4", PullParams(min_size=100, near_ticks=2)), script)
    assert [(i, s.evidence["size"], s.evidence["low"]) for i, s in fired] == [(1, 400, 98)]


def test_asks_stacked_fire_a_short_stacking_signal():
    script = [
        (T0, [], lv([(100, 10)], [(101, 10), (102, 10)])),
        (T0 + 1, [], lv([(100, 10)], [(101, 60), (102, 60)])),
    ]
    fired = feed(PullDetector("ESH4", PullParams(min_size=100)), script)
    assert [(i, s.detector, s.direction, s.price, s.evidence["size"]) for i, s in fired] == [
        (1, "stacking", -1, 101, 100)]  # fmt: skip
    script[1] = (T0 + 1, [], lv([(100, 10)], [(101, 60), (102, 59)]))
    assert feed(PullDetector("ESH4", PullParams(min_size=100)), script) == []


def test_settings_are_bounded():
    for bad in ({"near_ticks": -1}, {"window_ns": 0}, {"min_size": 0}, {"enabled": "yes"},
                {"min_size": 2.5}, {"accumulate": 1}):  # fmt: skip
        with pytest.raises(ParameterError):
            PullParams(**bad)  # type: ignore[arg-type]


# ---- against the reference -----------------------------------------------------------------
def same(new: list[Signal], old: list[Signal]) -> None:
    assert msgspec.json.encode(new) == msgspec.json.encode(old)


def run_both(groups: list, params: PullParams) -> tuple[list[Signal], list[Signal], list[Signal]]:
    det, ref = PullDetector("X", params), ReferencePull("X", params)
    live, want = [], []
    for ts, tp, tz, td, *levels in groups:
        live += det.on_group(ts, tp, tz, td, *levels)
        want += ref.on_group(ts, tp, tz, td, *levels)
    depth, trades, group = batch_inputs(groups)
    batch = detect_pull(depth, trades, "X", params, trade_group=group)
    return live, want, batch


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    groups=st.integers(1, 300),
    width=st.integers(1, 5),
    params=st.builds(
        PullParams,
        near_ticks=st.integers(0, 6),
        window_ns=st.integers(1, 40).map(lambda x: x * S // 4),
        min_size=st.integers(1, 80),
    ),
)
def test_random_streams_match_the_reference_live_and_batch(
    seed: int, groups: int, width: int, params: PullParams
) -> None:
    live, want, batch = run_both(stream(seed, groups, width), params)
    same(live, want)
    same(batch, want)


def test_random_streams_fire_both_kinds_on_both_sides_and_grow_the_buffers():
    live, want, batch = run_both(stream(7, 3_000, 5), PullParams(min_size=300, window_ns=60 * S))
    same(live, want)
    same(batch, want)
    kinds = {(s.detector, s.evidence["side"]) for s in want}
    assert kinds == {(k, sd) for k in ("pulling", "stacking") for sd in ("bid", "ask")}
    assert max(s.evidence["groups"] for s in want) > 16  # past the ring's first capacity
    assert len(want) > 16  # past the first output buffer


# ---- the real ESH4 hour ---------------------------------------------------------------------
@cache
def es_inputs() -> tuple[DepthRecord, np.ndarray, np.ndarray, Any]:
    events, es = read_mbo(need(ES_MBO))
    depth = OrderBook(es).apply_mbo(events, record_depth=10).depth
    assert depth is not None
    trades, group = mbo_trades(events)
    return depth, trades, group, es


@pytest.mark.slow
def test_esh4_batch_and_live_match_the_reference() -> None:
    depth, trades, group, es = es_inputs()
    batch = detect_pull(depth, trades, es, trade_group=group)
    ref = ReferencePull("ESH4")
    det = PullDetector("ESH4")
    tp, tz, td = (trades[k].tolist() for k in ("price", "size", "side"))
    cuts = np.searchsorted(group, np.arange(len(depth) + 1)).tolist()
    ts = depth.ts_event.tolist()
    want: list[Signal] = []
    live: list[Signal] = []
    for g in range(len(depth)):
        a, b = cuts[g], cuts[g + 1]
        levels = (depth.bid_price[g], depth.bid_size[g], depth.ask_price[g], depth.ask_size[g])
        want += ref.on_group(ts[g], tp[a:b], tz[a:b], td[a:b], *levels)
        live += det.on_group(ts[g], tp[a:b], tz[a:b], td[a:b], *levels)
    same(batch, want)
    same(live, want)
    counts = {k: sum(s.detector == k for s in want) for k in ("pulling", "stacking")}
    assert counts == COUNTS_ESH4


COUNTS_ESH4 = {"pulling": 37, "stacking": 67}
