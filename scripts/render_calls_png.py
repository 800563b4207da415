"""Paint the draw calls the NinjaTrader stub's render target recorded into a PNG.

The bridge's render test (``mono bridge/ninjatrader/build/OrderflowRenderTest.exe calls.json``)
dumps every SharpDX call OrderflowRenderer made (fill/draw rectangle, line, text; coordinates in
chart pixels, brush colour and opacity) as JSON; this replays them with matplotlib on a dark
chart background, so a person can look at what NinjaTrader would show.

    python scripts/render_calls_png.py calls.json out.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

BACKGROUND = "#101418"


def paint(calls_json: Path, out_png: Path) -> int:
    """Paint the recorded calls into ``out_png``; the number of calls painted."""
    doc: dict[str, Any] = json.loads(calls_json.read_text())
    width, height = float(doc["width"]), float(doc["height"])
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # screen coordinates: y grows downwards, as in Direct2D
    ax.set_facecolor(BACKGROUND)
    ax.axis("off")
    fig.patch.set_facecolor(BACKGROUND)
    calls: list[dict[str, Any]] = doc["calls"]
    for c in calls:
        rgb = tuple(float(v) for v in c["color"])
        alpha = float(c["opacity"])
        x0, y0, x1, y1 = (float(c[k]) for k in ("x0", "y0", "x1", "y1"))
        kind = c["kind"]
        if kind == "fill_rectangle":
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=rgb, alpha=alpha, lw=0))
        elif kind == "draw_rectangle":
            ax.add_patch(
                Rectangle(
                    (x0, y0),
                    x1 - x0,
                    y1 - y0,
                    fill=False,
                    edgecolor=rgb,
                    alpha=alpha,
                    lw=float(c["stroke"]),
                )
            )
        elif kind == "draw_line":
            ax.plot([x0, x1], [y0, y1], color=rgb, alpha=alpha, lw=float(c["stroke"]))
        elif kind == "draw_text":
            ax.text(x0, y0, str(c["text"]), color=rgb, alpha=alpha, fontsize=8, va="top", ha="left")
    fig.savefig(out_png, facecolor=BACKGROUND)
    plt.close(fig)
    return len(calls)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    n = paint(Path(argv[0]), Path(argv[1]))
    print(f"{n} draw calls painted into {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
