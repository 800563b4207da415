"""Compare two books' top N levels at event boundaries (pure numpy; imported by both venvs).

A *top* is a dict of int64 arrays of shape ``(boundaries, N)``: ``bid_price``, ``bid_size``,
``ask_price``, ``ask_size`` (prices in ticks), optionally ``bid_count`` / ``ask_count`` (orders
at the level) and ``ts_recv`` (the boundary record's Databento receive time) of shape
``(boundaries,)``. Empty levels may be written either way a book writes them (any price with
size 0): :func:`normalise` maps every level with size 0 to price 0 and count 0, so "no level"
compares equal whatever sentinel each side uses.

:func:`compare_tops` returns how many boundaries are equal on every compared field and where
the first difference is, so a benchmark can say "equal at 47,022 of 47,022 boundaries" and a
test can assert it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LEVEL_FIELDS", "CompareError", "Comparison", "compare_tops", "normalise"]


class CompareError(Exception):
    """Two tops that cannot be compared (negative sizes, different depths)."""


LEVEL_FIELDS = ("bid_price", "bid_size", "bid_count", "ask_price", "ask_size", "ask_count")


@dataclass(slots=True)
class Comparison:
    """Boundaries compared, boundaries equal on every field, and the first difference."""

    boundaries: int
    equal: int
    fields: tuple[str, ...]
    first_mismatch: int = -1  # boundary number, -1 when all equal
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def all_equal(self) -> bool:
        return self.boundaries > 0 and self.equal == self.boundaries

    def as_dict(self) -> dict[str, Any]:
        return {
            "boundaries": self.boundaries,
            "equal": self.equal,
            "fields": list(self.fields),
            "first_mismatch": self.first_mismatch,
            "detail": self.detail,
        }


def normalise(top: dict[str, np.ndarray], depth: int) -> dict[str, np.ndarray]:
    """The top ``depth`` levels as int64, levels with size 0 written as price 0, count 0."""
    out: dict[str, np.ndarray] = {}
    for side in ("bid", "ask"):
        size = np.asarray(top[f"{side}_size"], dtype=np.int64)[:, :depth]
        if (size < 0).any():
            raise CompareError(f"negative {side} size in a top of book")
        empty = size == 0
        out[f"{side}_size"] = size
        out[f"{side}_price"] = np.where(
            empty, 0, np.asarray(top[f"{side}_price"], dtype=np.int64)[:, :depth]
        )
        if f"{side}_count" in top:
            count = np.asarray(top[f"{side}_count"], dtype=np.int64)[:, :depth]
            out[f"{side}_count"] = np.where(empty, 0, count)
    if "ts_recv" in top:
        out["ts_recv"] = np.asarray(top["ts_recv"], dtype=np.int64)
    return out


def compare_tops(
    ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray], depth: int = 10
) -> Comparison:
    """Boundary by boundary, are the two tops equal on every field both sides carry?

    Boundaries are paired in order; a different number of boundaries counts the surplus as
    unequal (and is reported in ``detail``).
    """
    a, b = normalise(ours, depth), normalise(theirs, depth)
    fields = tuple(f for f in (*LEVEL_FIELDS, "ts_recv") if f in a and f in b)
    na, nb = len(a["bid_size"]), len(b["bid_size"])
    n = min(na, nb)
    ok = np.ones(n, dtype=bool)
    per_field: dict[str, int] = {}
    for f in fields:
        x, y = a[f][:n], b[f][:n]
        if x.shape[1:] != y.shape[1:]:
            raise CompareError(f"{f}: shapes {x.shape} and {y.shape} differ")
        eq = x == y if x.ndim == 1 else (x == y).all(axis=1)
        per_field[f] = int(n - np.count_nonzero(eq))
        ok &= eq
    bad = np.flatnonzero(~ok)
    detail: dict[str, Any] = {"ours_boundaries": na, "theirs_boundaries": nb}
    detail["unequal_by_field"] = per_field
    first = int(bad[0]) if len(bad) else (n if na != nb else -1)
    if len(bad):
        i = first
        detail["first"] = {f: [a[f][i].tolist(), b[f][i].tolist()] for f in fields}
    return Comparison(max(na, nb), int(np.count_nonzero(ok)), fields, first, detail)
