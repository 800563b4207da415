"""The backtest on ESH4 with a budget too small for one ES: every entry is sized into MES on
the ES book, with the count the sizing formula gives and the micro's costs, and the report's
trades name the contract traded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orderflow.backtest.run import run_backtest
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams
from orderflow.trading.sizing import SizingParams
from orderflow.trading.strategy import StrategyParams
from tests.conftest import ES_MBO, need

pytestmark = pytest.mark.slow

#: $60 a trade, the default 8-tick stop: ES 8 x 12.50 + 5.58 = 105.58 > 60 (none);
#: MES 8 x 1.25 + 2 x (0.35 + 0.35 + 0.05 + 0.02) = 11.54, floor(60 / 11.54) = 5
MICRO = TradingParams(
    risk=RiskParams(max_position=10, max_order_size=10),
    sizing=SizingParams(method="risk", risk_per_trade=60.0),
    strategy=StrategyParams(max_position=10),
)


def test_a_small_budget_trades_five_mes_on_the_es_book() -> None:
    res = run_backtest([need(ES_MBO)], trading=MICRO)
    entries = [c for c in res.commands if c.op == "submit" and "." not in c.cid]
    assert [(c.instrument, c.quantity) for c in entries] == [("MESH4", 5)] * 7
    assert {c.instrument for c in res.commands} == {"MESH4"}
    assert {f.instrument for f in res.fills} == {"MESH4"}
    assert all(f.commission == Decimal("0.35") * f.quantity for f in res.fills)
    assert all(f.fees == Decimal("0.42") * f.quantity for f in res.fills)
    trades = res.trades
    assert [(t["instrument"], t["entry_quantity"]) for t in trades] == [("MESH4", 5)] * 7
    # gross in MES points: $1.25 a tick
    assert [t["gross"] for t in trades] == [-56.25, 17.5, -37.5, 12.5, -25.0, -8.75, 0.0]
    s = res.stats
    assert (s["trades"], s["net_pnl"], s["commissions"], s["fees"]) == (7, -151.4, 24.5, 29.4)
