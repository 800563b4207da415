"""Pictures of results: the volume profile and footprint bars, drawn to PNG with matplotlib.

Inputs are plain arrays (prices in exchange units already), so the analytics stay free of any
drawing code. Figures are drawn with matplotlib's object API on its file-only Agg canvas: no
screen, and no ``pyplot`` (its import, with the backend machinery and its figure registry,
cost a process a few hundred milliseconds of CPU for the same pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from orderflow.core.errors import ArgumentError

__all__ = ["draw_footprint", "draw_profile", "new_axes", "save"]

BUY = "#1a9850"
SELL = "#d73027"
VALUE_AREA = "#4575b4"


def new_axes(width: float, height: float, dpi: float) -> tuple[Figure, Any]:
    """A figure of ``width`` x ``height`` inches on an Agg canvas, and its one axes (what
    ``pyplot.subplots(figsize=..., dpi=...)`` makes, without pyplot's figure registry)."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def save(fig: Figure, path: Path) -> Path:
    """Lay ``fig`` out tightly and write it as PNG to ``path``."""
    fig.tight_layout()
    fig.savefig(path)
    return path


def draw_profile(
    path: str | Path,
    prices: np.ndarray,
    buy: np.ndarray,
    sell: np.ndarray,
    *,
    poc: float,
    vah: float,
    val: float,
    title: str,
    tick: float,
) -> Path:
    """Horizontal volume-at-price bars (buy and sell stacked), POC line and value area band."""
    path = Path(path)
    n = len(prices)
    fig, ax = new_axes(7, max(4.0, min(18.0, 0.16 * n + 1.5)), dpi=110)
    ax.axhspan(val - tick / 2, vah + tick / 2, color=VALUE_AREA, alpha=0.12, label="value area")
    ax.barh(prices, buy, height=tick * 0.9, color=BUY, label="buy (ask) volume")
    ax.barh(prices, sell, left=buy, height=tick * 0.9, color=SELL, label="sell (bid) volume")
    ax.axhline(poc, color="black", lw=1.2, ls="--", label=f"POC {poc:g}")
    ax.set_xlabel("contracts")
    ax.set_ylabel("price")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return save(fig, path)


def draw_footprint(
    path: str | Path,
    bars: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray, float | None]],
    *,
    title: str,
    tick: float,
) -> Path:
    """Footprint bars side by side: each cell shows bid x ask volume, shaded by its delta.

    ``bars``: (label, prices, bid_volume, ask_volume, poc) per bar, prices in exchange units.
    """
    path = Path(path)
    if not bars:
        raise ArgumentError("no bars to draw")
    all_prices = np.concatenate([b[1] for b in bars])
    lo, hi = float(all_prices.min()), float(all_prices.max())
    rows = round((hi - lo) / tick) + 1
    width = max(6.0, 1.25 * len(bars) + 1.5)
    height = max(4.0, min(30.0, 0.24 * rows + 1.5))
    fig, ax = new_axes(width, height, dpi=110)
    peak = max(1.0, max(float(np.abs(b[3] - b[2]).max()) if len(b[1]) else 1.0 for b in bars))
    for x, (_label, prices, bid, ask, poc) in enumerate(bars):
        for p, b, a in zip(prices, bid, ask, strict=True):
            delta = float(a - b)
            color = BUY if delta > 0 else SELL if delta < 0 else "#bbbbbb"
            alpha = 0.15 + 0.65 * min(1.0, abs(delta) / peak)
            ax.add_patch(
                Rectangle((x - 0.45, p - tick / 2), 0.9, tick, color=color, alpha=alpha, lw=0)
            )
            ax.text(x, p, f"{int(b)} x {int(a)}", ha="center", va="center", fontsize=6)
        if poc is not None:
            ax.add_patch(
                Rectangle((x - 0.45, poc - tick / 2), 0.9, tick, fill=False, ec="black", lw=1.0)
            )
    ax.set_xlim(-0.6, len(bars) - 0.4)
    ax.set_ylim(lo - tick, hi + tick)
    ax.set_xticks(range(len(bars)))
    ax.set_xticklabels([b[0] for b in bars], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("price")
    ax.set_title(title + "  (cell: bid x ask volume; green buyers, red sellers)", fontsize=9)
    return save(fig, path)
