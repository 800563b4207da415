"""L2 detectors on hand-built groups of prints and top-3 levels: fire on the pattern, else quiet."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.model.dtypes import NO_PRICE
from orderflow.signals.detectors_l2 import L2Detector, L2Params

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
