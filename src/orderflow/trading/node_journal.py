"""A trading node's journal side: where its records go (:class:`JournalSink`) and how each
input, command, decision and state becomes a :class:`~orderflow.trading.journal.Entry`, in the
order the replay (:mod:`orderflow.trading.journal_replay`) needs. Without a sink nothing is
built (a backtest pays nothing for the journal)."""

from __future__ import annotations

from typing import Any, Protocol

from orderflow.trading.desk import OrderDesk
from orderflow.trading.journal import Entry
from orderflow.trading.journal_replay import command_payload, decision_payload
from orderflow.trading.orders import OrderCommand
from orderflow.trading.risk import OrderIntent, RiskDecision, RiskEvent, RiskManager

__all__ = ["JournalSink", "ListSink", "NodeJournal"]


class JournalSink(Protocol):
    """Where a node's records go: the server's journal writer, a test's list."""

    def add(self, entry: Entry) -> None: ...

    def commit(self) -> bool: ...


class ListSink:
    """Records kept in a list (tests, a backtest that wants the journal's view)."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.commits = 0

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)

    def commit(self) -> bool:
        self.commits += 1
        return True


class NodeJournal:
    """The state a node journals (its desk, risk manager, client and risk events) and the
    records it adds to ``sink``; :class:`~orderflow.trading.node.TradingNode` is one."""

    def __init__(
        self, desk: OrderDesk, risk: RiskManager, client: str, sink: JournalSink | None
    ) -> None:
        self.client = client
        self.desk = desk
        self.risk = risk
        self.sink = sink
        self.events: list[dict[str, Any]] = []  # risk events, oldest first

    def _rec(
        self,
        kind: str,
        ts_ns: int,
        payload: Any,
        instrument: str = "",
        cid: str = "",
        day: str | None = None,
        account: str | None = None,
    ) -> None:
        if self.sink is not None:
            acct = self.desk.orders.account if account is None else account
            self.sink.add(Entry(kind, ts_ns, payload, instrument, acct, cid, day, self.client))

    def _rec_state(self, ts_ns: int) -> None:
        if self.sink is not None:
            state = self.risk.state
            self._rec("risk_state", ts_ns, state.to_dict(), day=state.day)

    def _rec_command(self, cmd: OrderCommand, origin: str) -> None:
        if self.sink is not None:
            payload = command_payload(cmd, origin)
            self._rec("command", cmd.t, payload, cmd.instrument, cmd.cid)

    def _rec_decision(self, intent: OrderIntent, decision: RiskDecision, origin: str) -> None:
        """The decision and the state after it (an accepted order already counted)."""
        if self.sink is None:
            return
        payload = decision_payload(intent, decision, origin)
        self._rec("risk_decision", intent.ts_ns, payload, intent.symbol, intent.client_id)
        self._rec_state(intent.ts_ns)

    def _commit(self) -> bool:
        return self.sink is None or self.sink.commit()

    def _rec_brackets(self) -> None:
        log = self.desk.brackets.op_log
        if log:
            for rec in log:
                self._rec("bracket", int(rec["now"]), rec, cid=rec["bracket"])
            log.clear()

    def _rec_risk_events(self, events: list[RiskEvent]) -> None:
        """Limits reached: kept for the status and journalled."""
        for ev in events:
            self.events.append({"reason": str(ev.reason), "flatten": ev.flatten,
                                "t": ev.ts_ns, "detail": ev.detail})  # fmt: skip
            payload = {"reason": str(ev.reason), "flatten": ev.flatten, "ts_ns": ev.ts_ns,
                       "detail": ev.detail}  # fmt: skip
            self._rec("risk_event", ev.ts_ns, payload)
