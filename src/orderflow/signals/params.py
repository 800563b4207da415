"""The signals' parameters and the names of the signal kinds, in a module without kernels.

Each class belongs to the detector (or the accumulator) named beside it, which re-exports it;
they live here so that reading and checking the settings (every ``orderflow`` command does)
loads no numba and no detector.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orderflow.core.errors import ParameterError

__all__ = ["DETECTORS", "AccumulatorParams", "L2Params", "L3Params", "PullParams"]


#: every detector :func:`~orderflow.signals.evaluate.evaluate_stream` runs (rows appear for each,
#: fired or not): the signal kinds the setting ``signals.detectors`` may name
DETECTORS = (
    "absorption",
    "exhaustion",
    "iceberg",
    "iceberg_l2",
    "large_lot_added",
    "large_lot_removed",
    "pulling",
    "spoof_pull",
    "stacking",
    "sweep",
)


@dataclass(frozen=True, slots=True)
class AccumulatorParams:
    """How signals add up and which are let through (see the module docstring)."""

    half_life_ns: int = 30 * 1_000_000_000
    min_score: float = 0.0
    cooldown_ns: int = 0
    emit_threshold: float = 1.0
    min_contribution: float = 0.01
    sessions: tuple[tuple[str, str], ...] = ()
    timezone: str = "America/New_York"
    #: per-detector weights (a detector not listed weighs 1.0)
    weights: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class L2Params:
    """Thresholds of the L2 detectors (defaults sized for ES/NQ; sizes in contracts)."""

    absorption_min_volume: int = 50
    absorption_min_ratio: float = 1.0
    absorption_window_ns: int = 30_000_000_000
    sweep_min_levels: int = 3
    sweep_window_ns: int = 0
    sweep_score_levels: int = 5
    exhaustion_run_ticks: int = 8
    exhaustion_run_window_ns: int = 120_000_000_000
    exhaustion_min_run_volume: int = 50
    exhaustion_quiet_ns: int = 10_000_000_000
    exhaustion_dry_ratio: float = 0.25
    iceberg_min_refills: int = 2
    iceberg_min_hidden: int = 10
    iceberg_score_refills: int = 6


@dataclass(frozen=True, slots=True)
class L3Params:
    """Thresholds of the L3 detectors (defaults sized for ES/NQ; sizes in contracts)."""

    #: refills of one level needed before an iceberg fires
    iceberg_min_refills: int = 2
    #: a new order id at the same side and price this soon after a full fill is a refill
    iceberg_refill_window_ns: int = 100_000
    #: a new-id refill must show the same size as the tranche that filled (algo clips)
    iceberg_new_id_same_size: bool = True
    #: a chain with no refill for this long starts over
    iceberg_chain_gap_ns: int = 60_000_000_000
    #: refills that give an iceberg score 1
    iceberg_score_refills: int = 6
    #: smallest order that counts as a large lot
    large_lot_min_size: int = 50
    #: and its smallest share of the level's size (after it joined)
    large_lot_min_share: float = 0.2
    #: "near the touch": at most this many ticks behind the best price of the order's side
    near_ticks: int = 4
    #: smallest order whose quick, untraded cancel counts as a spoof-like pull
    spoof_min_size: int = 20
    #: longest life of such an order
    spoof_max_lifetime_ns: int = 2_000_000_000
    #: window of the cancel-to-trade ratio reported as evidence
    ctr_window_ns: int = 60_000_000_000


_HOUR_NS = 3_600_000_000_000


@dataclass(frozen=True, slots=True)
class PullParams:
    """The pulling/stacking detector (``signals.pull`` in the settings). Sizes in contracts."""

    enabled: bool = False  # the pipeline runs it (signals evaluate always measures it)
    near_ticks: int = 4  # the zone: the touch and this many ticks behind it
    window_ns: int = 2_000_000_000  # an episode: the groups of the last window_ns
    min_size: int = 100  # pulled (stacked) in an episode to fire
    accumulate: bool = False  # its signals count in the accumulated scores (entries)

    def __post_init__(self) -> None:
        for name in ("enabled", "accumulate"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"{name} must be true or false")
        for name, lo, hi in (
            ("near_ticks", 0, 1_000),
            ("window_ns", 1, _HOUR_NS),
            ("min_size", 1, 10_000_000),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ParameterError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")
