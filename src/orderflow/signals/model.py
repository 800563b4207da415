"""What a detector says: an immutable :class:`Signal` carrying its evidence.

A signal is a claim about the next move (``direction`` +1 long, -1 short) with a ``score`` in
[0, 1] and the ``evidence`` that caused it: the levels (ticks), prints, sizes, times and the
thresholds and config values the detector used, so a trader can see *why* it fired and a report
can measure it. Evidence values are plain JSON types (int, float, str, bool, lists, dicts).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["LONG", "SHORT", "Signal", "side_direction"]

LONG = 1
SHORT = -1


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """One detector's claim at one instant (event time, ns UTC). Prices are integer ticks."""

    instrument: str
    ts_event: int
    direction: int  # +1 long, -1 short
    score: float  # 0..1
    detector: str
    price: int  # the level (ticks) the evidence is about
    evidence: dict[str, Any] = msgspec.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (for the API and reports)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


def side_direction(side: int) -> int:
    """The direction a *resting* side defends: bids hold price up (+1), asks hold it down (-1)."""
    return LONG if int(side) == 0 else SHORT


def clip01(x: float) -> float:
    """Clamp a score into [0, 1]."""
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else float(x)
