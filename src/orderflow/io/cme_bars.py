"""CME one-minute bar CSVs (``timestamp_utc,open,high,low,close,volume``, optionally gzipped).

The shared 6EH4 file stamps each bar at its END (the first bar of a session is 23:01, the last
before the daily halt 22:00 UTC), so ``ts_event`` = stamp - 1 minute: :data:`BAR_DTYPE` stamps
bars at their open.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orderflow.core.errors import DecodeError, OffTickError
from orderflow.core.units import fixed_to_ticks, to_fixed
from orderflow.io.decompress import gunzip_bytes
from orderflow.model.dtypes import BAR_DTYPE
from orderflow.model.instruments import Instrument, find_instrument, generic_instrument

HEADER = "timestamp_utc,open,high,low,close,volume"
MINUTE_NS = 60_000_000_000

#: Products in these files that the futures registry does not carry: (tick, point value).
_EXTRA_SPECS = {"6E": ("0.00005", "125000")}


@dataclass(frozen=True, slots=True)
class CmeBars:
    bars: np.ndarray  # BAR_DTYPE, ts_event = bar open
    instrument: Instrument


def instrument_for(contract: str) -> Instrument:
    """The instrument of a contract such as ``6EH4`` (registry first, then the local specs)."""
    inst = find_instrument(contract)
    if inst is not None:
        return inst
    root = contract[:-2] if len(contract) > 2 else contract
    if root not in _EXTRA_SPECS:
        raise DecodeError(f"unknown contract {contract!r}: pass the instrument", field="symbol")
    tick, point_value = _EXTRA_SPECS[root]
    return generic_instrument(root, tick, point_value).for_contract(contract)


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gunzip_bytes(raw, path.name)
    return raw.decode("utf-8")


def read_cme_bars(
    path: str | os.PathLike[str],
    instrument: Instrument | None = None,
    stamp: str = "end",
) -> CmeBars:
    """Read a CME bar CSV into :data:`BAR_DTYPE` with prices in ticks of the instrument.

    The instrument comes from the file name (``6EH4.XCME_1min_bars_...``) unless given.
    ``stamp="start"`` reads files stamped at the bar's open.
    """
    path = Path(path)
    inst = instrument or instrument_for(path.name.split(".")[0].split("_")[0])
    lines = _text(path).splitlines()
    if not lines or lines[0].strip().lower() != HEADER:
        raise DecodeError(
            f"{path.name}: line 1: field header: expected {HEADER!r}", line=1, field="header"
        )
    rows = [ln.split(",") for ln in lines[1:] if ln.strip()]
    for i, row in enumerate(rows):
        if len(row) != 6:
            raise DecodeError(
                f"{path.name}: line {i + 2}: field line: needs 6 fields, got {len(row)}",
                line=i + 2,
                field="line",
            )
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    out = np.zeros(len(rows), dtype=BAR_DTYPE)
    try:
        ts = np.array(cols[0], dtype="datetime64[s]").astype(np.int64) * 1_000_000_000
    except ValueError as exc:
        raise DecodeError(
            f"{path.name}: field timestamp_utc: {exc}", field="timestamp_utc"
        ) from exc
    out["ts_event"] = ts - MINUTE_NS if stamp == "end" else ts
    tick = inst.tick_fixed
    for c, key in enumerate(("open", "high", "low", "close"), start=1):
        uniq, inverse = np.unique(np.array(cols[c]), return_inverse=True)
        ticks = np.empty(len(uniq), dtype=np.int64)
        for u, text in enumerate(uniq.tolist()):
            try:
                ticks[u] = fixed_to_ticks(to_fixed(text.strip()), tick)
            except (DecodeError, OffTickError) as exc:
                line = int(np.flatnonzero(inverse == u)[0]) + 2
                raise type(exc)(
                    f"{path.name}: line {line}: field {key}: {exc.message}", line=line, field=key
                ) from exc
        out[key] = ticks[inverse]
    try:
        out["volume"] = np.array(cols[5], dtype=np.int64)
    except ValueError as exc:
        raise DecodeError(f"{path.name}: field volume: {exc}", field="volume") from exc
    return CmeBars(out, inst)


__all__ = ["CmeBars", "instrument_for", "read_cme_bars"]
