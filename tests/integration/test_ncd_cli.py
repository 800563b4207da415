"""`orderflow analyze` and `orderflow backtest` on NinjaTrader's own database files, as a
subprocess: the delta and cumulative delta of the hour of ES ticks against the text decode
beside the file, the minute bars and the ticks (on bars built from them) through the bars
backtest, and corrupt files refused with one line naming the file and the byte.

The commands run in turn in one process (tests/commands.py; a process each paid the
interpreter's start, the imports and the kernels' load eight times), once per test run for the
tests that read them; one corrupt file is refused by a process of its own as well."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from tests.commands import Command, Ran, Shared, in_one_process_by_name, run_cli
from tests.conftest import need
from tests.golden.test_ninjatrader_ncd import MINUTES, MINUTES_TXT, TICKS, TICKS_TXT, _columns
from tests.integration.test_backtest_cli import reconcile

_HEAD = struct.pack("<Iddq", 1, 0.25, 3000.0, 637_284_960_000_000_000)
_REC = bytes([0b00_000_001, 0b001_00000, 0x05, 0x01])  # +5 ticks, volume 1
#: corrupt files: their bytes and the line that refuses them
CORRUPT = {
    "short.ncd": (_HEAD[:11], "short.ncd: byte 11: truncated header"),
    "cut.ncd": (_HEAD + _REC + _REC[:3], "cut.ncd: byte 32: record 2: truncated record"),
    "magic.ncd": (b"\x02" + _HEAD[1:] + _REC, "magic.ncd: byte 0: not a NinjaTrader .ncd"),
}


def _answers(folder: Path) -> dict[str, Any]:
    """The corrupt files written in ``folder``, then the commands in one process: each one's
    exit status, stdout and stderr by its name; the backtests' reports in ``folder``."""
    es = ("--instrument", "ES")
    cmds = {
        "ticks": ("analyze", str(TICKS), *es, "--json"),
        "ticks utc": ("analyze", str(TICKS), "-i", "ES", "--tz", "UTC", "--json"),
        "minutes": ("analyze", str(MINUTES), "-i", "ES", "--json"),
        "backtest minutes": ("backtest", "--data", str(MINUTES), "--out", str(folder / "bt"),
                             "--json", *es),
        "backtest ticks": ("backtest", "--data", str(TICKS), "--out", str(folder / "t"),
                           "--json", *es),
    }  # fmt: skip
    for name, (data, _) in CORRUPT.items():
        (folder / name).write_bytes(data)
        cmds[name] = ("analyze", str(folder / name), "-i", "ES")
    ran = in_one_process_by_name({name: Command(args) for name, args in cmds.items()})
    return {"folder": str(folder), "ran": ran}


def answer(shared: Shared, name: str, check: bool = True) -> Ran:
    """What the command ``name`` of :func:`_answers` did."""
    need(TICKS), need(MINUTES)
    got = Ran(*shared.get("ncd answers", _answers)["ran"][name])
    if check:
        assert got.returncode == 0, got.stderr
    return got


def folder(shared: Shared) -> Path:
    return Path(shared.get("ncd answers", _answers)["folder"])


def _signed_volume_from_text() -> np.ndarray:
    """Each print's volume signed by the bid/ask rule on its own quote, from the text: at or
    above the ask a buy (+), else at or below the bid a sell (-)."""
    cols = _columns(TICKS_TXT, 8)
    price, bid, ask = (cols[c].astype(np.float64) for c in (1, 5, 6))
    vol = cols[7].astype(np.int64)
    assert np.all((price >= ask) | (price <= bid))
    return np.where(price >= ask, vol, -vol)


def test_analyze_ticks_delta_and_cumulative_delta_equal_the_text(shared: Shared) -> None:
    out = json.loads(answer(shared, "ticks").stdout)
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


def test_analyze_reads_the_local_clock_in_the_zone_asked(shared: Shared) -> None:
    out = json.loads(answer(shared, "ticks utc").stdout)
    assert out["first_ts_event"] == "2020-06-23T18:00:00.011000000Z"
    assert out["volume"] == 12_291


def test_analyze_minute_bars(shared: Shared) -> None:
    out = json.loads(answer(shared, "minutes").stdout)
    vol = _columns(MINUTES_TXT, 6)[5].astype(np.int64)
    assert out["format"] == "ncd_minutes" and out["bars"] == 1_365
    assert out["volume"] == int(vol.sum())
    assert out["first_ts_event"] == "2020-06-23T04:00:00.000000000Z"  # 00:01 NY bar's open


def test_backtest_minute_bars_reconciles(shared: Shared) -> None:
    res = json.loads(answer(shared, "backtest minutes").stdout)
    reconcile(res, folder(shared) / "bt")
    assert res["files"][0]["kind"] == "bars" and res["stats"]["events"] == 1_365


def test_backtest_of_ticks_runs_on_bars_built_from_them_and_reconciles(shared: Shared) -> None:
    # ticks make no book: the bars backtest runs on minute bars built from them, and says so
    res = json.loads(answer(shared, "backtest ticks").stdout)
    reconcile(res, folder(shared) / "t")
    assert res["files"][0]["kind"] == "bars" and res["stats"]["events"] == 60
    assert res["stats"]["warnings"] == [
        "NQ202006231900.Last.ncd: ticks only (no book): backtested on 60 bars of 60 s built "
        "from 9,704 prints"
    ]


def _one_line(proc: Ran | subprocess.CompletedProcess[str]) -> str:
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_corrupt_files_give_one_line_naming_file_and_byte(shared: Shared, tmp_path: Path) -> None:
    for name, (_, expect) in CORRUPT.items():
        assert expect in _one_line(answer(shared, name, check=False))
    # and the process's own exit status and one line, for one of them
    (tmp_path / "short.ncd").write_bytes(CORRUPT["short.ncd"][0])
    proc = run_cli("analyze", str(tmp_path / "short.ncd"), "-i", "ES", check=False)
    assert CORRUPT["short.ncd"][1] in _one_line(proc)
