"""What the order-flow exits and the structure targets read from the pipeline, for the
strategy's context (:class:`~orderflow.trading.strategy.StrategyContext`): the detectors' own
signals new since the last decision, the session profile's value area, the VWAP bands and the
book imbalance of the latest event groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orderflow.engine.pipeline import Pipeline
from orderflow.signals.model import Signal

__all__ = ["structure_fields"]


def structure_fields(pipeline: Pipeline, detections: Sequence[Signal]) -> dict[str, Any]:
    """The context's ``detections``, ``value_area``, ``vwap_bands`` and ``imbalance_groups``.
    O(profile prices) for the value area, O(groups kept) for the imbalances."""
    prof = pipeline.profiles.current
    va = prof.value_area() if prof is not None else None
    vw = pipeline.vwap.value()
    bands = tuple(zip(vw.lower, vw.upper, strict=True)) if vw.volume else ()
    return {
        "detections": tuple(detections),
        "value_area": None if va is None else (va.val, va.vah),
        "vwap_bands": tuple((float(lo), float(hi)) for lo, hi in bands),
        "imbalance_groups": tuple(pipeline.imbalances),
    }
