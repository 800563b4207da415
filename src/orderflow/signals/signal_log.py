"""The pipeline's signals as they came, bounded: a running count, the latest few, cursors.

A pipeline runs for hours (a live session, a backtest of a whole day) and fires thousands of
signals an hour, each with its evidence; keeping every one would grow memory with the run.
:class:`SignalLog` keeps the total count, the running long and short counts and a ring of the
latest ``kept`` entries. Readers hold a count (how many they have taken) and ask for
:meth:`SignalLog.since` that count: a strategy deciding every batch, the dashboard's stream.
What needs every signal (a table of them, ``signals evaluate``) asks for ``kept=None``.

``len()`` is the total count, whatever is kept; reading by position (``log[i]``, slices,
iteration, ``==``) gives the entries as if all were kept and refuses, with
:class:`~orderflow.core.errors.ArgumentError`, a position that is no longer kept, so a
reader that assumed the whole history learns it loudly instead of reading a part.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Generic, Protocol, TypeVar, overload

from orderflow.core.errors import ArgumentError, ParameterError

__all__ = ["SIGNALS_KEPT", "SignalLog"]

#: entries a pipeline's logs keep by default: many times what arrives between two decisions
#: (a 65,536-record chunk of an active ES hour brings about 200), a few MB of evidence
SIGNALS_KEPT = 4096


class _Directed(Protocol):
    @property
    def direction(self) -> int: ...


T = TypeVar("T", bound=_Directed)


class SignalLog(Generic[T]):
    """Signals (or accumulated signals) in arrival order: every count, the latest ``kept``
    (None: all). Appending is O(1); :meth:`since` and :meth:`latest` are O(entries returned)."""

    __slots__ = ("_ring", "count", "kept", "long", "short")

    def __init__(self, kept: int | None = SIGNALS_KEPT, items: Iterable[T] = ()) -> None:
        if kept is not None and (isinstance(kept, bool) or kept < 1):
            raise ParameterError(f"signals kept must be >= 1 or None (all), got {kept!r}")
        self.kept = kept
        self._ring: deque[T] = deque(maxlen=kept)
        #: entries ever appended; long: with direction > 0, short: < 0
        self.count = 0
        self.long = 0
        self.short = 0
        self.extend(items)

    # ---- writing ---------------------------------------------------------------------------
    def append(self, item: T) -> None:
        self._ring.append(item)
        self.count += 1
        d = item.direction
        if d > 0:
            self.long += 1
        elif d < 0:
            self.short += 1

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    # ---- reading by count ------------------------------------------------------------------
    @property
    def first_kept(self) -> int:
        """The count (position) of the oldest entry still kept."""
        return self.count - len(self._ring)

    def since(self, count: int) -> list[T]:
        """The entries after the first ``count`` (a reader's cursor), oldest first; those no
        longer kept are left out (:meth:`missed` says how many). O(entries returned)."""
        n = self.count - max(count, self.first_kept)
        if n <= 0:
            return []
        if n == len(self._ring):
            return list(self._ring)
        out = list(itertools.islice(reversed(self._ring), n))
        out.reverse()
        return out

    def missed(self, count: int) -> int:
        """How many entries after ``count`` are no longer kept (0 for a reader keeping up)."""
        return max(0, self.first_kept - max(count, 0))

    def latest(self, n: int) -> list[T]:
        """The latest ``n`` kept entries, oldest first."""
        return self.since(self.count - max(n, 0))

    # ---- reading by position (every entry must still be kept) -------------------------------
    def __len__(self) -> int:
        return self.count

    def _check(self, start: int) -> None:
        if start < self.first_kept:
            raise ArgumentError(
                f"signal {start} is no longer kept: the log keeps the latest {self.kept} of "
                f"{self.count} (read them with since(count), or keep every one: kept=None)"
            )

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            start, stop, step = i.indices(self.count)
            if step != 1:
                raise ArgumentError("a signal log is read in order (step 1)")
            if stop <= start:
                return []
            self._check(start)
            out = self.since(start)
            return out[: stop - start]
        j = i + self.count if i < 0 else i
        if not 0 <= j < self.count:
            raise IndexError(f"signal {i} of {self.count}")
        self._check(j)
        return self._ring[j - self.first_kept]

    def __iter__(self) -> Iterator[T]:
        self._check(0)
        return iter(list(self._ring))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SignalLog | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SignalLog(count={self.count}, kept={len(self._ring)}, limit={self.kept})"
