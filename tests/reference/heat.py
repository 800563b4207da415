"""The dashboard's heat columns one at a time, in plain Python: the reference the block-built
``orderflow.server.view.heat_rows`` is checked against."""

from __future__ import annotations

from typing import Any

import numpy as np

from orderflow.analytics.heatmap import HeatColumn
from orderflow.model.dtypes import NO_PRICE

_NO_PRICE = int(NO_PRICE)


def heat_dict(col: HeatColumn, to_price: Any, tick: float) -> dict[str, Any]:
    """A HEATCOL of the wire: its sizes without the empty prices at either end (``p0``: the
    first price with a size; a ladder of a few rows makes a few dozen sizes, not 401)."""

    def px(t: int) -> float | None:
        return None if t == _NO_PRICE else to_price(t)

    nz = np.flatnonzero(col.sizes)
    a, b = (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, 0)
    return {"ts": col.ts, "p0": to_price(col.p0 + a), "step": tick,
            "sizes": col.sizes[a:b].tolist(), "bid": px(col.bid), "ask": px(col.ask),
            "last": px(col.last)}  # fmt: skip
