"""Viewing the fused step's state arrays from its table of (address, shape) rows. Private:
see :mod:`orderflow.engine._fused_kernels`.

Numba unboxes every array argument of a call (~100 ns each, a tuple's members alike), so the
step's entry points take ONE table of rows ``(address, shape...)`` and view each array in
place; the views have exactly the types the arrays have, so the components' kernels are the
same compiled functions. The wrapper (:class:`orderflow.engine.fused.FusedStep`) keeps every
tabled array alive and rebuilds a row whenever its array is replaced.
"""

from __future__ import annotations

import numpy as np
from numba import from_dtype, njit, types
from numba.extending import intrinsic
from numba.np.numpy_support import carray

from orderflow.analytics.bars import BAR_RECORD_DTYPE

_BAR = from_dtype(BAR_RECORD_DTYPE)


@intrinsic
def _i8p(typingctx, addr):  # type: ignore[no-untyped-def]
    """An address (int64) as an int64 pointer."""
    ptr = types.CPointer(types.int64)  # type: ignore[no-untyped-call]

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.inttoptr(args[0], context.get_value_type(ptr))

    return ptr(types.int64), codegen


@intrinsic
def _f8p(typingctx, addr):  # type: ignore[no-untyped-def]
    """An address (int64) as a float64 pointer."""
    ptr = types.CPointer(types.float64)  # type: ignore[no-untyped-call]

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.inttoptr(args[0], context.get_value_type(ptr))

    return ptr(types.int64), codegen


@njit(cache=True, inline="always")
def _i1(tab: np.ndarray, r: int) -> np.ndarray:
    return carray(_i8p(tab[r, 0]), (tab[r, 1],))  # type: ignore[call-arg]


@njit(cache=True, inline="always")
def _i2(tab: np.ndarray, r: int) -> np.ndarray:
    return carray(_i8p(tab[r, 0]), (tab[r, 1], tab[r, 2]))  # type: ignore[call-arg]


@njit(cache=True, inline="always")
def _i3(tab: np.ndarray, r: int) -> np.ndarray:
    return carray(_i8p(tab[r, 0]), (tab[r, 1], tab[r, 2], tab[r, 3]))  # type: ignore[call-arg]


@njit(cache=True, inline="always")
def _f1(tab: np.ndarray, r: int) -> np.ndarray:
    return carray(_f8p(tab[r, 0]), (tab[r, 1],))  # type: ignore[call-arg]


@njit(cache=True, inline="always")
def _f2(tab: np.ndarray, r: int) -> np.ndarray:
    return carray(_f8p(tab[r, 0]), (tab[r, 1], tab[r, 2]))  # type: ignore[call-arg]


@intrinsic
def _barp(typingctx, addr):  # type: ignore[no-untyped-def]
    """An address (int64) as a pointer to bar records (:data:`BAR_RECORD_DTYPE`)."""
    ptr = types.CPointer(_BAR)  # type: ignore[no-untyped-call]

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.inttoptr(args[0], context.get_value_type(ptr))

    return ptr(types.int64), codegen


@njit(cache=True, inline="always")
def _bars(tab: np.ndarray, r: int) -> np.ndarray:
    return carray(_barp(tab[r, 0]), (tab[r, 1],))  # type: ignore[call-arg]
