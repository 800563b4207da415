"""The compiled passes of :mod:`orderflow.core.units` over arrays of prices, in their own module
so that importing the exact conversions (settings, instruments, the CLI) loads no numba."""

from __future__ import annotations

import numpy as np
from numba import njit

from orderflow.core.scale import PRICE_SCALE, VECTOR_EXACT

__all__ = ["fast_ticks", "first_far"]


@njit(cache=True)
def fast_ticks(p, tick_fixed, out):  # type: ignore[no-untyped-def]
    """One pass: ``out[i]`` = ticks of ``p[i]``; returns the first index the fast path cannot
    prove exact (not finite, huge, finer than 1e-9 or off the grid), or -1."""
    for i in range(p.shape[0]):
        x = p[i]
        if not (abs(x) < VECTOR_EXACT):  # also false for NaN
            return i
        fixed = np.rint(x * PRICE_SCALE)
        if fixed / PRICE_SCALE != x:
            return i
        f = np.int64(fixed)
        if f % tick_fixed != 0:
            return i
        out[i] = f // tick_fixed
    return -1


@njit(cache=True)
def first_far(ticks, check, ref, has_ref, max_abs):  # type: ignore[no-untyped-def]
    """The first index ``check`` marks whose tick is beyond ``max_abs`` or, with ``has_ref``,
    more than ``max(|ref| // 2, 1000)`` ticks from ``ref``; -1 when none."""
    lim = max(abs(ref) // 2, 1000)
    for i in range(ticks.shape[0]):
        if check[i]:
            t = ticks[i]
            if abs(t) > max_abs or (has_ref and abs(t - ref) > lim):
                return i
    return -1
