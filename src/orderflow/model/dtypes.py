"""numpy structured dtypes of the bulk event streams (the hftbacktest way).

Readers normalise every source into one of these; books, analytics and replay consume them with
jitted loops. Prices are integer ticks of the stream's instrument, sizes integers, times integer
nanoseconds UTC. Fields are ordered widest first so the records pack without padding surprises.
"""

from __future__ import annotations

import numpy as np

#: Order-by-order events (Databento MBO, LOBSTER messages).
MBO_DTYPE = np.dtype(
    [
        ("ts_event", "i8"),
        ("ts_recv", "i8"),
        ("sequence", "i8"),
        ("order_id", "u8"),
        ("price", "i8"),  # ticks
        ("size", "i8"),
        ("action", "i1"),  # model.enums.Action
        ("side", "i1"),  # model.enums.Side
        ("flags", "u1"),  # model.enums.Flags
        ("_pad", "u1", (5,)),
    ]
)

#: Price-level deltas: absolute size at a price (0 deletes), or a clear.
LEVEL_DTYPE = np.dtype(
    [
        ("ts_event", "i8"),
        ("ts_recv", "i8"),
        ("sequence", "i8"),
        ("price", "i8"),  # ticks
        ("size", "i8"),
        ("action", "i1"),  # model.enums.LevelAction
        ("side", "i1"),
        ("flags", "u1"),
        ("_pad", "u1", (5,)),
    ]
)

#: NinjaTrader depth events (OnMarketDepth), position-indexed.
NT_DEPTH_DTYPE = np.dtype(
    [
        ("ts_event", "i8"),
        ("ts_recv", "i8"),
        ("sequence", "i8"),
        ("price", "i8"),  # ticks
        ("size", "i8"),  # NinjaTrader "Volume"
        ("position", "i4"),
        ("operation", "i1"),  # model.enums.NtOperation
        ("side", "i1"),  # model.enums.Side (converted from NT's Ask=0/Bid=1 at the edge)
        ("flags", "u1"),  # Flags.RESET for IsReset, Flags.LAST at the end of a batch
        ("_pad", "u1", (1,)),
    ]
)

#: Trades (prints) with the aggressor side when known. ``side`` follows Databento: BID means the
#: buyer was the aggressor (lifted the offer), ASK the seller (hit the bid), NONE unknown.
TRADE_DTYPE = np.dtype(
    [
        ("ts_event", "i8"),
        ("ts_recv", "i8"),
        ("sequence", "i8"),
        ("price", "i8"),  # ticks
        ("size", "i8"),
        ("side", "i1"),
        ("flags", "u1"),
        ("_pad", "u1", (6,)),
    ]
)

#: Top-of-book quotes (MBP-1, BBO, NinjaTrader L1 bid/ask).
QUOTE_DTYPE = np.dtype(
    [
        ("ts_event", "i8"),
        ("ts_recv", "i8"),
        ("sequence", "i8"),
        ("bid_price", "i8"),
        ("bid_size", "i8"),
        ("ask_price", "i8"),
        ("ask_size", "i8"),
        ("bid_count", "i4"),
        ("ask_count", "i4"),
    ]
)

#: OHLCV bars; ``ts_event`` is the bar's open time (start of the interval), UTC.
BAR_DTYPE = np.dtype(
    [
        ("ts_event", "i8"),
        ("open", "i8"),  # ticks
        ("high", "i8"),
        ("low", "i8"),
        ("close", "i8"),
        ("volume", "i8"),
    ]
)

#: Price-level snapshots of the top N levels, one row per level (MBP-10 and orderbook files).
#: Readers return 2-D arrays ``(rows, levels)`` of this dtype per side where needed.
LEVEL_ROW_DTYPE = np.dtype([("price", "i8"), ("size", "i8"), ("count", "i8")])

#: Sentinel for "no price" in tick arrays (empty level).
NO_PRICE = np.iinfo(np.int64).min
