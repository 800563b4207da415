"""`orderflow analyze` and `orderflow backtest` on NinjaTrader's own database files, as a
subprocess: the delta and cumulative delta of the hour of ES ticks against the text decode
beside the file, the minute bars and the ticks (on bars built from them) through the bars
backtest, and corrupt files refused with one line naming the file and the byte."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from tests.conftest import need
from tests.golden.test_ninjatrader_ncd import MINUTES, MINUTES_TXT, TICKS, TICKS_TXT, _columns
from tests.integration.test_backtest_cli import backtest, reconcile
from tests.integration.test_cli import run_cli


def _signed_volume_from_text() -> np.ndarray:
    """Each print's volume signed by the bid/ask rule on its own quote, from the text: at or
    above the ask a buy (+), else at or below the bid a sell (-)."""
    cols = _columns(TICKS_TXT, 8)
    price, bid, ask = (cols[c].astype(np.float64) for c in (1, 5, 6))
    vol = cols[7].astype(np.int64)
    assert np.all((price >= ask) | (price <= bid))
    return np.where(price >= ask, vol, -vol)


def test_analyze_ticks_delta_and_cumulative_delta_equal_the_text() -> None:
    out = json.loads(run_cli("analyze", str(need(TICKS)), "--instrument", "ES", "--json").stdout)
    signed = _signed_volume_from_text()
    cum = np.cumsum(signed)
    assert out["format"] == "ncd_ticks" and out["instrument"] == "ES"
    assert out["aggressor"] == "bid/ask rule"
    assert out["trades"] == 9_704 and out["volume"] == 12_291
    assert out["first_ts_event"] == "2020-06-23T22:00:00.011000000Z"  # 18:00 New York
    assert out["last_ts_event"] == "2020-06-23T22:59:59.726000000Z"
    s = out["session"]
    assert s["buy_volume"] == int(signed[signed > 0].sum())
    assert s["sell_volume"] == int(-signed[signed < 0].sum())
    assert s["buy_volume"] - s["sell_volume"] == int(signed.sum()) == 69  # the hour's delta
    assert out["cumulative_delta"] == {
        "final": int(cum[-1]),
        "low": min(0, int(cum.min())),
        "high": max(0, int(cum.max())),
    }


def test_analyze_reads_the_local_clock_in_the_zone_asked() -> None:
    out = json.loads(run_cli("analyze", str(need(TICKS)), "-i", "ES", "--tz", "UTC",
                             "--json").stdout)  # fmt: skip
    assert out["first_ts_event"] == "2020-06-23T18:00:00.011000000Z"
    assert out["volume"] == 12_291


def test_analyze_minute_bars() -> None:
    out = json.loads(run_cli("analyze", str(need(MINUTES)), "-i", "ES", "--json").stdout)
    vol = _columns(MINUTES_TXT, 6)[5].astype(np.int64)
    assert out["format"] == "ncd_minutes" and out["bars"] == 1_365
    assert out["volume"] == int(vol.sum())
    assert out["first_ts_event"] == "2020-06-23T04:00:00.000000000Z"  # 00:01 NY bar's open


def test_backtest_minute_bars_reconciles(tmp_path: Path) -> None:
    res = backtest(need(MINUTES), tmp_path / "bt", "--instrument", "ES")
    reconcile(res, tmp_path / "bt")
    assert res["files"][0]["kind"] == "bars" and res["stats"]["events"] == 1_365


def test_backtest_of_ticks_runs_on_bars_built_from_them_and_reconciles(tmp_path: Path) -> None:
    # ticks make no book: the bars backtest runs on minute bars built from them, and says so
    res = backtest(need(TICKS), tmp_path / "t", "--instrument", "ES")
    reconcile(res, tmp_path / "t")
    assert res["files"][0]["kind"] == "bars" and res["stats"]["events"] == 60
    assert res["stats"]["warnings"] == [
        "NQ202006231900.Last.ncd: ticks only (no book): backtested on 60 bars of 60 s built "
        "from 9,704 prints"
    ]


def _cli_error(path: Path) -> str:
    proc = run_cli("analyze", str(path), "-i", "ES", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_corrupt_files_give_one_line_naming_file_and_byte(tmp_path: Path) -> None:
    head = struct.pack("<Iddq", 1, 0.25, 3000.0, 637_284_960_000_000_000)
    rec = bytes([0b00_000_001, 0b001_00000, 0x05, 0x01])  # +5 ticks, volume 1
    cases = {
        "short.ncd": (head[:11], "short.ncd: byte 11: truncated header"),
        "cut.ncd": (head + rec + rec[:3], "cut.ncd: byte 32: record 2: truncated record"),
        "magic.ncd": (b"\x02" + head[1:] + rec, "magic.ncd: byte 0: not a NinjaTrader .ncd"),
    }
    for name, (data, expect) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        assert expect in _cli_error(p)
