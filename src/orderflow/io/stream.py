"""Market data as a stream of chunks, for replays longer than memory (a backtest over months).

:func:`open_chunks` names a file's instrument and stream kind and hands back an iterator of
:class:`Chunk`\\ s of at most ``chunk_records`` records, in time order. Per format:

- Databento DBN MBO (plain or zstd): **streamed** (:func:`orderflow.io.dbn.iter_mbo_chunks`
  decompresses the zstd frame as it goes; memory is one chunk whatever the file's length);
- other DBN schemas (MBP-10, trades, TBBO, OHLCV), LOBSTER message files, NinjaTrader
  exports and depth dumps, NinjaTrader's own database files (``.ncd`` ticks and minute bars,
  ``.ntd`` ticks: one hour or one day a file), CME bar CSVs: **loaded whole** by the existing reader
  (:func:`orderflow.io.formats.load_stream`, vectorised parsers of a whole file), then handed
  out in chunks. A file of these formats is one day (a dump, a LOBSTER day) or small (bars),
  so a long history is many files, each loaded in turn, never all at once;
- sources registered with :func:`register_opener` first: a directory store (the Parquet store
  partitioned by instrument and day registers itself here) or a format another layer reads
  (a server recording). Each opener decides from the path whether it is its own.

A chunk of an L2 stream (``levels``, ``nt_depth``) carries the prints that came with it
(``TRADE_DTYPE``, up to the chunk's last event time), as :meth:`Pipeline.process` takes them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from orderflow.core.errors import ParameterError
from orderflow.io.dbn import DbnFile
from orderflow.model.dtypes import TRADE_DTYPE
from orderflow.model.enums import Action
from orderflow.model.instruments import Instrument

__all__ = [
    "Chunk",
    "Opened",
    "estimate_records",
    "open_chunks",
    "register_opener",
    "streams_whole",
]


class Chunk(NamedTuple):
    """Records of the stream's kind and, for an L2 stream, the prints that came with them."""

    records: np.ndarray
    trades: np.ndarray | None = None


class Opened(NamedTuple):
    """What :func:`open_chunks` returns: unpacks as ``instrument, kind, chunks``."""

    instrument: Instrument
    kind: str
    chunks: Iterator[Chunk]


#: (claims(path), open(path, chunk_records, instrument)) tried in order before the file formats
Opener = Callable[[Path, int, Instrument | None], Opened]
_OPENERS: list[tuple[Callable[[Path], bool], Opener]] = []


def _openers() -> list[tuple[Callable[[Path], bool], Opener]]:
    """The registered sources, the built-in ones (:data:`BUILTIN_OPENERS`) loaded first."""
    _builtin_openers()
    return _OPENERS


#: io modules that register an opener when imported (the Parquet store), imported on first use
#: so that ``open_chunks`` knows their sources without its caller importing them
BUILTIN_OPENERS = ("orderflow.io.parquet_store",)
_loaded = False


def _builtin_openers() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for name in BUILTIN_OPENERS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # not in this build: its sources are unknown
            if exc.name != name:
                raise


def register_opener(claims: Callable[[Path], bool], opener: Opener) -> None:
    """Add a source: ``claims(path)`` says whether ``opener`` reads it. The Parquet store (a
    directory partitioned by instrument and day) and other layers' formats register here."""
    _OPENERS.append((claims, opener))


def streams_whole(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is read as a stream (memory of one chunk), False when its reader
    loads it whole (see the module docstring)."""
    from orderflow.io.formats import detect_format

    p = Path(path)
    if any(claims(p) for claims, _ in _openers()):
        return True
    return detect_format(p) == "dbn:mbo"


def estimate_records(path: str | os.PathLike[str]) -> int:
    """A rough record count for a progress bar, from the file's size (zstd DBN MBO compresses
    about 4:1 and a record is 56 bytes; NinjaTrader's ``.ncd``/``.ntd`` about 4 bytes a record;
    text formats about 40 bytes a line); 0 for a directory
    (a registered store counts its own)."""
    p = Path(path)
    if not p.is_file():
        return 0
    size = p.stat().st_size
    if p.suffix.lower() in (".ncd", ".ntd"):
        return size // 4
    with p.open("rb") as fh:
        head = fh.read(4)
    if head == b"\x28\xb5\x2f\xfd":  # zstd
        return size // 14
    if head[:3] == b"DBN":
        return size // 56
    return size // 40


def open_chunks(
    path: str | os.PathLike[str],
    chunk_records: int = 65_536,
    instrument: Instrument | None = None,
    tz: str | None = None,
) -> Opened:
    """The file's instrument, its stream kind (``mbo``, ``levels``, ``nt_depth``, ``trades``,
    ``bars``) and its chunks of at most ``chunk_records`` records (see the module docstring).
    ``tz``: the zone of a NinjaTrader file's local clock (:func:`load_stream`)."""
    if chunk_records < 1:
        raise ParameterError(f"chunk_records must be >= 1, got {chunk_records}")
    p = Path(path)
    for claims, opener in _openers():
        if claims(p):
            return opener(p, chunk_records, instrument)
    from orderflow.io import dbn
    from orderflow.io.formats import detect_format, load_stream

    fmt = detect_format(p)
    if fmt == "dbn:mbo":
        inst = instrument or dbn.instrument_of(_dbn_header(p))
        return Opened(inst, "mbo", _mbo_chunks(p, chunk_records, inst))
    stream = load_stream(p, instrument=None if fmt.startswith("dbn:") else instrument, tz=tz)
    trades = _companion_trades(stream.extra)
    return Opened(stream.instrument, stream.kind, _slices(stream.array, trades, chunk_records))


def _dbn_header(path: Path) -> DbnFile:
    """A DBN file's metadata without its records (read up to the header's end)."""
    from orderflow.io.dbn_file import open_stream, read_header

    with open_stream(path) as stream:
        return read_header(stream, path)


def _mbo_chunks(path: Path, chunk_records: int, inst: Instrument) -> Iterator[Chunk]:
    from orderflow.io.dbn import iter_mbo_chunks

    for records in iter_mbo_chunks(path, chunk_records, inst):
        yield Chunk(records)


def _companion_trades(extra: dict[str, object]) -> np.ndarray | None:
    """The prints of an L2 stream: an NT dump's trades, MBP-10's trade events."""
    if "trades" in extra:
        return np.asarray(extra["trades"])
    mbp = extra.get("mbp10")
    if mbp is None:
        return None
    ev = mbp.events[mbp.events["action"] == Action.TRADE]  # type: ignore[attr-defined]
    out = np.zeros(len(ev), dtype=TRADE_DTYPE)
    for k in ("ts_event", "ts_recv", "sequence", "price", "size", "side", "flags"):
        out[k] = ev[k]
    return out


def _slices(array: np.ndarray, trades: np.ndarray | None, n: int) -> Iterator[Chunk]:
    total = len(array)
    t_ts = trades["ts_event"] if trades is not None else None
    t_at = 0
    for start in range(0, total, n):
        part = array[start : start + n]
        prints = None
        if trades is not None and t_ts is not None:
            last = start + n >= total
            t_end = (
                len(trades) if last else int(np.searchsorted(t_ts, part["ts_event"][-1], "right"))
            )
            prints, t_at = trades[t_at:t_end], t_end
        yield Chunk(part, prints)
