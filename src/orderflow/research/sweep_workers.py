"""Sweep workers that start once, take many jobs and decode each data file once.

A sweep's jobs replay the same files with different parameters, so a worker (a pool process or
a Ray actor) keeps the decoded chunks of its files (:func:`chunks_of`: exactly what
:func:`orderflow.io.stream.open_chunks` hands out, in a list; the backtest reads its chunks and
never writes them, which the tests check by comparing the kept chunks with a fresh decode after
the jobs) and each job replays them from memory instead of
decompressing and decoding the file again. A job still names its files by path (a
:class:`~orderflow.research.sweep.SweepJob` stays plain data); the worker looks the path up in
its cache, keyed by everything that shapes the chunks (the path, ``chunk_records``, the
instrument, the clock's zone).

The cache is on only where :func:`activate` turned it on (a sweep's worker, or a sweep run in
this process for its duration): a plain :func:`~orderflow.research.sweep.run_job` elsewhere
reads its files as before. Files whose decoded chunks pass :data:`MAX_CACHED_BYTES` together
are not kept (a month of data is replayed from the file, chunk by chunk, as before).

:func:`init_worker` is a pool's initializer (it decodes the sweep's files before the first job);
:func:`run_batch` runs a batch of jobs in a worker (the pool and the actors take jobs in
batches); :class:`SweepWorker` is the same as a Ray actor (one per worker, holding its data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from orderflow.io.stream import Chunk, Opened, open_chunks
from orderflow.model.instruments import Instrument

__all__ = [
    "MAX_CACHED_BYTES",
    "SweepWorker",
    "activate",
    "active",
    "cached_keys",
    "chunks_of",
    "deactivate",
    "init_worker",
    "run_batch",
]

log = logging.getLogger(__name__)

#: decoded bytes a worker keeps at most (its files together); more is read from the files
MAX_CACHED_BYTES = 4 << 30

Key = tuple[str, int, Instrument | None, str | None]
_CACHE: dict[Key, tuple[Instrument, str, list[Chunk]]] = {}
_TOO_BIG: set[Key] = set()
_ACTIVE = [False]


def activate() -> None:
    """Keep decoded files from now on (a sweep's worker)."""
    _ACTIVE[0] = True


def deactivate() -> None:
    """Stop keeping decoded files and let go of those kept."""
    _ACTIVE[0] = False
    _CACHE.clear()
    _TOO_BIG.clear()


def active() -> bool:
    return _ACTIVE[0]


def cached_keys() -> list[Key]:
    """What this worker holds decoded (path, chunk_records, instrument, zone)."""
    return list(_CACHE)


def _key(path: str | Path, chunk_records: int, inst: Instrument | None, tz: str | None) -> Key:
    return (str(Path(path).resolve()), chunk_records, inst, tz)


def chunks_of(
    path: str | Path, chunk_records: int, instrument: Instrument | None, tz: str | None
) -> Opened:
    """``open_chunks(path, chunk_records, instrument, tz=tz)``, from this worker's cache when it
    holds the file (decoding it into the cache on first use while the cache is on)."""
    key = _key(path, chunk_records, instrument, tz)
    hit = _CACHE.get(key)
    if hit is not None:
        inst, kind, chunks = hit
        return Opened(inst, kind, iter(chunks))
    opened = open_chunks(path, chunk_records, instrument, tz=tz)
    if not _ACTIVE[0] or key in _TOO_BIG:
        return opened
    used = sum(_nbytes(c) for _, _, cs in _CACHE.values() for c in cs)
    kept: list[Chunk] = []
    for chunk in opened.chunks:
        kept.append(chunk)
        used += _nbytes(chunk)
        if used > MAX_CACHED_BYTES:
            log.info("%s: not kept decoded (over %d bytes); read per job", path, MAX_CACHED_BYTES)
            _TOO_BIG.add(key)
            return Opened(opened.instrument, opened.kind, _chain(kept, opened.chunks))
    _CACHE[key] = (opened.instrument, opened.kind, kept)
    return Opened(opened.instrument, opened.kind, iter(kept))


def _chain(head: list[Chunk], rest: Iterator[Chunk]) -> Iterator[Chunk]:
    yield from head
    yield from rest


def _nbytes(chunk: Chunk) -> int:
    return int(chunk.records.nbytes) + (0 if chunk.trades is None else int(chunk.trades.nbytes))


def preload(data: Sequence[str], chunk_records: int, instrument: Any, tz: str | None) -> None:
    """Decode ``data`` into this worker's cache (an instrument may be given by its symbol)."""
    from orderflow.model.instruments import get_instrument

    inst = get_instrument(instrument) if isinstance(instrument, str) else instrument
    for path in data:
        chunks_of(path, chunk_records, inst, tz)  # kept, or marked too big to keep (not read on)


def preload_specs(payloads: Sequence[dict[str, Any]]) -> list[tuple[list[str], int, Any, Any]]:
    """The distinct (files, chunk_records, instrument, zone) of a sweep's job dicts."""
    seen: list[tuple[list[str], int, Any, Any]] = []
    for p in payloads:
        opts = p.get("options") or {}
        spec = (list(p.get("data") or []), opts.get("chunk_records", 65_536),
                opts.get("instrument"), opts.get("tz"))  # fmt: skip
        if spec not in seen:
            seen.append(spec)
    return seen


def init_worker(specs: Sequence[tuple[list[str], int, Any, Any]]) -> None:
    """A sweep pool's initializer: turn the cache on and decode the sweep's files. A file that
    does not open is left to the jobs (each reports its own error)."""
    activate()
    for data, chunk_records, instrument, tz in specs:
        try:
            preload(data, chunk_records, instrument, tz)
        except Exception as exc:  # the jobs that need it fail with their own error
            log.warning("sweep worker: %s not preloaded: %s", data, exc)


def run_batch(
    job_fn: Callable[[dict[str, Any]], dict[str, Any]], batch: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Run a batch of jobs one after the other in this worker."""
    return [job_fn(p) for p in batch]


class SweepWorker:
    """A Ray actor: one per worker, its data decoded once (:func:`init_worker`), taking batches
    of jobs (:meth:`run`) until the sweep ends."""

    def __init__(self, specs: Sequence[tuple[list[str], int, Any, Any]]) -> None:
        init_worker(specs)

    def run(
        self, job_fn: Callable[[dict[str, Any]], dict[str, Any]], batch: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return run_batch(job_fn, batch)

    def held(self) -> int:
        """How many decoded files this worker holds."""
        return len(_CACHE)
