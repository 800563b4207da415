"""Codes stored in arrays (IntEnum) and shown to users (StrEnum).

Internal codes are our own; the edges map foreign codes (NinjaTrader's Ask=0/Bid=1, Databento's
'A'/'B'/'N' and action letters) onto them exactly once, in the readers and the server.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class Side(IntEnum):
    """Book side of a resting order, or aggressor side of a trade."""

    BID = 0
    ASK = 1
    NONE = 2


class Action(IntEnum):
    """What an order-by-order (MBO) event does. Same meaning as Databento's action letters."""

    NONE = 0
    ADD = 1  # 'A'
    CANCEL = 2  # 'C' (size = amount removed; partial when less than the order)
    MODIFY = 3  # 'M' (new price and/or size; price change or size increase loses priority)
    CLEAR = 4  # 'R' (book cleared)
    TRADE = 5  # 'T' (aggressor print; does not change the book)
    FILL = 6  # 'F' (resting order filled; Databento sends the book change as a following C/M)


class LevelAction(IntEnum):
    """What a price-level (MBP) delta does."""

    SET = 0  # absolute size at the price; 0 deletes the level
    CLEAR = 1  # clear the side given (or both when side is NONE)


class NtOperation(IntEnum):
    """NinjaTrader's ``Operation`` enum, values as NinjaTrader defines them."""

    ADD = 0
    UPDATE = 1
    REMOVE = 2


class NtMarketDataType(IntEnum):
    """NinjaTrader's ``MarketDataType`` enum (depth uses Ask and Bid only)."""

    ASK = 0
    BID = 1
    LAST = 2
    DAILY_HIGH = 3
    DAILY_LOW = 4
    DAILY_VOLUME = 5
    LAST_CLOSE = 6
    OPENING = 7
    OPEN_INTEREST = 8
    SETTLEMENT = 9
    UNKNOWN = 10


class Flags(IntFlag):
    """Record flags, bit-compatible with Databento's so DBN flags pass through unchanged."""

    NONE = 0
    LAST = 0x80  # last record of an exchange event: the book is consistent after it
    TOB = 0x40
    SNAPSHOT = 0x20  # part of a snapshot (replaces what came before)
    MBP = 0x10
    BAD_TS_RECV = 0x08
    MAYBE_BAD_BOOK = 0x04
    RESET = 0x02  # ours (NinjaTrader IsReset), carried in NT depth streams only


class RejectReason(IntEnum):
    """Why a book refused an update. Values equal ``BookUpdateError.reason`` of each error."""

    OK = 0
    UNKNOWN_ORDER = 1
    DUPLICATE_ORDER = 2
    INVALID_SIZE = 3
    BAD_SIDE = 4
    BAD_ACTION = 5
    POSITION_OUT_OF_RANGE = 6
    OFF_TICK = 7
    PRICE_ORDER = 8
    CAPACITY = 9


def nt_side_to_side(market_data_type: int) -> Side:
    """NinjaTrader depth side (Ask=0, Bid=1) to ours; anything else is an error upstream."""
    if market_data_type == NtMarketDataType.ASK:
        return Side.ASK
    if market_data_type == NtMarketDataType.BID:
        return Side.BID
    return Side.NONE


def side_to_nt(side: int) -> int:
    """Our side to NinjaTrader's MarketDataType (Ask=0, Bid=1)."""
    return NtMarketDataType.ASK if side == Side.ASK else NtMarketDataType.BID
