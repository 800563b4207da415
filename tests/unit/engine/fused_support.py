"""What the fused-step tests share: the whole observable state of a pipeline in a form that
compares bit for bit (floats by their bits, arrays by their bytes), and lockstep feeding of a
fused and a separate pipeline."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from orderflow.analytics._book_metrics_kernels import NP, P_O_LV, P_OUT, S_HEAD
from orderflow.analytics.bars import _CHI, _CLO, _HAS, _NCELLS, _NOUT, _WBASE
from orderflow.engine import Pipeline, PipelineParams
from orderflow.model.enums import Side
from orderflow.signals.detectors_pull import PullParams

#: every detector on (pulling/stacking too), the mid path kept
PARAMS = PipelineParams(pull=PullParams(enabled=True, min_size=20), keep_mid_path=True)


def canon(x: Any) -> Any:
    """``x`` as nested tuples of exact values: floats by their hex form (NaN included), arrays
    and structured scalars by dtype, shape and bytes."""
    kind = type(x)  # the common exact types first (the same forms as the checks below give)
    if kind is float:
        return ("f", x.hex())
    if kind is int or kind is str or kind is bool or x is None:
        return x
    if kind is tuple or kind is list:
        return tuple(canon(v) for v in x)
    if isinstance(x, np.ndarray):
        return ("nd", x.dtype.str, x.shape, np.ascontiguousarray(x).tobytes())
    if isinstance(x, np.void):
        return ("void", x.dtype.str, x.tobytes())
    if isinstance(x, float | np.floating):
        return ("f", float(x).hex())
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, dict):
        return tuple((k, canon(v)) for k, v in x.items())
    if isinstance(x, list | tuple | deque):
        return tuple(canon(v) for v in x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        fields = {f.name: getattr(x, f.name) for f in dataclasses.fields(x)}
        return (type(x).__name__, canon(fields))
    return x


def tiny(p: Pipeline) -> Any:
    """The raw state every metric is read from, cheap enough to take after every group: the
    book metrics' int and float buffers (every metric of the latest group and the state behind
    them), momentum's outputs and window sums, the liquidity tracker's buckets, counters."""
    m, mo, lc = p.metrics, p.momentum, p.liquidity_clusters
    ints = m._s.ints.copy()
    ints[NP + S_HEAD] = 0  # (the OFI ring's head may differ: it is re-based when it grows)
    # the per-level pulling/stacking rows hold C_NLV valid entries; what lies behind them is
    # left over from earlier groups, which differ between the per-group and the chunk kernel
    ints[ints[P_O_LV] : ints[P_OUT]] = 0
    levels = [m.pull_stack_levels(sd) for sd in (Side.BID, Side.ASK)]
    return (
        tuple(a.tobytes() for lv in levels for a in lv.values()),
        ints.tobytes(), m._floats.tobytes(), mo._out.tobytes(), mo._s.st[1:].tobytes(),
        mo._s.sf.tobytes(), lc._base, lc._first.tobytes(), lc._level.tobytes(),
        lc._qual.tobytes(), lc._nq.tobytes(), lc._mat.tobytes(), p.events, p.groups, p.trades,
        p.volume, p.last_ts, len(p.signals), len(p.accumulated),
    )  # fmt: skip


def light(p: Pipeline) -> Any:
    """What changes group by group: every book metric (the metrics' whole int and float
    buffers: spread, mid, microprice, imbalance, OFI and its sum, depth, pulling/stacking,
    walls), momentum and its parts, the snapshot (VWAP, delta, profile POC and value area,
    scores), the liquidity clusters, the book's top, counters, signal counts."""
    m = p.metrics
    return canon(
        [
            p.snapshot(),
            tiny(p),
            [m.pull_stack(s) + m.pull_stack_totals(s) for s in (Side.BID, Side.ASK)],
            p.liquidity_clusters.material,
            p.liquidity_clusters.clusters(),
            list(p.imbalances)[-4:],
            dict(p.rejected),
            [p.events, p.groups, p.trades, p.volume, p.delta_low, p.delta_high, p.first_ts],
            [p.last_ts, len(p.signals), len(p.accumulated), dict(p.signal_counts)],
            p.book.depth(p.params.depth_levels),
        ]
    )


def heavy(p: Pipeline) -> Any:
    """Everything: :func:`light` and every bar row of every series with its footprint cells,
    the forming bar, volume clusters and their buckets, the session profile, VWAP, every signal
    and accumulated signal with all their fields, the mid path, the kept prints."""
    prof = p.profiles.current
    return (
        light(p),
        canon(
            [
                [(s.all_bars(), s.cells(), s.forming(), s.forming_cells()) for s in p.bars.series],
                p.volume_clusters.clusters(),
                p.volume_clusters.buckets(),
                None if prof is None else (prof.arrays(), prof.nodes()),
                p.vwap.value(),
                [repr(s) for s in p.signals],
                [repr(a) for a in p.accumulated],
                p.mid_path(),
                p.prints_since(0),
            ]
        ),
    )


Marks = list[tuple[int, int]]


def prints(p: Pipeline, marks: Marks) -> Any:
    """The print analytics' whole state, cheap enough to take after every call: each bar
    series' state and the bar rows and footprint cells closed since ``marks`` (rows, cells per
    series; the earlier ones were compared when they closed and are never written again), the
    forming bar's cells, the cumulative delta and its extremes, VWAP (its exact sums, period and
    bands), the current session profile's ladder and the kept periods, the volume clusters'
    buckets, ages, strength steps and counters."""
    out: list[Any] = []
    for s, (r0, c0) in zip(p.bars.series, marks, strict=True):
        S = s._S
        out += [S.tobytes(), s._F.tobytes(), s._out[r0 : S[_NOUT]].tobytes(),
                s._cells[c0 : S[_NCELLS]].tobytes()]  # fmt: skip
        if S[_HAS]:
            a, b = S[_CLO] - S[_WBASE], S[_CHI] - S[_WBASE] + 1
            out += [w[a:b].tobytes() for w in (s._wb, s._wa, s._wo)]
    vw, cur, vc = p.vwap, p.profiles.current, p.volume_clusters
    out += [p.delta.value, p.delta_low, p.delta_high, p.volume, p.trades]
    out += [vw._st.tobytes(), vw.period, canon(vw.value())]
    out += [list(p.profiles.sessions)]
    if cur is not None:
        lo, hi = cur._meta[0], cur._meta[1]
        out += [cur._base, cur._meta.tobytes(), cur._vol[:, lo : hi + 1].tobytes()]
    lo, hi = vc._meta[0], vc._meta[1]  # (_LO, _HI of the volume clusters' meta)
    out += [vc._base, vc._meta.tobytes(), vc._vol[:, lo : hi + 1].tobytes(), vc._first.tobytes(),
            vc._level.tobytes(), vc._mat.tobytes(), vc.changes, vc._clock.start]  # fmt: skip
    return out


def marks(p: Pipeline) -> Marks:
    """Each bar series' closed rows and cells now (what :func:`prints` compared)."""
    return [(int(s._S[_NOUT]), int(s._S[_NCELLS])) for s in p.bars.series]


def lockstep(
    feeds: list[Callable[[Pipeline], Any]],
    kind: str,
    instrument: Any,
    params: PipelineParams = PARAMS,
    heavy_every: int = 1,
    light_every: int = 1,
) -> tuple[Pipeline, Pipeline]:
    """Feed a fused and a separate pipeline the same calls; after every call their states must
    be equal (:func:`prints` after every call; :func:`heavy` every ``heavy_every`` calls and
    after the last, :func:`light` every ``light_every``, :func:`tiny` after the others) and the
    call must return the same signals."""
    fused = Pipeline(instrument, kind, dataclasses.replace(params, fused=True))
    sep = Pipeline(instrument, kind, dataclasses.replace(params, fused=False))
    assert fused._fused is not None and sep._fused is None
    seen = marks(fused)
    for k, feed in enumerate(feeds):
        a, b = feed(fused), feed(sep)
        assert [repr(s) for s in a] == [repr(s) for s in b], f"signals of call {k}"
        assert prints(fused, seen) == prints(sep, seen), f"print analytics after call {k}"
        seen = marks(fused)
        if k % heavy_every == 0 or k == len(feeds) - 1:
            look: Callable[[Pipeline], Any] = heavy
        else:
            look = light if k % light_every == 0 else tiny
        assert look(fused) == look(sep), f"state after call {k}"
    return fused, sep
