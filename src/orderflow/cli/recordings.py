"""The server's recordings (``orderflow serve``'s ``recordings/``) as streams: NinjaTrader depth
events (:data:`NT_DEPTH_DTYPE`) with their prints (:data:`TRADE_DTYPE`), so that they can be
stored as Parquet, replayed by a backtest, or read by :func:`orderflow.io.stream.open_chunks`.

This lives in the CLI layer because it reads the server's own format (``server.recording``),
which neither the io layer nor the research layer (both below the server) may import; importing
this module registers recordings with ``open_chunks`` (``orderflow convert --parquet`` does):
the way to backtest or sweep a recording is to convert it to the store first. Each batch
becomes the events the Hub would have applied: prices in ticks of the instrument the client named,
``ts_recv`` the time the server received the batch (the recording's own clock), ``sequence``
the batch's number, IsReset as :data:`Flags.RESET`, :data:`Flags.LAST` on a batch's last
depth event (not for snapshots, as the Hub does). Prints get their aggressor by the bid/ask
rule from the quote NinjaTrader sent with them (unknown without one), as the Hub classifies
them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from orderflow.analytics.trades import AggressorClassifier
from orderflow.core.errors import ArgumentError
from orderflow.io.stream import Chunk, Opened, register_opener
from orderflow.model.dtypes import NO_PRICE, NT_DEPTH_DTYPE, TRADE_DTYPE
from orderflow.model.enums import Flags, NtOperation, Side
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.protocol import Batch, column_array, column_list
from orderflow.server.recording import read_recording, recording_files

__all__ = ["batch_arrays", "convert_recordings", "is_recording", "open_recording"]

_OPS = {
    "add": int(NtOperation.ADD),
    "update": int(NtOperation.UPDATE),
    "remove": int(NtOperation.REMOVE),
    "a": int(NtOperation.ADD),
    "u": int(NtOperation.UPDATE),
    "r": int(NtOperation.REMOVE),
}
_SIDES = {"bid": int(Side.BID), "ask": int(Side.ASK), "b": int(Side.BID), "a": int(Side.ASK)}


def _ticks(inst: Instrument, prices: list[float]) -> np.ndarray:
    return np.array([inst.to_ticks(p) for p in prices], dtype=np.int64)


def batch_arrays(
    batch: Batch, recv_ns: int, inst: Instrument, classifier: AggressorClassifier
) -> tuple[np.ndarray, np.ndarray]:
    """One recorded batch as depth events and prints (module docstring)."""
    if batch.columns is not None:
        c = batch.columns
        n = c.n
        depth = np.zeros(n, dtype=NT_DEPTH_DTYPE)
        if n:
            depth["ts_event"] = column_array(c, "t")
            depth["price"] = _ticks(inst, column_list(c, "price"))
            depth["size"] = column_array(c, "size")
            depth["position"] = column_array(c, "pos")
            depth["operation"] = [_OPS[o] for o in c.op]
            depth["side"] = [_SIDES[s] for s in c.side]
            if c.reset:
                depth["flags"][np.array(c.reset, dtype=np.int64)] = int(Flags.RESET)
    else:
        ev = batch.depth
        n = len(ev)
        depth = np.zeros(n, dtype=NT_DEPTH_DTYPE)
        if n:
            depth["ts_event"] = [e.t for e in ev]
            depth["price"] = _ticks(inst, [e.price for e in ev])
            depth["size"] = [e.size for e in ev]
            depth["position"] = [e.pos for e in ev]
            depth["operation"] = [_OPS[e.op] for e in ev]
            depth["side"] = [_SIDES[e.side] for e in ev]
            depth["flags"] = [int(Flags.RESET) if e.reset else 0 for e in ev]
    if n:
        depth["ts_recv"] = recv_ns
        depth["sequence"] = batch.seq
        if not batch.snapshot:
            depth["flags"][-1] |= int(Flags.LAST)
    m = len(batch.ticks)
    trades = np.zeros(m, dtype=TRADE_DTYPE)
    if m:
        tk = batch.ticks
        price = _ticks(inst, [t.price for t in tk])

        def quote(q: float | None) -> int:
            if q is None:
                return int(NO_PRICE)
            try:
                return inst.to_ticks(q)
            except Exception:  # off the grid: it only steers the aggressor, as in the Hub
                return int(NO_PRICE)

        bid = np.array([quote(t.bid) for t in tk], dtype=np.int64)
        ask = np.array([quote(t.ask) for t in tk], dtype=np.int64)
        trades["ts_event"] = [t.t for t in tk]
        trades["ts_recv"] = recv_ns
        trades["sequence"] = batch.seq
        trades["price"] = price
        trades["size"] = [t.size for t in tk]
        trades["side"] = classifier.classify(price, bid, ask)
    return depth, trades


def is_recording(path: str | Path) -> bool:
    """A recording file (``*.ofrec``) or a folder holding some (and not a Parquet store)."""
    p = Path(path)
    if p.is_file():
        return p.suffix == ".ofrec"
    from orderflow.io.parquet_store import is_store

    return p.is_dir() and not is_store(p) and any(p.rglob("*.ofrec"))


def _instruments(path: Path) -> dict[str, list[Path]]:
    """Recording files per instrument folder, days in order."""
    out: dict[str, list[Path]] = {}
    for f in recording_files(path):
        out.setdefault(f.parent.name, []).append(f)
    return {k: sorted(v) for k, v in sorted(out.items())}


def _chunks(files: list[Path], chunk_records: int) -> Iterator[tuple[Instrument, Chunk]]:
    """A file at a time (one instrument's day), its batches in the order received, grouped
    into chunks of about ``chunk_records`` depth events."""
    classifier = AggressorClassifier("bidask")
    inst: Instrument | None = None
    depth: list[np.ndarray] = []
    prints: list[np.ndarray] = []
    held = 0
    for f in files:
        for r in sorted(read_recording(f).records, key=lambda r: r.recv_ns):
            if inst is None:
                inst = get_instrument(r.batch.instrument)
            d, t = batch_arrays(r.batch, r.recv_ns, inst, classifier)
            depth.append(d)
            prints.append(t)
            held += len(d)
            if held >= chunk_records:
                yield inst, Chunk(np.concatenate(depth), np.concatenate(prints))
                depth, prints, held = [], [], 0
    if inst is not None and (held or any(len(p) for p in prints)):
        yield inst, Chunk(np.concatenate(depth), np.concatenate(prints))


def open_recording(path: Path, chunk_records: int, instrument: Instrument | None) -> Opened:
    """One instrument's recordings as a stream (:func:`~orderflow.io.stream.open_chunks`)."""
    groups = _instruments(path)
    if len(groups) != 1:
        raise ArgumentError(
            f"{path}: recordings of {len(groups)} instruments; open one folder",
            field="data",
        )
    files = next(iter(groups.values()))
    first = read_recording(files[0]).records
    inst = instrument or get_instrument(first[0].batch.instrument)
    return Opened(inst, "nt_depth", (c for _, c in _chunks(files, chunk_records)))


def convert_recordings(
    path: str | Path, root: str | Path, chunk_records: int = 262_144
) -> list[dict[str, Any]]:
    """Every instrument's recordings under ``path`` into the Parquet store at ``root``."""
    from orderflow.io.parquet_store import StoreWriter
    from orderflow.model.dtypes import NT_DEPTH_DTYPE as DT

    out = []
    for name, files in _instruments(Path(path)).items():
        writer: StoreWriter | None = None
        for inst, chunk in _chunks(files, chunk_records):
            if writer is None:
                writer = StoreWriter(root, inst, "nt_depth", DT)
            writer.write(chunk)
        if writer is not None:
            writer.close()
            out.append({"file": str(path), "recording": name, **writer.summary})
    return out


register_opener(is_recording, open_recording)
