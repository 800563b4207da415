"""L2 detectors on hand-built groups of prints and top-3 levels: fire on the pattern, else quiet.

The numba port against the plain-Python reference (tests/reference/detectors_l2.py): the same
signals, byte for byte in JSON, on every hand-built scenario here, on random level streams with
prints, and on the real ESH4 hour; and the live path (one group a call) against the batch.
"""

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
from orderflow.io.dbn import read_mbo
from orderflow.model.dtypes import NO_PRICE, TRADE_DTYPE
from orderflow.signals import _l2_detect_kernels as K
from orderflow.signals import detectors_l2 as d2
from orderflow.signals.detectors_l2 import L2Detector, L2Params, detect_l2, mbo_trades
from orderflow.signals.model import Signal
from tests.conftest import ES_MBO, need
from tests.reference import detectors_l2 as ref

BUY, SELL = 0, 1  # aggressor: BID = buyer lifted the offer, ASK = seller hit the bid
S = 1_000_000_000


def lv(bids: list[tuple[int, int]], asks: list[tuple[int, int]], n: int = 3) -> tuple:
    """(bid_price, bid_size, ask_price, ask_size) arrays of n levels, best first."""
    out = []
    for rows in (bids, asks):
        px = np.full(n, NO_PRICE, dtype=np.int64)
        sz = np.zeros(n, dtype=np.int64)
        for i, (p, s) in enumerate(rows):
            px[i], sz[i] = p, s
        out += [px, sz]
    return tuple(out)


def step(
    det: L2Detector,
    ts: int,
    prints: list[tuple[int, int, int]],
    levels: tuple,
    only: str | None = None,
) -> list:
    """One group; ``only`` keeps the signals of one detector (the book here never depletes, so
    other detectors may legitimately fire)."""
    px = [p for p, _, _ in prints]
    sz = [s for _, s, _ in prints]
    sd = [d for _, _, d in prints]
    out = det.on_group(ts, px, sz, sd, *levels)
    return out if only is None else [s for s in out if s.detector == only]


BOOK = lv([(100, 20), (99, 30), (98, 30)], [(101, 20), (102, 30), (103, 30)])


def test_sweep_of_three_levels_fires_with_prices_and_sizes() -> None:
    det = L2Detector("ES")
    step(det, 0, [], BOOK)
    after = lv([(100, 20), (99, 30), (98, 30)], [(104, 5), (105, 30), (106, 30)])
    fired = step(det, 1, [(101, 20, BUY), (102, 30, BUY), (103, 30, BUY)], after)
    assert [s.detector for s in fired] == ["sweep"]
    s = fired[0]
    assert (s.direction, s.price, s.score) == (1, 103, pytest.approx(3 / 5))
    ev = s.evidence
    assert ev["prices"] == [101, 102, 103]
    assert ev["sizes"] == [20, 30, 30]
    assert ev["volume"] == 80
    assert ev["touch_moved_ticks"] == 3


def test_two_levels_or_mixed_aggressors_are_no_sweep() -> None:
    det = L2Detector("ES")
    step(det, 0, [], BOOK)
    assert step(det, 1, [(101, 20, BUY), (102, 30, BUY)], BOOK, "sweep") == []
    assert step(det, 2, [(101, 5, BUY), (102, 5, BUY), (100, 5, SELL)], BOOK, "sweep") == []


def test_absorption_fires_when_the_bid_takes_more_than_it_showed_and_holds() -> None:
    det = L2Detector("ES")
    step(det, 0, [], BOOK)
    b1 = lv([(100, 15), (99, 30)], [(101, 20)])
    assert step(det, S, [(100, 30, SELL)], b1) == []
    b2 = lv([(100, 10), (99, 30)], [(101, 20)])
    fired = [s for s in step(det, 2 * S, [(100, 25, SELL)], b2) if s.detector == "absorption"]
    assert len(fired) == 1
    s = fired[0]
    assert (s.direction, s.price) == (1, 100)
    assert s.score == pytest.approx(55 / 100)
    ev = s.evidence
    assert (ev["volume"], ev["prints"], ev["shown_at_start"]) == (55, 2, 20)
    assert ev["duration_ns"] == S


def test_absorption_is_quiet_when_the_level_gives_way() -> None:
    det = L2Detector("ES")
    step(det, 0, [], BOOK)
    step(det, S, [(100, 30, SELL)], lv([(100, 15), (99, 30)], [(101, 20)]))
    fired = step(det, 2 * S, [(100, 25, SELL)], lv([(99, 30)], [(100, 5)]))
    assert [s for s in fired if s.detector == "absorption"] == []


def test_iceberg_l2_estimates_hidden_size_with_a_range() -> None:
    det = L2Detector("ES")
    start = lv([(100, 5), (99, 30)], [(101, 20)])
    step(det, 0, [], start)
    assert step(det, 1, [(100, 5, SELL)], start) == []  # 5 traded, 5 shown again
    fired = step(det, 2, [(100, 5, SELL)], start)
    assert [s.detector for s in fired] == ["iceberg_l2"]
    s = fired[0]
    ev = s.evidence
    assert (ev["traded"], ev["shown_at_start"], ev["refills"]) == (10, 5, 2)
    assert (ev["hidden_estimate"], ev["hidden_low"], ev["hidden_high"]) == (10, 5, 10)
    assert ev["confidence"] == 0.5
    assert s.score == pytest.approx(0.5 * 2 / 6 + 0.5 * 0.5)
    assert s.direction == 1


def test_iceberg_l2_quiet_when_the_level_just_depletes() -> None:
    det = L2Detector("ES")
    step(det, 0, [], lv([(100, 20)], [(101, 20)]))
    assert step(det, 1, [(100, 5, SELL)], lv([(100, 15)], [(101, 20)])) == []
    assert step(det, 2, [(100, 5, SELL)], lv([(100, 10)], [(101, 20)])) == []
    assert step(det, 3, [(100, 5, SELL)], lv([(100, 5)], [(101, 20)])) == []


EXH = L2Params(
    exhaustion_run_ticks=4,
    exhaustion_min_run_volume=10,
    exhaustion_quiet_ns=10 * S,
    exhaustion_dry_ratio=0.25,
)


def run_up(det: L2Detector) -> None:
    for k, price in enumerate(range(100, 105)):
        step(det, k * S, [(price, 5, BUY)], lv([(price - 1, 10)], [(price + 1, 10)]))


def test_exhaustion_after_a_run_when_buying_dries_up() -> None:
    det = L2Detector("ES", EXH)
    run_up(det)
    assert step(det, 13 * S, [], lv([(103, 10)], [(105, 10)])) == []  # quiet 9 s only
    fired = step(det, 14 * S + 500, [], lv([(103, 10)], [(105, 10)]))
    assert [s.detector for s in fired] == ["exhaustion"]
    s = fired[0]
    assert (s.direction, s.price, s.score) == (-1, 104, pytest.approx(0.5))
    ev = s.evidence
    assert (ev["run"], ev["start_price"], ev["run_ticks"], ev["run_volume"]) == ("up", 100, 4, 25)
    assert ev["volume_since_extreme"] == 0
    assert ev["quiet_ns"] == 10 * S + 500
    assert step(det, 20 * S, [], lv([(103, 10)], [(105, 10)])) == []  # once per extreme


def test_no_exhaustion_while_buyers_keep_lifting_at_the_high() -> None:
    det = L2Detector("ES", EXH)
    run_up(det)
    fired = []
    for t in range(5, 16):
        fired += step(det, t * S, [(104, 10, BUY)], lv([(103, 10)], [(104, 10)]), "exhaustion")
    assert fired == []


# ---- the numba port against the reference ---------------------------------------------------
def same(new: list[Signal], old: list[Signal]) -> None:
    """Equal signals, in order; the JSON bytes also pin evidence key order and value types."""
    assert new == old
    assert msgspec.json.encode(new) == msgspec.json.encode(old)


class Twin:
    """The new detector and the reference fed the same groups; every step must agree."""

    def __init__(self, params: L2Params | None = None) -> None:
        self.new = L2Detector("ES", params)
        self.old = ref.L2Detector("ES", params)  # type: ignore[arg-type]
        self.signals: list[Signal] = []

    def __call__(self, ts: int, prints: list[tuple[int, int, int]], levels: tuple) -> list:
        px = [p for p, _, _ in prints]
        sz = [s for _, s, _ in prints]
        sd = [d for _, _, d in prints]
        new = self.new.on_group(ts, px, sz, sd, *levels)
        same(new, self.old.on_group(ts, px, sz, sd, *levels))
        self.signals += new
        return new


def test_every_hand_built_scenario_matches_the_reference() -> None:
    """The scenarios above, replayed on both implementations group by group."""
    for params in (None, EXH):
        t = Twin(params)
        t(0, [], BOOK)
        t(1, [(101, 20, BUY), (102, 30, BUY), (103, 30, BUY)], lv(*[[(100, 20)], [(104, 5)]]))
        t(S, [(100, 30, SELL)], lv([(100, 15), (99, 30)], [(101, 20)]))
        t(2 * S, [(100, 25, SELL)], lv([(100, 10), (99, 30)], [(101, 20)]))
        t(3 * S, [(100, 25, SELL)], lv([(99, 30)], [(100, 5)]))
        start = lv([(100, 5), (99, 30)], [(101, 20)])
        for k in range(4, 8):
            t(k * S, [(100, 5, SELL)], start)
        for k, price in enumerate(range(100, 105)):
            t((10 + k) * S, [(price, 5, BUY)], lv([(price - 1, 10)], [(price + 1, 10)]))
        for k in (23, 24, 30):
            t(k * S + 500, [], lv([(103, 10)], [(105, 10)]))
        assert {s.detector for s in t.signals} >= {"sweep", "iceberg_l2", "absorption"}


Group = tuple[int, list[int], list[int], list[int], np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def stream(seed: int, groups: int, width: int, ragged: bool = False) -> list[Group]:
    """A random walk of the touch with top-``width`` levels and prints around it: hits at or
    through the bid, lifts at or through the ask, unknown aggressors, bursts over many prices,
    time steps of 0 (same-time groups) to 20 s, sides that empty or show fewer levels. With
    ``ragged`` each side has its own number of levels (0..width) and sometimes a size more
    than prices, as a live feed may send."""
    rng = np.random.default_rng(seed)
    out: list[Group] = []
    ts, bid = 1_703_500_000 * S, 4_000
    for _ in range(groups):
        ts += int(rng.choice([0, 0, 1, 2, 5, 10, 200])) * S // 10
        bid += int(rng.choice([-2, -1, 0, 0, 0, 0, 1, 2]))
        ask = bid + 1 + int(rng.random() < 0.2)
        prints: list[tuple[int, int, int]] = []
        k = int(rng.choice([0, 0, 0, 1, 1, 2, 3, 5]))
        if rng.random() < 0.03:  # a burst through many levels
            k = int(rng.integers(10, 45))
        for _ in range(k):
            side = int(rng.choice([BUY, SELL, 2], p=[0.45, 0.45, 0.1]))
            if side == BUY:
                px = ask + int(rng.integers(0, 3 if k < 10 else 40))
            elif side == SELL:
                px = bid - int(rng.integers(0, 3 if k < 10 else 40))
            else:
                px = int(rng.integers(bid - 1, ask + 2))
            prints.append((px, int(rng.integers(1, 15)), side))
        levels = []
        for sign, touch in ((-1, bid), (1, ask)):
            n = int(rng.integers(0, width + 1)) if ragged else width
            px = np.array([touch + sign * i for i in range(n)], dtype=np.int64)
            sz = rng.integers(1, 25, n).astype(np.int64)
            shown = n if rng.random() > 0.1 else int(rng.integers(0, n + 1))  # emptied levels
            px[shown:], sz[shown:] = NO_PRICE, 0
            if ragged and rng.random() < 0.2:  # more sizes than prices
                sz = np.append(sz, 7)
            levels += [px, sz]
        out.append(
            (ts, *zip(*prints, strict=True), *levels) if prints else (ts, [], [], [], *levels)
        )  # type: ignore[arg-type]
    return out


def batch_inputs(groups: list[Group]) -> tuple[DepthRecord, np.ndarray, np.ndarray]:
    """The groups as a DepthRecord, a TRADE_DTYPE array and each print's group."""
    ts = np.array([g[0] for g in groups], dtype=np.int64)
    lv_ = [np.array([g[4 + k] for g in groups], dtype=np.int64) for k in range(4)]
    rows = [
        (g[0], p, z, d, i) for i, g in enumerate(groups) for p, z, d in zip(*g[1:4], strict=True)
    ]
    trades = np.zeros(len(rows), dtype=TRADE_DTYPE)
    for k, name in enumerate(("ts_event", "price", "size", "side")):
        trades[name] = [r[k] for r in rows]
    group = np.array([r[4] for r in rows], dtype=np.int64)
    cnt = np.zeros_like(lv_[0])
    return (
        DepthRecord(np.arange(len(groups)), ts, lv_[0], lv_[1], cnt, lv_[2], lv_[3], cnt),
        trades,
        group,
    )


PARAMS = st.builds(
    L2Params,
    absorption_min_volume=st.integers(1, 40),
    absorption_min_ratio=st.sampled_from([0.0, 0.5, 1.0, 1.7]),
    absorption_window_ns=st.integers(1, 40).map(lambda x: x * S // 2),
    sweep_min_levels=st.integers(1, 5),
    sweep_window_ns=st.sampled_from([0, S // 2, 3 * S]),
    sweep_score_levels=st.integers(1, 6),
    exhaustion_run_ticks=st.integers(1, 6),
    exhaustion_run_window_ns=st.integers(1, 60).map(lambda x: x * S),
    exhaustion_min_run_volume=st.integers(0, 40),
    exhaustion_quiet_ns=st.integers(1, 20).map(lambda x: x * S // 2),
    exhaustion_dry_ratio=st.sampled_from([0.0, 0.1, 0.25, 0.7, 3.0]),
    iceberg_min_refills=st.integers(1, 4),
    iceberg_min_hidden=st.integers(1, 30),
    iceberg_score_refills=st.integers(1, 6),
)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    groups=st.integers(1, 300),
    width=st.integers(1, 5),
    params=PARAMS,
)
def test_random_streams_match_the_reference_live_and_batch(
    seed: int, groups: int, width: int, params: L2Params
) -> None:
    data = stream(seed, groups, width)
    old = ref.L2Detector("ES", params)  # type: ignore[arg-type]
    live = L2Detector("ES", params)
    expected: list[Signal] = []
    for g in data:
        got = live.on_group(*g)
        want = old.on_group(*g)
        same(got, want)
        expected += want
    depth, trades, group = batch_inputs(data)
    same(detect_l2(depth, trades, "ES", params, trade_group=group), expected)
    # grouped by time instead: same-time groups put their prints in the first one
    same(
        detect_l2(depth, trades, "ES", params),
        ref.detect_l2(depth, trades, "ES", params),  # type: ignore[arg-type]
    )


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), groups=st.integers(1, 200), params=PARAMS)
def test_ragged_level_arrays_match_the_reference(seed: int, groups: int, params: L2Params) -> None:
    """Arrays of any lengths (0 included) per group and per side: the kernel pads them."""
    old = ref.L2Detector("ES", params)  # type: ignore[arg-type]
    new = L2Detector("ES", params)
    for g in stream(seed, groups, 5, ragged=True):
        same(new.on_group(*g), old.on_group(*g))


def test_random_streams_fire_every_detector_and_grow_every_buffer() -> None:
    """The random streams above are not vacuous: over a few seeds every detector fires, and
    the state outgrows every initial capacity (so the grow-and-resume path is compared too)."""
    params = L2Params(
        absorption_min_volume=10, sweep_min_levels=3, exhaustion_run_ticks=3,
        exhaustion_min_run_volume=5, exhaustion_quiet_ns=2 * S, iceberg_min_hidden=5,
        absorption_window_ns=600 * S, exhaustion_run_window_ns=600 * S, sweep_window_ns=60 * S,
    )  # fmt: skip
    kinds: set[str] = set()
    for seed in range(4):
        data = stream(seed, 1500, 4)
        depth, trades, group = batch_inputs(data)
        det = L2Detector("ES", params)
        start = (det._ep.shape[1], len(det._pool), det._sw.shape[1], det._win.shape[1])
        got = det.on_groups(
            depth.ts_event, depth.bid_price, depth.bid_size, depth.ask_price, depth.ask_size,
            trades["price"], trades["size"], trades["side"],
            np.searchsorted(group, np.arange(len(depth) + 1)),
        )  # fmt: skip
        same(got, ref.detect_l2(depth, trades, "ES", params, trade_group=group))  # type: ignore[arg-type]
        kinds |= {s.detector for s in got}
        end = (det._ep.shape[1], len(det._pool), det._sw.shape[1], det._win.shape[1])
        assert all(b > a for a, b in zip(start, end, strict=True)), (start, end)
        assert len(det._out) > 16  # more signals than the first output buffer holds
    assert kinds == {"absorption", "exhaustion", "iceberg_l2", "sweep"}


def test_on_group_copies_the_levels_so_a_feed_may_reuse_its_buffers() -> None:
    data = stream(7, 400, 3)
    fresh, reused = L2Detector("ES"), L2Detector("ES")
    buf = [np.zeros(3, dtype=np.int64) for _ in range(4)]
    a: list[Signal] = []
    b: list[Signal] = []
    for g in data:
        a += fresh.on_group(*g)
        for k in range(4):
            buf[k][:] = g[4 + k]
        b += reused.on_group(*g[:4], *buf)
    assert a == b and a


def test_mismatched_print_columns_and_offsets_out_of_range_are_refused() -> None:
    det = L2Detector("ES")
    with pytest.raises(ValueError):
        det.on_group(0, [100, 101], [1], [BUY, BUY], *BOOK)
    ts, rows = np.zeros(2, np.int64), [np.stack([a, a]) for a in BOOK]
    px, one = np.array([100]), np.array([1])
    for off in ([0, 1], [0, 1, 2], [-1, 0, 1]):  # too short, past the prints, negative
        with pytest.raises(ValueError):
            det.on_groups(ts, *rows, px, one, one, np.array(off))
    assert det.on_groups(ts, *rows, px, one, one, np.array([0, 0, 1])) == []


# ---- the real ESH4 hour ---------------------------------------------------------------------
@cache
def es_inputs() -> tuple[DepthRecord, np.ndarray, np.ndarray, Any]:
    events, es = read_mbo(need(ES_MBO))
    depth = OrderBook(es).apply_mbo(events, record_depth=10).depth
    assert depth is not None
    trades, group = mbo_trades(events)
    return depth, trades, group, es


@pytest.mark.slow
def test_esh4_matches_the_reference() -> None:
    depth, trades, group, es = es_inputs()
    new = detect_l2(depth, trades, es, trade_group=group)
    same(new, ref.detect_l2(depth, trades, es, trade_group=group))
    assert len(new) == 63


@pytest.mark.slow
def test_esh4_live_group_by_group_matches_the_batch() -> None:
    depth, trades, group, es = es_inputs()
    det = L2Detector(es.contract or es.symbol)
    tp, tz, td = (trades[k].tolist() for k in ("price", "size", "side"))
    cuts = np.searchsorted(group, np.arange(len(depth) + 1)).tolist()
    ts = depth.ts_event.tolist()
    live: list[Signal] = []
    for g in range(len(depth)):
        a, b = cuts[g], cuts[g + 1]
        live += det.on_group(
            ts[g], tp[a:b], tz[a:b], td[a:b],
            depth.bid_price[g], depth.bid_size[g], depth.ask_price[g], depth.ask_size[g],
        )  # fmt: skip
    same(live, detect_l2(depth, trades, es, trade_group=group))


def test_prev_rows_after_every_return_are_the_last_group_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inside a call the kernel keeps only the best level of the previous group in ``prev``
    and writes the whole rows once: after a finished call and after every ``NEED_*`` return
    (the state grown between the two), ``prev`` holds every level of the last group the call
    took (``NO_PRICE``/0 past them), or what it held before when the call took none."""
    checked = {"need": 0, "done": 0, "none": 0}

    def run(ts: np.ndarray, bp: np.ndarray, bs: np.ndarray, ap: np.ndarray, asz: np.ndarray,
            w: int, *rest: Any) -> int:  # fmt: skip
        st, prev = rest[5], rest[6]
        start, before = int(st[K.S_POS]), prev.copy()
        rc = K.run(ts, bp, bs, ap, asz, w, *rest)
        end = int(st[K.S_POS]) if rc < 0 else len(ts)
        if end == start:
            checked["none"] += 1
            assert (prev == before).all()
        else:
            checked["need" if rc < 0 else "done"] += 1
            g = end - 1
            want = np.zeros_like(prev)
            want[0::2] = NO_PRICE
            for row, a in enumerate((bp, bs, ap, asz)):
                want[row, :w] = a[g * w : (g + 1) * w]
            assert (prev == want).all(), (g, prev, want)
        return rc

    monkeypatch.setattr(d2, "_run", run)
    params = L2Params(absorption_min_volume=10, sweep_min_levels=3, iceberg_min_hidden=5,
                      absorption_window_ns=600 * S, sweep_window_ns=60 * S)  # fmt: skip
    data = stream(0, 1500, 4)
    depth, trades, group = batch_inputs(data)
    got = detect_l2(depth, trades, "ES", params, trade_group=group)
    same(got, ref.detect_l2(depth, trades, "ES", params, trade_group=group))  # type: ignore[arg-type]
    live = L2Detector("ES", params)
    for g in data[:200]:
        live.on_group(*g)
    assert checked["need"] >= 3 and checked["done"] >= 200 and checked["none"] >= 1, checked
