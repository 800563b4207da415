"""The replay's controls: paused, nothing is due; a seek forward makes everything up to the
target due at once and ends exactly at it; a speed change re-anchors at the position; a seek
back asks the feeder to start again (only when the replay does not trade: else 409); values out
of range are refused naming the field, and change nothing."""

from __future__ import annotations

import math

import pytest

from orderflow.core.errors import ConflictError, QueryValueError
from orderflow.server.replay import Playback

S = 1_000_000_000


def test_paused_nothing_is_due_and_play_paces_from_the_position() -> None:
    pb = Playback("f", 0, 100 * S, speed=10.0, playing=False)
    assert math.isinf(pb.due_in(1 * S))
    pb.act("play")
    assert pb.due_in(1 * S) <= 0  # the first paced batch starts the clock
    pb.sent(1 * S)
    # 10x: one second of data in a tenth of a second
    assert 0.05 < pb.due_in(2 * S) <= 0.1
    pb.act("pause")
    assert math.isinf(pb.due_in(2 * S))
    pb.act("play")  # re-anchored at the position
    assert 0.05 < pb.due_in(2 * S) <= 0.1


def test_seek_forward_feeds_up_to_the_target_and_ends_exactly_there() -> None:
    pb = Playback("f", 0, 100 * S, speed=1.0, playing=False)
    state = pb.act("seek", ts=50 * S)
    assert state["seeking_to"] == 50 * S
    for t in (10 * S, 49 * S, 50 * S):
        assert pb.due_in(t) == 0.0
        pb.sent(t)
    assert math.isinf(pb.due_in(51 * S))  # past the target: paused again, seek over
    assert pb.state()["seeking_to"] is None and pb.state()["position_ts"] == 50 * S


def test_speed_reanchors_and_bounds_are_checked() -> None:
    pb = Playback("f", 0, 100 * S, speed=1.0)
    pb.due_in(0)
    pb.sent(10 * S)
    pb.act("speed", speed=600)
    assert pb.due_in(10 * S + 600 * S // 100) == pytest.approx(0.01, abs=0.005)
    for kw, field in (({"speed": 0.2}, "speed"), ({"speed": 601}, "speed"),
                      ({"speed": True}, "speed"), ({"speed": "2"}, "speed")):  # fmt: skip
        with pytest.raises(QueryValueError) as e:
            pb.act("speed", **kw)
        assert e.value.details["field"] == field
    with pytest.raises(QueryValueError):
        pb.act("seek", ts=101 * S)
    with pytest.raises(QueryValueError):
        pb.act("jump")
    assert pb.state()["speed"] == 600.0


def test_seek_back_restarts_or_is_refused_when_trading() -> None:
    pb = Playback("f", 0, 100 * S, can_seek_back=False)
    pb.sent(40 * S)
    with pytest.raises(ConflictError):
        pb.act("seek", ts=10 * S)
    assert pb.state()["seeking_to"] is None
    dropped = []
    pb = Playback("f", 0, 100 * S, on_restart=lambda: dropped.append(1))
    pb.sent(40 * S)
    pb.act("seek", ts=10 * S)
    assert pb.restart and pb.due_in(50 * S) == 0.0
    pb.restart_market()
    assert dropped == [1] and not pb.restart and pb.position_ts == 0
    assert pb.due_in(5 * S) == 0.0 and pb.state()["seeking_to"] == 10 * S
