"""Broker profiles: what a trade costs, what margin it ties up, which orders the broker takes.

**The numbers here are defaults to be edited, not quotes.** Fees change every year and differ by
broker, license and membership; set the ones on your statement in the settings
(``trading.broker.overrides``). Where the defaults come from:

- exchange fees per side: the CME Group fee schedule for non-members trading on Globex (E-mini
  equity index about $1.38, Micro equity index about $0.35, NYMEX crude oil about $1.50, COMEX
  gold about $1.55, their micros about $0.50), rounded, as seen in 2024;
- clearing fee per side: a typical futures commission merchant's pass-through ($0.10 standard,
  $0.05 micro);
- NFA fee: the NFA assessment of $0.02 per side per contract;
- commission per side: a typical retail discount broker ($1.29 standard, $0.35 micro; the
  micro figure is the NinjaTrader Brokerage free-license rate quoted in
  ``shared/docs/ninjatrader-api.md`` section 5);
- intraday margins: typical discount-broker day-trade margins ($500 per E-mini, $50 per micro;
  $1,000 for NQ, CL and GC);
- overnight margins: the order of magnitude of CME maintenance margins in 2024 (they change
  with volatility, often monthly);
- order rate: a conservative 5 orders a second, well under broker and CME messaging limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from orderflow.core.errors import ConfigError, ParameterError
from orderflow.model.instruments import REGISTRY, get_instrument
from orderflow.trading.checks import MAX_MONEY, number

ORDER_TYPES = ("Market", "Limit", "StopMarket", "StopLimit", "MIT")


@dataclass(frozen=True, slots=True)
class ProductCosts:
    """Costs and margins of one contract of one product, in its currency."""

    commission_per_side: float
    exchange_fee_per_side: float
    clearing_fee_per_side: float
    nfa_fee_per_side: float
    intraday_margin: float
    overnight_margin: float

    def __post_init__(self) -> None:
        for f in fields(self):
            number(self, f.name, lo=0, hi=MAX_MONEY)

    @property
    def per_side(self) -> float:
        """Everything paid per contract per side (commission and fees)."""
        return (
            self.commission_per_side
            + self.exchange_fee_per_side
            + self.clearing_fee_per_side
            + self.nfa_fee_per_side
        )

    @property
    def round_turn(self) -> float:
        return 2 * self.per_side


@dataclass(frozen=True, slots=True)
class BrokerProfile:
    """One broker account's terms, per product root."""

    name: str
    description: str
    costs: Mapping[str, ProductCosts]
    allowed_order_types: frozenset[str] = frozenset(ORDER_TYPES)
    max_orders_per_s: float = 5.0
    currency: str = "USD"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.allowed_order_types) - set(ORDER_TYPES)
        if unknown:
            raise ParameterError(f"unknown order types {sorted(unknown)} (known: {ORDER_TYPES})")
        number(self, "max_orders_per_s", lo=0, lo_open=True, hi=1e9)

    def costs_for(self, symbol: str) -> ProductCosts:
        """Costs of a root, contract or NinjaTrader name (``ES``, ``ESH4``, ``ES 03-24``)."""
        root = get_instrument(symbol).symbol
        try:
            return self.costs[root]
        except KeyError:
            raise ConfigError(
                f"broker profile {self.name!r} has no costs for {root}", field="trading.broker"
            ) from None

    def commission(self, symbol: str, contracts: int, sides: int = 1) -> float:
        """Commission and fees for ``contracts`` contracts traded ``sides`` times (2: a round
        turn), rounded to the cent."""
        return round(self.costs_for(symbol).per_side * abs(contracts) * sides, 2)

    def round_turn(self, symbol: str, contracts: int = 1) -> float:
        return self.commission(symbol, contracts, sides=2)

    def margin(self, symbol: str, contracts: int = 1, overnight: bool = False) -> float:
        c = self.costs_for(symbol)
        return (c.overnight_margin if overnight else c.intraday_margin) * abs(contracts)

    def allows(self, order_type: str) -> bool:
        return order_type in self.allowed_order_types

    def with_overrides(self, overrides: Mapping[str, Mapping[str, float]]) -> BrokerProfile:
        """A copy with some products' costs replaced field by field (from the settings)."""
        costs = dict(self.costs)
        for symbol, changes in overrides.items():
            root = get_instrument(symbol).symbol
            base = costs.get(root)
            if base is None:
                costs[root] = ProductCosts(**changes)
            else:
                costs[root] = replace(base, **changes)
        return replace(self, costs=costs)


def _typical(
    commission: float, exchange: float, clearing: float, intraday: float, overnight: float
) -> ProductCosts:
    return ProductCosts(commission, exchange, clearing, 0.02, intraday, overnight)


# Defaults to edit (see the module docstring for where each figure comes from).
_DEFAULT_COSTS: dict[str, ProductCosts] = {
    "ES": _typical(1.29, 1.38, 0.10, 500.0, 12_500.0),
    "MES": _typical(0.35, 0.35, 0.05, 50.0, 1_250.0),
    "NQ": _typical(1.29, 1.38, 0.10, 1_000.0, 18_000.0),
    "MNQ": _typical(0.35, 0.35, 0.05, 100.0, 1_800.0),
    "YM": _typical(1.29, 1.38, 0.10, 500.0, 9_000.0),
    "MYM": _typical(0.35, 0.35, 0.05, 50.0, 900.0),
    "RTY": _typical(1.29, 1.38, 0.10, 500.0, 6_500.0),
    "M2K": _typical(0.35, 0.35, 0.05, 50.0, 650.0),
    "CL": _typical(1.29, 1.50, 0.10, 1_000.0, 6_000.0),
    "MCL": _typical(0.35, 0.50, 0.05, 100.0, 600.0),
    "GC": _typical(1.29, 1.55, 0.10, 1_000.0, 9_000.0),
    "MGC": _typical(0.35, 0.50, 0.05, 100.0, 900.0),
}

DEFAULT_PROFILE = BrokerProfile(
    "default",
    "typical US retail discount broker with CME non-member fees (2024 figures, rounded): "
    "defaults to be edited, not a quote",
    _DEFAULT_COSTS,
)

ZERO_COST_PROFILE = BrokerProfile(
    "zero",
    "no commission, fees or margin: research and signal evaluation only",
    {root: ProductCosts(0.0, 0.0, 0.0, 0.0, 0.0, 0.0) for root in REGISTRY},
    max_orders_per_s=1_000.0,
)

PROFILES: dict[str, BrokerProfile] = {p.name: p for p in (DEFAULT_PROFILE, ZERO_COST_PROFILE)}


def get_profile(name: str) -> BrokerProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(
            f"setting trading.broker.profile: unknown broker profile {name!r} "
            f"(known: {', '.join(PROFILES)})",
            field="trading.broker.profile",
        ) from None


@dataclass(frozen=True, slots=True)
class BrokerParams:
    """Which profile to use and what to change in it (``trading.broker`` in the settings)."""

    profile: str = "default"
    overrides: dict[str, dict[str, float]] = field(default_factory=dict)
    allowed_order_types: tuple[str, ...] | None = None  # None: the profile's
    max_orders_per_s: float | None = None  # None: the profile's

    def __post_init__(self) -> None:
        if not isinstance(self.profile, str):
            raise ParameterError(f"profile: a profile name is expected, not {self.profile!r}")
        number(self, "max_orders_per_s", lo=0, lo_open=True, hi=1e9, optional=True)
        if not isinstance(self.overrides, Mapping):
            raise ParameterError("overrides: a mapping of product to cost fields")
        names = {f.name for f in fields(ProductCosts)}
        for symbol, changes in self.overrides.items():
            if not isinstance(changes, Mapping):
                raise ParameterError(f"overrides.{symbol}: a mapping of cost fields")
            for key, value in changes.items():
                if key not in names:
                    raise ParameterError(f"overrides.{symbol}.{key}: unknown (known: "
                                         f"{', '.join(sorted(names))})")  # fmt: skip
                if isinstance(value, bool) or not isinstance(value, int | float) \
                        or not 0 <= value < MAX_MONEY:  # NaN fails too  # fmt: skip
                    raise ParameterError(f"overrides.{symbol}.{key}: {value!r} must be a finite "
                                         f"number >= 0")  # fmt: skip

    def build(self) -> BrokerProfile:
        """The profile with the overrides applied; bad keys raise :class:`ConfigError`."""
        base = get_profile(self.profile)
        try:
            out = base.with_overrides(self.overrides)
            if self.allowed_order_types is not None:
                out = replace(out, allowed_order_types=frozenset(self.allowed_order_types))
            if self.max_orders_per_s is not None:
                out = replace(out, max_orders_per_s=float(self.max_orders_per_s))
        except TypeError as exc:
            raise ConfigError(
                f"setting trading.broker.overrides: {exc}", field="trading.broker"
            ) from exc
        except ValueError as exc:
            raise ConfigError(f"setting trading.broker: {exc}", field="trading.broker") from exc
        return out
