"""The numba options every book kernel is compiled with, and the typed decorators that apply
them (:func:`kernel`, :func:`inline_kernel`, :func:`eager_kernel`).

``_nrt=False`` compiles without numba's reference-counting runtime. Book kernels never allocate
and never let an array view escape, so they need none of it, while with it every array passed
between kernels pays atomic incref/decref pairs: the L3 replay of ESH4 measured 7 M events/s
with NRT and 31 M without (same machine, same process). It is a private numba option, so it is
used only where this numba still declares it; elsewhere the kernels compile the ordinary way,
identical in behaviour, only slower.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from numba import njit

try:
    from numba.core.cpu import CPUTargetOptions

    _HAS_NRT_SWITCH = hasattr(CPUTargetOptions, "_nrt")
except ImportError:  # pragma: no cover - a numba without this layout
    _HAS_NRT_SWITCH = False

#: keyword arguments for ``numba.njit`` of kernels that never allocate
KERNEL: dict[str, Any] = {"cache": True, **({"_nrt": False} if _HAS_NRT_SWITCH else {})}

_F = TypeVar("_F", bound=Callable[..., object])

# The decorators of the kernels: ``numba.njit`` with :data:`KERNEL`, typed so that a kernel keeps
# its own signature for the type checker (numba's stub cannot choose an overload of ``njit``
# for ``**KERNEL``, so the plain decorator would leave every kernel and every call to it
# untyped). At run time each is exactly the ``njit`` call it names.


def kernel(fn: _F) -> _F:
    """``numba.njit(**KERNEL)(fn)``: compiled lazily, one specialisation per argument types."""
    return cast(_F, njit(**KERNEL)(fn))


def inline_kernel(fn: _F) -> _F:
    """``numba.njit(inline="always", **KERNEL)(fn)``: inlined into the kernels that call it."""
    return cast(_F, njit(inline="always", **KERNEL)(fn))


def eager_kernel(signature: Any) -> Callable[[_F], _F]:
    """``numba.njit(signature, **KERNEL)``: compiled for ``signature`` only, at import."""

    def wrap(fn: _F) -> _F:
        return cast(_F, njit(signature, **KERNEL)(fn))

    return wrap
