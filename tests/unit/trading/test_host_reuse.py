"""What a decision reuses from the previous one (the mark, the open P&L, the combined position,
the last print's price, the lots key the mark built) is worked out again as soon as its inputs
change: a fill between two decisions at the same price, a new print, another pipeline, a
decision without a mark; and the best of many prints is the same by either path."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from orderflow.engine.pipeline import Pipeline
from orderflow.model.dtypes import TRADE_DTYPE
from orderflow.trading.host import StrategyHost, _Prints
from tests.unit.trading.test_strategy import ASK, ES, T0, Reports, S, entered, host, market


def _fresh(h: StrategyHost, last: int) -> tuple[float, tuple[int, float | None]]:
    """The open P&L and the combined position worked out from scratch."""
    pnl = sum((p.unrealized(last) for p in h._positions()), Decimal(0))
    return float(pnl), h._combine()


def test_a_fill_between_decisions_at_the_same_price_is_seen() -> None:
    h = host(contracts=3)
    r = Reports(h)
    bid = entered(h, r, price=ASK)
    last = ASK + 5
    t = T0 + 10 * S
    for k in range(2):  # the same price twice: the second decision reuses the first's work
        h.step(market(t + k * S, last=last))
        assert (h.risk.state.unrealised, h._combined()) == _fresh(h, last)
    assert h.risk.state.unrealised == 3 * 5 * 12.5
    trade = h.desk.positions.position(h.desk.orders.account, h.key).trade
    assert trade is not None and trade.mfe_ticks == 15
    r.fill(f"{bid}.tgt1", ASK + 8, 1, t + 3 * S)  # one contract out, at another price
    h.step(market(t + 4 * S, last=last))
    assert h.risk.state.unrealised == 2 * 5 * 12.5
    assert (h.risk.state.unrealised, h._combined()) == _fresh(h, last)
    assert h._combined()[0] == 2
    h.step(market(t + 5 * S, last=last + 3))  # a new price moves the MFE
    assert trade.mfe_ticks == 8 + 2 * 8
    assert (h.risk.state.unrealised, h._combined()) == _fresh(h, last + 3)


def _prints(prices: list[int], first: int) -> np.ndarray:
    out = np.zeros(len(prices), dtype=TRADE_DTYPE)
    out["ts_event"] = [T0 + (first + i) * S for i in range(len(prices))]
    out["price"] = prices
    out["size"], out["side"] = 1, 1
    return out


def test_the_last_price_follows_new_prints_and_a_new_pipeline() -> None:
    h = host()
    pipe = Pipeline(ES, "trades")
    pipe.process_trades(_prints([ASK, ASK + 2], 0))
    assert h.market_context(pipe).last_ticks == ASK + 2
    assert h.market_context(pipe).last_ticks == ASK + 2  # no print since: the same
    pipe.process_trades(_prints([ASK - 4], 90))  # a new print, a minute bar closed on time
    assert h.market_context(pipe).last_ticks == ASK - 4
    other = Pipeline(ES, "trades")  # as many prints, another price
    other.process_trades(_prints([ASK + 7, ASK + 1, ASK + 9], 0))
    assert other.trades == pipe.trades
    assert h.market_context(other).last_ticks == ASK + 9


def test_the_lots_the_mark_saw_serve_only_its_own_decision() -> None:
    """The combined position reuses the lots key the mark just built; a later decision
    without a last price (no mark) works it out again after a fill in between."""
    h = host(contracts=3)
    r = Reports(h)
    bid = entered(h, r, price=ASK)
    t = T0 + 10 * S
    h.step(market(t, last=ASK + 2))  # marked: its lots key serves this decision
    assert h._combined_at is not None and h._combined_at[1][0] == 3
    r.fill(f"{bid}.tgt1", ASK + 8, 1, t + S)
    ctx = h.context(market(t + 2 * S, last=None))  # no mark: no lots key of its own
    assert (ctx.position, ctx.avg_price_ticks) == (2, float(ASK)) == h._combine()


def test_the_extreme_of_many_prints_is_the_same_in_numpy_and_python() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 5, 64, 65, 300):
        ts = np.sort(rng.integers(0, 1_000, n)).astype(np.int64)
        px = rng.integers(19_000, 19_100, n).astype(np.int64)
        for since in (0, 500, 2_000):
            for d in (1, -1):
                kept = px[ts >= since].tolist()
                want = (max(kept) if d > 0 else min(kept)) if kept else None
                assert _Prints(0, 0, ts, px).extreme(d, since, True) == want
