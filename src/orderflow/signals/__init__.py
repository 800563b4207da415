"""Signals: detectors turn order-flow patterns into signals with evidence; accumulation; quality.

* :mod:`.model` — the immutable :class:`Signal` (direction, score, detector, evidence).
* :mod:`.detectors_l3` — with order ids: iceberg, large lots, spoof-like pulls.
* :mod:`.detectors_l2` — price levels only: absorption, sweeps, exhaustion, iceberg estimates.
* :mod:`.accumulate` — decaying per-direction scores behind filters.
* :mod:`.evaluate` — hit rate and forward returns per detector, with 95% intervals.
"""

from orderflow.signals.accumulate import (
    AccumulatedSignal,
    Accumulator,
    AccumulatorParams,
    accumulate,
    bar_directions,
)
from orderflow.signals.detectors_l2 import L2Detector, L2Params, detect_l2, mbo_trades
from orderflow.signals.detectors_l3 import L3Detector, L3Params, detect_l3
from orderflow.signals.evaluate import EvaluationReport, evaluate, evaluate_stream, format_table
from orderflow.signals.model import Signal

__all__ = [
    "AccumulatedSignal",
    "Accumulator",
    "AccumulatorParams",
    "EvaluationReport",
    "L2Detector",
    "L2Params",
    "L3Detector",
    "L3Params",
    "Signal",
    "accumulate",
    "bar_directions",
    "detect_l2",
    "detect_l3",
    "evaluate",
    "evaluate_stream",
    "format_table",
    "mbo_trades",
]
