"""A replay chunk's output buffers are not zeroed (``FusedStep._buffers``): the fused step
still equals the separate path bit for bit when every such buffer starts as garbage and every
call gets new ones, on random streams (MBO and NinjaTrader depth, chunks, batches, prints over
the book as it stands) and on the recorded ESH4 day in replay chunks."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from orderflow.engine import Pipeline, fused
from orderflow.io.nt_feed import nt_batches
from orderflow.model.enums import Flags
from tests.unit.engine import test_fused_esh4 as esh4
from tests.unit.engine import test_fused_property as prop
from tests.unit.engine.fused_support import lockstep


def _garbage(shape: Any, dtype: Any = float) -> np.ndarray:
    a = np.empty(shape, dtype=dtype)
    a.view(np.uint8)[...] = 0xA5  # neither 0 nor NO_PRICE: an unwritten cell read shows
    return a


@pytest.fixture
def garbage_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fused, "_scratch", _garbage)
    monkeypatch.setattr(fused, "KEEP_RECORDS", 0)  # every call's buffers are new garbage


def test_garbage_fill_is_seen() -> None:
    """The filler leaves nothing that could pass for a written value."""
    a = _garbage((2, 3), np.int64)
    assert (a != 0).all() and (a != np.iinfo(np.int64).min).all()
    assert (_garbage(4) != 0.0).all()


@pytest.mark.usefixtures("garbage_buffers")
def test_random_mbo_on_garbage_buffers() -> None:
    prop.test_random_mbo()


@pytest.mark.usefixtures("garbage_buffers")
def test_random_ninjatrader_on_garbage_buffers() -> None:
    prop.test_random_ninjatrader()


def _lockstep_rows(calls: list[Callable[[Pipeline], Any]], kind: str, inst: Any) -> Pipeline:
    """:func:`lockstep`, and after every call the liquidity tracker's latest rows (read from
    the call's last top-N row, order counts included) equal the separate path's."""
    last: dict[int, list[Any]] = {}

    def feed(p: Pipeline, call: Callable[[Pipeline], Any]) -> Any:
        out = call(p)
        last.setdefault(id(p), []).append([r.copy() for r in p.liquidity_clusters._last])
        return out

    fused_p, sep = lockstep([lambda p, c=c: feed(p, c) for c in calls], kind, inst)
    got, want = last[id(fused_p)], last[id(sep)]
    assert len(got) == len(want) == len(calls)
    for g, w in zip(got, want, strict=True):
        for a, b in zip(g, w, strict=True):
            assert a.shape == b.shape and np.array_equal(a, b)
            if kind == "nt_depth":
                assert (a[:, 2] == 0).all()  # the ladder has no order counts
    return fused_p


@pytest.mark.slow
@pytest.mark.usefixtures("garbage_buffers")
def test_esh4_replay_chunks_on_garbage_buffers() -> None:
    """``test_fused_esh4.test_pieces(65_536)`` on garbage buffers, in one lockstep run: the
    whole state checked after every call (that test checks it every 7th), the liquidity rows
    too, then the signals of the day in one separate call."""
    s = esh4._stream()
    ev = s.array
    cuts = [*range(0, len(ev), 65_536), len(ev)]
    calls = [lambda p, a=a, b=b: p.process(ev[a:b]) for a, b in itertools.pairwise(cuts)]
    esh4.assert_signals_of_one_call(_lockstep_rows(calls, "mbo", s.instrument))


@pytest.mark.slow
@pytest.mark.usefixtures("garbage_buffers")
def test_esh4_ninjatrader_chunks_on_garbage_buffers() -> None:
    """Also the top N's order counts, which the ladder never writes (zero, as the separate
    path has them)."""
    s = esh4._stream()
    cut = nt_batches(s, 10, 1)
    depth = np.concatenate([b.depth for b in cut])
    trades = np.concatenate([b.trades for b in cut])
    ends = np.flatnonzero(depth["flags"] & Flags.LAST) + 1
    cuts = [0, *(int(e) for e in ends[:: len(ends) // 5][1:]), len(depth)]
    t_ends = [int(np.searchsorted(trades["ts_event"], depth["ts_event"][b - 1], "right"))
              for b in cuts[1:]]  # fmt: skip
    t_cuts = [0, *t_ends]
    calls = [lambda p, a=a, b=b, ta=ta, tb=tb: p.process(depth[a:b], trades[ta:tb])
             for (a, b), (ta, tb) in zip(itertools.pairwise(cuts), itertools.pairwise(t_cuts),
                                         strict=True)]  # fmt: skip
    _lockstep_rows(calls, "nt_depth", s.instrument)
