"""The latest prints a pipeline took (event times and prices), for :meth:`Pipeline.prints_since`.

One pair of growing arrays holds them oldest first: each call's prints are copied in at the
end; when they do not fit, the oldest are dropped down to the newest ``keep`` (one move of the
rest to the front) and, if that is not room enough, the arrays grow (doubled). So a call costs
two slice copies, never an allocation once the arrays have reached their size, and a read is
one copy of the prints it returns (no concatenation of per-call pieces). A fused pipeline's
calls are taken by the fused kernel's last stage (:func:`orderflow.engine._fused_prints.kept_stage`,
the same moves at the same points, on these arrays and the counters in ``_n``); only growth
comes back here.
"""

from __future__ import annotations

import numpy as np

from orderflow.core.errors import ParameterError
from orderflow.model.dtypes import TRADE_DTYPE

__all__ = ["KeptPrints"]

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
        """The next prints' event times and prices (equal lengths), oldest first."""
        n, held = len(ts), self.held
        if held + n > len(self._ts):
            drop = held - self.keep
            if drop > 0:  # the newest ``keep`` to the front
                self._ts[: self.keep] = self._ts[drop:held]
                self._px[: self.keep] = self._px[drop:held]
                self.start += drop
                held = self.held = self.keep
            if held + n > len(self._ts):
                size = max(_FIRST, 2 * len(self._ts), held + n)
                t, p = np.empty(size, dtype=_TS), np.empty(size, dtype=_PX)
                t[:held], p[:held] = self._ts[:held], self._px[:held]
                self._ts, self._px = t, p
        self._ts[held : held + n] = ts
        self._px[held : held + n] = px
        self.held = held + n

    def since(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Times and prices (new arrays) of the prints taken after the first ``count``; those
        no longer held are left out (the oldest held is at :attr:`start`)."""
        held = self.held
        k = max(count - self.start, 0)
        if k >= held:
            return _NO_TS, _NO_PX
        return self._ts[k:held].copy(), self._px[k:held].copy()
