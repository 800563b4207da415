"""A built-in simulated market, for machines without recorded data. Always labelled SIMULATED.

The model is the zero-intelligence order-flow model of Smith, Farmer, Gillemot and Krishnamurthy
(2003): limit orders arrive at each price level within ``levels`` ticks of the opposite best at
rate ``limit_rate`` per level, every resting order is cancelled at rate ``cancel_rate``, and
market orders arrive at rate ``market_rate`` per side. Order sizes are geometric with mean
``mean_size``. It produces an order-by-order stream (:data:`MBO_DTYPE`) that the real books,
readers and converters process exactly like exchange data. It is a demo feed, not a price model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Action, Flags, Side

SIMULATED_LABEL = "SIMULATED market (zero-intelligence model), not exchange data"


@dataclass(frozen=True, slots=True)
class SimParams:
    start_price: int = 19240  # ticks (ES 4810.00)
    levels: int = 10
    limit_rate: float = 1.0  # per level per side per second
    cancel_rate: float = 0.08  # per resting order per second
    market_rate: float = 0.6  # per side per second
    mean_size: float = 3.0
    start_ns: int = 1_703_545_200_000_000_000  # 2023-12-25T23:00:00Z
    seed: int = 7


def simulate_mbo(n_events: int = 100_000, params: SimParams | None = None) -> np.ndarray:
    """Generate ``n_events`` order-by-order events from the zero-intelligence model."""
    p = params or SimParams()
    rng = np.random.default_rng(p.seed)
    out = np.zeros(n_events, dtype=MBO_DTYPE)
    orders: dict[int, list[int]] = {}  # id -> [side, price, size]
    levels: list[dict[int, list[int]]] = [{}, {}]  # side -> price -> [order ids FIFO]
    next_id = 1
    t = p.start_ns
    i = 0

    def best(side: int) -> int | None:
        book = levels[side]
        if not book:
            return None
        return max(book) if side == Side.BID else min(book)

    def emit(
        action: int, side: int, price: int, size: int, oid: int, flags: int = Flags.LAST
    ) -> None:
        nonlocal i
        if i < n_events:
            out[i] = (t, t, i + 1, oid, price, size, action, side, flags, 0)
            i += 1

    def remove(oid: int, size: int) -> None:
        side, price, left = orders[oid]
        if size >= left:
            del orders[oid]
            queue = levels[side][price]
            queue.remove(oid)
            if not queue:
                del levels[side][price]
        else:
            orders[oid][2] = left - size

    # seed the book so both sides exist
    for side in (Side.BID, Side.ASK):
        for k in range(1, p.levels + 1):
            price = p.start_price - k + 1 if side == Side.BID else p.start_price + k
            oid, next_id = next_id, next_id + 1
            size = int(rng.geometric(1 / p.mean_size)) * 2
            orders[oid] = [side, price, size]
            levels[side].setdefault(price, []).append(oid)
            emit(Action.ADD, side, price, size, oid)
    while i < n_events:
        n_orders = len(orders)
        rates = np.array([p.limit_rate * p.levels * 2, p.cancel_rate * n_orders, p.market_rate * 2])
        total = rates.sum()
        t += int(rng.exponential(1.0 / total) * 1e9) + 1
        kind = rng.choice(3, p=rates / total)
        side = int(rng.integers(0, 2))
        if kind == 0:  # limit order within `levels` ticks of the opposite best
            opp = best(1 - side)
            ref = opp if opp is not None else p.start_price
            dist = int(rng.integers(1, p.levels + 1))
            price = ref - dist if side == Side.BID else ref + dist
            oid, next_id = next_id, next_id + 1
            size = int(rng.geometric(1 / p.mean_size))
            orders[oid] = [side, price, size]
            levels[side].setdefault(price, []).append(oid)
            emit(Action.ADD, side, price, size, oid)
        elif kind == 1 and orders:  # cancel a random resting order
            oid = int(rng.choice(list(orders)))
            o_side, price, size = orders[oid]
            remove(oid, size)
            emit(Action.CANCEL, o_side, price, size, oid)
        elif kind == 2:  # market order of `side` aggressor eats the opposite best queue
            book_side = 1 - side
            want = int(rng.geometric(1 / p.mean_size))
            while want > 0 and levels[book_side]:
                price = best(book_side)
                assert price is not None
                oid = levels[book_side][price][0]
                take = min(want, orders[oid][2])
                # one exchange event: the print, the fill, then the book change flagged LAST
                emit(Action.TRADE, side, price, take, 0, 0)
                emit(Action.FILL, book_side, price, take, oid, 0)
                remove(oid, take)
                emit(Action.CANCEL, book_side, price, take, oid)
                want -= take
    return out
