"""The kept prints (``KeptPrints``, read by ``Pipeline.prints_since``): exactly the prints after
any count within what is kept, on random pieces of every size (empty, one, many, more than the
arrays hold) with the arrays' unused room filled with garbage after every piece, copies that
later pieces never change, and on ESH4 fed in 100-record pieces against the day's prints."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.analytics.trades import trades_from_mbo
from orderflow.core.errors import ParameterError
from orderflow.engine import Pipeline
from orderflow.engine import pipeline as pipeline_mod
from orderflow.engine.kept_prints import KeptPrints
from tests.unit.engine import test_fused_esh4 as esh4

GARBAGE = -0x5A5A5A5A5A5A5A5A


def _dirty(k: KeptPrints) -> None:
    """Garbage past what is held: a read or a move of anything not written shows."""
    k._ts[k.held :] = GARBAGE
    k._px[k.held :] = GARBAGE


@pytest.mark.parametrize("keep", [1, 7, 64, 300])
def test_random_pieces_exactly_the_prints_after_any_kept_count(keep: int) -> None:
    rng = np.random.default_rng(keep)
    k = KeptPrints(keep)
    ts: list[int] = []
    px: list[int] = []
    held_before: list[tuple[np.ndarray, np.ndarray, list[int], list[int]]] = []
    for _ in range(300):
        n = int(rng.choice([0, 1, 2, 5, keep, 3 * keep + 1, 700]))
        new_ts = rng.integers(0, 2**62, n)
        new_px = rng.integers(-(2**40), 2**40, n)
        k.take(new_ts, new_px)
        ts += new_ts.tolist()
        px += new_px.tolist()
        _dirty(k)
        total = len(ts)
        assert k.taken == total
        assert k.held >= min(keep, total)  # at least the newest ``keep``
        assert k.start == total - k.held
        for count in {0, k.start, *range(max(0, total - keep - 2), total + 3)}:
            got_ts, got_px = k.since(count)
            first = max(count, k.start)
            assert got_ts.tolist() == ts[first:], count
            assert got_px.tolist() == px[first:], count
        a, b = k.since(max(0, total - keep))
        held_before.append((a, b, ts[max(0, total - keep) :], px[max(0, total - keep) :]))
    for a, b, want_ts, want_px in held_before:  # copies: later pieces and moves never change
        assert a.tolist() == want_ts and b.tolist() == want_px


def test_the_arrays_stop_growing_once_big_enough() -> None:
    """After the first pieces a steady stream moves the kept prints to the front, it does not
    allocate: the arrays' size stays bounded by about twice what is kept."""
    k = KeptPrints(1000)
    for i in range(2000):
        k.take(np.full(37, i), np.full(37, -i))
    assert len(k._ts) <= 2 * 1000 + 2 * 37
    assert k.since(k.taken - 1)[0].tolist() == [1999]
    total = 2000 * 37
    assert k.since(total - 1000)[1].tolist() == [-(i // 37) for i in range(total - 1000, total)]


def test_keep_below_one_is_refused() -> None:
    with pytest.raises(ParameterError):
        KeptPrints(0)


@pytest.mark.slow
def test_esh4_in_pieces_against_the_days_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """ESH4 through the pipeline in 100-record pieces, a window of 500 kept prints (the day
    holds far more): after every piece, the prints since each of several counts equal the
    day's own prints (``trades_from_mbo`` over the whole file) from that count on."""
    monkeypatch.setattr(pipeline_mod, "PRINTS_KEPT", 500)
    stream = esh4._stream()
    ev, inst = stream.array, stream.instrument
    day = trades_from_mbo(ev)
    p = Pipeline(inst, "mbo")
    checked = 0
    for a in range(0, len(ev), 100):
        p.process(ev[a : a + 100])
        n = p.trades
        for count in (n - 500, n - 137, n - 1, n, n + 3):
            if count < 0:
                continue
            ts, px = p.prints_since(count)
            assert ts.tolist() == day["ts_event"][count:n].tolist()
            assert px.tolist() == day["price"][count:n].tolist()
            checked += 1
    assert p.trades > 5 * 500 and checked > 1000
