"""The server's command outbox and rate limiter, without a socket: commands are checked and
numbered per client, answers match their command, unanswered ones time out visibly and are
sent again after a reconnect unless too old; a token bucket slows what exceeds its rate."""

from __future__ import annotations

import pytest

from orderflow.core.errors import RequestError
from orderflow.protocol import CommandAck
from orderflow.server.limits import Limits, RateLimiter, TokenBucket
from orderflow.server.outbox import Outbox
from orderflow.trading.orders import COMMAND_TIMEOUT_NS

SUBMIT = {"op": "submit", "cid": "of-1", "action": "Buy", "order_type": "Limit", "quantity": 2,
          "limit_price": 4810.25}  # fmt: skip
S = 1_000_000_000


def outbox(**kw) -> tuple[Outbox, list[tuple[str, str, str]]]:
    alerts: list[tuple[str, str, str]] = []
    return Outbox(on_alert=lambda *a: alerts.append(a), **kw), alerts


def test_commands_are_numbered_per_client_and_checked() -> None:
    box, _ = outbox()
    c1 = box.issue("nt8", dict(SUBMIT), "ESH4")
    c2 = box.issue("nt8", {"op": "change", "cid": "of-1", "quantity": 3,
                           "limit_price": 4810.5}, "ESH4")  # fmt: skip
    other = box.issue("nt8-b", {**SUBMIT, "cid": "of-2"}, "ESH4")
    assert (c1.command_seq, c2.command_seq, other.command_seq) == (1, 2, 1)
    assert c1.action == "Buy" and c1.order_type == "Limit" and c1.limit_price == 4810.25
    assert [c.command_seq for c in box.pending("nt8")] == [1, 2]
    bad = [
        ({**SUBMIT, "cid": "x", "quantity": 0}, "quantity"),
        ({**SUBMIT, "cid": "x", "order_type": "Limit", "limit_price": 0}, "limit_price"),
        ({**SUBMIT, "cid": "x", "order_type": "StopMarket", "limit_price": 0}, "stop_price"),
        ({**SUBMIT, "cid": "x", "action": None}, "action"),
        ({**SUBMIT, "cid": "x", "action": "Long"}, "action"),
        ({**SUBMIT, "cid": "bad id!"}, "cid"),
        ({"op": "change", "cid": "of-1", "quantity": 0}, "quantity"),
        ({"op": "cancel"}, "cid"),
    ]
    for fields, name in bad:
        with pytest.raises(RequestError) as err:
            box.issue("nt8", fields, "ESH4")
        assert err.value.details["field"] == name, fields
    assert box.next_command["nt8"] == 2  # refused commands take no number
    assert box.timeout_ns == COMMAND_TIMEOUT_NS  # the desk's timeout, one setting


def test_answers_match_their_command_and_are_taken_once() -> None:
    box, _ = outbox()
    box.issue("nt8", dict(SUBMIT), "ESH4")
    assert not box.acknowledge("nt8", CommandAck("of-1", 7, "done"))  # no such command
    assert not box.acknowledge("other", CommandAck("of-1", 1, "done"))  # not this client's
    assert not box.acknowledge("nt8", CommandAck("of-9", 1, "done"))  # another order's
    assert box.acknowledge("nt8", CommandAck("of-1", 1, "done"))
    assert box.acknowledge("nt8", CommandAck("of-1", 1, "done"))  # a repeat: harmless
    [rec] = box.commands_of("nt8", "of-1")
    assert rec.status == "done" and box.pending("nt8") == []
    assert box.counters["command_acks_repeated"] == 1
    assert box.counters["command_acks_unknown"] == 3


def test_unanswered_commands_time_out_visibly_and_a_late_answer_is_still_taken() -> None:
    box, alerts = outbox(timeout_ns=1 * S)
    cmd = box.issue("nt8", dict(SUBMIT), "ESH4")
    assert box.expire(cmd.t + 999_000_000) == []
    [rec] = box.expire(cmd.t + 1_001_000_000)
    assert rec.status == "timed_out" and alerts[0][0] == "command_timeout"
    assert box.expire(cmd.t + 5 * S) == []  # alerted once
    assert [c.command_seq for c in box.pending("nt8")] == [1]  # sent again on reconnect
    assert box.acknowledge("nt8", CommandAck("of-1", 1, "refused", "not in State.Realtime"))
    assert rec.status == "refused" and rec.reason == "not in State.Realtime"
    assert box.counters["commands_answered_late"] == 1


def test_historical_only_refuses_every_command() -> None:
    box, _ = outbox(historical_only=True)
    with pytest.raises(RequestError) as err:
        box.issue("nt8", dict(SUBMIT), "ESH4")
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


def test_the_limiters_take_is_its_two_buckets_takes() -> None:
    """``RateLimiter.take`` is both buckets' ``take`` at one reading of the clock: the same
    levels, stamps and waits, refills, bursts and a clock that goes back included."""
    limits = Limits(messages_per_s=50, events_per_s=2000, burst_s=0.5)
    lim = RateLimiter(limits)
    msgs, evs = (TokenBucket(r, r * 0.5) for r in (50.0, 2000.0))
    for b in (lim.messages, lim.events, msgs, evs):
        b.stamp = 100.0
    steps = [(100, 100.0), (900, 100.001), (400, 100.002), (0, 100.5), (3000, 100.5),
             (7, 99.0), (120, 101.25), *((101, 101.25 + k / 97) for k in range(60))]  # fmt: skip
    for events, now in steps:
        want = max(msgs.take(1, now), evs.take(events, now))
        assert lim.take(events, now) == want
        for a, b in ((lim.messages, msgs), (lim.events, evs)):
            assert (a.level, a.stamp) == (b.level, b.stamp)


def test_a_command_too_old_is_not_sent_again_but_a_late_answer_is_taken() -> None:
    box, _ = outbox(timeout_ns=1 * S, max_age_ns=10 * S)
    old = box.issue("nt8", dict(SUBMIT), "ES 03-24")
    new = box.issue("nt8", {**SUBMIT, "cid": "of-2"}, "ESH4")
    assert old.instrument == "ES 03-24" and new.instrument == "ESH4"
    later = old.t + 10_500_000_000
    assert [c.cid for c in box.pending("nt8", later)] == []  # both are over 10 s old
    [rec] = box.commands_of("nt8", "of-1")
    assert rec.status == "expired"
    assert box.counters["commands_expired"] == 2
    assert box.acknowledge("nt8", CommandAck("of-1", 1, "done"))  # it ran after all
    assert rec.status == "done"
    assert box.counters["commands_answered_late"] == 1
    assert box.acknowledge("nt8", CommandAck("of-1", 1, "done"))  # a repeat now
    assert box.counters["command_acks_repeated"] == 1
