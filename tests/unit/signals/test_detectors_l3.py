"""L3 detectors on hand-built MBO groups: each must fire on its pattern and stay quiet nearby.

Then the numba kernels against the plain-Python reference (``tests.reference.detectors_l3``):
the same signals, to the last evidence value, and the same reads, on synthetic streams (from
state parts of size one, so every growth path runs) and on the real ESH4 hour."""

from __future__ import annotations

import random
from dataclasses import asdict
from functools import cache
from typing import Any
from unittest.mock import patch

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.io.dbn import read_mbo
from orderflow.model.dtypes import MBO_DTYPE, NO_PRICE
from orderflow.model.enums import Action, Flags
from orderflow.signals import detectors_l3
from orderflow.signals.detectors_l3 import (
    L3Detector,
    L3Params,
    best_before_groups,
    detect_l3,
    event_groups,
)
from orderflow.signals.model import Signal
from tests.conftest import ES_MBO, need
from tests.reference import detectors_l3 as ref

A, C, M, T, F = Action.ADD, Action.CANCEL, Action.MODIFY, Action.TRADE, Action.FILL
BID, ASK = 0, 1
S = 1_000_000_000


def group(*rows: tuple[int, int, int, int, int, int]) -> np.ndarray:
    """Records (ts, order_id, price, size, action, side); the last one is flagged LAST."""
    out = np.zeros(len(rows), dtype=MBO_DTYPE)
    for i, (ts, oid, px, sz, act, sd) in enumerate(rows):
        out[i]["ts_event"] = ts
        out[i]["order_id"] = oid
        out[i]["price"] = px
        out[i]["size"] = sz
        out[i]["action"] = act
        out[i]["side"] = sd
    out["flags"][-1] = Flags.LAST
    return out


def feed(det: L3Detector, *groups: np.ndarray, bid: int = 100, ask: int = 101) -> list:
    out = []
    for g in groups:
        out += det.on_group(g, bid, ask)
    return out


def test_same_order_iceberg_fires_on_second_refill_with_its_evidence() -> None:
    det = L3Detector("ES", L3Params())
    fired = feed(
        det,
        group((1, 7, 100, 5, A, BID)),
        group((2, 0, 100, 5, T, ASK), (2, 7, 100, 5, F, BID), (2, 7, 100, 5, M, BID)),
        group((3, 0, 100, 5, T, ASK), (3, 7, 100, 5, F, BID), (3, 7, 100, 4, M, BID)),
    )
    assert [s.detector for s in fired] == ["iceberg"]
    s = fired[0]
    assert (s.direction, s.price, s.ts_event) == (1, 100, 3)
    assert s.score == pytest.approx(2 / 6)
    ev = s.evidence
    assert ev["refills"] == 2
    assert ev["executed"] == 10
    assert ev["shown_sizes"] == [5, 4]
    assert ev["order_ids"] == [7]
    assert ev["same_order_id"] is True
    assert ev["duration_ns"] == 1


def test_hidden_fill_larger_than_shown_counts_as_executed() -> None:
    det = L3Detector("ES")
    fired = feed(
        det,
        group((1, 7, 101, 3, A, ASK)),
        group((2, 0, 101, 13, T, BID), (2, 7, 101, 13, F, ASK), (2, 7, 101, 2, M, ASK)),
        group((3, 0, 101, 2, T, BID), (3, 7, 101, 2, F, ASK), (3, 7, 101, 3, M, ASK)),
    )
    assert len(fired) == 1
    assert fired[0].direction == -1
    assert fired[0].evidence["executed"] == 15


def test_filled_then_gone_is_no_iceberg() -> None:
    det = L3Detector("ES")
    fired = feed(
        det,
        group((1, 7, 100, 5, A, BID)),
        group((2, 0, 100, 5, T, ASK), (2, 7, 100, 5, F, BID), (2, 7, 100, 5, C, BID)),
        group((3, 8, 100, 5, A, BID)),  # 1 ns after the full fill: one new-id refill
        group((3 + 200_000, 0, 100, 5, T, ASK), (3 + 200_000, 8, 100, 5, F, BID)),
    )
    assert fired == []  # one refill is below iceberg_min_refills, and nothing refilled order 8


def test_new_order_id_refills_fire_and_differing_sizes_do_not() -> None:
    det = L3Detector("ES")
    rows = [group((1, 1, 101, 2, A, ASK))]
    for k in (1, 2):  # order k fills, order k+1 shows the same 2 lots at once
        t = 10 * k
        rows.append(
            group(
                (t, 0, 101, 2, T, BID),
                (t, k, 101, 2, F, ASK),
                (t, k, 101, 2, C, ASK),
                (t + 50, k + 1, 101, 2, A, ASK),
            )
        )
    fired = feed(det, *rows)
    assert len(fired) == 1
    ev = fired[0].evidence
    assert (ev["refills"], ev["executed"], ev["same_order_id"]) == (2, 4, False)
    assert ev["order_ids"] == [1, 2, 3]

    det = L3Detector("ES")
    rows = [group((1, 1, 101, 2, A, ASK))]
    for k in (1, 2):
        t = 10 * k
        rows.append(
            group(
                (t, 0, 101, 2, T, BID),
                (t, k, 101, 2, F, ASK),
                (t, k, 101, 2, C, ASK),
                (t + 50, k + 1, 101, 3, A, ASK),  # a different size: someone else's order
            )
        )
    assert feed(det, *rows) == []


def test_large_lot_added_near_touch_then_cancelled() -> None:
    det = L3Detector("ES")
    fired = feed(
        det,
        group((1, 1, 99, 20, A, BID)),
        group((2, 2, 99, 60, A, BID)),
        group((5 * S, 2, 99, 60, C, BID)),
    )
    added, removed = fired
    assert added.detector == "large_lot_added"
    assert added.direction == 1
    ev = added.evidence
    assert (ev["order_id"], ev["size"], ev["level_size"], ev["ticks_from_touch"]) == (2, 60, 80, 1)
    assert ev["share_of_level"] == 0.75
    assert ev["largest_at_level"] is True
    assert added.score == pytest.approx(60 / 200)
    assert removed.detector == "large_lot_removed"
    assert removed.direction == -1
    assert removed.evidence["how"] == "cancelled"
    assert removed.evidence["lifetime_ns"] == 5 * S - 2
    assert det.largest_order(BID, 99) == (1, 20)


def test_large_lot_far_from_touch_or_small_is_quiet() -> None:
    det = L3Detector("ES")
    fired = feed(
        det,
        group((1, 1, 90, 60, A, BID)),  # 10 ticks behind the 100 bid
        group((2, 2, 100, 49, A, BID)),  # below 50
        group((3, 3, 100, 50, A, BID)),  # 50 of 99 at the level: the only one that fires
    )
    assert [s.evidence["order_id"] for s in fired] == [3]
    det = L3Detector("ES", L3Params(large_lot_min_share=0.6))
    assert feed(det, group((2, 2, 100, 49, A, BID)), group((3, 3, 100, 50, A, BID))) == []


def test_spoof_pull_fires_on_quick_untraded_cancel_near_touch() -> None:
    det = L3Detector("ES")
    fired = feed(
        det,
        group((0, 0, 101, 10, T, BID), (0, 5, 101, 10, F, ASK)),  # 10 traded on the ask side
        group((0, 9, 101, 30, A, ASK)),
        group((S // 2, 9, 101, 30, C, ASK)),
    )
    assert [s.detector for s in fired] == ["spoof_pull"]
    s = fired[0]
    assert s.direction == 1  # a pulled offer: the resistance was not meant
    assert s.score == pytest.approx(0.75 * 0.75)
    ev = s.evidence
    assert (ev["size"], ev["lifetime_ns"], ev["ticks_from_touch"]) == (30, S // 2, 0)
    assert ev["cancelled_in_window"] == 30
    assert ev["traded_in_window"] == 10
    assert ev["cancel_to_trade"] == 3.0
    assert det.cancel_to_trade(ASK) == 3.0
    hist = det.lifetime_histogram()
    assert hist["cancelled"]["<=1s"] == 1


def test_slow_or_traded_cancel_is_not_a_spoof() -> None:
    det = L3Detector("ES")
    fired = feed(
        det,
        group((0, 9, 101, 30, A, ASK)),
        group((3 * S, 9, 101, 30, C, ASK)),  # lived 3 s
        group((4 * S, 8, 101, 30, A, ASK)),
        group(
            (4 * S + 1, 0, 101, 1, T, BID),
            (4 * S + 1, 8, 101, 1, F, ASK),
            (4 * S + 1, 8, 101, 29, M, ASK),
        ),
        group((4 * S + 2, 8, 101, 29, C, ASK)),  # traded before the pull
    )
    assert fired == []


def test_detect_l3_batch_equals_per_group_feed() -> None:
    groups = [
        group((1, 7, 100, 5, A, BID), (1, 8, 101, 5, A, ASK)),
        group((2, 0, 100, 5, T, ASK), (2, 7, 100, 5, F, BID), (2, 7, 100, 5, M, BID)),
        group((3, 0, 100, 5, T, ASK), (3, 7, 100, 5, F, BID), (3, 7, 100, 4, M, BID)),
    ]
    events = np.concatenate(groups)
    batch = detect_l3(events, "ES")
    det = L3Detector("ES")
    by_hand = feed(det, groups[0], bid=None, ask=None) + feed(det, *groups[1:])
    assert batch == by_hand
    assert [s.detector for s in batch] == ["iceberg"]


# ---- the kernels against the plain-Python reference ----------------------------------------
R = Action.CLEAR
LAST, SNAP = int(Flags.LAST), int(Flags.SNAPSHOT)
PRICES = range(96, 106)
# every part of the state starts as small as it can, so the streams below make it grow
TINY = {"orders": 1, "levels": 1, "members": 2, "pending": 2, "ring": 1, "out": 1}


def encoded(signals: list[Signal]) -> list[bytes]:
    """Signals as JSON: equal only when every field and evidence value has the same type too."""
    return [msgspec.json.encode(s) for s in signals]


def both(params: L3Params) -> tuple[L3Detector, ref.L3Detector]:
    return L3Detector("X", params), ref.L3Detector("X", ref.L3Params(**asdict(params)))


def assert_same_reads(new: L3Detector, old: ref.L3Detector) -> None:
    for sd in (BID, ASK):
        assert new.cancel_to_trade(sd) == old.cancel_to_trade(sd)
        for px in PRICES:
            assert new.largest_order(sd, px) == old.largest_order(sd, px), (sd, px)
    assert new.lifetime_histogram() == old.lifetime_histogram()


def assert_matches_reference(
    events: np.ndarray, bid: np.ndarray, ask: np.ndarray, params: L3Params
) -> list[Signal]:
    """Feed group by group to both implementations (same signals and reads after every group),
    then check the batch path gives the same signals; returns them."""
    new, old = both(params)
    fired: list[Signal] = []
    start = 0
    for g, end in enumerate(event_groups(events).tolist()):
        b = None if bid[g] == NO_PRICE else int(bid[g])
        a = None if ask[g] == NO_PRICE else int(ask[g])
        got = new.on_group(events[start:end], b, a)
        assert encoded(got) == encoded(old.on_group(events[start:end], b, a)), g
        assert_same_reads(new, old)
        fired += got
        start = end
    assert encoded(detect_l3(events, "X", params, best=(bid, ask))) == encoded(fired)
    return fired


def random_params(rnd: random.Random) -> L3Params:
    """Thresholds small enough for a few hundred synthetic groups to fire every detector."""
    return L3Params(
        iceberg_min_refills=rnd.choice((1, 2, 3)),
        iceberg_refill_window_ns=rnd.choice((0, 50, 100)),
        iceberg_new_id_same_size=rnd.random() < 0.7,
        iceberg_chain_gap_ns=rnd.choice((60, 150, 400, S)),
        iceberg_score_refills=3,
        large_lot_min_size=rnd.choice((4, 6, 10)),
        large_lot_min_share=rnd.choice((0.2, 0.3, 0.5)),
        near_ticks=rnd.choice((0, 1, 4)),
        spoof_min_size=rnd.choice((2, 3, 5)),
        spoof_max_lifetime_ns=rnd.choice((50, 300)),
        ctr_window_ns=rnd.choice((20, 200, S)),
    )


def to_mbo(rows: list[tuple[int, int, int, int, int, int, int]]) -> np.ndarray:
    """Records from (ts, order_id, price, size, action, side, flags) rows."""
    out = np.zeros(len(rows), dtype=MBO_DTYPE)
    for k, name in enumerate(("ts_event", "order_id", "price", "size", "action", "side", "flags")):
        out[name] = np.array([r[k] for r in rows], dtype=MBO_DTYPE[name])
    out["sequence"] = np.arange(len(rows))
    return out


def synthetic_stream(seed: int, n_groups: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An MBO stream that looks like the real thing on a few prices: adds, fills followed by the
    C or M that shrinks the order (or re-shows it: same-id refills), full fills followed by a new
    id showing the same clip (new-id refills), partial and whole cancels, modifies, fills of
    unknown orders, clears and snapshots, re-used ids, uint64 ids past 2**63, time going back
    now and then; with the best bid/ask before each group (sometimes unknown)."""
    rnd = random.Random(seed)
    live: dict[int, list[int]] = {}  # order id -> [side, price, size] as the stream has it
    dead: list[int] = []
    rows: list[tuple[int, int, int, int, int, int, int]] = []
    bid, ask = [], []
    next_id = 1
    ts = 1_000

    def add(
        t: int,
        flags: int = 0,
        oid: int | None = None,
        side: int | None = None,
        px: int | None = None,
        sz: int | None = None,
    ) -> None:
        nonlocal next_id
        if oid is None:
            r = rnd.random()
            if dead and r < 0.05:
                oid = rnd.choice(dead)
            elif live and r < 0.08:
                oid = rnd.choice(list(live))
            else:
                next_id += 1
                oid = next_id if rnd.random() < 0.9 else (1 << 64) - next_id
        side = rnd.choice((BID, ASK)) if side is None else side
        px = rnd.choice(PRICES[2:-2]) if px is None else px
        sz = rnd.choice((1, 2, 3, 4, 5, 6, 8, 10, 20)) if sz is None else sz
        sz = 0 if rnd.random() < 0.01 else sz
        rows.append((t, oid, px, sz, A, side if rnd.random() > 0.01 else 2, flags))
        if sz > 0:
            live[oid] = [side, px, sz]

    def gone(oid: int) -> None:
        del live[oid]
        dead.append(oid)

    for g in range(n_groups):
        ts += rnd.choice((0, 1, 3, 10, 30, 60, 150, 400))
        if rnd.random() < 0.03:
            ts -= rnd.randint(1, 20)
        elif rnd.random() < 0.03:  # lifetimes on and around the histogram's edges
            ts += rnd.choice((999_999, 1_000_000, 10_000_000, S, 10 * S))
        start = len(rows)
        kind = rnd.random()
        if kind < 0.03:  # a clear, maybe followed by a snapshot (LAST|SNAPSHOT inside the group)
            rows.append((ts, 0, 0, 0, R, 2, SNAP if kind < 0.02 else 0))
            live.clear()
            for _ in range(rnd.randint(1, 6) if kind < 0.02 else 0):
                add(ts, SNAP | (LAST if rnd.random() < 0.3 else 0))
        for _ in range(rnd.randint(1, 4)):
            op = rnd.random()
            t = ts + rnd.choice((0, 0, 1, 2))
            if op < 0.3 or not live:
                add(t)
            elif op < 0.55:  # a fill, then (usually) the book change
                oid = rnd.choice(list(live))
                side, px, sz = live[oid]
                f = rnd.randint(1, sz) if rnd.random() < 0.85 else sz + rnd.randint(1, 5)
                f = 0 if rnd.random() < 0.05 else f
                rows.append((t, 0, px, f, T, 1 - side, 0))
                rows.append((t, oid, px, f, F, side, 0))
                how = rnd.random()
                if f < sz:  # partly filled: the order shrinks by a modify or a cancel
                    shrink = (
                        (t, oid, px, sz - f, M, side, 0)
                        if how < 0.6
                        else (t, oid, px, f, C, side, 0)
                    )
                    rows.append(shrink)
                    live[oid][2] = sz - f
                elif how < 0.45:  # shown again by the same order
                    new = sz if rnd.random() < 0.6 else rnd.randint(1, 12)
                    rows.append((t, oid, px, new, M, side, 0))
                    live[oid][2] = new
                elif how < 0.9:  # filled away; a new id may show the same clip
                    if rnd.random() < 0.5:
                        rows.append((t, oid, px, sz if rnd.random() < 0.9 else 0, C, side, 0))
                    else:
                        rows.append((t, oid, px, 0, M, side, 0))
                    gone(oid)
                    if rnd.random() < 0.7:
                        again = oid if rnd.random() < 0.1 else None
                        clip = sz if rnd.random() < 0.85 else rnd.randint(1, 12)
                        add(t + rnd.choice((0, 10, 40, 100)), oid=again, side=side, px=px, sz=clip)
            elif op < 0.75:  # cancel: size 0 (all), whole, half, more than there is; or unknown
                oid = rnd.choice(list(live)) if rnd.random() < 0.95 else 999_999
                side, px, sz = live.get(oid, [BID, 100, 5])
                c = rnd.choice((0, sz, sz, max(1, sz // 2), sz + 3))
                rows.append((t, oid, px, c, C, side, 0))
                if oid in live:
                    if c == 0 or c >= sz:
                        gone(oid)
                    else:
                        live[oid][2] = sz - c
            elif op < 0.9:  # modify: maybe another price, size down, same, up, or to zero
                oid = rnd.choice(list(live))
                side, px, sz = live[oid]
                npx = px if rnd.random() < 0.6 else rnd.choice(PRICES[2:-2])
                nsz = rnd.choice((0, 1, max(1, sz - 1), sz, sz + 2, 60))
                rows.append((t, oid, npx, nsz, M, side, 0))
                if nsz <= 0:
                    gone(oid)
                else:
                    live[oid] = [side, npx, nsz]
            elif op < 0.95:  # a fill of an order never seen
                unknown = 555_000 + rnd.randint(0, 9)
                rows.append((t, unknown, 100, rnd.randint(1, 9), F, rnd.choice((0, 1, 2)), 0))
            else:
                rows.append((t, 0, 100, rnd.randint(1, 5), T, rnd.choice((0, 1)), 0))
        if len(rows) == start:
            add(ts)
        ts_, oid_, px_, sz_, act_, sd_, fl_ = rows[-1]
        last = 0 if g == n_groups - 1 and rnd.random() < 0.2 else LAST  # a trailing open group
        rows[-1] = (ts_, oid_, px_, sz_, act_, sd_, (fl_ & ~SNAP & ~LAST) | last)
        b = rnd.choice((None, 99, 100, 100, 101, 102))
        bid.append(NO_PRICE if b is None else b)
        ask.append(NO_PRICE if b is None or rnd.random() < 0.05 else b + rnd.choice((1, 1, 2)))
    return to_mbo(rows), np.array(bid, dtype=np.int64), np.array(ask, dtype=np.int64)


@pytest.mark.parametrize("seed", range(40))
def test_synthetic_streams_match_the_reference(seed: int) -> None:
    events, bid, ask = synthetic_stream(seed)
    with patch.dict(detectors_l3._CAPACITY, TINY):
        fired = assert_matches_reference(events, bid, ask, random_params(random.Random(seed)))
    assert fired  # (40 seeds fire every detector many times over; one seed fires something)


def test_synthetic_streams_fire_every_detector() -> None:
    seen: set[str] = set()
    for seed in range(10):
        events, bid, ask = synthetic_stream(seed)
        seen |= {
            s.detector
            for s in detect_l3(events, "X", random_params(random.Random(seed)), (bid, ask))
        }
    assert seen == {"iceberg", "large_lot_added", "large_lot_removed", "spoof_pull"}


RECORD = st.tuples(
    st.integers(-2, 30),  # time step (sometimes back)
    st.sampled_from([1, 2, 3, 4, (1 << 64) - 1]),  # order id
    st.integers(98, 102),  # price
    st.integers(-1, 12),  # size
    st.sampled_from([A, A, A, C, C, M, M, F, F, T, R]),
    st.sampled_from([BID, ASK, BID, ASK, 2]),
    st.sampled_from([0, 0, 0, LAST, LAST, SNAP, SNAP | LAST]),
)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(RECORD, min_size=1, max_size=60),
    best=st.lists(st.sampled_from([None, 99, 100, 101]), min_size=1, max_size=8),
    seed=st.integers(0, 1 << 16),
)
def test_random_records_match_the_reference(records: list, best: list, seed: int) -> None:
    rows, ts = [], 0
    for step, oid, px, sz, act, sd, fl in records:
        ts += step
        rows.append((ts, oid, px, sz, int(act), sd, fl))
    events = to_mbo(rows)
    n = len(event_groups(events))
    bid = np.array([NO_PRICE if b is None else b for b in (best * n)[:n]], dtype=np.int64)
    ask = np.where(bid == NO_PRICE, NO_PRICE, bid + 1)
    with patch.dict(detectors_l3._CAPACITY, TINY):
        assert_matches_reference(events, bid, ask, random_params(random.Random(seed)))


def test_largest_order_ties_go_to_the_earlier_birth_then_the_lower_id() -> None:
    for det in both(L3Params()):
        feed(det, group((5, 9, 99, 7, A, BID), (5, 4, 99, 7, A, BID), (6, 2, 99, 7, A, BID)))
        assert det.largest_order(BID, 99) == (4, 7)
        feed(det, group((7, 4, 99, 7, C, BID)))
        assert det.largest_order(BID, 99) == (9, 7)
        assert det.largest_order(ASK, 99) is None


def test_lifetime_buckets_include_their_upper_edge() -> None:
    lives = (1, 1_000_000, 1_000_001, 10_000_000, S, S + 1, 10 * S, 10 * S + 1)
    for det in both(L3Params()):
        for k, life in enumerate(lives):
            feed(det, group((0, k + 1, 90, 1, A, BID)), group((life, k + 1, 90, 1, C, BID)))
        hist = det.lifetime_histogram()["cancelled"]
        assert list(hist.values()) == [2, 2, 0, 1, 2, 1]


def test_records_as_tuples_or_a_strided_array_give_the_same_signals() -> None:
    events, bid, ask = synthetic_stream(3, 200)
    params = random_params(random.Random(3))
    wide = np.zeros(len(events), dtype=[("mbo", MBO_DTYPE), ("x", "i8")])
    wide["mbo"] = events
    strided = wide["mbo"]
    assert not strided.flags.c_contiguous
    base = detect_l3(events, "X", params, (bid, ask))
    assert encoded(detect_l3(strided, "X", params, (bid, ask))) == encoded(base)
    det = L3Detector("X", params)
    fired, start = [], 0
    for g, end in enumerate(event_groups(events).tolist()):
        b = None if bid[g] == NO_PRICE else int(bid[g])
        a = None if ask[g] == NO_PRICE else int(ask[g])
        fired += det.on_group(events[start:end].tolist(), b, a)
        start = end
    assert encoded(fired) == encoded(base)


def test_best_prices_must_cover_every_group() -> None:
    events = np.concatenate([group((1, 1, 100, 5, A, BID)), group((2, 2, 100, 5, A, BID))])
    with pytest.raises(ValueError, match="event groups"):
        detect_l3(events, "X", best=(np.zeros(1, np.int64), np.zeros(1, np.int64)))


# ---- the real ESH4 hour -----------------------------------------------------------------
@cache
def esh4() -> tuple[np.ndarray, Any, tuple[np.ndarray, np.ndarray]]:
    events, es = read_mbo(need(ES_MBO))
    return events, es, best_before_groups(events, es)


@pytest.mark.slow
def test_esh4_batch_matches_the_reference() -> None:
    events, es, best = esh4()
    fired = detect_l3(events, es, best=best)
    assert encoded(fired) == encoded(ref.detect_l3(events, es, best=best))
    counts = {d: sum(s.detector == d for s in fired) for d in {s.detector for s in fired}}
    assert counts == {
        "iceberg": 99,
        "large_lot_added": 24,
        "large_lot_removed": 22,
        "spoof_pull": 1,
    }


@pytest.mark.slow
def test_esh4_group_by_group_matches_the_batch_and_the_reference_reads() -> None:
    events, _es, (bid, ask) = esh4()
    new, old = both(L3Params())
    fired, start = [], 0
    for g, end in enumerate(event_groups(events).tolist()):
        b = None if bid[g] == NO_PRICE else int(bid[g])
        a = None if ask[g] == NO_PRICE else int(ask[g])
        fired += new.on_group(events[start:end], b, a)
        old.on_group(events[start:end], b, a)
        start = end
    assert encoded(fired) == encoded(detect_l3(events, "X", best=(bid, ask)))
    assert new.lifetime_histogram() == old.lifetime_histogram()
    for sd in (BID, ASK):
        assert new.cancel_to_trade(sd) == old.cancel_to_trade(sd)
        for px in np.unique(events["price"]).tolist():
            assert new.largest_order(sd, px) == old.largest_order(sd, px)
