"""All the trading engine's parameters in one value (``trading`` in the settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orderflow.trading.broker import BrokerParams
from orderflow.trading.risk import RiskParams
from orderflow.trading.sessions import SessionParams
from orderflow.trading.sizing import SizingParams
from orderflow.trading.strategy import StrategyParams


@dataclass(frozen=True, slots=True)
class TradingParams:
    risk: RiskParams = field(default_factory=RiskParams)
    sizing: SizingParams = field(default_factory=SizingParams)
    sessions: SessionParams = field(default_factory=SessionParams)
    broker: BrokerParams = field(default_factory=BrokerParams)
    strategy: StrategyParams = field(default_factory=StrategyParams)
