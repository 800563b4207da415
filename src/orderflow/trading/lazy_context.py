"""A strategy context whose costlier fields are read only when the strategy reads them.

:class:`LazyContext` is a :class:`~orderflow.trading.context.StrategyContext` (same fields,
same type to ``isinstance``, frozen) built by the host for one decision: the fields in
:data:`LAZY` come from a function each, called on the first read and kept, so a strategy
that never looks at the bars, the POC, the VWAP, the metrics or the scores does not pay
for them. Every value is the one an eager context would hold, as long as it is read while
the decision lasts (the pipeline and our state do not move during ``decide``); the host
calls :meth:`LazyContext.materialise` when the strategy keeps the context beyond it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from orderflow.core.errors import ArgumentError
from orderflow.trading.context import StrategyContext

__all__ = ["LAZY", "LazyContext"]

#: the fields a :class:`LazyContext` reads on first use
LAZY = (
    "quote",
    "poc_ticks",
    "vwap_ticks",
    "liquidity",
    "long_score",
    "short_score",
    "bars",
    "metrics",
    "entry_block",
    "value_area",
    "vwap_bands",
    "imbalance_groups",
)
_FIELDS = frozenset(f.name for f in fields(StrategyContext))

#: a function per lazy field, of the context's source (what the fields are read from)
Makers = Mapping[str, Callable[[Any], Any]]


class LazyContext(StrategyContext):
    """See the module docstring. Built with :meth:`build`; ``dataclasses.replace`` and the
    dataclass ``__init__`` work too (every field then given, nothing lazy left)."""

    __slots__ = ("_got", "_make", "_src")

    _got: dict[str, Any]
    _make: Makers
    _src: Any

    @classmethod
    def build(cls, values: Mapping[str, Any], make: Makers, src: Any = None) -> LazyContext:
        """A context with the fields ``values`` and, for each field of :data:`LAZY`, the
        function ``make`` gives, called with ``src`` at most once, on the first read."""
        if set(make) != set(LAZY) or set(values) | set(make) != _FIELDS:
            raise ArgumentError("a lazy context needs every field: a value or a maker")
        return cls.of(values, make, src)

    @classmethod
    def of(cls, values: Mapping[str, Any], make: Makers, src: Any) -> LazyContext:
        """:meth:`build` without the check of the field names (the host's, once a
        decision: its names are :data:`LAZY` and the others, as the tests hold)."""
        self = object.__new__(cls)
        try:  # each value through its slot's setter (a plain loop: ``map(operator.call,
            # ...)`` builds two argument tuples a field and cost more, 2.6 against 1.8 us)
            for k, v in values.items():
                _PUT[k](self, v)
        except KeyError:  # a lazy field's name (its property) or not a field: one by one
            for k, v in values.items():
                setter = _PUT.get(k)
                if setter is None:
                    object.__setattr__(self, k, v)
                else:
                    setter(self, v)
        _PUT_GOT(self, {})
        _PUT_MAKE(self, make)
        _PUT_SRC(self, src)
        return self

    def materialise(self) -> None:
        """Read every lazy field now (a context kept past its decision holds the values of
        that decision) and drop the makers (and the pipeline they read)."""
        for name in LAZY:
            getattr(self, name)
        object.__setattr__(self, "_make", {})
        object.__setattr__(self, "_src", None)

    def pending(self) -> tuple[str, ...]:
        """The lazy fields not read so far."""
        got = _got_of(self)
        return tuple(n for n in LAZY if n not in got)


def _got_of(ctx: LazyContext) -> dict[str, Any]:
    try:
        return ctx._got
    except AttributeError:  # made by the dataclass __init__ (replace): every field is set
        object.__setattr__(ctx, "_got", {})
        object.__setattr__(ctx, "_make", {})
        object.__setattr__(ctx, "_src", None)
        return ctx._got


def _lazy(name: str) -> property:
    def get(self: LazyContext) -> Any:
        got = self._got
        if name in got:
            return got[name]
        value = got[name] = self._make[name](self._src)
        return value

    def put(self: LazyContext, value: Any) -> None:  # the dataclass __init__ (replace)
        _got_of(self)[name] = value

    return property(get, put, doc=f"``{name}``, read on first use")


for _name in LAZY:
    setattr(LazyContext, _name, _lazy(_name))

#: the slots' own setters of the fields that are not lazy, and of the three of LazyContext:
#: what ``object.__setattr__`` finds for each (a frozen context's fields are set through
#: them), without looking the name up along the class's MRO at every field of every decision
_PUT: dict[str, Callable[[Any, Any], None]] = {
    f.name: getattr(StrategyContext, f.name).__set__
    for f in fields(StrategyContext)
    if f.name not in LAZY
}
_PUT_GOT = LazyContext.__dict__["_got"].__set__
_PUT_MAKE = LazyContext.__dict__["_make"].__set__
_PUT_SRC = LazyContext.__dict__["_src"].__set__
