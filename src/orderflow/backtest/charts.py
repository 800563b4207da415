"""The backtest's pictures: closed-trade equity and its drawdown, drawn to PNG on the Agg
canvas (matplotlib's object API, no pyplot: :func:`orderflow.io.charts.new_axes`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import numpy as np

from orderflow.io import charts

__all__ = ["draw_drawdown", "draw_equity"]

WIN = "#1a9850"
LOSS = "#d73027"
LINE = "#4575b4"


def _times(ts: Sequence[int]) -> np.ndarray:
    return np.asarray(ts, dtype="datetime64[ns]")


def _axes(ax: Any, span_days: float) -> None:
    loc = mdates.AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))  # type: ignore[no-untyped-call]
    ax.grid(alpha=0.3)
    ax.set_xlabel("UTC")


def draw_equity(path: str | Path, equity: dict[str, list[Any]], trades: Sequence[dict[str, Any]],
                title: str) -> Path:  # fmt: skip
    """The closed-trade equity as a step curve, each trade's exit marked green (won) or red."""
    path = Path(path)
    t, e = _times(equity["ts"]), np.asarray(equity["equity"], dtype=float)
    fig, ax = charts.new_axes(9, 4.2, dpi=110)
    ax.step(t, e, where="post", color=LINE, lw=1.4, label="equity (net, closed trades)")
    if trades:
        xs = _times([r["closed_t"] for r in trades])
        ys = np.asarray([r["equity"] for r in trades], dtype=float)
        won = np.asarray([r["net"] > 0 for r in trades])
        ax.scatter(xs[won], ys[won], s=14, color=WIN, zorder=3, label="winning exit")
        ax.scatter(xs[~won], ys[~won], s=14, color=LOSS, zorder=3, label="losing exit")
    ax.axhline(0, color="black", lw=0.8)
    span = float((t[-1] - t[0]) / np.timedelta64(1, "D")) if len(t) > 1 else 0.0
    _axes(ax, span)
    ax.set_ylabel("net P&L (currency)")
    ax.set_title(f"{title}: equity, {len(trades)} trades, net {e[-1]:,.2f}", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    return charts.save(fig, path)


def draw_drawdown(path: str | Path, equity: dict[str, list[Any]], title: str) -> Path:
    """The fall of the closed-trade equity from its running peak (<= 0)."""
    path = Path(path)
    t, dd = _times(equity["ts"]), np.asarray(equity["drawdown"], dtype=float)
    fig, ax = charts.new_axes(9, 3.0, dpi=110)
    ax.fill_between(t, dd, 0, step="post", color=LOSS, alpha=0.35, lw=0)
    ax.step(t, dd, where="post", color=LOSS, lw=1.0)
    _axes(ax, 0.0)
    ax.set_ylabel("drawdown (currency)")
    low = float(dd.min()) if len(dd) else 0.0
    ax.set_ylim(min(low * 1.1, -1.0), max(1.0, -low * 0.05))
    ax.set_title(f"{title}: drawdown from the running peak, max {-low:,.2f}", fontsize=10)
    return charts.save(fig, path)
