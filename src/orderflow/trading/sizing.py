"""Position sizing: how many contracts, and of which contract (micro or standard).

Three methods (``SizingParams.method``):

- ``fixed``: ``fixed_contracts``;
- ``risk``: ``floor(risk_per_trade / (stop_ticks * tick_value + round_turn_costs))``;
- ``atr``: the same with the stop at ``ceil(atr_multiple * ATR / tick_size)`` ticks.

With ``auto_micro`` both the standard contract and its micro (ES <-> MES, 10:1) are sized
and the one that puts more of the budget at risk wins (a tie goes to the standard, fewer
commissions): a $100 budget with a 4-tick stop buys 1 ES ($50 + $5.58 costs = $55.58) or
15 MES ($5 + $1.54 = $6.54 each, $98.10): 15 MES. ``max_contracts`` caps either. The margin
check takes the broker profile's intraday or overnight margin against ``margin_fraction`` of
the account equity; a standard that does not fit the margin gives way to the micro.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum

from orderflow.core.errors import TradingInputError
from orderflow.model.instruments import Instrument, get_instrument, micro_of_standard
from orderflow.trading.broker import BrokerProfile
from orderflow.trading.checks import MAX_CONTRACTS, MAX_MONEY, flag, integer, number


class SizingMethod(StrEnum):
    FIXED = "fixed"
    RISK = "risk"
    ATR = "atr"


@dataclass(frozen=True, slots=True)
class SizingParams:
    method: str = "risk"  # fixed | risk | atr
    fixed_contracts: int = 1
    risk_per_trade: float = 250.0  # currency the stop may lose (risk and atr methods)
    atr_multiple: float = 2.0  # atr: stop distance = atr_multiple x ATR
    include_costs: bool = True  # round-turn commission and fees count against the budget
    auto_micro: bool = True  # pick standard or micro to fit the budget
    max_contracts: int = 10  # never more than this many of the chosen contract
    margin_fraction: float = 1.0  # share of equity the margin of one entry may use

    def __post_init__(self) -> None:
        SizingMethod(self.method)
        integer(self, "fixed_contracts", lo=0, hi=MAX_CONTRACTS)
        integer(self, "max_contracts", lo=0, hi=MAX_CONTRACTS)
        number(self, "risk_per_trade", lo=0, hi=MAX_MONEY)
        number(self, "atr_multiple", lo=0, lo_open=True, hi=1_000)
        number(self, "margin_fraction", lo=0, lo_open=True, hi=1)
        flag(self, "include_costs", "auto_micro")


@dataclass(frozen=True, slots=True)
class SizeDecision:
    """How many contracts of which symbol, and why."""

    symbol: str
    contracts: int
    stop_ticks: int | None
    risk_per_contract: float  # stop loss plus round-turn costs, currency (0: fixed, no stop)
    reason: str  # ok, below_one_contract, margin, max_contracts, no_stop

    @property
    def total_risk(self) -> float:
        return round(self.risk_per_contract * self.contracts, 2)


def stop_ticks_from_atr(instrument: Instrument, atr: float, multiple: float) -> int:
    """Stop distance in whole ticks for ``multiple`` x ``atr`` (price units), rounded up."""
    if atr <= 0:
        raise TradingInputError("ATR must be > 0")
    ticks = multiple * atr / float(instrument.tick_size)
    return max(1, math.ceil(round(ticks, 9)))


def risk_per_contract(
    instrument: Instrument, stop_ticks: int, profile: BrokerProfile | None, include_costs: bool
) -> float:
    """What one contract loses when the stop is hit: stop ticks x tick value, plus costs."""
    loss = stop_ticks * float(instrument.tick_value)
    if include_costs and profile is not None:
        loss += profile.round_turn(instrument.symbol, 1)
    return round(loss, 2)


def _fit(
    instrument: Instrument,
    stop_ticks: int,
    budget: float,
    params: SizingParams,
    profile: BrokerProfile | None,
    equity: float | None,
    overnight: bool,
) -> SizeDecision:
    per = risk_per_contract(instrument, stop_ticks, profile, params.include_costs)
    count = math.floor(round(budget / per, 9)) if per > 0 else params.max_contracts
    reason = "ok"
    if count > params.max_contracts:
        count, reason = params.max_contracts, "max_contracts"
    if profile is not None and equity is not None:
        margin = profile.margin(instrument.symbol, 1, overnight)
        if margin > 0:
            affordable = math.floor(round(equity * params.margin_fraction / margin, 9))
            if affordable < count:
                count, reason = max(affordable, 0), "margin"
    if count < 1 and reason == "ok":
        reason = "below_one_contract"
    return SizeDecision(instrument.symbol, max(count, 0), stop_ticks, per, reason)


def size_position(
    instrument: Instrument | str,
    params: SizingParams,
    *,
    stop_ticks: int | None = None,
    atr: float | None = None,
    profile: BrokerProfile | None = None,
    equity: float | None = None,
    overnight: bool = False,
) -> SizeDecision:
    """Contracts for one entry. ``stop_ticks`` for the risk method, ``atr`` (price units) for
    the atr method; ``equity`` and ``profile`` enable the margin check. With ``auto_micro`` the
    result may name the micro or the standard contract instead of ``instrument``."""
    inst = get_instrument(instrument) if isinstance(instrument, str) else instrument
    method = SizingMethod(params.method)
    if method is SizingMethod.FIXED:
        count = min(params.fixed_contracts, params.max_contracts)
        reason = "ok" if count == params.fixed_contracts else "max_contracts"
        per = 0.0
        if stop_ticks is not None:
            per = risk_per_contract(inst, stop_ticks, profile, params.include_costs)
        if profile is not None and equity is not None:
            margin = profile.margin(inst.symbol, 1, overnight)
            if margin > 0 and count * margin > equity * params.margin_fraction:
                count = max(math.floor(round(equity * params.margin_fraction / margin, 9)), 0)
                reason = "margin"
        return SizeDecision(inst.symbol, count, stop_ticks, per, reason)
    if method is SizingMethod.ATR:
        if atr is None:
            return SizeDecision(inst.symbol, 0, None, 0.0, "no_stop")
        stop_ticks = stop_ticks_from_atr(inst, atr, params.atr_multiple)
    if stop_ticks is None or stop_ticks <= 0:
        return SizeDecision(inst.symbol, 0, None, 0.0, "no_stop")
    budget = params.risk_per_trade
    if not params.auto_micro:
        return _fit(inst, stop_ticks, budget, params, profile, equity, overnight)
    standard = get_instrument(inst.micro_of) if inst.micro_of else inst
    micro_root = micro_of_standard(standard.symbol)
    if micro_root is None:  # no micro/standard pair: size the product given
        return _fit(inst, stop_ticks, budget, params, profile, equity, overnight)
    big = _fit(standard, stop_ticks, budget, params, profile, equity, overnight)
    small = _fit(get_instrument(micro_root), stop_ticks, budget, params, profile, equity, overnight)
    return _better(big, small)


def _better(big: SizeDecision, small: SizeDecision) -> SizeDecision:
    # the contract that puts more of the budget at risk (costs included) fits it better;
    # on a tie the standard, with fewer contracts to pay commission on; none: say the micro
    return small if small.total_risk > big.total_risk or big.contracts == 0 else big


def paired_instrument(instrument: Instrument) -> Instrument | None:
    """The other contract of a standard/micro pair, same contract month (ESH4 <-> MESH4; a
    root gives a root), or None for a product without a pair. Both trade on the same tick
    grid (the registry's pairs share their tick size), so prices in ticks are the same."""
    other = instrument.micro_of or micro_of_standard(instrument.symbol)
    if other is None:
        return None
    inst = get_instrument(other)
    c = instrument.contract
    if c and c.startswith(instrument.symbol) and len(c) > len(instrument.symbol):
        return inst.for_contract(other + c[len(instrument.symbol) :])
    return inst


@dataclass(frozen=True, slots=True)
class ContractChoice:
    """Which contract of a standard/micro pair one entry trades, how many, and why: every
    candidate sized by the same rule, with the margin it needs (the journal's record)."""

    decision: SizeDecision  # the chosen one (``symbol``: its root)
    contract: str  # the chosen contract's name (ESH4, MESH4; a root when no month is known)
    candidates: tuple[tuple[SizeDecision, float], ...]  # (sized, margin per contract)
    budget: float
    equity: float | None

    def to_dict(self) -> dict[str, object]:
        """Plain JSON: the budget, the stop, each candidate's count, per-contract risk, total
        risk, margin and reason, and the choice."""
        return {
            "contract": self.contract, "contracts": self.decision.contracts,
            "reason": self.decision.reason, "budget": self.budget, "equity": self.equity,
            "stop_ticks": self.decision.stop_ticks,
            "candidates": [
                {"symbol": d.symbol, "contracts": d.contracts,
                 "risk_per_contract": d.risk_per_contract, "total_risk": d.total_risk,
                 "margin_per_contract": margin, "reason": d.reason}
                for d, margin in self.candidates
            ],
        }  # fmt: skip


def choose_contract(
    instrument: Instrument,
    params: SizingParams,
    *,
    stop_ticks: int | None = None,
    atr: float | None = None,
    profile: BrokerProfile | None = None,
    equity: float | None = None,
    overnight: bool = False,
) -> ContractChoice:
    """:func:`size_position` for one entry on ``instrument`` (a contract, e.g. ESH4), with
    the contract to trade: with ``auto_micro`` (and a sizing method that uses a stop) the
    standard or the micro of the same month, whichever :func:`size_position` picks; every
    candidate is kept with its margin for the record."""
    chosen = size_position(instrument, params, stop_ticks=stop_ticks, atr=atr,
                           profile=profile, equity=equity, overnight=overnight)  # fmt: skip
    pair = paired_instrument(instrument)
    names = [instrument] if pair is None or not params.auto_micro else [instrument, pair]
    if SizingMethod(params.method) is SizingMethod.FIXED:
        names = [instrument]
    cands = []
    one = dataclasses.replace(params, auto_micro=False)  # (each candidate alone: the same)
    for inst in names:
        d = size_position(inst, one, stop_ticks=stop_ticks, atr=atr, profile=profile,
                          equity=equity, overnight=overnight)  # fmt: skip
        margin = profile.margin(inst.symbol, 1, overnight) if profile is not None else 0.0
        cands.append((d, margin))
    contract = next(
        (i.contract or i.symbol for i in names if i.symbol == chosen.symbol),
        instrument.contract or instrument.symbol,
    )
    return ContractChoice(chosen, contract, tuple(cands), params.risk_per_trade, equity)
