"""``orderflow backtest`` on NinjaTrader's own tick file (``.ncd``, an hour of ES ticks): the
ticks alone make no book, so the bars backtest runs on time bars built from them (``--bar-period``,
1 minute by default), each bar the open, high, low, close and volume of that minute's prints as
the decoded text beside the file lists them; a period that is no time period is refused naming
the option."""

from __future__ import annotations

import csv
import json
from collections import OrderedDict
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from orderflow.backtest.tick_bars import bars_from_ticks
from orderflow.io.stream import open_chunks
from tests.commands import Command, Ran, Shared, in_one_process_by_name, run_cli
from tests.conftest import DATA_DIR, need

NCD = DATA_DIR / "ninjatrader" / "NQ202006231900.Last.ncd"
TEXT = DATA_DIR / "ninjatrader" / "NQ202006231900.Last.txt"


def _minutes_from_text(seconds: int) -> list[tuple[float, float, float, float, int]]:
    """OHLCV per period of the decoded ticks (local times; the hour begins on a period)."""
    out: OrderedDict[int, list] = OrderedDict()
    for line in need(TEXT).read_text().splitlines():
        t, price, *_, volume = line.split("\t")
        hh, mm, ss = t[11:19].split(":")
        k = (int(hh) * 3600 + int(mm) * 60 + int(ss)) // seconds
        p, v = float(price), int(volume)
        bar = out.get(k)
        if bar is None:
            out[k] = [p, p, p, p, v]
        else:
            bar[1], bar[2], bar[3], bar[4] = max(bar[1], p), min(bar[2], p), p, bar[4] + v
    return [tuple(b) for b in out.values()]  # type: ignore[misc]


@pytest.mark.parametrize("seconds", [60, 300])
def test_the_bars_built_from_the_ticks_equal_the_decoded_text(seconds: int) -> None:
    inst, kind, chunks = open_chunks(need(NCD), 1000)
    assert kind == "trades"
    bars, prints = bars_from_ticks(chunks, seconds)
    assert prints == 9_704  # the README's count
    px = inst.to_price
    got = [(px(int(b["open"])), px(int(b["high"])), px(int(b["low"])), px(int(b["close"])),
            int(b["volume"])) for b in bars]  # fmt: skip
    assert got == _minutes_from_text(seconds)
    assert sum(int(b["volume"]) for b in bars) == 12_291  # the README's total
    opens = bars["ts_event"].tolist()
    assert all(b - a == seconds * 1_000_000_000 for a, b in pairwise(opens))
    assert opens[0] == 1_592_949_600_000_000_000  # 2020-06-23 18:00 New York = 22:00 UTC


def test_orderflow_backtest_runs_a_tick_ncd_on_bars_built_from_its_ticks(
    tmp_path: Path, shared: Shared
) -> None:
    out = tmp_path / "bt"
    proc = run_cli("backtest", "--data", str(need(NCD)), "--out", str(out), "--json")
    result = json.loads(proc.stdout)
    stats, (file,) = result["stats"], result["files"]
    assert file["kind"] == "bars" and file["events"] == 60
    assert stats["warnings"] == [
        "NQ202006231900.Last.ncd: ticks only (no book): backtested on 60 bars of 60 s built "
        "from 9,704 prints"
    ]
    assert stats["decisions"] == 60
    with (out / "trades.csv").open() as f:
        trades = list(csv.DictReader(f))
    assert len(trades) == stats["trades"] > 0
    # market entries fill at a bar's open (the bars backtest's rule): on the hour's prices
    opens = {round(o, 2) for o, *_ in _minutes_from_text(60)}
    assert all(float(t["avg_entry"]) in opens for t in trades)
    five, *_ = periods(shared)
    assert five.returncode == 0, five.stderr
    assert json.loads(five.stdout)["files"][0]["events"] == 12


BAD_PERIODS = ("500t", "0m", "2d", "x")


def periods(shared: Shared) -> list[Ran]:
    """The backtest with ``--bar-period 5m``, then with each of :data:`BAD_PERIODS`, in turn in
    one process (tests/commands.py; the backtest above is the command's own process), once per
    test run for the two tests that read them."""

    def run(folder: Path) -> list[list[Any]]:
        cmds = {"5m": Command(("backtest", "--data", str(NCD), "--out", str(folder / "b5"),
                               "--bar-period", "5m", "--json"))}  # fmt: skip
        cmds |= {bad: Command(("backtest", "--data", str(NCD), "--out", str(folder / "x"),
                               "--bar-period", bad)) for bad in BAD_PERIODS}  # fmt: skip
        return list(in_one_process_by_name(cmds).values())

    need(NCD)
    return [Ran(*r) for r in shared.get("tick backtest periods", run)]


def test_a_bar_period_that_is_no_time_period_is_refused(shared: Shared) -> None:
    for bad, proc in zip(BAD_PERIODS, periods(shared)[1:], strict=True):
        assert proc.returncode != 0 and "--bar-period" in proc.stderr + proc.stdout, bad
