"""Signals: detectors turn order-flow patterns into signals with evidence; accumulation; quality.

* :mod:`.model` — the immutable :class:`Signal` (direction, score, detector, evidence).
* :mod:`.detectors_l3` — with order ids: iceberg, large lots, spoof-like pulls.
* :mod:`.detectors_l2` — price levels only: absorption, sweeps, exhaustion, iceberg estimates.
* :mod:`.accumulate` — decaying per-direction scores behind filters.
* :mod:`.evaluate` — hit rate and forward returns per detector, with 95% intervals.
"""

# The names load on first use (PEP 562), so importing one submodule (the parameters that the
# settings read, say) does not load every detector and its kernels.
from __future__ import annotations

from typing import TYPE_CHECKING

from orderflow.core.exports import lazy_exports

if TYPE_CHECKING:
    from orderflow.signals.accumulate import (
        AccumulatedSignal,
        Accumulator,
        accumulate,
        bar_directions,
    )
    from orderflow.signals.detectors_l2 import L2Detector, detect_l2, mbo_trades
    from orderflow.signals.detectors_l3 import L3Detector, detect_l3
    from orderflow.signals.evaluate import EvaluationReport, evaluate, evaluate_stream, format_table
    from orderflow.signals.model import Signal
    from orderflow.signals.params import AccumulatorParams, L2Params, L3Params

_EXPORTS = {
    "AccumulatedSignal": "orderflow.signals.accumulate",
    "Accumulator": "orderflow.signals.accumulate",
    "AccumulatorParams": "orderflow.signals.params",
    "EvaluationReport": "orderflow.signals.evaluate",
    "L2Detector": "orderflow.signals.detectors_l2",
    "L2Params": "orderflow.signals.params",
    "L3Detector": "orderflow.signals.detectors_l3",
    "L3Params": "orderflow.signals.params",
    "Signal": "orderflow.signals.model",
    "accumulate": "orderflow.signals.accumulate",
    "bar_directions": "orderflow.signals.accumulate",
    "detect_l2": "orderflow.signals.detectors_l2",
    "detect_l3": "orderflow.signals.detectors_l3",
    "evaluate": "orderflow.signals.evaluate",
    "evaluate_stream": "orderflow.signals.evaluate",
    "format_table": "orderflow.signals.evaluate",
    "mbo_trades": "orderflow.signals.detectors_l2",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
