"""Positions, P&L and trades per account and instrument, from fills only.

Conventions (``docs/trading.md``):

- Prices are integer ticks; an average is an exact :class:`~fractions.Fraction` of a tick.
  Currency is ``Decimal``: ticks x the registry's tick value (``trading.money``).
- Scale-in and scale-out are matched **FIFO**, as NinjaTrader pairs executions into its
  ``Trade`` objects (HG:trade: "buy 2 at 1000, sell the 1st at 1001, then the 2nd at 1002 are
  two completed trades", each exit against the oldest open entry). Each pairing is a
  :class:`ClosedLot` (NinjaTrader's Trade). The average price of the position is the average
  of the lots still open. Over a whole round trip FIFO and average-cost give the same P&L;
  they differ only in how it is split between partial exits.
- A :class:`Trade` here is the round trip flat -> position -> flat (its closed lots inside).
  A fill that crosses through flat (long 2, sell 3) closes the trade and opens the next with
  the rest; its commission and fees are split by quantity.
- Realised P&L (gross) is in ticks x contracts and in currency; commission and fees are
  passed in per fill and subtracted for the net figure. Unrealised P&L is against a mark
  price the caller gives.
- MAE/MFE of a trade: the worst and best of its equity (realised so far in the trade plus
  unrealised) over every mark and fill while it is open, in ticks x contracts (>= 0), and in
  currency. For one contract they are NinjaTrader's MaeTicks / MfeTicks.
- A position keeps the sum of its open lots' quantities and of their price x quantity
  (``_held``, ``_cost``), counted again from the lots after every fill or adoption. While
  every lot price is a whole tick (always, but for an adopted fractional average) the cost is
  an ``int`` and a mark, its open P&L and MAE/MFE are worked out in integers, the same
  values the ``Fraction`` sums give; a ``Fraction`` is built only for what is kept.
- The book counts its changes (:attr:`PositionBook.changes`: a position added, a fill, an
  adoption, a mark; :attr:`PositionBook.lot_changes`: the same but the marks), so a reader
  can keep what it worked out from the positions until the count moves.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from orderflow.model.instruments import Instrument, get_instrument
from orderflow.trading.checks import money_value, quantity_value, ticks_value
from orderflow.trading.money import money, ticks_to_money, ticks_to_points
from orderflow.trading.orders import Fill

__all__ = ["ClosedLot", "Lot", "Position", "PositionBook", "Trade", "check_fill"]


def check_fill(fill: Fill) -> None:
    """A fill the book can take: quantity in ``[1, MAX_CONTRACTS]``, price a plausible int of
    ticks, commission and fees finite, >= 0 and plausible. Otherwise
    :class:`~orderflow.core.errors.TradingInputError` naming the field, and nothing changes:
    whatever the path (the API, a backtest, a journal replay), P&L stays finite."""
    quantity_value(fill.quantity, "quantity")
    ticks_value(fill.price_ticks, "price_ticks")
    money_value(fill.commission, "commission")
    money_value(fill.fees, "fees")


_SPLIT = Decimal("0.000001")


@dataclass(slots=True)
class Lot:
    """An open entry (or the part of it not yet exited)."""

    quantity: int  # > 0
    price: Fraction  # ticks
    t: int
    execution_id: str


@dataclass(frozen=True, slots=True)
class ClosedLot:
    """One entry paired with one exit (FIFO): NinjaTrader's ``Trade``."""

    quantity: int
    entry_price: Fraction
    exit_price: Fraction
    entry_t: int
    exit_t: int
    entry_execution: str
    exit_execution: str
    pnl_ticks: Fraction  # (exit - entry) x quantity x direction


@dataclass(slots=True)
class Trade:
    """A round trip: flat -> position -> flat."""

    number: int
    account: str
    instrument: Instrument
    direction: int  # +1 long, -1 short
    opened_t: int
    closed_t: int | None = None
    max_quantity: int = 0
    entry_quantity: int = 0
    entry_cost: Fraction = Fraction(0)  # sum of entry price x quantity (ticks)
    exit_quantity: int = 0
    exit_cost: Fraction = Fraction(0)
    realized_ticks: Fraction = Fraction(0)
    commission: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    mae_ticks: Fraction = Fraction(0)
    mfe_ticks: Fraction = Fraction(0)
    lots: list[ClosedLot] = field(default_factory=list)
    executions: list[str] = field(default_factory=list)
    adopted: bool = False  # opened from NinjaTrader's reported position (reconciliation)
    closed_by: str = ""  # "" (a fill) or "reconcile"

    @property
    def open(self) -> bool:
        return self.closed_t is None

    @property
    def avg_entry_ticks(self) -> Fraction | None:
        return self.entry_cost / self.entry_quantity if self.entry_quantity else None

    @property
    def avg_exit_ticks(self) -> Fraction | None:
        return self.exit_cost / self.exit_quantity if self.exit_quantity else None

    @property
    def gross(self) -> Decimal:
        return ticks_to_money(self.instrument, self.realized_ticks)

    @property
    def net(self) -> Decimal:
        return self.gross - self.commission - self.fees

    @property
    def mae(self) -> Decimal:
        return ticks_to_money(self.instrument, self.mae_ticks)

    @property
    def mfe(self) -> Decimal:
        return ticks_to_money(self.instrument, self.mfe_ticks)

    def to_dict(self) -> dict[str, Any]:
        inst = self.instrument

        def price(ticks: Fraction | None) -> float | None:
            return None if ticks is None else float(ticks_to_points(inst, ticks))

        return {
            "number": self.number, "account": self.account,
            "instrument": inst.contract or inst.symbol,
            "direction": "long" if self.direction > 0 else "short",
            "opened_t": self.opened_t, "closed_t": self.closed_t, "max_quantity": self.max_quantity,
            "avg_entry": price(self.avg_entry_ticks), "avg_exit": price(self.avg_exit_ticks),
            "entry_quantity": self.entry_quantity, "exit_quantity": self.exit_quantity,
            "pnl_ticks": float(self.realized_ticks), "gross": float(money(self.gross)),
            "commission": float(self.commission), "fees": float(self.fees),
            "net": float(money(self.net)), "mae_ticks": float(self.mae_ticks),
            "mfe_ticks": float(self.mfe_ticks), "mae": float(money(self.mae)),
            "mfe": float(money(self.mfe)), "lots": len(self.lots), "adopted": self.adopted,
            "closed_by": self.closed_by, "executions": list(self.executions),
        }  # fmt: skip


def _split(amount: Decimal, part: int, whole: int) -> tuple[Decimal, Decimal]:
    """``amount`` split by ``part / whole``; the two halves add up to it exactly."""
    first = (amount * part / whole).quantize(_SPLIT)
    return first, amount - first


class Position:
    """One account's position in one instrument: its open lots (FIFO), the trade they belong
    to, and the running totals."""

    def __init__(self, account: str, instrument: Instrument, book: PositionBook) -> None:
        self.account = account
        self.instrument = instrument
        self._book = book
        self.lots: deque[Lot] = deque()
        self.direction = 0  # +1 long, -1 short, 0 flat
        self.trade: Trade | None = None
        self.realized_ticks = Fraction(0)
        self.commission = Decimal(0)
        self.fees = Decimal(0)
        self.last_mark: int | None = None
        self._held = 0  # sum of the open lots' quantities
        self._cost: int | Fraction = 0  # sum of their price x quantity (an int when whole)
        #: the instrument's tick value (a property that makes two Decimals at every read)
        self._tick_value = instrument.tick_value

    def _changed(self) -> None:
        """The lots, the direction or the trade change (the book's counts move): every fill
        and adoption recounts the lots, so moves them at least once while it lasts."""
        book = self._book
        book.changes += 1
        book.lot_changes += 1

    def _recount(self) -> None:
        """The open lots' totals, from the lots themselves (after every change to them)."""
        self._changed()
        lots = self.lots
        self._held = sum(lot.quantity for lot in lots)
        if all(lot.price.denominator == 1 for lot in lots):  # whole ticks: the int sum
            self._cost = sum(lot.price.numerator * lot.quantity for lot in lots)
            return
        cost = sum((lot.price * lot.quantity for lot in lots), Fraction(0))
        self._cost = cost.numerator if cost.denominator == 1 else cost

    def _open_ticks(self, mark: int) -> int | Fraction:
        """Open P&L at ``mark`` in ticks x contracts: an ``int`` while the cost is whole."""
        return self.direction * (mark * self._held - self._cost)

    @property
    def quantity(self) -> int:
        """Signed: > 0 long, < 0 short."""
        return self.direction * self._held

    @property
    def avg_price_ticks(self) -> Fraction | None:
        held = self._held
        return Fraction(self._cost) / held if held else None

    def unrealized_ticks(self, mark: int | None = None) -> Fraction:
        """Open P&L at ``mark`` (ticks; default the last mark), in ticks x contracts."""
        mark = self.last_mark if mark is None else mark
        if mark is None or not self.lots:
            return Fraction(0)
        return Fraction(self._open_ticks(mark))

    def unrealized(self, mark: int | None = None) -> Decimal:
        mark = self.last_mark if mark is None else mark
        cost = self._cost
        if isinstance(cost, int):  # whole ticks (flat too): ticks_to_money's exact product
            ticks = 0 if mark is None else self.direction * (mark * self._held - cost)
            return self._tick_value * ticks
        return ticks_to_money(self.instrument, self.unrealized_ticks(mark))

    @property
    def realized(self) -> Decimal:
        """Gross realised P&L of every trade so far, in currency."""
        return ticks_to_money(self.instrument, self.realized_ticks)

    @property
    def net_realized(self) -> Decimal:
        return self.realized - self.commission - self.fees

    def mark(self, price_ticks: int) -> None:
        """A market price: the open trade's MAE/MFE follow its equity there."""
        ticks_value(price_ticks, "mark")
        self.last_mark = price_ticks
        self._book.changes += 1
        trade = self.trade
        if trade is None:
            return
        realized = trade.realized_ticks
        if self.lots and type(self._cost) is int and realized.denominator == 1:
            # whole ticks throughout: compared in integers, a Fraction kept only when new
            equity = realized.numerator + self._open_ticks(price_ticks)
            mfe, mae = trade.mfe_ticks, trade.mae_ticks
            # (a whole extreme passed is the new one: max() only against a fractional one)
            if mfe.denominator != 1:
                trade.mfe_ticks = max(mfe, Fraction(equity))
            elif equity > mfe.numerator:
                trade.mfe_ticks = Fraction(equity)
            if mae.denominator != 1:
                trade.mae_ticks = max(mae, Fraction(-equity))
            elif -equity > mae.numerator:
                trade.mae_ticks = Fraction(-equity)
            return
        equity = realized + self.unrealized_ticks(price_ticks)
        trade.mfe_ticks = max(trade.mfe_ticks, equity)
        trade.mae_ticks = max(trade.mae_ticks, -equity)

    def apply(self, fill: Fill) -> list[Trade]:
        """One execution; the trades it closed. A fill :func:`check_fill` refuses raises
        before anything changes."""
        check_fill(fill)
        closed: list[Trade] = []
        sign = fill.side.sign
        qty = fill.quantity
        commission, fees = fill.commission, fill.fees
        self.commission += commission
        self.fees += fees
        if self.direction and sign != self.direction:  # reduces (and maybe reverses)
            trade = self.trade
            assert trade is not None
            close = min(qty, self._held)
            c_close, commission = _split(commission, close, qty)
            f_close, fees = _split(fees, close, qty)
            trade.commission += c_close
            trade.fees += f_close
            trade.executions.append(fill.execution_id)
            trade.exit_quantity += close
            trade.exit_cost += fill.price_ticks * close
            left = close
            while left:
                lot = self.lots[0]
                take = min(left, lot.quantity)
                pnl = (fill.price_ticks - lot.price) * take * self.direction
                exit_price = Fraction(fill.price_ticks)
                trade.lots.append(
                    ClosedLot(take, lot.price, exit_price, lot.t, fill.t, lot.execution_id,
                              fill.execution_id, pnl)
                )  # fmt: skip
                trade.realized_ticks += pnl
                self.realized_ticks += pnl
                lot.quantity -= take
                left -= take
                if not lot.quantity:
                    self.lots.popleft()
            self._recount()
            self.mark(fill.price_ticks)
            qty -= close
            if not self.lots:
                trade.closed_t = fill.t
                closed.append(trade)
                self.trade = None
                self.direction = 0
        if qty:  # opens or adds
            if not self.direction:
                self.direction = sign
                self.trade = self._book._new_trade(self, fill.t)
            trade = self.trade
            assert trade is not None
            self.lots.append(Lot(qty, Fraction(fill.price_ticks), fill.t, fill.execution_id))
            self._recount()
            trade.commission += commission
            trade.fees += fees
            trade.entry_quantity += qty
            trade.entry_cost += fill.price_ticks * qty
            if fill.execution_id not in trade.executions:
                trade.executions.append(fill.execution_id)
            trade.max_quantity = max(trade.max_quantity, abs(self.quantity))
            self.mark(fill.price_ticks)
        return closed

    def adopt(self, quantity: int, avg_price_ticks: Fraction, t: int) -> Trade | None:
        """NinjaTrader's reported position replaces ours (reconciliation): the open trade, if
        any, ends ``closed_by="reconcile"`` with what it realised; a non-flat report opens an
        ``adopted`` trade at NinjaTrader's average price. The trade closed, if any."""
        if quantity:
            quantity_value(abs(quantity), "quantity")
            ticks_value(round(avg_price_ticks), "avg_price_ticks")
        ended = self.trade
        if ended is not None:
            ended.closed_t = t
            ended.closed_by = "reconcile"
        self.lots.clear()
        self._recount()
        self.trade = None
        self.direction = 0
        if quantity:
            self.direction = 1 if quantity > 0 else -1
            self.lots.append(Lot(abs(quantity), avg_price_ticks, t, "adopted"))
            self._recount()
            trade = self.trade = self._book._new_trade(self, t)
            trade.adopted = True
            trade.entry_quantity = trade.max_quantity = abs(quantity)
            trade.entry_cost = avg_price_ticks * abs(quantity)
        return ended

    def to_dict(self, mark: int | None = None) -> dict[str, Any]:
        inst = self.instrument
        avg = self.avg_price_ticks
        unreal = self.unrealized_ticks(mark)
        return {
            "account": self.account, "instrument": inst.contract or inst.symbol,
            "quantity": self.quantity,
            "avg_price": None if avg is None else float(ticks_to_points(inst, avg)),
            "realized_ticks": float(self.realized_ticks), "realized": float(money(self.realized)),
            "commission": float(self.commission), "fees": float(self.fees),
            "net_realized": float(money(self.net_realized)),
            "unrealized_ticks": float(unreal),
            "unrealized": float(money(ticks_to_money(inst, unreal))),
            "trade": None if self.trade is None else self.trade.number,
        }  # fmt: skip


class PositionBook:
    """Positions by (account, instrument) and every round trip, fed fills once each."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, str], Position] = {}
        self.trades: list[Trade] = []
        self._seen: set[str] = set()
        #: moves at every change to a position's lots, direction, trade, realised P&L or
        #: last mark, and when a position is added (what a mark and the open P&L read)
        self.changes = 0
        #: the same but for the marks (what the quantities and average prices read)
        self.lot_changes = 0

    def position(self, account: str, instrument: str | Instrument) -> Position:
        inst = instrument if isinstance(instrument, Instrument) else get_instrument(instrument)
        key = (account, inst.contract or inst.symbol)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(account, inst, self)
            pos._changed()
        return pos

    def _new_trade(self, pos: Position, t: int) -> Trade:
        trade = Trade(len(self.trades) + 1, pos.account, pos.instrument, pos.direction, t)
        self.trades.append(trade)
        return trade

    def apply(self, fill: Fill, instrument: str | Instrument | None = None) -> list[Trade]:
        """One execution (its own instrument and account unless given); a repeated
        ``execution_id`` changes nothing. The trades it closed."""
        if fill.execution_id in self._seen:
            return []
        check_fill(fill)  # a refused fill is not seen: it changes nothing
        self._seen.add(fill.execution_id)
        return self.position(fill.account, instrument or fill.instrument).apply(fill)

    def mark(self, instrument: str | Instrument, price_ticks: int) -> None:
        """A market price for every account's position in ``instrument``."""
        inst = instrument if isinstance(instrument, Instrument) else get_instrument(instrument)
        name = inst.contract or inst.symbol
        for (_, key), pos in self.positions.items():
            if key == name:
                pos.mark(price_ticks)

    def closed_trades(self, account: str | None = None) -> list[Trade]:
        return [t for t in self.trades if not t.open and (account is None or t.account == account)]

    def account_totals(self, account: str) -> dict[str, Decimal]:
        """Realised (gross and net), commissions, fees and unrealised at the last marks, in
        currency, over every instrument of ``account``."""
        out = {
            k: Decimal(0) for k in ("realized", "commission", "fees", "net_realized", "unrealized")
        }
        for (acct, _), pos in self.positions.items():
            if acct != account:
                continue
            out["realized"] += pos.realized
            out["commission"] += pos.commission
            out["fees"] += pos.fees
            out["net_realized"] += pos.net_realized
            out["unrealized"] += pos.unrealized()
        return out
