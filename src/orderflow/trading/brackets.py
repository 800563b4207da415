"""Brackets: an entry with an attached stop and target, the two an OCO pair.

The stop and target are submitted when the entry fills, or partly fills (NinjaTrader's advice:
submit protective orders from ``OnExecutionUpdate``), for the filled quantity, and follow it:

- the entry fills more: both legs are changed to cover what is open (a leg's total quantity =
  its own fills + the open position);
- a leg fills in part: the other leg shrinks to what is still open;
- a leg's fills close the position: the sibling is cancelled (NinjaTrader's OCO may already
  have done it: a terminal order is left alone) and so is the rest of the entry;
- the entry ends (cancelled, rejected) with nothing filled: the bracket ends, no leg was ever
  sent; with a part filled, the legs keep protecting that part;
- a leg is rejected, or cancelled without our asking, while the position is open and the
  sibling is not filling it: the position is unprotected, so the other leg and the entry are
  cancelled and a market order flattens what is open (``on_leg_failure="flatten"``, the
  default; ``"alert"`` only alerts);
- the legs' fills exceed the entry's (an overfill: both legs filled): a market order brings the
  bracket's net position back to flat.

Scale-out (``scale_out=((price, qty), ...)``): one protective stop for everything open and
several targets, each a Limit for its own quantity (3 contracts at +8/+16/+24 ticks, 1 each).
The targets cannot share an OCO group with each other or with the stop (NinjaTrader would
cancel the rest at the first target's fill), so such a bracket's legs carry no OCO and the
manager keeps them consistent instead:

- the entry's fills are given to the targets nearest first (the +8 target covers the first
  contract filled); a target is submitted once it covers something;
- the stop always covers what is open (its fills + the open position): a target's fill shrinks
  it; a stop's part-fill shrinks the targets, the farthest first (a target left with nothing is
  cancelled);
- the position closed: every live leg and the entry's rest are cancelled;
- the stop failing (rejected, cancelled without our asking) leaves the position unprotected:
  flatten as for a plain bracket; a target failing leaves it protected by the stop: alerted;
- a stop and a target filling at once (no OCO between them) oversell: the overfill rule brings
  the bracket back to flat with a market order.

Legs anchored on the fill (``relative=True``): the stop and the targets are given as distances
in ticks from the entry's first fill price, resolved when that fill arrives (a market entry's
price is not known before).

Every decision is recomputed by :meth:`BracketManager.sync` from the orders' current state
(not from the path that led there) after each update and execution, and returns the commands
to send (op submit/change/cancel with cid, as the protocol ``command``). Fills are counted
from executions only; an order's reported Filled state only makes the bracket wait for the
execution NinjaTrader raises after it (no "entry ended unfilled", no "leg failed" while a
sibling is closing the position).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orderflow.core.errors import ArgumentError, ParameterError, TradingInputError
from orderflow.trading.orders import (
    Fill,
    Order,
    OrderAction,
    OrderCommand,
    OrderEvent,
    OrderManager,
    OrderState,
    OrderType,
    Outcome,
    TimeInForce,
)

__all__ = ["Bracket", "BracketManager"]


def _settled(order: Order) -> bool:
    """Terminal, and every execution its reports announced has arrived (NinjaTrader raises
    the order update before the execution)."""
    return order.terminal and order.filled >= order.reported_filled


_FAILED = frozenset({OrderState.REJECTED, OrderState.CANCELLED, OrderState.UNKNOWN})


@dataclass(slots=True)
class Bracket:
    id: str
    instrument: str
    direction: int  # +1: the entry buys, -1: it sells short
    entry: str  # cid
    stop_ticks: int  # the stop leg's trigger price
    target_ticks: int  # the target leg's limit price
    oco: str
    stop: str | None = None  # cids, once submitted
    target: str | None = None
    flatten: list[str] = field(default_factory=list)  # market orders that flatten
    status: str = "entry"  # entry, protected, flattening, done
    reason: str = ""
    #: scale-out: (limit price, quantity) per target, nearest first; ``targets`` their cids
    #: (None until submitted). Empty for a plain bracket (one target, OCO with the stop).
    plan: tuple[tuple[int, int], ...] = ()
    targets: list[str | None] = field(default_factory=list)
    #: prices still distances from the entry's first fill (resolved when it arrives)
    relative: bool = False

    def cids(self) -> list[str]:
        return [c for c in (self.entry, self.stop, self.target, *self.targets, *self.flatten) if c]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "instrument": self.instrument, "direction": self.direction,
                "entry": self.entry, "stop": self.stop, "target": self.target,
                "flatten": list(self.flatten), "oco": self.oco, "status": self.status,
                "reason": self.reason, "plan": [list(t) for t in self.plan],
                "targets": list(self.targets), "relative": self.relative}  # fmt: skip


class BracketManager:
    """Brackets over an :class:`OrderManager`; feed it the reports and send what it returns."""

    def __init__(self, orders: OrderManager, on_leg_failure: str = "flatten") -> None:
        if on_leg_failure not in ("flatten", "alert"):
            raise ParameterError(f"on_leg_failure: flatten or alert, not {on_leg_failure!r}")
        self.orders = orders
        self.on_leg_failure = on_leg_failure
        self.brackets: dict[str, Bracket] = {}
        #: the brackets not done, oldest first (``brackets`` keeps every one): a bracket
        #: joins when submitted and leaves when it ends (:meth:`_end`, the only way to done)
        self.live: dict[str, Bracket] = {}
        self._by_cid: dict[str, str] = {}
        self._alerted: set[str] = set()  # failed scale-out targets already alerted
        #: each closed bracket's first close reason (what the journal's ``close`` says)
        self.close_reasons: dict[str, str] = {}
        #: when a list: every call of submit, cancel, close and amend with its arguments, in
        #: order (the server journals them; replaying them on a fresh manager over the same
        #: reports gives the same brackets and commands). None: not kept (backtests).
        self.op_log: list[dict[str, Any]] | None = None

    def _log(self, op: str, now: int, bracket_id: str, **args: Any) -> None:
        if self.op_log is not None:
            self.op_log.append({"op": op, "now": now, "bracket": bracket_id, **args})

    def replay(self, rec: dict[str, Any]) -> list[OrderCommand]:
        """One :attr:`op_log` record applied again (a journal's replay); its commands."""
        op, now, bid = rec["op"], int(rec["now"]), rec["bracket"]
        if op == "submit":
            return self.submit(
                now, rec["instrument"], OrderAction(rec["action"]), int(rec["quantity"]),
                stop_loss_ticks=rec["stop_loss_ticks"], target_ticks=rec["target_ticks"],
                order_type=OrderType(rec["order_type"]), limit_ticks=rec["limit_ticks"],
                stop_ticks=rec["stop_ticks"], tif=TimeInForce(rec["tif"]),
                scale_out=tuple((int(p), int(q)) for p, q in rec["scale_out"]),
                relative=bool(rec["relative"]), cid=bid,
            )[1]  # fmt: skip
        if op == "cancel":
            return self.cancel(now, bid)
        if op == "close":
            return self.close(now, bid, rec.get("reason", "closed"))
        if op == "amend":
            return self.amend(now, bid, rec.get("stop_loss_ticks"), rec.get("target_ticks"))
        raise ArgumentError(f"op: {op!r} is not a bracket operation")

    def owns(self, cid: str) -> bool:
        """True when ``cid`` is an order of a live bracket (entry, leg or its flatten)."""
        return any(b.status != "done" and cid in b.cids() for b in self.brackets.values())

    def submit(
        self,
        now: int,
        instrument: str,
        action: OrderAction,
        quantity: int,
        *,
        stop_loss_ticks: int,
        target_ticks: int | None = None,
        order_type: OrderType = OrderType.MARKET,
        limit_ticks: int | None = None,
        stop_ticks: int | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        scale_out: tuple[tuple[int, int], ...] = (),
        relative: bool = False,
        cid: str | None = None,
    ) -> tuple[Bracket, list[OrderCommand]]:
        """A bracket: the entry's command now, the legs when it fills. ``stop_loss_ticks`` and
        ``target_ticks`` are the legs' prices (on the right sides of the entry); ``scale_out``
        gives several targets instead, (price, quantity) nearest first, the quantities adding
        up to the entry's. ``relative``: every leg price is a distance in ticks (> 0) from the
        entry's first fill price. ``cid``: the entry's client id (default: a new one)."""
        if action not in (OrderAction.BUY, OrderAction.SELL_SHORT):
            raise TradingInputError(f"a bracket enters with Buy or SellShort, not {action}")
        direction = 1 if action is OrderAction.BUY else -1
        plan = tuple((int(p), int(q)) for p, q in scale_out)
        if plan:
            if any(q < 1 for _, q in plan) or sum(q for _, q in plan) != quantity:
                raise TradingInputError(
                    "scale-out quantities must be >= 1 and add up to the entry's"
                )
            target_ticks = plan[0][0]
        if target_ticks is None:
            raise TradingInputError("a bracket needs target_ticks or scale_out")
        prices = [p for p, _ in plan] or [target_ticks]
        if relative:
            if stop_loss_ticks <= 0 or min(prices) <= 0:
                raise TradingInputError(
                    "relative legs are distances from the fill: all must be > 0"
                )
        else:
            ref = limit_ticks if limit_ticks is not None else stop_ticks
            if ref is not None and not all(
                (stop_loss_ticks - ref) * direction < 0 < (p - ref) * direction for p in prices
            ):
                raise TradingInputError(
                    "the stop and the target must be on either side of the entry"
                )
        cmd = self.orders.submit(now, instrument, action, order_type, quantity, limit_ticks,
                                 stop_ticks, tif=tif, cid=cid)  # fmt: skip
        b = Bracket(cmd.cid, instrument, direction, cmd.cid, stop_loss_ticks, target_ticks,
                    oco="" if plan else f"{cmd.cid}.oco", plan=plan,
                    targets=[None] * len(plan), relative=relative)  # fmt: skip
        self.brackets[b.id] = self.live[b.id] = b
        self._by_cid[cmd.cid] = b.id
        self._log("submit", now, b.id, instrument=instrument, action=str(action),
                  quantity=quantity, stop_loss_ticks=stop_loss_ticks, target_ticks=target_ticks,
                  order_type=str(order_type), limit_ticks=limit_ticks, stop_ticks=stop_ticks,
                  tif=str(tif), scale_out=[list(t) for t in plan], relative=relative)  # fmt: skip
        return b, [cmd]

    def cancel(self, now: int, bracket_id: str) -> list[OrderCommand]:
        """Cancel the entry (what it filled stays protected by the legs)."""
        b = self.brackets[bracket_id]
        self._log("cancel", now, bracket_id)
        entry = self.orders.orders[b.entry]
        out: list[OrderCommand] = []
        if not entry.terminal:
            cmd = self.orders.cancel(now, b.entry)
            if cmd is not None:
                out.append(cmd)
        return out + self.sync(now, b)

    def close(self, now: int, bracket_id: str, reason: str = "closed") -> list[OrderCommand]:
        """Cancel everything of the bracket and flatten what it holds at market."""
        b = self.brackets[bracket_id]
        self._log("close", now, bracket_id, reason=reason)
        self.close_reasons.setdefault(bracket_id, reason)
        return self._flatten(now, b, reason)

    def amend(
        self,
        now: int,
        bracket_id: str,
        stop_loss_ticks: int | None = None,
        target_ticks: int | None = None,
    ) -> list[OrderCommand]:
        """Move the stop (breakeven, trailing) and/or the target: the legs' later submits use
        the new prices, and live legs are changed now. A leg being cancelled is left alone."""
        b = self.brackets[bracket_id]
        if b.status in ("done", "flattening"):
            return []
        if b.plan and target_ticks is not None:
            raise ArgumentError("a scale-out bracket's targets are fixed; amend its stop only")
        if b.relative and b.stop is None:  # not filled yet: resolve the distances first
            raise ArgumentError("a bracket anchored on its fill is amended once it has filled")
        self._log("amend", now, bracket_id, stop_loss_ticks=stop_loss_ticks,
                  target_ticks=target_ticks)  # fmt: skip
        out: list[OrderCommand] = []
        for price, cid, kind in (
            (stop_loss_ticks, b.stop, "stop"),
            (target_ticks, b.target, "target"),
        ):
            if price is None:
                continue
            if kind == "stop":
                b.stop_ticks = price
            else:
                b.target_ticks = price
            leg = None if cid is None else self.orders.orders[cid]
            if leg is None or leg.terminal or leg.cancel_requested:
                continue
            if kind == "stop" and leg.stop_ticks != price:
                out.append(self.orders.change(now, cid or "", stop_ticks=price))
            elif kind == "target" and leg.limit_ticks != price:
                out.append(self.orders.change(now, cid or "", limit_ticks=price))
        return out

    # ---- reports -------------------------------------------------------------------------
    def apply_update(
        self, now: int, ev: OrderEvent, instrument: str = ""
    ) -> tuple[Outcome, list[OrderCommand]]:
        outcome = self.orders.apply_update(ev, instrument)
        return outcome, self._touch(now, ev.cid)

    def apply_fill(self, now: int, fill: Fill) -> tuple[bool, list[OrderCommand]]:
        new = self.orders.apply_fill(fill)
        return new, self._touch(now, fill.cid) if new else []

    def _touch(self, now: int, cid: str) -> list[OrderCommand]:
        bid = self._by_cid.get(cid)
        return [] if bid is None else self.sync(now, self.brackets[bid])

    # ---- the rules -----------------------------------------------------------------------
    def net(self, b: Bracket) -> int:
        """The bracket's signed position from its executions (> 0 long)."""
        om = self.orders.orders
        net = 0
        for c in b.cids():
            for f in om[c].fills:
                net += f.side.sign * f.quantity
        return net

    def sync(self, now: int, b: Bracket) -> list[OrderCommand]:
        """The commands that bring the bracket's orders in line with its fills."""
        if b.status == "done":
            return []
        if b.status == "flattening":  # (its own count of what the bracket holds)
            return self._flatten(now, b, b.reason)
        om = self.orders.orders
        entry = om[b.entry]
        open_qty = self.net(b) * b.direction  # what the entry holds, in its direction
        if b.plan:
            return self._sync_scaled(now, b, entry, open_qty)
        if b.stop is None or b.target is None:
            if entry.filled > 0:
                return self._submit_legs(now, b, open_qty)
            if _settled(entry):  # a Filled report comes before its execution: wait for it
                self._end(b, f"entry {entry.state} unfilled")
            return []
        stop, target = om[b.stop], om[b.target]
        legs = (stop, target)
        if open_qty < 0:  # the legs sold more than the entry bought: overfilled
            self.orders.alerts.append(("bracket_overfill", b.id, f"net {self.net(b)}"))
            return self._flatten(now, b, "legs overfilled")
        exited = stop.filled + target.filled
        if open_qty == 0 and exited > 0:  # an exit closed the position
            out = self._cancel_live(now, [*legs, entry])
            if all(_settled(o) for o in (*legs, entry)):
                self._end(b, f"closed by {'target' if target.filled else 'stop'}")
            return out
        failed = [leg for leg in legs if self._failed(leg)] if open_qty > 0 else []
        if failed and entry.filled - self._covering(legs) > 0:
            name = "stop" if failed[0] is stop else "target"
            self.orders.alerts.append(("bracket_unprotected", b.id,
                                       f"{name} {failed[0].state}: {open_qty} open"))  # fmt: skip
            if self.on_leg_failure == "flatten":
                return self._flatten(now, b, f"{name} {failed[0].state}")
            return []
        out = []
        for leg in legs:
            want = leg.filled + open_qty
            if leg.terminal or leg.cancel_requested or want <= leg.filled:
                continue
            if leg.requested_quantity != want:
                out.append(self.orders.change(now, leg.cid, quantity=want))
        return out

    def _sync_scaled(self, now: int, b: Bracket, entry: Order, open_qty: int) -> list[OrderCommand]:
        """A scale-out bracket: one stop for what is open, the targets nearest first."""
        om = self.orders.orders
        if b.stop is None:
            if entry.filled <= 0:
                if _settled(entry):
                    self._end(b, f"entry {entry.state} unfilled")
                return []
            self._resolve(b, entry)
            cmd = self._submit_leg(now, b, OrderType.STOP_MARKET, open_qty, b.stop_ticks,
                                   f"{b.id}.stop")  # fmt: skip
            b.stop, b.status = cmd.cid, "protected"
            return [cmd, *self._scaled_targets(now, b, entry, open_qty)]
        stop = om[b.stop]
        targets = [om[c] for c in b.targets if c]
        if open_qty < 0:
            self.orders.alerts.append(("bracket_overfill", b.id, f"net {self.net(b)}"))
            return self._flatten(now, b, "legs overfilled")
        exited = stop.filled
        for t in targets:
            exited += t.filled
        if open_qty == 0 and exited > 0:
            out = self._cancel_live(now, [stop, *targets, entry])
            if all(_settled(o) for o in (stop, *targets, entry)):
                self._end(b, f"closed by {'stop' if stop.filled else 'targets'}")
            return out
        if (open_qty > 0 and self._failed(stop)
                and entry.filled - self._covering([stop, *targets]) > 0):  # fmt: skip
            self.orders.alerts.append(("bracket_unprotected", b.id,
                                       f"stop {stop.state}: {open_qty} open"))  # fmt: skip
            if self.on_leg_failure == "flatten":
                return self._flatten(now, b, f"stop {stop.state}")
            return []
        out = []
        want = stop.filled + open_qty
        live = not (stop.terminal or stop.cancel_requested)
        if live and want > stop.filled and stop.requested_quantity != want:
            out.append(self.orders.change(now, stop.cid, quantity=want))
        return out + self._scaled_targets(now, b, entry, open_qty)

    def _scaled_targets(
        self, now: int, b: Bracket, entry: Order, open_qty: int
    ) -> list[OrderCommand]:
        """Each target's share of the entry's fills (nearest first), no more in all than is
        open: submit, grow, shrink or cancel the target legs to match."""
        om = self.orders.orders
        out: list[OrderCommand] = []
        before = 0  # contracts of the entry given to nearer targets
        budget = open_qty
        for i, (price, qty) in enumerate(b.plan):
            share = min(qty, max(0, entry.filled - before))
            before += qty
            cid = b.targets[i]
            leg = om[cid] if cid else None
            if leg is not None and (leg.terminal or leg.cancel_requested):
                if self._failed(leg) and leg.cid not in self._alerted:  # the stop still covers
                    self._alerted.add(leg.cid)
                    self.orders.alerts.append(("target_failed", b.id, f"{leg.cid} {leg.state}"))
                continue
            filled = leg.filled if leg is not None else 0
            rest = min(share - filled, budget)
            budget -= max(rest, 0)
            if leg is None:
                if rest > 0:
                    cmd = self._submit_leg(now, b, OrderType.LIMIT, rest, price,
                                           f"{b.id}.tgt{i + 1}")  # fmt: skip
                    b.targets[i] = cmd.cid
                    out.append(cmd)
                continue
            if rest <= 0:
                out.extend(self._cancel_live(now, [leg]))
            elif leg.requested_quantity != filled + rest:
                out.append(self.orders.change(now, leg.cid, quantity=filled + rest))
        return out

    def _resolve(self, b: Bracket, entry: Order) -> None:
        """Leg distances to prices from the entry's first fill (a relative bracket)."""
        if not b.relative:
            return
        first = entry.fills[0].price_ticks
        d = b.direction
        b.stop_ticks = first - d * b.stop_ticks
        b.target_ticks = first + d * b.target_ticks
        b.plan = tuple((first + d * p, q) for p, q in b.plan)
        b.relative = False

    def _submit_leg(
        self, now: int, b: Bracket, kind: OrderType, qty: int, price: int, cid: str
    ) -> OrderCommand:
        stop = price if kind is OrderType.STOP_MARKET else None
        limit = price if kind is OrderType.LIMIT else None
        cmd = self.orders.submit(now, b.instrument, self._exit_action(b), kind, qty,
                                 limit_ticks=limit, stop_ticks=stop, oco=b.oco, cid=cid,
                                 internal=True)  # fmt: skip
        self._by_cid[cmd.cid] = b.id
        return cmd

    @staticmethod
    def _covering(legs: Sequence[Order]) -> int:
        """What the exit legs cover: each one's fills, or what NinjaTrader says filled."""
        return sum(max(leg.filled, leg.reported_filled) for leg in legs)

    @staticmethod
    def _failed(leg: Order) -> bool:
        return leg.state in _FAILED and not leg.cancel_requested and leg.filled < leg.quantity

    def _exit_action(self, b: Bracket) -> OrderAction:
        return OrderAction.SELL if b.direction > 0 else OrderAction.BUY_TO_COVER

    def _submit_legs(self, now: int, b: Bracket, qty: int) -> list[OrderCommand]:
        self._resolve(b, self.orders.orders[b.entry])
        exit_action = self._exit_action(b)
        stop = self.orders.submit(now, b.instrument, exit_action, OrderType.STOP_MARKET, qty,
                                  stop_ticks=b.stop_ticks, oco=b.oco, cid=f"{b.id}.stop",
                                  internal=True)  # fmt: skip
        target = self.orders.submit(now, b.instrument, exit_action, OrderType.LIMIT, qty,
                                    limit_ticks=b.target_ticks, oco=b.oco, cid=f"{b.id}.tgt",
                                    internal=True)  # fmt: skip
        b.stop, b.target = stop.cid, target.cid
        self._by_cid[stop.cid] = self._by_cid[target.cid] = b.id
        b.status = "protected"
        return [stop, target]

    def _cancel_live(self, now: int, orders: list[Order]) -> list[OrderCommand]:
        out = []
        for o in orders:
            if not o.terminal and not o.cancel_requested and o.filled < o.quantity:
                cmd = self.orders.cancel(now, o.cid)
                if cmd is not None:
                    out.append(cmd)
        return out

    def _flatten(self, now: int, b: Bracket, reason: str) -> list[OrderCommand]:
        """Cancel the bracket's working orders; once none can fill any more, send one market
        order for what it still holds; done when flat and nothing works."""
        if b.status != "flattening":
            b.status, b.reason = "flattening", reason
        om = self.orders.orders
        others = [om[c] for c in b.cids() if c not in b.flatten]
        out = self._cancel_live(now, others)
        for o in others:
            if not (_settled(o) or o.filled >= o.quantity):
                return out  # wait: an order being cancelled may still fill
        net = self.net(b)
        working = [om[c] for c in b.flatten if not _settled(om[c])]
        if net == 0 and not working:
            self._end(b, reason)
            return out
        if net and not working:
            action = OrderAction.SELL if net > 0 else OrderAction.BUY_TO_COVER
            cmd = self.orders.submit(now, b.instrument, action, OrderType.MARKET, abs(net),
                                     cid=f"{b.id}.flat{len(b.flatten) + 1}",
                                     internal=True, reason=reason)  # fmt: skip
            b.flatten.append(cmd.cid)
            self._by_cid[cmd.cid] = b.id
            out.append(cmd)
        return out

    def _end(self, b: Bracket, reason: str) -> None:
        b.status, b.reason = "done", reason
        self.live.pop(b.id, None)
