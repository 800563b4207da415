"""CME 6EH4 one-minute bars: the README's figures, tick conversion, open stamps, errors."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import numpy as np
import pytest

from orderflow.core.errors import DecodeError, OffTickError
from orderflow.io.cme_bars import instrument_for, read_cme_bars
from tests.conftest import CME_BARS, need


def ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 1_000_000_000


def test_6eh4_file_matches_its_readme():
    result = read_cme_bars(need(CME_BARS))
    bars, inst = result.bars, result.instrument
    assert (inst.symbol, inst.contract, inst.tick_size, inst.point_value) == (
        "6E",
        "6EH4",
        "0.00005",
        "125000",
    )
    assert len(bars) == 29_996
    assert int(bars["volume"].sum()) == 4_310_578
    assert inst.format(int(bars["low"].min())) == "1.08100"
    assert inst.format(int(bars["high"].max())) == "1.10785"
    assert (bars["high"] >= np.maximum(bars["open"], bars["close"])).all()
    assert (bars["low"] <= np.minimum(bars["open"], bars["close"])).all()
    assert len(np.unique(bars["ts_event"])) == len(bars)


def test_bars_are_stamped_at_their_open():
    bars = read_cme_bars(need(CME_BARS)).bars
    # file's first stamp 2024-01-01 23:01 is the END of the 23:00 bar (the session opens 23:00)
    assert bars["ts_event"][0] == ns(2024, 1, 1, 23, 0)
    assert bars["ts_event"][-1] == ns(2024, 1, 31, 23, 58)
    assert bars["open"][0] == 22_152  # 1.1076 / 0.00005


def test_instrument_for_registry_and_unknown_contracts():
    assert instrument_for("ESH4").tick_size == "0.25"
    with pytest.raises(DecodeError):
        instrument_for("ZZH4")


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        ("2024-01-01 23:01:00,1.1076,1.1078,1.1076,1.1078\n", DecodeError, "line"),
        ("2024-01-01 23:01:00,1.10761,1.1078,1.1076,1.1078,5\n", OffTickError, "open"),
        ("2024-01-01 23:01:00,1.1076,1.1078,1.1076,abc,5\n", DecodeError, "close"),
        ("2024-13-01 23:01:00,1.1076,1.1078,1.1076,1.1078,5\n", DecodeError, "timestamp_utc"),
    ],
)
def test_malformed_rows_are_errors_naming_the_field(tmp_path, body, error, field):
    path = tmp_path / "6EH4.XCME_1min_bars_x.csv.gz"
    path.write_bytes(gzip.compress(("timestamp_utc,open,high,low,close,volume\n" + body).encode()))
    with pytest.raises(error) as info:
        read_cme_bars(path)
    assert info.value.details["field"] == field


def test_missing_header_is_an_error(tmp_path):
    path = tmp_path / "6EH4.csv"
    path.write_text("2024-01-01 23:01:00,1.1076,1.1078,1.1076,1.1078,5\n")
    with pytest.raises(DecodeError, match="line 1"):
        read_cme_bars(path)
