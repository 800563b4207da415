"""Risk checks on every order intent before it leaves, and the day's risk state.

:meth:`RiskManager.check` answers each :class:`OrderIntent` with a :class:`RiskDecision`:
accepted, or refused with a :class:`Reason` code the trader sees. The manager is fed plain
numbers (fills, realised and unrealised P&L, book and connection health) and answers some of
them with :class:`RiskEvent` s, e.g. *flatten* at the exact update that crosses the daily loss
limit. Its state (:class:`RiskState`) is plain data with ``to_dict``/``from_dict`` so a journal
can restore the day after a restart.

Entries and exits: an order that only reduces the current position (opposite side, quantity no
larger than the position) is an *exit*. When trading is stopped (limits, kill switch, session
rules) entries are refused and exits still pass, so the position can always be flattened; only
a closed market, the order rate, the order types of the broker and the position limit refuse
exits too. The position limit counts working orders: the worst case (every working buy fills,
or every working sell fills; one leg per OCO group) must stay within ``max_position``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from orderflow.core.errors import ParameterError, TradingInputError
from orderflow.model.instruments import get_instrument
from orderflow.model.session_times import trading_day_of
from orderflow.trading.broker import BrokerProfile
from orderflow.trading.checks import MAX_CONTRACTS, MAX_MONEY, flag, integer, number, pnl_value
from orderflow.trading.sessions import SessionReason, TradingSessions

NS = 1_000_000_000
MINUTE_NS = 60 * NS
DAY_MS = 86_400_000.0

_ACTIONS = {"buy": 1, "buytocover": 1, "sell": -1, "sellshort": -1}


class Reason(StrEnum):
    """Why an order was refused (or why a :class:`RiskEvent` fired)."""

    OK = "ok"
    BAD_ORDER = "bad_order"  # quantity, side or a client id already in use
    ORDER_TYPE = "order_type_not_allowed"  # the broker profile does not take this type
    MARKET_CLOSED = "market_closed"  # Globex is closed (detail: break, holiday, ...)
    SESSION = "session"  # a session rule forbids entries now (detail: which)
    KILL_SWITCH = "kill_switch"  # engaged by hand, or automatically (detail: why)
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    PROFIT_GOAL = "profit_goal"
    PROFIT_LOCK = "profit_lock"  # fell back to the locked part of the profit goal
    TRAILING_DRAWDOWN = "trailing_drawdown"
    COOL_OFF = "cool_off"  # after max_consecutive_losses losing trades in a row
    MAX_TRADES = "max_trades_per_day"
    MAX_ORDER_SIZE = "max_order_size"
    MAX_POSITION = "max_position"
    ORDER_RATE = "order_rate"
    DISCONNECTED = "disconnected"  # the bridge is away (within the grace: nothing latched)


# Causes of an automatic kill (RiskState.kill_reason); "manual" when engaged by hand.
KILL_BOOK_STALE = "book_stale"
KILL_BOOK_CROSSED = "book_crossed"
KILL_DISCONNECTED = "connection_lost"
#: the kills ``auto_kill_latches: false`` may release when their condition clears
AUTO_KILLS = frozenset({KILL_BOOK_STALE, KILL_BOOK_CROSSED, KILL_DISCONNECTED})


@dataclass(frozen=True, slots=True)
class RiskParams:
    """Risk limits (``trading.risk`` in the settings). Currency amounts; 0 turns a limit off."""

    daily_loss_limit: float = 500.0  # stop and flatten when the day's P&L reaches -this
    loss_limit_includes_unrealised: bool = True  # open P&L counts towards the daily limits
    daily_profit_goal: float = 0.0  # stop when the day's P&L reaches this
    profit_lock_fraction: float = 0.0  # >0: keep trading past the goal, stop at this x peak
    flatten_at_goal: bool = True  # reaching the goal (without a lock) also flattens
    trailing_drawdown: float = 0.0  # prop-firm limit: equity high-water mark minus this
    trailing_mode: str = "intraday"  # intraday (open P&L moves the mark) | end_of_day
    trailing_freeze_at_start: bool = True  # the threshold stops trailing at starting_balance
    starting_balance: float = 50_000.0  # account balance when the state was created
    max_position: int = 2  # contracts per symbol, long or short, working orders included
    max_position_by_symbol: dict[str, int] = field(default_factory=dict)  # e.g. {MES: 20}
    max_order_size: int = 2  # contracts per entry order
    max_trades_per_day: int = 20  # entry orders per trading day (0: no limit)
    max_consecutive_losses: int = 3  # losing trades in a row before a cool-off (0: never)
    cooloff_minutes: float = 30.0
    max_orders_per_s: float = 5.0  # the broker profile's rate applies too (the lower wins)
    #: no book update for this long: kill switch (0: off). A quiet ES book goes 5 s and more
    #: without a change (the ESH4 hour of 2023-12-25: 11 gaps over 5 s, the longest 9.3 s)
    book_stale_ms: float = 30_000.0
    kill_on_crossed_book: bool = True  # a crossed book outside the pre-open: kill switch
    #: a lost bridge connection: entries are refused at once (``disconnected``); one that
    #: lasts longer than ``disconnect_grace_s`` trips the kill switch (latching, flattening
    #: after the reconnect's report when ``flatten_on_kill``). NinjaTrader's own
    #: ConnectionLossHandling waits DisconnectDelaySeconds (10) the same way before it acts.
    kill_on_disconnect: bool = True
    disconnect_grace_s: float = 10.0
    flatten_on_kill: bool = True  # the kill switch also asks to flatten
    auto_kill_latches: bool = True  # an automatic kill stays until reset_kill()

    #: an execution whose commission is above this per contract is refused at the wire as
    #: implausible (a corrupt or hostile number would otherwise book as P&L)
    max_commission_per_contract: float = 50.0

    def __post_init__(self) -> None:
        for name in ("daily_loss_limit", "daily_profit_goal", "trailing_drawdown",
                     "starting_balance"):  # fmt: skip
            number(self, name, lo=0, hi=MAX_MONEY)
        number(self, "profit_lock_fraction", lo=0, hi=0.999999)
        number(self, "cooloff_minutes", lo=0, hi=7 * 24 * 60)
        number(self, "max_orders_per_s", lo=0, lo_open=True, hi=1e9)
        number(self, "book_stale_ms", lo=0, hi=DAY_MS)
        number(self, "disconnect_grace_s", lo=0, hi=DAY_MS / 1e3)
        number(self, "max_commission_per_contract", lo=0, lo_open=True, hi=10_000)
        flag(self, "loss_limit_includes_unrealised", "flatten_at_goal",
             "trailing_freeze_at_start", "kill_on_crossed_book", "kill_on_disconnect",
             "flatten_on_kill", "auto_kill_latches")  # fmt: skip
        if self.trailing_mode not in ("intraday", "end_of_day"):
            raise ParameterError("trailing_mode must be intraday or end_of_day")
        integer(self, "max_position", lo=0, hi=MAX_CONTRACTS)
        integer(self, "max_order_size", lo=1, hi=MAX_CONTRACTS)
        integer(self, "max_trades_per_day", lo=0, hi=1_000_000)
        integer(self, "max_consecutive_losses", lo=0, hi=1_000_000)
        if not isinstance(self.max_position_by_symbol, Mapping):
            raise ParameterError("max_position_by_symbol: a mapping of symbol to contracts")
        for symbol, limit in self.max_position_by_symbol.items():
            if not isinstance(symbol, str) or isinstance(limit, bool) \
                    or not isinstance(limit, int) or not 0 <= limit <= MAX_CONTRACTS:  # fmt: skip
                raise ParameterError(f"max_position_by_symbol.{symbol}: {limit!r} must be an "
                                     f"integer in [0, {MAX_CONTRACTS}]")  # fmt: skip

    def position_limit(self, symbol: str) -> int:
        if symbol in self.max_position_by_symbol:
            return self.max_position_by_symbol[symbol]
        root = get_instrument(symbol).symbol
        return self.max_position_by_symbol.get(root, self.max_position)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order the strategy wants to send: plain values, our own client id."""

    client_id: str
    symbol: str  # root, contract or NinjaTrader name; positions are kept per this string
    side: int  # +1 buy, -1 sell
    qty: int
    ts_ns: int
    order_type: str = "Market"
    oco: str | None = None  # OCO group (every leg still counts against the position limit)

    @classmethod
    def from_action(
        cls, client_id: str, symbol: str, action: str, qty: int, ts_ns: int, **kw: Any
    ) -> OrderIntent:
        """From a NinjaTrader order action: Buy, Sell, SellShort, BuyToCover."""
        side = _ACTIONS.get(action.replace(" ", "").lower(), 0)
        return cls(client_id, symbol, side, qty, ts_ns, **kw)


@dataclass(frozen=True, slots=True)
class RiskDecision:
    accepted: bool
    reason: Reason
    detail: str = ""  # e.g. the session rule, the kill cause, the numbers that tripped

    @property
    def code(self) -> str:
        """What the trader sees: ``max_position``, ``session:maintenance_break`` ..."""
        return f"{self.reason}:{self.detail}" if self.detail and not self.accepted else self.reason

    def __bool__(self) -> bool:
        return self.accepted


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """A limit reached by an update: refuse entries from now on; ``flatten`` says close all."""

    reason: Reason
    flatten: bool
    ts_ns: int
    detail: str = ""


@dataclass(slots=True)
class PendingOrder:
    symbol: str
    side: int
    remaining: int
    oco: str | None
    entry: bool
    filled: int = 0


@dataclass(slots=True)
class RiskState:
    """Everything the checks remember; plain data for the journal."""

    balance: float  # starting balance plus all realised P&L
    day: str | None = None  # trading day (ISO) the daily counters belong to
    realised_today: float = 0.0
    unrealised: float = 0.0
    unrealised_at_day_start: float = 0.0
    peak_today: float = 0.0  # highest day P&L seen (profit lock)
    goal_reached: bool = False
    daily_stop: str | None = None  # a Reason value once a daily limit is hit
    high_water: float = 0.0  # equity high-water mark (trailing drawdown)
    dd_threshold: float | None = None
    dd_breached: bool = False
    trades_today: int = 0
    loss_streak: int = 0
    cooloff_until_ns: int = 0
    kill: bool = False
    kill_reason: str = ""
    positions: dict[str, int] = field(default_factory=dict)
    pending: dict[str, PendingOrder] = field(default_factory=dict)
    order_times: list[int] = field(default_factory=list)
    last_book_ns: int | None = None
    book_crossed: bool = False
    connected: bool = True
    disconnected_ns: int = 0  # when the connection was lost (0: connected)

    @property
    def day_pnl(self) -> float:
        return self.realised_today + self.unrealised - self.unrealised_at_day_start

    @property
    def equity(self) -> float:
        return self.balance + self.unrealised

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["pending"] = {k: asdict(v) for k, v in self.pending.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RiskState:
        """The state from :meth:`to_dict`; a money figure that is not a finite, plausible
        number, or a position or count that is not an integer, raises ValueError naming it."""
        values = dict(data)
        values["pending"] = {k: PendingOrder(**v) for k, v in values.get("pending", {}).items()}
        values["positions"] = dict(values.get("positions", {}))
        values["order_times"] = list(values.get("order_times", []))
        state = cls(**values)
        state.check()
        return state

    def check(self) -> None:
        """Every figure finite and plausible (a journal row written before these checks, or
        edited by hand, must not restore as NaN P&L)."""
        for name in ("balance", "realised_today", "unrealised", "unrealised_at_day_start",
                     "peak_today", "high_water"):  # fmt: skip
            pnl_value(getattr(self, name), name)
        if self.dd_threshold is not None:
            pnl_value(self.dd_threshold, "dd_threshold")
        for name in ("trades_today", "loss_streak", "cooloff_until_ns", "disconnected_ns"):
            integer(self, name, lo=0)
        for symbol, qty in self.positions.items():
            if isinstance(qty, bool) or not isinstance(qty, int) or abs(qty) > MAX_CONTRACTS:
                raise TradingInputError(f"positions.{symbol}: {qty!r} is not a plausible position")
        for cid, o in self.pending.items():
            for name in ("side", "remaining", "filled"):
                v = getattr(o, name)
                if isinstance(v, bool) or not isinstance(v, int) or abs(v) > MAX_CONTRACTS:
                    raise TradingInputError(f"pending.{cid}.{name}: {v!r} is not plausible")


class RiskManager:
    """Checks order intents against the limits and keeps the state they need."""

    def __init__(
        self,
        params: RiskParams | None = None,
        sessions: TradingSessions | Mapping[str, TradingSessions] | None = None,
        broker: BrokerProfile | None = None,
        state: RiskState | None = None,
    ) -> None:
        self.params = p = params or RiskParams()
        if isinstance(sessions, TradingSessions):
            sessions = {sessions.instrument.symbol: sessions}
        self.sessions: dict[str, TradingSessions] = dict(sessions or {})
        #: per symbol asked (None: none), the last day looked up: (calendar, session open,
        #: close, its trading day, the symbol's root then)
        self._day_at: dict[str | None, tuple[TradingSessions, int, int, str, str | None]] = {}
        self.broker = broker
        self.state = state or RiskState(balance=p.starting_balance, high_water=p.starting_balance)
        rate = p.max_orders_per_s if broker is None else min(p.max_orders_per_s,
                                                             broker.max_orders_per_s)  # fmt: skip
        self.max_orders_per_s = rate
        self._times: deque[int] = deque(self.state.order_times)
        if self.state.dd_threshold is None and p.trailing_drawdown > 0:
            self._trail(self.state.equity)

    # ---- the trading day -----------------------------------------------------------------------
    def _sessions_of(self, symbol: str) -> TradingSessions | None:
        if not self.sessions:
            return None
        root = get_instrument(symbol).symbol
        return self.sessions.get(root) or next(iter(self.sessions.values()))

    def _day_of(self, ts_ns: int, symbol: str | None = None) -> date:
        cal = self._sessions_of(symbol) if symbol else next(iter(self.sessions.values()), None)
        if cal is not None:
            return cal.trading_day(ts_ns)
        return trading_day_of(ts_ns, get_instrument(symbol or "ES").trading_hours)

    def _day_iso(self, ts_ns: int, symbol: str | None) -> str:
        """:meth:`_day_of` as ISO text. Within one session of the calendar that answers (its
        open to its close: the sessions never overlap) the day is that session's, so the
        session last looked up for the symbol answers again without a search while it lasts
        and its root (a contract's, the registry's: fixed by its name) still gets that
        calendar."""
        at = self._day_at.get(symbol)
        if at is not None and at[1] <= ts_ns < at[2]:
            root = at[4]  # (None: no symbol, the first calendar)
            now = (
                self.sessions.get(root)
                if root is not None
                else next(iter(self.sessions.values()), None)
            )
            if now is at[0]:
                return at[3]
        cal = self._sessions_of(symbol) if symbol else next(iter(self.sessions.values()), None)
        day = self._day_of(ts_ns, symbol).isoformat()
        session = cal.session_at(ts_ns) if cal is not None else None
        if cal is not None and session is not None and session.day.isoformat() == day:
            root = get_instrument(symbol).symbol if symbol else None
            if root is None or self.sessions.get(root) is cal:  # (else the first calendar's)
                self._day_at[symbol] = (cal, session.open_ns, session.close_ns, day, root)
        return day

    def roll_day(self, ts_ns: int, symbol: str | None = None) -> bool:
        """Start a new trading day when ``ts_ns`` belongs to one; True when it did."""
        day = self._day_iso(ts_ns, symbol)
        s = self.state
        if s.day == day:
            return False
        if s.day is not None and self.params.trailing_mode == "end_of_day":
            self._trail(s.equity)  # the previous day's end
        s.day = day
        s.realised_today = 0.0
        s.unrealised_at_day_start = s.unrealised
        s.peak_today = 0.0
        s.goal_reached = False
        s.daily_stop = None
        s.trades_today = 0
        s.loss_streak = 0
        s.cooloff_until_ns = 0
        return True

    # ---- the check -----------------------------------------------------------------------------
    def position(self, symbol: str) -> int:
        return self.state.positions.get(symbol, 0)

    def worst_case(self, symbol: str, extra: OrderIntent | None = None) -> tuple[int, int]:
        """(highest, lowest) position if every working buy, or every working sell, fills;
        ``extra`` counted as if working. Every leg of an OCO group counts in full: a leg that
        fills in part leaves its siblings working until NinjaTrader cancels them, and they can
        fill in full meanwhile (a property test found the limit exceeded when legs counted
        once)."""
        pos = self.position(symbol)
        buys = sells = 0
        orders: list[tuple[int, int]] = [
            (o.side, o.remaining) for o in self.state.pending.values() if o.symbol == symbol
        ]
        if extra is not None:
            orders.append((extra.side, extra.qty))
        for side, qty in orders:
            if side > 0:
                buys += qty
            else:
                sells += qty
        return pos + buys, pos - sells

    def is_exit(self, intent: OrderIntent) -> bool:
        pos = self.position(intent.symbol)
        return pos != 0 and intent.side == -_sign(pos) and intent.qty <= abs(pos)

    def _refuse(self, reason: Reason, detail: str = "") -> RiskDecision:
        return RiskDecision(False, reason, detail)

    def entry_block(self, ts_ns: int, symbol: str) -> RiskDecision | None:
        """The first rule that forbids a new entry now, or None (no order state involved)."""
        s, p = self.state, self.params
        if s.kill:
            return self._refuse(Reason.KILL_SWITCH, s.kill_reason)
        if not s.connected:
            away = (ts_ns - s.disconnected_ns) / NS
            return self._refuse(Reason.DISCONNECTED, f"bridge away for {away:.1f} s")
        if s.dd_breached:
            return self._refuse(Reason.TRAILING_DRAWDOWN, f"threshold {s.dd_threshold:.2f}")
        if s.daily_stop is not None:
            return self._refuse(Reason(s.daily_stop), f"day P&L {self._limit_pnl():.2f}")
        if ts_ns < s.cooloff_until_ns:
            left = (s.cooloff_until_ns - ts_ns) / MINUTE_NS
            return self._refuse(Reason.COOL_OFF, f"{left:.1f} min left")
        if p.max_trades_per_day and s.trades_today >= p.max_trades_per_day:
            return self._refuse(Reason.MAX_TRADES, f"{s.trades_today} today")
        cal = self._sessions_of(symbol)
        if cal is not None:
            ok, why = cal.can_trade(ts_ns)
            if not ok:
                return self._refuse(Reason.SESSION, str(why))
        return None

    def check(self, intent: OrderIntent) -> RiskDecision:
        """Accept or refuse one order intent; an accepted one is counted as working at once."""
        s, p, ts = self.state, self.params, intent.ts_ns
        if intent.qty < 1 or intent.side not in (1, -1):
            return self._refuse(Reason.BAD_ORDER, f"side {intent.side} qty {intent.qty}")
        if intent.client_id in s.pending:
            return self._refuse(Reason.BAD_ORDER, f"client id {intent.client_id} is working")
        self.roll_day(ts, intent.symbol)
        if self.broker is not None and not self.broker.allows(intent.order_type):
            return self._refuse(Reason.ORDER_TYPE, intent.order_type)
        cal = self._sessions_of(intent.symbol)
        if cal is not None and not cal.is_open(ts):
            return self._refuse(Reason.MARKET_CLOSED, str(cal.closed_reason(ts)))
        self._auto_kill(ts)
        exit_order = self.is_exit(intent)
        if not exit_order:
            blocked = self.entry_block(ts, intent.symbol)
            if blocked is not None:
                return blocked
            if intent.qty > p.max_order_size:
                return self._refuse(Reason.MAX_ORDER_SIZE, f"{intent.qty} > {p.max_order_size}")
        limit = p.position_limit(intent.symbol)
        high, low = self.worst_case(intent.symbol, intent)
        if high > limit or low < -limit:
            return self._refuse(Reason.MAX_POSITION, f"worst case {high:+d}/{low:+d} vs {limit}")
        refused = self._rate_ok(ts)
        if refused is not None:
            return refused
        s.pending[intent.client_id] = PendingOrder(
            intent.symbol, intent.side, intent.qty, intent.oco, not exit_order
        )
        if not exit_order:
            s.trades_today += 1
        return RiskDecision(True, Reason.OK)

    def _rate_ok(self, ts: int, force: bool = False) -> RiskDecision | None:
        """None when an order action at ``ts`` is within the order rate (it is counted);
        ``force``: counted whatever the rate (an action that is never refused)."""
        while self._times and self._times[0] <= ts - NS:
            self._times.popleft()
        if not force and len(self._times) >= self.max_orders_per_s:
            return self._refuse(Reason.ORDER_RATE, f"{len(self._times)} in the last second")
        self._times.append(ts)
        self.state.order_times = list(self._times)
        return None

    def check_change(self, client_id: str, quantity: int | None, ts_ns: int) -> RiskDecision:
        """Accept or refuse a change of a working order (``quantity``: its new total, as
        NinjaTrader's ChangeOrder takes it; None for a price-only change). A smaller size is
        always allowed; a larger one is checked like the order it grows (entry rules, order
        size, the worst-case position). A change counts towards the order rate."""
        o = self.state.pending.get(client_id)
        if quantity is not None and quantity < 1:
            return self._refuse(Reason.BAD_ORDER, f"quantity {quantity}")
        if o is None:
            if quantity is not None:
                return self._refuse(Reason.BAD_ORDER, f"client id {client_id} is not working")
            self._rate_ok(ts_ns, force=True)
            return RiskDecision(True, Reason.OK)
        grow = 0 if quantity is None else quantity - o.filled - o.remaining
        if grow > 0:
            if o.entry:
                blocked = self.entry_block(ts_ns, o.symbol)
                if blocked is not None:
                    return blocked
                if quantity is not None and quantity > self.params.max_order_size:
                    limit = self.params.max_order_size
                    return self._refuse(Reason.MAX_ORDER_SIZE, f"{quantity} > {limit}")
            extra = OrderIntent(client_id + "+", o.symbol, o.side, grow, ts_ns)
            high, low = self.worst_case(o.symbol, extra)
            limit = self.params.position_limit(o.symbol)
            if high > limit or low < -limit:
                return self._refuse(Reason.MAX_POSITION,
                                    f"worst case {high:+d}/{low:+d} vs {limit}")  # fmt: skip
            refused = self._rate_ok(ts_ns)
            if refused is not None:
                return refused
        else:  # a smaller or price-only change protects: never refused, but it uses the rate
            self._rate_ok(ts_ns, force=True)
        if quantity is not None:
            o.remaining = max(quantity - o.filled, 0)
        return RiskDecision(True, Reason.OK)

    # ---- order and fill updates ----------------------------------------------------------------
    def on_fill(self, client_id: str, qty: int) -> None:
        """``qty`` contracts of an accepted order filled. The position moves by them even past
        what was working (the broker's word is the truth); the working size never goes below 0.
        """
        o = self.state.pending.get(client_id)
        if o is None:
            raise TradingInputError(
                f"fill for {client_id!r}, an order the risk manager never accepted",
                field="client_id",
                value=client_id,
            )
        o.filled += qty
        o.remaining = max(o.remaining - qty, 0)
        pos = self.state.positions
        pos[o.symbol] = pos.get(o.symbol, 0) + o.side * qty
        # The other legs of an OCO group keep counting until the broker reports them done
        # (cancelled or resized): the worst case stays on the safe side meanwhile.
        if o.remaining == 0:
            del self.state.pending[client_id]

    def on_order_done(self, client_id: str) -> None:
        """An order is finished (filled, cancelled, rejected, expired): it stops counting. An
        entry that never filled gives its trade back to ``max_trades_per_day``."""
        o = self.state.pending.pop(client_id, None)
        if o is not None and o.entry and o.filled == 0:
            self.state.trades_today = max(self.state.trades_today - 1, 0)

    def set_position(self, symbol: str, qty: int) -> None:
        """The broker's position (reconciliation after a (re)connect)."""
        self.state.positions[symbol] = int(qty)

    # ---- P&L updates ---------------------------------------------------------------------------
    def on_realised(self, pnl: float, ts_ns: int, closes_trade: bool = True) -> list[RiskEvent]:
        """Realised P&L, net of commission and fees, e.g. a closed trade's result. A closed
        losing trade extends the losing streak, a winning one ends it. A non-finite or absurd
        amount raises :class:`TradingInputError` and changes nothing."""
        pnl = pnl_value(pnl, "realised")
        self.roll_day(ts_ns)
        s, p = self.state, self.params
        s.realised_today += pnl
        s.balance += pnl
        events: list[RiskEvent] = []
        if closes_trade:
            if pnl < 0:
                s.loss_streak += 1
                if p.max_consecutive_losses and s.loss_streak >= p.max_consecutive_losses:
                    s.cooloff_until_ns = ts_ns + int(p.cooloff_minutes * MINUTE_NS)
                    events.append(
                        RiskEvent(Reason.COOL_OFF, False, ts_ns, f"{s.loss_streak} losses")
                    )
                    s.loss_streak = 0
            elif pnl > 0:
                s.loss_streak = 0
        return events + self._evaluate(ts_ns)

    def on_unrealised(self, pnl: float, ts_ns: int) -> list[RiskEvent]:
        """The open P&L of every position now (currency, marked to market); a non-finite or
        absurd amount raises :class:`TradingInputError` and changes nothing."""
        pnl = pnl_value(pnl, "unrealised")
        self.roll_day(ts_ns)
        self.state.unrealised = pnl
        return self._evaluate(ts_ns)

    def _limit_pnl(self) -> float:
        s = self.state
        if self.params.loss_limit_includes_unrealised:
            return s.day_pnl
        return s.realised_today

    def _trail(self, equity: float) -> None:
        s, p = self.state, self.params
        if p.trailing_drawdown <= 0:
            return
        s.high_water = max(s.high_water, equity)
        threshold = s.high_water - p.trailing_drawdown
        if p.trailing_freeze_at_start:
            threshold = min(threshold, p.starting_balance)
        s.dd_threshold = threshold if s.dd_threshold is None else max(s.dd_threshold, threshold)

    def _evaluate(self, ts_ns: int) -> list[RiskEvent]:
        s, p = self.state, self.params
        events: list[RiskEvent] = []
        pnl = self._limit_pnl()
        if s.daily_stop is None:
            if p.daily_loss_limit and pnl <= -p.daily_loss_limit:
                s.daily_stop = Reason.DAILY_LOSS_LIMIT
                events.append(RiskEvent(Reason.DAILY_LOSS_LIMIT, True, ts_ns, f"{pnl:.2f}"))
            elif p.daily_profit_goal:
                s.peak_today = max(s.peak_today, pnl) if s.goal_reached else s.peak_today
                if not s.goal_reached and pnl >= p.daily_profit_goal:
                    s.goal_reached = True
                    s.peak_today = pnl
                    if p.profit_lock_fraction == 0:
                        s.daily_stop = Reason.PROFIT_GOAL
                        events.append(
                            RiskEvent(Reason.PROFIT_GOAL, p.flatten_at_goal, ts_ns, f"{pnl:.2f}")
                        )
                elif s.goal_reached and pnl <= p.profit_lock_fraction * s.peak_today:
                    s.daily_stop = Reason.PROFIT_LOCK
                    floor = p.profit_lock_fraction * s.peak_today
                    events.append(
                        RiskEvent(Reason.PROFIT_LOCK, True, ts_ns, f"{pnl:.2f} <= {floor:.2f}")
                    )
        if p.trailing_drawdown > 0 and not s.dd_breached:
            if p.trailing_mode == "intraday":
                self._trail(s.equity)
            if s.dd_threshold is not None and s.equity <= s.dd_threshold:
                s.dd_breached = True
                events.append(
                    RiskEvent(
                        Reason.TRAILING_DRAWDOWN,
                        True,
                        ts_ns,
                        f"equity {s.equity:.2f} <= {s.dd_threshold:.2f}",
                    )
                )
        return events

    def end_of_day(self, ts_ns: int) -> None:
        """The session's end: with ``trailing_mode = end_of_day`` the high-water mark moves."""
        if self.params.trailing_mode == "end_of_day":
            self._trail(self.state.equity)

    def reset_trailing_drawdown(self) -> None:
        """After the prop firm resets the account: trade again from the current equity."""
        s = self.state
        s.dd_breached = False
        s.high_water = s.equity
        s.dd_threshold = None
        self._trail(s.equity)

    # ---- kill switch, book and connection ------------------------------------------------------
    def kill(self, reason: str = "manual", ts_ns: int = 0) -> RiskEvent:
        """Engage the kill switch: entries refused until :meth:`reset_kill`."""
        self.state.kill = True
        self.state.kill_reason = reason
        return RiskEvent(Reason.KILL_SWITCH, self.params.flatten_on_kill, ts_ns, reason)

    def reset_kill(self) -> None:
        self.state.kill = False
        self.state.kill_reason = ""

    def on_book(self, ts_ns: int, crossed: bool = False) -> list[RiskEvent]:
        """A book update; ``crossed`` means crossed outside the pre-open (the caller knows)."""
        s = self.state
        s.last_book_ns = ts_ns
        s.book_crossed = crossed
        return self._auto_kill(ts_ns)

    def on_connection(self, connected: bool, ts_ns: int) -> list[RiskEvent]:
        """The bridge connected or went away. A reconnect after more than the grace trips the
        kill (if nothing evaluated it while the bridge was away); within it nothing latches."""
        s = self.state
        if connected:
            events = self._auto_kill(ts_ns) if not s.connected else []
            s.connected, s.disconnected_ns = True, 0
            return events + self._auto_kill(ts_ns)
        if s.connected:
            s.connected, s.disconnected_ns = False, ts_ns
        return self._auto_kill(ts_ns)

    def on_time(self, ts_ns: int) -> list[RiskEvent]:
        """Time passing while the bridge is away: the disconnect rule trips the kill at the
        end of the grace even when no book update or order comes (the other automatic rules
        wait for a book update or an order, as before)."""
        return [] if self.state.connected else self._auto_kill(ts_ns)

    def on_clock(self, ts_ns: int) -> list[RiskEvent]:
        """Time passing, connected or not: every automatic rule is evaluated, so a book that
        stopped updating (or stopped being trustworthy: the server then stops calling
        :meth:`on_book`) trips the kill ``book_stale_ms`` after its last update, even when no
        order and no update comes."""
        return self._auto_kill(ts_ns)

    def _auto_kill(self, ts_ns: int) -> list[RiskEvent]:
        s, p = self.state, self.params
        cause = ""
        grace = p.disconnect_grace_s * NS
        if p.kill_on_disconnect and not s.connected and ts_ns - s.disconnected_ns >= grace:
            cause = KILL_DISCONNECTED
        elif p.kill_on_crossed_book and s.book_crossed:
            cause = KILL_BOOK_CROSSED
        elif (p.book_stale_ms and s.last_book_ns is not None
              and ts_ns - s.last_book_ns > p.book_stale_ms * 1e6):  # fmt: skip
            # the maintenance break and weekends are not staleness: count from the open (a
            # book updated within the limit is fresh whatever the calendar says, and a book
            # update is one: no calendar lookup then)
            since = s.last_book_ns
            cal = next(iter(self.sessions.values()), None)
            session = cal.session_at(ts_ns) if cal is not None else None
            if session is not None:
                since = max(since, session.open_ns)
            if (cal is None or session is not None) and ts_ns - since > p.book_stale_ms * 1e6:
                cause = KILL_BOOK_STALE
        if cause:
            if s.kill:
                return []
            return [self.kill(cause, ts_ns)]
        if s.kill and not p.auto_kill_latches and s.kill_reason in AUTO_KILLS:
            # the condition cleared and automatic kills do not latch; any other kill (by hand,
            # a journal that could not be trusted) waits for an operator's reset
            self.reset_kill()
        return []

    # ---- what the strategy and the trader read -------------------------------------------------
    @property
    def flatten_requested(self) -> bool:
        """True while a limit that flattens is active and some position is open."""
        s, p = self.state, self.params
        if not s.kill and not s.dd_breached and s.daily_stop is None:  # no limit holds
            return False
        if not any(s.positions.values()):
            return False
        if s.kill:
            return p.flatten_on_kill
        if s.dd_breached or s.daily_stop in (Reason.DAILY_LOSS_LIMIT, Reason.PROFIT_LOCK):
            return True
        return s.daily_stop == Reason.PROFIT_GOAL and p.flatten_at_goal

    def flatten_due(self, ts_ns: int) -> bool:
        """A flattening limit, or the session's flatten-before-close for any open symbol."""
        if self.flatten_requested:
            return True
        for symbol, qty in self.state.positions.items():
            cal = self._sessions_of(symbol)
            if qty and cal is not None and cal.flatten_due(ts_ns):
                return True
        return False

    def status(self) -> dict[str, Any]:
        """The numbers a trader watches, as plain values."""
        s = self.state
        return {
            "day": s.day,
            "day_pnl": round(s.day_pnl, 2),
            "realised_today": round(s.realised_today, 2),
            "unrealised": round(s.unrealised, 2),
            "equity": round(s.equity, 2),
            "daily_stop": s.daily_stop,
            "goal_reached": s.goal_reached,
            "trailing_threshold": s.dd_threshold,
            "trailing_breached": s.dd_breached,
            "trades_today": s.trades_today,
            "loss_streak": s.loss_streak,
            "cooloff_until_ns": s.cooloff_until_ns,
            "kill": s.kill,
            "kill_reason": s.kill_reason,
            "positions": dict(s.positions),
            "working_orders": len(s.pending),
            "flatten_requested": self.flatten_requested,
        }


def register_exits(
    risk: RiskManager, cmds: Iterable[Any], symbol: str, now: int
) -> list[tuple[str, str, RiskDecision]]:
    """The desk's own orders (bracket legs, flatten orders) and their changes (legs grown with
    the entry, stop moves) are exits: each is shown to the risk manager so it counts as
    working (the worst-case position sees it). A refusal is returned (kind, cid, decision)
    for the caller to record, but the order still goes: a position must never be left
    without its stop or its way out. Orders the risk manager already counts are skipped."""
    out: list[tuple[str, str, RiskDecision]] = []
    for cmd in cmds:
        if cmd.op == "change" and cmd.cid in risk.state.pending:
            changed = risk.check_change(cmd.cid, cmd.quantity, now)
            if not changed:
                out.append(("exit_change", cmd.cid, changed))
            continue
        if cmd.op != "submit" or cmd.cid in risk.state.pending or cmd.action is None:
            continue
        intent = OrderIntent(cmd.cid, symbol, 1 if cmd.action.is_buy else -1, cmd.quantity, now,
                             order_type=str(cmd.order_type), oco=cmd.oco or None)  # fmt: skip
        decision = risk.check(intent)
        if not decision:
            out.append(("exit_order", cmd.cid, decision))
    return out


def _sign(x: int) -> int:
    return 1 if x > 0 else -1 if x < 0 else 0


__all__ = [
    "KILL_BOOK_CROSSED",
    "KILL_BOOK_STALE",
    "KILL_DISCONNECTED",
    "OrderIntent",
    "PendingOrder",
    "Reason",
    "RiskDecision",
    "RiskEvent",
    "RiskManager",
    "RiskParams",
    "RiskState",
    "SessionReason",
    "register_exits",
]
