"""Golden: NinjaTrader's own database files (NT8 ``.ncd`` ticks and minute bars, NT7 ``.ntd``
ticks) decoded record by record against the text decodes that sit beside them.

The files (``../shared/data/ninjatrader``, read in place) are named NQ but hold ES prices
(3,113 on 2020-06-23; NQ was near 10,100): they are read as ES. Their clock is the exporting
PC's, US Eastern (the hour of ticks starts at the 18:00 Globex reopen): in June and August
that is UTC-4, so every expected ``ts_event`` is the text's wall time plus four hours,
computed here without the reader's own zone code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orderflow.io import ncd
from orderflow.io.formats import detect_format, load_stream
from orderflow.model.enums import Side
from orderflow.model.instruments import get_instrument
from tests.conftest import DATA_DIR, need

NT_DIR = DATA_DIR / "ninjatrader"
TICKS = NT_DIR / "NQ202006231900.Last.ncd"
TICKS_TXT = NT_DIR / "NQ202006231900.Last.txt"
MINUTES = NT_DIR / "NQMinutes.Last.ncd"
MINUTES_TXT = NT_DIR / "NQMinutes.txt"
NTD = NT_DIR / "ntdInput.ntd"
NTD_TXT = NT_DIR / "ntdOutput.txt"

EDT_NS = 4 * 3600 * 1_000_000_000
MINUTE_NS = 60_000_000_000
ES = get_instrument("ES")


def _columns(path: Path, fields: int) -> list[np.ndarray]:
    """The text decode's tab-separated columns (a UTF-8 BOM dropped), as string arrays."""
    text = need(path).read_text(encoding="utf-8-sig")
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    assert all(len(r) == fields for r in rows)
    return [np.array(c) for c in zip(*rows, strict=True)]


def _wall_ns(col: np.ndarray) -> np.ndarray:
    return np.char.replace(col, " ", "T").astype("datetime64[ns]").astype(np.int64)


def _ticks(col: np.ndarray, tick: float) -> np.ndarray:
    """Decimal prices to ticks, asserting each is exactly on the grid."""
    x = col.astype(np.float64) / tick
    out = np.rint(x)
    assert np.array_equal(out, x)
    return out.astype(np.int64)


def test_ncd_ticks_equal_the_text_record_by_record() -> None:
    got = ncd.read_ncd_ticks(need(TICKS), ES)
    cols = _columns(TICKS_TXT, 8)
    t, q = got.trades, got.quotes
    assert len(t) == len(q) == len(cols[0]) == 9_704
    assert got.tick_size == "0.25"
    assert np.array_equal(t["ts_event"], _wall_ns(cols[0]) + EDT_NS)
    assert np.array_equal(t["ts_recv"], t["ts_event"])
    for c in (1, 2, 3, 4):  # the text repeats the price four times
        assert np.array_equal(t["price"], _ticks(cols[c], 0.25))
    assert np.array_equal(q["bid_price"], _ticks(cols[5], 0.25))
    assert np.array_equal(q["ask_price"], _ticks(cols[6], 0.25))
    assert np.array_equal(q["ts_event"], t["ts_event"])
    assert np.array_equal(t["size"], cols[7].astype(np.int64))
    assert np.array_equal(t["sequence"], np.arange(1, 9_705))
    assert t["price"][0] == 12_453  # 3,113.25: the header's first price


def test_ncd_ticks_aggressor_by_the_bid_ask_rule_matches_the_readme() -> None:
    got = ncd.read_ncd_ticks(need(TICKS), ES)
    t, q = got.trades, got.quotes
    at_bid = t["price"] <= q["bid_price"]
    at_ask = t["price"] >= q["ask_price"]
    assert int(t["size"].sum()) == 12_291
    assert int(at_bid.sum()) == 4_914 and int(at_ask.sum()) == 4_791
    assert np.all(at_bid | at_ask)  # every print at the bid or the ask
    locked = at_bid & at_ask  # one locked quote: at the ask first, a buyer
    assert int(locked.sum()) == 1
    assert np.all(t["side"][at_ask] == Side.BID)
    assert np.all(t["side"][at_bid & ~locked] == Side.ASK)


def test_ncd_minutes_equal_the_text_record_by_record() -> None:
    got = ncd.read_ncd_minutes(need(MINUTES), ES)
    cols = _columns(MINUTES_TXT, 6)
    b = got.bars
    assert len(b) == len(cols[0]) == 1_365
    # NinjaTrader stamps a bar at its close; ts_event is the bar's open
    assert np.array_equal(b["ts_event"], _wall_ns(cols[0]) + EDT_NS - MINUTE_NS)
    for c, key in enumerate(("open", "high", "low", "close"), start=1):
        assert np.array_equal(b[key], _ticks(cols[c], 0.25)), key
    assert np.array_equal(b["volume"], cols[5].astype(np.int64))
    assert np.all(b["high"] >= np.maximum(b["open"], b["close"]))
    assert np.all(b["low"] <= np.minimum(b["open"], b["close"]))


def test_ntd_ticks_equal_the_text_record_by_record() -> None:
    cl = get_instrument("CL")
    got = ncd.read_ntd_ticks(need(NTD), cl)
    cols = _columns(NTD_TXT, 3)
    t = got.trades
    assert len(t) == len(cols[0]) == 10_966
    assert len(got.quotes) == 0
    assert np.array_equal(t["ts_event"], _wall_ns(cols[0]) + EDT_NS)
    assert np.array_equal(t["price"], _ticks(cols[1], 0.01))
    assert np.array_equal(t["size"], cols[2].astype(np.int64))
    assert np.all(t["side"] == Side.NONE)


def test_formats_and_load_stream_know_them() -> None:
    assert detect_format(need(TICKS)) == "ncd_ticks"
    assert detect_format(need(MINUTES)) == "ncd_minutes"
    assert detect_format(need(NTD)) == "ntd_ticks"
    ticks = load_stream(TICKS, ES)
    assert (ticks.kind, ticks.source_format, len(ticks.array)) == ("trades", "ncd_ticks", 9_704)
    assert len(ticks.extra["quotes"]) == 9_704
    bars = load_stream(MINUTES)  # instrument from the name: NQ (same tick as the ES it holds)
    assert (bars.kind, bars.instrument.symbol, len(bars.array)) == ("bars", "NQ", 1_365)
    utc = load_stream(MINUTES, ES, tz="UTC")  # the zone is an option
    assert np.array_equal(utc.array["ts_event"], bars.array["ts_event"] - EDT_NS)


@pytest.mark.parametrize("path", [TICKS, MINUTES])
def test_instrument_from_name(path: Path) -> None:
    inst = ncd.instrument_from_path(need(path))
    assert inst is not None and inst.symbol == "NQ"
