"""Instrument ownership and the snapshot requests of stale ladders (server/feeds.py), on an
injected clock."""

from __future__ import annotations

import pytest

from orderflow.core.errors import InstrumentOwnedError
from orderflow.server.feeds import Feeds, rest_client


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_websocket_owner_keeps_its_instrument_while_connected():
    feeds = Feeds(clock=Clock())
    feeds.connect("nt8")
    feeds.claim("ESH4", "nt8")
    with pytest.raises(InstrumentOwnedError) as err:
        feeds.claim("ESH4", rest_client("127.0.0.1"))
    assert (err.value.code, err.value.details["owner"], err.value.status_code) == (
        "instrument_owned", "nt8", 409)  # fmt: skip
    assert feeds.owner("ESH4") == "nt8" and feeds.refused == 1
    assert not feeds.may_feed("ESH4", "other")
    feeds.disconnect("nt8")
    feeds.claim("ESH4", "other")
    assert feeds.owner("ESH4") == "other" and feeds.passed_on == 1


def test_a_rest_owner_keeps_its_instrument_until_silent_longer_than_the_setting():
    clock = Clock()
    feeds = Feeds(rest_silence_s=30.0, clock=clock)
    rest = rest_client("127.0.0.1")
    feeds.claim("ESH4", rest)
    clock.t += 30.0
    with pytest.raises(InstrumentOwnedError):
        feeds.claim("ESH4", "nt8")
    feeds.claim("ESH4", rest)  # it speaks again: silent from now
    clock.t += 30.5
    feeds.claim("ESH4", "nt8")
    assert feeds.owner("ESH4") == "nt8"


def test_a_stale_ladder_asks_at_once_then_with_backoff_until_healed():
    clock = Clock()
    feeds = Feeds(clock=clock)
    feeds.claim("ESH4", "nt8")
    feeds.stale("ESH4", "refused", 7, 7, sent=False)
    sent = []
    for _ in range(80):  # 40 s in steps of 0.5 s
        sent += [(clock.t - 100.0, who, r.attempt, r.retry_s) for who, r in feeds.due()]
        clock.t += 0.5
    assert sent == [(0.0, "nt8", 1, 1.0), (1.0, "nt8", 2, 2.0), (3.0, "nt8", 3, 4.0),
                    (7.0, "nt8", 4, 8.0), (15.0, "nt8", 5, 16.0),
                    (31.0, "nt8", 6, 30.0)]  # fmt: skip
    feeds.healed("ESH4")
    clock.t += 60
    assert feeds.due() == [] and feeds.status()["waiting_for_snapshot"] == {}


def test_a_request_sent_with_the_ack_is_repeated_a_second_later_and_a_new_feeder_at_once():
    clock = Clock()
    feeds = Feeds(clock=clock)
    feeds.connect("nt8")
    feeds.claim("ESH4", "nt8")
    feeds.stale("ESH4", "gap", 5, 9, sent=True)
    assert feeds.due() == []
    clock.t += 1.0
    [(who, request)] = feeds.due()
    assert (who, request.reason, request.expected_seq, request.got_seq, request.attempt,
            request.retry_s) == ("nt8", "gap", 5, 9, 2, 2.0)  # fmt: skip
    feeds.disconnect("nt8")
    clock.t += 0.1
    feeds.claim("ESH4", "bridge-2")  # ownership passed on: the new feeder is asked now
    assert [(w, r.attempt) for w, r in feeds.due()] == [("bridge-2", 3)]
