"""What every book shares: reject counters, top-of-book records, batch results."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np

from orderflow.core.errors import ConfigError, OffTickError
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import RejectReason

__all__ = [
    "NO_PRICE",
    "BatchResult",
    "BufferStamps",
    "DepthRecord",
    "TopOfBook",
    "reject_counts",
]


class TopOfBook(NamedTuple):
    """Best bid and ask (ticks, size, order count); ``None`` prices when a side is empty.

    A named tuple, not a frozen dataclass: it is built after every event group, and a tuple
    builds several times faster (a frozen dataclass sets each field through ``object.__setattr__``).
    """

    bid_price: int | None
    bid_size: int
    ask_price: int | None
    ask_size: int
    bid_count: int = 0
    ask_count: int = 0

    @property
    def crossed(self) -> bool:
        return (
            self.bid_price is not None
            and self.ask_price is not None
            and self.bid_price > self.ask_price
        )

    @property
    def locked(self) -> bool:
        return self.bid_price is not None and self.bid_price == self.ask_price


@dataclass(slots=True)
class DepthRecord:
    """Top-N levels recorded at event boundaries during a batch replay.

    Arrays have shape ``(boundaries, N)``; empty levels hold price ``NO_PRICE`` and size 0.
    ``index`` is the event index (into the batch) of the boundary's last event.
    """

    index: np.ndarray
    ts_event: np.ndarray
    bid_price: np.ndarray
    bid_size: np.ndarray
    bid_count: np.ndarray
    ask_price: np.ndarray
    ask_size: np.ndarray
    ask_count: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


@dataclass(slots=True)
class BatchResult:
    """What a batch apply did: applied and rejected counts (by reason), boundaries, depth."""

    applied: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    boundaries: int = 0
    crossed_boundaries: int = 0
    locked_boundaries: int = 0
    first_reject_index: int = -1
    depth: DepthRecord | None = None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def reject_counts(counts: np.ndarray) -> dict[str, int]:
    """A kernel's per-reason counter array as ``{reason_name: count}`` (non-zero only)."""
    return {
        _REASON_NAMES[i]: int(counts[i])
        for i in np.flatnonzero(counts).tolist()
        if i != RejectReason.OK
    }


_REASON_NAMES = {int(r): r.name.lower() for r in RejectReason}


class PriceEdge:
    """Exchange prices into a book's ticks, with off-grid prices refused *and counted*.

    Books work in integer ticks; NinjaTrader and the API hand over exchange prices (doubles,
    decimal text). :meth:`ticks` converts exactly on the book's instrument; a price off the tick
    grid raises :class:`~orderflow.core.errors.OffTickError` and counts as a refused update of
    reason ``off_tick`` in the book's own counters, like every other refusal.
    """

    instrument: Any

    def _count_reject(self, reason: int) -> None:
        raise NotImplementedError

    def ticks(self, price: str | Decimal | float | int) -> int:
        if self.instrument is None:
            raise ConfigError("this book has no instrument: pass prices in ticks", field="price")
        try:
            return int(self.instrument.to_ticks(price))
        except OffTickError:
            self._count_reject(RejectReason.OFF_TICK)
            raise


class BufferStamps(PriceEdge):
    """Reads a book's last stamps and reject counters from its one int64 state buffer.

    A book sets ``_buf`` and the offsets ``_SEQ``, ``_TS``, ``_TS_RECV`` (one cell each) and
    ``_REJ`` (one counter per :class:`RejectReason`) of its buffer's header.
    """

    _buf: np.ndarray
    _SEQ: int
    _TS: int
    _TS_RECV: int
    _REJ: int

    def _count_reject(self, reason: int) -> None:
        self._buf[self._REJ + int(reason)] += 1

    @property
    def rejected(self) -> dict[str, int]:
        """Refused updates by reason since the book was made (both paths)."""
        return reject_counts(self._buf[self._REJ : self._REJ + len(RejectReason)])

    @property
    def last_sequence(self) -> int:
        return int(self._buf[self._SEQ])

    @property
    def last_ts_event(self) -> int:
        return int(self._buf[self._TS])

    @property
    def last_ts_recv(self) -> int:
        return int(self._buf[self._TS_RECV])

    # ---- top of book, from the book's ``_best(side)`` -> (price, size) or None ----
    def _best(self, side: int) -> tuple[int, int] | None:
        raise NotImplementedError

    def best_bid(self) -> tuple[int, int] | None:
        """(price, size) of the best bid, or None. O(1)."""
        return self._best(0)

    def best_ask(self) -> tuple[int, int] | None:
        """(price, size) of the best ask, or None. O(1)."""
        return self._best(1)

    def top(self) -> TopOfBook:
        """Best bid and ask. O(1)."""
        bid, ask = self._best(0), self._best(1)
        return TopOfBook(
            bid[0] if bid else None,
            bid[1] if bid else 0,
            ask[0] if ask else None,
            ask[1] if ask else 0,
        )
