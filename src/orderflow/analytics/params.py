"""The analytics' parameters: what the settings file maps onto, in a module without kernels.

Each class belongs to the analytic named beside it, which re-exports it (``from
orderflow.analytics.vwap import VwapParams`` keeps working); they live here so that reading and
checking the settings (every ``orderflow`` command does) loads no numba. Each validates itself in
``__post_init__``: a refused value never reaches an analytic.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Literal

import numpy as np

from orderflow.core.errors import ConfigError, ParameterError

#: the longest ATR a bar series computes (bars)
MAX_ATR_PERIOD = 10_000
#: the most VWAP bands (NinjaTrader draws three)
MAX_BANDS = 10


@dataclass(frozen=True, slots=True)
class BarParams:
    """Bar metric settings. ``atr_period``: bars in NinjaTrader's ATR (default 14)."""

    atr_period: int = 14

    def __post_init__(self) -> None:
        p = self.atr_period
        if (
            isinstance(p, bool)
            or not isinstance(p, numbers.Integral)
            or not 1 <= p <= MAX_ATR_PERIOD
        ):
            raise ParameterError(
                f"atr_period must be a whole number in [1, {MAX_ATR_PERIOD}], got {p}"
            )


class ResetInterval(StrEnum):
    """When running analytics start again (NinjaTrader's VWAP "Reset Interval", plus NONE)."""

    SESSION = "session"
    WEEK = "week"
    MONTH = "month"
    NONE = "none"  # anchored at the first trade, never reset


@dataclass(frozen=True, slots=True)
class VwapParams:
    """VWAP settings.

    ``reset``: session (default), week, month or none. ``multipliers``: the band widths in
    standard deviations (NinjaTrader's "Std Dev 1/2/3 multiplier", defaults 1, 2, 3).
    """

    reset: ResetInterval = ResetInterval.SESSION
    multipliers: tuple[float, ...] = (1.0, 2.0, 3.0)

    def __post_init__(self) -> None:
        m = self.multipliers
        if not 1 <= len(m) <= MAX_BANDS:
            raise ParameterError(f"multipliers needs 1 to {MAX_BANDS} band widths, got {len(m)}")
        for k, x in enumerate(m):
            if (
                isinstance(x, bool)
                or not isinstance(x, numbers.Real)
                or not math.isfinite(x)
                or x <= 0
            ):
                raise ParameterError(f"multipliers[{k}] must be a finite number > 0, got {x!r}")


def ratio(x: float, name: str) -> Fraction:
    """A float parameter as the exact decimal fraction it prints as (0.7 -> 7/10)."""
    f = Fraction(str(x)).limit_denominator(10_000)
    if f < 0:
        raise ParameterError(f"{name} must be >= 0, got {x}")
    return f


@dataclass(frozen=True, slots=True)
class ProfileParams:
    """Profile settings (see the module docstring for the algorithms).

    ``value_area``: fraction of volume in the value area, in (0, 1] (0.70). ``va_step``: prices
    compared per side at each expansion step (2, the CBOT dual-price rule). ``smoothing``: odd
    width in ticks of the box that smooths the profile before finding nodes (5). ``hvn_ratio``:
    a peak is an HVN when its smoothed volume is at least this times the mean (1.5).
    ``lvn_ratio``: a trough is an LVN when at most this times the mean (0.5).
    """

    value_area: float = 0.70
    va_step: int = 2
    smoothing: int = 5
    hvn_ratio: float = 1.5
    lvn_ratio: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.value_area <= 1.0:
            raise ParameterError(f"value_area must be in (0, 1], got {self.value_area}")
        if self.va_step < 1:
            raise ParameterError(f"va_step must be >= 1, got {self.va_step}")
        if self.smoothing < 1 or self.smoothing % 2 == 0:
            raise ParameterError(f"smoothing must be an odd number >= 1, got {self.smoothing}")
        ratio(self.hvn_ratio, "hvn_ratio")
        ratio(self.lvn_ratio, "lvn_ratio")


@dataclass(frozen=True, slots=True)
class ImbalanceParams:
    """Size ratio and imbalance over the top ``levels``: level l weighs ``weights[l] * decay**l``
    (``weights`` default all 1; decay 1 = plain sums, 0.8 = each level 20% less than the last)."""

    levels: int = 10
    decay: float = 1.0
    weights: tuple[float, ...] | None = None

    def level_weights(self) -> np.ndarray:
        base = np.ones(self.levels) if self.weights is None else np.asarray(self.weights, float)
        return base * self.decay ** np.arange(self.levels)

    def __post_init__(self) -> None:
        _positive("imbalance.levels", self.levels)
        if not 0.0 < self.decay <= 1.0:
            raise ConfigError(f"imbalance.decay must be in (0, 1], got {self.decay}")
        if self.weights is not None and (len(self.weights) != self.levels or min(self.weights) < 0):
            raise ConfigError("imbalance.weights needs one non-negative weight per level")


@dataclass(frozen=True, slots=True)
class OfiParams:
    """OFI at the top ``levels`` (1 = best level only), summed over the last ``window_events``
    event groups when that is > 0, else over the groups of the last ``window_ns`` (10 s, the
    interval Cont, Kukanov & Stoikov fit on)."""

    levels: int = 1
    window_ns: int = 10_000_000_000
    window_events: int = 0

    def __post_init__(self) -> None:
        _positive("ofi.levels", self.levels)
        if self.window_events < 0 or (self.window_events == 0 and self.window_ns <= 0):
            raise ConfigError("ofi needs window_events > 0 or window_ns > 0")


@dataclass(frozen=True, slots=True)
class DepthParams:
    """Resting size within ``ticks`` of the mid (``anchor="mid"``) or of each side's best; with
    one side empty the mid anchor falls back to the other side's best."""

    ticks: int = 4
    anchor: Literal["mid", "best"] = "mid"

    def __post_init__(self) -> None:
        if self.ticks < 0 or self.anchor not in ("mid", "best"):
            raise ConfigError("depth needs ticks >= 0 and anchor 'mid' or 'best'")


@dataclass(frozen=True, slots=True)
class PullStackParams:
    """Pulling and stacking at the prices of the top ``levels`` (before or after)."""

    levels: int = 10

    def __post_init__(self) -> None:
        _positive("pull_stack.levels", self.levels)


@dataclass(frozen=True, slots=True)
class WallParams:
    """Walls: size >= ``multiple`` x the median (or mean) size of the side's top ``levels`` and
    >= ``min_size`` (1: no floor; set it per instrument, e.g. 100 for ES)."""

    levels: int = 10
    multiple: float = 3.0
    reference: Literal["median", "mean"] = "median"
    min_size: int = 1

    def __post_init__(self) -> None:
        _positive("walls.levels", self.levels)
        if self.multiple <= 0 or self.min_size < 1 or self.reference not in ("median", "mean"):
            raise ConfigError("walls need multiple > 0, min_size >= 1, reference median|mean")


@dataclass(frozen=True, slots=True)
class BookMetricsParams:
    """Every book metric's parameters (the settings file maps onto these)."""

    imbalance: ImbalanceParams = field(default_factory=ImbalanceParams)
    ofi: OfiParams = field(default_factory=OfiParams)
    depth: DepthParams = field(default_factory=DepthParams)
    pull_stack: PullStackParams = field(default_factory=PullStackParams)
    walls: WallParams = field(default_factory=WallParams)


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"{name} must be >= 1, got {value}")


@dataclass(frozen=True, slots=True)
class ClusterParams:
    """Cluster settings: ``granularity`` ticks per bucket (4: one ES point); ``min_volume``
    absolute threshold (0: off); ``min_ratio`` threshold relative to the mean non-empty bucket
    (2.0; 0: off)."""

    granularity: int = 4
    min_volume: int = 0
    min_ratio: float = 2.0
    #: a tracker's ``material`` count rises when a cluster's strength on the wire
    #: (``1 - T / v``, in [0, 1)) moves into another of this many equal steps
    strength_steps: int = 10

    def __post_init__(self) -> None:
        if self.granularity < 1:
            raise ParameterError(f"granularity must be >= 1, got {self.granularity}")
        if not 1 <= self.strength_steps <= 1000:
            raise ParameterError(f"strength_steps must be in [1, 1000], got {self.strength_steps}")
        if self.min_volume < 0:
            raise ParameterError(f"min_volume must be >= 0, got {self.min_volume}")
        ratio(self.min_ratio, "min_ratio")


@dataclass(frozen=True, slots=True)
class DeltaParams:
    """Cumulative delta settings: restart at each session open (default True; needs an
    instrument, whose trading hours define the sessions)."""

    reset_per_session: bool = True


@dataclass(frozen=True, slots=True)
class FootprintParams:
    """Imbalance settings (NinjaTrader's defaults): ratio 1.5, min delta 10, stacks of 3."""

    imbalance_ratio: float = 1.5
    min_delta: int = 10
    stacked_count: int = 3


@dataclass(frozen=True, slots=True)
class MomentumParams:
    """Window (ns of event time), the scales of the three terms and their weights (price, flow,
    book; non-negative, summing to 1). See the module docstring for the formula."""

    window_ns: int = 60_000_000_000
    tick_scale: float = 4.0
    flow_scale: float = 0.5
    imbalance_scale: float = 0.5
    weights: tuple[float, float, float] = (0.4, 0.3, 0.3)

    def __post_init__(self) -> None:
        if self.window_ns <= 0:
            raise ConfigError(f"momentum.window_ns must be > 0, got {self.window_ns}")
        if min(self.tick_scale, self.flow_scale, self.imbalance_scale) <= 0:
            raise ConfigError("momentum scales must be > 0")
        if len(self.weights) != 3 or min(self.weights) < 0 or abs(sum(self.weights) - 1) > 1e-9:
            raise ConfigError(f"momentum.weights must be 3 non-negative numbers summing to 1, "
                              f"got {self.weights}")  # fmt: skip

    def packed(self) -> np.ndarray:
        return np.array(
            [self.window_ns, self.tick_scale, self.flow_scale, self.imbalance_scale,
             *self.weights],
            dtype=np.float64,
        )  # fmt: skip
