"""Exits on order flow: composable rules the reference strategy applies to each live entry.

Each rule is off by default (:class:`ExitParams`, ``trading.strategy.exits`` in the settings)
and reads only the :class:`~orderflow.trading.strategy.StrategyContext` it is shown, so the
same inputs give the same exits live and in a backtest. Rules, for an entry of direction
``d`` (+1 long) whose first fill arrived, in the order they are checked:

* **absorption** (``absorption: exit | tighten``): a new ``absorption``, ``iceberg`` or
  ``iceberg_l2`` signal *against* the entry (direction ``-d``) scoring at least
  ``absorption_min_score`` whose price is within ``absorption_near_stop_ticks`` of the entry's
  stop: ``exit`` closes the entry; ``tighten`` moves the stop to ``absorption_tighten_ticks``
  behind the last price (only forward, never through the last price).
* **delta divergence** (``delta_divergence``): the last price makes a new extreme in the
  entry's favour, at least ``divergence_min_ticks`` beyond the extreme to beat (the last
  price at the entry's first decision after its fill, then each new extreme the delta
  confirmed), while the cumulative delta is at least ``divergence_min_delta`` contracts
  weaker (lower for a long) than at that extreme: exit. A new extreme the delta confirms
  becomes the one to beat; a move beyond it by fewer ticks changes nothing.
* **cluster pulled** (``cluster_pulled``): a liquidity cluster on the entry's side of the book
  (bids for a long) between the stop and the touch at the previous decision, then a new
  ``pulling`` signal of that side whose pulled prices overlap the cluster, and no cluster of
  that side overlaps it any more: exit. Needs ``signals.pull.enabled``.
* **imbalance flip** (``imbalance_flip`` > 0): the book imbalance of the last
  ``imbalance_flip_groups`` event groups, all since the first fill, at or past
  ``imbalance_flip`` against the entry (``imbalance * d <= -imbalance_flip``): exit.

Targets at structure (``target_anchor``) replace the tick targets of a new entry by one target
at the nearest level beyond the expected fill (a market order's far touch, an order's own
price): ``poc``, ``value_area`` (VAL, VAH), ``vwap_band`` (the VWAP and its bands) or
``cluster`` (the nearest opposing liquidity cluster's near edge), moved
``target_offset_ticks`` back towards the entry and at least ``target_min_ticks`` away from
it; without such a level the tick targets stay (counted ``target_fallback``).

Reversal (``reversal``): when the opposite signal that closes a position scores at least
``reversal_score``, the strategy enters the other way once flat (within
``reversal_timeout_s``), through sizing and the risk checks like any entry (its spacing rule
aside).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from orderflow.model.enums import Side
from orderflow.trading.checks import flag, integer, number

if TYPE_CHECKING:
    from orderflow.trading.context import EntryView, StrategyContext

__all__ = ["AbsorptionAction", "ExitParams", "OrderFlowExits", "TargetAnchor", "exit_code"]

NS = 1_000_000_000
ABSORPTION_KINDS = frozenset({"absorption", "iceberg", "iceberg_l2"})
#: the most event groups the imbalance rule may ask for (the pipeline keeps this many)
MAX_FLIP_GROUPS = 256


class AbsorptionAction(StrEnum):
    OFF = "off"
    EXIT = "exit"
    TIGHTEN = "tighten"


class TargetAnchor(StrEnum):
    TICKS = "ticks"  # targets_ticks (the default)
    POC = "poc"
    VALUE_AREA = "value_area"
    VWAP_BAND = "vwap_band"
    CLUSTER = "cluster"


@dataclass(frozen=True, slots=True)
class ExitParams:
    """The order-flow exits, targets at structure and reversal (``trading.strategy.exits``).
    Every rule is off by default; distances in ticks, sizes in contracts."""

    absorption: str = "off"  # off | exit | tighten
    absorption_min_score: float = 0.5
    absorption_near_stop_ticks: int = 4  # the signal's price this close to the stop
    absorption_tighten_ticks: int = 2  # tighten: the stop this far behind the last price
    delta_divergence: bool = False
    divergence_min_ticks: int = 1  # the new extreme beyond the previous by this much ...
    divergence_min_delta: int = 50  # ... with the cumulative delta this much weaker
    cluster_pulled: bool = False  # needs signals.pull.enabled
    imbalance_flip: float = 0.0  # 0: off; else the imbalance against the entry, in (0, 1]
    imbalance_flip_groups: int = 3  # for this many event groups in a row
    target_anchor: str = "ticks"  # ticks | poc | value_area | vwap_band | cluster
    target_offset_ticks: int = 1  # in front of the level (back towards the entry)
    target_min_ticks: int = 2  # a level nearer the expected fill than this is passed over
    reversal: bool = False
    reversal_score: float = 2.0  # the closing opposite signal this strong reverses
    reversal_timeout_s: float = 10.0  # the reversed entry only within this of the exit

    def __post_init__(self) -> None:
        raw: object = self.absorption
        if raw is False:  # YAML reads a bare ``off`` as false
            object.__setattr__(self, "absorption", "off")
        AbsorptionAction(self.absorption)
        TargetAnchor(self.target_anchor)
        flag(self, "delta_divergence", "cluster_pulled", "reversal")
        number(self, "absorption_min_score", lo=0, hi=1)
        number(self, "imbalance_flip", lo=0, hi=1)
        number(self, "reversal_score", lo=0, hi=1e9)
        number(self, "reversal_timeout_s", lo=0, hi=86_400)
        for name in ("absorption_near_stop_ticks", "absorption_tighten_ticks",
                     "divergence_min_ticks", "target_min_ticks"):  # fmt: skip
            integer(self, name, lo=1 if name != "absorption_near_stop_ticks" else 0, hi=100_000)
        integer(self, "target_offset_ticks", lo=-100_000, hi=100_000)
        integer(self, "divergence_min_delta", lo=1, hi=10_000_000)
        integer(self, "imbalance_flip_groups", lo=1, hi=MAX_FLIP_GROUPS)

    @property
    def any_rule(self) -> bool:
        return (
            self.absorption != "off"
            or self.delta_divergence
            or self.cluster_pulled
            or self.imbalance_flip > 0
        )


def exit_code(reason: str) -> str:
    """A bracket's end reason as the short code the reports count: ``stop``, ``target``,
    the strategy's exit reason without its figures (``opposite_signal 2.10`` ->
    ``opposite_signal``), ``unfilled`` for an entry that never filled."""
    if reason.startswith("closed by "):
        return "target" if reason.startswith("closed by target") else "stop"
    if reason.startswith("entry ") and reason.endswith(" unfilled"):
        return "unfilled"
    return reason.split(" ")[0] if reason else "open"


@dataclass(slots=True)
class _Track:
    """What a rule remembers of one entry between decisions."""

    ext: int | None = None  # the best last price at its decisions since the first fill
    ext_delta: float = 0.0  # the cumulative delta then
    protect: tuple[tuple[int, int], ...] = ()  # (low, high) of the clusters guarding its stop


@dataclass(slots=True)
class OrderFlowExits:
    """The rules of :class:`ExitParams` over the strategy's decisions. Deterministic: its state
    is per entry, updated only by :meth:`manage` and :meth:`observe`."""

    params: ExitParams
    counters: Counter[str] = field(default_factory=Counter)
    _tracks: dict[str, _Track] = field(default_factory=dict)
    _reverse: tuple[int, int] | None = None  # (direction, until ns)

    @property
    def needs_order_flow(self) -> bool:
        """A rule or a structure target reads the context's order-flow fields."""
        p = self.params
        return p.any_rule or TargetAnchor(p.target_anchor) is not TargetAnchor.TICKS

    @property
    def needs_liquidity(self) -> bool:
        p = self.params
        return p.cluster_pulled or TargetAnchor(p.target_anchor) is TargetAnchor.CLUSTER

    # ---- per entry ---------------------------------------------------------------------------
    def manage(self, ctx: StrategyContext, e: EntryView) -> tuple[str, int | None, str] | None:
        """The first rule that closes entry ``e`` (protected, filled): ``("exit", None,
        reason)``; else an absorption's ``("stop", price, reason)`` (tighten); else None."""
        p = self.params
        d = e.direction
        last = ctx.last_ticks
        tr = self._tracks.get(e.id)
        if tr is None:  # (setdefault would make a track at every decision)
            tr = self._tracks[e.id] = _Track()
        out: tuple[str, int | None, str] | None = None
        tighten: tuple[str, int | None, str] | None = None
        if p.absorption != "off" and e.stop_ticks is not None:
            out = self._absorption(ctx, e, d, last)
            if out is not None and out[1] is not None:  # a stop move: an exit goes first
                out, tighten = None, out
        if p.delta_divergence and last is not None:
            delta = float(ctx.metrics.get("cumulative_delta", 0.0))
            if tr.ext is None:
                tr.ext, tr.ext_delta = last, delta
            elif (last - tr.ext) * d >= p.divergence_min_ticks:  # a new extreme
                beyond = (last - tr.ext) * d
                weaker = (tr.ext_delta - delta) * d
                if weaker >= p.divergence_min_delta:
                    out = out or ("exit", None, f"delta_divergence {beyond} ticks {weaker:g} delta")
                else:  # confirmed by the delta: the extreme to beat from now on
                    tr.ext, tr.ext_delta = last, delta
        if out is None and p.cluster_pulled and tr.protect:
            out = self._cluster(ctx, d, tr)
        if out is None and p.imbalance_flip > 0 and e.first_fill_ns is not None:
            n = p.imbalance_flip_groups
            tail = ctx.imbalance_groups[-n:]
            if len(tail) == n and all(
                ts >= e.first_fill_ns and imb * d <= -p.imbalance_flip for ts, imb in tail
            ):
                out = ("exit", None, f"imbalance_flip {tail[-1][1]:.3f}")
        return out or tighten

    def _absorption(
        self, ctx: StrategyContext, e: EntryView, d: int, last: int | None
    ) -> tuple[str, int | None, str] | None:
        p = self.params
        assert e.stop_ticks is not None
        for s in ctx.detections:
            if (
                s.detector not in ABSORPTION_KINDS
                or s.direction != -d
                or s.score < p.absorption_min_score
                or abs(s.price - e.stop_ticks) > p.absorption_near_stop_ticks
            ):
                continue
            if p.absorption == "exit":
                return ("exit", None, f"absorption_against {s.detector} {s.price}")
            if last is None:
                return None
            stop = last - d * p.absorption_tighten_ticks
            if (stop - e.stop_ticks) * d > 0:
                return ("stop", stop, f"absorption_tighten {s.detector} {s.price}")
            return None
        return None

    def _cluster(
        self, ctx: StrategyContext, d: int, tr: _Track
    ) -> tuple[str, int | None, str] | None:
        side = "bid" if d > 0 else "ask"
        book_side = Side.BID if d > 0 else Side.ASK
        pulls = [
            s for s in ctx.detections if s.detector == "pulling" and s.evidence.get("side") == side
        ]
        for lo, hi in tr.protect:
            for s in pulls:
                if int(s.evidence["low"]) > hi or int(s.evidence["high"]) < lo:
                    continue
                still = any(c.side == book_side and c.low <= hi and c.high >= lo
                            for c in ctx.liquidity)  # fmt: skip
                if not still:
                    return ("exit", None, f"cluster_pulled {lo}-{hi} {s.evidence['size']}")
        return None

    def observe(self, ctx: StrategyContext) -> None:
        """After a decision: the clusters guarding each protected entry's stop (for the next
        decision), and nothing kept of entries that ended."""
        live = {e.id for e in ctx.entries}
        if not self._tracks.keys() <= live:  # (most decisions: every track's entry lives)
            for k in [k for k in self._tracks if k not in live]:
                del self._tracks[k]
        if not self.params.cluster_pulled:
            return
        for e in ctx.entries:
            if e.status != "protected" or e.stop_ticks is None:
                continue
            tr = self._tracks.setdefault(e.id, _Track())
            d, stop = e.direction, e.stop_ticks
            if d > 0:
                touch = ctx.quote.bid
                tr.protect = tuple(
                    (c.low, c.high) for c in ctx.liquidity
                    if c.side == Side.BID and touch is not None and stop < c.low <= touch
                )  # fmt: skip
            else:
                touch = ctx.quote.ask
                tr.protect = tuple(
                    (c.low, c.high) for c in ctx.liquidity
                    if c.side == Side.ASK and touch is not None and touch <= c.high < stop
                )  # fmt: skip

    # ---- memory across a restart ---------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What the rules remember between decisions, as plain JSON (empty when nothing): per
        live entry the extreme to beat and the delta then, the clusters guarding its stop; a
        pending reversal. The host journals it with its own state (:meth:`restore`)."""
        out: dict[str, Any] = {}
        if self._tracks:
            out["tracks"] = {
                k: {"ext": t.ext, "ext_delta": t.ext_delta, "protect": [list(p) for p in t.protect]}
                for k, t in self._tracks.items()
            }
        if self._reverse is not None:
            out["reverse"] = list(self._reverse)
        return out

    def restore(self, state: Mapping[str, Any]) -> bool:
        """The memory :meth:`state` gave before a restart; all or nothing: a value of the wrong
        type or out of range keeps the rules' memory empty and returns False."""
        tracks: dict[str, _Track] = {}
        raw = state.get("tracks", {})
        if not isinstance(raw, Mapping):
            return False
        for k, t in raw.items():
            if not isinstance(k, str) or not isinstance(t, Mapping):
                return False
            ext, delta, protect = t.get("ext"), t.get("ext_delta"), t.get("protect")
            if not (
                (ext is None or _int(ext))
                and isinstance(delta, int | float)
                and not isinstance(delta, bool)
                and math.isfinite(delta)
                and isinstance(protect, list)
                and all(isinstance(p, list) and len(p) == 2 and all(map(_int, p)) for p in protect)
            ):
                return False
            tracks[k] = _Track(ext, float(delta), tuple((p[0], p[1]) for p in protect))
        rev = state.get("reverse")
        if rev is not None and not (
            isinstance(rev, list) and len(rev) == 2 and rev[0] in (-1, 1) and all(map(_int, rev))
        ):
            return False
        self._tracks = tracks
        self._reverse = (rev[0], rev[1]) if rev is not None else None
        return True

    # ---- reversal ---------------------------------------------------------------------------
    def closing(self, ctx: StrategyContext, direction: int, score: float) -> str:
        """The opposite signal (``direction`` against the position, ``score``) closes it: the
        exit's reason, a reversal remembered when it is on and strong enough."""
        p = self.params
        if p.reversal and score >= p.reversal_score:
            self._reverse = (direction, ctx.ts_event + round(p.reversal_timeout_s * NS))
            return f"reversal {score:.2f}"
        return f"opposite_signal {score:.2f}"

    def reversal_due(self, ctx: StrategyContext) -> int | None:
        """The direction to enter now for a reversal (flat, nothing live, in time), once."""
        if self._reverse is None:
            return None
        d, until = self._reverse
        if ctx.ts_event > until:
            self._reverse = None
            self.counters["reversal_expired"] += 1
            return None
        if ctx.position != 0 or ctx.entries:
            return None
        self._reverse = None
        return d

    # ---- targets at structure ---------------------------------------------------------------
    def target(self, ctx: StrategyContext, d: int, ref: int | None) -> int | None:
        """The distance (ticks) from ``ref`` (the expected fill) of the structure target of an
        entry of direction ``d``, or None (tick targets)."""
        p = self.params
        anchor = TargetAnchor(p.target_anchor)
        if anchor is TargetAnchor.TICKS:
            return None
        levels: list[float] = []
        if anchor is TargetAnchor.POC and ctx.poc_ticks is not None:
            levels = [ctx.poc_ticks]
        elif anchor is TargetAnchor.VALUE_AREA and ctx.value_area is not None:
            levels = list(ctx.value_area)
        elif anchor is TargetAnchor.VWAP_BAND and ctx.vwap_ticks is not None:
            levels = [ctx.vwap_ticks, *(x for band in ctx.vwap_bands for x in band)]
        elif anchor is TargetAnchor.CLUSTER:
            side = Side.ASK if d > 0 else Side.BID
            levels = [c.low if d > 0 else c.high for c in ctx.liquidity if c.side == side]
        best: int | None = None
        if ref is not None:
            for x in levels:
                if not math.isfinite(x):
                    continue
                # a level between ticks: the target on our side of it (a long's rounds down)
                price = (math.floor(x) if d > 0 else math.ceil(x)) - d * p.target_offset_ticks
                dist = (price - ref) * d
                if dist >= p.target_min_ticks and (best is None or dist < best):
                    best = dist
        if best is None:
            self.counters["target_fallback"] += 1
        return best


def _int(x: object) -> bool:
    """A plain int of at most 63 bits (not a bool)."""
    return isinstance(x, int) and not isinstance(x, bool) and abs(x) < 2**63
