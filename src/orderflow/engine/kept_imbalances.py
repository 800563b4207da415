"""The book imbalance of a pipeline's latest event groups, for :attr:`Pipeline.imbalances`.

One pair of arrays (event times, imbalances) of twice the number kept: each call's groups are
copied in at the end (two slice copies); when they do not fit, the newest ``keep`` move to the
front first. The ``(time, imbalance)`` pairs are built only when read, which a strategy does
only for its order-flow exits: a call of a hundred records used to build a tuple per group
for a deque that kept the latest 256 of them. The moves are one compiled function
(:func:`take_imbalances`), which a fused pipeline's kernel calls in its last stage
(:func:`orderflow.engine._fused_prints.kept_stage`) on these arrays and the counts in ``_n``.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from orderflow.book._jit import kernel
from orderflow.core.errors import ParameterError

__all__ = ["KeptImbalances", "take_imbalances"]


class KeptImbalances:
    """The (event time, book imbalance) of the latest ``keep`` event groups taken."""

    __slots__ = ("_imb", "_n", "_ts", "keep")

    def __init__(self, keep: int) -> None:
        if keep < 1:
            raise ParameterError(f"keep must be >= 1, got {keep}")
        self.keep = keep
        #: held and keep, where the pipeline's fused step reads and moves them
        #: (:func:`orderflow.engine._fused_prints.kept_stage` takes a fused call's groups)
        self._n = np.array([0, keep], dtype=np.int64)
        self._ts = np.zeros(2 * keep, dtype=np.int64)
        self._imb = np.zeros(2 * keep, dtype=np.float64)

    @property
    def held(self) -> int:
        """How many are held (``_ts[:held]``; the newest ``keep`` of them are the kept ones)."""
        return int(self._n[0])

    @held.setter
    def held(self, value: int) -> None:
        self._n[0] = value

    def take(self, ts: np.ndarray, imbalance: np.ndarray) -> None:
        """The next groups' event times and imbalances (equal lengths), oldest first
        (:func:`take_imbalances`)."""
        take_imbalances(self._ts, self._imb, self._n, ts, imbalance)

    def append(self, ts: int, imbalance: float) -> None:
        """One group's event time and imbalance."""
        held, keep = self.held, self.keep
        if held == 2 * keep:
            self._ts[:keep] = self._ts[keep:]
            self._imb[:keep] = self._imb[keep:]
            held = keep
        self._ts[held] = ts
        self._imb[held] = imbalance
        self.held = held + 1

    def pairs(self) -> list[tuple[int, float]]:
        """The kept ``(time, imbalance)`` pairs, oldest first, as Python numbers. O(keep)."""
        held = self.held
        lo = max(held - self.keep, 0)
        return list(zip(self._ts[lo:held].tolist(), self._imb[lo:held].tolist(), strict=True))

    def as_deque(self) -> deque[tuple[int, float]]:
        """:meth:`pairs` in a deque bounded at ``keep`` (what the pipeline used to keep)."""
        return deque(self.pairs(), maxlen=self.keep)


@kernel
def take_imbalances(its: np.ndarray, iv: np.ndarray, kn: np.ndarray, ts: np.ndarray,
                    imbalance: np.ndarray) -> None:  # fmt: skip
    """:meth:`KeptImbalances.take`'s moves on its arrays ``its``, ``iv`` (twice ``keep``
    long) and counts ``kn`` (held, keep): ``keep`` or more groups replace what is held by
    their newest ``keep``; fewer are copied in after the held ones, the newest ``keep`` moved
    to the front first when they do not fit (keep + n fits then: n < keep)."""
    n, keep = len(ts), kn[1]
    if n >= keep:
        for i in range(keep):
            its[i] = ts[n - keep + i]
            iv[i] = imbalance[n - keep + i]
        kn[0] = keep
        return
    held = kn[0]
    if held + n > 2 * keep:  # the newest ``keep`` to the front
        for i in range(keep):
            its[i] = its[held - keep + i]
            iv[i] = iv[held - keep + i]
        held = keep
    for i in range(n):
        its[held + i] = ts[i]
        iv[held + i] = imbalance[i]
    kn[0] = held + n
