"""What the order-flow exits and the structure targets read from the pipeline, for the
strategy's context (:class:`~orderflow.trading.strategy.StrategyContext`): the detectors' own
signals new since the last decision, the session profile's value area, the VWAP bands and the
book imbalance of the latest event groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orderflow.engine.pipeline import Pipeline
from orderflow.signals.model import Signal

__all__ = ["structure_fields", "value_area", "vwap_bands"]


def structure_fields(pipeline: Pipeline, detections: Sequence[Signal]) -> dict[str, Any]:
    """The context's ``detections``, ``value_area``, ``vwap_bands`` and ``imbalance_groups``.
    O(profile prices) for the value area, O(groups kept) for the imbalances."""
    return {
        "detections": tuple(detections),
        "value_area": value_area(pipeline),
        "vwap_bands": vwap_bands(pipeline),
        "imbalance_groups": tuple(pipeline.imbalances),
    }


def value_area(pipeline: Pipeline) -> tuple[int, int] | None:
    """(VAL, VAH) of the session profile, None before its first print. O(profile prices)."""
    prof = pipeline.profiles.current
    va = prof.value_area() if prof is not None else None
    return None if va is None else (va.val, va.vah)


def vwap_bands(pipeline: Pipeline) -> tuple[tuple[float, float], ...]:
    """(lower, upper) per VWAP band, float ticks; () before the first print."""
    vw = pipeline.vwap.value()
    bands = tuple(zip(vw.lower, vw.upper, strict=True)) if vw.volume else ()
    return tuple((float(lo), float(hi)) for lo, hi in bands)
