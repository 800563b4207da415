"""VWAP and its bands: exact values on hand-built trades, resets, batch == incremental."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.analytics.vwap import (
    ResetInterval,
    VwapParams,
    VwapTracker,
    period_bounds,
    vwap_series,
)
from orderflow.core.time import parse_time
from orderflow.model.instruments import get_instrument
from tests.conftest import make_trades

ES = get_instrument("ES")
T0 = parse_time("2024-01-03T15:00:00Z")


def test_vwap_and_bands_of_three_prices_are_the_volume_weighted_mean_and_deviation():
    tr = make_trades([(T0, 100, 2, 0), (T0 + 1, 102, 1, 1), (T0 + 2, 104, 1, 0)])
    t = VwapTracker(ES)
    t.update(tr)
    # (2*100 + 102 + 104) / 4 = 101.5; var = (2*1.5^2 + 0.5^2 + 2.5^2) / 4 = 2.75
    assert t.vwap == 101.5
    assert t.vwap_exact() == Fraction(203, 2)
    assert t.std == pytest.approx(math.sqrt(2.75), abs=1e-12)
    v = t.value()
    assert (v.volume, v.trades) == (4, 3)
    for k, m in enumerate((1.0, 2.0, 3.0)):
        assert v.upper[k] == pytest.approx(101.5 + m * math.sqrt(2.75), abs=1e-12)
        assert v.lower[k] == pytest.approx(101.5 - m * math.sqrt(2.75), abs=1e-12)


def test_series_gives_the_vwap_after_every_trade():
    tr = make_trades([(T0, 100, 2, 0), (T0 + 1, 102, 1, 1), (T0 + 2, 104, 1, 0)])
    s = vwap_series(tr, ES)
    assert s.vwap.tolist() == [100.0, pytest.approx(302 / 3), 101.5]
    assert s.std[0] == 0.0
    assert s.upper.shape == (3, 3)
    assert s.upper[2, 1] == pytest.approx(101.5 + 2 * math.sqrt(2.75))


def test_custom_multipliers_and_single_trade_has_zero_deviation():
    t = VwapTracker(ES, VwapParams(multipliers=(0.5, 1.5)))
    t.update(make_trades([(T0, 4000, 3, 0)]))
    v = t.value()
    assert (v.vwap, v.std, v.upper, v.lower) == (4000.0, 0.0, (4000.0, 4000.0), (4000.0, 4000.0))


def test_empty_tracker_reads_nan_and_zero_size_trades_are_ignored():
    t = VwapTracker(ES)
    assert math.isnan(t.vwap) and t.vwap_exact() is None
    t.update(make_trades([(T0, 100, 0, 0), (T0 + 1, 200, -3, 1)]))
    assert t.volume == 0 and math.isnan(t.value().vwap)
    t.update(make_trades([(T0 + 2, 110, 5, 0)]))
    assert t.vwap == 110.0


def test_session_reset_at_the_18_00_new_york_open():
    before = parse_time("2024-01-02T22:59:59Z")  # 17:59:59 EST: still the Jan 2 session
    after = parse_time("2024-01-02T23:00:00Z")  # 18:00 EST: the Jan 3 session
    t = VwapTracker(ES)
    s = t.update(make_trades([(before, 100, 1, 0), (after, 200, 1, 0)]), record=True)
    assert s is not None
    assert s.vwap.tolist() == [100.0, 200.0]
    assert s.period_start.tolist() == [parse_time("2024-01-01T23:00:00Z"), after]
    assert t.period == (after, parse_time("2024-01-03T23:00:00Z"))


def test_session_reset_follows_daylight_saving_time():
    start, end = period_bounds(parse_time("2024-07-09T14:00:00Z"), ES, ResetInterval.SESSION)
    assert (start, end) == (parse_time("2024-07-08T22:00:00Z"), parse_time("2024-07-09T22:00:00Z"))


def test_week_reset_at_sunday_open_and_not_before():
    fri = parse_time("2024-01-05T20:00:00Z")
    sun_pre = parse_time("2024-01-07T22:59:00Z")  # Sunday 17:59 EST: still last week
    sun_open = parse_time("2024-01-07T23:00:00Z")  # Sunday 18:00 EST: the new week's first session
    t = VwapTracker(ES, VwapParams(reset=ResetInterval.WEEK))
    s = t.update(make_trades([(fri, 100, 1, 0), (sun_pre, 102, 1, 0), (sun_open, 110, 3, 0)]), True)
    assert s is not None
    assert s.vwap.tolist() == [100.0, 101.0, 110.0]
    assert s.period_start[0] == parse_time("2023-12-31T23:00:00Z")  # Sunday open before Mon Jan 1
    assert t.period == (sun_open, parse_time("2024-01-14T23:00:00Z"))


def test_month_reset_at_the_open_on_the_evening_before_the_first():
    jan31 = parse_time("2024-01-31T22:30:00Z")  # 17:30 EST, trading day Jan 31
    feb = parse_time("2024-01-31T23:00:00Z")  # 18:00 EST, trading day Feb 1
    t = VwapTracker(ES, VwapParams(reset=ResetInterval.MONTH))
    mid = parse_time("2024-01-15T15:00:00Z")
    s = t.update(make_trades([(mid, 100, 1, 0), (jan31, 104, 1, 0), (feb, 90, 2, 1)]), True)
    assert s is not None
    assert s.vwap.tolist() == [100.0, 102.0, 90.0]
    assert t.period == (feb, parse_time("2024-02-29T23:00:00Z"))


def test_no_reset_needs_no_instrument_but_a_session_reset_does():
    t = VwapTracker(None, VwapParams(reset=ResetInterval.NONE))
    t.update(make_trades([(1, 10, 1, 0), (10**18, 20, 1, 0)]))
    assert t.vwap == 15.0
    with pytest.raises(ValueError):
        VwapTracker(None)


def test_a_late_trade_counts_in_the_current_period():
    after = parse_time("2024-01-02T23:00:01Z")
    late = parse_time("2024-01-02T22:00:00Z")  # belongs to the previous session by time
    t = VwapTracker(ES)
    t.update(make_trades([(after, 100, 1, 0), (late, 104, 1, 0)]))
    assert t.vwap == 102.0


@st.composite
def trade_streams(draw):
    n = draw(st.integers(1, 60))
    gaps = draw(st.lists(st.integers(0, 6 * 3600 * 10**9), min_size=n, max_size=n))
    ts = T0 + np.cumsum(gaps)
    prices = draw(st.lists(st.integers(-50, 50), min_size=n, max_size=n))
    sizes = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    sides = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    tr = make_trades(
        [(int(t), 19000 + p, s, d) for t, p, s, d in zip(ts, prices, sizes, sides, strict=True)]
    )
    return tr, cuts


@settings(max_examples=60, deadline=None)
@given(trade_streams(), st.sampled_from(list(ResetInterval)))
def test_batch_equals_incremental_and_vwap_stays_within_the_traded_range(data, reset):
    tr, cuts = data
    params = VwapParams(reset=reset)
    batch = vwap_series(tr, ES, params)
    t = VwapTracker(ES, params)
    parts = []
    for a, b in zip([0, *cuts], [*cuts, len(tr)], strict=True):
        s = t.update(tr[a:b], record=True)
        assert s is not None
        parts.append(s)
    for name in ("period_start", "vwap", "std", "upper", "lower"):
        inc = np.concatenate([getattr(p, name) for p in parts])
        np.testing.assert_array_equal(inc, getattr(batch, name))
    v = t.value()
    if t.volume:
        assert v.vwap == batch.vwap[-1] and v.std == batch.std[-1]
        counted = tr[(tr["size"] > 0) & (tr["ts_event"] >= t.period[0])]
        assert counted["price"].min() - 1e-9 <= v.vwap <= counted["price"].max() + 1e-9
        # the exact value agrees with the float one
        assert abs(float(t.vwap_exact()) - v.vwap) <= 1e-9
        assert v.std >= 0.0


def test_a_read_is_kept_while_the_state_stands_and_never_outlives_it():
    """``value()`` keeps its last read for the same sums and period (the same object back),
    and reads again whenever either moved: through ``update`` and through the pipeline's
    fused step, which changes the sums in place (ESH4 as the bridge sends it)."""
    from orderflow.server.hub import Hub
    from tests.integration.test_server import esh4_batches

    hub, reads, kept, prev = Hub(), 0, 0, None
    for b in esh4_batches()[0][:250]:
        hub.apply(b, "nt8")
        vw = hub.instruments["ESH4"].pipeline.vwap
        value = vw.value()
        assert repr(value) == repr(vw._value())  # what a fresh read gives (NaN before a print)
        assert vw.value() is value
        if value is prev:  # kept: a batch without prints
            kept += 1
        else:
            reads += 1
        prev = value
    assert reads > 200 and kept > 0
    t = VwapTracker(ES)
    empty = t.value()
    t.update(make_trades([(T0 + 1, 100, 5, 0)]))
    assert t.value() is not empty and t.value() == t._value() and t.value().volume == 5
