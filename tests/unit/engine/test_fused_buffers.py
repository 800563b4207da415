"""A replay chunk's output buffers are not zeroed (``FusedStep._buffers``): the fused step
still equals the separate path bit for bit when every such buffer starts as garbage and every
call gets new ones, on random streams (MBO and NinjaTrader depth, chunks, batches, prints over
the book as it stands) and on the recorded ESH4 day in replay chunks; and when the calls share
the thread's lent buffers, each call finding the last one's values there."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from orderflow.engine import Pipeline, fused
from orderflow.io.nt_feed import nt_batches
from orderflow.model.enums import Flags
from tests.unit.engine import test_fused_esh4 as esh4
from tests.unit.engine import test_fused_property as prop
from tests.unit.engine.fused_support import PARAMS, heavy, lockstep


def _garbage(shape: Any, dtype: Any = float) -> np.ndarray:
    a = np.empty(shape, dtype=dtype)
    a.view(np.uint8)[...] = 0xA5  # neither 0 nor NO_PRICE: an unwritten cell read shows
    return a


@pytest.fixture
def garbage_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fused, "_scratch", _garbage)
    monkeypatch.setattr(fused, "KEEP_RECORDS", 0)  # every call's buffers are new garbage
    monkeypatch.setattr(fused, "LEND_RECORDS", 0)  # (none lent)


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


def _lockstep_rows(calls: list[Callable[[Pipeline], Any]], kind: str, inst: Any) -> None:
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


@pytest.mark.slow
@pytest.mark.usefixtures("garbage_buffers")
def test_esh4_replay_chunks_on_garbage_buffers() -> None:
    esh4.test_pieces(65_536)
    s = esh4._stream()
    ev = s.array
    cuts = [*range(0, len(ev), 65_536), len(ev)]
    calls = [lambda p, a=a, b=b: p.process(ev[a:b]) for a, b in itertools.pairwise(cuts)]
    _lockstep_rows(calls, "mbo", s.instrument)


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


@pytest.fixture
def lent_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls of over 64 records use the thread's lent buffers, a new set that starts as
    garbage."""
    monkeypatch.setattr(fused, "_scratch", _garbage)
    monkeypatch.setattr(fused, "KEEP_RECORDS", 64)
    monkeypatch.setattr(fused, "_LENT", fused._Lent())


def _rows(p: Pipeline) -> list[np.ndarray]:
    return [r.copy() for r in p.liquidity_clusters._last]


@pytest.mark.usefixtures("lent_garbage")
def test_lent_buffers_between_pipelines_and_kinds() -> None:
    """An MBO and a NinjaTrader depth pipeline (fused, each with its separate twin) fed in
    turn: the fused ones' chunk calls share one lent set (one width), each call writing over
    the last one's outputs, an L3 book's order counts lying there when a ladder's call comes.
    Read only after every call, each pipeline's state, the liquidity tracker's latest rows
    from its own last call included, equals its twin's."""
    rng = np.random.default_rng(11)
    mbo, nt = prop._mbo(rng, 2400), prop._nt(rng, 2400)
    tr = prop._prints(rng, np.sort(rng.choice(nt["ts_event"], size=800)))
    cuts = [0, 300, 330, 900, 1500, 1540, 2400]  # (30 and 40: the step's own buffers)
    pipes = {kind: tuple(Pipeline(prop.INST, kind, dataclasses.replace(PARAMS, fused=f))
                         for f in (True, False)) for kind in ("mbo", "nt_depth")}  # fmt: skip
    t_at = 0
    for a, b in itertools.pairwise(cuts):
        t_end = int(np.searchsorted(tr["ts_event"], nt["ts_event"][b - 1], side="right"))
        for p in pipes["mbo"]:
            p.process(mbo[a:b])
        for p in pipes["nt_depth"]:
            p.process(nt[a:b], tr[t_at:t_end])
        t_at = t_end
    for kind, (f, sep) in pipes.items():
        assert f.groups > 100 and heavy(f) == heavy(sep)
        for got, want in zip(_rows(f), _rows(sep), strict=True):
            assert np.array_equal(got, want)
            if kind == "nt_depth":
                assert (got[:, 2] == 0).all()
    (lent,) = fused._LENT.sets.values()
    assert lent.owner is not None and lent.owner() is pipes["nt_depth"][0]._fused


@pytest.mark.usefixtures("lent_garbage")
def test_a_chunk_call_that_raised_leaves_the_last_calls_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chunk call writes the lent set and then raises: the liquidity tracker's latest rows
    are still the last finished call's (copied out before the set was written again)."""
    rng = np.random.default_rng(5)
    ev = prop._mbo(rng, 1540)
    f = Pipeline(prop.INST, "mbo", dataclasses.replace(PARAMS, fused=True))
    sep = Pipeline(prop.INST, "mbo", dataclasses.replace(PARAMS, fused=False))
    for p in (f, sep):
        p.process(ev[:520])  # (a set of 1,024 records; the next call's twice its groups)
    entry = fused._MBO

    def raising(*args: Any) -> int:
        if rc := entry.kernel(*args):
            return int(rc)  # (the step grows what the kernel asks for and calls again)
        raise RuntimeError("after the kernel")

    monkeypatch.setattr(fused, "_MBO", SimpleNamespace(fast=None, kernel=raising))
    with pytest.raises(RuntimeError, match="after the kernel"):
        f.process(ev[520:])
    assert f._fused is not None and f._fused._own is None  # (its own buffers again)
    (lent,) = fused._LENT.sets.values()
    assert lent.cap == 1024 and lent.owner is not None and lent.owner() is f._fused
    for got, want in zip(_rows(f), _rows(sep), strict=True):
        assert np.array_equal(got, want)
