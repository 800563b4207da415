"""All the trading engine's parameters in one value (``trading`` in the settings), and the
server's switches for it (``trading.server``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orderflow.core.errors import ParameterError
from orderflow.trading.broker import BrokerParams
from orderflow.trading.checks import flag
from orderflow.trading.reconcile import StartBehavior
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


@dataclass(frozen=True, slots=True)
class ServerTradingParams:
    """``trading.server`` in the settings."""

    #: the server's engine trades on its own: False switches it off, which means no strategy
    #: (``strategy`` is ignored) and no journal (``trading.journal`` is not opened). The engine
    #: itself always runs: every API order still goes through the order desk (the one record
    #: of orders, fills and positions) and the risk checks.
    enabled: bool = True
    account: str = "Sim101"  # NinjaTrader's account the desk's positions are kept under
    #: what reconciliation does with NinjaTrader's report (adopt, flatten, wait_until_flat)
    start_behavior: str = "adopt"
    #: a client that does not declare ``report: true`` in its hello: False trusts the desk's
    #: own picture (its gate opens at once); True keeps its gate shut (no report will come)
    require_report: bool = False
    use_sessions: bool = True  # the risk manager applies the CME session calendar
    #: run the reference strategy (``trading.strategy``) on each bridge client's instruments:
    #: its orders go to that client. Off by default: a server trades only when told to.
    strategy: bool = False
    #: the engine's clock: ``wall`` (live: the server's time) or ``data`` (the latest event
    #: time the client's data carried: NinjaTrader's Market Replay / Playback connection and
    #: ``orderflow run``, where the data's day is not today; a stale book cannot trip then)
    clock: str = "wall"

    def __post_init__(self) -> None:
        flag(self, "enabled", "require_report", "use_sessions", "strategy")
        if self.start_behavior not in [str(b) for b in StartBehavior]:
            raise ParameterError("start_behavior must be adopt, flatten or wait_until_flat")
        if self.clock not in ("wall", "data"):
            raise ParameterError("clock must be wall or data")
