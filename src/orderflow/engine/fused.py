"""The pipeline's fused step: a call's book records, book metrics, momentum, liquidity clusters
and detectors in ONE compiled call (:mod:`orderflow.engine._fused_kernels`).

:class:`FusedStep` belongs to one :class:`~orderflow.engine.pipeline.Pipeline` (an ``mbo`` or
``nt_depth`` one). It hands the kernel the state arrays the pipeline's own components already
own (the book's buffer, :class:`~orderflow.analytics.book_metrics.BookMetrics`'s buffers, the
momentum ring, the liquidity tracker's buckets, the detectors' state) as one table of their
addresses and shapes, built once and rebuilt only after something grew or was reset (each
row checked for dtype, dimensions and order; the step holds every array it tables). The
kernel calls the components' own kernels in the order the separate path does, so both paths
give the same numbers, bit for bit; the separate path stays as the reference
(``PipelineParams.fused = False``).

Output buffers are sized from the call (its records, its event groups, its prints). When a
stage needs more room than a state array holds, the kernel returns a ``R_*`` code; the step
grows that array the way the component itself would, rebuilds the tuple and calls again, and
the kernel resumes at that stage.

The print analytics (bars with footprint cells, cumulative delta, VWAP, session profile, volume
clusters) are the call's last stage (:mod:`orderflow.engine._fused_prints`), on the arrays
those classes own. A part that reaches what its class does in Python (a new reset period, a
session open, growth) stops there; after the call the step feeds that part the rest of the
call's prints through the class's own ``update`` and binds its arrays again. Then the same
stage copies the call's print times and prices and its groups' times and imbalances into the
pipeline's :class:`~orderflow.engine.kept_prints.KeptPrints` and
:class:`~orderflow.engine.kept_imbalances.KeptImbalances` (their rows in the table), so the
pipeline's Python after a call copies nothing; kept prints that need bigger arrays are taken
(and grown) by :meth:`KeptPrints.take` after the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from orderflow.analytics._book_metrics_kernels import S_COUNT as BM_COUNT
from orderflow.analytics.bars import BAR_RECORD_DTYPE
from orderflow.analytics.book_metrics import trade_offsets
from orderflow.analytics.momentum import S_COUNT as MOM_COUNT
from orderflow.book import _l2_kernels as L2
from orderflow.book import _l3_kernels as L3
from orderflow.book.common import DepthRecord, reject_counts
from orderflow.core.errors import BookIntegrityError, DtypeError
from orderflow.engine import _fused_kernels as F
from orderflow.engine import _fused_prints as P
from orderflow.engine._fused_entry import Entry, plain
from orderflow.model.dtypes import MBO_DTYPE, NO_PRICE, NT_DEPTH_DTYPE, TRADE_DTYPE
from orderflow.model.enums import Action, Flags, RejectReason
from orderflow.signals import _l3_detect_kernels as L3D
from orderflow.signals.detectors_l2 import L2Detector
from orderflow.signals.detectors_l3 import _ADDS_PER_LEVEL as ADDS_PER_LEVEL
from orderflow.signals.detectors_l3 import _RESERVE_ORDERS as RESERVE_ORDERS
from orderflow.signals.detectors_l3 import L3Detector
from orderflow.signals.detectors_pull import PullDetector
from orderflow.signals.model import Signal

if TYPE_CHECKING:
    from collections import Counter

    from orderflow.analytics.bars import MultiBars
    from orderflow.analytics.book_metrics import BookMetrics
    from orderflow.analytics.clusters import LiquidityClusterTracker, VolumeClusterTracker
    from orderflow.analytics.delta import CumulativeDelta
    from orderflow.analytics.momentum import Momentum
    from orderflow.analytics.profile import SessionProfiles
    from orderflow.analytics.vwap import VwapTracker
    from orderflow.book.l3 import OrderBook
    from orderflow.book.ladder import LadderBook
    from orderflow.engine.kept_imbalances import KeptImbalances
    from orderflow.engine.kept_prints import KeptPrints

__all__ = ["FusedStep", "PrintParts", "Took"]

_I8 = np.int64
_REASONS = len(RejectReason)
_LAST = int(Flags.LAST)
_ADD = int(Action.ADD)
_NO_TRADES = np.zeros(0, dtype=TRADE_DTYPE)
_NO_SIGNALS: list[Signal] = []  # (a call without groups: never handed on, never written)
#: output buffers for calls of up to this many records are kept between calls (live calls,
#: a backtest's pieces); a bigger call's go with it (what the pipeline keeps of them, it keeps)
KEEP_RECORDS = 4096
#: how many group counts' top N records a step keeps (:meth:`FusedStep._cut`)
VIEWS_KEPT = 512
#: how a replay chunk's output buffers are allocated: not zeroed (``_buffers`` says what is
#: read before written; a test fills them with garbage instead to prove it)
_scratch = np.empty
_NO_TABLE = np.zeros((0, 4), dtype=_I8)  # a copy's, until its first call builds its own
_DTYPES = {"i8": np.dtype(np.int64), "f8": np.dtype(np.float64), "bar": BAR_RECORD_DTYPE}
_I64_MIN, _I64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
# the call state's slots read or written once per call (a module constant is one lookup)
_NB, _REJ, _CUT, _BATCH = F.FS_NB, F.FS_REJ, F.FS_CUT, F.FS_BATCH
_L3N, _L2N, _PULLN, _K_FALL, _K_KEPT = F.FS_L3N, F.FS_L2N, F.FS_PULLN, P.K_FALL, P.K_KEPT
#: the step's memoryviews of its own arrays (rebuilt with the table, never copied)
_VIEWS = ("_fsv", "_pkv", "_offv", "_tsv")
#: the book kernels' compiled code for the step's usual argument types (:mod:`._fused_entry`)
_MBO, _NT = Entry(F.fused_mbo), Entry(F.fused_nt)


def _kind(row: int) -> tuple[str, int]:
    """The dtype and dimensions of table row ``row``'s array."""
    if row < F.T_ROWS:
        return F.T_KINDS[row]
    if row < P.P_SERIES:
        return P.P_KINDS[row - P.P0]
    return P.SERIES_KINDS[(row - P.P_SERIES) % P.SERIES_ROWS]


class PrintParts(NamedTuple):
    """The pipeline's print analytics, whose state the fused step's last stage updates."""

    bars: MultiBars
    delta: CumulativeDelta
    vwap: VwapTracker
    profiles: SessionProfiles
    volume_clusters: VolumeClusterTracker


assert 16 + L2.N_REASONS <= L3.B_SIZE  # the ladder's reject counters fit the batch state


def _as_trades(trades: np.ndarray) -> np.ndarray:
    """Prints as contiguous TRADE_DTYPE records, the one type the kernels are compiled for
    (other record layouts with the same fields are copied, never compiled for anew)."""
    if trades.dtype != TRADE_DTYPE:
        out = np.zeros(len(trades), dtype=TRADE_DTYPE)
        for name in ("ts_event", "ts_recv", "sequence", "price", "size", "side", "flags"):
            if name in (trades.dtype.names or ()):
                out[name] = trades[name]
        return out
    return trades if trades.flags.c_contiguous else np.ascontiguousarray(trades)


#: What one fused call gives the pipeline, a plain tuple (built once a call; a named tuple's
#: constructor is a Python call): the top N at each event boundary of its groups (views of the
#: step's buffers, valid until its next call: what the pipeline keeps, it copies), how many
#: groups and prints, the detectors' signals (L3, then L2, then pulling/stacking; not yet
#: filtered) and how many of the call's records they took (the rest wait for their group's
#: end). No complete group: no top N, 0 groups, and the records taken are 0.
Took = tuple[DepthRecord | None, int, int, list[Signal], int]


class FusedStep:
    """One pipeline's fused step (see the module docstring). Not thread-safe, as the pipeline
    is not."""

    def __init__(
        self,
        metrics: BookMetrics,
        momentum: Momentum,
        liquidity: LiquidityClusterTracker,
        rejected: Counter[str],
        detectors: tuple[L3Detector | None, L2Detector | None, PullDetector | None],
        width: int,
        prints: PrintParts,
        kept: tuple[KeptPrints, KeptImbalances],
    ) -> None:
        # the pipeline's parts, not the pipeline (no reference cycle: a dropped pipeline's
        # buffers go at once, not at the next cyclic collection); its book comes with each call
        self.metrics, self.momentum, self.liquidity = metrics, momentum, liquidity
        self.rejected = rejected
        self.l3, self.l2, self.pull = detectors
        self.width = width
        self.prints = prints
        #: the pipeline's kept prints and imbalances, which the kernel's last stage takes into
        self.kept_prints, self.kept_imbalances = kept
        #: calls whose print stage left a part to its class (a new period, growth)
        self.print_rests = 0
        #: the last event time of the latest call's groups
        self.last_ts = 0
        nser = len(prints.bars.series)
        self.rows = P.P_SERIES + P.SERIES_ROWS * nser
        #: the print stage's settings and results (``_fused_prints.K_*``)
        self.pk = np.zeros(max(P.K_SIZE, P.K_SER + P.SER_K * nser), dtype=_I8)
        self._no_profile = (np.zeros((3, 0), dtype=_I8), np.zeros(6, dtype=_I8))
        self.fs = np.zeros(F.FS_SIZE, dtype=_I8)
        self.fs[F.FS_DET] = (
            (F.DET_L3 if self.l3 is not None else 0)
            | (F.DET_L2 if self.l2 is not None else 0)
            | (F.DET_PULL if self.pull is not None else 0)
        )
        self.bstate = np.zeros(L3.B_SIZE, dtype=_I8)
        # stand-ins (never run: FS_DET says so) for the detectors a pipeline does not have
        self._l3 = self.l3 if self.l3 is not None else L3Detector("")
        self._l2 = self.l2 if self.l2 is not None else L2Detector("")
        self._pull = self.pull if self.pull is not None else PullDetector("")
        for det in (self._l2, self._pull):  # the previous group's rows at the pipeline's width
            if det._prev.shape[1] < self.width:
                prev = np.zeros((4, self.width), dtype=_I8)
                prev[0::2] = NO_PRICE
                prev[:, : det._prev.shape[1]] = det._prev
                det._prev = prev
        self._l2._width = max(self._l2._width, self.width)
        self._share = np.array([self._l3._share])
        self.tab = _NO_TABLE
        self._held: list[np.ndarray | None] = [None] * self.rows
        self._cap = 0
        self._buffers(16)
        self._bind()

    # A copy (deepcopy, pickle) must not keep the original's addresses: its table is rebuilt
    # from its own arrays before its first call.
    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        for name in _VIEWS:  # (memoryviews are not copied: rebuilt with the table)
            state.pop(name, None)
        state["tab"] = _NO_TABLE
        state["_held"] = [None] * self.rows
        state["_by_nb"] = {}  # (views of the original's buffers: cut again from the copy's)
        state["stale"] = True
        return state

    # ---- the state table -------------------------------------------------------------------
    def _put(self, row: int, a: np.ndarray) -> None:
        """Row ``row`` of the kernel's table: ``a``'s address and shape. ``a`` must be what
        the kernel views it as (dtype, dimensions, C order): anything else is refused here,
        never viewed wrongly. The array is held until its row is replaced (the row of an array
        already held there stands: an array's address and shape do not change)."""
        if self._held[row] is a:
            return
        kind, ndim = _kind(row)
        if a.dtype != _DTYPES[kind] or a.ndim != ndim or not a.flags.c_contiguous:
            raise BookIntegrityError(f"fused state row {row}: {a.dtype}, {a.ndim}-d, "
                                     f"contiguous {a.flags.c_contiguous}")  # fmt: skip
        self._held[row] = a
        self.tab[row, 0] = a.ctypes.data  # (__array_interface__ builds a record's descr: ~10 us)
        self.tab[row, 1 : 1 + ndim] = a.shape

    def _bind(self, part: str | None = None) -> None:
        """The table rows of the components' state arrays, as the components hold them now:
        those of ``part`` (the one that grew), or all (first the whole table, when there is
        none yet)."""
        if len(self.tab) == 0:
            self.tab = np.zeros((self.rows, 4), dtype=_I8)
            self._put(F.T_BSTATE, self.bstate)
            self._fsv, self._pkv = self.fs.data, self.pk.data
            self._put_buffers()
        for row, a in self._parts(part):
            self._put(row, a)
        self.stale = False
        self._owners = self._owned()

    def _owned(self) -> tuple[object, ...]:
        """What a component's ``reset`` replaces (the book metrics' and momentum's state and
        outputs): a call finding any of them replaced binds the table again first, so a reset
        made outside the pipeline's calls is never written past. O(1)."""
        m, mo = self.metrics, self.momentum
        return (m._s, m._floats, mo._s, mo._out)

    def _check(self) -> None:
        """Bind again when the table may be stale (a copy, the separate path, a reset)."""
        o, m, mo = self._owners, self.metrics, self.momentum
        if (self.stale or m._s is not o[0] or m._floats is not o[1] or mo._s is not o[2]
                or mo._out is not o[3]):  # fmt: skip
            self._bind()

    def _parts(self, part: str | None = None) -> tuple[tuple[int, np.ndarray], ...]:
        """The table rows of ``part`` (or of every part), as the components hold them now."""
        rows: tuple[tuple[int, np.ndarray], ...] = ()
        if part in (None, "metrics"):
            m = self.metrics
            rows += ((F.T_BM_PI, m._s.ints), (F.T_BM_RING, m._s.ring), (F.T_BM_PF, m._floats))
        if part in (None, "momentum"):
            mo = self.momentum
            s = mo._s
            rows += ((F.T_MO_PF, mo._pf), (F.T_MO_ST, s.st), (F.T_MO_SF, s.sf),
                     (F.T_MO_RTS, s.rts), (F.T_MO_RMID, s.rmid), (F.T_MO_RIMB, s.rimb),
                     (F.T_MO_RVOL, s.rvol), (F.T_MO_LAST, mo._out))  # fmt: skip
        if part in (None, "liquidity"):
            lc = self.liquidity
            cp, r = lc.params, lc._r
            li = np.array([cp.granularity, cp.min_volume, r.numerator, r.denominator, lc._base,
                           cp.strength_steps], dtype=_I8)  # fmt: skip
            rows += ((F.T_LQ_LI, li), (F.T_LQ_FIRST, lc._first), (F.T_LQ_ACC, lc._acc),
                     (F.T_LQ_QUAL, lc._qual), (F.T_LQ_NQ, lc._nq), (F.T_LQ_SPAN, lc._span),
                     (F.T_LQ_LEVEL, lc._level), (F.T_LQ_MAT, lc._mat))  # fmt: skip
        if part in (None, "l3"):
            d3 = self._l3
            rows += ((F.T_L3_ST, d3._st), (F.T_L3_OUT, d3._out), (F.T_L3_SHARE, self._share))
        if part in (None, "l2"):
            d2 = self._l2
            rows += ((F.T_L2_PF, d2._pf), (F.T_L2_ST, d2._st), (F.T_L2_PREV, d2._prev),
                     (F.T_L2_EP, d2._ep), (F.T_L2_POOL, d2._pool), (F.T_L2_SW, d2._sw),
                     (F.T_L2_WIN, d2._win), (F.T_L2_OUT, d2._out),
                     (F.T_L2_EXTRA, d2._extra))  # fmt: skip
        if part in (None, "pull"):
            dp = self._pull
            rows += ((F.T_PU_ST, dp._st), (F.T_PU_PREV, dp._prev), (F.T_PU_RING, dp._ring),
                     (F.T_PU_OUT, dp._out))  # fmt: skip
        if part in (None, "prints"):
            rows += self._print_rows()
        if part in (None, "kept"):
            kp, ki = self.kept_prints, self.kept_imbalances
            rows += ((F.T_KP_TS, kp._ts), (F.T_KP_PX, kp._px), (F.T_KP_N, kp._n),
                     (F.T_KI_TS, ki._ts), (F.T_KI_IMB, ki._imb), (F.T_KI_N, ki._n))  # fmt: skip
        return rows

    def _print_rows(self) -> tuple[tuple[int, np.ndarray], ...]:
        """The print analytics' rows, and their settings and positions in ``pk`` (a period's
        end, a ladder's base), as the classes hold them now."""
        pp, pk = self.prints, self.pk
        d, vw, pr, vc = pp.delta, pp.vwap, pp.profiles, pp.volume_clusters
        nxt = d.next_open
        pk[P.K_D_NEXT] = _I64_MAX if not d.resets else _I64_MIN if nxt is None else nxt
        pk[P.K_VW_END] = vw._clock.end
        cur = pr.current
        vol, meta = self._no_profile if cur is None else (cur._vol, cur._meta)
        pk[P.K_PR_END] = _I64_MIN if cur is None else pr._clock.end
        pk[P.K_PR_BASE] = 0 if cur is None else cur._base
        cp = vc.params
        pk[P.K_VC_END], pk[P.K_VC_BASE] = vc._clock.end, vc._base
        pk[P.K_VC_G], pk[P.K_VC_AMIN], pk[P.K_VC_STEPS] = (cp.granularity, cp.min_volume,
                                                           cp.strength_steps)  # fmt: skip
        pk[P.K_VC_NUM], pk[P.K_VC_DEN] = vc._r.numerator, vc._r.denominator
        pk[P.K_NSER] = len(pp.bars.series)
        rows: list[tuple[int, np.ndarray]] = [
            (P.P_K, pk),
            (P.P_DELTA, d._v),
            (P.P_VW_ST, vw._st),
            (P.P_PR_VOL, vol),
            (P.P_PR_META, meta),
            (P.P_VC_VOL, vc._vol),
            (P.P_VC_FIRST, vc._first),
            (P.P_VC_META, vc._meta),
            (P.P_VC_LEVEL, vc._level),
            (P.P_VC_MAT, vc._mat),
        ]
        for k, s in enumerate(pp.bars.series):
            c, r = P.K_SER + P.SER_K * k, P.P_SERIES + P.SERIES_ROWS * k
            pk[c : c + 4] = (int(s.spec.kind), s._unit, s.params.atr_period, s.footprint)
            rows += [(r, s._S), (r + 1, s._F), (r + 2, s._out), (r + 3, s._wb), (r + 4, s._wa),
                     (r + 5, s._wo), (r + 6, s._cells)]  # fmt: skip
        return tuple(rows)

    def _print_rest(self, prints: np.ndarray, npr: int, last_ts: int) -> None:
        """After a call: the parts of the print stage that stopped (``pk``) take the rest of
        the call's ``npr`` prints through their classes' own ``update`` (and a time series its
        ``advance``), and are bound again. O(1) when none stopped."""
        pk, pp = self.pk, self.prints
        vc = pp.volume_clusters
        if not self._pkv[_K_FALL]:
            vc.changes += npr > 0  # (as VolumeClusterTracker.update counts)
            return
        self.print_rests += 1
        for k, s in enumerate(pp.bars.series):
            c = P.K_SER + P.SER_K * k
            if pk[c + 5]:
                stop = int(pk[c + 4])
                if stop < npr:
                    s.update(prints[stop:npr])
                s.advance(last_ts)
        if npr:
            if pk[P.K_D_AT] == 0:
                cum = pp.delta.update(prints[:npr])
                pk[P.K_DLO], pk[P.K_DHI] = cum.min(), cum.max()
            if (at := int(pk[P.K_VW_AT])) < npr:
                pp.vwap.update(prints[at:npr])
            if (at := int(pk[P.K_PR_AT])) < npr:
                pp.profiles.update(prints[at:npr])
            if (at := int(pk[P.K_VC_AT])) < npr:
                vc.update(prints[at:npr])
            else:
                vc.changes += 1
        self._bind("prints")

    def _grow(
        self,
        rc: int,
        nb: int,
        book: Any = None,
        prints: np.ndarray | None = None,
        events: np.ndarray | None = None,
    ) -> None:
        """Answer a ``R_*`` code: grow what the kernel found full, as its owner would, and
        give the kernel that part's new arrays (``events``: an MBO call's records)."""
        fs = self.fs
        part = {F.R_BM_RING: "metrics", F.R_MOM_RING: "momentum", F.R_LIQ: "liquidity",
                F.R_L3: "l3", F.R_L2: "l2", F.R_PULL: "pull"}.get(rc, "")  # fmt: skip
        if rc == F.R_SLOTS:
            book._grow_slots()
        elif rc == F.R_LADDER:
            if not book._rebase(int(book._meta[L3.M_NEED_PRICE])):
                fs[F.FS_FORCE] = L3.R_CAPACITY
        elif rc == F.R_COVER:  # (as OrderBook._cover: the slots for the call's orders too)
            orders = 0 if events is None else book._orders_after(events)
            book._rebase(int(fs[F.FS_LO]), int(fs[F.FS_HI]), orders)
        elif rc == F.R_ROWS:
            book._grow()
        elif rc == F.R_OFFSETS:
            assert prints is not None
            dl = self.d_levels
            d = DepthRecord(self.d_index[:nb], self.d_ts[:nb], *(dl[k, :nb] for k in range(6)))
            self.off[: nb + 1] = trade_offsets(d, prints)
            fs[F.FS_OFF] = 1
        elif rc == F.R_BM_RING:
            bs = self.metrics._s
            bs.grow_ring(int(bs.st[BM_COUNT]) + nb + 1)
            self.metrics._bind()
        elif rc == F.R_MOM_RING:
            ms = self.momentum._s
            ms.grow(int(ms.st[MOM_COUNT]) + nb + 1)
        elif rc == F.R_LIQ:
            lc = self.liquidity
            lc._cover(int(lc._span[0]), int(lc._span[1]))
        elif rc == F.R_L3:
            self._l3._grow(int(fs[F.FS_CODE]))
        elif rc == F.R_L2:
            self._l2._grow(int(fs[F.FS_CODE]))
        elif rc == F.R_PULL:
            self._pull._grow(int(fs[F.FS_CODE]))
        if part:  # (the book's buffer comes with each call; the offsets are the step's own)
            self._bind(part)

    def _abandon(self) -> None:
        """A call that raised (a ladder past its largest size): the next one starts afresh."""
        self.fs[F.FS_STARTED] = 0
        self.fs[F.FS_STAGE] = F.S_BOOK
        self._l3._st[L3D.H_POS_G] = -1
        self._l3._st[L3D.H_EPOCH] = 0  # (the book may have taken records the detectors did not)
        self._l2._st[0] = 0  # S_POS
        self._pull._st[0] = 0  # S_POS

    # ---- output buffers ----------------------------------------------------------------------
    def _buffers(self, n: int, counts: bool = False) -> None:
        """Output buffers for calls of up to ``n`` records (or prints), kept between calls up to
        :data:`KEEP_RECORDS`: the kernel writes a call's groups at their front (``counts``: the
        book writes the top N's order counts, as the L3 book does and the ladder does not). A
        call hands the pipeline views of them (valid until the next call, which is all the
        pipeline needs: what it keeps, it copies, and the liquidity tracker's latest book rows
        are the next call's anyway)."""
        cap = max(16, n, 2 * self._cap)
        w = self.width
        self._cap = cap
        # Kept buffers (up to KEEP_RECORDS) are zeroed; a replay chunk's (tens of MB, dropped
        # after the call) are not, but for what a call reads before it writes it:
        # - d_index, d_ts: row g written at boundary g by the book stage; read only [:nb];
        # - d_levels: the L3 book's depth_into writes all six planes of row g, every column
        #   (NO_PRICE/0 past the book's levels); the ladder's ld_batch writes prices and sizes
        #   (ld_fill pads the same way) but never the counts: planes 2 and 5 are zeroed then;
        # - tcol: a print's column k written (the MBO book stage, _print_columns) before any
        #   stage reads [:, :prints]; row 4, a record's book slot word, written by the MBO book
        #   stage before the L3 detectors read it;
        # - off: zeroed by the kernel's _start for the call, then counted;
        # - mi: rows [:nb] written by book metrics, read after (momentum writes its class's
        #   own one-row output);
        # - trades: zeroed (the MBO book stage writes every field but the padding, which a
        #   structured comparison reads).
        new = np.zeros if cap <= KEEP_RECORDS else _scratch
        self.d_index, self.d_ts = new((2, cap), dtype=_I8)
        self.d_levels = new((6, cap, w), dtype=_I8)
        if cap > KEEP_RECORDS and not counts:
            self.d_levels[2] = 0
            self.d_levels[5] = 0
        self.trades = np.zeros(cap, dtype=TRADE_DTYPE)
        self.tcol = new((5, cap), dtype=_I8)  # (row 4: the MBO book stage's slot words)
        self.off = new(cap + 1, dtype=_I8)
        self.mi = new((2, cap), dtype=np.float64)
        if len(self.tab):
            self._put_buffers()

    def _put_buffers(self) -> None:
        """The output buffers' table rows, and the one-group record's views of them."""
        dl = self.d_levels
        # the six planes as 2-d views, each cut to a call's groups with one slice
        self._planes = tuple(dl[k] for k in range(6))
        # a call's top N record by its number of groups (a backtest's pieces of about 100
        # records repeat the same few dozen counts): built once per count; a one-group call's
        # (live) built here
        self._by_nb: dict[int, DepthRecord] = {}
        self._depth1 = DepthRecord(self.d_index[:1], self.d_ts[:1], *(dl[k, :1] for k in range(6)))
        # Python-number views of the buffers the wrapper reads one value of (no numpy scalar)
        self._offv, self._tsv = self.off.data, self.d_ts.data
        for row, a in ((F.T_D_INDEX, self.d_index), (F.T_D_TS, self.d_ts),
                       (F.T_D_LEVELS, self.d_levels), (F.T_TCOL, self.tcol), (F.T_OFF, self.off),
                       (F.T_MI, self.mi)):  # fmt: skip
            self._put(row, a)

    def _cut(self, nb: int) -> DepthRecord:
        """The top N record of a call of ``nb`` groups (views of the buffers), kept by ``nb``
        with the buffers (at most :data:`VIEWS_KEPT` counts; a replay chunk's are not kept)."""
        bp, bs, bc, ap, as_, ac = self._planes
        depth = DepthRecord(self.d_index[:nb], self.d_ts[:nb], bp[:nb], bs[:nb], bc[:nb],
                            ap[:nb], as_[:nb], ac[:nb])  # fmt: skip
        if self._cap <= KEEP_RECORDS:
            if len(self._by_nb) >= VIEWS_KEPT:
                self._by_nb.clear()
            self._by_nb[nb] = depth
        return depth

    # ---- calls -----------------------------------------------------------------------------
    def mbo(self, book: OrderBook, events: np.ndarray) -> Took:
        """MBO records: the complete event groups among them through every stage (the result:
        :data:`Took`)."""
        self._check()
        if events.dtype != MBO_DTYPE:  # (as OrderBook.apply_mbo)
            raise DtypeError(f"apply_mbo needs MBO_DTYPE records, got {events.dtype}")
        if len(events) > self._cap:
            self._buffers(len(events), counts=True)
        if len(events) > KEEP_RECORDS and self.l3 is not None:
            self._reserve_l3(events)
        f = events.flags
        ev = events if f.c_contiguous else np.ascontiguousarray(events)
        # numba's dispatcher for records typed otherwise (it resolves any types)
        fast = _MBO.fast if f.c_contiguous and f.aligned and f.writeable else None
        fs = self.fs
        kernel = fast or _MBO.kernel
        try:
            while rc := kernel(book._st, ev, fs, self.trades, self.tab):
                self._grow(rc, int(fs[F.FS_NB]), book, events=ev)
        except BaseException:
            self._abandon()
            raise
        if _MBO.fast is None and plain(ev):
            _MBO.take((book._st, ev, fs, self.trades, self.tab))
        return self._finished(L3.B_REJ, _REASONS, self.trades)

    def _reserve_l3(self, events: np.ndarray) -> None:
        """A replay chunk: room in the L3 detectors for its orders and levels at once, sized
        from its ADD records as :func:`~orderflow.signals.detectors_l3.detect_l3` sizes them
        (growing on the way copies the whole state at each doubling: four times, 2 ms, in the
        first chunk of ESH4). Capacity only: the same signals either way."""
        det = self._l3
        st = det._st
        adds = int(np.count_nonzero(events["action"] == _ADD))
        det._reserve(min(adds, RESERVE_ORDERS), adds // ADDS_PER_LEVEL, slots=True)
        if det._st is not st:
            self._bind("l3")

    def nt(
        self,
        book: LadderBook,
        events: np.ndarray,
        trades: np.ndarray | None,
        batch: bool = False,
    ) -> Took:
        """NinjaTrader depth events and the prints that came with them (time order; those
        after the last event boundary are left out), as :meth:`mbo`. ``batch``: the events are
        one event group whatever their LAST flags say (:meth:`Pipeline.process_batch`)."""
        self._check()
        if events.dtype != NT_DEPTH_DTYPE:  # (as LadderBook.apply_events)
            raise DtypeError(f"apply_events needs NT_DEPTH_DTYPE, got {events.dtype}")
        # (contiguous TRADE_DTYPE records either way; none: the shared empty array)
        prints = _NO_TRADES if trades is None or not len(trades) else _as_trades(trades)
        if max(len(events), len(prints)) > self._cap:
            self._buffers(max(len(events), len(prints)))
        ev = events if events.flags.c_contiguous else np.ascontiguousarray(events)
        fs = self.fs
        self._fsv[_BATCH] = batch
        typed = plain(ev) and (prints is _NO_TRADES or plain(prints))
        fast = _NT.fast if typed else None  # (else numba's dispatcher: any types)
        kernel = fast or _NT.kernel
        try:
            while rc := kernel(book._buf, ev, prints, fs, self.tab):
                self._grow(rc, int(fs[F.FS_NB]), book, prints)
        except BaseException:
            self._abandon()
            raise
        if _NT.fast is None and typed:
            _NT.take((book._buf, ev, prints, fs, self.tab))
        return self._finished(16, L2.N_REASONS, prints)

    def _finished(self, rej: int, reasons: int, prints: np.ndarray) -> Took:
        """A book call's result (:data:`Took`), its book's refusals (its ``reasons``
        per-reason counters at ``bstate[rej:]``) counted."""
        fsv = self._fsv
        nb = fsv[_NB]
        if nb == 0:
            return None, 0, 0, _NO_SIGNALS, 0
        if fsv[_REJ]:
            self.rejected.update(reject_counts(self.bstate[rej : rej + reasons]))
        nt, self.last_ts = self._offv[nb], self._tsv[nb - 1]
        pkv = self._pkv
        if pkv[_K_FALL]:
            self._print_rest(prints, nt, self.last_ts)
        elif nt:  # (what _print_rest does when no part stopped)
            self.prints.volume_clusters.changes += 1
        if pkv[_K_KEPT]:
            self._keep_rest(self.tcol, nt)
        signals = self._signals() if fsv[_L3N] or fsv[_L2N] or fsv[_PULLN] else []
        # (the call's top N: a live call's built with the buffers, others' kept by count)
        depth = self._depth1 if nb == 1 else self._by_nb.get(nb) or self._cut(nb)
        if self._cap > KEEP_RECORDS:  # a replay chunk's buffers are not kept past the call
            self._cap = 0
            self._buffers(16)
        return depth, nb, nt, signals, fsv[_CUT]

    def _keep_rest(self, tcol: np.ndarray, nt: int) -> None:
        """The call's ``nt`` prints (``tcol``'s times and prices) into the kept prints, which
        the kernel found too small (it moved the newest kept to the front first, as
        :meth:`KeptPrints.take` does): they grow, and the kernel is given their new arrays."""
        self.kept_prints.take(tcol[0, :nt], tcol[1, :nt])
        self._bind("kept")

    def levels(self, depth: DepthRecord, trades: np.ndarray, off: np.ndarray) -> Took:
        """Prints over given book rows (:meth:`Pipeline.process_prints`): the analytics and the
        L2 detectors without a book step."""
        self._check()
        nb = len(depth)
        prints = _as_trades(trades)
        d_levels = np.empty((6, nb, self.width), dtype=_I8)
        for k, a in enumerate((depth.bid_price, depth.bid_size, depth.bid_count,
                               depth.ask_price, depth.ask_size, depth.ask_count)):  # fmt: skip
            d_levels[k] = a
        d_ts = np.ascontiguousarray(depth.ts_event, dtype=_I8)
        tcol = np.empty((4, len(prints)), dtype=_I8)
        mi = np.empty((2, nb))
        fs = self.fs
        try:
            while rc := F.fused_levels(prints, fs, d_ts, d_levels, tcol, off, mi, self.tab):
                self._grow(rc, nb)
        except BaseException:
            self._abandon()
            raise
        self.last_ts = int(d_ts[nb - 1])
        npr = int(off[nb])
        self._print_rest(prints, npr, self.last_ts)
        if self._pkv[_K_KEPT]:
            self._keep_rest(tcol, npr)
        rec = DepthRecord(depth.index, d_ts, *d_levels)
        return rec, nb, len(trades), self._signals(), 0

    def _signals(self) -> list[Signal]:
        """The detectors' signal rows of the call as Signal objects (none built when none)."""
        fsv, out = self._fsv, []
        n3, n2, npull = fsv[_L3N], fsv[_L2N], fsv[_PULLN]
        fsv[_L3N] = fsv[_L2N] = fsv[_PULLN] = 0  # read once
        if n3 and self.l3 is not None:
            out.extend(self.l3._signals(n3))
        if n2 and self.l2 is not None:
            out.extend(self.l2._signals())
        if npull and self.pull is not None:
            out.extend(self.pull._signals(npull))
        return out
