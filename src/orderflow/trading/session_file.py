"""The CME sessions of ``exchange-calendars`` kept in a small file beside numba's cache.

Building a calendar imports ``exchange_calendars`` and with it pandas: about a second of CPU
in every process that builds sessions (a backtest, the server's trading engine), for a table
of a few thousand rows (trading day, open, close, early close) that only changes when the
library does. The table is stored once, the first time it is built, and read back afterwards
(a few milliseconds, no pandas).

The file is one JSON header line, then the rows as JSON. The header names the format, the
calendar and its date range, the versions of ``exchange-calendars`` and pandas that built it
and a digest of the rows. A file that is torn, corrupt, foreign (another calendar or range)
or stale (another library version or format) is ignored, and the table is built by the
library again and stored over it. Writes go to a file of their own first, then are renamed
into place, so a reader never sees half a file; a folder that cannot be written only means
the library builds the table each time, as without the file.

Where: ``NUMBA_CACHE_DIR`` when set, else ``__pycache__`` beside this module (where numba
keeps the kernels' cache of this package).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from importlib import metadata
from pathlib import Path

import orjson

from orderflow.core.files import numba_cache_dir, replace_atomically

__all__ = ["FORMAT", "Row", "cache_dir", "library_versions", "path_for", "read", "write"]

#: the file's layout and what a row means; a change of either needs a new number
FORMAT = 1

#: (trading day, open UTC ns, close UTC ns, early close), as the library gives them
Row = tuple[date, int, int, bool]

_SAFE = re.compile(r"[A-Za-z0-9_.-]+")


def cache_dir() -> Path:
    """Where the files live: ``NUMBA_CACHE_DIR`` when set, else ``__pycache__`` here."""
    return numba_cache_dir(Path(__file__).parent)


def library_versions() -> str:
    """The versions of the packages the table comes from (installed metadata, no import)."""
    out = []
    for package in ("exchange-calendars", "pandas"):
        try:
            out.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            out.append(f"{package} -")
    return ", ".join(out)


def path_for(name: str, start: str, end: str, folder: Path | None = None) -> Path | None:
    """The file of calendar ``name`` from ``start`` to ``end`` (None for a name that is not
    a plain file name: such a calendar is never stored)."""
    if not all(_SAFE.fullmatch(part) for part in (name, start, end)):
        return None
    return (folder or cache_dir()) / f"sessions-{name}-{start}-{end}.json"


def _header(name: str, start: str, end: str, body: bytes) -> dict[str, object]:
    return {
        "format": FORMAT,
        "calendar": name,
        "start": start,
        "end": end,
        "library": library_versions(),
        "rows_blake2b": hashlib.blake2b(body, digest_size=16).hexdigest(),
    }


def read(name: str, start: str, end: str, folder: Path | None = None) -> tuple[Row, ...] | None:
    """The stored table, or None when there is none that is whole, ours and current."""
    path = path_for(name, start, end, folder)
    if path is None:
        return None
    try:
        head, sep, body = path.read_bytes().partition(b"\n")
        if not sep or orjson.loads(head) != _header(name, start, end, body):
            return None
        rows = orjson.loads(body)
        out = tuple(
            (date.fromordinal(day), open_ns, close_ns, early)
            for day, open_ns, close_ns, early in rows
        )
    except (OSError, ValueError, TypeError):  # unreadable, torn, not JSON, not rows
        return None
    ok = all(type(o) is int and type(c) is int and type(e) is bool and o < c for _, o, c, e in out)
    return out if ok and out else None


def write(
    name: str, start: str, end: str, rows: tuple[Row, ...], folder: Path | None = None
) -> Path | None:
    """Store ``rows`` atomically; the file, or None when it could not be written."""
    path = path_for(name, start, end, folder)
    if path is None:
        return None
    body = orjson.dumps([[day.toordinal(), o, c, e] for day, o, c, e in rows])
    data = orjson.dumps(_header(name, start, end, body)) + b"\n" + body
    return path if replace_atomically(path, data) else None
