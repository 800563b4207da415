"""What the fused step does once per small call instead of per call anew (``FusedStep``): its
scalars read through memoryviews of its arrays, a one-group call's result from views built
with the buffers, the signals built only when a detector left rows. Each shortcut against the
separate path, bit for bit, where it would break: calls that replace the buffers (bigger than
kept, then small again), each detector alone, copies of a pipeline."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from orderflow.engine import Pipeline, fused
from orderflow.engine.fused import FusedStep
from orderflow.engine.pipeline import _prints_to
from orderflow.model.dtypes import NT_DEPTH_DTYPE, TRADE_DTYPE
from orderflow.model.enums import Flags
from tests.unit.engine import test_fused_property as prop
from tests.unit.engine.fused_support import heavy, lockstep

INST = prop.INST
_BOUNDARY = int(Flags.LAST | Flags.SNAPSHOT)


def _views_are_its_own(step: FusedStep) -> None:
    """Every memoryview the step reads is a view of the array it holds now."""
    assert id(step._fsv.obj) == id(step.fs) and id(step._pkv.obj) == id(step.pk)
    assert id(step._offv.obj) == id(step.off) and id(step._tsv.obj) == id(step.d_ts)
    kept = [(1, step._depth1), *step._by_nb.items()]  # the kept top N records by group count
    for nb, depth in kept:
        assert len(depth) == nb
        assert np.shares_memory(depth.ts_event, step.d_ts)
        assert np.shares_memory(depth.index, step.d_index)
        assert np.shares_memory(depth.bid_price, step.d_levels)
        assert np.shares_memory(depth.ask_count, step.d_levels)


def _groups(ev: np.ndarray) -> list[int]:
    """The record index after each event group's end."""
    return (np.flatnonzero((ev["flags"] & _BOUNDARY) == int(Flags.LAST)) + 1).tolist()


def _process(ev: np.ndarray, a: int, b: int) -> Callable[[Pipeline], Any]:
    """A call of ``process`` on ``ev[a:b]``."""
    return lambda p: p.process(ev[a:b])


def _batch(ev: np.ndarray, a: int, b: int, tr: np.ndarray) -> Callable[[Pipeline], Any]:
    """A call of ``process_batch`` on ``ev[a:b]`` and the prints ``tr``."""
    return lambda p: p.process_batch(ev[a:b], tr)


def _checked(feed: Callable[[Pipeline], Any]) -> Callable[[Pipeline], Any]:
    def run(p: Pipeline) -> Any:
        out = feed(p)
        if p._fused is not None:
            _views_are_its_own(p._fused)
        return out

    return run


@pytest.mark.parametrize("seed", [1, 2])
def test_small_calls_after_a_call_that_replaced_the_buffers(seed: int) -> None:
    """A replay chunk bigger than the kept buffers gets buffers of its own, dropped after it;
    the one-group calls before and after it read the step's current buffers (a view of the old
    ones would give the old call's times, offsets and imbalances)."""
    rng = np.random.default_rng(seed)
    n = 2 * fused.KEEP_RECORDS + 600
    ev = prop._mbo(rng, n)
    ends = _groups(ev)
    big = next(e for e in ends if e > fused.KEEP_RECORDS + 50)
    after = [e for e in ends if e > big]
    feeds: list[Callable[[Pipeline], Any]] = []
    prev = 0
    for e in ends[:150]:  # group by group
        feeds.append(_process(ev, prev, e))
        prev = e
    feeds.append(_process(ev, prev, big))  # one call past KEEP_RECORDS
    for a, b in itertools.pairwise([big, *after[:150]]):  # group by group again
        feeds.append(_process(ev, a, b))
    params = dataclasses.replace(prop._params(rng), keep_mid_path=True)
    lockstep([_checked(f) for f in feeds], "mbo", INST, params, heavy_every=40)


def test_pieces_of_many_groups_after_calls_that_replaced_the_buffers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A backtest's pieces (a few groups each, the same counts again and again) read views
    kept by their group count: pieces of 4 groups, bigger pieces (the buffers grow), pieces of
    4 again, a chunk past the kept buffers (its own buffers), pieces of 4 again. Each piece
    after a change of buffers reads the buffers of now, never views of the old ones (which
    would give the old calls' times, levels and imbalances); between changes the views are
    cut once per count."""
    cut = FusedStep._cut
    cuts_made: list[int] = []

    def counted(self: FusedStep, nb: int) -> Any:
        cuts_made.append(nb)
        return cut(self, nb)

    monkeypatch.setattr(FusedStep, "_cut", counted)
    rng = np.random.default_rng(7)
    ev = prop._mbo(rng, 2 * fused.KEEP_RECORDS + 3000)
    ends = [0, *_groups(ev)]
    cuts = ends[:60:4] + ends[60:300:40] + ends[300:360:4]
    big = next(e for e in ends if e > cuts[-1] + fused.KEEP_RECORDS + 50)
    cuts += [big, *[e for e in ends if e > big][:60:4]]
    feeds = [_process(ev, a, b) for a, b in itertools.pairwise(cuts)]
    lockstep([_checked(f) for f in feeds], "mbo", INST, prop._params(rng), heavy_every=2)
    assert len(feeds) > 40  # most of them pieces of 4 groups
    assert 3 <= cuts_made.count(4) <= 6  # cut again after each change of buffers only


def test_ninjatrader_batches_after_a_call_that_replaced_the_buffers() -> None:
    """The same for the server's path: one NinjaTrader batch per ``process_batch`` (with and
    without prints), a chunk past the kept buffers, batches again."""
    rng = np.random.default_rng(5)
    n = 2 * fused.KEEP_RECORDS + 600
    ev = prop._nt(rng, n)
    prints = prop._prints(rng, np.sort(rng.choice(ev["ts_event"], size=n // 4)))
    cuts = [*range(0, 300, 3), 300 + fused.KEEP_RECORDS + 10]
    cuts += range(cuts[-1] + 2, cuts[-1] + 302, 2)
    feeds: list[Callable[[Pipeline], Any]] = []
    t_at = 0
    for a, b in itertools.pairwise(cuts):
        t_end = int(np.searchsorted(prints["ts_event"], ev["ts_event"][b - 1], side="right"))
        tr = prints[t_at:t_end]
        feeds.append(_batch(ev, a, b, tr))
        t_at = t_end
    assert sum(1 for a, b in itertools.pairwise(cuts) if b - a > fused.KEEP_RECORDS) == 1
    lockstep([_checked(f) for f in feeds], "nt_depth", INST, prop._params(rng), heavy_every=40)


@pytest.mark.parametrize(
    "detectors",
    [
        frozenset({"large_lot_added", "large_lot_removed", "iceberg", "spoof_pull"}),
        frozenset({"absorption", "sweep", "exhaustion", "iceberg_l2"}),
        frozenset({"pulling", "stacking"}),
        frozenset({"large_lot_added", "spoof_pull", "absorption", "sweep"}),  # (filtered)
    ],
    ids=["l3", "l2", "pull", "part"],
)
def test_each_detector_alone_one_group_per_call(detectors: frozenset[str]) -> None:
    """Signals are built only when a detector left rows: with one detector family alone (its
    count the only one that can be non-zero), every signal it finds group by group comes out,
    as the separate path has it."""
    rng = np.random.default_rng(11)
    ev = prop._mbo(rng, 1500)
    params = dataclasses.replace(prop._params(rng), detectors=detectors)
    feeds = [_process(ev, a, b) for a, b in itertools.pairwise([0, *_groups(ev)])]
    f, _ = lockstep(feeds, "mbo", INST, params, heavy_every=100, light_every=10)
    assert len(f.signals) >= 3, "the stream must make this detector family fire"
    assert {s.detector for s in f.signals} <= detectors


def test_copies_read_their_own_arrays() -> None:
    """A deep copy and a pickled copy of a fused pipeline rebuild the step's memoryviews from
    their own arrays before their first call (memoryviews are not copied), and the original
    goes on exactly as the separate path."""
    rng = np.random.default_rng(3)
    ev = prop._mbo(rng, 600)
    params = prop._params(rng)
    p = Pipeline(INST, "mbo", dataclasses.replace(params, fused=True))
    ref = Pipeline(INST, "mbo", dataclasses.replace(params, fused=False))
    p.process(ev[:300])
    ref.process(ev[:300])
    copies = [copy.deepcopy(p), pickle.loads(pickle.dumps(p))]
    for q in copies:
        assert q._fused is not None
        assert not hasattr(q._fused, "_fsv")
        q.process(ev[300:450])
        _views_are_its_own(q._fused)
        assert p._fused is not None and id(q._fused._fsv.obj) != id(p._fused.fs)
    assert heavy(p) == heavy(ref)
    for a, b in itertools.pairwise([300, *(300 + e for e in _groups(ev[300:]))]):
        assert [repr(s) for s in p.process(ev[a:b])] == [repr(s) for s in ref.process(ev[a:b])]
    assert p._fused is not None
    _views_are_its_own(p._fused)
    assert heavy(p) == heavy(ref)


def test_a_batchs_prints_are_cut_where_numpy_cuts_them() -> None:
    """``process_batch``'s cut (the prints up to the last depth event) by ``bisect`` over the
    times equals numpy's ``searchsorted`` on every input, in time order or not; times other
    than int64 take numpy's (uint64 against an int64 key compares as float64 there)."""
    rng = np.random.default_rng(7)
    depth = np.zeros(3, dtype=NT_DEPTH_DTYPE)
    for k in range(3_000):
        trades = np.zeros(int(rng.integers(1, 30)), dtype=TRADE_DTYPE)
        ts = rng.integers(0, 12, len(trades))
        trades["ts_event"] = ts if k % 2 else np.sort(ts)
        depth["ts_event"][-1] = rng.integers(-1, 13)
        want = int(trades["ts_event"].searchsorted(depth["ts_event"][-1], side="right"))
        assert _prints_to(trades, depth) == want
    big = 1_703_546_674_852_361_891  # (float64 steps of 256 ns here)
    wide = np.zeros(3, dtype=[("ts_event", np.uint64), ("price", np.int64)])
    wide["ts_event"] = [big, big + 1, big + 2]
    depth["ts_event"][-1] = big + 1
    want = int(wide["ts_event"].searchsorted(depth["ts_event"][-1], side="right"))
    assert _prints_to(wide, depth) == want == 3  # (the times' exact cut would be 2)
    packed = np.zeros(4, dtype=[("ts_event", np.int64), ("side", np.uint8)])  # (unaligned)
    packed["ts_event"] = [1, 2, 2, 5]
    depth["ts_event"][-1] = 2
    assert not packed["ts_event"].flags.aligned and _prints_to(packed, depth) == 3
