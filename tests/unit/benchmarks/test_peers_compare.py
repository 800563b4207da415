"""The helper that says whether a peer's book did the same work as ours: top 10 per side at
every event boundary, empty levels equal whatever each side writes for them, and the first
difference found and reported (benchmarks/peers/compare.py, used by bench_peers)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.conftest import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from peers.compare import CompareError, compare_tops, normalise  # type: ignore[import-not-found]

NO_PRICE = np.iinfo(np.int64).max


def _top(n: int, depth: int = 10, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    best = 19_240
    top = {
        "bid_price": np.tile(best - np.arange(depth), (n, 1)),
        "ask_price": np.tile(best + 1 + np.arange(depth), (n, 1)),
        "bid_size": rng.integers(1, 90, (n, depth)),
        "ask_size": rng.integers(1, 90, (n, depth)),
        "bid_count": rng.integers(1, 9, (n, depth)),
        "ask_count": rng.integers(1, 9, (n, depth)),
        "ts_recv": 1_703_541_600_180_087_113 + np.arange(n) * 1000,
    }
    return {k: v.astype(np.int64) for k, v in top.items()}


def test_identical_tops_are_equal_at_every_boundary() -> None:
    a = _top(50)
    c = compare_tops(a, {k: v.copy() for k, v in a.items()})
    assert (c.boundaries, c.equal, c.first_mismatch, c.all_equal) == (50, 50, -1, True)
    assert c.fields == ("bid_price", "bid_size", "bid_count", "ask_price", "ask_size",
                        "ask_count", "ts_recv")  # fmt: skip


def test_empty_levels_compare_equal_whatever_sentinel_each_side_writes() -> None:
    ours, theirs = _top(3), _top(3)
    # the book has only 7 bid levels at boundary 1: ours writes NO_PRICE, the peer leaves 0
    ours["bid_size"][1, 7:] = 0
    ours["bid_price"][1, 7:] = NO_PRICE
    ours["bid_count"][1, 7:] = 0
    theirs["bid_size"][1, 7:] = 0
    theirs["bid_price"][1, 7:] = 0
    theirs["bid_count"][1, 7:] = 5  # a count on an empty level is not information
    c = compare_tops(ours, theirs)
    assert c.equal == 3 and c.all_equal
    assert normalise(ours, 10)["bid_price"][1].tolist() == [19_240 - i for i in range(7)] + [0] * 3


def test_one_size_off_at_one_level_is_found_and_reported() -> None:
    ours, theirs = _top(40), _top(40)
    theirs["ask_size"][17, 9] += 1  # the tenth ask level only
    theirs["bid_count"][30, 0] -= 1
    c = compare_tops(ours, theirs)
    assert (c.boundaries, c.equal, c.first_mismatch, c.all_equal) == (40, 38, 17, False)
    assert c.detail["unequal_by_field"]["ask_size"] == 1
    assert c.detail["unequal_by_field"]["bid_count"] == 1
    first = c.detail["first"]["ask_size"]
    assert first[0][9] + 1 == first[1][9]


def test_a_level_beyond_the_compared_depth_does_not_count() -> None:
    ours, theirs = _top(5, depth=12), _top(5, depth=12)
    theirs["bid_size"][2, 11] = 999
    assert compare_tops(ours, theirs, depth=10).all_equal
    assert compare_tops(ours, theirs, depth=12).equal == 4


def test_a_shifted_boundary_stream_is_caught_by_the_receive_times() -> None:
    ours = _top(20)
    theirs = {k: v.copy() for k, v in ours.items()}
    theirs["ts_recv"] = np.roll(theirs["ts_recv"], 1)  # same books, boundaries paired wrongly
    c = compare_tops(ours, theirs)
    assert c.equal == 0 and c.detail["unequal_by_field"]["ts_recv"] == 20


def test_fewer_boundaries_on_one_side_count_as_unequal() -> None:
    ours = _top(10)
    theirs = {k: v[:8] for k, v in ours.items()}
    c = compare_tops(ours, theirs)
    assert (c.boundaries, c.equal, c.first_mismatch, c.all_equal) == (10, 8, 8, False)
    assert (c.detail["ours_boundaries"], c.detail["theirs_boundaries"]) == (10, 8)


def test_a_side_without_counts_is_compared_on_price_and_size() -> None:
    ours, theirs = _top(4), _top(4)
    for k in ("bid_count", "ask_count", "ts_recv"):
        del theirs[k]
    c = compare_tops(ours, theirs)
    assert c.all_equal and c.fields == ("bid_price", "bid_size", "ask_price", "ask_size")


def test_negative_sizes_are_refused() -> None:
    ours, theirs = _top(2), _top(2)
    theirs["ask_size"][0, 0] = -3
    with pytest.raises(CompareError, match="negative ask size"):
        compare_tops(ours, theirs)


def test_rounds_merge_to_the_median_of_each_figure() -> None:
    from bench_peers import merge_rounds  # type: ignore[import-not-found]
    from harness import Result  # type: ignore[import-not-found]

    def rows(book: float, p50: float, pipe: float) -> list[Result]:
        a = Result("peers", "peers", "ours", "book", book, p50_ns=p50, p99_ns=2 * p50)
        a.peak_bytes = 100
        return [a, Result("peers", "peers", "nautilus", "their book", pipe)]

    merged = merge_rounds([rows(9e6, 800, 4e6), rows(12e6, 700, 3e6), rows(10e6, 900, 5e6)])
    assert [r.name for r in merged] == ["book", "their book"]
    assert merged[0].events_per_s == 10e6 and merged[0].p50_ns == 800 and merged[0].p99_ns == 1600
    assert merged[0].peak_bytes == 100 and merged[1].p50_ns is None
    assert merged[1].events_per_s == 4e6
    assert merged[1].extra["rounds_events_per_s"] == [4e6, 3e6, 5e6]
    with pytest.raises(LookupError):
        merge_rounds([rows(1, 1, 1), rows(1, 1, 1)[:1]])
