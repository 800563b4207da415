"""A bars venue takes the micro of its standard (the strategy's sizing may choose it): it
fills on the same bars at the micro's costs, the fill named after the micro, and the host
counts it in its position."""

from __future__ import annotations

from decimal import Decimal

from orderflow.backtest.bars import BarDriver
from orderflow.backtest.options import OrderLog
from orderflow.backtest.venue import SimVenue
from orderflow.model.instruments import get_instrument
from orderflow.trading.host import StrategyHost
from orderflow.trading.node import TradingNode
from orderflow.trading.orders import OrderAction, OrderType
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams
from orderflow.trading.strategy import SignalStrategy

T = 1_703_545_200_000_000_000


def test_a_micro_order_fills_on_the_standards_bars_at_its_own_costs() -> None:
    params = TradingParams(risk=RiskParams(max_position=10, max_order_size=10, book_stale_ms=0))
    host = StrategyHost(get_instrument("ESH4"), SignalStrategy(params.strategy), params)
    assert host.keys == ("ESH4", "MESH4")
    node = TradingNode.for_host(host)
    log = OrderLog()
    venue = SimVenue(host.instrument, "bars", broker=host.broker, account=host.desk.orders.account)
    drv = BarDriver(node, host, venue, log)
    micro = host.desk.orders.submit(T, "MESH4", OrderAction.BUY, OrderType.MARKET, 3, cid="m1")
    std = host.desk.orders.submit(T, "ESH4", OrderAction.BUY, OrderType.MARKET, 1, cid="e1")
    drv.send([micro, std])
    venue.on_bar(T + 60_000_000_000, T + 90_000_000_000, 19240, 19244, 19238, drv.answer)
    got = {f.cid: f for f in log.fills}
    assert (got["m1"].instrument, got["m1"].price_ticks, got["m1"].quantity) == ("MESH4", 19240, 3)
    assert (got["m1"].commission, got["m1"].fees) == (Decimal("1.05"), Decimal("1.26"))
    assert (got["e1"].instrument, got["e1"].commission, got["e1"].fees) == (
        "ESH4", Decimal("1.29"), Decimal("1.50"))  # fmt: skip
    assert host.position == 4  # 3 MES and 1 ES: the host's contracts together
    pos = host.desk.positions.position(host.desk.orders.account, "MESH4")
    # marked 4 ticks up: MES at $1.25 a tick, ES at $12.50
    host.desk.mark("MESH4", 19244)
    assert pos.unrealized(19244) == Decimal("15.00")
