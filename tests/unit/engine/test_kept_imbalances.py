"""The kept book imbalances (``KeptImbalances``, read as ``Pipeline.imbalances``): exactly what a
deque bounded at ``keep`` would hold, after random pieces of every size (empty, one, fewer than
kept, as many, more) and single groups, with garbage past what is held after every step; a read
is a new deque that later pieces never change; and the pipeline in 100-record pieces of ESH4
(a backtest's calls) against one call over the same records, MBO and the separate path."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from orderflow.core.errors import ParameterError
from orderflow.engine import Pipeline, PipelineParams
from orderflow.engine.kept_imbalances import KeptImbalances
from orderflow.io.formats import LoadedStream
from tests.unit.engine import test_fused_esh4 as esh4


def _dirty(k: KeptImbalances) -> None:
    """Garbage past what is held: a read or a move of anything not written shows."""
    k._ts[k.held :] = -0x5A5A5A5A5A5A5A5A
    k._imb[k.held :] = np.nan


@pytest.mark.parametrize("keep", [1, 3, 256])
def test_random_pieces_hold_what_a_bounded_deque_holds(keep: int) -> None:
    rng = np.random.default_rng(keep)
    k = KeptImbalances(keep)
    ref: deque[tuple[int, float]] = deque(maxlen=keep)
    reads = []
    for _ in range(400):
        if rng.random() < 0.3:
            t, x = int(rng.integers(0, 2**62)), float(rng.uniform(-1, 1))
            k.append(t, x)
            ref.append((t, x))
        else:
            n = int(rng.choice([0, 1, 2, max(keep - 1, 0), keep, keep + 1, 3 * keep + 5]))
            ts = rng.integers(0, 2**62, n)
            imb = rng.uniform(-1, 1, n)
            k.take(ts, imb)
            ref.extend(zip(ts.tolist(), imb.tolist(), strict=True))
        _dirty(k)
        got = k.as_deque()
        assert list(got) == list(ref) and got.maxlen == keep
        assert all(type(t) is int and type(x) is float for t, x in got)
        reads.append((got, list(ref)))
    for got, want in reads:  # new deques: later pieces and moves never change them
        assert list(got) == want


def test_keep_below_one_is_refused() -> None:
    with pytest.raises(ParameterError):
        KeptImbalances(0)


@pytest.fixture(scope="module")
def stream() -> LoadedStream:
    return esh4._stream()


@pytest.mark.parametrize("fused", [True, False])
def test_esh4_in_100_record_pieces_as_in_one_call(stream: LoadedStream, fused: bool) -> None:
    """The first 20,000 ESH4 records in a backtest's 100-record pieces: after every piece the
    latest 256 groups' imbalances are those of a pipeline given the same records at once, the
    last one the metrics' own."""
    ev, inst = stream.array[:20_000], stream.instrument
    params = PipelineParams(fused=fused)
    p = Pipeline(inst, "mbo", params)
    checked = 0
    for a in range(0, len(ev), 100):
        p.process(ev[a : a + 100])
        if a % 2_000 == 0 or a + 100 >= len(ev):
            ref = Pipeline(inst, "mbo", params)
            ref.process(ev[: a + 100])
            assert list(p.imbalances) == list(ref.imbalances)
            checked += 1
    assert len(p.imbalances) == 256 and checked >= 10
    assert p.imbalances[-1] == (p.last_ts, float(p.metrics.imbalance))
