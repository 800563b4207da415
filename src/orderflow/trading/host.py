"""The strategy's host: one instrument, one account; the engine's output in, order commands out.

:class:`StrategyHost` is the one code path between a :class:`~orderflow.trading.strategy.Strategy`
and the orders, live (the server hands it each event batch's pipeline state, wall clock close
to the data's) and in a backtest (a simulated venue replays recorded data in chunks):

1. :meth:`StrategyHost.on_market` reads the :class:`~orderflow.engine.pipeline.Pipeline` (a
   :class:`~orderflow.trading.market_source.MarketSource`: what a decision reads of it) after an
   update (book top, metrics, new accumulated signals, closed bars of every series, POC, VWAP,
   liquidity clusters), adds our own state (position from executions, live brackets, entry
   timing, the session) into a :class:`~orderflow.trading.strategy.StrategyContext` and asks the
   strategy for intents;
2. an entry is sized (``trading.sizing``), checked by :meth:`RiskManager.check` and only then
   given to the :class:`~orderflow.trading.desk.OrderDesk`'s brackets (entry now, the stop and
   the targets when it fills, resized on partial fills); stop moves become order changes;
3. :meth:`on_order_update` and :meth:`on_fill` take NinjaTrader's (or the simulated venue's)
   reports: the desk applies them (a resent execution counts once), the risk manager follows
   the fills, the position and the P&L, and the commands the brackets need come back.

Every method takes ``now`` (ns UTC) from its caller or from the data (``Pipeline.last_ts``);
nothing here reads a clock. Each returns the :class:`OrderCommand` s to send, in order.
"""

from __future__ import annotations

import dataclasses
import sys
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from orderflow.core.errors import ArgumentError
from orderflow.model.instruments import Instrument
from orderflow.trading.broker import BrokerProfile
from orderflow.trading.desk import OrderDesk
from orderflow.trading.lazy_context import LazyContext, Makers
from orderflow.trading.market_fields import MAKERS, Source
from orderflow.trading.market_source import MarketSource, SignalReads
from orderflow.trading.orders import (
    CommandError,
    Fill,
    OrderAction,
    OrderCommand,
    OrderEvent,
    OrderType,
)
from orderflow.trading.params import TradingParams
from orderflow.trading.positions import Position, PositionBook
from orderflow.trading.risk import OrderIntent, RiskEvent, RiskManager, register_exits
from orderflow.trading.sessions import TradingSessions
from orderflow.trading.sizing import choose_contract, paired_instrument
from orderflow.trading.strategy import (
    Cancel,
    Enter,
    EntryView,
    Exit,
    Intent,
    MoveStop,
    Strategy,
    StrategyContext,
    split_targets,
)

__all__ = ["Decision", "StrategyHost"]

#: up to this many prints, their extreme is taken in Python (numpy's reduction costs more)
_FEW = 64


@dataclass(frozen=True, slots=True)
class Decision:
    """What the host did with one intent (or why it did not), for the journal and the tests."""

    ts_ns: int
    intent: str  # enter, cancel, move_stop, exit, risk_flatten
    outcome: str  # sent, or the refusal: sizing:<why>, risk:<code>, desk:<reason>, ...
    entry_id: str = ""
    detail: str = ""
    #: an entry's contract choice (``ContractChoice.to_dict``, with ``capped`` when the
    #: strategy's room cut it): why that contract and that many
    sizing: Mapping[str, Any] | None = None


@dataclass(slots=True)
class _EntryMeta:
    submitted_ns: int
    kind: str
    reason: str
    best_ticks: int | None = None
    prints_at: int = 0  # the pipeline's print count when it was sent (its prints follow)
    sizing: Mapping[str, Any] | None = None  # the contract choice (ContractChoice.to_dict)
    moved: str = ""  # why the stop last moved (breakeven, trail_ticks, ...); "" never
    breakeven: bool = False  # the stop has been moved to breakeven

    def to_dict(self) -> dict[str, Any]:
        return {"submitted_ns": self.submitted_ns, "kind": self.kind, "reason": self.reason,
                "best_ticks": self.best_ticks, "moved": self.moved,
                "breakeven": self.breakeven, "sizing": self.sizing}  # fmt: skip


@dataclass(slots=True)
class _Counts:
    last_entry_ns: int | None = None
    since_flat: int = 0
    seen_signals: int = 0
    prints_seen: int = 0  # the pipeline's print count at the previous decision


@dataclass(slots=True)
class _Prints:
    """The prints a decision has not seen (from the pipeline): ``ts`` and ``px`` start at
    print number ``start``; those from ``new`` on came since the previous decision."""

    start: int
    new: int
    ts: np.ndarray
    px: np.ndarray

    def extreme(self, direction: int, since_ns: int, fresh: bool) -> int | None:
        """The best print for ``direction`` at or after ``since_ns`` (``fresh``: the entry's
        first sight of its fill, every print kept since it was sent; else only the new)."""
        lo = 0 if fresh else max(0, self.new - self.start)
        if lo >= len(self.px):  # none (no print since the previous decision)
            return None
        ts, px = (self.ts[lo:], self.px[lo:]) if lo else (self.ts, self.px)
        if len(ts) and ts[0] < since_ns:  # else every one is at or after it
            px = px[ts >= since_ns]
        if not len(px):
            return None
        if len(px) <= _FEW:  # a few prints: Python's max over them beats numpy's call
            vals: list[int] = px.tolist()
            return max(vals) if direction > 0 else min(vals)
        return int(px.max()) if direction > 0 else int(px.min())


class StrategyHost:
    """Drives one strategy for one instrument and account (see the module docstring).

    ``desk`` and ``risk`` may be given (the server's, per bridge client) or are made here
    (backtest). ``sessions`` gives the risk manager its session rules and the strategy its
    ``flatten_due``; without it neither applies."""

    def __init__(
        self,
        instrument: Instrument,
        strategy: Strategy,
        params: TradingParams | None = None,
        *,
        desk: OrderDesk | None = None,
        risk: RiskManager | None = None,
        sessions: TradingSessions | None = None,
        broker: BrokerProfile | None = None,
        account: str = "",
    ) -> None:
        self.instrument = instrument
        self.key = instrument.contract or instrument.symbol
        self.strategy = strategy
        self.params = params or TradingParams()
        self.broker = broker if broker is not None else self.params.broker.build()
        self.sessions = sessions
        self.desk = desk or OrderDesk(account)
        self.risk = risk or RiskManager(self.params.risk, sessions, self.broker)
        if sessions is not None and instrument.symbol not in self.risk.sessions:
            self.risk.sessions[instrument.symbol] = sessions
        self._sizing = self.params.sizing
        # with auto_micro each entry trades the standard or the micro of the same month
        # (sizing decides per entry); both are this host's, on this instrument's market data
        pair = paired_instrument(instrument) if self._sizing.auto_micro else None
        self.keys: tuple[str, ...] = (self.key,)
        if pair is not None:
            self.keys += (pair.contract or pair.symbol,)
        self._meta: dict[str, _EntryMeta] = {}
        self._counts = _Counts()
        self.decisions: list[Decision] = []
        self.risk_events: list[RiskEvent] = []
        self.counters: Counter[str] = Counter()
        self.last_ticks: int | None = None
        #: the prints since the previous decision, for the next :meth:`step` (None: a
        #: context built by hand or from bars, where the last price stands for them)
        self._prints: _Prints | None = None
        self._seen_raw = 0  # the pipeline's own signals already shown (ctx.detections)
        # what the previous decision worked out, reused while its inputs are unchanged:
        # (last price, position book, its change count) marked at, its open P&L, the
        # combined position by (book, count of changes to lots), (pipeline, print count,
        # last price) of the last print, and our positions by (book, positions, account)
        self._marked: tuple[int, PositionBook, int] | None = None
        self._open_pnl: float | None = None
        self._combined_at: tuple[tuple[PositionBook, int], tuple[int, float | None]] | None = None
        self._last_at: tuple[weakref.ref[MarketSource] | None, int, int | None] = (None, -1, None)
        self._pos_at: tuple[PositionBook, int, str, list[Position]] | None = None
        #: per live entry, the values of its latest view and the view (:meth:`_views`)
        self._view_at: dict[str, tuple[tuple[Any, ...], EntryView]] = {}

    # ---- the engine's output ---------------------------------------------------------------
    def catch_up(self, pipeline: MarketSource, upto: int | None = None) -> None:
        """The first ``upto`` (default: all) signals ``pipeline`` accumulated are not new to
        this host: it was made mid-session (the server restarted on a recovered book, the
        strategy switched on later) and must never enter on a signal from an hour ago."""
        n = len(pipeline.accumulated)
        self._counts.seen_signals = n if upto is None else min(upto, n)
        self._counts.prints_seen = pipeline.trades
        self._seen_raw = len(pipeline.signals)
        # the entries already on the desk (restored from the journal) keep the timing rules:
        # spacing counts from the latest one, scaling in from those still live
        om = self.desk.orders.orders
        mine = [b for b in self.desk.brackets.brackets.values() if b.instrument in self.keys]
        sent = [om[b.entry].commands[0].command.t for b in mine if om[b.entry].commands]
        if sent:
            self._counts.last_entry_ns = max(sent)
        self._counts.since_flat = sum(1 for b in mine if b.status != "done")

    def on_market(
        self, pipeline: MarketSource, series: Mapping[int, np.ndarray] | None = None
    ) -> list[OrderCommand]:
        """After each pipeline update: the strategy's intents, as commands. Time is the data's
        (``pipeline.last_ts``). ``series``: NinjaTrader's own bar series, when there are."""
        values, make = self._market_fields(pipeline, series)
        return self._step(values["ts_event"], values["last_ticks"], (values, make, pipeline),
                          None)  # fmt: skip

    def market_context(
        self, pipeline: MarketSource, series: Mapping[int, np.ndarray] | None = None
    ) -> StrategyContext:
        """The market part of the context from the pipeline (our own part is added by
        :meth:`step`); the accumulated signals new since the previous call. ``series``:
        NinjaTrader's series by BarsInProgress (closed bars), for a multi-timeframe filter."""
        values, make = self._market_fields(pipeline, series)
        src = Source(pipeline, values["ts_event"], self._entry_block)
        return StrategyContext(**values, **{k: f(src) for k, f in make.items()
                                            if k != "entry_block"})  # fmt: skip

    def _market_fields(
        self, pipeline: MarketSource, series: Mapping[int, np.ndarray] | None
    ) -> tuple[dict[str, Any], Makers]:
        """:meth:`market_context`'s fields, as keywords: those every decision reads or that
        move the host's own counters (the prints, the last price, the new signals); and for
        the others (with the entry block: :data:`~orderflow.trading.lazy_context.LAZY`) a
        function of the decision's :class:`~orderflow.trading.market_fields.Source`, read
        by a decision only when its strategy reads them."""
        now = pipeline.last_ts
        self._prints = prints = self._since(pipeline)
        last = self._last_price(pipeline, prints)
        acc, sig = pipeline.accumulated, pipeline.signals
        new = self._take(acc, self._counts.seen_signals)
        self._counts.seen_signals = acc.count  # (len)
        flow = getattr(self.strategy, "needs_order_flow", True)
        # the detectors' own signals only for a strategy that reads them (those no longer
        # kept are counted either way)
        raw = self._take(sig, self._seen_raw, bool(flow))
        self._seen_raw = sig.count
        liquidity = getattr(self.strategy, "needs_liquidity", True)
        values: dict[str, Any] = {
            "ts_event": now, "instrument": self.instrument, "last_ticks": last,
            "signals": tuple(new), "series": series or {},
            "detections": tuple(raw) if flow else (),
        }  # fmt: skip
        make = MAKERS[bool(liquidity), bool(flow)]
        return values, make

    def _last_price(self, pipeline: MarketSource, prints: _Prints) -> int | None:
        """The close of the first bar series' forming bar (else its last closed bar): the
        last print's price, so the same until a print comes (a bar closing on time keeps
        it). Every print goes into every bar series, so with the pipeline's newest print in
        ``prints`` (the prints since the previous decision) that is its price; otherwise
        (no print since, another pipeline) it is read from the series."""
        ref, n, last = self._last_at
        same = ref is not None and ref() is pipeline
        if same and n == pipeline.trades:
            return last
        if len(prints.px) and prints.start + len(prints.px) == pipeline.trades:
            last = int(prints.px[-1])
        else:
            series = pipeline.bars.series[0]
            last = None
            forming = series.forming()
            if forming is not None:
                last = int(forming["close"])
            elif len(series):
                last = int(series.bars()["close"][-1])
        # (the same pipeline's reference again: one weak reference made per pipeline)
        self._last_at = (ref if same else weakref.ref(pipeline), pipeline.trades, last)
        return last

    def _take(self, log: SignalReads[Any], seen: int, read: bool = True) -> Sequence[Any]:
        """What ``log`` took after ``seen`` (nothing when not ``read``); any the pipeline no
        longer keeps (a decision further behind than it keeps signals) are counted, never
        silently left out."""
        if seen == log.count:  # none since (and none lost: the newest is kept)
            return []
        lost = log.missed(seen)
        if lost:
            self.counters["signals_not_kept"] += lost
        return log.since(seen) if read else []

    def _since(self, pipeline: MarketSource) -> _Prints:
        """The prints since the previous decision, and since the sending of every entry
        whose fill this host has not yet seen (its best price starts at the fill)."""
        seen = self._counts.prints_seen
        start = seen
        for b in self.desk.brackets.live.values():
            meta = self._meta.get(b.id)
            if meta is not None and meta.best_ticks is None:
                start = min(start, meta.prints_at)
        ts, px = pipeline.prints_since(start)
        self._counts.prints_seen = pipeline.trades
        return _Prints(pipeline.trades - len(ts), seen, ts, px)

    def step(self, market: StrategyContext) -> list[OrderCommand]:
        """One decision at ``market.ts_event``: our state replaces the context's own fields,
        the strategy decides, the intents become commands. Tests hand-build ``market``."""
        return self._step(market.ts_event, market.last_ticks, None, market)

    def _step(
        self, now: int, last: int | None,
        fields: tuple[dict[str, Any], Makers, MarketSource] | None,
        market: StrategyContext | None,
    ) -> list[OrderCommand]:  # fmt: skip
        """:meth:`step` on ``market``, or on the market ``fields`` of :meth:`on_market`
        (values and makers: the context built once, with our own fields, lazily)."""
        out: list[OrderCommand] = []
        if last is not None:
            self.last_ticks = last
            out += self._mark(now, last)
        own = self._own(now, last)
        ctx: StrategyContext
        if market is not None:
            ctx = dataclasses.replace(market, entry_block=self._entry_block(now), **own)
        else:
            assert fields is not None
            values, make, pipeline = fields
            values.update(own)
            # (the tuple's own constructor: ``Source(...)``, the named tuple's Python
            # ``__new__``, costs twice as much)
            src = tuple.__new__(Source, (pipeline, now, self._entry_block))
            ctx = LazyContext.of(values, make, src)
        self._prints = None
        if self.risk.flatten_requested:  # a risk limit holds: no strategy, close everything
            return out + self.flatten(now, "risk_flatten")
        # every intent before any is applied: the lazy fields read the state of the decision;
        # a context with more references after the strategy than before, it kept: its values
        # stay this decision's
        held = sys.getrefcount(ctx)
        intents = list(self.strategy.decide(ctx))
        if isinstance(ctx, LazyContext) and sys.getrefcount(ctx) > held:
            ctx.materialise()
        for intent in intents:
            out += self._apply(now, intent, ctx)
        return out

    def context(self, market: StrategyContext) -> StrategyContext:
        """``market`` with our position, live entries, entry timing and session added."""
        own = self._own(market.ts_event, market.last_ticks)
        return dataclasses.replace(market, entry_block=self._entry_block(market.ts_event), **own)

    def _own(self, now: int, last: int | None) -> dict[str, Any]:
        """Our part of the context at ``now`` (last price ``last``), as keywords, but for the
        entry block (:meth:`_entry_block`, asked only when the strategy reads it)."""
        qty, avg = self._combined()
        entries = tuple(self._views(last))
        if qty == 0 and not entries:
            self._counts.since_flat = 0
        return {
            "position": qty, "avg_price_ticks": avg, "entries": entries,
            "last_entry_ns": self._counts.last_entry_ns,
            "entries_since_flat": self._counts.since_flat,
            "flatten_due": self.sessions is not None and self.sessions.flatten_due(now),
        }  # fmt: skip

    def _entry_block(self, now: int) -> str:
        """Why a new entry would be refused at ``now`` (the risk manager's code), "" if not."""
        block = self.risk.entry_block(now, self.key)
        return "" if block is None else block.code

    def _views(self, last: int | None) -> list[EntryView]:
        """A view of each of our live entries; one whose every value is the same as at the
        previous decision is that decision's view again (frozen: equal values, the same
        view), so an unchanged entry costs a tuple rather than a new dataclass."""
        om = self.desk.orders.orders
        bm = self.desk.brackets
        views = []
        before, self._view_at = self._view_at, {}
        for b in bm.live.values():
            if b.instrument not in self.keys:  # the desk holds others'
                continue
            entry = om[b.entry]
            meta = self._meta.get(b.id)
            if meta is None:  # a bracket restored from the journal after a restart
                first_cmd = entry.commands[0].command.t if entry.commands else 0
                meta = self._meta[b.id] = _EntryMeta(
                    first_cmd, "restored", "restored", prints_at=self._counts.prints_seen
                )
            first = entry.fills[0] if entry.fills else None
            if first is not None:
                # the best print since the fill: the extremes of every print since the last
                # decision (the pipeline's), so the trail does not depend on how often we
                # decide; without them (a hand-built context) the last price
                fresh = meta.best_ticks is None
                best = first.price_ticks if meta.best_ticks is None else meta.best_ticks
                seen = last
                if self._prints is not None:
                    seen = self._prints.extreme(b.direction, first.t, fresh)
                # (max / min of two ints, without the calls)
                if seen is not None and ((seen > best) if b.direction > 0 else (seen < best)):
                    best = seen
                meta.best_ticks = best
            known = not b.relative
            targets = ((tuple([p for p, _ in b.plan]) if b.plan else (b.target_ticks,))
                       if known else ())  # fmt: skip
            # the values in the order of EntryView's fields (id, direction, status,
            # order_type, price_ticks, quantity, filled, open, entry_working,
            # avg_fill_ticks, first_fill_ticks, submitted_ns, first_fill_ns, stop_ticks,
            # targets, best_ticks, kind)
            values = (
                b.id, b.direction, b.status, entry.order_type or OrderType.MARKET,
                entry.limit_ticks if entry.limit_ticks is not None else entry.stop_ticks,
                entry.quantity, entry.filled, bm.net(b) * b.direction,
                not entry.terminal and not entry.cancel_requested and entry.remaining > 0,
                entry.avg_fill_ticks, None if first is None else first.price_ticks,
                meta.submitted_ns, None if first is None else first.t,
                b.stop_ticks if known else None, targets,
                meta.best_ticks, meta.kind,
            )  # fmt: skip
            got = before.get(b.id)
            view = got[1] if got is not None and got[0] == values else EntryView(*values)
            self._view_at[b.id] = (values, view)
            views.append(view)
        return views

    # ---- intents -> commands -----------------------------------------------------------------
    def _apply(self, now: int, intent: Intent, ctx: StrategyContext) -> list[OrderCommand]:
        if isinstance(intent, Enter):
            return self._enter(now, intent)
        bm = self.desk.brackets
        if isinstance(intent, Exit):
            if intent.entry_id is None:
                return self.flatten(now, intent.reason)
            return self._exit(now, intent.entry_id, intent.reason)
        b = bm.brackets.get(intent.entry_id)
        if b is None or b.status == "done":
            self._decide(now, intent, "unknown_entry", intent.entry_id)
            return []
        try:
            if isinstance(intent, Cancel):
                cmds = bm.cancel(now, b.id)
            elif isinstance(intent, MoveStop):
                cmds = bm.amend(now, b.id, stop_loss_ticks=intent.stop_ticks)
            else:  # pragma: no cover - the Intent union is closed
                raise ArgumentError(f"not an intent: {intent!r}")
        except (CommandError, ValueError) as exc:
            self._decide(now, intent, f"desk:{getattr(exc, 'reason', 'refused')}", b.id,
                         str(exc))  # fmt: skip
            return []
        self._decide(now, intent, "sent", b.id, intent.reason)
        meta = self._meta.get(b.id)
        if isinstance(intent, MoveStop) and meta is not None:
            meta.moved = intent.reason
            meta.breakeven = meta.breakeven or intent.reason == "breakeven"
        return self._register(now, cmds)

    def _enter(self, now: int, intent: Enter) -> list[OrderCommand]:
        qty = intent.quantity
        key = self.key
        why: dict[str, Any] | None = None
        if qty is None:
            atr = intent.atr_ticks
            choice = choose_contract(
                self.instrument, self._sizing, stop_ticks=intent.stop_distance,
                atr=None if atr is None else atr * float(self.instrument.tick_size),
                profile=self.broker, equity=self.risk.state.equity,
            )  # fmt: skip
            qty, key, why = choice.decision.contracts, choice.contract, choice.to_dict()
            why["method"] = self._sizing.method
            if qty < 1:
                self._decide(now, intent, f"sizing:{choice.decision.reason}", sizing=why)
                return []
            if qty > intent.max_quantity:
                why["capped"] = intent.max_quantity
        qty = min(qty, intent.max_quantity)
        if qty < 1:
            self._decide(now, intent, "sizing:no_room", sizing=why)
            return []
        sizes = split_targets(qty, [share for _, share in intent.targets])
        plan = tuple((dist, n) for (dist, _), n in zip(intent.targets, sizes, strict=True) if n)
        orders = self.desk.orders
        cid = orders.new_cid()
        d = intent.direction
        decision = self.risk.check(
            OrderIntent(cid, key, d, qty, now, order_type=str(intent.order_type))
        )
        if not decision:  # the cid was drawn: kept with the refusal (a journal's replay)
            self._decide(now, intent, f"risk:{decision.code}", cid, sizing=why)
            return []
        limit = intent.price_ticks if intent.order_type is OrderType.LIMIT else None
        stop = intent.price_ticks if intent.order_type is OrderType.STOP_MARKET else None
        try:
            b, cmds = self.desk.brackets.submit(
                now, key, OrderAction.BUY if d > 0 else OrderAction.SELL_SHORT, qty,
                stop_loss_ticks=intent.stop_distance,
                target_ticks=plan[0][0] if len(plan) == 1 else None,
                scale_out=plan if len(plan) > 1 else (), relative=True,
                order_type=intent.order_type, limit_ticks=limit, stop_ticks=stop, cid=cid,
            )  # fmt: skip
        except (CommandError, ValueError) as exc:
            self.risk.on_order_done(cid)
            self._decide(now, intent, f"desk:{getattr(exc, 'reason', 'refused')}", cid, str(exc),
                         sizing=why)  # fmt: skip
            return []
        self._meta[b.id] = _EntryMeta(now, intent.kind, intent.reason,
                                      prints_at=self._counts.prints_seen, sizing=why)  # fmt: skip
        self._counts.last_entry_ns = now
        self._counts.since_flat += 1
        self._decide(now, intent, "sent", b.id, f"{qty} {intent.order_type} {intent.reason}",
                     sizing=why)  # fmt: skip
        return cmds

    def _exit(self, now: int, bracket_id: str, reason: str) -> list[OrderCommand]:
        b = self.desk.brackets.brackets.get(bracket_id)
        if b is None or b.status == "done":
            return []
        cmds = self.desk.brackets.close(now, bracket_id, reason)
        self.decisions.append(Decision(now, "exit", "sent", bracket_id, reason))
        return self._register(now, cmds)

    def flatten(self, now: int, reason: str = "flatten") -> list[OrderCommand]:
        """Close every live entry of ours: working orders cancelled, what each holds flattened
        at market once nothing of it can fill any more (called again by later reports)."""
        out: list[OrderCommand] = []
        live = self.desk.brackets.brackets.values()
        for bid in [b.id for b in live if b.status != "done" and b.instrument in self.keys]:
            if self.desk.brackets.brackets[bid].status != "flattening":
                out += self._exit(now, bid, reason)
        return out

    def _decide(
        self, now: int, intent: Any, outcome: str, entry_id: str = "", detail: str = "",
        sizing: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        kind = {Enter: "enter", Cancel: "cancel", MoveStop: "move_stop", Exit: "exit"}.get(
            type(intent), type(intent).__name__
        )
        self.counters[f"{kind}_{outcome.split(':')[0]}"] += 1
        self.decisions.append(Decision(now, kind, outcome, entry_id, detail or "", sizing))

    def _register(self, now: int, cmds: Sequence[OrderCommand]) -> list[OrderCommand]:
        """The desk's own orders and changes shown to the risk manager as exits
        (:func:`~orderflow.trading.risk.register_exits`); a refusal is recorded, the order
        still goes."""
        if not cmds:  # (most reports: nothing to show the risk manager)
            return []
        for kind, cid, decision in register_exits(self.risk, cmds, self.key, now):
            self.counters["exit_sent_despite_risk"] += 1
            self.decisions.append(Decision(now, kind, f"sent_despite_risk:{decision.code}", cid))
        return list(cmds)

    # ---- reports ---------------------------------------------------------------------------
    def on_order_update(self, now: int, ev: OrderEvent, key: str = "") -> list[OrderCommand]:
        """NinjaTrader's OnOrderUpdate (by value): the desk applies it, a terminal order stops
        counting for risk, and the brackets answer with what they need. ``key``: the contract
        it was reported under (default: this host's; the micro's for its orders)."""
        _, cmds = self.desk.apply_update(now, ev, key or self.key)
        order = self.desk.orders.orders.get(ev.cid)
        if order is not None and order.terminal:
            # NinjaTrader reports Filled before the execution: an order it says filled is
            # never an unfilled entry (which would give its trade back to the day's count)
            pending = self.risk.state.pending.get(ev.cid)
            if pending is not None and ev.filled > pending.filled:
                pending.filled = ev.filled
            self.risk.on_order_done(ev.cid)
        return self._register(now, cmds)

    def on_fill(self, now: int, fill: Fill) -> list[OrderCommand]:
        """NinjaTrader's OnExecutionUpdate: counted once; the risk manager's position, open
        and realised P&L follow it (a limit it crosses flattens everything)."""
        fkey = fill.instrument or self.key
        pos = self.desk.positions.position(self.desk.orders.account, fkey)
        before = pos.net_realized
        res = self.desk.apply_fill(now, fill)
        if not res.new:
            return []
        if fill.cid in self.risk.state.pending:
            self.risk.on_fill(fill.cid, fill.quantity)
        self.risk.set_position(fkey, pos.quantity)
        self.risk.roll_day(now, self.key)
        self.risk.state.unrealised = float(self._unrealized(fill.price_ticks))
        events = self.risk.on_realised(float(pos.net_realized - before), now, bool(res.closed))
        out = self._register(now, res.commands)
        return out + self._risk(now, events)

    def acknowledge(self, ref: int, status: str, reason: str, now: int) -> None:
        """The bridge's answer to command ``ref`` (a refused submit ends the order Rejected)."""
        self.desk.orders.acknowledge(ref, status, reason, now)
        for order in self.desk.orders.orders.values():
            mine = any(pc.command.ref == ref for pc in order.commands)
            if mine and order.terminal and order.cid in self.risk.state.pending:
                self.risk.on_order_done(order.cid)

    def expire(self, now: int) -> None:
        self.desk.expire(now)

    def _mark(self, now: int, last: int) -> list[OrderCommand]:
        # marking again at the price every position was last marked at, with nothing in the
        # book changed since (no fill, no adoption, no other mark), changes nothing (MAE/MFE
        # are maxima): a decision with no new print skips it, and the open P&L is the one
        # worked out before. The book's change count stands for its state (it moves at every
        # change to a lot, a trade or a mark; the marks here move it too, so it is read after)
        book = self.desk.positions
        if self._marked is None or self._marked != (last, book, book.changes):
            for k in self.keys:
                self.desk.mark(k, last)
            self._marked = (last, book, book.changes)
            self._open_pnl = None
        for p in self._positions():
            if p.quantity:
                break
        else:  # flat in every contract
            return []
        if self._open_pnl is None:
            self._open_pnl = float(self._unrealized(last))
        events = self.risk.on_unrealised(self._open_pnl, now)
        return self._risk(now, events) if events else []

    def _positions(self) -> list[Position]:
        """Our positions in each contract this host trades (the standard, and its micro);
        the same list while the book holds as many positions (none is ever taken out)."""
        acct, book = self.desk.orders.account, self.desk.positions
        got = self._pos_at
        if got is not None and got[0] is book and got[1] == len(book.positions) and got[2] == acct:
            return got[3]
        out = [book.position(acct, self.key)]  # the micro's only once it has traded
        out += [p for k in self.keys[1:] if (p := book.positions.get((acct, k)))]
        self._pos_at = (book, len(book.positions), acct, out)
        return out

    def _unrealized(self, mark: int) -> Decimal:
        total = Decimal(0)  # (``sum`` from ``Decimal(0)``, in the same order)
        for p in self._positions():
            total += p.unrealized(mark)
        return total

    def _combined(self) -> tuple[int, float | None]:
        """Contracts held over the pair (the strategy's position; a micro counts as one
        contract, as in every limit) and their average price weighted by tick value (where
        the whole position breaks even); worked out again only when the lots changed (the
        book's count of changes but the marks)."""
        book = self.desk.positions
        key = (book, book.lot_changes)
        if self._combined_at is None or self._combined_at[0] != key:
            self._combined_at = (key, self._combine())
        return self._combined_at[1]

    def _combine(self) -> tuple[int, float | None]:
        held = [p for p in self._positions() if p.quantity and p.avg_price_ticks is not None]
        qty = sum(p.quantity for p in self._positions())
        if not held:
            return qty, None
        if len(held) == 1:
            return qty, float(held[0].avg_price_ticks)  # type: ignore[arg-type]
        w = [abs(p.quantity) * float(p.instrument.tick_value) for p in held]
        px = [float(p.avg_price_ticks) for p in held]  # type: ignore[arg-type]
        return qty, sum(a * b for a, b in zip(w, px, strict=True)) / sum(w)

    def _risk(self, now: int, events: list[RiskEvent]) -> list[OrderCommand]:
        self.risk_events.extend(events)
        if any(ev.flatten for ev in events):
            return self.flatten(now, "risk_flatten")
        return []

    # ---- the strategy's own state (journalled, restored after a restart) -----------------
    def state(self) -> dict[str, Any]:
        """What this host remembers beyond the desk, as plain JSON: the entry timing and,
        per live entry, its kind, signal, plan (stop and target prices once anchored on the
        fill), trail state (best price since the fill, the last stop move, breakeven armed)
        and contract choice. :meth:`restore` takes it back."""
        entries = {}
        for b in self.desk.brackets.brackets.values():
            meta = self._meta.get(b.id)
            if b.status == "done" or b.instrument not in self.keys or meta is None:
                continue
            known = not b.relative
            entries[b.id] = {
                **meta.to_dict(), "instrument": b.instrument,
                "stop_ticks": b.stop_ticks if known else None,
                "targets": ([p for p, _ in b.plan] if b.plan else [b.target_ticks])
                if known else [],
            }  # fmt: skip
        counts = {"last_entry_ns": self._counts.last_entry_ns,
                  "since_flat": self._counts.since_flat}  # fmt: skip
        out: dict[str, Any] = {"version": 1, "counts": counts, "entries": entries}
        memory = getattr(self.strategy, "memory", None)
        remembered = memory() if callable(memory) else {}
        if remembered:  # the strategy's own (the order-flow exits'), only when it has some
            out["strategy"] = remembered
        return out

    def restore(self, state: Mapping[str, Any]) -> int:
        """The state :meth:`state` gave before a restart, over the desk the journal rebuilt:
        each live entry continues under its kind, signal, contract choice and trail state
        (its plan is the bracket's own); entries the desk no longer holds live are skipped,
        as are values of the wrong type or out of range (they stay ``restored``). Returns
        the entries restored."""
        counts = state.get("counts")
        if isinstance(counts, Mapping):
            last = counts.get("last_entry_ns")
            if last is None or _plain_int(last, 0, 2**63 - 1):
                self._counts.last_entry_ns = last
            if _plain_int(counts.get("since_flat"), 0, 1_000_000):
                self._counts.since_flat = counts["since_flat"]
        remembered = state.get("strategy")
        remember = getattr(self.strategy, "remember", None)
        if (
            remembered is not None
            and callable(remember)
            and not (isinstance(remembered, Mapping) and remember(remembered))
        ):
            self.counters["strategy_state_refused"] += 1
        entries = state.get("entries")
        done = 0
        for bid, e in entries.items() if isinstance(entries, Mapping) else ():
            b = self.desk.brackets.brackets.get(bid)
            if b is None or b.status == "done" or not isinstance(e, Mapping):
                continue
            best = e.get("best_ticks")
            sizing = e.get("sizing")
            if not (_plain_int(e.get("submitted_ns"), 0, 2**63 - 1)
                    and isinstance(e.get("kind"), str) and isinstance(e.get("reason"), str)
                    and (best is None or _plain_int(best, -(2**53), 2**53))
                    and (sizing is None or isinstance(sizing, Mapping))):  # fmt: skip
                self.counters["strategy_state_refused"] += 1
                continue
            self._meta[bid] = _EntryMeta(
                e["submitted_ns"], e["kind"], e["reason"], best,
                prints_at=self._counts.prints_seen, sizing=sizing,
                moved=str(e.get("moved", "")), breakeven=e.get("breakeven") is True,
            )  # fmt: skip
            done += 1
        return done

    # ---- views ----------------------------------------------------------------------------
    @property
    def position(self) -> int:
        """Contracts held, the standard and the micro together."""
        n = 0
        for p in self._positions():
            n += p.quantity
        return n

    @property
    def net_realized(self) -> Decimal:
        return sum((p.net_realized for p in self._positions()), Decimal(0))

    def status(self) -> dict[str, Any]:
        return {
            "instrument": self.key,
            "position": self.position,
            "entries": [
                b.to_dict() for b in self.desk.brackets.brackets.values() if b.status != "done"
            ],
            "counters": dict(self.counters),
            "decisions": len(self.decisions),
            "last_entry_ns": self._counts.last_entry_ns,
            "state": self.state(),
        }


def _plain_int(x: object, lo: int, hi: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi
