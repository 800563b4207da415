"""The L2 queue model's numbers for a given sequence (price-level deltas and NinjaTrader depth,
with their prints), the model's formula alone, and latency measured from a recording."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.backtest import SimVenue, md_latency_from_records
from orderflow.backtest.queues import QueueState, cancel_share, l2_level_update, l2_trade_fill
from orderflow.model.dtypes import LEVEL_DTYPE, NT_DEPTH_DTYPE, TRADE_DTYPE
from orderflow.model.enums import Flags, LevelAction, NtOperation, Side
from orderflow.model.instruments import get_instrument
from orderflow.trading.orders import Fill, OrderAction, OrderCommand, OrderType

ES = get_instrument("ES")
BID, ASK = int(Side.BID), int(Side.ASK)
LAST = int(Flags.LAST)


def levels(*rows: tuple[int, int, int, int]) -> np.ndarray:
    """Price-level SET records from (ts, side, price, size)."""
    out = np.zeros(len(rows), dtype=LEVEL_DTYPE)
    for i, (ts, side, price, size) in enumerate(rows):
        out[i]["ts_event"], out[i]["side"], out[i]["price"], out[i]["size"] = ts, side, price, size
        out[i]["action"], out[i]["flags"], out[i]["sequence"] = int(LevelAction.SET), LAST, i
    return out


def prints(*rows: tuple[int, int, int, int]) -> np.ndarray:
    """Trades from (ts, price, size, aggressor side)."""
    out = np.zeros(len(rows), dtype=TRADE_DTYPE)
    for i, (ts, price, size, side) in enumerate(rows):
        out[i]["ts_event"], out[i]["price"], out[i]["size"], out[i]["side"] = ts, price, size, side
    return out


def buy_limit(t: int, cid: str, qty: int, price: int) -> OrderCommand:
    return OrderCommand(t, "submit", cid, "ES", t, OrderAction.BUY, OrderType.LIMIT, qty, price)


def fills(out) -> list[tuple[str, int, int]]:
    return [(d.report.cid, d.report.price_ticks, d.report.quantity)
            for d in out if isinstance(d.report, Fill)]  # fmt: skip


@pytest.mark.parametrize(("power", "after_cancel"), [(1.0, 7.5), (2.0, 10 - 4 * 100 / 136)])
def test_l2_model_numbers_for_a_given_sequence(power, after_cancel):
    v = SimVenue(ES, "levels", queue_power=power)
    v.on_market(levels((1, BID, 100, 10), (1, ASK, 101, 5)))
    v.send(buy_limit(10, "b", 3, 100))
    v.advance(10)
    assert v.queue_ahead("b") == 10  # the whole level is ahead when we join
    v.on_market(levels((20, BID, 100, 16)))  # +6: new orders, behind us
    assert v.queue_ahead("b") == 10
    # -4 without a print: cancels; ahead 10, behind 6: 4 x 10^p / (10^p + 6^p) came from ahead
    v.on_market(levels((30, BID, 100, 12)))
    assert v.queue_ahead("b") == pytest.approx(after_cancel)
    # a print of 5 takes from the front; the level's -5 that follows is that print, not cancels
    out = v.on_market(levels((40, BID, 100, 7)), prints((40, 100, 5, ASK)))
    assert fills(out) == [] and v.queue_ahead("b") == pytest.approx(after_cancel - 5)
    # a print of 4: 4 - ahead (2.5 or 2.06) = 1 whole contract reaches us
    out = v.on_market(levels((50, BID, 100, 3)), prints((50, 100, 4, ASK)))
    assert fills(out) == [("b", 100, 1)] and v.queue_ahead("b") == 0
    out = v.on_market(levels((60, BID, 100, 1)), prints((60, 100, 3, ASK)))
    assert fills(out) == [("b", 100, 2)] and v.orders["b"].state == "Filled"


def test_the_model_functions_alone():
    assert cancel_share(10, 6, 1.0) == 10 / 16
    assert cancel_share(0, 6, 1.0) == 0.0 and cancel_share(4, 0, 3.0) == 1.0
    q = QueueState(ahead=4.0, level_size=10)
    assert l2_trade_fill(q, 6, 1.0, 5) == 1  # 6 - (4 ahead + 1 of ours ahead) = 1
    assert q.ahead == 0 and q.level_traded == 6
    l2_level_update(q, 1, 1.0)  # -9: 6 traded, 3 cancels (none ahead)
    assert q.level_traded == 0 and q.ahead == 0 and q.level_size == 1


def test_nt_depth_ladder_and_a_stop_triggered_by_a_print():
    def nt(*rows):
        out = np.zeros(len(rows), dtype=NT_DEPTH_DTYPE)
        for i, (ts, side, op, pos, price, size) in enumerate(rows):
            r = out[i]
            r["ts_event"], r["side"], r["operation"], r["position"] = ts, side, op, pos
            r["price"], r["size"], r["flags"] = price, size, LAST
        return out

    add, upd, rem = int(NtOperation.ADD), int(NtOperation.UPDATE), int(NtOperation.REMOVE)
    v = SimVenue(ES, "nt_depth")
    v.on_market(nt((1, BID, add, 0, 100, 10), (1, BID, add, 1, 99, 4), (1, ASK, add, 0, 101, 5)))
    v.send(buy_limit(10, "b", 2, 100))
    v.send(OrderCommand(11, "submit", "s", "ES", 10, OrderAction.SELL, OrderType.STOP_MARKET,
                        3, None, 99))  # fmt: skip
    v.advance(10)
    assert v.queue_ahead("b") == 10
    v.on_market(nt((20, BID, upd, 0, 100, 6)))  # -4, nobody behind: all from ahead
    assert v.queue_ahead("b") == 6
    out = v.on_market(nt((30, BID, upd, 0, 100, 0)), prints((30, 100, 7, ASK)))
    assert fills(out) == [("b", 100, 1)]
    # the print at 99 triggers the stop, which sells into the bids after that time's records
    out = v.on_market(nt((40, BID, rem, 0, 100, 0), (40, BID, upd, 0, 99, 2)),
                      prints((40, 99, 2, ASK), (50, 99, 1, ASK)))  # fmt: skip
    assert fills(out) == [("b", 100, 1), ("s", 99, 2)]  # the 99 print traded through our 100
    assert v.orders["s"].state == "Cancelled"  # 2 in the book: the rest finds no liquidity


def test_md_latency_measured_from_a_recording(tmp_path):
    from orderflow.protocol import Batch, Depth, Tick
    from orderflow.server.recording import Recorder, read_recording

    rec = Recorder(tmp_path)
    t0 = 1_703_545_200_000_000_000
    rec.append(Batch("ES", 1, depth=[Depth(t0, "bid", "add", 0, 4800.0, 5),
                                     Depth(t0 + 300, "ask", "add", 0, 4800.25, 5)]),
               "nt", t0 + 1_000)  # fmt: skip
    rec.append(Batch("ES", 2, ticks=[Tick(t0 + 2_000, 4800.25, 1)]), "nt", t0 + 2_450)
    rec.append(Batch("ES", 3, ticks=[Tick(t0 + 9_000, 4800.25, 1)]), "nt", t0 + 8_000)  # skew
    rec.close()
    (path,) = list(tmp_path.rglob("*.ofrec"))
    records = read_recording(path).records
    assert md_latency_from_records(records).tolist() == [1_000, 700, 450]
    assert md_latency_from_records(records, per_batch=True).tolist() == [700, 450]


def test_l2_taken_liquidity_decays_with_the_level_size():
    v = SimVenue(ES, "levels")
    v.on_market(levels((1, ASK, 101, 2), (1, ASK, 102, 1), (1, BID, 100, 5)))
    v.send(OrderCommand(1, "submit", "m1", "ES", 10, OrderAction.BUY, OrderType.MARKET, 2))
    assert fills(v.advance(10)) == [("m1", 101, 2)]
    v.on_market(levels((20, ASK, 101, 1)))  # the market removes 1 there: 1 still ours
    assert v.taken == {(ASK, 101): 1}
    v.send(OrderCommand(2, "submit", "m2", "ES", 30, OrderAction.BUY, OrderType.MARKET, 1))
    assert fills(v.advance(30)) == [("m2", 102, 1)]
    v.on_market(levels((40, ASK, 101, 4)))  # 3 added: free behind what we took
    v.send(OrderCommand(3, "submit", "m3", "ES", 50, OrderAction.BUY, OrderType.MARKET, 5))
    assert fills(v.advance(50))[0] == ("m3", 101, 3)
