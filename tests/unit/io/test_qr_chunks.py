"""The queue-reactive simulator in chunks: the chunks put together are the records of one call,
record for record, whatever the chunk size; each chunk is bounded; bad settings are refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orderflow.core.errors import ParameterError
from orderflow.io import queue_reactive
from orderflow.io.queue_reactive import QRGenerator, QRParams, simulate_qr
from orderflow.io.simulated import DAY_ACTIVITY, simulate_mbo, simulated_chunks, simulated_source
from orderflow.model.enums import Flags

#: ten minutes of the simulated day's market (about 200,000 records)
TEN_MIN = 600.0


@pytest.fixture(scope="module")
def whole() -> np.ndarray:
    return simulate_mbo(10**8, QRParams(activity=DAY_ACTIVITY), seconds=TEN_MIN)


@pytest.mark.parametrize("chunk_records", [101, 997, 8192, 65_536, 10**7])
def test_ten_minutes_in_chunks_equal_one_call(whole: np.ndarray, chunk_records: int) -> None:
    chunks = [c.records for c in simulated_chunks(TEN_MIN / 3600, chunk_records)]
    assert len(whole) > 150_000
    got = np.concatenate(chunks)
    assert got.dtype == whole.dtype and np.array_equal(got, whole)
    # each chunk is whole exchange events, at most the chunk size plus one event's records
    bound = chunk_records + queue_reactive._SLACK
    assert all(0 < len(c) <= bound for c in chunks)
    assert all(c["flags"][-1] & Flags.LAST for c in chunks)
    if chunk_records < len(whole):
        assert len(chunks) >= len(whole) // (chunk_records + 50)


def test_a_record_limit_cuts_at_the_same_event_in_chunks() -> None:
    for n in (3, 500, 20_001):
        # chunks of one record: every event its own chunk, the opening book in the first
        assert np.array_equal(np.concatenate(list(QRGenerator(n_events=n, chunk_records=1))),
                              simulate_qr(n))  # fmt: skip
        one = simulate_qr(n, QRParams(seed=3))
        parts = list(QRGenerator(QRParams(seed=3), n_events=n, chunk_records=777))
        assert np.array_equal(np.concatenate(parts), one)
        assert len(one) <= n and one["flags"][-1] & Flags.LAST


def test_activity_packs_the_same_events_closer_in_time() -> None:
    slow = simulate_qr(20_000)
    fast = simulate_qr(20_000, QRParams(activity=25.0))
    same = ["order_id", "price", "size", "action", "side", "flags"]
    assert all(np.array_equal(slow[k], fast[k]) for k in same)
    span = (slow["ts_event"][-1] - slow["ts_event"][0]) / (
        fast["ts_event"][-1] - fast["ts_event"][0]
    )
    assert 24.0 < span < 26.0


def test_the_source_is_labelled_simulated_and_lazy() -> None:
    label, opened = simulated_source(23.0)
    assert label.startswith("SIMULATED") and opened.kind == "mbo"
    assert opened.instrument.contract == "ESH4"
    first = next(opened.chunks)  # a day's source hands out its first chunk without the day
    assert len(first.records) <= 65_536 + queue_reactive._SLACK


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_records": 0}, "chunk_records"),
        ({"params": QRParams(activity=0.0)}, "activity"),
        ({"params": QRParams(activity=math.nan)}, "activity"),
        ({"params": QRParams(activity=math.inf)}, "activity"),
        ({"seconds": -1.0}, "seconds"),
        ({"seconds": math.nan}, "seconds"),
    ],
)
def test_bad_generator_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        QRGenerator(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("hours", [0.0, -1.0, math.nan, math.inf, 24 * 7 + 1])
def test_bad_simulated_hours_are_refused_before_anything_runs(hours: float) -> None:
    with pytest.raises(ParameterError, match="simulated hours"):
        simulated_source(hours)
