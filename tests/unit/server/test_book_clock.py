"""The risk manager's book clock as the Hub runs it on every batch, with its shortcuts (the
feeder's desk told directly, no calendar lookup for a book just updated, no record of an
empty list of risk events): a crossed book in a batch engages the feeder's kill switch and
queues its flatten before that batch's ack is returned, as the long way does; a client that
only watches is not told of another's book; a batch without a client tells every trading
client but the feeders; the book's update stamps each told desk's clock."""

from __future__ import annotations

import msgspec

from orderflow.protocol import Batch, Depth, Execution, OrderUpdate, PositionUpdate
from orderflow.server.hub import Hub
from orderflow.server.trading import ServerTradingParams
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams
from tests.integration.test_server import esh4_batches
from tests.reference import bookkeeping as ref
from tests.unit.server.test_hub_bookkeeping import same_ack, state_of

N = 60  # ESH4 batches before the crossed one


def crossing_hub() -> Hub:
    risk = RiskParams(book_stale_ms=30_000.0, kill_on_disconnect=False, kill_on_crossed_book=True,
                      max_position=10, max_order_size=10, daily_loss_limit=0.0)  # fmt: skip
    h = Hub(trading=TradingParams(risk=risk),
            trading_server=ServerTradingParams(enabled=False, use_sessions=False))  # fmt: skip
    for client in ("nt8", "watcher"):
        h.trading.of(client)
        h.trading.connected(client, False)
    return h


def feed_with_a_position_then_a_crossed_book() -> tuple[list[Batch], int]:
    """ESH4's first batches, a short position of 2 opened at the first print, then a batch
    whose one depth event adds a bid above the best ask (the book crossed); the crossed
    batch's index."""
    feed = esh4_batches()[0][:N]
    k = next(i for i, b in enumerate(feed) if b.ticks)
    t0, first = feed[k].ticks[0].t, feed[k].ticks[0].price
    opened = Batch(instrument=feed[0].instrument, seq=k + 2, orders=[
        OrderUpdate(t=t0, cid="manual", state="Filled", quantity=2, filled=2,
                    avg_fill_price=first, limit_price=first)],
        executions=[Execution(t=t0, cid="manual", execution_id="x1", price=first, quantity=2,
                              market_position="Short")],
        positions=[PositionUpdate(t=t0, market_position="Short", quantity=2,
                                  average_price=first, account="Sim101")])  # fmt: skip
    batches = [*feed[: k + 1], opened,
               *(msgspec.structs.replace(b, seq=b.seq + 1) for b in feed[k + 1 :])]  # fmt: skip
    last = batches[-1]
    asks = [e for b in feed for e in b.depth if e.side == "ask" and e.pos == 0 and e.op != "remove"]
    crossed = Batch(instrument=last.instrument, seq=last.seq + 1, depth=[
        Depth(t=last.depth[-1].t + 1, side="bid", op="add", pos=0, price=asks[-1].price + 1.0,
              size=1)])  # fmt: skip
    return [*batches, crossed], len(batches)


def test_a_crossed_book_kills_and_flattens_before_its_batchs_ack_as_the_long_way() -> None:
    batches, at = feed_with_a_position_then_a_crossed_book()
    fast, slow = crossing_hub(), ref.long_way(crossing_hub())
    for i, b in enumerate(batches):
        sent = [len(h.outbox.sent) for h in (fast, slow)]
        (a, _), (b2, _) = fast.apply(b, "nt8"), slow.apply(b, "nt8")
        same_ack(a, b2)
        assert state_of(fast) == state_of(slow)
        feeder = fast.trading.clients["nt8"].risk.state
        if i < at:
            assert not feeder.kill
            assert [len(h.outbox.sent) for h in (fast, slow)] == sent
            continue
        # the crossed batch: the kill engaged and the flatten queued within its apply
        assert feeder.kill and feeder.kill_reason == "book_crossed"
        new = [r.command for r in list(fast.outbox.sent.values())[sent[0] :]]
        assert [(c.op, c.action, c.quantity) for c in new] == [("submit", "BuyToCover", 2)]
    assert not fast.trading.clients["watcher"].risk.state.kill  # told nothing of nt8's book


def test_the_book_update_tells_the_feeder_alone_or_every_trading_client_but_the_feeders() -> None:
    h = crossing_hub()
    h.trading.of("third")
    nodes = h.trading.clients
    for node in nodes.values():
        node.risk.state.last_book_ns = None
    h.trading.book(False, "nt8", 5, feeders=["nt8"])
    assert [n.risk.state.last_book_ns is not None for n in nodes.values()] == [True, False, False]
    assert nodes["nt8"].data_ns == 5 and nodes["watcher"].data_ns == 0
    for node in nodes.values():
        node.risk.state.last_book_ns = None
    h.trading.book(True, None, 7, feeders=["nt8"])  # a REST batch: every trader but feeders
    assert [n.risk.state.last_book_ns is not None for n in nodes.values()] == [False, True, True]
    assert [n.risk.state.kill_reason for n in nodes.values()] == ["", "book_crossed",
                                                                  "book_crossed"]  # fmt: skip
    assert all(n.data_ns == 0 for n in list(nodes.values())[1:])  # no client: no data clock
