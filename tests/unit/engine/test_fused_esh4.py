"""The fused step equals the separate per-component path bit for bit on the recorded ESH4 MBO
day (47,022 event groups), fed as the live server, a backtest and a replay feed it: every
metric after every call, every bar row with its footprint cells, every cluster, every signal
and accumulated signal with all their fields (see ``fused_support``)."""

from __future__ import annotations

import dataclasses
import itertools
from functools import cache
from typing import Any

import numpy as np
import pytest

from orderflow.engine import Pipeline
from orderflow.io.formats import LoadedStream, load_stream
from orderflow.io.nt_feed import nt_batches
from orderflow.model.enums import Flags
from tests.conftest import ES_MBO, need
from tests.unit.engine.fused_support import PARAMS, heavy, lockstep

pytestmark = pytest.mark.slow


@cache
def _stream() -> LoadedStream:
    return load_stream(need(ES_MBO))


def _calls(ev: np.ndarray, cuts: list[int]) -> list[Any]:
    return [lambda p, a=a, b=b: p.process(ev[a:b]) for a, b in itertools.pairwise(cuts)]


def test_one_group_per_call() -> None:
    """The live path: one event group per call (the separate path's per-group kernels)."""
    s = _stream()
    ev = s.array
    ends = np.flatnonzero((ev["flags"] & (Flags.LAST | Flags.SNAPSHOT)) == Flags.LAST) + 1
    calls = _calls(ev, [0, *ends.tolist()])
    fused, _ = lockstep(calls, "mbo", s.instrument, heavy_every=997, light_every=13)
    assert fused.groups == len(ends) == 47_022
    assert len(fused.signals) > 100 and fused.accumulated  # there is something to compare


@pytest.mark.parametrize("piece", [100, 7_919, 65_536])
def test_pieces(piece: int) -> None:
    """A backtest deciding every 100 records, and replay chunks (a pending tail every call)."""
    s = _stream()
    ev = s.array
    cuts = [*range(0, len(ev), piece), len(ev)]
    fused, _ = lockstep(_calls(ev, cuts), "mbo", s.instrument, heavy_every=7)
    assert_signals_of_one_call(fused)


def assert_signals_of_one_call(fused: Pipeline) -> None:
    """The whole day in one separate call: the same signals and accumulated signals as
    ``fused`` fed the day in pieces (chunk size changes nothing)."""
    s = _stream()
    one = Pipeline(s.instrument, "mbo", dataclasses.replace(PARAMS, fused=False))
    one.process(s.array)
    assert heavy(one)[1][5:7] == heavy(fused)[1][5:7]  # signals and accumulated signals


@pytest.mark.parametrize("batch_events", [1, 100])
def test_ninjatrader_batches(batch_events: int) -> None:
    """The server's path: ESH4 as the bridge's NinjaTrader depth batches with their prints,
    each through ``process_batch`` (batches of one event group, and of >= 100 events)."""
    s = _stream()
    cut = nt_batches(s, 10, batch_events)
    feeds = [lambda p, b=b: p.process_batch(b.depth, b.trades) for b in cut]
    many = batch_events == 1
    fused, _ = lockstep(feeds, "nt_depth", s.instrument, heavy_every=997 if many else 7,
                        light_every=13 if many else 1)  # fmt: skip
    assert fused.trades > 1000 and fused.groups >= len(cut)


def test_ninjatrader_chunks() -> None:
    """NinjaTrader depth events with all their prints in a few big calls: prints are given
    their groups by event time, in the kernel."""
    s = _stream()
    cut = nt_batches(s, 10, 1)
    depth = np.concatenate([b.depth for b in cut])
    trades = np.concatenate([b.trades for b in cut])
    ends = np.flatnonzero(depth["flags"] & Flags.LAST) + 1
    k = len(ends) // 3
    a, b = int(ends[k]), int(ends[2 * k])
    ts_a, ts_b = int(depth["ts_event"][a - 1]), int(depth["ts_event"][b - 1])
    t_a = int(np.searchsorted(trades["ts_event"], ts_a, side="right"))
    t_b = int(np.searchsorted(trades["ts_event"], ts_b, side="right"))
    feeds = [
        lambda p: p.process(depth[:a], trades[:t_a]),
        lambda p: p.process(depth[a:b], trades[t_a:t_b]),
        lambda p: p.process(depth[b:], trades[t_b:]),
    ]
    fused, _ = lockstep(feeds, "nt_depth", s.instrument)
    assert fused.trades == len(trades)
