"""Instruments, codes and the shapes of events (single messages and bulk arrays)."""

# The names load on first use (PEP 562), so importing one submodule costs no more than before.
from __future__ import annotations

from typing import TYPE_CHECKING

from orderflow.core.exports import lazy_exports

if TYPE_CHECKING:
    from orderflow.model.dtypes import (
        BAR_DTYPE,
        LEVEL_DTYPE,
        MBO_DTYPE,
        NO_PRICE,
        NT_DEPTH_DTYPE,
        QUOTE_DTYPE,
        TRADE_DTYPE,
    )
    from orderflow.model.enums import Action, Flags, LevelAction, NtOperation, RejectReason, Side
    from orderflow.model.instruments import (
        Instrument,
        TradingHours,
        all_instruments,
        find_instrument,
        get_instrument,
    )

_EXPORTS = {
    "Action": "orderflow.model.enums",
    "BAR_DTYPE": "orderflow.model.dtypes",
    "Flags": "orderflow.model.enums",
    "Instrument": "orderflow.model.instruments",
    "LEVEL_DTYPE": "orderflow.model.dtypes",
    "LevelAction": "orderflow.model.enums",
    "MBO_DTYPE": "orderflow.model.dtypes",
    "NO_PRICE": "orderflow.model.dtypes",
    "NT_DEPTH_DTYPE": "orderflow.model.dtypes",
    "NtOperation": "orderflow.model.enums",
    "QUOTE_DTYPE": "orderflow.model.dtypes",
    "RejectReason": "orderflow.model.enums",
    "Side": "orderflow.model.enums",
    "TRADE_DTYPE": "orderflow.model.dtypes",
    "TradingHours": "orderflow.model.instruments",
    "all_instruments": "orderflow.model.instruments",
    "find_instrument": "orderflow.model.instruments",
    "get_instrument": "orderflow.model.instruments",
}

__all__ = [
    "BAR_DTYPE",
    "LEVEL_DTYPE",
    "MBO_DTYPE",
    "NO_PRICE",
    "NT_DEPTH_DTYPE",
    "QUOTE_DTYPE",
    "TRADE_DTYPE",
    "Action",
    "Flags",
    "Instrument",
    "LevelAction",
    "NtOperation",
    "RejectReason",
    "Side",
    "TradingHours",
    "all_instruments",
    "find_instrument",
    "get_instrument",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
