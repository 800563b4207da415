"""A DBN file's header and raw records: open (and decompress) a file, read its metadata (from
the whole file or from the head of a stream), view its records in place, and map its Databento
instrument ids to instruments (metadata symbol mappings or definition records)."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import databento_dbn as dd
import numpy as np
import zstandard

from orderflow.core.errors import DecodeError
from orderflow.io.dbn_layouts import RAW_BY_SCHEMA, RAW_STAT_V1, ZSTD_MAGIC
from orderflow.io.decompress import CappedReader, open_zstd, unzstd_bytes
from orderflow.model.instruments import (
    Instrument,
    find_instrument,
    generic_instrument,
    instrument_from_definition,
)

#: A file's bytes as read: the file itself or its capped zstd decompressor.
ByteStream = IO[bytes] | CappedReader


@dataclass(frozen=True, slots=True)
class DbnFile:
    """A DBN file's metadata and its raw record bytes (decompressed)."""

    metadata: Any
    body: bytes
    path: Path
    version: int = 0  # the file's own DBN version (the decoder upgrades metadata to the newest)

    @property
    def schema(self) -> str:
        return schema_name(self.metadata)

    @property
    def symbols(self) -> list[str]:
        return [str(s) for s in self.metadata.symbols]


def schema_name(metadata: Any) -> str:
    """The metadata's schema as Databento spells it (``mbp-10``, ``ohlcv-1m``)."""
    schema = metadata.schema
    return str(getattr(schema, "value", schema)).lower()


def decode_metadata(prefix: bytes, name: str) -> tuple[Any, int]:
    """Metadata from the header bytes (``DBN``, version, length, metadata)."""
    decoder = dd.DBNDecoder()
    decoder.write(prefix)
    try:
        metadata = decoder.decode()[0]
    except Exception as exc:  # the decoder raises plain ValueError/RuntimeError
        raise DecodeError(f"{name}: bad DBN metadata: {exc}", field="metadata") from exc
    return metadata, prefix[3]


def open_dbn(path: str | Path) -> DbnFile:
    """Read (and decompress) a DBN file; the records stay raw bytes until decoded."""
    path = Path(path)
    data = path.read_bytes()
    if data[:4] == ZSTD_MAGIC:
        data = unzstd_bytes(data, path.name)
    if data[:3] != b"DBN" or len(data) < 8:
        raise DecodeError(f"{path.name}: not a DBN file (no 'DBN' magic)", field="header")
    (meta_len,) = struct.unpack_from("<I", data, 4)
    header_end = 8 + meta_len
    metadata, version = decode_metadata(data[:header_end], path.name)
    return DbnFile(metadata, data[header_end:], path, version)


def raw_records(dbn: DbnFile) -> np.ndarray:
    """The file's records as a raw structured array (the ``RAW_*`` dtype of its schema).

    Records are viewed in place with ``numpy.frombuffer``; the stride comes from the records'
    own length byte, so files written with ``ts_out`` (8 extra bytes per record) work too.
    """
    schema = dbn.schema
    base = RAW_BY_SCHEMA.get(schema)
    if base is None:
        raise DecodeError(f"{dbn.path.name}: no fixed layout for schema {schema}", field="schema")
    return records_from_bytes(dbn.body, base, schema, dbn.path.name)


def records_from_bytes(body: bytes, base: np.dtype, schema: str, name: str) -> np.ndarray:
    if not body:
        return np.zeros(0, dtype=base)
    rec_len = body[0] * 4
    if schema == "statistics" and rec_len == RAW_STAT_V1.itemsize:
        base = RAW_STAT_V1
    if rec_len < base.itemsize or len(body) % rec_len:
        raise DecodeError(
            f"{name}: {schema} records of {rec_len} bytes do not match the layout "
            f"({base.itemsize} bytes) or the body length {len(body)}",
            field="length",
        )
    dtype = base
    if rec_len != base.itemsize:  # records written with ts_out: same fields, longer stride
        fields, names = base.fields, base.names
        if fields is None or names is None:
            raise DecodeError(f"{name}: {schema} has no record layout", field="schema")
        dtype = np.dtype(
            {
                "names": list(names),
                "formats": [fields[n][0] for n in names],
                "offsets": [fields[n][1] for n in names],
                "itemsize": rec_len,
            }
        )
    raw = np.frombuffer(body, dtype=dtype)
    bad = raw["length"] != body[0]
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DecodeError(
            f"{name}: record {row} has length {int(raw['length'][row]) * 4}, expected {rec_len} "
            "(mixed record types are not supported by the fast path)",
            field="length",
            row=row,
        )
    return raw


def read_exact(stream: ByteStream, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def read_header(stream: ByteStream, path: Path) -> DbnFile:
    """The metadata at the head of a (decompressing) stream, the stream left at the first
    record: a :class:`DbnFile` without records."""
    prefix = read_exact(stream, 8)
    if prefix[:3] != b"DBN" or len(prefix) < 8:
        raise DecodeError(f"{path.name}: not a DBN file (no 'DBN' magic)", field="header")
    (meta_len,) = struct.unpack_from("<I", prefix, 4)
    metadata, version = decode_metadata(prefix + read_exact(stream, meta_len), path.name)
    return DbnFile(metadata, b"", path, version)


@contextmanager
def open_stream(path: Path) -> Iterator[ByteStream]:
    """The file's bytes as a stream, decompressed on the fly (capped) when it is zstd."""
    with path.open("rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        size = os.fstat(fh.fileno()).st_size
        yield open_zstd(fh, path.name, size) if magic == ZSTD_MAGIC else fh


def dbn_schema(path: str | Path) -> str:
    """The schema of a DBN file, reading only its header (for format detection)."""
    path = Path(path)
    with open_stream(path) as stream:
        try:
            head = read_header(stream, path)
        except zstandard.ZstdError as exc:
            raise DecodeError(f"{path.name}: bad zstd stream: {exc}", field="header") from exc
    return head.schema


# ---------------------------------------------------------------------------------------------
# instruments


def instrument_of(dbn: DbnFile, tick_size: str = "0.25") -> Instrument:
    """The registry instrument for the file's symbol, or a generic one on ``tick_size``."""
    for sym in dbn.symbols:
        inst = find_instrument(sym)
        if inst is not None:
            return inst
    return generic_instrument(dbn.symbols[0] if dbn.symbols else "UNKNOWN", tick_size)


def _symbol_instrument(symbol: str, instrument_id: int, tick_size: str) -> Instrument:
    inst = find_instrument(symbol)
    if inst is None:
        inst = generic_instrument(symbol, tick_size)
    return inst.for_contract(symbol, instrument_id)


def instruments_of(dbn: DbnFile, tick_size: str = "0.25") -> dict[int, Instrument]:
    """Databento instrument ids to instruments, from the metadata's symbol mappings.

    Only raw-symbol -> instrument-id mappings are used (parent symbols such as ``ES.FUT`` map to
    many ids and say nothing about which is which).
    """
    out: dict[int, Instrument] = {}
    meta = dbn.metadata
    if schema_name_of(meta.stype_out) != "instrument_id":
        return out
    if schema_name_of(meta.stype_in) != "raw_symbol":
        return out
    for raw_symbol, intervals in dict(meta.mappings).items():
        for interval in intervals:
            text = str(interval["symbol"] if isinstance(interval, dict) else interval.symbol)
            if text.isdigit():
                out[int(text)] = _symbol_instrument(str(raw_symbol), int(text), tick_size)
    return out


def schema_name_of(enum_value: Any) -> str:
    return str(getattr(enum_value, "value", enum_value)).lower()


def read_definitions(path: str | Path) -> list[Instrument]:
    """A definition file as instruments (tick size, multiplier and id from each record)."""
    return [instrument_from_definition(r) for r in decode_records(path)]


def decode_records(path: str | Path) -> list[Any]:
    """Every record of a file as ``databento_dbn`` objects (v1/v2 upgraded to the newest)."""
    path = Path(path)
    data = path.read_bytes()
    if data[:4] == ZSTD_MAGIC:
        data = unzstd_bytes(data, path.name)
    decoder = dd.DBNDecoder()
    decoder.write(data)
    try:
        return list(decoder.decode()[1:])
    except Exception as exc:
        raise DecodeError(f"{path.name}: cannot decode records: {exc}", field="record") from exc
