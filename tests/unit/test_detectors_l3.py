"""L3 detectors on hand-built MBO groups: each must fire on its pattern and stay quiet nearby."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Action, Flags
from orderflow.signals.detectors_l3 import L3Detector, L3Params, detect_l3

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
