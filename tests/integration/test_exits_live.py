"""The order-flow exits live through the real server (the real client feeding ESH4 as the
bridge would and playing a simulated NinjaTrader account, as tests/integration/test_parity.py
does): the orders that close carry their exit's reason over the WebSocket, and the live path
and the NinjaTrader-view backtest send the same orders with the same reasons and get the same
fills, rules on."""

from __future__ import annotations

import pytest

from orderflow.backtest.run import BacktestOptions, run_backtest
from orderflow.trading.exits import ExitParams
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams
from orderflow.trading.strategy import StrategyParams
from tests.conftest import ES_MBO, need
from tests.integration.test_parity import RISK, live

pytestmark = pytest.mark.slow

RULES = ExitParams(absorption="exit", absorption_near_stop_ticks=8, delta_divergence=True,
                   divergence_min_delta=20, imbalance_flip=0.2)  # fmt: skip


def test_exit_reasons_reach_ninjatrader_and_equal_the_backtests() -> None:
    trading = TradingParams(risk=RiskParams(**RISK), strategy=StrategyParams(exits=RULES))  # type: ignore[arg-type]
    sim, _ = live(trading)
    opts = BacktestOptions(view="ninjatrader", flatten_at_end=False)
    res = run_backtest([need(ES_MBO)], trading=trading, options=opts)

    def order(c: object) -> tuple[object, ...]:
        return tuple(getattr(c, k) for k in ("op", "cid", "t", "action", "order_type",
                                             "quantity", "limit_ticks", "stop_ticks", "oco",
                                             "reason"))  # fmt: skip

    assert [order(c) for c in res.commands] == [order(c) for c in sim.commands]
    assert res.fills == sim.fills
    closing = [(c.cid, c.reason) for c in sim.commands if c.reason]
    assert closing == [
        ("of-1.flat1", "opposite_signal 2.19"),
        ("of-3.flat1", "absorption_against iceberg_l2 19236"),
        ("of-4.flat1", "delta_divergence 1 ticks 52 delta"),
    ]
    assert res.signals["exits"] == {"absorption_against": 1, "delta_divergence": 1, "open": 1,
                                    "opposite_signal": 1, "target": 1}  # fmt: skip
