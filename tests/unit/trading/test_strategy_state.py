"""The strategy host's own memory as the journal keeps it: :meth:`StrategyHost.state` and
:meth:`StrategyHost.restore` round-trip exactly over the same desk; a value of the wrong type
or out of range is refused (the entry stays ``restored``); the replay takes the latest state
record per instrument and reads journals written before there were any."""

from __future__ import annotations

import copy

from orderflow.trading.desk import OrderDesk
from orderflow.trading.host import StrategyHost
from orderflow.trading.journal import JournalEvent
from orderflow.trading.journal_replay import replay_desk
from orderflow.trading.strategy import SignalStrategy
from tests.unit.trading.test_strategy import ASK, ES, T0, Reports, S, entered, host, market

RULES = {"breakeven_after_ticks": 4, "trail": "ticks", "trail_ticks": 6, "trail_after_ticks": 8}


def traded() -> StrategyHost:
    """A long entry of 3 at ASK whose stop went to breakeven and then trailed."""
    h = host(**RULES)  # type: ignore[arg-type]
    r = Reports(h)
    entered(h, r, price=ASK)
    for i, last in enumerate([ASK + 5, ASK + 12]):
        r.work(h.step(market(T0 + (i + 1) * S, last=last)), T0 + (i + 1) * S + 1)
    return h


def again(h: StrategyHost) -> StrategyHost:
    """A host made after a restart over the same desk and risk manager."""
    return StrategyHost(ES, SignalStrategy(h.strategy.params), h.params, desk=h.desk,  # type: ignore[attr-defined]
                        risk=h.risk)  # fmt: skip


def test_the_state_round_trips_exactly() -> None:
    h = traded()
    st = h.state()
    (bid,) = st["entries"]
    e = st["entries"][bid]
    assert (e["kind"], e["best_ticks"], e["stop_ticks"], e["moved"], e["breakeven"]) == (
        "entry", ASK + 12, ASK + 6, "trail_ticks", True)  # fmt: skip
    assert e["targets"] == [ASK + 8, ASK + 16, ASK + 24] and e["instrument"] == "ESH4"
    assert st["counts"] == {"last_entry_ns": T0, "since_flat": 1}
    h2 = again(h)
    assert h2.restore(copy.deepcopy(st)) == 1
    assert h2.state() == st
    # it decides as the first would: nothing at +10 (the trail stays), a move at +14
    assert h2.step(market(T0 + 3 * S, last=ASK + 10)) == []
    (move,) = h2.step(market(T0 + 4 * S, last=ASK + 14))
    assert move.stop_ticks == ASK + 8


def test_a_state_that_does_not_check_out_is_refused() -> None:
    h = traded()
    st = h.state()
    (bid,) = st["entries"]
    for bad in ({"best_ticks": "19250"}, {"best_ticks": True}, {"submitted_ns": -1},
                {"kind": 3}, {"sizing": [1]}):  # fmt: skip
        wrong = copy.deepcopy(st)
        wrong["entries"][bid].update(bad)
        h2 = again(h)
        assert h2.restore(wrong) == 0 and h2.counters["strategy_state_refused"] == 1
        h2.context(market(T0 + 3 * S, last=ASK + 10))
        assert h2.state()["entries"][bid]["kind"] == "restored"
    # an entry the desk no longer holds live, or counts of the wrong type: skipped
    h2 = again(h)
    assert h2.restore({"counts": {"since_flat": "1"}, "entries": {"of-99": {}}}) == 0


def event(seq: int, kind: str, payload: object, instrument: str = "ESH4") -> JournalEvent:
    import msgspec

    raw = msgspec.json.encode(payload)
    return JournalEvent(seq, T0 + seq, "2024-03-05", kind, instrument, "", "", payload, raw,
                        "nt8")  # fmt: skip


def test_the_replay_takes_the_latest_state_and_reads_old_journals() -> None:
    old = {"intent": "enter", "outcome": "sent", "entry_id": "of-1", "detail": "3 Market"}
    first = {"intent": "state", "outcome": "", "entry_id": "", "detail": "",
             "state": {"version": 1, "counts": {"since_flat": 1}, "entries": {}}}  # fmt: skip
    last = copy.deepcopy(first)
    last["state"]["counts"]["since_flat"] = 2  # type: ignore[index]
    broken = {**first, "state": "not a state"}
    got = replay_desk([event(1, "strategy", old), event(2, "strategy", first),
                       event(3, "strategy", last), event(4, "strategy", broken)],
                      OrderDesk("Sim101"))  # fmt: skip
    assert got.strategy == {"ESH4": last["state"]} and not got.mismatches
    # a journal from before state records: no state, the entries come back as "restored"
    assert replay_desk([event(1, "strategy", old)], OrderDesk("Sim101")).strategy == {}
