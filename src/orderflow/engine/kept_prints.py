"""The latest prints a pipeline took (event times and prices), for :meth:`Pipeline.prints_since`.

One pair of growing arrays holds them oldest first: each call's prints are copied in at the
end; when they do not fit, the oldest are dropped down to the newest ``keep`` (one move of the
rest to the front) and, if that is not room enough, the arrays grow (doubled). So a call costs
two slice copies, never an allocation once the arrays have reached their size, and a read is
one copy of the prints it returns (no concatenation of per-call pieces). The moves are one
compiled function (:func:`take_prints`), which a fused pipeline's kernel calls in its last stage
(:func:`orderflow.engine._fused_prints.kept_stage`) on these arrays and the counters in ``_n``;
only growth comes back to Python.
"""

from __future__ import annotations

import numpy as np

from orderflow.book._jit import kernel
from orderflow.core.errors import ParameterError
from orderflow.model.dtypes import TRADE_DTYPE

__all__ = ["KeptPrints", "take_prints"]

_TS, _PX = TRADE_DTYPE["ts_event"], TRADE_DTYPE["price"]
_NO_TS, _NO_PX = np.zeros(0, dtype=_TS), np.zeros(0, dtype=_PX)
_FIRST = 256  # the arrays' size at the first print


class KeptPrints:
    """The times and prices of the latest prints taken, at least the newest ``keep``."""

    __slots__ = ("_n", "_px", "_ts", "keep")

    def __init__(self, keep: int) -> None:
        if keep < 1:
            raise ParameterError(f"keep must be >= 1, got {keep}")
        self.keep = keep
        #: start, held and keep, where the pipeline's fused step reads and moves them
        #: (:func:`orderflow.engine._fused_prints.kept_stage` takes a fused call's prints)
        self._n = np.array([0, 0, keep], dtype=np.int64)
        self._ts, self._px = _NO_TS, _NO_PX

    @property
    def start(self) -> int:
        """How many prints were taken before the oldest one held."""
        return int(self._n[0])

    @start.setter
    def start(self, value: int) -> None:
        self._n[0] = value

    @property
    def held(self) -> int:
        """How many are held (``_ts[:held]``, ``_px[:held]``)."""
        return int(self._n[1])

    @held.setter
    def held(self, value: int) -> None:
        self._n[1] = value

    @property
    def taken(self) -> int:
        """Prints taken in all."""
        return self.start + self.held

    def take(self, ts: np.ndarray, px: np.ndarray) -> None:
        """The next prints' event times and prices (equal lengths), oldest first
        (:func:`take_prints`; the arrays grow, doubled, when that is not room enough)."""
        if not take_prints(self._ts, self._px, self._n, ts, px):
            held = self.held
            size = max(_FIRST, 2 * len(self._ts), held + len(ts))
            t, p = np.empty(size, dtype=_TS), np.empty(size, dtype=_PX)
            t[:held], p[:held] = self._ts[:held], self._px[:held]
            self._ts, self._px = t, p
            take_prints(t, p, self._n, ts, px)

    def since(self, count: int, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Times and prices (new arrays) of the prints taken after the first ``count`` (and
        within the first ``upto``, default all); those no longer held are left out (the
        oldest held is at :attr:`start`)."""
        start, held, _ = self._n.tolist()  # (Python ints in one call: a decision asks)
        k = max(count - start, 0)
        if upto is not None:
            held = min(held, upto - start)
        if k >= held:
            return _NO_TS, _NO_PX
        return self._ts[k:held].copy(), self._px[k:held].copy()


@kernel
def take_prints(kts: np.ndarray, kpx: np.ndarray, kn: np.ndarray, ts: np.ndarray,
                px: np.ndarray) -> bool:  # fmt: skip
    """:meth:`KeptPrints.take`'s moves on its arrays ``kts``, ``kpx`` and counters ``kn``
    (start, held, keep): when the prints ``ts``, ``px`` do not fit after the held ones, the
    newest ``keep`` move to the front first; then the prints are copied in. False, with the
    prints not copied, when they still do not fit (the caller grows the arrays and asks
    again)."""
    n, held, keep = len(ts), kn[1], kn[2]
    if held + n > len(kts):
        drop = held - keep
        if drop > 0:  # the newest ``keep`` to the front
            for i in range(keep):
                kts[i] = kts[drop + i]
                kpx[i] = kpx[drop + i]
            kn[0] += drop
            held = kn[1] = keep
        if held + n > len(kts):
            return False
    for i in range(n):
        kts[held + i] = ts[i]
        kpx[held + i] = px[i]
    kn[1] = held + n
    return True
