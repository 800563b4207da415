"""Databento DBN files (``.dbn`` or ``.dbn.zst``) into normalised numpy streams.

Fixed-layout record schemas are decoded with one ``numpy.frombuffer`` over the records (no
Python object per record); the metadata header and the versioned ``definition`` records are read
by ``databento-dbn`` itself. What each schema becomes (:func:`read_dbn`):

=================  ==========================================================================
schema             ``DbnData.data`` (``extra``)
=================  ==========================================================================
mbo                :data:`MBO_DTYPE`
trades             :data:`TRADE_DTYPE`
tbbo               :data:`TRADE_DTYPE` (``extra["quotes"]``: :data:`QUOTE_DTYPE` before the trade)
mbp-1, bbo-1s/1m   :data:`QUOTE_DTYPE` (``extra["events"]``: :data:`MBP_EVENT_DTYPE`)
mbp-10             :class:`Mbp10` (events, top and ``(rows, 10)`` level arrays)
ohlcv-1s/1m/1h/1d  :data:`BAR_DTYPE`
definition         ``list[Instrument]`` (``DbnData.records``: the decoder's objects)
statistics         :data:`STAT_DTYPE`
status             :data:`STATUS_DTYPE`
=================  ==========================================================================

Every array row keeps its Databento ``instrument_id`` in ``DbnData.instrument_id`` (one file can
hold several contracts); ``DbnData.instruments`` maps ids to instruments through the metadata's
symbol mappings or a definition file. Prices become ticks of the row's instrument; an undefined
price (int64 max) becomes :data:`NO_PRICE` in quote and level arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orderflow.core.errors import DecodeError
from orderflow.io.dbn_decode import (
    Mbp10,
    mbp10_to_levels,
    normalise_bars,
    normalise_events,
    normalise_mbo,
    normalise_mbp10,
    normalise_quotes,
    normalise_statistics,
    normalise_status,
    normalise_trades,
    tick_per_row,
)
from orderflow.io.dbn_file import (
    DbnFile,
    dbn_schema,
    decode_records,
    instrument_of,
    instruments_of,
    open_dbn,
    open_stream,
    raw_records,
    read_definitions,
    read_exact,
    read_header,
    records_from_bytes,
    schema_name,
)
from orderflow.io.dbn_layouts import (
    MBP_EVENT_DTYPE,
    RAW_BBO,
    RAW_LEVEL,
    RAW_MBO,
    RAW_MBP1,
    RAW_MBP10,
    RAW_OHLCV,
    RAW_STAT,
    RAW_STAT_V1,
    RAW_STATUS,
    RAW_TRADE,
    STAT_DTYPE,
    STATUS_DTYPE,
    ZSTD_MAGIC,
)
from orderflow.model.instruments import Instrument, instrument_from_definition


@dataclass(frozen=True, slots=True)
class DbnData:
    """A decoded DBN file: its schema, instruments and normalised stream(s)."""

    schema: str
    version: int
    metadata: Any
    instrument: Instrument | None  # the file's only (or first) instrument
    instruments: dict[int, Instrument]  # Databento instrument_id -> instrument
    data: Any  # see the module docstring's table
    instrument_id: np.ndarray  # per row of ``data`` (uint32)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    records: list[Any] = field(default_factory=list)  # decoder objects (definition only)

    def __len__(self) -> int:
        return len(self.instrument_id)


def _resolve_instruments(
    dbn: DbnFile,
    ids: np.ndarray,
    instrument: Instrument | None,
    definitions: Sequence[Instrument] | str | Path | None,
) -> dict[int, Instrument]:
    """Every id in ``ids`` mapped to an instrument (explicit > definitions > mappings)."""
    mapping = instruments_of(dbn)
    if definitions is not None:
        defs = read_definitions(definitions) if isinstance(definitions, str | Path) else definitions
        mapping.update({int(d.instrument_id): d for d in defs if d.instrument_id is not None})
    unique = [int(i) for i in np.unique(ids)]
    if instrument is not None:
        if len(unique) > 1:
            raise DecodeError(
                f"{dbn.path.name}: holds {len(unique)} instruments; pass definitions, "
                "not one instrument",
                field="instrument_id",
            )
        return {i: instrument for i in unique} or {0: instrument}
    fallback = instrument_of(dbn)
    return {i: mapping.get(i, fallback) for i in unique} or dict(mapping)


def read_mbo(
    path: str | Path, instrument: Instrument | None = None
) -> tuple[np.ndarray, Instrument]:
    """A Databento MBO file as an :data:`MBO_DTYPE` array and its instrument."""
    dbn = open_dbn(path)
    if dbn.schema != "mbo":
        raise DecodeError(f"{dbn.path.name}: schema is {dbn.schema}, not mbo", field="schema")
    inst = instrument or instrument_of(dbn)
    raw = np.frombuffer(dbn.body, dtype=RAW_MBO)
    return normalise_mbo(raw, inst.tick_fixed, dbn.path.name), inst


def read_dbn(
    path: str | Path,
    instrument: Instrument | None = None,
    definitions: Sequence[Instrument] | str | Path | None = None,
) -> DbnData:
    """Any DBN file, dispatched on its schema and normalised (see the module docstring).

    ``instrument`` forces the (single) instrument; ``definitions`` (a definition file or
    instruments) maps ids to exact specs in multi-instrument files.
    """
    dbn = open_dbn(path)
    schema, name = dbn.schema, dbn.path.name
    if schema == "definition":
        records = decode_records(path)
        insts = [instrument_from_definition(r) for r in records]
        ids = np.array([r.instrument_id for r in records], dtype=np.uint32)
        by_id = {int(i.instrument_id or 0): i for i in insts}
        first = insts[0] if insts else None
        return DbnData(schema, dbn.version, dbn.metadata, first, by_id, insts, ids, records=records)
    raw = raw_records(dbn)
    ids = raw["instrument_id"].copy()
    instruments = _resolve_instruments(dbn, ids, instrument, definitions)
    tick = tick_per_row(ids, instruments)
    extra: dict[str, np.ndarray] = {}
    data: Any
    if schema == "mbo":
        data = normalise_mbo(raw, tick, name)
    elif schema == "trades":
        data = normalise_trades(raw, tick, name)
    elif schema == "tbbo":
        data = normalise_trades(raw, tick, name)
        extra["quotes"] = normalise_quotes(raw, tick, name)
    elif schema in ("mbp-1", "bbo-1s", "bbo-1m"):
        data = normalise_quotes(raw, tick, name)
        extra["events"] = normalise_events(raw, tick, name)
    elif schema == "mbp-10":
        data = normalise_mbp10(raw, tick, name)
    elif schema.startswith("ohlcv"):
        data = normalise_bars(raw, tick, name)
    elif schema == "statistics":
        data = normalise_statistics(raw, tick, name)
    elif schema == "status":
        data = normalise_status(raw)
    else:  # pragma: no cover - _RAW_BY_SCHEMA and this chain list the same schemas
        raise DecodeError(f"{name}: unsupported schema {schema}", field="schema")
    first = instruments[int(ids[0])] if len(ids) else next(iter(instruments.values()), None)
    if first is None:
        first = instrument or instrument_of(dbn)
    return DbnData(schema, dbn.version, dbn.metadata, first, instruments, data, ids, extra)


def iter_mbo_chunks(
    path: str | Path,
    chunk_records: int = 1_000_000,
    instrument: Instrument | None = None,
) -> Iterator[np.ndarray]:
    """Stream an MBO file as :data:`MBO_DTYPE` chunks of at most ``chunk_records`` rows.

    The zstd frame is decompressed as a stream, so memory stays at one chunk whatever the file
    size. The instrument is the one :func:`read_mbo` would pick (or ``instrument``).
    """
    path = Path(path)
    with open_stream(path) as stream:
        dbn = read_header(stream, path)
        if dbn.schema != "mbo":
            raise DecodeError(f"{path.name}: schema is {dbn.schema}, not mbo", field="schema")
        tick = (instrument or instrument_of(dbn)).tick_fixed
        first = read_exact(stream, 1)
        if not first:
            return
        rec_len = first[0] * 4
        pending = first
        row = 0
        while True:
            buf = pending + read_exact(stream, chunk_records * rec_len - len(pending))
            pending = b""
            if not buf:
                return
            if len(buf) % rec_len:
                raise DecodeError(
                    f"{path.name}: truncated record after {row + len(buf) // rec_len} records",
                    field="length",
                )
            raw = records_from_bytes(buf, RAW_MBO, "mbo", path.name)
            try:
                yield normalise_mbo(raw, tick, path.name)
            finally:
                row += len(raw)
            if len(buf) < chunk_records * rec_len:
                return


__all__ = [
    "MBP_EVENT_DTYPE",
    "RAW_BBO",
    "RAW_LEVEL",
    "RAW_MBO",
    "RAW_MBP1",
    "RAW_MBP10",
    "RAW_OHLCV",
    "RAW_STAT",
    "RAW_STATUS",
    "RAW_STAT_V1",
    "RAW_TRADE",
    "STATUS_DTYPE",
    "STAT_DTYPE",
    "ZSTD_MAGIC",
    "DbnData",
    "DbnFile",
    "Mbp10",
    "dbn_schema",
    "decode_records",
    "instrument_of",
    "instruments_of",
    "iter_mbo_chunks",
    "mbp10_to_levels",
    "normalise_bars",
    "normalise_events",
    "normalise_mbo",
    "normalise_mbp10",
    "normalise_quotes",
    "normalise_statistics",
    "normalise_status",
    "normalise_trades",
    "open_dbn",
    "raw_records",
    "read_dbn",
    "read_definitions",
    "read_header",
    "read_mbo",
    "schema_name",
]
