"""Write a pipeline's results as files: bars, footprint cells, the profile and the signals as
CSV or Parquet tables (plain columns, prices in the exchange's units, times ISO 8601 UTC and
ns), and the profile and footprint as PNG charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from orderflow.analytics.bars import UNKNOWN
from orderflow.core.errors import ArgumentError, ParameterError
from orderflow.core.time import ns_to_iso
from orderflow.engine.pipeline import Pipeline

__all__ = ["draw_charts", "write_tables"]

_PRICE_COLS = ("open", "high", "low", "close", "poc")


def _prices(pipe: Pipeline, ticks: np.ndarray) -> np.ndarray:
    fixed = pipe.instrument.tick_fixed
    return np.asarray(ticks, dtype=np.int64) * fixed / 1e9


def _bars_table(pipe: Pipeline, k: int) -> pa.Table:
    bars = pipe.bars.series[k].all_bars()
    cols: dict[str, Any] = {
        "series": np.full(len(bars), k),
        "ts_open": [ns_to_iso(int(t)) for t in bars["ts_open"]],
        "ts_open_ns": bars["ts_open"],
    }
    for name in bars.dtype.names or ():
        if name in ("ts_open", "cell_start", "cell_count"):
            continue
        col = bars[name]
        if name in _PRICE_COLS:
            col = np.where(col == UNKNOWN, np.nan, _prices(pipe, col))
        elif name in ("vwap", "atr"):
            col = col * float(pipe.instrument.tick_size)
        elif name in ("range", "true_range"):
            col = _prices(pipe, col)
        cols[name] = col
    return pa.table(cols)


def _footprint_table(pipe: Pipeline, k: int) -> pa.Table:
    series = pipe.bars.series[k]
    bars = series.bars()
    cells = series.cells()
    owner = np.repeat(np.arange(len(bars)), bars["cell_count"])
    return pa.table(
        {
            "series": np.full(len(cells), k),
            "ts_open": [ns_to_iso(int(t)) for t in bars["ts_open"][owner]],
            "price": _prices(pipe, cells["price"]),
            "bid_volume": cells["bid"],
            "ask_volume": cells["ask"],
            "other_volume": cells["other"],
            "delta": cells["ask"] - cells["bid"],
        }
    )


def _profile_table(pipe: Pipeline) -> pa.Table:
    prof = pipe.profiles.current
    if prof is None:
        return pa.table({"price": [], "buy_volume": [], "sell_volume": [], "volume": []})
    a = prof.arrays()
    return pa.table(
        {
            "price": _prices(pipe, a["price"]),
            "buy_volume": a["buy"],
            "sell_volume": a["sell"],
            "volume": a["total"],
        }
    )


def _signals_table(pipe: Pipeline) -> pa.Table:
    import orjson

    if pipe.signals.missed(0):
        raise ArgumentError(
            f"the signals table needs every signal: the pipeline kept the latest "
            f"{pipe.signals.kept:,} of {len(pipe.signals):,} (run it with signals_kept=None)"
        )
    s = list(pipe.signals)
    return pa.table(
        {
            "ts_event": [ns_to_iso(x.ts_event) for x in s],
            "ts_event_ns": pa.array([x.ts_event for x in s], pa.int64()),
            "detector": [x.detector for x in s],
            "direction": pa.array([x.direction for x in s], pa.int8()),
            "score": pa.array([x.score for x in s], pa.float64()),
            "price": [pipe.instrument.to_price(x.price) for x in s],
            "evidence": [orjson.dumps(x.evidence).decode() for x in s],
        }
    )


def write_tables(pipe: Pipeline, out_dir: str | Path, fmt: str = "csv") -> list[Path]:
    """bars_<k>, footprint_<k> per bar series, profile and signals, as ``csv`` or ``parquet``."""
    if fmt not in ("csv", "parquet"):
        raise ParameterError(f"table format must be csv or parquet, not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"profile": _profile_table(pipe), "signals": _signals_table(pipe)}
    for k in range(len(pipe.params.bars)):
        tables[f"bars_{k}"] = _bars_table(pipe, k)
        tables[f"footprint_{k}"] = _footprint_table(pipe, k)
    written = []
    for name, table in tables.items():
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            pacsv.write_csv(table, path)
        else:
            pq.write_table(table, path)
        written.append(path)
    return written


def draw_charts(pipe: Pipeline, out_dir: str | Path, footprint_bars: int = 12) -> list[Path]:
    """profile.png (session volume profile, POC, value area) and footprint.png (the last
    ``footprint_bars`` bars of the first series). Charts without data are skipped."""
    from orderflow.io.charts import draw_footprint, draw_profile

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    inst, tick = pipe.instrument, float(pipe.instrument.tick_size)
    written = []
    prof = pipe.profiles.current
    va = prof.value_area() if prof is not None else None
    if prof is not None and va is not None:
        a = prof.arrays()
        written.append(
            draw_profile(
                out / "profile.png",
                _prices(pipe, a["price"]),
                a["buy"],
                a["sell"],
                poc=inst.to_price(va.poc),
                vah=inst.to_price(va.vah),
                val=inst.to_price(va.val),
                title=f"{pipe.name} volume profile, session from {ns_to_iso(prof_start(pipe))}",
                tick=tick,
            )
        )
    series = pipe.bars.series[0]
    n = len(series)
    if n:
        chosen = []
        for i in range(max(0, n - footprint_bars), n):
            row = series.bars()[i]
            cells = series.bar_cells(i)
            poc = int(row["poc"])
            chosen.append(
                (
                    ns_to_iso(int(row["ts_open"]))[11:16],
                    _prices(pipe, cells["price"]),
                    cells["bid"],
                    cells["ask"],
                    None if poc == UNKNOWN else inst.to_price(poc),
                )
            )
        written.append(
            draw_footprint(
                out / "footprint.png",
                chosen,
                title=f"{pipe.name} footprint, last {len(chosen)} bars (UTC)",
                tick=tick,
            )
        )
    return written


def prof_start(pipe: Pipeline) -> int:
    """Start (ns) of the current profile's period."""
    return int(pipe.vwap.period[0])
