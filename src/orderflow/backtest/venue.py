"""The simulated venue: NinjaTrader and the exchange in a backtest.

It takes the trading layer's :class:`~orderflow.trading.orders.OrderCommand` (submit, change,
cancel) at the time the strategy sends it and answers with what NinjaTrader would forward:
:class:`~orderflow.trading.orders.OrderEvent` and :class:`~orderflow.trading.orders.Fill`
(execution id, price in ticks, commission and fees of the broker profile), each as a
:class:`Delivery` stamped with the time the strategy sees it. So the same order desk consumes
them live and in a backtest. The fill rules are in ``docs/backtest.md``; in short:

- commands reach the venue ``order latency`` after they are sent and act on the book as it is
  then (the venue's clock is the records' ``ts_event``); reports reach the strategy
  ``md latency`` after they happen, in the order they happened;
- a market order (and a triggered StopMarket or MIT) walks the book from the touch; a
  marketable limit takes liquidity up to its price and rests with the rest;
- what our orders took stays taken (:attr:`SimVenue.taken`) until the market's own records
  show it gone: a level's taken amount falls by every size the market removes there and never
  exceeds the level's size, so two of our orders never fill from the same contracts;
- resting limits fill by queue position (:mod:`orderflow.backtest.queues`), from trades only;
- stops and MITs trigger on trades (a print at or through the trigger), never on quotes.

The market-data side (which records can touch our orders, queues, triggers) is
:mod:`orderflow.backtest.matching`; this module holds the orders, the commands, the reports
and the fills.

Two fill models: the book and queue model above (streams ``mbo``, ``levels``, ``nt_depth``),
and the bar model (``bars``: :mod:`orderflow.backtest.bar_fills`), whose market is one bar's
OHLC at a time and which fills at once, without latency. Both take the same commands and
answer with the same reports, fills and OCO rules: the bars backtest and the book backtests
drive this one venue.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from orderflow.backtest.bar_fills import Answer, BarFills
from orderflow.backtest.latency import LatencyModel
from orderflow.backtest.market import KINDS, MarketView
from orderflow.backtest.matching import Matching
from orderflow.backtest.model import ASK, BID, STOPS, Delivery, S, SimOrder
from orderflow.backtest.queues import QueueState
from orderflow.core.errors import ArgumentError, ParameterError
from orderflow.model.dtypes import TRADE_DTYPE
from orderflow.model.instruments import Instrument
from orderflow.trading.broker import DEFAULT_PROFILE, BrokerProfile
from orderflow.trading.money import CENT, to_decimal
from orderflow.trading.orders import (
    Fill,
    OrderCommand,
    OrderEvent,
    OrderState,
    OrderType,
    Side,
)
from orderflow.trading.sizing import paired_instrument

__all__ = ["Delivery", "SimOrder", "SimVenue"]

_WALK_LEVELS = 16
_NO_TRADES = np.zeros(0, dtype=TRADE_DTYPE)


class SimVenue(Matching):
    """NinjaTrader and the exchange for one instrument in a backtest.

    ``kind`` is the market-data stream: ``mbo`` (L3, exact queue positions), ``levels``
    (price-level deltas plus prints) or ``nt_depth`` (NinjaTrader depth plus prints), both L2
    with the queue model of exponent ``queue_power``; or ``bars``: no book, the bar fill model
    (:mod:`orderflow.backtest.bar_fills`; :meth:`on_bar`, :meth:`at_end`; no latency).
    Latencies are ns constants or :class:`LatencyModel`\\ s; ``seed`` seeds constant-built
    models (a given model keeps its own).
    ``book``: read this book (the pipeline's) instead of keeping one (see :meth:`next_cut`).
    ``prints``: what an L3 stream prints with: ``trades`` (Databento's T records) or
    ``fills`` (LOBSTER: visible executions come as F + C, only hidden ones as T, which then
    trigger stops but fill no queue).
    """

    def __init__(
        self,
        instrument: Instrument,
        kind: str = "mbo",
        *,
        broker: BrokerProfile = DEFAULT_PROFILE,
        order_latency: LatencyModel | int = 0,
        md_latency: LatencyModel | int = 0,
        queue_power: float = 1.0,
        account: str = "Sim101",
        seed: int = 0,
        book: Any = None,
        prints: str = "trades",
    ) -> None:
        if queue_power <= 0:
            raise ParameterError(f"queue_power must be > 0, got {queue_power}")
        self.instrument = instrument
        self.symbol = instrument.contract or instrument.symbol
        if kind not in (*KINDS, "bars"):
            raise ArgumentError(
                f"the venue fills against {', '.join(KINDS)} streams or bars, not {kind!r}"
            )
        if kind == "bars" and (book is not None or order_latency or md_latency):
            raise ArgumentError("a bars venue has no book and no latency: the bar is its market")
        self.market = MarketView(kind, instrument, book)
        #: the bar fill model of a ``bars`` venue; None: the book and queue model
        self.bars = BarFills(self._fill, self._take) if kind == "bars" else None
        self._exec_prefix = "BAR" if kind == "bars" else "SIM"  # the fills' execution ids
        #: the book is shared: the caller applies the records (see :meth:`next_cut`)
        self.shared = book is not None
        self.kind = kind
        self.l3 = kind == "mbo"
        if prints not in ("trades", "fills"):
            raise ParameterError(
                f"prints: 'trades' (Databento) or 'fills' (LOBSTER), not {prints!r}"
            )
        self.fills_print = self.l3 and prints == "fills"
        self.broker = broker
        self._commission, self._fees = self._costs(instrument.symbol)
        #: the other contract of the instrument's standard/micro pair (MESH4 beside ESH4):
        #: its orders fill on this market data, at its own costs (its point value is the
        #: position's); prices in ticks are the same (the pairs share their tick size)
        pair = paired_instrument(instrument)
        self.pair: str | None = None
        self._pair_costs: tuple[Any, Any] | None = None
        if pair is not None and pair.symbol in broker.costs:
            self.pair = pair.contract or pair.symbol
            self._pair_costs = self._costs(pair.symbol)
        self.order_latency = LatencyModel.of(order_latency, seed)
        self.md_latency = LatencyModel.of(md_latency, seed + 1)
        self.queue_power = float(queue_power)
        self.account = account
        self.now = 0
        self.last_trade: int | None = None
        self.orders: dict[str, SimOrder] = {}
        #: liquidity our orders took and the market has not yet removed: {(side, price): size}
        self.taken: dict[tuple[int, int], int] = {}
        self._taken_level: dict[tuple[int, int], int] = {}  # L2: the level's size last seen
        #: every fill: (t, cid, price, qty, "maker" | "taker")
        self.fills: list[tuple[int, str, int, int, str]] = []
        self.counters: Counter[str] = Counter()
        self._resting: list[SimOrder] = []
        self._waiting: list[SimOrder] = []  # stops and MITs not yet triggered
        self._oco: dict[str, list[SimOrder]] = {}
        self._fired: list[SimOrder] = []  # triggered, waiting for their event's end
        self._events = 0  # LAST records seen (numbers exchange events across chunks)
        self._ends = 0  # orders that left the book or the trigger list
        self._changes = 0  # see Matching._changes
        self._arrays = None
        self._pending: list[tuple[int, OrderCommand]] = []  # (arrival, command), FIFO
        self._out: list[Delivery] = []
        self._last_arrival = 0
        self._last_at = 0
        self._seq = 0
        self._exec = 0

    def _costs(self, symbol: str) -> tuple[Any, Any]:
        """Commission and fees per side of ``symbol`` (the broker profile's)."""
        costs = self.broker.costs_for(symbol)
        fees = (to_decimal(costs.exchange_fee_per_side) + to_decimal(costs.clearing_fee_per_side)
                + to_decimal(costs.nfa_fee_per_side))  # fmt: skip
        return to_decimal(costs.commission_per_side), fees

    # ---- the strategy's side -------------------------------------------------------------
    @property
    def book(self) -> Any:
        return self.market.book

    def send(self, cmd: OrderCommand) -> list[Delivery]:
        """A command sent at ``cmd.t``. NinjaTrader's own immediate reports come back now
        (Submitted, CancelPending, ChangePending; Rejected for an order it refuses locally);
        the command reaches the venue after the order latency (FIFO: one connection)."""
        t = cmd.t
        if cmd.op == "submit":
            self._submit_local(cmd)
        elif cmd.op in ("change", "cancel"):
            o = self.orders.get(cmd.cid)
            if o is None:
                self.counters["unknown_cid"] += 1
                return self._take()
            if o.live:
                pending = S.CANCEL_PENDING if cmd.op == "cancel" else S.CHANGE_PENDING
                self._report(o, pending, t, local=True)
        else:
            raise ArgumentError(f"unknown command op {cmd.op!r}")
        if self.orders[cmd.cid].state != S.REJECTED or cmd.op != "submit":
            arrival = max(t + self.order_latency.next(), self._last_arrival)
            self._last_arrival = arrival
            self._pending.append((arrival, cmd))
        return self._take()

    @property
    def holding(self) -> bool:
        """A command on its way to the venue or a report not yet taken: :meth:`due` may be
        true at some time (False: settling has nothing to do, whatever the time)."""
        return bool(self._out) or bool(self._pending)

    def due(self, t: int) -> bool:
        """A command reaches the venue by ``t`` (or a report waits to be taken): :meth:`advance`
        has something to do."""
        return bool(self._out) or (bool(self._pending) and self._pending[0][0] <= t)

    def advance(self, t: int) -> list[Delivery]:
        """Let commands that arrive by ``t`` act on the book as it stands (no market data in
        between)."""
        while self._pending and self._pending[0][0] <= t:
            self._arrive(*self._pending.pop(0))
        return self._take()

    def on_market(self, records: np.ndarray, trades: np.ndarray | None = None) -> list[Delivery]:
        """Market data in time order: the stream's records (and, for an L2 stream, its prints
        as ``TRADE_DTYPE``). Commands arriving inside the chunk act between the records before
        and after their arrival time.

        With a shared book the records are already in it: cut the stream with
        :meth:`next_cut` so that nothing the venue must see the book for falls inside a chunk;
        commands due by the chunk's last record act after it."""
        if self.bars is not None:
            raise ArgumentError("a bars venue takes bars (on_bar), not book records")
        if trades is None or self.l3:  # an MBO stream carries its prints (T records)
            trades = _NO_TRADES
        if self.shared:
            self._run(records, trades)
            if self._pending:  # (most pieces have no command on its way)
                end = _end(records, trades)
                while self._pending and self._pending[0][0] <= end:
                    self._arrive(*self._pending.pop(0))
            return self._take()
        rts, tts = records["ts_event"], trades["ts_event"]
        end = _end(records, trades)
        i = k = 0
        while True:
            arrival = self._pending[0][0] if self._pending else None
            if arrival is None or arrival > end:
                self._run(records[i:], trades[k:])
                break
            cut = max(i, int(np.searchsorted(rts, arrival, side="right")))
            kcut = max(k, int(np.searchsorted(tts, arrival, side="right")))
            if cut > i or kcut > k:
                self._run(records[i:cut], trades[k:kcut])
                i, k = cut, kcut
            self._arrive(*self._pending.pop(0))
        return self._take()

    def on_bar(self, t_open: int, t_mid: int, open_: int, high: int, low: int,
               answer: Answer) -> None:  # fmt: skip
        """A ``bars`` venue: one bar (its start, its middle, open, high, low in ticks) fills
        what it reaches by :mod:`orderflow.backtest.bar_fills`; each fill's reports go to
        ``answer`` before the next order is looked at (its commands come back through
        :meth:`send` and :meth:`advance`)."""
        self._bar_model().on_bar(t_open, t_mid, open_, high, low, answer)

    def at_end(self, t: int, close: int, answer: Answer) -> None:
        """A ``bars`` venue after its last bar: market orders fill at the last close."""
        self._bar_model().at_end(t, close, answer)

    def _bar_model(self) -> BarFills:
        if self.bars is None:
            raise ArgumentError(f"a {self.kind} venue takes book records (on_market), not bars")
        return self.bars

    def working(self) -> list[SimOrder]:
        """Our live orders, oldest first."""
        return [o for o in self.orders.values() if o.live]

    def queue_ahead(self, cid: str) -> float | None:
        """Size ahead of a resting order of ours (market orders only), or None."""
        o = self.orders.get(cid)
        return o.queue.ahead if o is not None and o.resting else None

    # ---- reports -------------------------------------------------------------------------
    def _take(self) -> list[Delivery]:
        out, self._out = self._out, []
        return out

    def _deliver(self, report: OrderEvent | Fill, t: int, local: bool = False) -> None:
        at = t if local else max(t + self.md_latency.next(), self._last_at)
        self._last_at = max(self._last_at, at)
        self._out.append(Delivery(at, report))

    def _report(self, o: SimOrder, state: OrderState, t: int, *, error: str = "NoError",
                comment: str = "", local: bool = False) -> None:  # fmt: skip
        self._changes += 1  # the order's state, size, prices or queue may have moved
        if state not in (S.CANCEL_PENDING, S.CHANGE_PENDING):
            o.state = state
        ev = OrderEvent(o.cid, state, t, o.quantity, o.filled, o.limit_ticks, o.stop_ticks,
                        o.order_id, error, comment)  # fmt: skip
        self._deliver(ev, t, local)

    def _reject(self, o: SimOrder, t: int, comment: str, local: bool = False) -> None:
        self.counters["rejected"] += 1
        self._report(o, S.REJECTED, t, error="OrderRejected", comment=comment, local=local)
        self._ended(o, t)

    # ---- commands ------------------------------------------------------------------------
    def _submit_local(self, cmd: OrderCommand) -> None:
        t = cmd.t
        if cmd.cid in self.orders:
            self.counters["cid_reused"] += 1
            raise ArgumentError(f"cid {cmd.cid!r} already used at this venue")
        assert cmd.action is not None and cmd.order_type is not None
        self._seq += 1
        o = SimOrder(cmd.cid, cmd.action.is_buy, OrderType(cmd.order_type), cmd.quantity,
                     cmd.limit_ticks, cmd.stop_ticks, cmd.oco, str(self._seq))  # fmt: skip
        if cmd.instrument and cmd.instrument != self.symbol and cmd.instrument == self.pair:
            o.instrument = cmd.instrument
        self.orders[o.cid] = o
        if o.oco:
            self._oco.setdefault(o.oco, []).append(o)
        why = ""
        if cmd.instrument and cmd.instrument not in (self.symbol, self.pair):
            why = f"instrument {cmd.instrument} is not traded on {self.symbol}'s market data"
        elif o.quantity <= 0:
            why = f"quantity {o.quantity} must be positive"
        elif not self.broker.allows(str(o.order_type)):
            why = f"order type {o.order_type} is not allowed by broker profile {self.broker.name}"
        elif o.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and o.limit_ticks is None:
            why = f"{o.order_type} needs a limit price"
        elif o.order_type in (*STOPS, OrderType.MIT) and o.stop_ticks is None:
            why = f"{o.order_type} needs a stop price"
        if why:
            self._reject(o, t, why, local=True)
            return
        self._report(o, S.SUBMITTED, t, local=True)

    def _arrive(self, t: int, cmd: OrderCommand) -> None:
        self.now = max(self.now, t)
        o = self.orders[cmd.cid]
        if cmd.op == "submit":
            self._accept(o, t)
        elif not o.live:
            if cmd.op == "change":  # NinjaTrader: the order ended before the change reached it
                self._report(o, o.state, t, error="UnableToChangeOrder")
            self.counters[f"{cmd.op}_too_late"] += 1
        elif cmd.op == "cancel":
            self._cancel(o, t, "")
        else:
            self._change(o, cmd, t)

    def _accept(self, o: SimOrder, t: int) -> None:
        if o.order_type in STOPS:
            why = self._wrong_side(o.is_buy, o.stop_ticks)
            if why:
                self._reject(o, t, why)
                return
        self._report(o, S.ACCEPTED, t)
        self._report(o, S.WORKING, t)
        o.seq = self._next_seq()
        if self.bars is not None:  # bars fill it when one reaches it
            self.bars.accepted(o)
        elif o.order_type == OrderType.MARKET:
            self._market(o, t)
        elif o.order_type == OrderType.LIMIT:
            self._place_limit(o, t)
        elif o.order_type == OrderType.MIT and self._mit_through(o):
            o.triggered = True
            self._market(o, t)
        else:
            self._waiting.append(o)

    def _wrong_side(self, is_buy: bool, stop: int | None) -> str:
        """NinjaTrader's refusal of a stop at or through the market, or ""."""
        ref = self._reference(is_buy)
        if ref is None or stop is None or (stop > ref if is_buy else stop < ref):
            return ""
        side, where = ("buy", "below") if is_buy else ("sell", "above")
        return f"{side} stop orders can't be placed {where} the market (stop {stop}, market {ref})"

    def _reference(self, is_buy: bool) -> int | None:
        """The market a stop is checked against: the last print (stops trigger on prints);
        before any print, the touch of our own side."""
        if self.last_trade is not None:
            return self.last_trade
        return self.market.best(BID if is_buy else ASK)

    def _mit_through(self, o: SimOrder) -> bool:
        last = self.last_trade
        if last is None or o.stop_ticks is None:
            return False
        return last <= o.stop_ticks if o.is_buy else last >= o.stop_ticks

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _cancel(self, o: SimOrder, t: int, comment: str) -> None:
        self._report(o, S.CANCELLED, t, comment=comment)
        self.counters["cancelled"] += 1
        self._ended(o, t)

    def _change(self, o: SimOrder, cmd: OrderCommand, t: int) -> None:
        qty = cmd.quantity or o.quantity
        if qty <= o.filled:
            why = f"quantity {qty} does not exceed the {o.filled} filled"
            self._report(o, o.state, t, error="UnableToChangeOrder", comment=why)
            return
        new_limit = o.limit_ticks if cmd.limit_ticks is None else cmd.limit_ticks
        new_stop = o.stop_ticks if cmd.stop_ticks is None else cmd.stop_ticks
        if o.order_type in STOPS and o in self._waiting and new_stop != o.stop_ticks:
            why = self._wrong_side(o.is_buy, new_stop)
            if why:  # the change is refused; the stop keeps protecting at its old price
                self._report(o, o.state, t, error="UnableToChangeOrder", comment=why)
                return
        requeue = o.resting and (new_limit != o.limit_ticks or qty > o.quantity)
        o.quantity, o.limit_ticks, o.stop_ticks = qty, new_limit, new_stop
        self._report(o, S.PART_FILLED if o.filled else S.WORKING, t)
        if requeue:  # a new price or a larger size loses the order's priority
            self._resting.remove(o)
            o.resting = False
            o.seq = self._next_seq()
            self._place_limit(o, t)
        elif o in self._waiting and o.order_type == OrderType.MIT and self._mit_through(o):
            self._waiting.remove(o)
            o.triggered = True
            self._market(o, t)

    # ---- taking liquidity ----------------------------------------------------------------
    def _market(self, o: SimOrder, t: int) -> None:
        self._walk(o, t, None)
        if o.live and o.remaining:
            self._cancel(o, t, "no liquidity left in the book for the rest")

    def _walk(self, o: SimOrder, t: int, limit: int | None) -> None:
        """Take liquidity from the opposite side, best level first, up to ``limit`` (None:
        any price), skipping what we took before."""
        hit = ASK if o.is_buy else BID
        n = _WALK_LEVELS
        while o.live and o.remaining:
            prices, sizes = self.market.levels(hit, n)
            for p, s in zip(prices, sizes, strict=True):
                if limit is not None and (p > limit if o.is_buy else p < limit):
                    return
                free = self._free(hit, p, s)
                if free <= 0:
                    continue
                q = min(free, o.remaining)
                self.taken[(hit, p)] = self.taken.get((hit, p), 0) + q
                self._taken_level[(hit, p)] = s
                self._fill(o, q, p, t, "taker")
                if not (o.live and o.remaining):
                    return
            if len(prices) < n:
                return
            n *= 4

    def _place_limit(self, o: SimOrder, t: int) -> None:
        assert o.limit_ticks is not None
        self._changes += 1
        opp = self.market.best(ASK if o.is_buy else BID)
        if opp is not None and (opp <= o.limit_ticks if o.is_buy else opp >= o.limit_ticks):
            self._walk(o, t, o.limit_ticks)  # marketable: a taker up to its price
        if not (o.live and o.remaining):
            return
        o.resting, o.queued_t = True, t
        q = o.queue = QueueState()
        if self.l3:
            q.ahead_ids = self.market.queue_at(o.side, o.limit_ticks)
            q.ahead = float(sum(q.ahead_ids.values()))
        else:
            q.level_size = self.market.size_at(o.side, o.limit_ticks)
            q.ahead = float(q.level_size)
        self._resting.append(o)

    # ---- fills and ends ------------------------------------------------------------------
    def _fill(self, o: SimOrder, qty: int, price: int, t: int, liquidity: str) -> None:
        o.filled += qty
        self._exec += 1
        state = S.FILLED if o.remaining == 0 else S.PART_FILLED
        self._report(o, state, t)
        commission, fees = self._commission, self._fees
        if o.instrument and self._pair_costs is not None:
            commission, fees = self._pair_costs
        self._deliver(
            Fill(f"{self._exec_prefix}-{self._exec}", o.cid, t, price, qty,
                 Side.BUY if o.is_buy else Side.SELL,
                 (commission * qty).quantize(CENT), (fees * qty).quantize(CENT),
                 o.instrument or self.symbol, self.account),
            t,
        )  # fmt: skip
        self.fills.append((t, o.cid, price, qty, liquidity))
        self.counters[f"fills_{liquidity}"] += 1
        if state == S.FILLED:
            self._ended(o, t)

    def _ended(self, o: SimOrder, t: int) -> None:
        """Out of the book and the trigger list; an OCO group ends with any of its orders
        filled in full, cancelled or rejected (a part fill leaves the others working, as
        NinjaTrader does: the bracket manager resizes them)."""
        self._ends += 1
        self._changes += 1
        if o.resting:
            self._resting.remove(o)
            o.resting = False
        if o in self._waiting:
            self._waiting.remove(o)
        if o.oco:
            for sib in self._oco.get(o.oco, ()):
                if sib is not o and sib.live:
                    self._cancel(sib, t, f"OCO {o.oco}: {o.cid} {o.state}")

    # ---- market data ---------------------------------------------------------------------


def _end(records: np.ndarray, trades: np.ndarray) -> int:
    """The later of the last record's and the last print's event time (-1: none)."""
    rts, tts = records["ts_event"], trades["ts_event"]
    return max(int(rts[-1]) if len(rts) else -1, int(tts[-1]) if len(tts) else -1)
