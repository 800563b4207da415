"""A long run keeps its signal store at its bound: hours of the SIMULATED market through the
pipeline leave at most ``signals_kept`` signals and accumulated signals in memory while every
count goes on, and a backtest with a small bound decides exactly as one that keeps every
signal; a decision further behind than the bound is counted, never silently short."""

from __future__ import annotations

import numpy as np

from orderflow.backtest.options import BacktestOptions
from orderflow.backtest.run import run_sources
from orderflow.engine.pipeline import Pipeline, PipelineParams
from orderflow.io.simulated import simulated_source
from orderflow.research.sweep import TIMING_KEYS

KEPT = 64
#: the backtests' bound: a 100-record decision never has that many new signals
SMALL = 16


def _stats(result: object) -> dict[str, object]:
    return {k: v for k, v in result.stats.items() if k not in TIMING_KEYS}  # type: ignore[attr-defined]


def test_six_simulated_hours_keep_the_signal_store_at_its_bound() -> None:
    _, opened = simulated_source(6.0, 65_536, activity=3.0)
    bounded = Pipeline(opened.instrument, "mbo", PipelineParams(signals_kept=KEPT))
    full = Pipeline(opened.instrument, "mbo", PipelineParams(signals_kept=None))
    most = 0
    for chunk in opened.chunks:
        bounded.process(chunk.records)
        full.process(chunk.records)
        most = max(most, len(bounded.signals._ring), len(bounded.accumulated._ring))
        # a reader keeping up (one per chunk) gets what the whole history gives it
        assert bounded.signals.latest(KEPT) == full.signals[-KEPT:]
    assert most == KEPT
    assert len(full.signals) > 20 * KEPT and len(full.accumulated) > 10 * KEPT
    assert len(bounded.signals._ring) == len(bounded.accumulated._ring) == KEPT
    for b, f in ((bounded.signals, full.signals), (bounded.accumulated, full.accumulated)):
        assert (len(b), b.long, b.short) == (
            len(f),
            sum(a.direction > 0 for a in f),
            sum(a.direction < 0 for a in f),
        )
        assert b.since(len(f) - KEPT) == f[-KEPT:]
    assert bounded.signal_counts == full.signal_counts


def _backtest(kept: int | None, decide: str | int) -> object:
    label, opened = simulated_source(1.0, 16_384, activity=3.0)
    opts = BacktestOptions(chunk_records=16_384, decide_every=decide)
    return run_sources([(label, opened)], PipelineParams(signals_kept=kept), options=opts)


def test_a_backtest_with_a_small_bound_decides_as_one_keeping_every_signal() -> None:
    small, whole = _backtest(SMALL, 100), _backtest(None, 100)
    assert _stats(small) == _stats(whole)
    assert small.signals == whole.signals  # type: ignore[attr-defined]
    assert small.fills == whole.fills and small.commands == whole.commands  # type: ignore[attr-defined]
    assert small.signals["accumulated"] > 5 * SMALL  # type: ignore[attr-defined]
    assert small.stats["trades"] >= 1  # type: ignore[attr-defined]
    assert "signals_not_kept" not in small.signals["host"]  # type: ignore[attr-defined]


def test_a_decision_further_behind_than_the_bound_counts_what_it_did_not_see() -> None:
    res = _backtest(4, "chunk")
    lost = res.signals["host"].get("signals_not_kept", 0)  # type: ignore[attr-defined]
    assert lost > 0
    assert np.isfinite(res.stats["net_pnl"])  # type: ignore[attr-defined]
