"""The strategy interface, and the reference strategy that trades accumulated order-flow signals.

A strategy is a deterministic function of what it is shown: after each engine update the
:class:`~orderflow.trading.host.StrategyHost` builds a :class:`StrategyContext` (the book's top,
metrics, the new accumulated signals, closed bars of every series, our own entries and
position, the session) and the strategy answers with *intents* (:class:`Enter`,
:class:`Cancel`, :class:`MoveStop`, :class:`Exit`). It never sends an order, reads a clock or
sizes a position: the host sizes, risk-checks and turns intents into order commands. Time is
the market data's ``ts_event`` (ns UTC), so the same code runs live and in a backtest and the
same inputs give the same intents.

:class:`SignalStrategy` is the reference strategy (its rules are in ``docs/trading.md``,
"Strategy"); every parameter is a field of :class:`StrategyParams` (``trading.strategy`` in
the settings).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from orderflow.core.errors import ParameterError
from orderflow.model.enums import Side
from orderflow.signals.accumulate import AccumulatedSignal, Contribution
from orderflow.trading.checks import MAX_CONTRACTS, flag, integer, number
from orderflow.trading.context import EntryView, Quote, StrategyContext
from orderflow.trading.exits import ExitParams, OrderFlowExits
from orderflow.trading.orders import OrderType

__all__ = [
    "Cancel",
    "Enter",
    "EntryType",
    "EntryView",
    "Exit",
    "Intent",
    "LimitAnchor",
    "MoveStop",
    "Quote",
    "SignalStrategy",
    "Strategy",
    "StrategyContext",
    "StrategyParams",
    "TrailMode",
    "TrendRule",
    "series_trend",
    "split_targets",
]

NS = 1_000_000_000


class EntryType(StrEnum):
    MARKET = "market"  # at once
    LIMIT = "limit"  # a limit at a level (limit_anchor) +- limit_offset_ticks
    STOP = "stop"  # stop-market breakout_ticks beyond the signal's price (or the bar's extreme)
    PULLBACK = "pullback"  # a limit pullback_ticks back from the signal's price


class LimitAnchor(StrEnum):
    TOUCH = "touch"  # our side's best price: the bid to buy, the ask to sell
    POC = "poc"  # the session profile's point of control
    CLUSTER = "cluster"  # the nearest resting-liquidity cluster on our side of the book
    VWAP = "vwap"  # the session VWAP (rounded away from the market)


class TrailMode(StrEnum):
    OFF = "off"
    TICKS = "ticks"  # trail_ticks behind the best price since the fill
    ATR = "atr"  # ceil(trail_atr_multiple x ATR) behind it


_TRAILS = {str(m): m for m in TrailMode}

#: no distance in ticks a strategy parameter gives is this large
MAX_TICKS_PARAM = 1_000_000


@dataclass(frozen=True, slots=True)
class StrategyParams:
    """The reference strategy (``trading.strategy`` in the settings). Distances in ticks,
    times in seconds of market data time; 0 turns an optional rule off."""

    enabled: bool = True  # False: the host builds contexts but sends nothing
    # -- signals
    entry_score: float = 1.0  # an accumulated signal scoring at least this may open a position
    opposite_exit_score: float = 2.0  # one this strong against the position closes it (0: off)
    # -- entries
    entry_type: str = "market"  # market | limit | stop | pullback
    limit_anchor: str = "touch"  # limit entries: touch | poc | cluster | vwap
    limit_offset_ticks: int = 0  # in front of the level (towards the market); < 0 behind it
    breakout_ticks: int = 2  # stop entries: this far beyond the reference
    breakout_from: str = "signal"  # signal (its price) | bar (last closed bar's high/low)
    pullback_ticks: int = 2  # pullback entries: this far back from the signal's price
    entry_timeout_s: float = 30.0  # an entry not (fully) filled by then is cancelled (0: never)
    # -- timing and scaling in
    min_entry_spacing_s: float = 60.0  # between two entry orders
    max_entries_per_direction: int = 3  # entry orders from flat to flat (the first included)
    max_position: int = 2  # contracts open plus working entries (the risk limit applies too)
    scale_in: bool = False  # add to a position on a new signal in its direction ...
    scale_in_min_profit_ticks: int = 4  # ... while it is at least this much in profit
    scale_in_entry_type: str = "pullback"  # how the add enters (market | limit | stop | pullback)
    # -- exits
    stop_loss_ticks: int = 8  # the protective stop's distance from the fill
    stop_atr_multiple: float = 0.0  # > 0: the stop at ceil(this x ATR) instead
    targets_ticks: tuple[int, ...] = (8, 16)  # one target per distance from the fill ...
    target_sizes: tuple[int, ...] = (1, 1)  # ... taking these shares of the entry (scale-out)
    breakeven_after_ticks: int = 0  # stop to the entry once this much in profit (0: off)
    breakeven_offset_ticks: int = 1  # ... plus this (locks a tick by default)
    trail: str = "off"  # off | ticks | atr
    trail_ticks: int = 8
    trail_atr_multiple: float = 2.0
    trail_after_ticks: int = 0  # the trail starts once this much in profit
    time_stop_s: float = 0.0  # close an entry this long after its first fill (0: off)
    flatten_before_close: bool = True  # flatten when the session says so (flatten_before_close_min)
    atr_series: int = 0  # the bar series whose ATR the stop, trail and sizing use
    # -- multi-timeframe filter: no entry against the trend of a NinjaTrader series
    trend_series: int = -1  # its BarsInProgress (-1: off); the bars backtest: 0, its own bars
    trend_rule: str = "close_above_ema"  # close_above_ema | ema_rising
    trend_length: int = 20  # the EMA's length, in bars of that series
    #: order-flow exits, targets at structure, reversal (trading.exits; all off by default)
    exits: ExitParams = field(default_factory=ExitParams)

    def __post_init__(self) -> None:
        raw: object = self.trail
        if raw is False:  # YAML reads a bare ``off`` as false
            object.__setattr__(self, "trail", "off")
        for name in ("entry_timeout_s", "min_entry_spacing_s", "time_stop_s", "entry_score",
                     "opposite_exit_score", "stop_atr_multiple", "trail_atr_multiple"):  # fmt: skip
            number(self, name, lo=0, hi=1e9)
        for name in ("limit_offset_ticks", "breakout_ticks", "pullback_ticks", "stop_loss_ticks",
                     "scale_in_min_profit_ticks", "breakeven_after_ticks",
                     "breakeven_offset_ticks", "trail_ticks", "trail_after_ticks"):  # fmt: skip
            integer(self, name, lo=-MAX_TICKS_PARAM, hi=MAX_TICKS_PARAM)
        integer(self, "max_entries_per_direction", lo=1, hi=1_000)
        integer(self, "max_position", lo=1, hi=MAX_CONTRACTS)
        integer(self, "atr_series", lo=0, hi=64)
        integer(self, "trend_series", lo=-1, hi=64)
        integer(self, "trend_length", lo=1, hi=10_000)
        if self.trend_rule not in tuple(TrendRule):
            raise ParameterError(f"trend_rule must be one of {', '.join(TrendRule)}")
        for name in ("targets_ticks", "target_sizes"):
            for v in getattr(self, name):
                if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= MAX_TICKS_PARAM:
                    raise ParameterError(f"{name}: {v!r} must be a positive integer")
        flag(self, "enabled", "scale_in", "flatten_before_close")
        if not isinstance(self.exits, ExitParams):
            raise ParameterError("exits must be ExitParams")
        EntryType(self.entry_type)
        EntryType(self.scale_in_entry_type)
        LimitAnchor(self.limit_anchor)
        TrailMode(self.trail)
        if self.breakout_from not in ("signal", "bar"):
            raise ParameterError("breakout_from must be signal or bar")
        if not self.targets_ticks or len(self.targets_ticks) != len(self.target_sizes):
            raise ParameterError(
                "targets_ticks and target_sizes: one size per target, at least one"
            )
        if min(self.targets_ticks) <= 0 or min(self.target_sizes) <= 0:
            raise ParameterError("targets_ticks and target_sizes must be > 0")
        if list(self.targets_ticks) != sorted(set(self.targets_ticks)):
            raise ParameterError("targets_ticks must increase (nearest first)")
        if self.stop_loss_ticks <= 0 and self.stop_atr_multiple <= 0:
            raise ParameterError("a stop is required: stop_loss_ticks or stop_atr_multiple > 0")
        for name in ("stop_loss_ticks", "breakout_ticks", "pullback_ticks", "trail_ticks",
                     "breakeven_after_ticks", "trail_after_ticks", "scale_in_min_profit_ticks",
                     "atr_series"):  # fmt: skip
            if getattr(self, name) < 0:
                raise ParameterError(f"{name} must be >= 0")


class TrendRule(StrEnum):
    """How the multi-timeframe filter reads a series' trend (``trend_rule``)."""

    CLOSE_ABOVE_EMA = "close_above_ema"  # up while the last close is above EMA(length)
    EMA_RISING = "ema_rising"  # up while EMA(length) rose over the last bar


def series_trend(bars: np.ndarray | None, rule: TrendRule, length: int) -> int | None:
    """+1 (up), -1 (down) or 0 (flat) of closed bars ``bars`` (their ``close``) by ``rule``;
    None with fewer than ``length`` bars (``length + 1`` for ``ema_rising``). The EMA is
    NinjaTrader's (k = 2 / (length + 1)) seeded with the close ``3 * length`` bars back (or
    the first bar), so its value is the same whatever history came before: O(length)."""
    need = length + 1 if rule is TrendRule.EMA_RISING else length
    if bars is None or len(bars) < need:
        return None
    closes = bars["close"][-3 * length - 1 :].tolist()
    k = 2.0 / (length + 1)
    ema = prev = float(closes[0])
    for c in closes[1:]:
        prev, ema = ema, ema + k * (float(c) - ema)
    x = float(closes[-1]) - ema if rule is TrendRule.CLOSE_ABOVE_EMA else ema - prev
    return (x > 0) - (x < 0)


# ---- what the strategy answers ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Enter:
    """Open (or add to) a position: the entry order and its bracket, legs as distances in
    ticks from the entry's first fill. ``quantity`` None: the host sizes it (trading.sizing),
    never more than ``max_quantity``."""

    direction: int
    order_type: OrderType  # Market, Limit or StopMarket
    price_ticks: int | None  # the limit or stop price
    stop_distance: int  # ticks
    targets: tuple[tuple[int, int], ...]  # (distance ticks, share), nearest first
    max_quantity: int
    quantity: int | None = None
    kind: str = "entry"  # entry or add
    reason: str = ""
    atr_ticks: float | None = None  # for ATR sizing


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel an entry order's unfilled rest (what it filled stays protected)."""

    entry_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MoveStop:
    """Move an entry's protective stop to ``stop_ticks`` (breakeven, trailing)."""

    entry_id: str
    stop_ticks: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Exit:
    """Close an entry at market (``entry_id``), or everything (None): its orders are cancelled
    first, then what it holds is flattened."""

    entry_id: str | None
    reason: str = ""


Intent = Enter | Cancel | MoveStop | Exit


class Strategy(Protocol):
    """What the host drives: one call per engine update, intents back, nothing else. A
    strategy may say ``needs_liquidity = False`` (an attribute): the host then leaves the
    context's ``liquidity`` empty instead of reading the clusters at every decision (the
    largest part of building a context); ``needs_order_flow = False`` leaves ``detections``,
    ``value_area``, ``vwap_bands`` and ``imbalance_groups`` empty the same way."""

    def decide(self, ctx: StrategyContext) -> Sequence[Intent]: ...


def split_targets(quantity: int, shares: Sequence[int]) -> list[int]:
    """``quantity`` contracts over targets weighted by ``shares``: the floor of each share,
    the rest one by one from the nearest target (3 over 1/1/1: 1, 1, 1; 2: 1, 1, 0; 5 over
    1/1: 3, 2). Exact integers; targets given 0 are dropped by the caller."""
    total = sum(shares)
    sizes = [quantity * s // total for s in shares]
    rest = quantity - sum(sizes)
    i = 0
    while rest > 0:
        sizes[i % len(sizes)] += 1
        rest -= 1
        i += 1
    return sizes


# ---- the reference strategy ------------------------------------------------------------------
class SignalStrategy:
    """Trades the accumulated order-flow signals (rules: ``docs/trading.md``, "Strategy").

    Deterministic: its only state is what it moved already (``_moved``), and ``counters`` of
    why it passed on a signal, for the reader."""

    def __init__(self, params: StrategyParams | None = None) -> None:
        self.params = params or StrategyParams()
        self.counters: Counter[str] = Counter()
        self.exits = OrderFlowExits(self.params.exits, self.counters)
        #: the clusters are read only for limit entries anchored on one (or an exit rule)
        self.needs_liquidity = (
            LimitAnchor(self.params.limit_anchor) is LimitAnchor.CLUSTER
            or self.exits.needs_liquidity
        )
        #: the detectors' signals, value area, VWAP bands and imbalances only when read
        self.needs_order_flow = self.exits.needs_order_flow
        #: the lazy context fields a decision may read (a backtest runs the pipeline ahead
        #: of the decisions of a strategy that reads only what is known as of each point)
        self.market_reads = _reads(self.params, self.needs_liquidity, self.needs_order_flow)

    # -- memory across a restart -----------------------------------------------------------
    def memory(self) -> dict[str, Any]:
        """What the strategy remembers between decisions beyond the host's entries (the
        order-flow exits' memory), as plain JSON; empty when nothing."""
        rules = self.exits.state()
        return {"exits": rules} if rules else {}

    def remember(self, memory: Mapping[str, Any]) -> bool:
        """:meth:`memory` given back after a restart; False when refused (wrong values)."""
        rules = memory.get("exits", {})
        return isinstance(rules, Mapping) and self.exits.restore(rules)

    # -- the decision ----------------------------------------------------------------------
    def decide(self, ctx: StrategyContext) -> list[Intent]:
        p = self.params
        if not p.enabled:
            return []
        out: list[Intent] = []
        if p.flatten_before_close and ctx.flatten_due:
            if ctx.entries:
                out.append(Exit(None, "flatten_before_close"))
            return out
        pos_dir = _sign(ctx.position) or _entries_direction(ctx.entries)
        against = self._opposite(ctx, pos_dir)
        if against is not None:
            return [Exit(None, self.exits.closing(ctx, -pos_dir, against.score))]
        closing: set[str] = set()
        for e in ctx.entries:
            intent = self._manage(ctx, e)
            if intent is not None:
                out.append(intent)
                if isinstance(intent, Exit):
                    closing.add(e.id)
        reverse = self.exits.reversal_due(ctx)
        entry = self._entry(ctx, pos_dir, closing, reverse)
        if entry is not None:
            out.append(entry)
        self.exits.observe(ctx)
        return out

    def _opposite(self, ctx: StrategyContext, pos_dir: int) -> AccumulatedSignal | None:
        """The strongest new signal against what we hold, if it reaches the exit score."""
        p = self.params
        if not pos_dir or p.opposite_exit_score <= 0 or not ctx.signals:
            return None
        against = [s for s in ctx.signals if s.direction == -pos_dir]
        best = max(against, key=lambda s: s.score, default=None)
        return best if best is not None and best.score >= p.opposite_exit_score else None

    # -- exits of one entry ----------------------------------------------------------------
    def _manage(self, ctx: StrategyContext, e: EntryView) -> Intent | None:
        p = self.params
        if e.status == "flattening":
            return None
        waited = ctx.ts_event - e.submitted_ns
        if e.entry_working and p.entry_timeout_s > 0 and waited >= p.entry_timeout_s * NS:
            return Cancel(e.id, "entry_timeout")
        if e.status != "protected" or e.first_fill_ns is None or e.open <= 0:
            return None
        if p.time_stop_s > 0 and ctx.ts_event - e.first_fill_ns >= p.time_stop_s * NS:
            return Exit(e.id, "time_stop")
        new_stop = self._stop_target(ctx, e)
        flow = self.exits.manage(ctx, e)
        if flow is not None:
            _, tighter, why = flow
            if tighter is None:
                return Exit(e.id, why)
            if new_stop is None or (tighter - new_stop[0]) * e.direction > 0:
                new_stop = (tighter, why)  # tightened further than the trail would
        if new_stop is not None:
            return MoveStop(e.id, new_stop[0], new_stop[1])
        return None

    def _stop_target(self, ctx: StrategyContext, e: EntryView) -> tuple[int, str] | None:
        """Where breakeven and the trail want the stop, if that is better than where it is."""
        p = self.params
        d = e.direction
        if e.best_ticks is None or e.avg_fill_ticks is None or e.stop_ticks is None:
            return None
        entry = math.ceil(e.avg_fill_ticks) if d > 0 else math.floor(e.avg_fill_ticks)
        run = (e.best_ticks - entry) * d  # best excursion in our favour, ticks
        wanted: list[tuple[int, str]] = []
        if p.breakeven_after_ticks > 0 and run >= p.breakeven_after_ticks:
            wanted.append((entry + d * p.breakeven_offset_ticks, "breakeven"))
        trail = _TRAILS[p.trail]  # TrailMode(p.trail) (checked when the params were made)
        if trail is not TrailMode.OFF and run >= p.trail_after_ticks:
            if trail is TrailMode.TICKS:
                dist: int | None = p.trail_ticks
            else:
                atr = ctx.atr_ticks(p.atr_series)
                dist = None if atr is None else _ceil(p.trail_atr_multiple * atr)
            if dist is not None and dist > 0:
                wanted.append((e.best_ticks - d * dist, f"trail_{trail}"))
        if not wanted:
            return None
        # (one wanted: itself, no key function made and called)
        price, why = wanted[0] if len(wanted) == 1 else max(wanted, key=lambda w: w[0] * d)
        last = ctx.last_ticks
        if last is not None and (last - price) * d <= 0:  # would trigger at once: not yet
            return None
        return (price, why) if (price - e.stop_ticks) * d > 0 else None

    # -- entries ---------------------------------------------------------------------------
    def _entry(
        self, ctx: StrategyContext, pos_dir: int, closing: set[str], reverse: int | None = None
    ) -> Enter | None:
        """The entry of this decision, if any; ``reverse``: a reversal's direction (flat now),
        entered without a new signal and without the spacing rule."""
        p = self.params
        if reverse is None and not ctx.signals:  # nothing to enter on
            return None
        strong = [s for s in ctx.signals if s.score >= p.entry_score]
        if reverse is not None:
            strong = [s for s in strong if s.direction == reverse] or [_reversal(ctx, reverse)]
        if not strong:
            return None
        sig = strong[-1]  # the latest decides
        d = sig.direction
        if pos_dir and d != pos_dir:
            self.counters["skip_against_position"] += 1
            return None
        if p.trend_series >= 0:
            rule = TrendRule(p.trend_rule)
            trend = series_trend(ctx.series.get(p.trend_series), rule, p.trend_length)
            if trend is None:
                self.counters["skip_no_trend"] += 1
                return None
            if trend != d:
                self.counters["skip_against_trend"] += 1
                return None
        live = [e for e in ctx.entries if e.id not in closing]
        if any(e.entry_working for e in live):
            self.counters["skip_entry_working"] += 1
            return None
        adding = ctx.position != 0 or bool(live)
        if ctx.entry_block:
            self.counters[f"skip_{ctx.entry_block}"] += 1
            return None
        if (
            reverse is None
            and ctx.last_entry_ns is not None
            and (ctx.ts_event - ctx.last_entry_ns < p.min_entry_spacing_s * NS)
        ):
            self.counters["skip_spacing"] += 1
            return None
        if adding and ctx.entries_since_flat >= p.max_entries_per_direction:
            self.counters["skip_max_entries"] += 1
            return None
        room = (
            p.max_position
            - abs(ctx.position)
            - sum(e.quantity - e.filled for e in live if e.entry_working)
        )
        if room <= 0:
            self.counters["skip_max_position"] += 1
            return None
        kind = "entry"
        etype = EntryType(p.entry_type)
        if adding:
            if not p.scale_in:
                self.counters["skip_in_position"] += 1
                return None
            if (
                ctx.avg_price_ticks is None
                or ctx.last_ticks is None
                or (ctx.last_ticks - ctx.avg_price_ticks) * d < p.scale_in_min_profit_ticks
            ):
                self.counters["skip_scale_in_not_in_profit"] += 1
                return None
            kind, etype = "add", EntryType(p.scale_in_entry_type)
        priced = self._price(ctx, etype, d, sig)
        if priced is None:
            self.counters[f"skip_no_{etype}_price"] += 1
            return None
        order_type, price = priced
        atr = ctx.atr_ticks(p.atr_series)
        stop = p.stop_loss_ticks
        if p.stop_atr_multiple > 0:
            if atr is None:
                self.counters["skip_no_atr"] += 1
                return None
            stop = max(1, _ceil(p.stop_atr_multiple * atr))
        targets = tuple(zip(p.targets_ticks, p.target_sizes, strict=True))
        ref = price if price is not None else (ctx.quote.ask if d > 0 else ctx.quote.bid)
        at = self.exits.target(ctx, d, ref)
        if at is not None:  # one target at the structure level, for everything
            targets = ((at, 1),)
        why = "reversal" if reverse is not None else "signal"
        return Enter(d, order_type, price, stop, targets, room, kind=kind,
                     reason=f"{why} {sig.score:.2f} at {sig.ts_event}", atr_ticks=atr)  # fmt: skip

    def _price(
        self, ctx: StrategyContext, etype: EntryType, d: int, sig: AccumulatedSignal
    ) -> tuple[OrderType, int | None] | None:
        """The entry order's type and price, or None when the level it needs is missing."""
        p, q = self.params, ctx.quote
        touch = q.bid if d > 0 else q.ask
        far = q.ask if d > 0 else q.bid
        if etype is EntryType.MARKET:
            return OrderType.MARKET, None
        if touch is None or far is None:
            return None
        if etype is EntryType.STOP:
            ref = _signal_price(sig)
            if p.breakout_from == "bar":
                bar = ctx.last_bar(p.atr_series)
                if bar is None:
                    return None
                ref = int(bar["high"] if d > 0 else bar["low"])
            if ref is None:
                return None
            stop = ref + d * p.breakout_ticks
            # a buy stop at or under the ask would trigger at once (NinjaTrader rejects it)
            stop = max(stop, far + 1) if d > 0 else min(stop, far - 1)
            return OrderType.STOP_MARKET, stop
        if etype is EntryType.PULLBACK:
            ref = _signal_price(sig)
            if ref is None:
                return None
            return OrderType.LIMIT, _passive(ref - d * p.pullback_ticks, touch, d)
        level = self._level(ctx, d, touch)
        if level is None:
            return None
        return OrderType.LIMIT, _passive(level + d * p.limit_offset_ticks, touch, d)

    def _level(self, ctx: StrategyContext, d: int, touch: int) -> int | None:
        anchor = LimitAnchor(self.params.limit_anchor)
        if anchor is LimitAnchor.TOUCH:
            return touch
        if anchor is LimitAnchor.POC:
            return ctx.poc_ticks
        if anchor is LimitAnchor.VWAP:
            if ctx.vwap_ticks is None or not math.isfinite(ctx.vwap_ticks):
                return None
            # away from the market: a buy rounds down, a sell up
            return math.floor(ctx.vwap_ticks) if d > 0 else math.ceil(ctx.vwap_ticks)
        # nearest cluster of resting orders on our side, at or behind the touch
        side = Side.BID if d > 0 else Side.ASK
        if d > 0:
            prices = [c.high for c in ctx.liquidity if c.side == side and c.low <= touch]
            return min(max(prices), touch) if prices else None
        prices = [c.low for c in ctx.liquidity if c.side == side and c.high >= touch]
        return max(min(prices), touch) if prices else None


def _reads(p: StrategyParams, liquidity: bool, flow: bool) -> frozenset[str]:
    """The lazy context fields :class:`SignalStrategy` may read with ``p``: the quote, the
    bars (the ATR) and the entry block always; the POC or the VWAP for a limit anchored
    there; the clusters and the order-flow fields (the exits' rules and structure targets:
    the metrics, the POC, the VWAP and its bands, the value area, the imbalances) when read."""
    reads = {"quote", "bars", "entry_block"}
    anchor = LimitAnchor(p.limit_anchor)
    if anchor is LimitAnchor.POC:
        reads.add("poc_ticks")
    elif anchor is LimitAnchor.VWAP:
        reads.add("vwap_ticks")
    if liquidity:
        reads.add("liquidity")
    if flow:
        reads |= {"metrics", "poc_ticks", "vwap_ticks", "value_area", "vwap_bands",
                  "imbalance_groups"}  # fmt: skip
    return frozenset(reads)


def _reversal(ctx: StrategyContext, d: int) -> AccumulatedSignal:
    """A stand-in signal for a reversal's entry: direction ``d`` at the last price."""
    price = ctx.last_ticks if ctx.last_ticks is not None else 0
    c = Contribution("reversal", ctx.ts_event, 0.0, 0.0, price)
    return AccumulatedSignal(instrument=ctx.instrument.contract or ctx.instrument.symbol,
                             ts_event=ctx.ts_event, direction=d, score=0.0, opposite_score=0.0,
                             contributions=(c,), threshold=0.0)  # fmt: skip


def _passive(price: int, touch: int, d: int) -> int:
    """A limit never crosses the market: a buy at most the bid, a sell at least the ask."""
    return min(price, touch) if d > 0 else max(price, touch)


def _signal_price(sig: AccumulatedSignal) -> int | None:
    """The price of the signal that made the accumulated one fire (its last contribution)."""
    return int(sig.contributions[-1].price) if sig.contributions else None


def _entries_direction(entries: Sequence[EntryView]) -> int:
    return entries[0].direction if entries else 0


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def _ceil(x: float) -> int:
    return math.ceil(round(x, 9))
