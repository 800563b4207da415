"""The instrument registry: CME futures that the NinjaTrader strategy trades.

Specs are from the CME contract pages listed in ``shared/docs/ninjatrader-api.md`` section 5.
Tick size is kept as a decimal string so conversions stay exact; tick value = tick size x point
value, in the contract currency. Trading hours are data (a session template), not code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any

from orderflow.core.errors import ConfigError
from orderflow.core.units import (
    PRICE_SCALE,
    decimals_of,
    fixed_to_ticks,
    format_price,
    to_fixed,
)


@lru_cache(maxsize=256)
def _fixed_of(tick_size: str) -> int:
    """A tick size in 1e-9 units, computed once per distinct size (read on every price)."""
    return to_fixed(tick_size)


@dataclass(frozen=True, slots=True)
class TradingHours:
    """A session template in the exchange's time zone: open the day before, close, break."""

    name: str
    timezone: str
    open: str  # HH:MM, the session opens at this time on the previous calendar day
    close: str  # HH:MM
    rth_open: str | None = None  # regular trading hours within the session, when defined
    rth_close: str | None = None


CME_EQUITY = TradingHours(
    "CME US Index Futures ETH", "America/New_York", "18:00", "17:00", "09:30", "16:00"
)
CME_ENERGY = TradingHours(
    "Nymex Energy ETH", "America/New_York", "18:00", "17:00", "09:00", "14:30"
)
CME_METALS = TradingHours(
    "Comex Metals ETH", "America/New_York", "18:00", "17:00", "08:20", "13:30"
)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One futures product (all its contract months share these specs)."""

    symbol: str  # root, e.g. "ES"
    name: str
    exchange: str
    tick_size: str  # decimal string, exact
    point_value: str  # currency per 1.0 of price
    currency: str = "USD"
    trading_hours: TradingHours = CME_EQUITY
    micro_of: str | None = None  # for a micro: the standard it is a fraction of
    micro_ratio: int = 1  # standard point value / micro point value
    contract: str | None = None  # a specific contract (e.g. "ESH4") when known
    instrument_id: int | None = None  # feed id (Databento) when known
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def tick_fixed(self) -> int:
        """Tick size in fixed-point 1e-9 units."""
        return _fixed_of(self.tick_size)

    @property
    def tick_value(self) -> Decimal:
        """Currency value of one tick for one contract."""
        return Decimal(self.tick_size) * Decimal(self.point_value)

    @property
    def price_decimals(self) -> int:
        return decimals_of(self.tick_size)

    def to_ticks(self, price: str | Decimal | float | int) -> int:
        """Exchange price to integer ticks; off-grid raises ``OffTickError``."""
        return fixed_to_ticks(to_fixed(price), _fixed_of(self.tick_size))

    def to_price(self, ticks: int) -> float:
        """Integer ticks to the exchange's price, for display and JSON."""
        return int(ticks) * self.tick_fixed / PRICE_SCALE

    def format(self, ticks: int) -> str:
        return format_price(ticks, self.tick_size)

    def for_contract(self, contract: str, instrument_id: int | None = None) -> Instrument:
        return replace(self, contract=contract, instrument_id=instrument_id)

    def to_dict(self) -> dict[str, Any]:
        """Plain fields for ``--json`` and the API."""
        return {
            "symbol": self.symbol,
            "name": self.name,
            "exchange": self.exchange,
            "tick_size": float(Decimal(self.tick_size)),
            "tick_value": float(self.tick_value),
            "point_value": float(Decimal(self.point_value)),
            "currency": self.currency,
            "trading_hours": self.trading_hours.name,
            "timezone": self.trading_hours.timezone,
            "session_open": self.trading_hours.open,
            "session_close": self.trading_hours.close,
            "micro_of": self.micro_of,
            "standard_of": micro_of_standard(self.symbol),
            "micro_ratio": self.micro_ratio,
            "contract": self.contract,
        }


_SPECS: tuple[Instrument, ...] = (
    Instrument("ES", "E-mini S&P 500", "CME", "0.25", "50"),
    Instrument("MES", "Micro E-mini S&P 500", "CME", "0.25", "5", micro_of="ES", micro_ratio=10),
    Instrument("NQ", "E-mini Nasdaq-100", "CME", "0.25", "20"),
    Instrument("MNQ", "Micro E-mini Nasdaq-100", "CME", "0.25", "2", micro_of="NQ", micro_ratio=10),
    Instrument("YM", "E-mini Dow ($5)", "CBOT", "1", "5"),
    Instrument("MYM", "Micro E-mini Dow", "CBOT", "1", "0.5", micro_of="YM", micro_ratio=10),
    Instrument("RTY", "E-mini Russell 2000", "CME", "0.1", "50"),
    Instrument(
        "M2K", "Micro E-mini Russell 2000", "CME", "0.1", "5", micro_of="RTY", micro_ratio=10
    ),
    Instrument("CL", "Crude Oil (WTI)", "NYMEX", "0.01", "1000", trading_hours=CME_ENERGY),
    Instrument(
        "MCL",
        "Micro WTI Crude Oil",
        "NYMEX",
        "0.01",
        "100",
        trading_hours=CME_ENERGY,
        micro_of="CL",
        micro_ratio=10,
    ),
    Instrument("GC", "Gold", "COMEX", "0.1", "100", trading_hours=CME_METALS),
    Instrument(
        "MGC",
        "Micro Gold",
        "COMEX",
        "0.1",
        "10",
        trading_hours=CME_METALS,
        micro_of="GC",
        micro_ratio=10,
    ),
)

REGISTRY: dict[str, Instrument] = {i.symbol: i for i in _SPECS}

_MONTH_CODES = "FGHJKMNQUVXZ"
# ESH4, ESZ25, MESM4 ... (root, month code, 1-2 digit year)
_CONTRACT_RE = re.compile(rf"^([A-Z0-9]{{1,4}}?)([{_MONTH_CODES}])(\d{{1,2}})$")
# NinjaTrader names: "ES 03-24", "MNQ 12-25"
_NT_RE = re.compile(r"^([A-Z0-9]{1,4})\s+(\d{2})-(\d{2})$")


def micro_of_standard(symbol: str) -> str | None:
    """The micro contract of a standard one (ES -> MES), or None."""
    for inst in _SPECS:
        if inst.micro_of == symbol:
            return inst.symbol
    return None


#: contracts already looked up, by the name asked and the root's registry entry (a root
#: replaced in the registry makes its cached contracts miss): the trading layer looks
#: instruments up by name on every order and fill
_CONTRACTS: dict[str, tuple[Instrument, Instrument]] = {}


def get_instrument(symbol: str) -> Instrument:
    """Look up a root (``ES``), a contract (``ESH4``) or a NinjaTrader name (``ES 03-24``)."""
    hit = _CONTRACTS.get(symbol)
    if hit is not None and REGISTRY.get(hit[0].symbol) is hit[0]:
        return hit[1]
    text = symbol.strip().upper()
    if text in REGISTRY:
        return REGISTRY[text]
    nt = _NT_RE.match(text)
    if nt and nt.group(1) in REGISTRY:
        month = _MONTH_CODES[int(nt.group(2)) - 1]
        root = REGISTRY[nt.group(1)]
        got = root.for_contract(f"{nt.group(1)}{month}{nt.group(3)[-1]}")
        _CONTRACTS[symbol] = (root, got)
        return got
    m = _CONTRACT_RE.match(text)
    if m and m.group(1) in REGISTRY:
        root = REGISTRY[m.group(1)]
        got = root.for_contract(text)
        _CONTRACTS[symbol] = (root, got)
        return got
    known = ", ".join(REGISTRY)
    raise ConfigError(f"unknown instrument {symbol!r}; known roots: {known}", field="instrument")


def find_instrument(symbol: str) -> Instrument | None:
    """Like :func:`get_instrument` but returns None for symbols outside the registry."""
    try:
        return get_instrument(symbol)
    except ConfigError:
        return None


def generic_instrument(symbol: str, tick_size: str, point_value: str = "1") -> Instrument:
    """An instrument outside the futures registry (e.g. a LOBSTER stock with a 0.01 tick)."""
    return Instrument(symbol, symbol, "UNKNOWN", tick_size, point_value)


def instrument_from_definition(record: Any) -> Instrument:
    """Build an instrument from a Databento definition record (``InstrumentDefMsg``).

    The registry supplies what the definition lacks (name, session template, micro link); the
    definition's own tick size, multiplier and id win where both speak.
    """
    raw = str(record.raw_symbol).strip()
    root = str(getattr(record, "asset", "") or "").strip() or raw[:-2]
    tick = Decimal(int(record.min_price_increment)) / Decimal(PRICE_SCALE)
    uom = int(getattr(record, "unit_of_measure_qty", 0) or 0)
    # Databento: unit_of_measure_qty is fixed-point 1e-9 (ES: 50.0); int64 max means undefined.
    point_value = Decimal(uom) / Decimal(PRICE_SCALE) if 0 < uom < 2**62 else Decimal(0)
    base = REGISTRY.get(root)
    tick_str = format(tick.normalize(), "f")
    if base is None:
        inst = Instrument(
            root,
            raw,
            str(getattr(record, "exchange", "") or "GLBX"),
            tick_str,
            format(point_value.normalize(), "f") if point_value else "1",
        )
        return inst.for_contract(raw, int(record.instrument_id))
    return replace(
        base,
        tick_size=tick_str,
        point_value=format(point_value.normalize(), "f") if point_value else base.point_value,
        contract=raw,
        instrument_id=int(record.instrument_id),
    )


def all_instruments() -> list[Instrument]:
    return list(_SPECS)
