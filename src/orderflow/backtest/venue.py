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

Speed: per chunk, a few vectorised masks find the records that can touch one of our orders
(trades at or through a price of ours, records of the orders queued ahead of ours, clears);
when there are none the chunk goes to the book in one batch call. Python runs per record only
for those records.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from orderflow.backtest.latency import LatencyModel
from orderflow.backtest.market import KINDS, MarketView
from orderflow.backtest.queues import (
    QueueState,
    l2_level_update,
    l2_trade_fill,
    l3_order_update,
    l3_trade_fill,
)
from orderflow.model.dtypes import TRADE_DTYPE
from orderflow.model.enums import Action, Flags, LevelAction, NtOperation
from orderflow.model.enums import Side as BookSide
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

__all__ = ["Delivery", "SimOrder", "SimVenue"]

S = OrderState
_BID, _ASK, _NONE = int(BookSide.BID), int(BookSide.ASK), int(BookSide.NONE)
_TRADE, _CANCEL, _MODIFY, _CLEAR = (int(a) for a in (Action.TRADE, Action.CANCEL,
                                                     Action.MODIFY, Action.CLEAR))  # fmt: skip
_LAST = int(Flags.LAST)
_STOPS = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})
_LIVE = frozenset({S.SUBMITTED, S.ACCEPTED, S.WORKING, S.PART_FILLED})
_WALK_LEVELS = 16
_WINDOW = 4096
_NO_TRADES = np.zeros(0, dtype=TRADE_DTYPE)
_PAST_CUT = (
    "a stop of ours triggered inside a chunk already applied to the shared book: cut the "
    "records with SimVenue.next_cut()"
)


def _members(order_ids: np.ndarray, ids: dict[int, int]) -> np.ndarray:
    """Indices of the records whose order id is one of ``ids``: a binary search in the few
    ids (O(n log k)), cheaper than ``np.isin`` sorting the records."""
    keys = np.sort(np.fromiter(ids, dtype=np.uint64, count=len(ids)))
    at = np.searchsorted(keys, order_ids)
    np.minimum(at, len(keys) - 1, out=at)
    return np.flatnonzero(keys[at] == order_ids)


class Delivery(NamedTuple):
    """A report and the time the strategy sees it (venue time + md latency)."""

    at_ns: int
    report: OrderEvent | Fill


@dataclass(slots=True)
class SimOrder:
    """One of our orders as the venue holds it."""

    cid: str
    is_buy: bool
    order_type: OrderType
    quantity: int
    limit_ticks: int | None
    stop_ticks: int | None
    oco: str
    order_id: str
    seq: int = 0  # priority among our orders (arrival at the venue)
    state: OrderState = S.SUBMITTED
    filled: int = 0
    triggered: bool = False
    resting: bool = False  # a limit in the book, queue tracked
    queued_t: int = 0
    queue: QueueState = field(default_factory=QueueState)

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def live(self) -> bool:
        return self.state in _LIVE

    @property
    def side(self) -> int:
        """The book side the order rests on (bid for a buy)."""
        return _BID if self.is_buy else _ASK


class SimVenue:
    """NinjaTrader and the exchange for one instrument in a backtest.

    ``kind`` is the market-data stream: ``mbo`` (L3, exact queue positions), ``levels``
    (price-level deltas plus prints) or ``nt_depth`` (NinjaTrader depth plus prints), both L2
    with the queue model of exponent ``queue_power``. Latencies are ns constants or
    :class:`LatencyModel`\\ s; ``seed`` seeds constant-built models (a given model keeps its own).
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
    ) -> None:
        if queue_power <= 0:
            raise ValueError(f"queue_power must be > 0, got {queue_power}")
        self.instrument = instrument
        self.symbol = instrument.contract or instrument.symbol
        if kind not in KINDS:
            raise ValueError(f"the venue fills against {', '.join(KINDS)} streams, not {kind!r}")
        self.market = MarketView(kind, instrument, book)
        #: the book is shared: the caller applies the records (see :meth:`next_cut`)
        self.shared = book is not None
        self.kind = kind
        self.l3 = kind == "mbo"
        self.broker = broker
        costs = broker.costs_for(instrument.symbol)
        self._commission = to_decimal(costs.commission_per_side)
        self._fees = (
            to_decimal(costs.exchange_fee_per_side)
            + to_decimal(costs.clearing_fee_per_side)
            + to_decimal(costs.nfa_fee_per_side)
        )
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
        self._pending: list[tuple[int, OrderCommand]] = []  # (arrival, command), FIFO
        self._out: list[Delivery] = []
        self._last_arrival = 0
        self._last_at = 0
        self._seq = 0
        self._exec = 0

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
            raise ValueError(f"unknown command op {cmd.op!r}")
        if self.orders[cmd.cid].state != S.REJECTED or cmd.op != "submit":
            arrival = max(t + self.order_latency.next(), self._last_arrival)
            self._last_arrival = arrival
            self._pending.append((arrival, cmd))
        return self._take()

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
        if trades is None or self.l3:  # an MBO stream carries its prints (T records)
            trades = _NO_TRADES
        rts, tts = records["ts_event"], trades["ts_event"]
        end = max(int(rts[-1]) if len(rts) else -1, int(tts[-1]) if len(tts) else -1)
        if self.shared:
            self._run(records, trades)
            while self._pending and self._pending[0][0] <= end:
                self._arrive(*self._pending.pop(0))
            return self._take()
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

    def next_cut(self, records: np.ndarray, trades: np.ndarray | None = None) -> int:
        """How many of ``records`` may go to a shared book before the venue must read it: up
        to the next command's arrival or to the end of the first event with a print that can
        trigger a stop or MIT of ours, rounded up to the end of an event (a record flagged
        LAST) so a pipeline that holds back incomplete events applies exactly that many.
        ``len(records)`` when nothing is due; 0 when a command is due before the first record
        (call :meth:`advance` with the time just before it). Feed whole events (records up to
        a LAST), as the pipeline applies them. O(len) vectorised.

        The driver's loop with the pipeline's book::

            out += venue.advance(int(records["ts_event"][0]) - 1)
            cut = venue.next_cut(records)
            pipeline.process(records[:cut]); out += venue.on_market(records[:cut])
            records = records[cut:]
        """
        n = len(records)
        if n == 0:
            return 0
        rts = records["ts_event"]
        lasts = np.flatnonzero(records["flags"] & _LAST)
        cut = n
        if self._pending:
            cut = int(np.searchsorted(rts, self._pending[0][0], side="right"))
        if self._fired and len(lasts):  # triggered in an event the last chunk did not finish
            cut = min(cut, int(lasts[0]) + 1)
        if self._waiting:
            if self.l3:
                tr = np.flatnonzero(records["action"] == _TRADE)
                fire = tr[self._fires(records["price"][tr])]
                if len(fire):
                    cut = min(cut, int(fire[0]) + 1)
            elif trades is not None and len(trades):
                fire = np.flatnonzero(self._fires(trades["price"]))
                if len(fire):
                    t_fire = trades["ts_event"][fire[0]]
                    cut = min(cut, int(np.searchsorted(rts, t_fire, side="right")))
        if 0 < cut < n and not records["flags"][cut - 1] & _LAST:
            e = int(np.searchsorted(lasts, cut - 1))
            cut = int(lasts[e]) + 1 if e < len(lasts) else n
        return cut

    def _fires(self, price: np.ndarray) -> np.ndarray:
        """Which of these prints would trigger one of our waiting stops or MITs."""
        m = np.zeros(len(price), dtype=bool)
        for o in self._waiting:
            assert o.stop_ticks is not None
            up = o.is_buy if o.order_type in _STOPS else not o.is_buy
            m |= (price >= o.stop_ticks) if up else (price <= o.stop_ticks)
        return m

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
            raise ValueError(f"cid {cmd.cid!r} already used at this venue")
        assert cmd.action is not None and cmd.order_type is not None
        self._seq += 1
        o = SimOrder(cmd.cid, cmd.action.is_buy, OrderType(cmd.order_type), cmd.quantity,
                     cmd.limit_ticks, cmd.stop_ticks, cmd.oco, str(self._seq))  # fmt: skip
        self.orders[o.cid] = o
        if o.oco:
            self._oco.setdefault(o.oco, []).append(o)
        why = ""
        if o.quantity <= 0:
            why = f"quantity {o.quantity} must be positive"
        elif not self.broker.allows(str(o.order_type)):
            why = f"order type {o.order_type} is not allowed by broker profile {self.broker.name}"
        elif o.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and o.limit_ticks is None:
            why = f"{o.order_type} needs a limit price"
        elif o.order_type in (*_STOPS, OrderType.MIT) and o.stop_ticks is None:
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
        if o.order_type in _STOPS:
            ref = self._reference(o.is_buy)
            wrong = ref is not None and (
                o.stop_ticks <= ref if o.is_buy else o.stop_ticks >= ref  # type: ignore[operator]
            )
            if wrong:
                side = "buy" if o.is_buy else "sell"
                where = "below" if o.is_buy else "above"
                self._reject(o, t, f"{side} stop orders can't be placed {where} the market "
                                   f"(stop {o.stop_ticks}, market {ref})")  # fmt: skip
                return
        self._report(o, S.ACCEPTED, t)
        self._report(o, S.WORKING, t)
        o.seq = self._next_seq()
        if o.order_type == OrderType.MARKET:
            self._market(o, t)
        elif o.order_type == OrderType.LIMIT:
            self._place_limit(o, t)
        elif o.order_type == OrderType.MIT and self._mit_through(o):
            o.triggered = True
            self._market(o, t)
        else:
            self._waiting.append(o)

    def _reference(self, is_buy: bool) -> int | None:
        """The market a stop is checked against: the last print (stops trigger on prints);
        before any print, the touch of our own side."""
        if self.last_trade is not None:
            return self.last_trade
        return self.market.best(_BID if is_buy else _ASK)

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
        hit = _ASK if o.is_buy else _BID
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
        opp = self.market.best(_ASK if o.is_buy else _BID)
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
        self._deliver(
            Fill(f"SIM-{self._exec}", o.cid, t, price, qty, Side.BUY if o.is_buy else Side.SELL,
                 (self._commission * qty).quantize(CENT), (self._fees * qty).quantize(CENT),
                 self.symbol, self.account),
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
    def _apply(self, recs: np.ndarray) -> None:
        """Records to the book (unless it is shared: then they are in it already); what we
        took falls by what the market removed there."""
        if len(recs) == 0:
            return
        if not self.shared:
            self.market.apply(recs)
        self.now = max(self.now, int(recs["ts_event"][-1]))
        if self.l3:
            tr = np.flatnonzero(recs["action"] == _TRADE)
            if len(tr):
                self.last_trade = int(recs["price"][tr[-1]])
        if self.taken:
            self._decay(recs)

    def _decay(self, recs: np.ndarray) -> None:
        """Subtract the size the market removed at each level we took from: cancels (L3: fills
        come as C records too) or, in L2, the level's size decreases since last seen. Additive,
        so the result does not depend on how the records were chunked; the cap by the level's
        size is applied when the level is read (:meth:`_free`)."""
        price, side = recs["price"], recs["side"]
        for (sd, p), amount in list(self.taken.items()):
            at = (price == p) & (side == sd)
            if self.l3:
                removed = int(recs["size"][at & (recs["action"] == _CANCEL)].sum())
            else:
                sizes = self._l2_sizes(recs[at])
                if len(sizes) == 0:
                    continue
                seq = np.concatenate(([self._taken_level[(sd, p)]], sizes))
                removed = int(np.clip(seq[:-1] - seq[1:], 0, None).sum())
                self._taken_level[(sd, p)] = int(sizes[-1])
            if amount > removed:
                self.taken[(sd, p)] = amount - removed
            else:
                del self.taken[(sd, p)]
                self._taken_level.pop((sd, p), None)

    def _free(self, side: int, price: int, size: int) -> int:
        """Size at a level not already taken by us; the taken amount is capped by ``size``."""
        key = (side, price)
        taken = self.taken.get(key)
        if taken is None:
            return size
        if taken >= size:
            if size > 0:
                self.taken[key] = size
            else:
                del self.taken[key]
                self._taken_level.pop(key, None)
            return 0
        return size - taken

    def _l2_sizes(self, recs: np.ndarray) -> np.ndarray:
        """The level size each L2 record leaves at its own price."""
        if self.kind == "levels":
            return np.where(recs["action"] == int(LevelAction.CLEAR), 0, recs["size"])
        return np.where(recs["operation"] == int(NtOperation.REMOVE), 0, recs["size"])

    def _run(self, recs: np.ndarray, trades: np.ndarray) -> None:
        if self.l3:
            i, n = 0, len(recs)
            while i < n:
                # with orders of ours working, look at a window at a time: a pass restarts
                # when one of them ends, and should not rescan the whole chunk each time
                busy = self._resting or self._waiting or self._fired
                i += self._pass_l3(recs[i : i + _WINDOW] if busy else recs[i:])
        else:
            i = k = 0
            while i < len(recs) or k < len(trades):
                di, dk = self._pass_l2(recs[i:], trades[k:])
                i, k = i + di, k + dk

    def _thresholds(self) -> tuple[int | None, int | None]:
        """Trades at or below ``lo`` or at or above ``hi`` can touch an order of ours."""
        lo: list[int] = []
        hi: list[int] = []
        for o in self._resting:
            assert o.limit_ticks is not None
            (lo if o.is_buy else hi).append(o.limit_ticks)
        for o in self._waiting:
            assert o.stop_ticks is not None
            up = o.is_buy if o.order_type in _STOPS else not o.is_buy
            (hi if up else lo).append(o.stop_ticks)
        return (max(lo) if lo else None), (min(hi) if hi else None)

    def _trade_mask(self, price: np.ndarray) -> np.ndarray | None:
        lo, hi = self._thresholds()
        if lo is None and hi is None:
            return None
        m = np.zeros(len(price), dtype=bool)
        if lo is not None:
            m |= price <= lo
        if hi is not None:
            m |= price >= hi
        return m

    def _relevant_l3(self, seg: np.ndarray, lasts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The records that can touch an order of ours, in order, and for each the volume its
        event printed so far at its price and aggressor side (trades; 0 for other records).

        Relevant: a record of an order queued ahead of one of ours; a clear; a print through
        a resting price of ours or at or through a trigger; a print at a resting price that
        could reach the order, i.e. whose event volume so far exceeds a lower bound of what
        is ahead then (ahead now less the most the records of the orders ahead could remove
        before it). Vectorised; O(records x our orders)."""
        act = seg["action"]
        parts: list[np.ndarray] = []
        tr = np.flatnonzero(act == _TRADE)
        if self._resting:
            parts.append(np.flatnonzero(act == _CLEAR))
        if len(tr) == 0 and not self._resting:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        tp, tside, tv = seg["price"][tr], seg["side"][tr], seg["size"][tr]
        ev = np.searchsorted(lasts, tr)
        new = np.ones(len(tr), dtype=bool)
        new[1:] = (ev[1:] != ev[:-1]) | (tp[1:] != tp[:-1]) | (tside[1:] != tside[:-1])
        c = np.cumsum(tv)
        cum = c - (c - tv)[np.flatnonzero(new)][np.cumsum(new) - 1]
        keep = np.zeros(len(tr), dtype=bool)
        for o in self._waiting:
            assert o.stop_ticks is not None
            up = o.is_buy if o.order_type in _STOPS else not o.is_buy
            keep |= (tp >= o.stop_ticks) if up else (tp <= o.stop_ticks)
        oids = seg["order_id"]
        for o in self._resting:
            lim, q = o.limit_ticks, o.queue
            assert lim is not None
            keep |= (tp < lim) if o.is_buy else (tp > lim)
            at = (tp == lim) & ((tside == (_ASK if o.is_buy else _BID)) | (tside == _NONE))
            ahead_recs = np.zeros(0, dtype=np.int64)
            if q.ahead_ids:
                ahead_recs = _members(oids, q.ahead_ids)
                parts.append(ahead_recs)
            if not at.any():
                continue
            most = seg["size"][ahead_recs]  # a C removes its size; an M at most the order
            mod = np.flatnonzero(act[ahead_recs] == _MODIFY)
            if len(mod):
                most[mod] = [q.ahead_ids.get(x, 0) for x in oids[ahead_recs[mod]].tolist()]
            before = np.concatenate(([0], np.cumsum(most)))[np.searchsorted(ahead_recs, tr)]
            keep |= at & (cum > q.ahead - before)
        parts.append(tr[keep])
        rel = np.unique(np.concatenate(parts))
        rel_cum = np.zeros(len(rel), dtype=np.int64)
        at_tr = np.searchsorted(tr, rel)
        is_tr = (at_tr < len(tr)) & (tr[np.minimum(at_tr, len(tr) - 1)] == rel) if len(tr) else None
        if is_tr is not None:
            rel_cum[is_tr] = cum[at_tr[is_tr]]
        return rel, rel_cum

    def _pass_l3(self, seg: np.ndarray) -> int:
        """Records up to the end of the first event where a stop or MIT of ours triggers
        (then those orders are executed on the book after that event), or all of them.
        Returns how many records were consumed."""
        act = seg["action"]
        lasts = np.flatnonzero(seg["flags"] & _LAST)
        triggered, self._fired = self._fired, []
        # fired in an event the last chunk did not finish: run them at that event's end
        stop_at = -1 if not triggered else (int(lasts[0]) + 1 if len(lasts) else -2)
        if self._resting or self._waiting:
            rel, rel_cum = self._relevant_l3(seg, lasts)
        else:
            rel = rel_cum = np.zeros(0, dtype=np.int64)
        base = self._events
        cut = len(seg)  # an order of ours ended: what was relevant is stale after that record
        if len(rel):
            gen = self._ends
            ev_of = np.searchsorted(lasts, rel)
            price, size, side = seg["price"], seg["size"], seg["side"]
            oid, ts = seg["order_id"], seg["ts_event"]
            for j, ev, cum in zip(rel.tolist(), ev_of.tolist(), rel_cum.tolist(), strict=True):
                if stop_at >= 0 and j >= stop_at:
                    break
                a = int(act[j])
                if a == _TRADE:
                    p = int(price[j])
                    self.last_trade = p
                    fired = self._on_trade(
                        p, int(size[j]), int(side[j]), int(ts[j]), base + ev, cum
                    )
                    if fired and stop_at == -1:
                        stop_at = int(lasts[ev]) + 1 if ev < len(lasts) else -2
                    triggered += fired
                elif a == _CLEAR:
                    for o in self._resting:
                        if int(side[j]) in (o.side, _NONE):
                            o.queue.ahead, o.queue.ahead_ids = 0.0, {}
                else:
                    o_id = int(oid[j])
                    for o in self._resting:
                        if o_id in o.queue.ahead_ids:
                            assert o.limit_ticks is not None
                            l3_order_update(o.queue, int(price[j]), a, int(size[j]), o_id,
                                            o.limit_ticks)  # fmt: skip
                if self._ends != gen and stop_at == -1:
                    cut = j + 1
                    break
        if stop_at < 0:
            self._apply(seg[:cut])
            self._events += int(np.searchsorted(lasts, cut))
            if stop_at == -2:
                self._fired = triggered
            return cut
        if self.shared and stop_at < len(seg):
            raise ValueError(_PAST_CUT)
        self._apply(seg[:stop_at])
        self._events += int(np.searchsorted(lasts, stop_at))
        self._execute(triggered, int(seg["ts_event"][stop_at - 1]))
        return stop_at

    def _on_trade(self, price: int, size: int, aggressor: int, t: int, ev: int,
                  ev_traded: int = 0) -> list[SimOrder]:  # fmt: skip
        """One print: fills of our resting limits, and the stops and MITs it triggers
        (``ev``, ``ev_traded``: L3's exchange event and its volume so far at this price)."""
        fills: list[tuple[SimOrder, int]] = []
        ours: dict[tuple[int, int], float] = {}  # our remaining queued ahead, per level
        for o in list(self._resting):
            lim = o.limit_ticks
            assert lim is not None
            hit = aggressor in ((_ASK if o.is_buy else _BID), _NONE)
            key = (o.side, lim)
            before = ours.get(key, 0.0)
            ours[key] = before + o.remaining
            if (price < lim) if o.is_buy else (price > lim):
                fills.append((o, o.remaining))  # traded through our price
            elif price == lim and hit:
                if self.l3:
                    q = l3_trade_fill(o.queue, ev, ev_traded, int(before), o.remaining)
                else:
                    q = l2_trade_fill(o.queue, size, before, o.remaining)
                if q:
                    fills.append((o, q))
        for o, q in fills:
            if o.live and o.remaining:
                assert o.limit_ticks is not None
                self._fill(o, min(q, o.remaining), o.limit_ticks, t, "maker")
        fired = []
        for o in list(self._waiting):
            assert o.stop_ticks is not None
            up = o.is_buy if o.order_type in _STOPS else not o.is_buy
            if price >= o.stop_ticks if up else price <= o.stop_ticks:
                self._waiting.remove(o)
                o.triggered = True
                fired.append(o)
        return fired

    def _execute(self, triggered: list[SimOrder], t: int) -> None:
        """Triggered orders on the book after the event of the print that triggered them."""
        for o in triggered:
            if not o.live:
                continue
            if o.order_type == OrderType.STOP_LIMIT:
                self._place_limit(o, t)
            else:
                self._market(o, t)

    def _pass_l2(self, recs: np.ndarray, trades: np.ndarray) -> tuple[int, int]:
        """Like :meth:`_pass_l3` for a level stream and its prints (a print goes before the
        records of the same time). Returns (records, prints) consumed."""
        rts = recs["ts_event"]
        tpos = np.searchsorted(rts, trades["ts_event"], side="left")
        items: list[tuple[int, int, int]] = []  # (order key, 0 print / 1 record, index)
        tm = self._trade_mask(trades["price"])
        if tm is not None:
            items += [(2 * int(tpos[i]), 0, i) for i in np.flatnonzero(tm).tolist()]
        if self._resting:
            m = np.zeros(len(recs), dtype=bool)
            for o in self._resting:
                m |= (recs["price"] == o.limit_ticks) & (recs["side"] == o.side)
            if self.kind == "levels":
                m |= recs["action"] == int(LevelAction.CLEAR)
            items += [(2 * i + 1, 1, i) for i in np.flatnonzero(m).tolist()]
        items.sort()
        stop_rec = first = -1
        t_fire = self.now
        triggered: list[SimOrder] = []
        for key, is_rec, i in items:
            if stop_rec >= 0 and key >= 2 * stop_rec:
                break
            if is_rec:
                self._on_level(recs[i])
                continue
            tr = trades[i]
            p = int(tr["price"])
            self.last_trade = p
            fired = self._on_trade(p, int(tr["size"]), int(tr["side"]), int(tr["ts_event"]), 0)
            if fired and stop_rec < 0:
                stop_rec = int(np.searchsorted(rts, tr["ts_event"], side="right"))
                first, t_fire = i, int(tr["ts_event"])
            triggered += fired
        if stop_rec < 0:
            if len(trades):
                self.last_trade = int(trades["price"][-1])
            self._apply(recs)
            self._reconcile_l2()
            return len(recs), len(trades)
        # prints before record stop_rec are done, and so is the one that fired (a print between
        # the same two records but later than it comes after the triggered orders)
        k = max(int(np.searchsorted(tpos, stop_rec, side="left")), first + 1)
        if self.shared and stop_rec < len(recs):
            raise ValueError(_PAST_CUT)
        self._apply(recs[:stop_rec])
        self.now = max(self.now, t_fire)
        self._reconcile_l2()
        self._execute(triggered, t_fire)
        return stop_rec, k

    def _on_level(self, rec: np.void) -> None:
        if self.kind == "levels" and int(rec["action"]) == int(LevelAction.CLEAR):
            for o in self._resting:
                if int(rec["side"]) in (o.side, _NONE):
                    l2_level_update(o.queue, 0, self.queue_power)
            return
        size = self._l2_size(rec)
        for o in self._resting:
            if o.limit_ticks == int(rec["price"]) and o.side == int(rec["side"]):
                l2_level_update(o.queue, size, self.queue_power)

    def _l2_size(self, rec: np.void) -> int:
        if self.kind == "levels":
            return int(rec["size"])
        return 0 if int(rec["operation"]) == int(NtOperation.REMOVE) else int(rec["size"])

    def _reconcile_l2(self) -> None:
        """A ladder row can change price without a record at the old price (NinjaTrader's
        Update): take the book's size at our level as the truth after each pass."""
        for o in self._resting:
            assert o.limit_ticks is not None
            actual = self.market.size_at(o.side, o.limit_ticks)
            if actual != o.queue.level_size:
                l2_level_update(o.queue, actual, self.queue_power)
