"""Trades with their aggressor side: from MBO trade records, or classified from quotes or ticks.

Databento MBO ``T`` records name the aggressor themselves ('B' = buyer lifted the offer =
``Side.BID``). Feeds without it (NinjaTrader tick exports, L1 streams) are classified here:

- **bid/ask rule** (NinjaTrader's volumetric default): a print at or above the ask is a buy
  (``Side.BID``), at or below the bid a sell (``Side.ASK``); strictly between them it keeps the
  previous trade's side (``Side.NONE`` before the first classified trade). The ask is tested
  first, so on a crossed quote a print at/above the ask is a buy. A missing quote
  (``NO_PRICE``) never matches.
- **tick rule**: an uptick is a buy, a downtick a sell, a zero tick keeps the previous side
  (``Side.NONE`` before the first price change).

Batch functions and the incremental :class:`AggressorClassifier` run the same jitted kernels and
carry the same state (previous side and price), so chunked classification equals one batch.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numba import njit

from orderflow.core.errors import ArgumentError, ParameterError
from orderflow.model.dtypes import NO_PRICE, TRADE_DTYPE
from orderflow.model.enums import Action, Side

_BID = int(Side.BID)
_ASK = int(Side.ASK)
_NONE = int(Side.NONE)
_NO_PRICE = int(NO_PRICE)


def trades_from_mbo(mbo: np.ndarray) -> np.ndarray:
    """The aggressor prints (``Action.TRADE``) of an MBO stream as :data:`TRADE_DTYPE`. O(n).

    Only ``T`` records: the ``F`` fills repeat the same volume from the resting side.
    """
    rows = mbo[mbo["action"] == Action.TRADE]
    out = np.zeros(len(rows), dtype=TRADE_DTYPE)
    for key in ("ts_event", "ts_recv", "sequence", "price", "size", "side", "flags"):
        out[key] = rows[key]
    return out


@njit(cache=True)
def _bidask_kernel(price, bid, ask, prev_side, out):  # type: ignore[no-untyped-def]
    side = prev_side
    for i in range(len(price)):
        p = price[i]
        if ask[i] != _NO_PRICE and p >= ask[i]:
            side = _BID
        elif bid[i] != _NO_PRICE and p <= bid[i]:
            side = _ASK
        out[i] = side
    return side


@njit(cache=True)
def _tick_kernel(price, prev_price, prev_side, out):  # type: ignore[no-untyped-def]
    side = prev_side
    last = prev_price
    for i in range(len(price)):
        p = price[i]
        if last != _NO_PRICE:
            if p > last:
                side = _BID
            elif p < last:
                side = _ASK
        last = p
        out[i] = side
    return side, last


def _i8(a: np.ndarray | list[int]) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def classify_bidask(
    price: np.ndarray, bid: np.ndarray, ask: np.ndarray, prev_side: int = _NONE
) -> np.ndarray:
    """Aggressor sides (int8 ``Side``) by NinjaTrader's bid/ask rule (module docstring). O(n)."""
    out = np.empty(len(price), dtype=np.int8)
    _bidask_kernel(_i8(price), _i8(bid), _i8(ask), prev_side, out)
    return out


def classify_tick_rule(
    price: np.ndarray, prev_price: int = _NO_PRICE, prev_side: int = _NONE
) -> np.ndarray:
    """Aggressor sides (int8 ``Side``) by the tick rule (module docstring). O(n)."""
    out = np.empty(len(price), dtype=np.int8)
    _tick_kernel(_i8(price), prev_price, prev_side, out)
    return out


class AggressorClassifier:
    """Incremental aggressor classification: feed prices (and quotes) in chunks of any size.

    Keeps the previous side and price between calls, so the result equals one batch call.
    """

    def __init__(self, rule: Literal["bidask", "tick"] = "bidask") -> None:
        if rule not in ("bidask", "tick"):
            raise ParameterError(f"rule must be 'bidask' or 'tick', not {rule!r}")
        self.rule = rule
        self.side = _NONE  # side of the last classified trade
        self.last_price = _NO_PRICE

    def classify(
        self, price: np.ndarray, bid: np.ndarray | None = None, ask: np.ndarray | None = None
    ) -> np.ndarray:
        """Sides (int8) of the next trades; ``bid``/``ask`` are required by the bid/ask rule."""
        out = np.empty(len(price), dtype=np.int8)
        p = _i8(price)
        if self.rule == "bidask":
            if bid is None or ask is None:
                raise ArgumentError("the bid/ask rule needs the bid and ask of every trade")
            self.side = int(_bidask_kernel(p, _i8(bid), _i8(ask), self.side, out))
        else:
            side, _ = _tick_kernel(p, self.last_price, self.side, out)
            self.side = int(side)
        if len(p):
            self.last_price = int(p[-1])
        return out

    def apply(
        self, trades: np.ndarray, bid: np.ndarray | None = None, ask: np.ndarray | None = None
    ) -> np.ndarray:
        """A copy of ``trades`` (:data:`TRADE_DTYPE`) with ``side`` set by this classifier."""
        out = trades.copy()
        out["side"] = self.classify(trades["price"], bid, ask)
        return out
