"""Aggressor side: MBO trade records, the bid/ask rule and the tick rule, batch and incremental."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from orderflow.analytics.trades import (
    AggressorClassifier,
    classify_bidask,
    classify_tick_rule,
    trades_from_mbo,
)
from orderflow.model.dtypes import MBO_DTYPE, NO_PRICE, TRADE_DTYPE
from orderflow.model.enums import Action, Side

B, A, N = int(Side.BID), int(Side.ASK), int(Side.NONE)


def test_trades_from_mbo_keeps_only_trade_records_with_their_aggressor():
    mbo = np.zeros(5, dtype=MBO_DTYPE)
    mbo["action"] = [Action.ADD, Action.TRADE, Action.FILL, Action.TRADE, Action.CANCEL]
    mbo["ts_event"] = [1, 2, 2, 3, 4]
    mbo["price"] = [100, 101, 101, 99, 98]
    mbo["size"] = [5, 2, 2, 7, 1]
    mbo["side"] = [B, B, A, A, B]
    mbo["sequence"] = [10, 11, 12, 13, 14]
    mbo["flags"] = [0, 0, 0x80, 0x80, 0]
    out = trades_from_mbo(mbo)
    assert out.dtype == TRADE_DTYPE
    assert out["ts_event"].tolist() == [2, 3]
    assert out["price"].tolist() == [101, 99]
    assert out["size"].tolist() == [2, 7]
    assert out["side"].tolist() == [B, A]
    assert out["sequence"].tolist() == [11, 13]
    assert out["flags"].tolist() == [0, 0x80]


def test_bidask_rule_at_or_beyond_quotes_and_between_keeps_previous():
    price = [100, 101, 102, 100, 99, 101, 103]
    bid = [99, 100, 100, 100, 100, 100, 101]
    ask = [101, 101, 102, 101, 101, 102, 102]
    # first between -> NONE; at ask -> buy; at ask -> buy; at bid -> sell; below bid -> sell;
    # between -> keeps sell; above ask -> buy
    assert classify_bidask(price, bid, ask).tolist() == [N, B, B, A, A, A, B]


def test_bidask_rule_missing_quote_never_matches_and_crossed_quote_tests_ask_first():
    price = [100, 100, 100]
    bid = [NO_PRICE, 101, NO_PRICE]
    ask = [NO_PRICE, 99, 100]
    assert classify_bidask(price, bid, ask).tolist() == [N, B, B]


def test_tick_rule_uptick_downtick_zero_tick():
    price = [100, 100, 101, 101, 100, 100, 102]
    assert classify_tick_rule(price).tolist() == [N, N, B, B, A, A, B]


def test_incremental_classifier_equals_batch_in_any_chunking():
    rng = np.random.default_rng(7)
    price = rng.integers(95, 106, 200)
    bid = rng.integers(96, 101, 200)
    ask = bid + rng.integers(1, 4, 200)
    batch_ba = classify_bidask(price, bid, ask)
    batch_tr = classify_tick_rule(price)
    ba, tr = AggressorClassifier("bidask"), AggressorClassifier("tick")
    got_ba, got_tr = [], []
    cuts = [0, 1, 2, 17, 18, 100, 200]
    for a, b in pairwise(cuts):
        got_ba.append(ba.classify(price[a:b], bid[a:b], ask[a:b]))
        got_tr.append(tr.classify(price[a:b]))
    assert np.array_equal(np.concatenate(got_ba), batch_ba)
    assert np.array_equal(np.concatenate(got_tr), batch_tr)


def test_classifier_apply_sets_side_on_a_copy_and_requires_quotes():
    trades = np.zeros(3, dtype=TRADE_DTYPE)
    trades["price"] = [10, 11, 10]
    trades["side"] = N
    out = AggressorClassifier("tick").apply(trades)
    assert out["side"].tolist() == [N, B, A]
    assert trades["side"].tolist() == [N, N, N]
    with pytest.raises(ValueError):
        AggressorClassifier("bidask").classify(trades["price"])
    with pytest.raises(ValueError):
        AggressorClassifier("midpoint")  # type: ignore[arg-type]
