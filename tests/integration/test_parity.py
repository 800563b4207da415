"""Live/backtest parity on the ESH4 MBO file.

Live: the real server on 127.0.0.1 runs the trading engine with the reference strategy
(``trading.server.strategy``, on the data's clock); the real Python client feeds the file as
the bridge would (NinjaTrader depth and prints in batches) and plays a simulated NinjaTrader
account that executes the server's commands on the simulated venue over the MBO records
(:func:`orderflow.client.trade.trade_batches`).

Backtest: :func:`orderflow.backtest.nt_view.run_nt_view` replays the same file with the same
strategy, risk and broker settings, without a server.

Both produce the same signals, the same orders (every field, the time included) and the same
fills (execution id, time, price, quantity, commission and fees), for the default strategy and
for a busier one (limit entries at the touch that queue in the L3 book, scaling in, breakeven,
a trailing stop, a time stop)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from orderflow.backtest.nt_view import run_nt_view
from orderflow.backtest.run import BacktestOptions, _host, run_backtest
from orderflow.client.simbroker import SimNinjaTrader
from orderflow.client.trade import trade_batches
from orderflow.io.formats import load_stream
from orderflow.io.nt_feed import nt_batches
from orderflow.server.trading import ServerTradingParams
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams
from orderflow.trading.sizing import SizingParams
from orderflow.trading.strategy import StrategyParams
from tests.conftest import ES_MBO, need
from tests.integration.test_server import Server

pytestmark = pytest.mark.slow

RISK = {"book_stale_ms": 0.0, "kill_on_disconnect": False}
BUSY = TradingParams(
    risk=RiskParams(max_position=4, max_order_size=2, daily_loss_limit=2000.0,
                    max_consecutive_losses=0, **RISK),  # type: ignore[arg-type]
    sizing=SizingParams(method="fixed", fixed_contracts=2),
    strategy=StrategyParams(
        entry_type="limit", limit_anchor="touch", entry_timeout_s=20, min_entry_spacing_s=60,
        max_position=4, max_entries_per_direction=3, scale_in=True, scale_in_min_profit_ticks=2,
        scale_in_entry_type="market", stop_loss_ticks=8, targets_ticks=(6, 12),
        target_sizes=(1, 1), breakeven_after_ticks=4, trail="ticks", trail_ticks=6,
        trail_after_ticks=8, time_stop_s=300, opposite_exit_score=3.0,
    ),
)  # fmt: skip
#: a $60 budget with the default 8-tick stop: one ES risks 8 x 12.50 + 5.58 = 105.58, more
#: than the budget (0 ES); one MES 8 x 1.25 + 1.54 = 11.54, floor(60 / 11.54) = 5 MES
MICRO = TradingParams(
    risk=RiskParams(max_position=10, max_order_size=10, **RISK),  # type: ignore[arg-type]
    sizing=SizingParams(method="risk", risk_per_trade=60.0),
    strategy=StrategyParams(max_position=10),
)
CASES = {
    "default": TradingParams(risk=RiskParams(**RISK)),  # type: ignore[arg-type]
    "busy": BUSY,
    "micro": MICRO,
}


def live(trading: TradingParams) -> tuple[SimNinjaTrader, Any]:
    stream = load_stream(need(ES_MBO))
    cut = nt_batches(stream, 10, 100)
    server = Server(trading=trading,
                    trading_server=ServerTradingParams(strategy=True, clock="data"))  # fmt: skip
    sim = SimNinjaTrader(stream.instrument)
    try:
        asyncio.run(trade_batches(stream.array, cut, sim, server.ws))
        hub = server.app.state.hub
        pipe = hub.instruments[stream.instrument.contract].pipeline
        signals = [(s.ts_event, s.detector, s.direction, s.price, s.score) for s in pipe.signals]
        accumulated = [(a.ts_event, a.direction, a.score) for a in pipe.accumulated]
    finally:
        server.stop()
    return sim, (signals, accumulated)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_live_path_and_the_backtest_send_the_same_orders_and_get_the_same_fills(case):
    trading = CASES[case]
    sim, (signals, accumulated) = live(trading)

    stream = load_stream(need(ES_MBO))
    host = _host(stream.instrument, trading, BacktestOptions(), [])
    bt = run_nt_view(stream, host, flatten_at_end=False)
    pipe = bt.pipeline

    assert [(s.ts_event, s.detector, s.direction, s.price, s.score) for s in pipe.signals] == (
        signals)  # fmt: skip
    assert [(a.ts_event, a.direction, a.score) for a in pipe.accumulated] == accumulated
    assert len(signals) > 50 and len(accumulated) > 5

    def order(c: Any) -> tuple[Any, ...]:
        return (c.op, c.cid, c.t, c.action, c.order_type, c.quantity, c.limit_ticks,
                c.stop_ticks, c.oco)  # fmt: skip

    assert [order(c) for c in bt.commands] == [order(c) for c in sim.commands]
    assert bt.fills == sim.fills  # execution id, time, price, quantity, side, costs
    # the same through the backtest's own entry point, with its report
    opts = BacktestOptions(view="ninjatrader", flatten_at_end=False)
    res = run_backtest([need(ES_MBO)], trading=trading, options=opts)
    assert [order(c) for c in res.commands] == [order(c) for c in sim.commands]
    assert res.fills == sim.fills
    assert res.signals["counts"] == dict(pipe.signal_counts)
    assert res.signals["accumulated"] == len(accumulated)
    entries = [c for c in sim.commands if c.op == "submit" and c.cid.count(".") == 0]
    assert len(entries) >= 3 and len(sim.fills) >= 8
    if case == "busy":  # limit entries that queued and filled, and changes (stop moves)
        assert any(c.order_type == "Limit" and c.cid.count(".") == 0 for c in entries)
        assert any(c.op == "change" for c in sim.commands)
    if case == "micro":  # the budget forbids ES: every order is MES, 5 a entry
        assert {c.instrument for c in sim.commands} == {"MESH4"}
        assert [c.quantity for c in entries] == [5, 5, 5]
        assert {f.instrument for f in sim.fills} == {"MESH4"}
        # the micro's costs: $0.35 commission and $0.42 fees a contract a side
        assert all(f.commission == Decimal("0.35") * f.quantity for f in sim.fills)
        assert all(f.fees == Decimal("0.42") * f.quantity for f in sim.fills)
        sized = [d.sizing for d in host.decisions if d.intent == "enter"]
        assert [s["contract"] for s in sized] == ["MESH4"] * 3  # type: ignore[index]
        es, mes = sized[0]["candidates"]  # type: ignore[index]
        assert (es["symbol"], es["contracts"], es["risk_per_contract"], es["reason"]) == (
            "ES", 0, 105.58, "below_one_contract")  # fmt: skip
        assert (mes["symbol"], mes["contracts"], mes["risk_per_contract"]) == ("MES", 5, 11.54)
        assert (mes["total_risk"], mes["margin_per_contract"], es["margin_per_contract"]) == (
            57.7, 50.0, 500.0)  # fmt: skip
        assert {t["instrument"] for t in res.trades} == {"MESH4"}
