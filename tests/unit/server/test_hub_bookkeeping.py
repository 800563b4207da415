"""The Hub's bookkeeping shortcuts change nothing: on ESH4 as the bridge sends it, a hub with
them and one going the long way (:mod:`tests.reference.bookkeeping`: every time gathered in
lists, the owner re-claimed from scratch, every desk marked by every print, the heal called for
every batch, a fresh refusal count) give the same acks byte for byte, the same marks, open P&L
and risk state, with a position open whose loss crosses the daily limit through the prints (the
kill switch engaged and the flatten sent, the same on both), beside a trading client without
a position; the time window's check refuses what the long way refuses, with the same field and
message, in every part of a batch."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import pytest

import orderflow.server.hub as hub_module
from orderflow.core.errors import InstrumentOwnedError, RequestError
from orderflow.protocol import (
    EARLIEST_NS,
    FUTURE_NS,
    Ack,
    Batch,
    Execution,
    OrderUpdate,
    PositionUpdate,
    check_batch,
    columnar,
    encode,
    packed,
)
from orderflow.server.feeds import Feeds
from orderflow.server.hub import Hub
from orderflow.server.trading import ServerTradingParams
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams
from tests.integration.test_server import esh4_batches
from tests.reference import bookkeeping as ref

N = 240  # ESH4 batches per run (the first ones: about 24,000 depth events and their prints)


def both_checks(batch: Batch, recv_ns: int) -> None:
    """The time window checked both ways: the same refusal (field and message) or none."""
    errors: list[str | None] = []
    for check in (check_batch, ref.check_batch):
        try:
            check(batch, recv_ns)
            errors.append(None)
        except RequestError as exc:
            errors.append(f"{exc.details.get('field')}: {exc.message}")
    assert errors[0] == errors[1]
    if errors[0] is not None:
        check_batch(batch, recv_ns)


def same_ack(a: Ack | None, b: Ack | None) -> None:
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        a, b = (msgspec.structs.replace(x, processing_us=0.0) for x in (a, b))
        for encoding in ("json", "msgpack"):
            assert encode(a, encoding) == encode(b, encoding)


def trading_hub(loss_limit: float = 0.0) -> Hub:
    risk = RiskParams(book_stale_ms=0.0, kill_on_disconnect=False, kill_on_crossed_book=False,
                      max_position=10, max_order_size=10, daily_loss_limit=loss_limit)  # fmt: skip
    h = Hub(trading=TradingParams(risk=risk),
            trading_server=ServerTradingParams(enabled=False, use_sessions=False))  # fmt: skip
    for client in ("nt8", "watcher"):  # the feeder's desk, and a desk of a client that trades
        h.trading.of(client)  # nothing here (its own instrument is elsewhere)
        h.trading.connected(client, False)
    return h


def state_of(h: Hub) -> dict[str, Any]:
    """What the bookkeeping may touch: owners and asks, sequence numbers, counters, every
    desk's positions (marks, MFE/MAE), open P&L and risk state, the commands sent."""
    out: dict[str, Any] = {
        "owners": dict(h.feeds.owners),
        "asks": {k: a.request for k, a in h.feeds.asks.items()},
        "feeds": (h.feeds.refused, h.feeds.passed_on, h.feeds.requests),
        "last_seq": dict(h.last_seq),
        "counters": dict(h.counters),
        "rejected": {k: dict(st.rejected) for k, st in h.instruments.items()},
        "commands": [
            (
                r.client,
                r.command.op,
                r.command.instrument,
                r.command.cid,
                r.command.action,
                r.command.quantity,
                r.status,
            )
            for r in h.outbox.sent.values()
        ],
    }
    for name, node in h.trading.clients.items():
        risk = dataclasses.asdict(node.risk.state)
        for k in ("day", "order_times", "last_book_ns", "cooloff_until_ns", "disconnected_ns"):
            risk.pop(k, None)  # clock readings: each hub's own
        out[name] = {
            "positions": {
                k: (
                    p.quantity,
                    p.last_mark,
                    None if p.trade is None else (p.trade.mfe_ticks, p.trade.mae_ticks),
                )
                for k, p in node.desk.positions.positions.items()
            },
            "open_pnl": node.open_pnl(),
            "risk": risk,
        }
    return out


def run_both(
    batches: list[Batch], monkeypatch: pytest.MonkeyPatch, make: Callable[[], Hub],
    each: bool = False,
    after: Callable[[Hub, Batch], None] | None = None,
) -> tuple[Hub, Hub]:  # fmt: skip
    """``batches`` through a hub with the shortcuts and one going the long way, batch by
    batch; every ack the same bytes, every refusal the same (``each``: and the same state
    after every batch; ``after``: called with the fast hub and the batch after each)."""
    monkeypatch.setattr(hub_module, "check_batch", both_checks)
    fast, slow = make(), ref.long_way(make())
    for b in batches:
        out = []
        for h in (fast, slow):
            try:
                out.append((*h.apply(b, "nt8"), None))
            except RequestError as exc:
                out.append((None, None, repr(exc)))
        (a, ra, ea), (b2, rb, eb) = out
        same_ack(a, b2)
        assert ra == rb and ea == eb
        if each:
            assert state_of(fast) == state_of(slow)
        if after is not None:
            after(fast, b)
    return fast, slow


def test_esh4_with_trading_desks_without_a_position_is_the_long_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches = [packed(b) for b in esh4_batches()[0][:N]]
    fast, slow = run_both(batches, monkeypatch, trading_hub)
    state = state_of(fast)
    assert state == state_of(slow)
    assert state["nt8"]["positions"] == {} and state["owners"] == {"ESH4": "nt8"}
    assert state["counters"]["batches"] == N


def test_a_position_marked_by_esh4_prints_crosses_the_loss_limit_as_the_long_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A short position opened at the first print, the daily loss limit set to be crossed by
    the prints' rise: the kill switch engages at the same print both ways, the same marks,
    MFE/MAE, open P&L and flatten."""
    feed = [packed(b) for b in esh4_batches()[0][:N]]
    prints = [t.price for b in feed for t in b.ticks]
    first, high = prints[0], max(prints)
    assert high >= first + 1.0  # the prints rise at least 4 ticks above the entry
    limit = 50.0 * 2 * (high - first) / 2  # half of the deepest open loss of 2 contracts
    k = next(i for i, b in enumerate(feed) if b.ticks)  # the batch of the first print
    t0 = feed[k].ticks[0].t
    fill = Execution(t=t0, cid="manual", execution_id="x1", price=first, quantity=2,
                     market_position="Short")  # fmt: skip
    opened = Batch(instrument=feed[0].instrument, seq=k + 2, orders=[
        OrderUpdate(t=t0, cid="manual", state="Filled", quantity=2, filled=2,
                    avg_fill_price=first, limit_price=first)], executions=[fill],
        positions=[PositionUpdate(t=t0, market_position="Short", quantity=2, average_price=first,
                                  account="Sim101")])  # fmt: skip
    batches = [*feed[: k + 1], opened,
               *(msgspec.structs.replace(b, seq=b.seq + 1) for b in feed[k + 1 :])]  # fmt: skip
    marked = []

    def mark_is_the_last_print(h: Hub, b: Batch) -> None:
        positions = h.trading.clients["nt8"].desk.positions.positions
        if b.ticks and positions:
            [p] = positions.values()
            assert p.last_mark == h.state("ESH4").instrument.to_ticks(b.ticks[-1].price)
            marked.append(b.seq)

    fast, slow = run_both(batches, monkeypatch, lambda: trading_hub(limit), each=True,
                          after=mark_is_the_last_print)  # fmt: skip
    assert len(marked) > 50
    state = state_of(fast)
    assert state == state_of(slow)
    assert state["nt8"]["risk"]["daily_stop"] == "daily_loss_limit"  # at the same batch
    assert state["commands"] == [("nt8", "submit", "ES 03-24", "of-1.flat", "BuyToCover", 2,
                                  "pending")]  # the flatten  # fmt: skip
    [(qty, mark, _)] = state["nt8"]["positions"].values()
    assert qty == -2 and mark == fast.state("ESH4").instrument.to_ticks(prints[-1])
    assert state["watcher"]["positions"] == {} and not state["watcher"]["risk"]["kill"]


def test_the_time_window_refuses_as_the_long_way_in_every_part_of_a_batch() -> None:
    """ESH4's batches as rows, columns and packed columns, each time moved out of the window
    (before 1980, more than a day after receipt) in turn at the first, a middle and the last
    place of each part: the same refusal, field and message, as the long way; inside the
    window, none."""
    now = time.time_ns()
    early, late = EARLIEST_NS - 1, now + FUTURE_NS + 1
    t0 = esh4_batches()[0][0].depth[0].t
    reports = Batch(instrument="ES 03-24", seq=1, orders=[
        OrderUpdate(t=t0, cid="a", state="Working", quantity=1)] * 3, executions=[
        Execution(t=t0, cid="a", execution_id="x", price=4800.0, quantity=1,
                  market_position="Long")] * 3, positions=[
        PositionUpdate(t=t0, market_position="Flat", quantity=0)] * 3)  # fmt: skip
    checked = refused = 0
    for b in [*esh4_batches()[0][:40], reports]:
        for form in (b, columnar(b), packed(b)):
            both_checks(form, now)
            checked += 1
            for name in ("depth", "ticks", "orders", "executions", "positions"):
                items = getattr(form, name)
                for i in sorted({0, len(items) // 2, len(items) - 1} if items else set()):
                    for t in (early, late):
                        moved = list(items)
                        moved[i] = msgspec.structs.replace(moved[i], t=t)
                        bad = msgspec.structs.replace(form, **{name: moved})
                        with pytest.raises(RequestError) as err:
                            both_checks(bad, now)
                        assert err.value.details["field"] == f"{name}[{i}].t"
                        refused += 1
            c = form.columns
            if c is not None and c.n:
                ts = list(c.t) if not isinstance(c.t, bytes) else None
                for i in sorted({0, c.n // 2, c.n - 1}):
                    for t in (early, late):
                        if ts is not None:
                            moved_t: Any = [*ts[:i], t, *ts[i + 1 :]]
                        else:
                            arr = np.frombuffer(c.t, dtype="<i8").copy()
                            arr[i] = t
                            moved_t = arr.tobytes()
                        bad = msgspec.structs.replace(
                            form, columns=msgspec.structs.replace(c, t=moved_t)
                        )
                        with pytest.raises(RequestError) as err:
                            both_checks(bad, now)
                        assert err.value.details["field"] == f"columns.t[{i}]"
                        refused += 1
    assert checked == 41 * 3 and refused > 41 * 3 * 4


def test_the_owner_s_next_batch_only_renews_its_time_and_a_stranger_is_still_refused() -> None:
    """The owner's claim as a lookup: its time renewed, a pending snapshot request's schedule
    untouched, nothing passed on; the long way's state after each step."""
    clock = [100.0]
    fast, slow = Feeds(clock=lambda: clock[0]), Feeds(clock=lambda: clock[0])
    slow.claim = ref.claim.__get__(slow)  # type: ignore[method-assign]
    for f in (fast, slow):
        f.connect("a")
        f.claim("ESH4", "a")
        f.stale("ESH4", "gap", 3, 5, sent=True)
    for _ in range(3):
        clock[0] += 0.5
        for f in (fast, slow):
            f.claim("ESH4", "a")
            with pytest.raises(InstrumentOwnedError):
                f.claim("ESH4", "b")
        states = [(f.owners, f.seen, f.refused, f.passed_on,
                   {k: (a.next_at, a.retry, a.attempt) for k, a in f.asks.items()})
                  for f in (fast, slow)]  # fmt: skip
        assert states[0] == states[1]
        assert fast.seen["a"] == clock[0] and fast.asks["ESH4"].next_at == 101.0
    assert fast.refused == 3 and fast.passed_on == 0


def test_a_refused_batch_in_a_pipelined_run_keeps_its_count_in_a_counter() -> None:
    """The undo snapshot taken as a plain dict: a pipelined run with an off-grid price in its
    middle puts the conversion back as a Counter (health adds the counts), the refusal's count
    kept, the batches before it applied together and those after it one by one."""
    rows = esh4_batches()[0][:30]
    bad = rows[15]
    depth = list(bad.depth)
    depth[3] = msgspec.structs.replace(depth[3], price=depth[3].price + 0.1)
    rows = [*rows[:15], msgspec.structs.replace(bad, depth=depth), *rows[16:]]
    h = Hub()
    for b in rows[:5]:
        h.apply(b, "nt8")
    out = h.apply_many(rows[5:], "nt8")
    errors = [(b.seq, e.details.get("field")) for b, _, _, e in out if e is not None]
    assert errors == [(16, "depth[3].price")]
    assert out[0][1] is not None and out[0][1].first_seq == 6 and out[0][1].seq == 15
    st = h.state("ESH4")
    assert type(st.rejected) is Counter and st.rejected == Counter({"off_tick": 1})
    assert h.health()["instruments"]["ESH4"]["rejected"]["off_tick"] == 1
