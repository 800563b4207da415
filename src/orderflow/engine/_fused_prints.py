"""The fused step's last stage: the call's prints into the print analytics. Private: see
:mod:`orderflow.engine.fused`.

After the book, the book analytics and the detectors, the same compiled call folds the prints
of the call's groups into what the pipeline's print analytics own, with THEIR kernels on
THEIR state arrays, in the order the separate path calls them:

1. each bar series (footprint cells included): ``_run`` of :mod:`orderflow.analytics.bars`;
2. cumulative delta: ``_cum`` of :mod:`orderflow.analytics.delta` (no session open reached);
3. VWAP: ``_vwap_run`` of :mod:`orderflow.analytics.vwap`;
4. the session profile: ``_first_at_or_after`` and ``_add`` of
   :mod:`orderflow.analytics.profile`;
5. volume clusters: ``_vol_add`` of :mod:`orderflow.analytics.clusters`;
6. each time series' bar close at the call's last event time: ``_advance`` (as
   ``BarSeries.advance``);
7. the pipeline's kept prints (times, prices) and kept imbalances (:func:`kept_stage`:
   ``take_prints`` and ``take_imbalances`` of :mod:`orderflow.engine.kept_prints` and
   :mod:`orderflow.engine.kept_imbalances`; kept prints that need bigger arrays are left to
   the wrapper).

What the classes do in Python (a new reset period, a session open for the delta, a state that
must grow) is never done here: a part that reaches one stops where its own kernel stops (nothing
of that print applied) and leaves the position in ``pk``; the wrapper then feeds that part the
rest of the prints through the class's own ``update`` (which does the rare step and goes on
with the same kernel), so each part's numbers are those of the separate path, bit for bit.
The other parts are not held up: the parts share no state.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from orderflow.analytics.bars import ADVANCE_NEEDS_ROOM
from orderflow.analytics.bars import _advance as bars_advance
from orderflow.analytics.bars import _run as bars_run
from orderflow.analytics.clusters import _vol_add
from orderflow.analytics.delta import _cum
from orderflow.analytics.profile import _add as profile_add
from orderflow.analytics.profile import _first_at_or_after
from orderflow.analytics.vwap import _vwap_run
from orderflow.engine._fused_table import _bars, _f1, _i1, _i2
from orderflow.engine.kept_imbalances import take_imbalances
from orderflow.engine.kept_prints import take_prints

# ---- table rows (after the book stages' rows) ---------------------------------------------------
P0 = 48  # the first row of this stage (_fused_kernels.T_ROWS)
(P_K, P_DELTA, P_VW_ST, P_PR_VOL, P_PR_META,
 P_VC_VOL, P_VC_FIRST, P_VC_META, P_VC_LEVEL, P_VC_MAT) = range(P0, P0 + 10)  # fmt: skip
P_SERIES = P0 + 10  # then per bar series: S, F, out, wb, wa, wo, cells
SERIES_ROWS = 7
#: the dtype and number of dimensions of each fixed row's array, then of a series' rows
P_KINDS = (("i8", 1), ("i8", 1), ("i8", 1), ("i8", 2), ("i8", 1),
           ("i8", 2), ("i8", 1), ("i8", 1), ("i8", 1), ("i8", 1))  # fmt: skip
SERIES_KINDS = (("i8", 1), ("f8", 1), ("bar", 1), ("i8", 1), ("i8", 1), ("i8", 1), ("i8", 2))

# ---- ``pk``: the stage's settings (bound by the wrapper) and its results (each call) -----------
K_D_NEXT = 0  # the delta's next session open (INT64_MIN: not known yet; INT64_MAX: none)
K_VW_END = 1  # the VWAP's period end
K_PR_END, K_PR_BASE = 2, 3  # the profiles' period end; the current profile's first price
K_VC_END, K_VC_BASE = 4, 5  # the volume clusters' period end; their first bucket
K_VC_G, K_VC_AMIN, K_VC_NUM, K_VC_DEN, K_VC_STEPS = 6, 7, 8, 9, 10
K_NSER = 11  # bar series
K_FALL = 12  # 1: a part stopped (below: where); the wrapper finishes it
K_D_AT = 13  # the delta: npr when done here, 0 when the wrapper must run it
K_VW_AT, K_PR_AT, K_VC_AT = 14, 15, 16  # where VWAP, profile, volume clusters stopped
K_DLO, K_DHI = 17, 18  # the lowest and highest cumulative delta after a print of the call
K_VOL = 19  # the volume of the call's prints
K_KEPT = 20  # 1: the kept prints had no room for the call's prints (the wrapper grows them)
K_SER = 24  # per series: kind, unit, ATR period, footprint, where it stopped, advance left
SER_K = 6
K_SIZE = K_SER + SER_K * 8  # (room for 8 series; the wrapper sizes ``pk`` for more)


@njit(cache=True)
def prints_stage(tr: np.ndarray, tcol: np.ndarray, npr: int, last_ts: int,
                 tab: np.ndarray) -> None:  # fmt: skip
    """The call's ``npr`` prints (records ``tr``, columns ``tcol``: time, price, size, side)
    into every print analytic, then the time bars' close at ``last_ts``."""
    pk = _i1(tab, P_K)
    pk[K_FALL] = 0
    ts, px, qty, side = tcol[0, :npr], tcol[1, :npr], tcol[2, :npr], tcol[3, :npr]
    trs = tr[:npr]
    vol = 0
    for i in range(npr):
        vol += qty[i]
    pk[K_VOL] = vol
    for k in range(pk[K_NSER]):
        r, c = P_SERIES + SERIES_ROWS * k, K_SER + SER_K * k
        S, F, out, cells = _i1(tab, r), _f1(tab, r + 1), _bars(tab, r + 2), _i2(tab, r + 6)
        wb, wa, wo = _i1(tab, r + 3), _i1(tab, r + 4), _i1(tab, r + 5)
        kind, unit, atr_n, fp = pk[c], pk[c + 1], pk[c + 2], pk[c + 3] != 0
        stop = npr
        if npr:  # (MultiBars.update: BarSeries.update)
            stop, _code = bars_run(kind, unit, atr_n, ts, px, qty, side, 0, S, F, out, fp, wb, wa,
                                  wo, cells)  # fmt: skip
        pk[c + 4] = stop
        pk[c + 5] = 0
        if stop < npr:  # the series grows: the wrapper goes on from ``stop``, then advances
            pk[c + 5] = 1
            pk[K_FALL] = 1
        elif kind == 0:  # (MultiBars.advance: BarSeries.advance, time series only)
            rc = bars_advance(S, F, atr_n, out, fp, wb, wa, wo, cells, last_ts)
            if rc == ADVANCE_NEEDS_ROOM:
                pk[c + 5] = 1
                pk[K_FALL] = 1
    if npr == 0:
        pk[K_D_AT] = pk[K_VW_AT] = pk[K_PR_AT] = pk[K_VC_AT] = 0
        return
    # cumulative delta (CumulativeDelta.update), when the prints reach no session open
    if ts[npr - 1] >= pk[K_D_NEXT]:
        pk[K_D_AT] = 0
        pk[K_FALL] = 1
    else:
        dv = _i1(tab, P_DELTA)
        cum = np.empty(npr, dtype=np.int64)
        dv[0] = _cum(ts, qty, side, np.empty(0, dtype=np.int64), dv[0], cum)
        lo = hi = cum[0]
        for i in range(1, npr):
            lo = min(lo, cum[i])
            hi = max(hi, cum[i])
        pk[K_DLO], pk[K_DHI] = lo, hi
        pk[K_D_AT] = npr
    # VWAP (VwapTracker.update): up to the end of its period
    none_f = np.empty(0)
    at = _vwap_run(trs, 0, pk[K_VW_END], _i1(tab, P_VW_ST), False, none_f, none_f,
                   np.empty(0, dtype=np.int64), 0)  # fmt: skip
    pk[K_VW_AT] = at
    # the session profile (SessionProfiles.update, VolumeProfile.update): the current period's
    # prints while they fit its ladder
    i = _first_at_or_after(trs, 0, pk[K_PR_END])
    if i:
        i = profile_add(trs[:i], 0, _i2(tab, P_PR_VOL), pk[K_PR_BASE], _i1(tab, P_PR_META))
    pk[K_PR_AT] = i
    # volume clusters (VolumeClusterTracker.update): the period's prints while they fit
    at2 = _vol_add(trs, 0, pk[K_VC_END], pk[K_VC_G], pk[K_VC_AMIN], pk[K_VC_NUM], pk[K_VC_DEN],
                   pk[K_VC_BASE], _i2(tab, P_VC_VOL), _i1(tab, P_VC_FIRST), _i1(tab, P_VC_META),
                   _i1(tab, P_VC_LEVEL), pk[K_VC_STEPS], _i1(tab, P_VC_MAT))  # fmt: skip
    pk[K_VC_AT] = at2
    if at < npr or i < npr or at2 < npr:
        pk[K_FALL] = 1


@njit(cache=True)
def kept_stage(tcol: np.ndarray, npr: int, d_ts: np.ndarray, imb: np.ndarray, nb: int,
               tab: np.ndarray, kept: tuple[int, int, int, int, int, int]) -> None:  # fmt: skip
    """The pipeline's kept prints and imbalances take the call's ``npr`` prints (times and
    prices: ``tcol`` rows 0 and 1) and its ``nb`` groups' times and imbalances, with their
    classes' own moves (:func:`~orderflow.engine.kept_prints.take_prints`,
    :func:`~orderflow.engine.kept_imbalances.take_imbalances`); ``kept``: the table rows of
    their arrays and counters. Prints that would need bigger arrays are left to the wrapper
    (``pk[K_KEPT]``)."""
    pk = _i1(tab, P_K)
    pk[K_KEPT] = 0
    if npr and not take_prints(_i1(tab, kept[0]), _i1(tab, kept[1]), _i1(tab, kept[2]),
                               tcol[0, :npr], tcol[1, :npr]):  # fmt: skip
        pk[K_KEPT] = 1
    take_imbalances(_i1(tab, kept[3]), _f1(tab, kept[4]), _i1(tab, kept[5]), d_ts[:nb],
                    imb[:nb])  # fmt: skip
