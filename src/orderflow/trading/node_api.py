"""A trading node's orders posted to the API: an order intent in domain terms (prices in
ticks, already validated by the server's wire layer) through the risk check and the desk,
journalled. :class:`NodeApi` is that part of :class:`~orderflow.trading.node.TradingNode`:
:meth:`~NodeApi.submit` (an order, or an entry with its bracket), :meth:`~NodeApi.change`,
:meth:`~NodeApi.cancel`, and the two checks the server makes first,
:meth:`~NodeApi.entry_gate` and :meth:`~NodeApi.cid_free`. A refusal raises
:class:`~orderflow.core.errors.RequestError` (a risk refusal: ``field: "risk"``, the risk
code, 422) and sends nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orderflow.core.errors import RequestError, UnprocessableError
from orderflow.model.instruments import Instrument
from orderflow.trading.journal_replay import decision_fields
from orderflow.trading.node_journal import NodeJournal
from orderflow.trading.orders import CommandError, OrderAction, OrderCommand, OrderType
from orderflow.trading.risk import OrderIntent

__all__ = ["BracketLegs", "NodeApi"]

BracketLegs = tuple[int, tuple[tuple[int, int], ...]]  # stop ticks, (target ticks, qty)s


class NodeApi(NodeJournal):
    """Orders posted to the API (module docstring); a part of the node, which sets
    ``awaiting_report`` and gives each instrument its session calendar (``calendar``)."""

    awaiting_report: bool

    if TYPE_CHECKING:

        def calendar(self, inst: Instrument) -> None: ...

    def entry_gate(self) -> None:
        """No new entry before NinjaTrader's report, nor while waiting until flat: raises
        :class:`RequestError` (``not_reconciled``)."""
        if self.awaiting_report or not self.desk.orders.reconciled:
            why = (
                "waiting for NinjaTrader's report of positions and orders"
                if self.awaiting_report
                else "waiting until flat (reconciliation)"
            )
            raise _refused(f"risk: not_reconciled: {why}", "not_reconciled")

    def cid_free(self, cid: str) -> None:
        """Raises :class:`RequestError` when ``cid`` was used (cids are never reused)."""
        if cid in self.desk.orders.orders:
            raise RequestError(f"cid: {cid!r} is already used (cids are never reused)",
                               field="cid")  # fmt: skip

    def submit(
        self, now: int, inst: Instrument, cid: str, action: OrderAction, kind: OrderType,
        qty: int, limit: int | None, stop: int | None, oco: str = "",
        legs: BracketLegs | None = None,
    ) -> OrderCommand:  # fmt: skip
        """An entry (with ``legs``: a bracket, :meth:`_bracket`) through the risk check and
        the desk, journalled; :class:`RequestError` when refused (a refusal is committed),
        :class:`CommandError` when the desk refuses it."""
        desk, risk = self.desk, self.risk
        key = inst.contract or inst.symbol
        self.calendar(inst)
        intent = OrderIntent.from_action(cid, key, action, qty, now, order_type=kind,
                                         oco=oco or None)  # fmt: skip
        decision = risk.check(intent)
        self._rec_decision(intent, decision, "api")
        if not decision:
            desk.counters[f"risk_refused_{decision.reason}"] += 1
            self._commit()  # a refusal is journalled when it can be; it sends nothing
            raise _refused(f"risk: {decision.code}", decision.code)
        origin = "api"
        try:
            if legs is not None:
                cmd = self._bracket(key, legs, action, kind, qty, limit, stop, cid, now)
                origin = "desk"  # the bracket's record regenerates it on replay
            else:
                cmd = desk.orders.submit(now, key, action, kind, qty, limit, stop, oco=oco,
                                         cid=cid)  # fmt: skip
        except (CommandError, RequestError):
            risk.on_order_done(cid)
            self._rec_state(now)
            self._commit()
            raise
        self._rec_command(cmd, origin)
        return cmd

    def change(self, now: int, key: str, cid: str, qty: int, limit: int | None,
               stop: int | None) -> OrderCommand:  # fmt: skip
        """A change of a working order: a larger one is checked like the order it grows
        (entry rules, size, the worst-case position); a smaller or price-only one passes."""
        order = self.desk.orders.orders.get(cid)
        if order is not None and not order.terminal:
            changed = self.risk.check_change(cid, qty, now)
            self._rec("risk_decision", now,
                      decision_fields(changed, "api", op="change", quantity=qty),
                      key, cid)  # fmt: skip
            if not changed:
                self.desk.counters[f"risk_refused_{changed.reason}"] += 1
                self._rec_state(now)
                self._commit()
                raise _refused(f"risk: {changed.code}", changed.code)
        cmd = self.desk.orders.change(now, cid, qty, limit, stop)
        self._rec_command(cmd, "api")
        return cmd

    def cancel(self, now: int, cid: str) -> OrderCommand:
        got = self.desk.orders.cancel(now, cid)
        if got is None:
            raise RequestError(f"cid: a cancel of {cid!r} is already pending", field="cid")
        self._rec_command(got, "api")
        return got

    def _bracket(
        self, key: str, legs: BracketLegs, action: OrderAction, kind: OrderType, qty: int,
        limit: int | None, stop: int | None, cid: str, now: int,
    ) -> OrderCommand:  # fmt: skip
        """An entry with its stop and target(s), managed by the desk's brackets: the legs go
        out when the entry fills, at their distances from its first fill price, resized to
        what is open. The bracket's record is journalled (a replay rebuilds it)."""
        stop_ticks, plan = legs
        try:
            _, cmds = self.desk.brackets.submit(
                now, key, action, qty, stop_loss_ticks=stop_ticks,
                target_ticks=plan[0][0] if len(plan) == 1 else None,
                scale_out=plan if len(plan) > 1 else (), relative=True, order_type=kind,
                limit_ticks=limit, stop_ticks=stop, cid=cid,
            )  # fmt: skip
        except ValueError as exc:
            raise RequestError(f"stop_ticks: {exc}", field="stop_ticks") from None
        self._rec_brackets()
        return cmds[0]


def _refused(msg: str, reason: str) -> UnprocessableError:
    """A risk refusal as the API answers it (422, ``field: "risk"``, the risk code)."""
    return UnprocessableError(msg, field="risk", reason=reason)
