"""Replay chunks: the pipeline a replay leaves does not depend on the chunk size, and a chunk
sizes the L3 detectors for its orders up front (capacity only: the same signals)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from orderflow.engine import Pipeline, fused
from orderflow.engine import _fused_kernels as F
from orderflow.engine.runner import CHUNK, run_stream
from orderflow.io.formats import load_stream
from orderflow.model.enums import Action
from orderflow.signals import _l3_detect_kernels as L3D
from orderflow.signals.detectors_l3 import _RESERVE_ORDERS
from tests.conftest import ES_MBO, need
from tests.unit.engine.fused_support import PARAMS, heavy, lockstep, tiny

pytestmark = pytest.mark.slow


def _results(p: Pipeline) -> Any:
    """:func:`heavy` but for the capacity of the liquidity tracker's bucket arrays (sized by
    the price span of the calls that grew them; the clusters they hold are compared)."""
    h, t = heavy(p), tiny(p)
    return h[1], h[0][0], h[0][2:], t[:7], t[10:]


def test_replay_chunk_size_changes_nothing() -> None:
    s = load_stream(need(ES_MBO))
    ours = run_stream("mbo", s.array, s.instrument, PARAMS)
    for chunk in (65_536, 4_099):
        other = run_stream("mbo", s.array, s.instrument, PARAMS, chunk=chunk)
        assert _results(other) == _results(ours), chunk
    assert ours.groups == 47_022 and len(ours.signals) > 100


def _table_true(step: fused.FusedStep) -> None:
    """Every row of the kernel's table names its array's address and shape."""
    rows = [*step._parts(), (F.T_BSTATE, step.bstate), (F.T_D_INDEX, step.d_index),
            (F.T_D_TS, step.d_ts), (F.T_D_LEVELS, step.d_levels), (F.T_TCOL, step.tcol),
            (F.T_OFF, step.off), (F.T_MI, step.mi)]  # fmt: skip
    assert len({r for r, _ in rows}) == step.rows
    for row, arr in rows:
        if row == F.T_LQ_LI:  # (settings and base, built anew by each look: the held one)
            held = step._held[row]
            assert held is not None and held.tobytes() == arr.tobytes()
            arr = held
        got = step.tab[row]
        assert got[0] == arr.ctypes.data, row
        assert tuple(got[1 : 1 + arr.ndim].tolist()) == arr.shape, row


def test_a_chunk_reserves_the_l3_detectors_room(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first chunk of ESH4 through the fused step: the L3 detectors hold room for its ADD
    records (and the book slots they map) before the kernel runs (no doubling on the way), and
    every call equals the separate path (which grows as it goes). The other parts grow on the
    way (the book metrics' OFI ring, momentum's ring, the liquidity buckets, the L2 detectors'
    arrays), each to the size the doublings one by one reach in one copy, and only the grown
    part's rows are bound again (a row whose array the step already holds stands): after every
    call every row of the kernel's table still names its array."""
    s = load_stream(need(ES_MBO))
    ev = s.array
    grown: list[int] = []
    grow = fused.FusedStep._grow

    def count(self: fused.FusedStep, rc: int, *a: Any, **k: Any) -> None:
        grown.append(rc)
        grow(self, rc, *a, **k)

    monkeypatch.setattr(fused.FusedStep, "_grow", count)

    def call(p: Pipeline, a: int, b: int) -> Any:
        out = p.process(ev[a:b])
        if p._fused is not None:  # (the separate path has no table)
            _table_true(p._fused)
        return out

    cuts = [*range(0, len(ev), CHUNK), len(ev)]
    calls: list[Any] = [lambda p, a=a, b=b: call(p, a, b) for a, b in itertools.pairwise(cuts)]
    fused_p, sep = lockstep(calls, "mbo", s.instrument)
    assert fused_p.groups == sep.groups == 47_022
    assert {F.R_BM_RING, F.R_MOM_RING, F.R_LIQ, F.R_L2} <= set(grown), grown
    one = Pipeline(s.instrument, "mbo", PARAMS)
    first = ev[:CHUNK]
    adds = int(np.count_nonzero(first["action"] == int(Action.ADD)))
    assert adds > 1000
    det = one._fused._l3 if one._fused is not None else None
    assert det is not None
    before = int(det._st[L3D.H_OCAP])
    one.process(first)
    cap = int(det._st[L3D.H_OCAP])
    assert cap >= min(adds, _RESERVE_ORDERS) > before
    assert int(det._st[L3D.H_BCAP]) == cap  # (and as many of the book's slots)
