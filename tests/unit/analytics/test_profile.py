"""Volume profile: exact volumes, POC tie rule, value area, nodes, sessions, composites."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.analytics.profile import (
    ProfileParams,
    SessionProfiles,
    ValueArea,
    VolumeProfile,
    profile_by_session,
)
from orderflow.core.time import parse_time
from orderflow.model.instruments import get_instrument
from tests.conftest import make_trades

ES = get_instrument("ES")
T0 = parse_time("2024-01-03T15:00:00Z")


def profile_of(volumes: dict[int, int], params: ProfileParams | None = None) -> VolumeProfile:
    p = VolumeProfile(params)
    p.update(make_trades([(T0 + i, px, v, 0) for i, (px, v) in enumerate(volumes.items())]))
    return p


def test_volume_per_price_with_buy_sell_and_unknown_split():
    p = VolumeProfile()
    p.update(
        make_trades(
            [(T0, 100, 3, 0), (T0, 100, 2, 1), (T0, 101, 4, 2), (T0, 99, 0, 0), (T0, 102, 1, 1)]
        )
    )
    assert (p.total, p.buy_total, p.sell_total, p.trades) == (10, 3, 3, 4)
    assert (p.low, p.high) == (100, 102)  # the zero-size print at 99 is ignored
    assert p.volume_at(100) == (5, 3, 2)
    assert p.volume_at(101) == (4, 0, 0)  # unknown aggressor: total only
    assert p.volume_at(5000) == (0, 0, 0)
    a = p.arrays()
    assert a["price"].tolist() == [100, 101, 102]
    assert a["total"].tolist() == [5, 4, 1]
    assert a["buy"].tolist() == [3, 0, 0] and a["sell"].tolist() == [2, 0, 1]


def test_empty_profile_reads():
    p = VolumeProfile()
    assert p.poc is None and p.value_area() is None and p.nodes() == ((), ())
    assert p.total == 0 and len(p.arrays()["price"]) == 0
    with pytest.raises(ValueError):
        _ = p.low


def test_poc_tie_goes_to_the_price_nearest_the_middle_of_the_range():
    # range 100..110, middle 105; ties at 101 and 106 -> 106
    assert profile_of({100: 1, 101: 9, 106: 9, 110: 1}).poc == 106
    # ties at 103 and 107 are equally near 105 -> the lower
    assert profile_of({100: 1, 103: 9, 107: 9, 110: 1}).poc == 103
    assert profile_of({100: 1, 103: 8, 107: 9, 110: 1}).poc == 107


def test_value_area_dual_price_expansion():
    vols = {100: 5, 101: 10, 102: 20, 103: 40, 104: 30, 105: 10, 106: 5}  # total 120, 70% = 84
    # 40; above (104,105)=40 > below (101,102)=30 -> 80 [103,105]; above (106)=5 < 30 -> 110
    assert profile_of(vols).value_area() == ValueArea(103, 101, 105, 110, 120)
    # single-price variant: 40; 30>20 -> 70; 10<20 -> 90 >= 84
    one = profile_of(vols, ProfileParams(va_step=1)).value_area()
    assert one == ValueArea(103, 102, 104, 90, 120)


def test_value_area_tie_takes_the_pair_above_and_exact_target_stops():
    # POC 102 (10); above (103,104) = 6 == below (100,101) = 6 -> above
    vols = {100: 3, 101: 3, 102: 10, 103: 3, 104: 3}
    va = profile_of(vols, ProfileParams(value_area=0.5)).value_area()
    assert va == ValueArea(102, 102, 104, 16, 22)  # 10 < 11; 16 >= 11
    # exactly 50% is enough: 10 of 20
    assert profile_of({100: 5, 101: 10, 102: 5}, ProfileParams(value_area=0.5)).value_area() == (
        ValueArea(101, 101, 101, 10, 20)
    )


def test_value_area_100_percent_spans_the_range_across_gaps():
    va = profile_of({90: 1, 100: 50, 130: 2}, ProfileParams(value_area=1.0)).value_area()
    assert va == ValueArea(100, 90, 130, 53, 53)


def test_value_area_at_the_range_edge_expands_the_only_side_left():
    va = profile_of({100: 50, 101: 1, 102: 1, 103: 30, 104: 30}).value_area()
    # total 112, target 78.4: 50; only above: (101,102)=2 -> 52; (103,104)=60 -> 112
    assert va == ValueArea(100, 100, 104, 112, 112)


def test_nodes_of_a_two_peak_profile():
    vols = dict(enumerate([1, 5, 10, 5, 1, 4, 12, 4, 1]))
    p = profile_of(vols, ProfileParams(smoothing=1))
    nodes = p.nodes()
    assert [(n.price, n.volume) for n in nodes.hvn] == [(2, 10), (6, 12)]
    assert [(n.price, n.volume, n.smoothed) for n in nodes.lvn] == [(4, 1, 1.0)]
    # smoothed by 3: W = 6 16 20 16 10 17 20 17 5, mean 127/9 = 14.1:
    # peaks 20 >= 1.25 * mean (17.6) but < 1.5 * mean (21.2); trough 10 <= 0.75 * mean (10.6)
    p3 = profile_of(vols, ProfileParams(smoothing=3, hvn_ratio=1.25, lvn_ratio=0.75))
    n3 = p3.nodes()
    assert [n.price for n in n3.hvn] == [2, 6]
    assert profile_of(vols, ProfileParams(smoothing=3)).nodes().hvn == ()
    assert [(n.price, n.smoothed) for n in n3.lvn] == [(4, pytest.approx(10 / 3))]
    assert profile_of(vols, ProfileParams(smoothing=3)).nodes().lvn == ()  # 10 > 0.5 * mean


def test_node_plateau_is_reported_at_its_middle_and_hvn_threshold_applies():
    p = profile_of({0: 1, 1: 5, 2: 5, 3: 5, 4: 1}, ProfileParams(smoothing=1, hvn_ratio=1.2))
    (node,) = p.nodes().hvn
    assert (node.price, node.low, node.high, node.volume) == (2, 1, 3, 5)
    # mean 17/5 = 3.4; 5 < 1.5 * 3.4
    assert profile_of({0: 1, 1: 5, 2: 5, 3: 5, 4: 1}, ProfileParams(smoothing=1)).nodes().hvn == ()


def test_params_are_validated():
    for bad in (
        {"value_area": 0.0},
        {"value_area": 1.5},
        {"va_step": 0},
        {"smoothing": 4},
        {"hvn_ratio": -1.0},
    ):
        with pytest.raises(ValueError):
            ProfileParams(**bad)


def test_profile_grows_to_far_and_negative_prices():
    p = VolumeProfile()
    p.update(make_trades([(T0, 10, 1, 0)]))
    p.update(make_trades([(T0, 100_000, 2, 1), (T0, -500, 3, 0)]))
    assert (p.low, p.high, p.total) == (-500, 100_000, 6)
    assert p.volume_at(10) == (1, 1, 0) and p.volume_at(-500) == (3, 3, 0)
    assert p.poc == -500


def test_time_range_profile_and_composite_equal_the_whole():
    tr = make_trades([(T0 + i, 100 + i % 7, 1 + i % 3, i % 2) for i in range(50)])
    a = VolumeProfile.from_trades(tr, end_ns=T0 + 20)
    b = VolumeProfile.from_trades(tr, start_ns=T0 + 20)
    assert a.trades == 20 and b.trades == 30
    whole = VolumeProfile.from_trades(tr)
    comp = VolumeProfile.composite([a, b])
    for k in ("price", "total", "buy", "sell"):
        assert comp.arrays()[k].tolist() == whole.arrays()[k].tolist()
    assert comp.value_area() == whole.value_area()
    assert (comp.buy_total, comp.sell_total, comp.trades) == (
        whole.buy_total,
        whole.sell_total,
        whole.trades,
    )


def test_session_profiles_split_at_the_open_and_composite():
    day1 = parse_time("2024-01-02T15:00:00Z")
    day2 = parse_time("2024-01-03T15:00:00Z")
    tr = make_trades([(day1, 100, 5, 0), (day1 + 1, 101, 1, 1), (day2, 110, 2, 1)])
    sp = SessionProfiles(ES)
    sp.update(tr[:2])
    sp.update(tr[2:])
    starts = list(sp.sessions)
    assert starts == [parse_time("2024-01-01T23:00:00Z"), parse_time("2024-01-02T23:00:00Z")]
    assert [p.total for p in sp.sessions.values()] == [6, 2]
    assert sp.current is not None and sp.current.poc == 110
    assert sp.composite().total == 8 and sp.composite(last=1).total == 2
    assert sp.composite(starts=starts[:1]).poc == 100
    batch = profile_by_session(tr, ES)
    assert {k: v.total for k, v in batch.items()} == {k: v.total for k, v in sp.sessions.items()}
    keep1 = SessionProfiles(ES, keep=1)
    keep1.update(tr)
    assert list(keep1.sessions) == starts[1:]


def test_ratio_parameters_are_read_as_printed_decimals():
    p = VolumeProfile(ProfileParams(value_area=0.7))
    assert p._va == Fraction(7, 10)


@st.composite
def trade_streams(draw):
    n = draw(st.integers(1, 80))
    rows = [
        (
            T0 + i * 60_000_000_000,
            draw(st.integers(19000, 19030)),
            draw(st.integers(0, 30)),
            draw(st.integers(0, 2)),
        )
        for i in range(n)
    ]
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=5)))
    pct = draw(st.sampled_from([0.7, 0.68, 0.5, 0.95, 1.0]))
    return make_trades(rows), cuts, pct


@settings(max_examples=80, deadline=None)
@given(trade_streams(), st.integers(1, 3))
def test_profile_laws(data, step):
    tr, cuts, pct = data
    params = ProfileParams(value_area=pct, va_step=step)
    batch = VolumeProfile.from_trades(tr, params=params)
    inc = VolumeProfile(params)
    for a, b in zip([0, *cuts], [*cuts, len(tr)], strict=True):
        inc.update(tr[a:b])
    traded = tr[tr["size"] > 0]
    assert batch.total == int(traded["size"].sum())
    a = batch.arrays()
    assert int(a["total"].sum()) == batch.total
    unknown = int(traded["size"][traded["side"] == 2].sum())
    assert batch.buy_total + batch.sell_total + unknown == batch.total
    assert np.all(a["buy"] + a["sell"] <= a["total"])
    for k in ("price", "total", "buy", "sell"):
        np.testing.assert_array_equal(inc.arrays()[k], a[k])
    assert inc.value_area() == batch.value_area() and inc.nodes() == batch.nodes()
    va = batch.value_area()
    if va is None:
        assert len(traded) == 0
        return
    assert va.val <= va.poc <= va.vah
    assert batch.volume_at(va.poc)[0] == int(a["total"].max())
    inside = int(a["total"][(a["price"] >= va.val) & (a["price"] <= va.vah)].sum())
    assert inside == va.volume
    assert Fraction(va.volume, va.total) >= Fraction(str(pct))
    for node in batch.nodes().hvn + batch.nodes().lvn:
        assert batch.low <= node.low <= node.price <= node.high <= batch.high


@settings(max_examples=40, deadline=None)
@given(trade_streams())
def test_buy_plus_sell_equals_total_when_every_aggressor_is_known(data):
    tr, _, _ = data
    tr["side"] = tr["price"] % 2
    p = VolumeProfile.from_trades(tr)
    assert p.buy_total + p.sell_total == p.total == int(tr["size"][tr["size"] > 0].sum())
    a = p.arrays()
    np.testing.assert_array_equal(a["buy"] + a["sell"], a["total"])
