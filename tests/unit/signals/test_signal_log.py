"""SignalLog: every count kept, only the latest entries; readers by cursor get exactly what a
list would have given them while they keep up, and a read of what is gone is refused."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from orderflow.core.errors import ArgumentError, ParameterError
from orderflow.engine.pipeline import PipelineParams
from orderflow.signals.signal_log import SignalLog


@dataclass(frozen=True)
class _S:
    n: int
    direction: int


def _items(n: int, seed: int = 1) -> list[_S]:
    rng = random.Random(seed)
    return [_S(i, rng.choice((-1, 0, 1))) for i in range(n)]


def test_random_cursors_read_what_a_list_gives_while_they_keep_up() -> None:
    rng = random.Random(7)
    ref: list[_S] = []
    log: SignalLog[_S] = SignalLog(16)
    cursors = [0, 0, 0]
    for step, item in enumerate(_items(2000)):
        log.append(item)
        ref.append(item)
        assert len(log._ring) <= 16 and len(log) == len(ref)
        assert (log.long, log.short) == (
            sum(a.direction > 0 for a in ref),
            sum(a.direction < 0 for a in ref),
        )
        for k in range(3):
            if rng.random() < 0.3 or step % 15 == 0:  # never more than 15 behind
                assert log.missed(cursors[k]) == 0
                assert log.since(cursors[k]) == ref[cursors[k] :]
                cursors[k] = len(log)
    assert log.latest(5) == ref[-5:] and log.latest(100) == ref[-16:]
    assert log[-1] == ref[-1] and log[-16] == ref[-16] and log[-4:] == ref[-4:]
    assert log[len(ref) - 3 : len(ref) - 1] == ref[-3:-1]


def test_a_reader_too_far_behind_gets_the_kept_ones_and_learns_how_many_it_missed() -> None:
    log: SignalLog[_S] = SignalLog(10, _items(25))
    assert log.first_kept == 15 and log.missed(3) == 12 and log.missed(15) == 0
    assert [s.n for s in log.since(3)] == list(range(15, 25))
    assert log.since(25) == [] and log.since(40) == [] and log.missed(40) == 0


def test_reading_a_position_no_longer_kept_is_refused_not_partial() -> None:
    log: SignalLog[_S] = SignalLog(10, _items(25))
    with pytest.raises(ArgumentError, match="no longer kept"):
        list(log)
    with pytest.raises(ArgumentError, match="no longer kept"):
        log[0]
    with pytest.raises(ArgumentError, match="no longer kept"):
        log[:5]
    with pytest.raises(ArgumentError, match="no longer kept"):
        _ = log == list(range(25))
    with pytest.raises(IndexError):
        log[25]
    with pytest.raises(ArgumentError, match="step"):
        log[15:25:2]


def test_keep_all_is_a_plain_history() -> None:
    items = _items(5000)
    log: SignalLog[_S] = SignalLog(None, items)
    assert list(log) == items and log == items and log[:50] == items[:50]
    assert log == SignalLog(None, items) and log != SignalLog(None, items[:-1])
    assert log.missed(0) == 0 and log.since(4990) == items[4990:]


@pytest.mark.parametrize("kept", [0, -1, True])
def test_a_bound_below_one_is_refused(kept: int) -> None:
    with pytest.raises(ParameterError):
        SignalLog(kept)


def test_pipeline_params_refuse_a_bound_below_one() -> None:
    with pytest.raises(ParameterError, match="signals_kept"):
        PipelineParams(signals_kept=0)
    assert PipelineParams(signals_kept=None).signals_kept is None
