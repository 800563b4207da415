"""Replay chunks: the pipeline a replay leaves does not depend on the chunk size, and a chunk
sizes the L3 detectors for its orders up front (capacity only: the same signals)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from orderflow.engine import Pipeline
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


def test_a_chunk_reserves_the_l3_detectors_room() -> None:
    """The first chunk of ESH4 through the fused step: the L3 detectors hold room for its ADD
    records before the kernel runs (no doubling on the way), and every call equals the
    separate path (which grows as it goes)."""
    s = load_stream(need(ES_MBO))
    ev = s.array
    cuts = [*range(0, len(ev), CHUNK), len(ev)]
    calls: list[Any] = [lambda p, a=a, b=b: p.process(ev[a:b]) for a, b in itertools.pairwise(cuts)]
    fused, sep = lockstep(calls, "mbo", s.instrument)
    assert fused.groups == sep.groups == 47_022
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
