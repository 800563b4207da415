"""Databento DBN files (``.dbn`` or ``.dbn.zst``) into normalised numpy streams.

Fixed-layout record schemas are decoded with one ``numpy.frombuffer`` over the records (no
Python object per record); the metadata header is read by ``databento-dbn`` itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import databento_dbn as dd
import numpy as np
import zstandard

from orderflow.core.errors import DecodeError
from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Action, Side
from orderflow.model.instruments import Instrument, find_instrument, generic_instrument

#: Raw DBN MBO record (v1, v2 and v3 share this 56-byte layout).
RAW_MBO = np.dtype(
    [
        ("length", "u1"),
        ("rtype", "u1"),
        ("publisher_id", "<u2"),
        ("instrument_id", "<u4"),
        ("ts_event", "<u8"),
        ("order_id", "<u8"),
        ("price", "<i8"),
        ("size", "<u4"),
        ("flags", "u1"),
        ("channel_id", "u1"),
        ("action", "S1"),
        ("side", "S1"),
        ("ts_recv", "<u8"),
        ("ts_in_delta", "<i4"),
        ("sequence", "<u4"),
    ]
)

_ACTION_LUT = np.zeros(256, dtype=np.int8)
for _ch, _act in {
    b"A": Action.ADD,
    b"C": Action.CANCEL,
    b"M": Action.MODIFY,
    b"R": Action.CLEAR,
    b"T": Action.TRADE,
    b"F": Action.FILL,
    b"N": Action.NONE,
}.items():
    _ACTION_LUT[_ch[0]] = _act
_SIDE_LUT = np.full(256, Side.NONE, dtype=np.int8)
_SIDE_LUT[ord("B")] = Side.BID
_SIDE_LUT[ord("A")] = Side.ASK


@dataclass(frozen=True, slots=True)
class DbnFile:
    """A DBN file's metadata and its raw record bytes (decompressed)."""

    metadata: Any
    body: bytes
    path: Path

    @property
    def schema(self) -> str:
        return str(self.metadata.schema).split(".")[-1].lower()

    @property
    def symbols(self) -> list[str]:
        return [str(s) for s in self.metadata.symbols]


def open_dbn(path: str | Path) -> DbnFile:
    """Read (and decompress) a DBN file; the records stay raw bytes until decoded."""
    path = Path(path)
    data = path.read_bytes()
    if data[:4] == b"\x28\xb5\x2f\xfd":  # zstd frame magic
        data = zstandard.ZstdDecompressor().stream_reader(data).read()
    if data[:3] != b"DBN":
        raise DecodeError(f"{path.name}: not a DBN file (no 'DBN' magic)", field="header")
    (meta_len,) = struct.unpack_from("<I", data, 4)
    header_end = 8 + meta_len
    decoder = dd.DBNDecoder()
    decoder.write(data[:header_end])
    metadata = decoder.decode()[0]
    return DbnFile(metadata, data[header_end:], path)


def instrument_of(dbn: DbnFile, tick_size: str = "0.25") -> Instrument:
    """The registry instrument for the file's symbol, or a generic one on ``tick_size``."""
    for sym in dbn.symbols:
        inst = find_instrument(sym)
        if inst is not None:
            return inst
    return generic_instrument(dbn.symbols[0] if dbn.symbols else "UNKNOWN", tick_size)


def normalise_mbo(raw: np.ndarray, tick_fixed: int) -> np.ndarray:
    """Raw DBN MBO records to :data:`MBO_DTYPE` with prices in ticks.

    Trades and fills with an undefined price keep ``price`` 0; off-grid book prices raise.
    """
    out = np.zeros(len(raw), dtype=MBO_DTYPE)
    out["ts_event"] = raw["ts_event"].astype(np.int64)
    out["ts_recv"] = raw["ts_recv"].astype(np.int64)
    out["sequence"] = raw["sequence"].astype(np.int64)
    out["order_id"] = raw["order_id"]
    out["size"] = raw["size"].astype(np.int64)
    out["flags"] = raw["flags"]
    out["action"] = _ACTION_LUT[raw["action"].view(np.uint8)]
    out["side"] = _SIDE_LUT[raw["side"].view(np.uint8)]
    price = raw["price"]
    defined = price != np.iinfo(np.int64).max
    off = defined & (price % tick_fixed != 0)
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise DecodeError(
            f"record {row}: price {int(price[row])} is off the tick grid {tick_fixed}",
            field="price",
            row=row,
        )
    out["price"] = np.where(defined, price // tick_fixed, 0)
    return out


def read_mbo(path: str | Path, instrument: Instrument | None = None) -> tuple[np.ndarray, Instrument]:
    """A Databento MBO file as an :data:`MBO_DTYPE` array and its instrument."""
    dbn = open_dbn(path)
    if dbn.schema != "mbo":
        raise DecodeError(f"{dbn.path.name}: schema is {dbn.schema}, not mbo", field="schema")
    inst = instrument or instrument_of(dbn)
    raw = np.frombuffer(dbn.body, dtype=RAW_MBO)
    return normalise_mbo(raw, inst.tick_fixed), inst
