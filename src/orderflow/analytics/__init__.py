"""Order-flow analytics: trades and bars, book metrics, footprint, delta, VWAP, profile, clusters.

Inputs are the normalised streams (``model.dtypes``) and the books' per-boundary depth records
(``book.common.DepthRecord``); every metric is updated per event group and readable at any time,
with the same code live and in replay. Nothing here does I/O or reads the wall clock.
"""

# The names load on first use (PEP 562), so importing one submodule costs no more than before.
from __future__ import annotations

from typing import TYPE_CHECKING

from orderflow.core.exports import lazy_exports

if TYPE_CHECKING:
    from orderflow.analytics.bars import BarSeries, BarSpec, MultiBars
    from orderflow.analytics.book_metrics import BookMetrics
    from orderflow.analytics.clusters import LiquidityClusterTracker, VolumeClusterTracker
    from orderflow.analytics.delta import CumulativeDelta
    from orderflow.analytics.footprint import FootprintSeries
    from orderflow.analytics.momentum import Momentum
    from orderflow.analytics.profile import VolumeProfile
    from orderflow.analytics.trades import AggressorClassifier, trades_from_mbo
    from orderflow.analytics.vwap import VwapTracker

_EXPORTS = {
    "AggressorClassifier": "orderflow.analytics.trades",
    "BarSeries": "orderflow.analytics.bars",
    "BarSpec": "orderflow.analytics.bars",
    "BookMetrics": "orderflow.analytics.book_metrics",
    "CumulativeDelta": "orderflow.analytics.delta",
    "FootprintSeries": "orderflow.analytics.footprint",
    "LiquidityClusterTracker": "orderflow.analytics.clusters",
    "Momentum": "orderflow.analytics.momentum",
    "MultiBars": "orderflow.analytics.bars",
    "VolumeClusterTracker": "orderflow.analytics.clusters",
    "VolumeProfile": "orderflow.analytics.profile",
    "VwapTracker": "orderflow.analytics.vwap",
    "trades_from_mbo": "orderflow.analytics.trades",
}

__all__ = [
    "AggressorClassifier",
    "BarSeries",
    "BarSpec",
    "BookMetrics",
    "CumulativeDelta",
    "FootprintSeries",
    "LiquidityClusterTracker",
    "Momentum",
    "MultiBars",
    "VolumeClusterTracker",
    "VolumeProfile",
    "VwapTracker",
    "trades_from_mbo",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
