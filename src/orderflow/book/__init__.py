"""Order books: NinjaTrader's position-indexed L2 ladder, a price-level L2 book and an L3 book.

* :class:`OrderBook` — order by order (L3: Databento MBO, LOBSTER), FIFO queues per level.
* :class:`LevelBook` — price levels (L2: MBP-10, price-level deltas).
* :class:`LadderBook` — NinjaTrader's ``OnMarketDepth`` rows, by position.
"""

# The names load on first use (PEP 562), so importing one submodule costs no more than before.
from __future__ import annotations

from typing import TYPE_CHECKING

from orderflow.core.exports import lazy_exports

if TYPE_CHECKING:
    from orderflow.book.common import BatchResult, DepthRecord, TopOfBook
    from orderflow.book.l3 import OrderBook, OrderView
    from orderflow.book.ladder import LadderBook
    from orderflow.book.levels import LevelBook

_EXPORTS = {
    "BatchResult": "orderflow.book.common",
    "DepthRecord": "orderflow.book.common",
    "LadderBook": "orderflow.book.ladder",
    "LevelBook": "orderflow.book.levels",
    "OrderBook": "orderflow.book.l3",
    "OrderView": "orderflow.book.l3",
    "TopOfBook": "orderflow.book.common",
}

__all__ = [
    "BatchResult",
    "DepthRecord",
    "LadderBook",
    "LevelBook",
    "OrderBook",
    "OrderView",
    "TopOfBook",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
