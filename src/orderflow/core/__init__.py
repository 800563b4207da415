"""Units, time and the error tree: the layer everything else stands on."""

# The names load on first use (PEP 562), so importing one submodule costs no more than before.
from __future__ import annotations

from typing import TYPE_CHECKING

from orderflow.core.exports import lazy_exports

if TYPE_CHECKING:
    from orderflow.core.errors import (
        BookIntegrityError,
        BookUpdateError,
        ConfigError,
        DecodeError,
        MarketDataError,
        OrderflowError,
        RequestError,
        TradingInputError,
    )
    from orderflow.core.time import Clock, ReplayClock, WallClock, ns_to_iso, parse_time
    from orderflow.core.units import format_price, price_to_ticks, ticks_to_decimal, ticks_to_float

_EXPORTS = {
    "BookIntegrityError": "orderflow.core.errors",
    "BookUpdateError": "orderflow.core.errors",
    "Clock": "orderflow.core.time",
    "ConfigError": "orderflow.core.errors",
    "DecodeError": "orderflow.core.errors",
    "MarketDataError": "orderflow.core.errors",
    "OrderflowError": "orderflow.core.errors",
    "ReplayClock": "orderflow.core.time",
    "RequestError": "orderflow.core.errors",
    "TradingInputError": "orderflow.core.errors",
    "WallClock": "orderflow.core.time",
    "format_price": "orderflow.core.units",
    "ns_to_iso": "orderflow.core.time",
    "parse_time": "orderflow.core.time",
    "price_to_ticks": "orderflow.core.units",
    "ticks_to_decimal": "orderflow.core.units",
    "ticks_to_float": "orderflow.core.units",
}

__all__ = [
    "BookIntegrityError",
    "BookUpdateError",
    "Clock",
    "ConfigError",
    "DecodeError",
    "MarketDataError",
    "OrderflowError",
    "ReplayClock",
    "RequestError",
    "TradingInputError",
    "WallClock",
    "format_price",
    "ns_to_iso",
    "parse_time",
    "price_to_ticks",
    "ticks_to_decimal",
    "ticks_to_float",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
