"""NinjaTrader's own bar series: metrics of real minute bars (NinjaTrader's ES day, decoded
beside its ``.ncd``) equal values computed by hand; delta from the prints in a bar's window;
the bar-range profile; periods named and inferred; resent and bad bars dropped and counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import pytest

from orderflow.analytics.nt_bars import NtBar, NtBars, PrintTape, infer_period, period_ns
from orderflow.model.enums import Side
from orderflow.model.instruments import get_instrument
from tests.conftest import DATA_DIR, make_trades, need

ES = get_instrument("ESM0")
NS = 1_000_000_000
MINUTE = 60 * NS
NQ_MINUTES = DATA_DIR / "ninjatrader" / "NQMinutes.txt"  # ES prices (the folder's README)


@cache
def minute_bars() -> list[tuple[int, float, float, float, float, int]]:
    """NinjaTrader's minute bars: (open time ns, open, high, low, close, volume). NinjaTrader
    stamps a bar with its close time: the open is a minute earlier."""
    out = []
    for line in need(NQ_MINUTES).read_text(encoding="utf-8-sig").splitlines():
        t, o, h, lo, c, v = line.split("\t")
        close = datetime.strptime(t[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        opened = int((close - timedelta(minutes=1)).timestamp()) * NS
        out.append((opened, float(o), float(h), float(lo), float(c), int(v)))
    return out


def fed(n: int | None = None, period: str = "1 Minute") -> tuple[NtBars, list[dict]]:
    nb = NtBars(ES)
    entries = []
    for t, o, h, lo, c, v in minute_bars()[:n]:
        assert not nb.add_wire(0, t, (o, h, lo, c), v, True, period)
        entries.append(nb.metrics(0))
    return nb, entries


def test_range_body_atr_and_relative_volume_of_real_minute_bars_equal_the_hand_values():
    _, m = fed(3)
    # 00:01 3110.25 3110.5 3109 3109 138 / 00:02 3109 3110.25 3108.25 3109.75 175 /
    # 00:03 3109.75 3112.5 3109.75 3112 191
    assert (m[0]["range"], m[0]["body"], m[0]["atr"]) == (1.5, 1.25, 1.5)
    assert m[0]["relative_volume"] is None  # no bar before it
    # true range 2.0 (max(3110.25, 3109) - min(3108.25, 3109)); ATR the mean of 1.5 and 2.0
    assert (m[1]["range"], m[1]["body"], m[1]["atr"]) == (2.0, 0.75, 1.75)
    assert m[1]["relative_volume"] == 175 / 138
    assert (m[2]["range"], m[2]["body"]) == (2.75, 2.25)
    assert m[2]["atr"] == pytest.approx((1.5 + 2.0 + 2.75) / 3)
    assert m[2]["relative_volume"] == 191 / ((138 + 175) / 2)
    assert m[2]["delta"] is None and m[2]["imbalance"] is None  # no prints: no flow
    assert (m[2]["series"], m[2]["period"], m[2]["open"], m[2]["close"]) == (
        0, "1 Minute", 3109.75, 3112.0)  # fmt: skip


def test_the_whole_day_equals_an_independent_atr_and_relative_volume():
    bars = minute_bars()
    _, m = fed()
    assert len(m) == len(bars) == 1365
    atr = 0.0
    for i, (_, _, h, lo, _, v) in enumerate(bars):
        pc = bars[i - 1][4] if i else None
        tr = h - lo if pc is None else max(h, pc) - min(lo, pc)
        atr = tr if i == 0 else (atr * i + tr) / (i + 1) if i < 14 else (atr * 13 + tr) / 14
        prev = [b[5] for b in bars[max(0, i - 20) : i]]
        assert m[i]["atr"] == pytest.approx(atr, abs=1e-9), i
        assert m[i]["relative_volume"] == (v / (sum(prev) / len(prev)) if prev else None), i
        assert m[i]["range"] == h - lo and m[i]["body"] == abs(bars[i][4] - bars[i][1])


def test_a_forming_bar_is_measured_as_if_it_closed_now_and_replaced_by_its_close():
    nb, _ = fed(20)
    t, o, h, lo, c, v = minute_bars()[20]
    assert not nb.add_wire(0, t, (o, h, lo, o), v // 2, False)
    forming = nb.metrics(0)
    assert forming["closed"] is False and forming["close"] == o
    assert forming["relative_volume"] == (v // 2) / (sum(b[5] for b in minute_bars()[:20]) / 20)
    assert not nb.add_wire(0, t, (o, h, lo, c), v, True)
    _, full = fed(21)
    assert nb.metrics(0) == full[-1]


def test_delta_and_imbalance_come_from_the_prints_in_the_bars_window():
    t0 = minute_bars()[0][0]
    B, A, N = int(Side.BID), int(Side.ASK), int(Side.NONE)
    trades = make_trades([(t0, 12440, 5, B), (t0 + 10 * NS, 12439, 2, A),
                          (t0 + 59 * NS, 12440, 1, N), (t0 + MINUTE, 12438, 4, A)])  # fmt: skip
    nb = NtBars(ES)
    nb.add_prints(trades)
    nb.add(NtBar(0, t0, 12440, 12440, 12439, 12440, 8, True, "1 Minute"))
    nb.add(NtBar(0, t0 + MINUTE, 12438, 12438, 12438, 12438, 4, True, "1 Minute"))
    first, second = nb.series[0].flows
    assert first == (5, 2) and second == (0, 4)
    assert nb.metrics(0)["delta"] == -4 and nb.metrics(0)["imbalance"] == -1.0
    # a bar that opened before the first print is not covered: no delta
    late = NtBars(ES)
    late.add_prints(trades[1:])
    late.add(NtBar(0, t0, 12440, 12440, 12439, 12440, 8))
    assert late.metrics(0)["delta"] is None


def test_the_tape_keeps_its_bound_and_says_what_it_no_longer_covers():
    tape = PrintTape(keep=4)
    ts = [10, 20, 30, 40, 40, 50]  # beyond 4: the oldest ones dropped, 2 kept
    tape.add(make_trades([(t, 100, 1, int(Side.BID)) for t in ts]))
    assert len(tape) == 2 and tape.start == 41  # a dropped print shared time 40
    assert not tape.covers(40) and tape.covers(50)
    assert tape.window(0, None)["ts_event"].tolist() == [40, 50]


def test_periods_named_or_inferred():
    assert period_ns("1 Minute") == MINUTE and period_ns("5 Minutes") == 5 * MINUTE
    assert period_ns("30 Second") == 30 * NS and period_ns("1 Day") == 86_400 * NS
    assert period_ns("500 Tick") is None and period_ns("") is None
    assert infer_period(5 * MINUTE) == "5 Minute" and infer_period(86_400 * NS) == "1 Day"
    assert infer_period(15 * NS) == "15 Second" and infer_period(NS // 2) == ""
    nb, _ = fed(3, period="")
    assert nb.metrics(0)["period"] == "1 Minute"


def test_resent_and_bad_bars_are_dropped_and_counted():
    nb, m = fed(5)
    t, o, h, lo, c, v = minute_bars()[4]
    assert nb.add_wire(0, t, (o, h, lo, c), v, True) == {"bar_resent": 1}
    assert nb.add_wire(0, t + MINUTE, (o, h, lo, c + 0.1), v, True) == {"bar_off_grid": 1}
    assert nb.add_wire(0, t + MINUTE, (o, lo, h, c), v, True) == {"bar_inconsistent": 1}
    assert nb.metrics(0) == m[-1] and len(nb.series[0].closed_t) == 5


def test_the_profile_over_a_bar_range_from_bars_and_from_prints():
    nb, _ = fed(30)
    prof = nb.profile(0, bars=30)
    assert prof["source"] == "bars" and prof["bars"] == 30
    assert prof["volume"] == sum(b[5] for b in minute_bars()[:30])
    assert prof["val"] <= prof["poc"] <= prof["vah"]
    # the spread by hand: bar 00:06 (3110.75..3111.5, 70 contracts, close 3111.5) puts 17 on
    # each of its 4 ticks and the 2 left over on the ticks nearest its close
    one = NtBars(ES)
    t, o, h, lo, c, v = minute_bars()[5]
    one.add_wire(0, t, (o, h, lo, c), v, True)
    p = one.profile(0, bars=1)
    assert (p["poc"], p["volume"]) == (3111.25, 70)  # 18 at 3111.25 and 3111.5: the lower
    # prints: the flow profile of the prints in the bars' windows
    t0 = minute_bars()[0][0]
    trades = make_trades([(t0 + i * NS, 12440 + (i % 3), 1 + i % 2, int(Side.BID))
                          for i in range(120)])  # fmt: skip
    pr = NtBars(ES)
    pr.add_prints(trades)
    for t, o, h, lo, c, v in minute_bars()[:2]:
        pr.add_wire(0, t, (o, h, lo, c), v, True, "1 Minute")
    got = pr.profile(0, bars=2)
    assert got["source"] == "prints" and got["volume"] == int(trades["size"].sum())
    assert pr.profile(0, bars=2, source="bars")["volume"] == 138 + 175
    assert nb.profile(0, source="prints") is None and nb.profile(7) is None


def _batches(t0: int, n: int, per: int, seed: int = 7) -> list:
    import numpy as np

    rng = np.random.default_rng(seed)
    out, t = [], t0
    for _ in range(n):
        rows = []
        for _ in range(per):
            t += int(rng.integers(0, 3 * NS))
            side = int(rng.choice([int(Side.BID), int(Side.ASK), int(Side.NONE)]))
            rows.append((t, 12440 + int(rng.integers(-4, 5)), int(rng.integers(1, 9)), side))
        out.append(make_trades(rows))
    return out


def test_prints_before_the_first_bar_are_kept_untouched_and_give_the_same_deltas():
    """Before any bar the tape does no work; when bars arrive their deltas equal those of a
    tape fed every batch as it came (the way it was fed before)."""
    t0 = minute_bars()[0][0]
    batches = _batches(t0, 60, 5)
    lazy, eager = NtBars(ES), NtBars(ES)
    for b in batches:
        lazy.add_prints(b)
        eager.tape.add(b)  # every batch into the tape at once
    assert len(lazy.tape) == 0 and lazy.tape.start is None  # nothing done yet
    t1 = int(batches[0]["ts_event"][0])  # the first bar opens with the first print
    for k in range(4):  # then NinjaTrader's bars, and more prints between them
        bar = NtBar(0, t1 + k * MINUTE, 12440, 12444, 12436, 12440, 50, True, "1 Minute")
        assert lazy.add(bar) and eager.add(bar)
        assert lazy.metrics(0) == eager.metrics(0)
        more = _batches(int(batches[-1]["ts_event"][-1]), 2, 3, seed=k)
        for b in more:
            lazy.add_prints(b)
            eager.tape.add(b)
    assert lazy.series[0].flows == eager.series[0].flows
    assert [f is not None for f in lazy.series[0].flows] == [True] * 4
    assert len(lazy.tape) == len(eager.tape)


def test_prints_kept_before_the_first_bar_are_bounded_in_whole_batches():
    from orderflow.analytics.nt_bars import NtBarParams

    nb = NtBars(ES, NtBarParams(keep_prints=4))
    B = int(Side.BID)
    nb.add_prints(make_trades([(10, 100, 1, B), (20, 100, 1, B)]))
    nb.add_prints(make_trades([(30, 100, 1, B), (40, 100, 1, B)]))
    nb.add_prints(make_trades([(40, 100, 1, B), (50, 100, 1, B)]))  # 6 > 4: the first batch goes
    nb.add(NtBar(0, 30, 100, 100, 100, 100, 4, True, "1 Second"))
    assert nb.tape.window(0, None)["ts_event"].tolist() == [30, 40, 40, 50]
    assert nb.tape.start == 30 and nb.tape.covers(30) and not nb.tape.covers(20)
