"""A fused kernel's compiled code called without numba's dispatcher, for the argument types every
call of the fused step has.

Calling a jitted function through its dispatcher resolves the type of every argument first
(for a structured-dtype array that is the slow path of numba's type resolution) and looks the
compiled version up; only then does the compiled wrapper unbox the arrays and run. The fused
step's calls always pass the same types: its own arrays (int64, C order, writable) and the
records of one dtype, made C-contiguous before the call. So after the first call through the
dispatcher, :class:`Entry` takes the compiled version numba chose for exactly those argument
types (``dispatcher.overloads[types].entry_point``, the wrapper numba's dispatcher itself
calls) and the step calls it directly: the same compiled code, the same results, about 0.9 us
less per call (measured on an empty kernel of the same five arguments).

The wrapper does not check types, so it is used only for arguments of the types it was taken
for: :func:`plain` says whether a record array is (C-contiguous, aligned, writable: numba types
a read-only or unaligned array differently); anything else goes through the dispatcher, which
resolves (and if need be compiles) as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

__all__ = ["Entry", "plain"]

_typeof: Callable[[object], object] = numba.typeof


def plain(a: np.ndarray) -> bool:
    """Whether ``a`` is typed as the step's arrays are: C-contiguous, aligned, writable."""
    f = a.flags
    return bool(f.c_contiguous and f.aligned and f.writeable)


class Entry:
    """One kernel's direct entry (``fast``: None until taken from a call through the
    dispatcher with :func:`plain` arguments; then the compiled wrapper, or the dispatcher
    itself when numba holds no version for those exact types)."""

    __slots__ = ("fast", "kernel")

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.fast: Callable[..., int] | None = None

    def take(self, args: tuple[Any, ...]) -> None:
        """The compiled version for ``args``' types (a call that just ran through the
        dispatcher with these arguments: numba holds that version)."""
        types = tuple(_typeof(a) for a in args)
        found = self.kernel.overloads.get(types)
        self.fast = found.entry_point if found is not None else self.kernel
