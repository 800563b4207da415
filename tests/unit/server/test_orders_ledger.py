"""The server's order ledger and rate limiter, without a socket: commands are checked and
numbered per client, answers match their command, executions count once, overfills and
timeouts are flagged; a token bucket slows what exceeds its rate."""

from __future__ import annotations

import pytest

from orderflow.core.errors import RequestError
from orderflow.protocol import CommandAck, Execution, OrderUpdate, PositionUpdate
from orderflow.server.limits import Limits, RateLimiter, TokenBucket
from orderflow.server.orders import OrderLedger

SUBMIT = {"op": "submit", "cid": "of-1", "action": "Buy", "order_type": "Limit", "quantity": 2,
          "limit_price": 4810.25}  # fmt: skip


def ledger(**kw) -> tuple[OrderLedger, list[tuple[str, str, str]]]:
    alerts: list[tuple[str, str, str]] = []
    return OrderLedger(on_alert=lambda *a: alerts.append(a), **kw), alerts


def test_commands_are_numbered_per_client_and_checked() -> None:
    led, _ = ledger()
    c1 = led.issue("nt8", "ESH4", dict(SUBMIT))
    c2 = led.issue("nt8", "ESH4", {"op": "change", "cid": "of-1", "quantity": 3,
                                   "limit_price": 4810.5})  # fmt: skip
    other = led.issue("nt8-b", "ESH4", {**SUBMIT, "cid": "of-2"})
    assert (c1.command_seq, c2.command_seq, other.command_seq) == (1, 2, 1)
    assert c1.action == "Buy" and c1.order_type == "Limit" and c1.limit_price == 4810.25
    assert [c.command_seq for c in led.pending("nt8")] == [1, 2]
    bad = [
        ({**SUBMIT}, "cid"),  # reused
        ({**SUBMIT, "cid": "x", "quantity": 0}, "quantity"),
        ({**SUBMIT, "cid": "x", "order_type": "Limit", "limit_price": 0}, "limit_price"),
        ({**SUBMIT, "cid": "x", "order_type": "StopMarket", "limit_price": 0}, "stop_price"),
        ({**SUBMIT, "cid": "x", "action": None}, "action"),
        ({**SUBMIT, "cid": "x", "action": "Long"}, "action"),
        ({**SUBMIT, "cid": "bad id!"}, "cid"),
        ({"op": "cancel", "cid": "nope"}, "cid"),
    ]
    for fields, name in bad:
        with pytest.raises(RequestError) as err:
            led.issue("nt8", "ESH4", fields)
        assert err.value.details["field"] == name, fields
    assert led.next_command["nt8"] == 2  # refused commands take no number


def test_answers_match_their_command_and_are_taken_once() -> None:
    led, _ = ledger()
    led.issue("nt8", "ESH4", dict(SUBMIT))
    assert not led.acknowledge("nt8", CommandAck("of-1", 7, "done"))  # no such command
    assert not led.acknowledge("other", CommandAck("of-1", 1, "done"))  # not this client's
    assert led.acknowledge("nt8", CommandAck("of-1", 1, "done"))
    assert led.acknowledge("nt8", CommandAck("of-1", 1, "done"))  # a repeat: harmless
    rec = led.orders["of-1"]
    assert rec.commands[0].status == "done" and led.pending("nt8") == []
    assert led.counters["command_acks_repeated"] == 1 and led.counters["command_acks_unknown"] == 2


def test_unanswered_commands_time_out_visibly_and_a_late_answer_is_still_taken() -> None:
    led, alerts = ledger(timeout_s=1.0)
    cmd = led.issue("nt8", "ESH4", dict(SUBMIT))
    assert led.expire(cmd.t + 999_000_000) == []
    [rec] = led.expire(cmd.t + 1_001_000_000)
    assert rec.status == "timed_out" and alerts[0][0] == "command_timeout"
    assert [c.command_seq for c in led.pending("nt8")] == [1]  # sent again on reconnect
    assert led.acknowledge("nt8", CommandAck("of-1", 1, "refused", "not in State.Realtime"))
    assert rec.status == "refused" and rec.reason == "not in State.Realtime"
    assert led.counters["commands_answered_late"] == 1


def test_executions_count_once_and_overfills_are_flagged() -> None:
    led, alerts = ledger()
    led.issue("nt8", "ESH4", dict(SUBMIT))
    fill = Execution(t=1, cid="of-1", execution_id="e1", price=4810.25, quantity=1,
                     market_position="Long")  # fmt: skip
    fill2 = Execution(t=2, cid="of-1", execution_id="e2", price=4810.0, quantity=1,
                      market_position="Long")  # fmt: skip
    updates = [OrderUpdate(t=1, cid="of-1", state=s, quantity=2, filled=f)
               for s, f in (("Submitted", 0), ("Accepted", 0), ("Working", 0),
                            ("PartFilled", 1))]  # fmt: skip
    new = led.apply("ESH4", "nt8", updates, [fill], [])
    assert new == {"orders": 4, "executions": 1, "positions": 0}
    assert led.apply("ESH4", "nt8", [], [fill], [])["executions"] == 0  # resent: once
    led.apply("ESH4", "nt8", [OrderUpdate(t=3, cid="of-1", state="Filled", quantity=2,
                                          filled=2)], [fill2],
              [PositionUpdate(t=3, market_position="Long", quantity=2, average_price=4810.125,
                              account="Sim101")])  # fmt: skip
    d = led.orders["of-1"].to_dict()
    assert (d["state"], d["terminal"], d["filled"], d["avg_fill_price"]) == ("Filled", True, 2,
                                                                             4810.125)  # fmt: skip
    assert d["executions"] == ["e1", "e2"] and not d["overfill"]
    assert led.positions[("ESH4", "Sim101")]["signed_quantity"] == 2
    with pytest.raises(RequestError):  # a filled order cannot be changed
        led.issue("nt8", "ESH4", {"op": "cancel", "cid": "of-1"})
    extra = Execution(t=4, cid="of-1", execution_id="e3", price=4810.0, quantity=1,
                      market_position="Long")  # fmt: skip
    led.apply("ESH4", "nt8", [], [extra], [])
    assert led.orders["of-1"].overfill and alerts[-1][0] == "overfill"
    # an order NinjaTrader reports that we never sent is recorded as not ours
    led.apply("ESH4", "nt8", [OrderUpdate(t=5, cid="manual", state="Working", quantity=1)], [], [])
    assert led.orders["manual"].ours is False and led.counters["orders_foreign"] == 1


def test_historical_only_refuses_every_command() -> None:
    led, _ = ledger(historical_only=True)
    with pytest.raises(RequestError) as err:
        led.issue("nt8", "ESH4", dict(SUBMIT))
    assert err.value.details["field"] == "flags.historical_only"


def test_token_bucket_slows_what_exceeds_the_rate() -> None:
    b = TokenBucket(rate=10.0, burst=5.0)
    t = b.stamp
    assert [b.take(1, t) for _ in range(5)] == [0.0] * 5  # the burst
    assert b.take(1, t) == pytest.approx(0.1)  # one over: a tenth of a second
    assert b.peek(1, t + 0.2) == 0.0  # refilled meanwhile
    assert b.take(3, t + 0.2) == pytest.approx(0.2)
    lim = RateLimiter(Limits(messages_per_s=100, events_per_s=1000, burst_s=1.0))
    t = lim.messages.stamp
    assert lim.take(1000, t) == 0.0 and lim.take(500, t) == pytest.approx(0.5)


def test_a_command_too_old_is_not_sent_again_but_a_late_answer_is_taken() -> None:
    led, _ = ledger(timeout_s=1.0, max_age_s=10.0)
    old = led.issue("nt8", "ESH4", dict(SUBMIT), wire_name="ES 03-24")
    new = led.issue("nt8", "ESH4", {**SUBMIT, "cid": "of-2"})
    assert old.instrument == "ES 03-24" and new.instrument == "ESH4"
    assert led.orders["of-1"].instrument == "ESH4"
    later = old.t + 10_500_000_000
    assert [c.cid for c in led.pending("nt8", later)] == []  # both are over 10 s old
    assert led.orders["of-1"].commands[0].status == "expired"
    assert led.counters["commands_expired"] == 2
    assert led.acknowledge("nt8", CommandAck("of-1", 1, "done"))  # it ran after all
    assert led.orders["of-1"].commands[0].status == "done"
    assert led.counters["commands_answered_late"] == 1
    assert led.acknowledge("nt8", CommandAck("of-1", 1, "done"))  # a repeat now
    assert led.counters["command_acks_repeated"] == 1
