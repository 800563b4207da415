"""Backtests: the simulated venue (queues, latency, costs) that stands in for NinjaTrader."""

from orderflow.backtest.latency import LatencyModel, md_latency_from_records
from orderflow.backtest.venue import Delivery, SimOrder, SimVenue

__all__ = ["Delivery", "LatencyModel", "SimOrder", "SimVenue", "md_latency_from_records"]
