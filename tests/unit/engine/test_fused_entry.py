"""The fused kernels called without numba's dispatcher (``engine._fused_entry``): the direct
entry is the compiled version numba chose for exactly the arguments' types, taken only from a
call with arguments typed as the step's (C-contiguous, aligned, writable), and anything typed
otherwise goes through the dispatcher. The pipeline's own calls use it (so the fused-versus-
separate tests run on it)."""

from __future__ import annotations

import itertools

import numba
import numpy as np

from orderflow.engine import Pipeline, fused
from orderflow.engine import _fused_kernels as F
from orderflow.engine._fused_entry import Entry, plain
from orderflow.model.dtypes import MBO_DTYPE
from tests.unit.engine import test_fused_property as prop
from tests.unit.engine.fused_support import lockstep


@numba.njit
def _kernel(a: np.ndarray, rec: np.ndarray, out: np.ndarray) -> int:
    s = 0
    for k in range(len(rec)):
        s += int(rec[k]["size"]) * int(a[k % len(a)])
    out[0] = s
    return len(rec)


def test_plain_is_what_numba_types_as_the_steps_arrays() -> None:
    ev = np.zeros(8, dtype=MBO_DTYPE)
    assert plain(ev) and plain(ev[2:5]) and plain(ev[:0])
    assert not plain(ev[::2])  # not C-contiguous
    ro = ev.copy()
    ro.flags.writeable = False
    assert not plain(ro)
    raw = np.zeros(8 * 5 + 1, dtype=np.uint8)
    unaligned = np.frombuffer(raw.data, dtype=np.int64, count=5, offset=1)
    assert not unaligned.flags.aligned and not plain(unaligned)
    # numba's own types agree: each of these is a type of its own
    t = numba.typeof
    assert len({t(ev), t(ro), t(ev[::2])}) == 3


def test_the_entry_is_the_compiled_version_for_those_types() -> None:
    a = np.arange(1, 4, dtype=np.int64)
    rec = np.zeros(5, dtype=MBO_DTYPE)
    rec["size"] = [1, 2, 3, 4, 5]
    out = np.zeros(1, dtype=np.int64)
    e = Entry(_kernel)
    assert e.fast is None
    assert _kernel(a, rec, out) == 5
    want = int(out[0])
    e.take((a, rec, out))
    assert e.fast is not None and e.fast is not _kernel
    key = (numba.typeof(a), numba.typeof(rec), numba.typeof(out))
    assert e.fast is _kernel.overloads[key].entry_point
    out[0] = 0
    assert e.fast(a, rec[:5], out) == 5 and int(out[0]) == want == 1 + 4 + 9 + 4 + 10
    # a version numba does not hold (never called with a read-only array): the dispatcher
    ro = rec.copy()
    ro.flags.writeable = False
    other = Entry(_kernel)
    other.take((a, ro, out))
    assert other.fast is _kernel


def test_the_pipeline_runs_on_the_direct_entries() -> None:
    """Group by group (MBO) and batch by batch (NinjaTrader), equal to the separate path bit
    for bit, and the calls went through the direct entries."""
    rng = np.random.default_rng(21)
    ev = prop._mbo(rng, 300)
    ends = (np.flatnonzero(ev["flags"] & prop._LAST) + 1).tolist()
    lockstep(
        [lambda p, a=a, b=b: p.process(ev[a:b]) for a, b in itertools.pairwise([0, *ends])],
        "mbo",
        prop.INST,
        prop._params(rng),
        heavy_every=50,
    )
    nt = prop._nt(rng, 300)
    batches = [
        (nt[a : a + 3], prop._prints(rng, nt["ts_event"][a : a + 1])) for a in range(0, 300, 3)
    ]
    lockstep(
        [lambda p, d=d, t=t: p.process_batch(d, t) for d, t in batches],
        "nt_depth",
        prop.INST,
        prop._params(rng),
        heavy_every=50,
    )
    for entry, kernel in ((fused._MBO, F.fused_mbo), (fused._NT, F.fused_nt)):
        assert entry.kernel is kernel
        assert entry.fast is not None and entry.fast is not kernel
    p = Pipeline(prop.INST, "mbo")
    assert p._fused is not None
