"""Streams stored as Parquet, partitioned by instrument and trading day, written and read in
chunks (never a whole history in memory).

Layout (hive-style, so DuckDB, Polars, Spark or ``pyarrow.dataset`` read it as it is)::

    ROOT/_orderflow_store.json                       marks ROOT as a store (format, version)
    ROOT/instrument=ESH4/_stream.json                kind, record dtype, instrument, days, rows
    ROOT/instrument=ESH4/day=2023-12-25/part-0000.parquet      the stream's records
    ROOT/instrument=ESH4/day=2023-12-26/part-0000.parquet
    ROOT/instrument=ESH4/day=2023-12-26/trades-0000.parquet    the prints of an L2 stream

One column per field of the record dtype (``MBO_DTYPE``, ``LEVEL_DTYPE``, ``NT_DEPTH_DTYPE``,
``TRADE_DTYPE``, ``QUOTE_DTYPE``, ``BAR_DTYPE``, ...), integers as they are, sub-array and padding
fields as fixed-size binary, so a read gives back the very same bytes; the dtype itself is kept
in ``_stream.json`` and in each file's metadata (``orderflow.dtype``). Prices stay integer ticks
of the instrument described in ``_stream.json``.

The day is the CME trading day of a record's ``ts_event`` (a session opening the evening before
belongs to the next day: ESH4 on 2023-12-25 from 23:00 UTC is trading day 2023-12-26), taken as
a running maximum over the stream, so a record never lands in an earlier day than one before it
and reading the days in order, then the parts in order, gives back the stream's own order. A
file holds up to ``rows_per_file`` records (one row group per chunk written). Writing more data
for an instrument appends after what the store holds (new part numbers; the running maximum
starts from the stored data's last time, so a file's opening snapshot, whose orders carry
their old ``ts_event``, stays in the order it was written): write a history in time order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from orderflow.core.errors import ConfigError, DecodeError
from orderflow.io.stream import Chunk, Opened, register_opener
from orderflow.model.instruments import Instrument, TradingHours
from orderflow.model.session_times import session_open_ns, trading_day_of

__all__ = [
    "STORE_MARK",
    "StoreWriter",
    "convert_to_store",
    "is_store",
    "read_chunks",
    "store_info",
    "write_store",
]

STORE_MARK = "_orderflow_store.json"
STREAM_META = "_stream.json"
FORMAT = "orderflow-parquet-store"
VERSION = 1
DAY_NS = 86_400_000_000_000


# ---- the record dtype <-> Arrow ----------------------------------------------------------------
def _descr(dtype: np.dtype) -> Any:
    return np.lib.format.dtype_to_descr(dtype)


def _dtype(descr: Any) -> np.dtype:
    def tuples(x: Any) -> Any:
        if isinstance(x, list):
            return [
                tuple(tuples(v) for v in item) if isinstance(item, list) else item for item in x
            ]
        return x

    return np.lib.format.descr_to_dtype(tuples(descr))


def _is_bytes(ft: np.dtype) -> bool:
    return bool(ft.shape) or ft.kind == "V"


def _to_table(records: np.ndarray, meta: dict[bytes, bytes]) -> pa.Table:
    cols, names = [], []
    for name in records.dtype.names or ():
        ft = records.dtype.fields[name][0]  # type: ignore[index]
        col = np.ascontiguousarray(records[name])
        if _is_bytes(ft):
            width = ft.itemsize
            buf = pa.py_buffer(col.view(np.uint8).reshape(-1).tobytes())
            cols.append(
                pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(records), [None, buf])
            )
        else:
            cols.append(pa.array(col))
        names.append(name)
    return pa.Table.from_arrays(cols, names=names).replace_schema_metadata(meta)


def _from_batch(batch: pa.RecordBatch | pa.Table, dtype: np.dtype) -> np.ndarray:
    n = batch.num_rows
    out = np.zeros(n, dtype=dtype)
    for name in dtype.names or ():
        ft = dtype.fields[name][0]  # type: ignore[index]
        col = batch.column(name)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if _is_bytes(ft):
            width = ft.itemsize
            raw = np.frombuffer(
                col.buffers()[1], dtype=np.uint8, count=n * width, offset=col.offset * width
            )
            out[name] = raw.view(f"V{width}").view(ft.base).reshape((n, *ft.shape))
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out


# ---- the instrument <-> JSON -------------------------------------------------------------------
def _inst_json(inst: Instrument) -> dict[str, Any]:
    d = asdict(inst)
    d.pop("extra", None)
    return d


def _inst_of(d: dict[str, Any]) -> Instrument:
    d = dict(d)
    d["trading_hours"] = TradingHours(**d["trading_hours"])
    return Instrument(**d)


def _name_of(inst: Instrument) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", inst.contract or inst.symbol).strip("_")


# ---- days --------------------------------------------------------------------------------------
class _Days:
    """The trading day of each record, as a running maximum (see the module docstring)."""

    def __init__(self, hours: TradingHours, start: int) -> None:
        self.hours = hours
        self.floor = start  # ns: no record goes before the day of this time
        self._bounds: dict[date, int] = {}

    def split(self, ts: np.ndarray) -> list[tuple[date, int, int]]:
        """``(day, start, end)`` runs of the chunk (``ts``: its ``ts_event`` column)."""
        if not len(ts):
            return []
        key = np.maximum.accumulate(np.maximum(ts, self.floor))
        self.floor = int(key[-1])
        first, last = (
            trading_day_of(int(key[0]), self.hours),
            trading_day_of(self.floor, self.hours),
        )
        runs, start, day = [], 0, first
        while day < last:
            nxt = date.fromordinal(day.toordinal() + 1)
            cut = int(np.searchsorted(key, session_open_ns(nxt, self.hours), "left"))
            if cut > start:
                runs.append((day, start, cut))
                start = cut
            day = nxt
        runs.append((last, start, len(ts)))
        return runs


# ---- writing -----------------------------------------------------------------------------------
class _PartWriter:
    """Files ``<prefix>-NNNN.parquet`` of one stream of one instrument, one day open at a time."""

    def __init__(
        self,
        inst_dir: Path,
        prefix: str,
        dtype: np.dtype,
        meta: dict[bytes, bytes],
        rows_per_file: int,
        compression: str,
        next_part: dict[str, int],
    ) -> None:
        self.inst_dir, self.prefix, self.dtype = inst_dir, prefix, dtype
        self.meta, self.rows_per_file, self.compression = meta, rows_per_file, compression
        self.next_part = next_part  # per day, continues an existing store's numbering
        self.day: date | None = None
        self.writer: pq.ParquetWriter | None = None
        self.rows_in_file = 0
        self.rows = 0
        self.files: list[Path] = []

    def write(self, day: date, records: np.ndarray) -> None:
        if records.dtype != self.dtype:
            raise DecodeError(
                f"{self.prefix}: records of dtype {records.dtype} in a store of {self.dtype}",
                field="dtype",
            )
        pos = 0
        while pos < len(records):
            if self.writer is None or self.day != day or self.rows_in_file >= self.rows_per_file:
                self._open(day)
            take = min(len(records) - pos, self.rows_per_file - self.rows_in_file)
            assert self.writer is not None
            self.writer.write_table(_to_table(records[pos : pos + take], self.meta))
            self.rows_in_file += take
            self.rows += take
            pos += take

    def _open(self, day: date) -> None:
        self.close()
        key = day.isoformat()
        d = self.inst_dir / f"day={key}"
        d.mkdir(parents=True, exist_ok=True)
        n = self.next_part.get(f"{self.prefix}:{key}", 0)
        if n == 0:
            n = len(list(d.glob(f"{self.prefix}-*.parquet")))
        self.next_part[f"{self.prefix}:{key}"] = n + 1
        path = d / f"{self.prefix}-{n:04d}.parquet"
        schema = _to_table(np.zeros(0, dtype=self.dtype), self.meta).schema
        self.writer = pq.ParquetWriter(path, schema, compression=self.compression)
        self.day, self.rows_in_file = day, 0
        self.files.append(path)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class StoreWriter:
    """Writes one instrument's stream into a store, chunk by chunk (a context manager)::

        with StoreWriter(root, instrument, "mbo", MBO_DTYPE) as w:
            for chunk in chunks:
                w.write(chunk)            # an array, or a Chunk (records, prints)
        w.summary                         # rows, days, files

    Memory: the chunk being written plus Arrow's buffers of one row group.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        instrument: Instrument,
        kind: str,
        dtype: np.dtype,
        rows_per_file: int = 4_000_000,
        compression: str = "zstd",
    ) -> None:
        self.root = Path(root)
        self.instrument, self.kind, self.dtype = instrument, kind, np.dtype(dtype)
        self.inst_dir = self.root / f"instrument={_name_of(instrument)}"
        self.root.mkdir(parents=True, exist_ok=True)
        mark = self.root / STORE_MARK
        if not mark.exists():
            mark.write_text(json.dumps({"format": FORMAT, "version": VERSION}) + "\n")
        self._old = _read_meta(self.inst_dir) if (self.inst_dir / STREAM_META).exists() else None
        start = 0
        if self._old is not None:
            if self._old["kind"] != kind or _dtype(self._old["dtype"]) != self.dtype:
                raise ConfigError(
                    f"{self.inst_dir}: holds a {self._old['kind']} stream; cannot add {kind}",
                    field="kind",
                )
            start = int(self._old["last_ts_event"])
        self._days = _Days(instrument.trading_hours, start)
        self._trade_days = _Days(instrument.trading_hours, start)
        meta = {
            b"orderflow.kind": kind.encode(),
            b"orderflow.dtype": json.dumps(_descr(self.dtype)).encode(),
        }
        parts: dict[str, int] = {}
        self._records = _PartWriter(
            self.inst_dir, "part", self.dtype, meta, rows_per_file, compression, parts
        )
        self._trades: _PartWriter | None = None
        self._meta, self._rows_per_file, self._compression = meta, rows_per_file, compression
        self._parts = parts
        self._trades_dtype: np.dtype | None = None
        self.summary: dict[str, Any] = {}

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(failed=exc[0] is not None)

    def write(self, chunk: np.ndarray | Chunk) -> None:
        records, trades = (
            (chunk.records, chunk.trades) if isinstance(chunk, Chunk) else (chunk, None)
        )
        for day, a, b in self._days.split(records["ts_event"]):
            self._records.write(day, records[a:b])
        if trades is not None:  # an L2 stream's prints (kept even when a chunk has none)
            if self._trades is None:
                self._trades_dtype = trades.dtype
                meta = {
                    **self._meta,
                    b"orderflow.kind": b"trades",
                    b"orderflow.dtype": json.dumps(_descr(trades.dtype)).encode(),
                }
                self._trades = _PartWriter(
                    self.inst_dir,
                    "trades",
                    trades.dtype,
                    meta,
                    self._rows_per_file,
                    self._compression,
                    self._parts,
                )
            for day, a, b in self._trade_days.split(trades["ts_event"]):
                self._trades.write(day, trades[a:b])

    def close(self, failed: bool = False) -> None:
        self._records.close()
        if self._trades is not None:
            self._trades.close()
        old = self._old or {}
        days = sorted(
            {*old.get("days", []), *(p.parent.name[4:] for p in self._records.files)}
            | {p.parent.name[4:] for p in (self._trades.files if self._trades else [])}
        )
        meta = {
            "kind": self.kind,
            "dtype": _descr(self.dtype),
            "trades_dtype": _descr(self._trades_dtype)
            if self._trades_dtype is not None
            else old.get("trades_dtype"),
            "instrument": _inst_json(self.instrument),
            "rows": int(old.get("rows", 0)) + self._records.rows,
            "trades": int(old.get("trades", 0)) + (self._trades.rows if self._trades else 0),
            "days": days,
            "last_ts_event": max(self._days.floor, self._trade_days.floor),
        }
        if not failed or self._records.rows:
            (self.inst_dir / STREAM_META).parent.mkdir(parents=True, exist_ok=True)
            (self.inst_dir / STREAM_META).write_text(json.dumps(meta, indent=1) + "\n")
        files = self._records.files + (self._trades.files if self._trades else [])
        self.summary = {
            "store": str(self.root),
            "instrument": _name_of(self.instrument),
            "kind": self.kind,
            "rows": self._records.rows,
            "trades": self._trades.rows if self._trades else 0,
            "days": sorted({p.parent.name[4:] for p in files}),
            "files": len(files),
            "bytes": sum(p.stat().st_size for p in files if p.exists()),
        }


def write_store(
    root: str | os.PathLike[str],
    instrument: Instrument,
    kind: str,
    chunks: Iterable[np.ndarray | Chunk],
    **kwargs: Any,
) -> dict[str, Any]:
    """Write a stream of chunks (arrays or :class:`Chunk`) into the store; its summary."""
    it = iter(chunks)
    first = next(it, None)
    if first is None:
        return {"store": str(root), "rows": 0, "trades": 0, "days": [], "files": 0, "bytes": 0}
    records = first.records if isinstance(first, Chunk) else first
    with StoreWriter(root, instrument, kind, records.dtype, **kwargs) as w:
        w.write(first)
        for c in it:
            w.write(c)
    return w.summary


def convert_to_store(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str],
    chunk_records: int = 262_144,
    instrument: Instrument | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Any file :func:`orderflow.io.stream.open_chunks` reads, into the store (streamed as it
    reads it: DBN MBO a chunk at a time, other formats as their readers allow)."""
    from orderflow.io.stream import open_chunks

    inst, kind, chunks = open_chunks(path, chunk_records, instrument)
    summary = write_store(root, inst, kind, chunks, **kwargs)
    return {"file": str(path), **summary, "kind": kind}


# ---- reading -----------------------------------------------------------------------------------
def is_store(path: str | os.PathLike[str]) -> bool:
    """A store root, or one instrument's folder in it."""
    p = Path(path)
    return p.is_dir() and ((p / STORE_MARK).exists() or (p / STREAM_META).exists())


def _read_meta(inst_dir: Path) -> dict[str, Any]:
    return json.loads((inst_dir / STREAM_META).read_text())  # type: ignore[no-any-return]


def _inst_dirs(root: Path) -> list[Path]:
    if (root / STREAM_META).exists():
        return [root]
    return sorted(p.parent for p in root.glob(f"instrument=*/{STREAM_META}"))


def store_info(root: str | os.PathLike[str]) -> dict[str, Any]:
    """What a store holds: per instrument its kind, days and row counts."""
    out = {}
    for d in _inst_dirs(Path(root)):
        m = _read_meta(d)
        out[d.name.split("=", 1)[1]] = {k: m[k] for k in ("kind", "rows", "trades", "days")}
    return {"store": str(root), "instruments": out}


def _pick(root: Path, instrument: Instrument | str | None) -> Path:
    dirs = _inst_dirs(root)
    if not dirs:
        raise DecodeError(f"{root}: an empty store (no instrument in it)", field="store")
    if instrument is None:
        if len(dirs) > 1:
            names = ", ".join(d.name.split("=", 1)[1] for d in dirs)
            raise ConfigError(f"{root}: holds {names}; name one (instrument=)", field="instrument")
        return dirs[0]
    name = instrument if isinstance(instrument, str) else _name_of(instrument)
    for d in dirs:
        if d.name.split("=", 1)[1] in (name, getattr(instrument, "symbol", None)):
            return d
    raise ConfigError(f"{root}: no instrument {name} in the store", field="instrument")


def _files(inst_dir: Path, prefix: str, days: tuple[str | None, str | None]) -> list[Path]:
    lo, hi = days
    out = []
    for d in sorted(inst_dir.glob("day=*")):
        day = d.name[4:]
        if (lo is None or day >= lo) and (hi is None or day <= hi):
            out += sorted(d.glob(f"{prefix}-*.parquet"))
    return out


def _batches(files: list[Path], dtype: np.dtype, size: int) -> Iterator[np.ndarray]:
    for f in files:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=size):
            yield _from_batch(batch, dtype)


def _rechunk(arrays: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Exactly ``size`` records a chunk (the last may be shorter), across file boundaries."""
    pending: list[np.ndarray] = []
    held = 0
    for a in arrays:
        pending.append(a)
        held += len(a)
        while held >= size:
            joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield joined[:size]
            rest = joined[size:]
            pending, held = ([rest] if len(rest) else []), len(rest)
    if held:
        yield np.concatenate(pending) if len(pending) > 1 else pending[0]


class _Prints:
    """The prints up to a time, taken from the trades files as needed."""

    def __init__(self, arrays: Iterator[np.ndarray], dtype: np.dtype) -> None:
        self.arrays, self.buf = arrays, np.zeros(0, dtype=dtype)

    def until(self, ts: int | None) -> np.ndarray:
        while ts is None or not len(self.buf) or int(self.buf["ts_event"][-1]) <= ts:
            nxt = next(self.arrays, None)
            if nxt is None:
                break
            self.buf = np.concatenate([self.buf, nxt])
        cut = (
            len(self.buf) if ts is None else int(np.searchsorted(self.buf["ts_event"], ts, "right"))
        )
        out, self.buf = self.buf[:cut], self.buf[cut:]
        return out


def read_chunks(
    root: str | os.PathLike[str],
    chunk_records: int = 65_536,
    instrument: Instrument | str | None = None,
    start_day: str | date | None = None,
    end_day: str | date | None = None,
) -> Opened:
    """The stored stream as :class:`~orderflow.io.stream.Opened` (instrument, kind, chunks of
    ``chunk_records`` records in time order), optionally for one instrument and the trading
    days ``start_day``..``end_day`` (inclusive). An L2 stream's chunks carry their prints (up
    to the chunk's last event time), as :func:`~orderflow.io.stream.open_chunks` gives them."""
    inst_dir = _pick(Path(root), instrument)
    meta = _read_meta(inst_dir)
    dtype = _dtype(meta["dtype"])
    days = tuple(str(d) if d is not None else None for d in (start_day, end_day))
    files = _files(inst_dir, "part", days)  # type: ignore[arg-type]
    records = _rechunk(_batches(files, dtype, chunk_records), chunk_records)
    prints = None
    if meta.get("trades_dtype") is not None:
        tdt = _dtype(meta["trades_dtype"])
        prints = _Prints(_batches(_files(inst_dir, "trades", days), tdt, chunk_records), tdt)  # type: ignore[arg-type]

    def chunks() -> Iterator[Chunk]:
        cur = next(records, None)
        while cur is not None:
            nxt = next(records, None)
            if prints is None:
                yield Chunk(cur)
            else:
                last = None if nxt is None else int(cur["ts_event"][-1])
                yield Chunk(cur, prints.until(last))
            cur = nxt

    return Opened(_inst_of(meta["instrument"]), meta["kind"], chunks())


def _open_store(path: Path, chunk_records: int, instrument: Instrument | None) -> Opened:
    return read_chunks(path, chunk_records, instrument)


register_opener(is_store, _open_store)
