"""Random order lifecycles delivered duplicated and out of order end exactly where the clean
delivery ends, and never count a fill twice; random fills keep positions consistent with
their cash flow (FIFO or not, a round trip's P&L is what was paid and received)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.model.instruments import get_instrument
from orderflow.trading.brackets import BracketManager
from orderflow.trading.money import ticks_to_money
from orderflow.trading.orders import (
    Fill,
    OrderAction,
    OrderEvent,
    OrderManager,
    OrderState,
    OrderType,
    Side,
)
from orderflow.trading.positions import PositionBook
from orderflow.trading.reconcile import (
    BrokerOrder,
    BrokerPosition,
    BrokerReport,
    StartBehavior,
    connection_lost,
    reconcile,
)
from tests.property.ninjatrader import confirm

SETTINGS = settings(max_examples=300, deadline=None)
S = OrderState
P = 19240

# the documented lifecycle (ninjatrader-api.md 3.3), one step at a time
STEPS: dict[OrderState, list[OrderState]] = {
    S.INITIALIZED: [S.SUBMITTED],
    S.SUBMITTED: [S.ACCEPTED, S.WORKING, S.REJECTED, S.PART_FILLED, S.FILLED],
    S.ACCEPTED: [S.WORKING, S.TRIGGER_PENDING, S.REJECTED, S.FILLED],
    S.TRIGGER_PENDING: [S.WORKING, S.ACCEPTED],
    S.WORKING: [S.PART_FILLED, S.FILLED, S.CHANGE_PENDING, S.CANCEL_PENDING],
    S.PART_FILLED: [S.PART_FILLED, S.FILLED, S.CHANGE_PENDING, S.CANCEL_PENDING],
    S.CHANGE_PENDING: [S.CHANGE_SUBMITTED],
    S.CHANGE_SUBMITTED: [S.WORKING],  # PartFilled when something filled (by value)
    S.CANCEL_PENDING: [S.CANCEL_SUBMITTED, S.FILLED, S.CANCELLED],  # a fill may race it
    S.CANCEL_SUBMITTED: [S.CANCELLED],
}


@st.composite
def lifecycle(draw: st.DrawFn, cid: str, t0: int) -> tuple[list[OrderEvent], list[Fill], int]:
    """One order's clean reports: by-value updates with rising times and executions after
    the update that announces them."""
    qty = draw(st.integers(1, 5))
    state, filled, t = S.INITIALIZED, 0, t0
    events: list[OrderEvent] = []
    fills: list[Fill] = []
    limit = P
    for _ in range(draw(st.integers(1, 9))):
        options = STEPS.get(state)
        if not options:
            break
        nxt = draw(st.sampled_from(options))
        if nxt is S.PART_FILLED and qty - filled < 2:
            nxt = S.FILLED
        if nxt is S.WORKING and state is S.CHANGE_SUBMITTED and filled:
            nxt = S.PART_FILLED if filled < qty else S.FILLED
        t += draw(st.integers(1, 1_000))
        add = 0
        if nxt is S.PART_FILLED and filled < qty - 1:
            add = draw(st.integers(1, qty - filled - 1))
        elif nxt is S.FILLED:
            add = qty - filled
        if nxt is S.CHANGE_PENDING:
            qty = draw(st.integers(filled + 1, filled + 4))
            limit = P + draw(st.integers(-4, 4))
        filled += add
        events.append(OrderEvent(cid, nxt, t, qty, filled, limit_ticks=limit))
        while add:  # one or more executions for it, at or after its time
            part = draw(st.integers(1, add))
            fills.append(Fill(f"{cid}-x{len(fills)}", cid, t + draw(st.integers(0, 5)), limit,
                              part, Side.BUY))  # fmt: skip
            add -= part
        state = nxt
    return events, fills, t


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[str], list[object], list[object], int]:
    cids = [f"of-{i}" for i in range(1, draw(st.integers(1, 3)) + 1)]
    clean: list[object] = []
    t = 10
    for cid in cids:
        events, fills, t = draw(lifecycle(cid, t))
        # NinjaTrader's order: an execution right after the update announcing it
        merged: list[object] = []
        fi = 0
        for ev in events:
            merged.append(ev)
            while (
                fi < len(fills)
                and fills[fi].t <= ev.t + 5
                and ev.filled > sum(f.quantity for f in fills[:fi])
            ):
                merged.append(fills[fi])
                fi += 1
        merged += fills[fi:]
        clean += merged
    # the same reports shuffled, some several times over (resends, duplicates)
    dupes = draw(st.lists(st.sampled_from(clean), max_size=len(clean))) if clean else []
    delivered = draw(st.permutations(clean + dupes))
    return cids, clean, delivered, len(dupes)


def run(cids: list[str], reports: list[object]) -> OrderManager:
    om = OrderManager()
    for cid in cids:
        om.submit(0, "ESH4", OrderAction.BUY, OrderType.LIMIT, 5, limit_ticks=P, cid=cid)
    for r in reports:
        if isinstance(r, Fill):
            om.apply_fill(r)
        else:
            om.apply_update(r)  # type: ignore[arg-type]
    return om


@SETTINGS
@given(scenario())
def test_reordered_duplicated_reports_end_like_the_clean_ones(case) -> None:  # type: ignore[no-untyped-def]
    cids, clean, delivered, _ = case
    a = run(cids, clean)
    b = run(cids, delivered)
    assert a.counters["updates_impossible"] == 0 and a.counters["updates_after_terminal"] == 0
    assert a.counters["updates_stale"] == 0 and a.counters["updates_duplicate"] == 0
    assert b.snapshot() == a.snapshot()
    unique = {f.execution_id: f for f in clean if isinstance(f, Fill)}
    for cid in cids:
        want = sum(f.quantity for f in unique.values() if f.cid == cid)
        assert a.orders[cid].filled == b.orders[cid].filled == want  # never double counted
        assert len(b.orders[cid].fills) == len({f.execution_id for f in b.orders[cid].fills})
    extra_fills = sum(1 for r in delivered if isinstance(r, Fill)) - len(unique)
    assert b.counters["executions_duplicate"] == extra_fills
    assert b.counters["executions"] == a.counters["executions"] == len(unique)


@SETTINGS
@given(scenario())
def test_an_order_update_never_counts_as_a_fill(case) -> None:  # type: ignore[no-untyped-def]
    cids, clean, _, _ = case
    om = run(cids, [r for r in clean if not isinstance(r, Fill)])
    assert all(o.filled == 0 and not o.fills for o in om.orders.values())
    assert om.counters["executions"] == 0


fills_strategy = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 4), st.integers(-40, 40),
              st.sampled_from(["0", "0.35", "1.18"])),
    min_size=1, max_size=30,
)  # fmt: skip


@SETTINGS
@given(fills_strategy, st.sampled_from(["ESH4", "MNQH4", "CLG4", "GCG4"]))
def test_round_trips_realise_their_cash_flow(raw, symbol) -> None:  # type: ignore[no-untyped-def]
    inst = get_instrument(symbol)
    base = 400_000
    book = PositionBook()
    fills = [Fill(f"E{i}", "c", i, base + px, q, side, Decimal(c), Decimal(0), symbol, "A")
             for i, (side, q, px, c) in enumerate(raw)]  # fmt: skip
    net = sum(f.side.sign * f.quantity for f in fills)
    if net:  # close at the last price so the account ends flat
        side = Side.SELL if net > 0 else Side.BUY
        fills.append(Fill("close", "c", len(fills), base, abs(net), side, instrument=symbol,
                          account="A"))  # fmt: skip
    for f in fills:
        book.apply(f)
        book.apply(f)  # a repeat is ignored
    pos = book.position("A", symbol)
    assert pos.quantity == 0 and not pos.lots and pos.trade is None
    cash = sum(-f.side.sign * f.price_ticks * f.quantity for f in fills)
    assert pos.realized_ticks == cash
    assert sum(t.realized_ticks for t in book.trades) == cash
    assert pos.realized == ticks_to_money(inst, cash)
    assert sum((t.commission for t in book.trades), Decimal(0)) == pos.commission
    assert pos.commission == sum((f.commission for f in fills), Decimal(0))
    for t in book.trades:
        assert not t.open and t.entry_quantity == t.exit_quantity
        assert t.mae_ticks >= max(0, -t.realized_ticks) and t.mfe_ticks >= max(0, t.realized_ticks)
        assert sum(lot.pnl_ticks for lot in t.lots) == t.realized_ticks


@SETTINGS
@given(st.data(), st.integers(1, 6), st.sampled_from([OrderAction.BUY, OrderAction.SELL_SHORT]))
def test_bracket_legs_always_cover_exactly_what_is_open(data, qty, action) -> None:  # type: ignore[no-untyped-def]
    bm = BracketManager(OrderManager())
    d = 1 if action is OrderAction.BUY else -1
    b, _ = bm.submit(0, "ESH4", action, qty, stop_loss_ticks=P - 8 * d, target_ticks=P + 8 * d)
    om = bm.orders.orders
    bm.apply_update(0, OrderEvent(b.entry, S.WORKING, 0, qty))
    entry_side, exit_side = (Side.BUY, Side.SELL) if d > 0 else (Side.SELL, Side.BUY)
    t = 0

    for _ in range(data.draw(st.integers(1, 12))):
        t += 1
        entry = om[b.entry]
        open_qty = bm.net(b) * d
        choices = []
        if entry.filled < qty and not entry.cancel_requested:
            choices.append("entry")
        if open_qty > 0:
            choices += [
                leg for leg in ("stop", "tgt") if b.stop and not om[f"{b.id}.{leg}"].terminal
            ]
        if not choices:
            break
        who = data.draw(st.sampled_from(choices))
        if who == "entry":
            k = data.draw(st.integers(1, qty - entry.filled))
            if entry.filled + k == qty:
                confirm(bm, bm.apply_update(t, OrderEvent(b.entry, S.FILLED, t, qty, qty))[1], t)
            confirm(bm, bm.apply_fill(t, Fill(f"x{t}", b.entry, t, P, k, entry_side))[1], t)
        else:
            cid = f"{b.id}.{who}"
            k = data.draw(st.integers(1, open_qty))
            leg = om[cid]
            if leg.filled + k >= leg.quantity:  # NinjaTrader: the update, then the execution
                confirm(bm, bm.apply_update(t, OrderEvent(cid, S.FILLED, t, leg.quantity,
                                                      leg.filled + k))[1], t)  # fmt: skip
            confirm(bm, bm.apply_fill(t, Fill(f"x{t}", cid, t, P, k, exit_side))[1], t)
        # the invariants, after every report
        entry, open_qty = om[b.entry], bm.net(b) * d
        assert open_qty >= 0
        assert (b.stop is not None) == (entry.filled > 0)
        if b.stop is None or b.target is None:
            continue
        legs = (om[b.stop], om[b.target])
        for leg in legs:
            assert leg.action is (OrderAction.SELL if d > 0 else OrderAction.BUY_TO_COVER)
            if open_qty > 0 and not leg.terminal and not leg.cancel_requested:
                assert leg.requested_quantity == leg.filled + open_qty
        if open_qty == 0:  # closed by the legs: nothing of the bracket may still fill
            for o in (*legs, entry):
                assert o.terminal or o.cancel_requested or o.filled >= o.quantity
    assert not any(o.overfill for o in om.values())


positions_strategy = st.dictionaries(
    st.sampled_from(["ESH4", "MNQH4", "CLG4"]), st.integers(-5, 5), max_size=3
)


@SETTINGS
@given(positions_strategy, positions_strategy, st.lists(st.booleans(), max_size=5),
       st.sampled_from(list(StartBehavior)))  # fmt: skip
def test_reconciliation_leaves_exactly_ninjatraders_picture(ours, theirs, keep, behavior) -> None:  # type: ignore[no-untyped-def]
    om, book = OrderManager(account="A"), PositionBook()
    for i, (sym, qty) in enumerate(ours.items()):
        if qty:
            side = Side.BUY if qty > 0 else Side.SELL
            book.apply(Fill(f"o{i}", "x", 1, 1000, abs(qty), side, instrument=sym, account="A"))
    cids = [om.submit(1, "ESH4", OrderAction.BUY, OrderType.LIMIT, 1, limit_ticks=P).cid
            for _ in keep]  # fmt: skip
    report = BrokerReport(
        10,
        positions=[BrokerPosition("A", sym, q, Fraction(1001)) for sym, q in theirs.items()],
        orders=[BrokerOrder(c, "ESH4", S.WORKING, 1) for c, k in zip(cids, keep, strict=True) if k],
    )
    connection_lost(om)
    rec = reconcile(om, book, report, behavior)
    for sym in {*ours, *theirs}:
        assert book.position("A", sym).quantity == theirs.get(sym, 0)
    for c, k in zip(cids, keep, strict=True):
        assert om.orders[c].state is (S.WORKING if k else S.UNKNOWN) or (
            behavior is StartBehavior.FLATTEN and om.orders[c].cancel_requested
        )
    if behavior is StartBehavior.FLATTEN:
        flat = {c.instrument: c for c in rec.commands if c.op == "submit"}
        assert {s: (1 if c.action is OrderAction.BUY_TO_COVER else -1) * c.quantity
                for s, c in flat.items()} == {s: -q for s, q in theirs.items() if q}  # fmt: skip
        assert sorted(c.cid for c in rec.commands if c.op == "cancel") == sorted(
            c for c, k in zip(cids, keep, strict=True) if k
        )
    else:
        assert rec.commands == []
    busy = any(theirs.values()) or any(keep)
    assert om.reconciled is (behavior is StartBehavior.ADOPT or not busy)
