"""NinjaTrader exports and DumpMarketDepth files: parsing, errors, exact round trips, speed."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
import pytest

from orderflow.core.errors import DecodeError, OffTickError
from orderflow.io.ninjatrader import (
    infer_aggressor_side,
    read_bars,
    read_depth_dump,
    read_tick_replay,
    read_ticks,
    write_bars,
    write_depth_dump,
    write_tick_replay,
    write_ticks,
)
from orderflow.model.dtypes import BAR_DTYPE, NO_PRICE, NT_DEPTH_DTYPE, QUOTE_DTYPE, TRADE_DTYPE
from orderflow.model.enums import Flags, NtOperation, Side
from orderflow.model.instruments import generic_instrument, get_instrument

ES = get_instrument("ES")
GC = get_instrument("GC")


def ns(*args: int, frac_ns: int = 0) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 1_000_000_000 + frac_ns


DUMP = (
    "L1;0;20210120050050;2300000;1855.8;2\n"
    "L2;0;20210120050000;70000;0;0;;1855.5;1\n"
    "L2;1;20210120050000;70000;0;0;;1855,4;7\n"
    "L1;1;20210120050051;5;1855,7;3\n"
    "L1;2;20210120050052;0;1855.8;4\n"
    "L1;5;20210120050052;0;1234;0\n"
    "\n"
    "L2;1;20210120050001;0;1;0;;1855.4;9\n"
    "L2;0;20210120050001;0;2;0;;1855.5;0\n"
)


def test_dump_lines_parse_with_100ns_fractions_and_comma_decimals():
    dump = read_depth_dump(DUMP.encode(), GC)
    d = dump.depth
    assert len(d) == 4
    # 70000 x 100 ns = 7 ms (read as microseconds it would be 70 ms)
    assert d["ts_event"][0] == ns(2021, 1, 20, 5, 0, 0, frac_ns=7_000_000)
    assert d["side"].tolist() == [Side.ASK, Side.BID, Side.BID, Side.ASK]
    assert d["operation"].tolist() == [
        NtOperation.ADD,
        NtOperation.ADD,
        NtOperation.UPDATE,
        NtOperation.REMOVE,
    ]
    assert d["price"].tolist() == [18555, 18554, 18554, 18555]  # GC tick 0.1
    assert d["size"].tolist() == [1, 7, 9, 0]
    assert d["sequence"].tolist() == [2, 3, 7, 8]  # ordinal among the file's records
    # LAST marks the end of each run of equal timestamps
    assert ((d["flags"] & Flags.LAST) != 0).tolist() == [False, True, False, True]
    q = dump.quotes
    assert len(q) == 2
    assert q["ask_price"].tolist() == [18558, 18558]
    assert q["bid_price"].tolist() == [NO_PRICE, 18557]
    assert q["ts_event"][1] == ns(2021, 1, 20, 5, 0, 51, frac_ns=500)
    t = dump.trades
    assert t["price"].tolist() == [18558] and t["size"].tolist() == [4]
    assert t["side"].tolist() == [Side.BID]  # at the ask: a buyer lifted it
    assert dump.l1_other == 1


def test_dump_times_are_local_to_the_given_zone():
    line = b"L2;0;20240115093000;0;0;0;;4800.25;3\n"
    utc = read_depth_dump(line, ES).depth["ts_event"][0]
    ny = read_depth_dump(line, ES, tz="America/New_York").depth["ts_event"][0]
    assert ny - utc == 5 * 3600 * 1_000_000_000  # EST = UTC-5
    summer = read_depth_dump(b"L2;0;20240715093000;0;0;0;;4800.25;3\n", ES, tz="America/New_York")
    assert summer.depth["ts_event"][0] == ns(2024, 7, 15, 13, 30, 0)


def random_depth(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=NT_DEPTH_DTYPE)
    ts = ns(2024, 3, 8, 12) + np.cumsum(rng.integers(0, 3, n)) * 100 * rng.integers(1, 10**6)
    ev["ts_event"] = ev["ts_recv"] = ts
    ev["sequence"] = np.arange(1, n + 1)
    ev["price"] = 19_000 + rng.integers(-50, 50, n)
    ev["size"] = rng.integers(0, 500, n)
    ev["position"] = rng.integers(0, 10, n)
    ev["operation"] = rng.integers(0, 3, n)
    ev["side"] = rng.integers(0, 2, n)
    last = np.ones(n, bool)
    last[:-1] = ts[1:] != ts[:-1]
    ev["flags"] = np.where(last, Flags.LAST, 0)
    return ev


@pytest.mark.parametrize(
    ("tz", "decimal"), [("UTC", "."), ("America/New_York", ","), ("Europe/Berlin", ".")]
)
def test_depth_dump_round_trip_is_exact(tmp_path, tz, decimal):
    ev = random_depth(5_000)
    path = tmp_path / "dump.txt"
    write_depth_dump(path, ev, ES, tz=tz, decimal=decimal)
    text = path.read_text()
    assert text.startswith("L2;") and (decimal == "," or ",," not in text)
    back = read_depth_dump(path, ES, tz=tz).depth
    assert np.array_equal(back, ev)


def test_written_prices_carry_the_instruments_decimals():
    ev = random_depth(3)
    ev["price"] = [19_240, 19_241, 19_243]
    buf = io.StringIO()
    write_depth_dump(buf, ev, ES)
    prices = [line.split(";")[7] for line in buf.getvalue().splitlines()]
    assert prices == ["4810.00", "4810.25", "4810.75"]


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        (
            "L2;0;20210120050000;0;0;0;;1855.5;1\nL2;0;20210120050000;0;0;0;1855.5;1\n",
            2,
            "line",
            "9 fields",
        ),
        ("L3;0;20210120050000;0;0;0;;1855.5;1\n", 1, "record", "L1 or L2"),
        ("L2;0;2021012005000;0;0;0;;1855.5;1\n", 1, "time", "layout"),
        ("L2;0;20211320050000;0;0;0;;1855.5;1\n", 1, "time", "month"),
        ("L2;0;20210230050000;0;0;0;;1855.5;1\n", 1, "time", "day"),
        ("\n\nL2;0;20210120250000;0;0;0;;1855.5;1\n", 3, "time", "hour"),
        ("L2;0;20210120050000;12345678;0;0;;1855.5;1\n", 1, "fraction", "100 ns"),
        ("L2;3;20210120050000;0;0;0;;1855.5;1\n", 1, "type", "0 (ask)"),
        ("L2;0;20210120050000;0;5;0;;1855.5;1\n", 1, "operation", "remove"),
        ("L2;0;20210120050000;0;0;x;;1855.5;1\n", 1, "position", "not a number"),
        ("L2;0;20210120050000;0;0;0;;18a55.5;1\n", 1, "price", "not a number"),
        ("L2;0;20210120050000;0;0;0;;;1\n", 1, "price", "empty"),
        ("L2;0;20210120050000;0;0;0;;1855.5;-1\n", 1, "volume", "negative"),
        ("L1;0;20210120050000;0;1855.5\n", 1, "line", "6 fields"),
    ],
)
def test_malformed_dump_lines_name_line_field_and_reason(text, line, field, reason):
    with pytest.raises(DecodeError) as info:
        read_depth_dump(text.encode(), GC)
    err = info.value
    assert err.details["line"] == line and err.details["field"] == field
    assert reason in err.details["reason"]
    assert f"line {line}" in err.message


def test_off_tick_price_is_an_off_tick_error():
    with pytest.raises(OffTickError) as info:
        read_depth_dump(b"L2;0;20210120050000;0;0;0;;4800.10;1\n", ES)
    assert info.value.details["line"] == 1 and info.value.details["field"] == "price"


def test_tick_files_round_trip_subsecond_and_second(tmp_path):
    n = 1_000
    rng = np.random.default_rng(3)
    trades = np.zeros(n, dtype=TRADE_DTYPE)
    trades["ts_event"] = trades["ts_recv"] = (
        ns(2024, 1, 2) + np.cumsum(rng.integers(1, 10**4, n)) * 100
    )
    trades["sequence"] = np.arange(1, n + 1)
    trades["price"] = 19_000 + rng.integers(-20, 20, n)
    trades["size"] = rng.integers(1, 50, n)
    trades["side"] = Side.NONE
    path = tmp_path / "ES 03-24.Last.txt"
    write_ticks(path, trades, ES)
    first = path.read_text().splitlines()[0]
    assert len(first.split(";")[0]) == len("20240102 000000 0000000")
    assert np.array_equal(read_ticks(path, ES), trades)
    write_ticks(path, trades, ES, subsecond=False, decimal=",")
    back = read_ticks(path, ES)
    assert np.array_equal(back["ts_event"], trades["ts_event"] // 10**9 * 10**9)
    assert np.array_equal(back["price"], trades["price"])


def test_documented_millisecond_example_reads_as_100ns_fraction():
    t = read_ticks(b"20061107 000431 1000000;1383.00;1\n", ES)
    assert t["ts_event"][0] == ns(2006, 11, 7, 0, 4, 31, frac_ns=100_000_000)
    with pytest.raises(DecodeError, match="layout"):
        read_ticks(b"20061107 000431 100000;1383.00;1\n", ES)


def test_tick_replay_round_trip_and_aggressor():
    trades = np.zeros(3, dtype=TRADE_DTYPE)
    quotes = np.zeros(3, dtype=QUOTE_DTYPE)
    trades["ts_event"] = trades["ts_recv"] = quotes["ts_event"] = quotes["ts_recv"] = [
        ns(2024, 1, 2, 14, 30),
        ns(2024, 1, 2, 14, 30, frac_ns=100),
        ns(2024, 1, 2, 14, 31),
    ]
    trades["sequence"] = quotes["sequence"] = [1, 2, 3]
    trades["price"] = [101, 100, 100]
    quotes["bid_price"] = [100, 100, 99]
    quotes["ask_price"] = [101, 101, 101]
    trades["size"] = [1, 2, 3]
    trades["side"] = [Side.BID, Side.ASK, Side.NONE]
    buf = io.StringIO()
    write_tick_replay(buf, trades, quotes, ES)
    back = read_tick_replay(buf.getvalue().encode(), ES)
    assert (back.trades["side"] == Side.NONE).all()  # the format carries no aggressor
    back.trades["side"] = trades["side"]
    assert np.array_equal(back.trades, trades)
    assert np.array_equal(back.quotes, quotes)
    # bid/ask rule: at the ask a buyer, at the bid a seller, in between the previous side
    sides = infer_aggressor_side(back.trades["price"], quotes["bid_price"], quotes["ask_price"])
    assert sides.tolist() == [Side.BID, Side.ASK, Side.ASK]


def test_minute_bars_are_end_stamped_in_files_and_open_stamped_in_arrays(tmp_path):
    text = b"20240102 143100;4800.00;4801.25;4799.75;4801.00;1234\n"
    bars = read_bars(text, ES)
    assert bars["ts_event"][0] == ns(2024, 1, 2, 14, 30)
    assert bars[["open", "high", "low", "close", "volume"]][0].tolist() == (
        19_200,
        19_205,
        19_199,
        19_204,
        1234,
    )
    assert read_bars(text, ES, stamp="start")["ts_event"][0] == ns(2024, 1, 2, 14, 31)
    path = tmp_path / "bars.txt"
    write_bars(path, bars, ES)
    assert path.read_bytes() == text
    assert np.array_equal(read_bars(path, ES), bars)


def test_daily_bars_round_trip(tmp_path):
    bars = np.zeros(2, dtype=BAR_DTYPE)
    bars["ts_event"] = [ns(2024, 1, 2), ns(2024, 1, 3)]
    bars["open"], bars["high"], bars["low"], bars["close"] = [10, 11], [12, 13], [9, 10], [11, 12]
    bars["volume"] = [100, 200]
    eur = generic_instrument("6E", "0.00005", "125000")
    path = tmp_path / "daily.txt"
    write_bars(path, bars, eur, daily=True)
    assert path.read_text().splitlines()[0] == "20240102;0.00050;0.00060;0.00045;0.00055;100"
    assert np.array_equal(read_bars(path, eur), bars)


def test_bar_line_with_missing_field_names_its_line():
    with pytest.raises(DecodeError) as info:
        read_bars(b"20240102 143100;1;1;1;1;1\n20240102 143200;1;1;1;1\n", ES)
    assert info.value.details["line"] == 2


def test_a_million_dump_lines_read_back_exactly():
    ev = random_depth(1_000_000, seed=5)
    buf = io.StringIO()
    write_depth_dump(buf, ev, ES, tz="America/Chicago")
    data = buf.getvalue().encode()
    back = read_depth_dump(data, ES, tz="America/Chicago").depth
    assert len(back) == 1_000_000
    assert np.array_equal(back["price"], ev["price"])
    assert np.array_equal(back["size"], ev["size"])
