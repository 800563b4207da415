"""The trading engine: NinjaTrader's unmanaged orders mirrored and driven by the bridge's
reports, positions and P&L, risk and sizing checked before any order leaves, trading
sessions, broker profiles. Transport-free: the server and the backtester feed it the same way.
"""

# The names load on first use (PEP 562), so importing one submodule costs no more than before.
from __future__ import annotations

from typing import TYPE_CHECKING

from orderflow.core.exports import lazy_exports

if TYPE_CHECKING:
    from orderflow.trading.brackets import BracketManager
    from orderflow.trading.broker import BrokerProfile, get_profile
    from orderflow.trading.desk import OrderDesk
    from orderflow.trading.host import StrategyHost
    from orderflow.trading.journal import Journal
    from orderflow.trading.orders import OrderCommand, OrderManager, OrderState
    from orderflow.trading.params import TradingParams
    from orderflow.trading.positions import PositionBook
    from orderflow.trading.risk import RiskManager, RiskParams
    from orderflow.trading.sessions import TradingSessions
    from orderflow.trading.strategy import SignalStrategy, Strategy, StrategyContext

_EXPORTS = {
    "BracketManager": "orderflow.trading.brackets",
    "BrokerProfile": "orderflow.trading.broker",
    "Journal": "orderflow.trading.journal",
    "OrderCommand": "orderflow.trading.orders",
    "OrderDesk": "orderflow.trading.desk",
    "OrderManager": "orderflow.trading.orders",
    "OrderState": "orderflow.trading.orders",
    "PositionBook": "orderflow.trading.positions",
    "RiskManager": "orderflow.trading.risk",
    "RiskParams": "orderflow.trading.risk",
    "SignalStrategy": "orderflow.trading.strategy",
    "Strategy": "orderflow.trading.strategy",
    "StrategyContext": "orderflow.trading.strategy",
    "StrategyHost": "orderflow.trading.host",
    "TradingParams": "orderflow.trading.params",
    "TradingSessions": "orderflow.trading.sessions",
    "get_profile": "orderflow.trading.broker",
}

__all__ = [
    "BracketManager",
    "BrokerProfile",
    "Journal",
    "OrderCommand",
    "OrderDesk",
    "OrderManager",
    "OrderState",
    "PositionBook",
    "RiskManager",
    "RiskParams",
    "SignalStrategy",
    "Strategy",
    "StrategyContext",
    "StrategyHost",
    "TradingParams",
    "TradingSessions",
    "get_profile",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
